"""Model of mm/hugetlb.c (Linux 6.1): the size of a node's pool of 2 MiB huge pages.

Writing ``/sys/devices/system/node/nodeN/hugepages/hugepages-2048kB/nr_hugepages`` grows or
shrinks node N's pool; every huge page of the pool holds 512 frames of that node, so a large
pool leaves the node short of memory (what the oracle's ENOMEM case uses).

Simplifications: the model has no buddy allocator, so a huge page is 512 order-0 frames of
one zone, not a contiguous aligned block, and it holds one reference on each; huge pages are
never mapped (no hugetlbfs, no reservations, no surplus or overcommit); growing the pool never
reclaims or compacts: it stops when a huge page would take a zone below its low watermark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagemig.mm.page_alloc import _take
from pagemig.mm.swap import put_page

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

HPAGE_PMD_NR = 512  # base pages in one 2 MiB huge page


def alloc_fresh_huge_page(k: Kernel, nid: int) -> list[int] | None:
    """Model of alloc_fresh_huge_page() on node ``nid`` (__GFP_THISNODE): the frames of a
    new huge page, or None when no zone of the node can give 512 frames above its low
    watermark."""
    for zone in reversed(k.nodes[nid].zones):
        if zone.free_top - HPAGE_PMD_NR > zone.pages_low:
            frames = [_take(k, zone) for _ in range(HPAGE_PMD_NR)]
            if k.tracing:
                k.trace("mm_hugetlb_alloc", nid=nid, first=frames[0])
            return frames
    return None


def update_and_free_page(k: Kernel, frames: list[int]) -> None:
    """Model of update_and_free_page(): the frames of a huge page go back to the free lists."""
    for pfn in frames:
        put_page(k, pfn)  # the pool's reference was the last: the frame is freed


def set_max_huge_pages(k: Kernel, count: int, nid: int) -> int:
    """Model of set_max_huge_pages() for one node: grow or shrink node ``nid``'s pool
    towards ``count`` huge pages; returns 0 (a pool that could not grow stays smaller)."""
    pool = k.hugetlb_pool.setdefault(nid, [])
    while len(pool) < count:
        frames = alloc_fresh_huge_page(k, nid)
        if frames is None:
            break
        pool.append(frames)
    while len(pool) > count:
        update_and_free_page(k, pool.pop())
    return 0


def nr_huge_pages_node(k: Kernel, nid: int) -> int:
    """``h->nr_huge_pages_node[nid]``: the huge pages of node ``nid``'s pool."""
    return len(k.hugetlb_pool.get(nid, []))
