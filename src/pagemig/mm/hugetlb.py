"""Model of the hugetlb pool of mm/hugetlb.c, per node (Linux 6.1 only; feature
node_hugepages).

Writing ``/sys/devices/system/node/nodeN/hugepages/hugepages-2048kB/nr_hugepages`` grows or
shrinks node N's pool of 2 MiB huge pages.  The model has no hugetlb mappings: every pool
page stays free in the pool, and the pool's only effect is the memory it takes from the
node.

Simplifications: the model's allocator is order-0 only, so a huge page is 512 frames of the
node taken one by one (not a contiguous, aligned block), while the zone stays above its min
watermark (__GFP_RETRY_MAYFAIL | __GFP_THISNODE, which neither reclaims nor compacts
here); the real kernel also stops when no free 2 MiB block is left, so it usually gets
fewer.  Each frame of the pool holds one reference (the pool's), as a kernel page does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.page_alloc import _take, free_hot_cold_page

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

HPAGE_PAGES = 512  # 2 MiB / 4 KiB


def node_pool(k: Kernel, nid: int) -> list[np.ndarray]:
    """The huge pages of node ``nid``'s pool, each an array of its 512 frames."""
    return k.hugetlb_pool.setdefault(nid, [])


def alloc_pool_huge_page(k: Kernel, nid: int) -> bool:
    """Model of alloc_pool_huge_page() on one node: 512 frames of ``nid`` into the pool, or
    False (nothing taken) when no zone of the node can give them above its min mark."""
    for zone in reversed(k.nodes[nid].zones):
        if zone.free_top - HPAGE_PAGES >= zone.pages_min:
            frames = np.array([_take(k, zone) for _ in range(HPAGE_PAGES)], np.int64)
            node_pool(k, nid).append(frames)
            return True
    return False


def update_and_free_page(k: Kernel, nid: int) -> None:
    """Model of update_and_free_page(): the last huge page of the pool goes back to the
    page allocator."""
    frames = node_pool(k, nid).pop()
    for pfn in frames.tolist():
        k.pages.count[pfn] = 0
        free_hot_cold_page(k, pfn)


def set_max_huge_pages(k: Kernel, nid: int, count: int) -> int:
    """Model of set_max_huge_pages() for one node: grow the node's pool until it has
    ``count`` huge pages or allocation fails, or shrink it to ``count``.  Returns 0."""
    pool = node_pool(k, nid)
    while len(pool) < count:
        if not alloc_pool_huge_page(k, nid):
            break
    while len(pool) > count:
        update_and_free_page(k, nid)
    return 0


def nr_huge_pages_node(k: Kernel, nid: int) -> int:
    """The node's pool size (nr_huge_pages_node[]); all of them are free."""
    return len(node_pool(k, nid))
