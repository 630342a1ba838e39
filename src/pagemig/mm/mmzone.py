"""Model of include/linux/mmzone.h and the zone counters of mm/vmstat.c (Linux 2.6.27).

A node (pglist_data) owns a contiguous range of frames split into zones by physical address,
as on x86_64: ZONE_DMA below 16 MiB, ZONE_DMA32 below 4 GiB, ZONE_NORMAL above.  A page's
node and zone follow from its pfn and never change.

Free pages of a zone are a stack of pfns (see mm/page_alloc.py); the LRU lists are the
``lru`` column of the page arrays plus per-zone counters (see mm/swap.py).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class ZoneType(IntEnum):
    """``enum zone_type`` of x86_64 (no ZONE_HIGHMEM, ZONE_MOVABLE unused)."""

    ZONE_DMA = 0
    ZONE_DMA32 = 1
    ZONE_NORMAL = 2
    ZONE_MOVABLE = 3


ZONE_NAMES = {ZoneType.ZONE_DMA: "DMA", ZoneType.ZONE_DMA32: "DMA32",
              ZoneType.ZONE_NORMAL: "Normal", ZoneType.ZONE_MOVABLE: "Movable"}

# Zone boundaries in pfns (16 MiB and 4 GiB with 4 KiB pages).
DMA_END_PFN = 4096
DMA32_END_PFN = 1 << 20


class ZoneStat(IntEnum):
    """``enum zone_stat_item`` of 2.6.27 (the items the model keeps)."""

    NR_FREE_PAGES = 0
    NR_INACTIVE = 1
    NR_ACTIVE = 2
    NR_ANON_PAGES = 3
    NR_FILE_MAPPED = 4
    NR_FILE_PAGES = 5
    NR_FILE_DIRTY = 6
    NR_WRITEBACK = 7
    NR_SLAB_RECLAIMABLE = 8
    NR_SLAB_UNRECLAIMABLE = 9
    NR_PAGETABLE = 10
    NR_UNSTABLE_NFS = 11
    NR_BOUNCE = 12
    NR_VMSCAN_WRITE = 13
    NR_WRITEBACK_TEMP = 14
    NUMA_HIT = 15
    NUMA_MISS = 16
    NUMA_FOREIGN = 17
    NUMA_INTERLEAVE_HIT = 18
    NUMA_LOCAL = 19
    NUMA_OTHER = 20
    # Linux 6.1 (split_lru): NR_INACTIVE/NR_ACTIVE count the anon lists; the file and
    # unevictable lists and mlocked pages are counted here.
    NR_INACTIVE_ANON = 1
    NR_ACTIVE_ANON = 2
    NR_INACTIVE_FILE = 21
    NR_ACTIVE_FILE = 22
    NR_UNEVICTABLE = 23
    NR_MLOCK = 24


NR_VM_ZONE_STAT_ITEMS = len(ZoneStat)


@dataclass(eq=False)
class Zone:
    """Model of struct zone: a pfn range of one node, its free stack and watermarks."""

    id: int
    nid: int
    zone_type: ZoneType
    start_pfn: int
    end_pfn: int
    free_stack: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.uint32))
    free_top: int = 0
    pages_min: int = 0
    pages_low: int = 0
    pages_high: int = 0
    lru_seq: int = 0  # the next LRU order stamp

    @property
    def present_pages(self) -> int:
        """Frames the zone spans (all present in the model)."""
        return self.end_pfn - self.start_pfn

    @property
    def name(self) -> str:
        """The zone's name as /proc/zoneinfo prints it."""
        return ZONE_NAMES[self.zone_type]


@dataclass(eq=False)
class PgData:
    """Model of pg_data_t (struct pglist_data): one NUMA node."""

    nid: int
    start_pfn: int
    nr_pages: int
    cpus: list[int]
    zones: list[Zone] = field(default_factory=list)

    @property
    def end_pfn(self) -> int:
        """One past the node's last pfn."""
        return self.start_pfn + self.nr_pages

    @property
    def has_memory(self) -> bool:
        """Node state N_HIGH_MEMORY (the same as N_NORMAL_MEMORY on x86_64)."""
        return self.nr_pages > 0


def split_zones(nid: int, start_pfn: int, nr_pages: int, first_id: int) -> list[Zone]:
    """Cut a node's pfn range into zones at the DMA and DMA32 boundaries."""
    zones = []
    bounds = [(ZoneType.ZONE_DMA, 0, DMA_END_PFN),
              (ZoneType.ZONE_DMA32, DMA_END_PFN, DMA32_END_PFN),
              (ZoneType.ZONE_NORMAL, DMA32_END_PFN, 1 << 62)]
    end_pfn = start_pfn + nr_pages
    for ztype, lo, hi in bounds:
        s, e = max(lo, start_pfn), min(hi, end_pfn)
        if s < e:
            zones.append(Zone(first_id + len(zones), nid, ztype, s, e))
    return zones


class ZoneIndex:
    """pfn -> zone lookup (page_zone()), by bisection over the zone start pfns."""

    def __init__(self, zones: list[Zone]) -> None:
        self.zones = sorted(zones, key=lambda z: z.start_pfn)
        self.starts = [z.start_pfn for z in self.zones]

    def zone_of(self, pfn: int) -> Zone:
        """The zone holding ``pfn``."""
        return self.zones[bisect.bisect_right(self.starts, pfn) - 1]
