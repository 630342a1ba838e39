"""Model of mm/swap.c (Linux 2.6.27): page references, LRU lists and per-CPU pagevecs.

The zone LRU lists are not linked lists: a page on a list has ``lru`` = LRU_ACTIVE or
LRU_INACTIVE and an order stamp ``lru_seq`` (adding at the head takes the zone's next stamp,
so the list order is the stamps sorted in descending order).  NR_ACTIVE and NR_INACTIVE are
kept by every add and delete, as the kernel's list helpers do.

Each CPU has two add-pagevecs (inactive and active) of PAGEVEC_SIZE entries.  A pagevec
holds a reference and a pointer, not the ``lru`` link: a page in one is on no list and has
PG_lru clear, so isolate_lru_page() fails on it.

Linux 6.1 (split_lru): a zone has five lists: inactive and active anon (the 2.6.27 list
ids), inactive and active file, and unevictable.  A page's list follows from its flags
(page_lru()): PG_swapbacked pages are anon, others file; a PG_mlocked page is
unevictable (PG_unevictable, never active).  The pagevec drain decides evictability, as
lru_add_fn() does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.mm_types import (
    LRU_ACTIVE,
    LRU_ACTIVE_FILE,
    LRU_INACTIVE,
    LRU_INACTIVE_FILE,
    LRU_NONE,
    LRU_PAGEVEC,
    LRU_UNEVICTABLE,
    ZONE_LRU_LISTS,
)
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_alloc import free_hot_cold_page
from pagemig.mm.page_flags import F_ACTIVE, F_LRU, F_MLOCKED, F_SWAPBACKED, F_UNEVICTABLE

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

PAGEVEC_SIZE = 14
PVEC_INACTIVE = 0
PVEC_ACTIVE = 1

_SEQ_LIMIT = (1 << 32) - 1


def get_page(k: Kernel, pfn: int) -> None:
    """Model of get_page(): take a reference on a page that already has one."""
    count = k.pages.count
    n = count.item(pfn)
    assert n > 0, f"get_page on free page {pfn}"
    count[pfn] = n + 1


def get_page_unless_zero(k: Kernel, pfn: int) -> bool:
    """Model of get_page_unless_zero(): fails on a free or frozen page."""
    count = k.pages.count
    n = count.item(pfn)
    if n == 0:
        return False
    count[pfn] = n + 1
    return True


def put_page(k: Kernel, pfn: int) -> None:
    """Model of put_page(): drop a reference; the last one frees the page."""
    count = k.pages.count.item(pfn) - 1
    assert count >= 0, f"put_page underflow on pfn {pfn}"
    k.pages.count[pfn] = count
    if count == 0:
        __page_cache_release(k, pfn)
        free_hot_cold_page(k, pfn)


def __page_cache_release(k: Kernel, pfn: int) -> None:
    """Model of __page_cache_release(): a page freed while on the LRU leaves its list.

    Linux 6.1 (__folio_clear_lru_flags() and the mlock check): PG_unevictable goes with
    the list, and a page still PG_mlocked is cleared and uncounted (NR_MLOCK).
    """
    flags = k.pages.flags
    if flags.item(pfn) & F_LRU:
        flags[pfn] = flags.item(pfn) & ~F_LRU
        del_page_from_lru(k, pfn)
        flags[pfn] = flags.item(pfn) & ~F_UNEVICTABLE
    f = flags.item(pfn)
    if f & F_MLOCKED:
        flags[pfn] = f & ~F_MLOCKED
        k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_MLOCK] -= 1


def _next_seq(k: Kernel, zone_id: int) -> int:
    zone = k.zones[zone_id]
    if zone.lru_seq >= _SEQ_LIMIT:
        _renumber_lru(k, zone_id)
    zone.lru_seq += 1
    return zone.lru_seq


def _renumber_lru(k: Kernel, zone_id: int) -> None:
    # The stamps ran out: give the zone's pages fresh stamps 1..n in the same order.
    zone = k.zones[zone_id]
    p = k.pages
    span = slice(zone.start_pfn, zone.end_pfn)
    on = np.isin(p.lru[span], ZONE_LRU_LISTS)
    pfns = zone.start_pfn + on.nonzero()[0]
    order = pfns[p.lru_seq[pfns].argsort(kind="stable")]
    p.lru_seq[order] = range(1, len(order) + 1)
    zone.lru_seq = len(order)


# The zone counter of each list.
LRU_STAT = {LRU_INACTIVE: ZoneStat.NR_INACTIVE, LRU_ACTIVE: ZoneStat.NR_ACTIVE,
            LRU_INACTIVE_FILE: ZoneStat.NR_INACTIVE_FILE,
            LRU_ACTIVE_FILE: ZoneStat.NR_ACTIVE_FILE, LRU_UNEVICTABLE: ZoneStat.NR_UNEVICTABLE}


def page_lru(k: Kernel, pfn: int, active: bool) -> int:
    """Model of page_lru(): the list a page belongs on.  2.6.27: inactive or active.
    Linux 6.1: unevictable for PG_unevictable, else anon (PG_swapbacked) or file."""
    if not k.profile.has("split_lru"):
        return LRU_ACTIVE if active else LRU_INACTIVE
    flags = k.pages.flags.item(pfn)
    if flags & F_UNEVICTABLE:
        return LRU_UNEVICTABLE
    if flags & F_SWAPBACKED:
        return LRU_ACTIVE if active else LRU_INACTIVE
    return LRU_ACTIVE_FILE if active else LRU_INACTIVE_FILE


def add_page_to_lru(k: Kernel, pfn: int, active: bool, seq: int | None = None) -> None:
    """Model of add_page_to_active_list() / add_page_to_inactive_list(): link at the head
    (of page_lru()'s list in 6.1).  ``seq``: the order stamp, when the caller took it
    from the zone's counter already (the batch path's drains)."""
    zone = k.page_zone(pfn)
    which = page_lru(k, pfn, active)
    p = k.pages
    p.lru[pfn] = which
    p.lru_seq[pfn] = _next_seq(k, zone.id) if seq is None else seq
    k.zone_stat[zone.id, LRU_STAT[which]] += 1


def del_page_from_lru(k: Kernel, pfn: int) -> None:
    """Model of del_page_from_lru(): unlink from its zone list; PG_active is cleared."""
    del_page_from_list_keep_active(k, pfn)
    k.pages.flags[pfn] = k.pages.flags.item(pfn) & ~F_ACTIVE


def del_page_from_list_keep_active(k: Kernel, pfn: int) -> None:
    """Unlink from the zone list keeping PG_active (as isolate_lru_page()'s list helpers do)."""
    zone = k.page_zone(pfn)
    which = k.pages.lru.item(pfn)
    assert which in LRU_STAT, f"pfn {pfn} is not on a zone list"
    k.pages.lru[pfn] = LRU_NONE
    k.zone_stat[zone.id, LRU_STAT[which]] -= 1


def _pagevec_add(k: Kernel, pfn: int, which: int) -> None:
    cpu = k.current_cpu()
    get_page(k, pfn)
    n = k.pvec_len.item(cpu, which)
    k.pvecs[cpu, which, n] = pfn
    k.pvec_len[cpu, which] = n + 1
    k.pages.lru[pfn] = LRU_PAGEVEC
    if n + 1 == PAGEVEC_SIZE or k.lru_disable_count:
        __pagevec_lru_add(k, cpu, which)


def lru_cache_add(k: Kernel, pfn: int) -> None:
    """Model of lru_cache_add(): queue the page for the inactive list (takes a reference)."""
    _pagevec_add(k, pfn, PVEC_INACTIVE)


def lru_cache_add_active(k: Kernel, pfn: int) -> None:
    """Model of lru_cache_add_active(): queue the page for the active list."""
    assert not k.pages.flags.item(pfn) & F_ACTIVE, "lru_cache_add_active on an active page"
    _pagevec_add(k, pfn, PVEC_ACTIVE)


def __pagevec_lru_add(k: Kernel, cpu: int, which: int) -> None:
    """Model of __pagevec_lru_add() / __pagevec_lru_add_active(): drain one pagevec.

    Each page gets PG_lru (and PG_active for the active pagevec) and is linked at the head
    of its zone list; then the pagevec's references are dropped (release_pages()), which
    frees any page whose last reference that was.
    """
    n = k.pvec_len.item(cpu, which)
    pfns = k.pvecs[cpu, which, :n].tolist()
    k.pvec_len[cpu, which] = 0
    active = which == PVEC_ACTIVE
    split = k.profile.has("split_lru")  # Linux 6.1: anon, file and unevictable lists
    for pfn in pfns:
        lru_add_one(k, pfn, active, split)
    for pfn in pfns:
        put_page(k, pfn)
    if pfns:
        if k.tracing:
            k.trace("mm_lru_drain", cpu=cpu, list="active" if active else "inactive", nr=len(pfns))


def lru_add_one(k: Kernel, pfn: int, active: bool, split: bool, seq: int | None = None) -> None:
    """One page of a pagevec drain: PG_lru (and PG_active for the active pagevec), then the
    head of its zone list (``seq``: its order stamp, when already taken).  The pagevec's
    reference is not dropped here."""
    p = k.pages
    p.lru[pfn] = LRU_NONE
    page_active = active
    flags = p.flags.item(pfn)
    if split:
        # Linux 6.1 lru_add_fn(): an mlocked page is unevictable, never active.
        if flags & F_MLOCKED:
            flags = (flags | F_UNEVICTABLE) & ~F_ACTIVE
            page_active = False
        else:
            flags &= ~F_UNEVICTABLE
    p.flags[pfn] = flags | F_LRU | (F_ACTIVE if page_active else 0)
    add_page_to_lru(k, pfn, page_active, seq)


def lru_add_drain_cpu(k: Kernel, cpu: int) -> None:
    """Drain both add-pagevecs of one CPU, inactive first (lru_add_drain() on that CPU)."""
    for which in (PVEC_INACTIVE, PVEC_ACTIVE):
        if k.pvec_len.item(cpu, which):
            __pagevec_lru_add(k, cpu, which)


def lru_add_drain(k: Kernel) -> None:
    """Model of lru_add_drain(): drain the current CPU's pagevecs."""
    lru_add_drain_cpu(k, k.current_cpu())


def lru_add_drain_all(k: Kernel) -> int:
    """Model of lru_add_drain_all(): drain every CPU's pagevecs."""
    for cpu in range(k.nr_cpus):
        lru_add_drain_cpu(k, cpu)
    return 0


def lru_cache_disable(k: Kernel) -> None:
    """Model of lru_cache_disable() (Linux 6.1): drain every CPU's add-pagevecs, and until
    lru_cache_enable() every page added goes straight to its LRU list."""
    k.lru_disable_count += 1
    lru_add_drain_all(k)


def lru_cache_enable(k: Kernel) -> None:
    """Model of lru_cache_enable() (Linux 6.1): per-CPU add caching resumes."""
    assert k.lru_disable_count > 0
    k.lru_disable_count -= 1


def activate_page(k: Kernel, pfn: int) -> None:
    """Model of activate_page(): move an inactive LRU page to the active list."""
    flags = int(k.pages.flags[pfn])
    if flags & F_LRU and not flags & (F_ACTIVE | F_UNEVICTABLE):
        del_page_from_list_keep_active(k, pfn)
        k.pages.flags[pfn] |= F_ACTIVE
        add_page_to_lru(k, pfn, True)


def mark_page_accessed(k: Kernel, pfn: int) -> None:
    """Model of mark_page_accessed(): referenced twice on the inactive list activates."""
    from pagemig.mm.page_flags import F_REFERENCED

    flags = int(k.pages.flags[pfn])
    if not flags & F_ACTIVE and flags & F_REFERENCED and flags & F_LRU:
        activate_page(k, pfn)
        k.pages.flags[pfn] &= ~F_REFERENCED
    elif not flags & F_REFERENCED:
        k.pages.flags[pfn] |= F_REFERENCED
