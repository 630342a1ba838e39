"""Model of mm/page_alloc.c (Linux 2.6.27): the free page pools and their watermarks.

Free pages of each zone are kept as a stack of pfns.  Allocation pops the top, freeing
pushes, so allocation order is deterministic: a fresh zone hands out ascending pfns, and a
page just freed is the next one handed out (as the per-CPU hot lists make likely).

Simplifications:
- order-0 pages only; no buddy merging (so no PG_buddy), no per-CPU lists;
- watermarks follow 2.6.27's min_free_kbytes formula; lowmem_reserve is not modelled;
- there is nothing to reclaim: when the watermarks refuse, the allocation fails.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.mm_types import LRU_NONE, PAGE_SIZE
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_flags import (
    F_ACTIVE,
    F_LOCKED,
    F_LRU,
    F_PRIVATE,
    F_RESERVED,
    F_SWAPCACHE,
    F_WRITEBACK,
)

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mmzone import Zone

# gfp bits (include/linux/gfp.h, 2.6.27 values).
__GFP_DMA = 0x01
__GFP_HIGHMEM = 0x02
__GFP_DMA32 = 0x04
__GFP_MOVABLE = 0x08
__GFP_WAIT = 0x10
__GFP_HIGH = 0x20
__GFP_IO = 0x40
__GFP_FS = 0x80
__GFP_COLD = 0x100
__GFP_NOWARN = 0x200
__GFP_REPEAT = 0x400
__GFP_NOFAIL = 0x800
__GFP_NORETRY = 0x1000
__GFP_COMP = 0x4000
__GFP_ZERO = 0x8000
__GFP_NOMEMALLOC = 0x10000
__GFP_HARDWALL = 0x20000
__GFP_THISNODE = 0x40000

GFP_ATOMIC = __GFP_HIGH
GFP_NOWAIT = GFP_ATOMIC & ~__GFP_HIGH
GFP_KERNEL = __GFP_WAIT | __GFP_IO | __GFP_FS
GFP_USER = __GFP_WAIT | __GFP_IO | __GFP_FS | __GFP_HARDWALL
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE
GFP_HIGHUSER_PAGECACHE = GFP_HIGHUSER_MOVABLE
GFP_THISNODE = __GFP_THISNODE | __GFP_NOWARN | __GFP_NORETRY


# Flags a page must not carry when it is freed (free_pages_check()).
PAGE_FLAGS_CHECK_AT_FREE = (F_LRU | F_PRIVATE | F_LOCKED | F_WRITEBACK | F_RESERVED
                            | F_SWAPCACHE | F_ACTIVE)


def setup_free_area(k: Kernel, zone: Zone, reserved: set[int]) -> None:
    """Fill a zone's free stack with its frames (ascending pops), skipping reserved ones."""
    pfns = np.arange(zone.end_pfn - 1, zone.start_pfn - 1, -1, dtype=np.int64)
    if reserved:
        keep = ~np.isin(pfns, np.fromiter(reserved, np.int64))
        pfns = pfns[keep]
    zone.free_stack = np.empty(zone.present_pages, np.uint32)  # 4 bytes: 2^32 frames
    zone.free_stack[: len(pfns)] = pfns
    zone.free_top = len(pfns)
    k.zone_stat[zone.id, ZoneStat.NR_FREE_PAGES] = len(pfns)


def setup_per_zone_pages_min(k: Kernel) -> None:
    """Model of setup_per_zone_pages_min(): the min/low/high watermarks of every zone."""
    lowmem_kbytes = sum(z.present_pages for z in k.zones) * PAGE_SIZE // 1024
    min_free_kbytes = int(math.sqrt(lowmem_kbytes * 16))
    min_free_kbytes = max(128, min(65536, min_free_kbytes))
    pages_min = min_free_kbytes >> 2  # 4 KiB pages
    total = sum(z.present_pages for z in k.zones) or 1
    for zone in k.zones:
        tmp = pages_min * zone.present_pages // total
        zone.pages_min = tmp
        zone.pages_low = tmp + (tmp >> 2)
        zone.pages_high = tmp + (tmp >> 1)


def zone_watermark_ok(k: Kernel, zone: Zone, mark: int) -> bool:
    """Model of zone_watermark_ok() for order 0: free pages must stay above ``mark``."""
    return zone.free_top > mark


def node_zonelist(k: Kernel, nid: int) -> list[Zone]:
    """Model of the node-ordered zonelist of ``nid``: its zones high to low, then the others.

    Other nodes follow in the order nid+1, nid+2, ... wrapping around (all remote distances
    are equal in the model, and 2.6.27 prefers the nodes after the local one on a tie).
    """
    cached = k.zonelists.get(nid)
    if cached is None:  # built once per node (build_zonelists() at boot)
        order = [(nid + i) % len(k.nodes) for i in range(len(k.nodes))]
        cached = k.zonelists[nid] = [z for n in order for z in reversed(k.nodes[n].zones)]
    return cached


def _take(k: Kernel, zone: Zone) -> int:
    zone.free_top -= 1
    pfn = zone.free_stack.item(zone.free_top)
    k.zone_stat[zone.id, ZoneStat.NR_FREE_PAGES] -= 1
    prep_new_page(k, pfn)
    return pfn


