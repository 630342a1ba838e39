"""Model of mm/memcontrol.c (Linux 2.6.27): page_cgroup charge records.

Each page has at most one record, the ``memcg`` column: ``cgroup_id * 2 + kind`` with kind
MAPPED (charged by a fault) or CACHE (charged when added to the page cache).  Each cgroup has
a res_counter (``usage`` in pages, ``limit``).  This issue's model has one cgroup, the root,
with no limit, so charges never fail; the calls and records are real.

Simplifications: no per-cgroup LRU lists, no reclaim, no force_empty.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pagemig.mm.mm_types import (
    MEMCG_KIND_CACHE,
    MEMCG_KIND_MAPPED,
    mapping_is_anon,
)
from pagemig.mm.page_alloc import GFP_KERNEL

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import MmStruct

ROOT_MEM_CGROUP = 1
RES_COUNTER_MAX = 1 << 62

MEM_CGROUP_CHARGE_TYPE_MAPPED = MEMCG_KIND_MAPPED
MEM_CGROUP_CHARGE_TYPE_CACHE = MEMCG_KIND_CACHE


@dataclass(eq=False)
class MemCgroup:
    """Model of struct mem_cgroup: its res_counter, in pages."""

    id: int
    usage: int = 0
    limit: int = RES_COUNTER_MAX
    failcnt: int = 0


def _record(cg_id: int, kind: int) -> int:
    return cg_id * 2 + kind


def page_cgroup_of(k: Kernel, pfn: int) -> tuple[int, int] | None:
    """The (cgroup id, kind) record of a page, or None (page_get_page_cgroup())."""
    rec = int(k.pages.memcg[pfn])
    if rec == 0:
        return None
    return rec >> 1, rec & 1


def _mm_cgroup(k: Kernel, mm: MmStruct | None) -> int:
    if mm is None or mm.owner is None:
        return ROOT_MEM_CGROUP
    return mm.owner.mem_cgroup


def mem_cgroup_charge_common(k: Kernel, pfn: int, cg_id: int, gfp: int, ctype: int) -> int:
    """Model of mem_cgroup_charge_common(): charge the counter, then attach a record.

    The res_counter is charged first; if the page already has a record, the charge is
    undone and the existing record is left alone.  Returns 0 or -ENOMEM.
    """
    cg = k.memcgs[cg_id]
    if cg.usage + 1 > cg.limit:
        cg.failcnt += 1
        return -errno.ENOMEM
    cg.usage += 1
    if int(k.pages.memcg[pfn]) != 0:
        cg.usage -= 1
        return 0
    k.pages.memcg[pfn] = _record(cg_id, ctype)
    return 0


def mem_cgroup_charge(k: Kernel, pfn: int, mm: MmStruct | None, gfp: int) -> int:
    """Model of mem_cgroup_charge(): a "mapped" charge for a page about to be mapped.

    A no-op for a page that is already mapped or is a file page.
    """
    p = k.pages
    mapping = int(p.mapping[pfn])
    if int(p.mapcount[pfn]) > 0 or (mapping and not mapping_is_anon(mapping)):
        return 0
    return mem_cgroup_charge_common(k, pfn, _mm_cgroup(k, mm), gfp, MEM_CGROUP_CHARGE_TYPE_MAPPED)


def mem_cgroup_cache_charge(k: Kernel, pfn: int, mm: MmStruct | None, gfp: int) -> int:
    """Model of mem_cgroup_cache_charge(): a "cache" charge for a page entering the cache."""
    return mem_cgroup_charge_common(k, pfn, _mm_cgroup(k, mm), gfp, MEM_CGROUP_CHARGE_TYPE_CACHE)


def __mem_cgroup_uncharge_common(k: Kernel, pfn: int, ctype: int | None) -> None:
    """Model of __mem_cgroup_uncharge_common(); ``ctype`` None forces the removal."""
    rec = page_cgroup_of(k, pfn)
    if rec is None:
        return
    cg_id, kind = rec
    if ctype == MEM_CGROUP_CHARGE_TYPE_MAPPED and (
        kind == MEMCG_KIND_CACHE or int(k.pages.mapcount[pfn]) > 0
    ):
        return
    k.pages.memcg[pfn] = 0
    k.memcgs[cg_id].usage -= 1


def mem_cgroup_uncharge_page(k: Kernel, pfn: int) -> None:
    """Model of mem_cgroup_uncharge_page(): drop a MAPPED record of an unmapped page."""
    __mem_cgroup_uncharge_common(k, pfn, MEM_CGROUP_CHARGE_TYPE_MAPPED)


def mem_cgroup_uncharge_cache_page(k: Kernel, pfn: int) -> None:
    """Model of mem_cgroup_uncharge_cache_page(): drop the record unconditionally."""
    __mem_cgroup_uncharge_common(k, pfn, None)


def mem_cgroup_prepare_migration(k: Kernel, old: int, new: int) -> int:
    """Model of mem_cgroup_prepare_migration(): charge ``new`` like ``old``; 0 or -ENOMEM."""
    rec = page_cgroup_of(k, old)
    if rec is None:
        return 0
    cg_id, kind = rec
    return mem_cgroup_charge_common(k, new, cg_id, GFP_KERNEL, kind)


def mem_cgroup_end_migration(k: Kernel, new: int) -> None:
    """Model of mem_cgroup_end_migration(): undo the charge of an unused or unmapped ``new``."""
    mapping = int(k.pages.mapping[new])
    if mapping == 0:
        __mem_cgroup_uncharge_common(k, new, None)
    elif mapping_is_anon(mapping):
        mem_cgroup_uncharge_page(k, new)