def prep_new_page(k: Kernel, pfn: int) -> None:
    """Model of prep_new_page(): a fresh page has count 1 and no state."""
    p = k.pages
    p.flags[pfn] = 0
    p.count[pfn] = 1
    p.mapcount[pfn] = 0
    p.mapping[pfn] = 0
    p.index[pfn] = 0
    p.private[pfn] = 0
    p.lru[pfn] = LRU_NONE
    p.memcg[pfn] = 0


def get_page_from_freelist(k: Kernel, zonelist: list[Zone], use_min: bool,
                           allowed_nodes: set[int] | None = None) -> int | None:
    """Model of get_page_from_freelist(): the first zone above its watermark gives a page."""
    for zone in zonelist:
        if allowed_nodes is not None and zone.nid not in allowed_nodes:
            continue
        mark = zone.pages_min if use_min else zone.pages_low
        if zone_watermark_ok(k, zone, mark):
            return _take(k, zone)
    return None


def __alloc_pages(k: Kernel, gfp: int, zonelist: list[Zone],
                  nodemask: set[int] | None = None) -> int | None:
    """Model of __alloc_pages_internal() for order 0: returns a pfn or None.

    GFP_THISNODE callers pass a one-node zonelist and get one attempt at the low watermark
    (no kswapd, no reclaim, no min-watermark retry).  Others get a second attempt at the
    min watermark (what waking kswapd allows); there is nothing to reclaim after that.
    """
    if not gfp & __GFP_THISNODE and k.current is not None \
            and len(k.current.mems_allowed) < len(k.nodes):
        # ALLOC_CPUSET: only the current task's cpuset nodes (__GFP_THISNODE skips it)
        allowed = set(k.current.mems_allowed)
        nodemask = allowed if nodemask is None else set(nodemask) & allowed
    pfn = get_page_from_freelist(k, zonelist, False, nodemask)
    if pfn is None and not gfp & __GFP_THISNODE:
        pfn = get_page_from_freelist(k, zonelist, True, nodemask)
    if pfn is not None:
        _count_numa(k, pfn, zonelist, nodemask)
        if gfp & __GFP_ZERO:
            k.frames.zero(pfn)
        if k.tracing:
            k.trace("mm_page_alloc", pfn=pfn, nid=k.pfn_to_nid(pfn))
    return pfn


def _count_numa(k: Kernel, pfn: int, zonelist: list[Zone], nodemask: set[int] | None) -> None:
    zone = k.page_zone(pfn)
    # first_zones_zonelist(): the preferred zone is the first the nodemask allows
    if nodemask is None:
        preferred = zonelist[0] if zonelist else zone
    else:
        preferred = next((z for z in zonelist if z.nid in nodemask), zone)
    # zone_statistics(): hit/miss against the preferred zone, local/other against the CPU
    if zone.nid == preferred.nid:
        k.zone_stat[zone.id, ZoneStat.NUMA_HIT] += 1
    else:
        k.zone_stat[zone.id, ZoneStat.NUMA_MISS] += 1
        k.zone_stat[preferred.id, ZoneStat.NUMA_FOREIGN] += 1
    local = zone.nid == k.cpu_to_node(k.current_cpu())
    k.zone_stat[zone.id, ZoneStat.NUMA_LOCAL if local else ZoneStat.NUMA_OTHER] += 1


def alloc_pages_node(k: Kernel, nid: int, gfp: int) -> int | None:
    """Model of alloc_pages_node(nid, gfp, 0): with __GFP_THISNODE only ``nid`` is tried."""
    if not k.nodes[nid].has_memory and gfp & __GFP_THISNODE:
        return None
    zonelist = k.nodes[nid].zones[::-1] if gfp & __GFP_THISNODE else node_zonelist(k, nid)
    return __alloc_pages(k, gfp, zonelist)


def free_hot_cold_page(k: Kernel, pfn: int) -> None:
    """Model of free_hot_cold_page(): check the page is clean, push it on its zone's stack."""
    p = k.pages
    mapping = p.mapping.item(pfn)
    if mapping & 1:  # PageAnon: an anon page keeps its anon_vma until freed
        p.mapping[pfn] = mapping = 0
    bad = (p.mapcount.item(pfn) != 0 or mapping != 0 or p.count.item(pfn) != 0
           or p.flags.item(pfn) & PAGE_FLAGS_CHECK_AT_FREE or p.memcg.item(pfn) != 0
           or p.lru.item(pfn) != LRU_NONE)
    if bad:
        raise AssertionError(f"bad_page: freeing pfn {pfn} in state {k.describe_page(pfn)}")
    p.flags[pfn] = 0
    p.private[pfn] = 0
    if k.memcg_uncharged_remaps:
        k.memcg_uncharged_remaps.discard(pfn)
    zone = k.page_zone(pfn)
    zone.free_stack[zone.free_top] = pfn
    zone.free_top += 1
    k.zone_stat[zone.id, ZoneStat.NR_FREE_PAGES] += 1
    if k.tracing:
        k.trace("mm_page_free", pfn=pfn)
