"""Unit tests of the engine of mm/migrate.c (Linux 2.6.27), function by function.

One section per function of SPEC §2.1-§2.21, from isolate_lru_page() to new_page_node(),
with one test per branch SPEC describes that anonymous or tmpfs (shmem) memory can reach.
Every expected value is worked out by hand from SPEC (the reasoning is in each docstring,
with the reference counts spelled out as "pte + slot + isolation + ..." per SPEC §1.3).

State is built through the real API (spawn, mmap, write_user, tmpfs files, fork, pin) and
the engine functions are then called directly.  What a second actor would leave (a page
lock held by someone else, writeback in flight, a concurrent lookup's reference) is set
up by hand, and sleeps are observed by driving the generators here (:func:`drive`), which
acts as that other actor when a :class:`~pagemig.sched.Wait` is yielded.  The ``k``
fixture validates every SPEC §5 invariant when the test ends, so each test leaves the
machine at rest (no isolated, locked or half-migrated page; fillers freed).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import pytest

from pagemig.kernel import Kernel
from pagemig.mm import migrate
from pagemig.mm.filemap import (
    AddressSpace,
    AddressSpaceOperations,
    end_page_writeback,
    trylock_page,
    unlock_page,
)
from pagemig.mm.memcontrol import (
    MEM_CGROUP_CHARGE_TYPE_CACHE,
    MEM_CGROUP_CHARGE_TYPE_MAPPED,
    ROOT_MEM_CGROUP,
    mem_cgroup_end_migration,
    mem_cgroup_prepare_migration,
    mem_cgroup_uncharge_cache_page,
    page_cgroup_of,
)
from pagemig.mm.mempolicy import MAX_NUMNODES
from pagemig.mm.mm_types import (
    LRU_ACTIVE,
    LRU_INACTIVE,
    LRU_NONE,
    LRU_PAGEVEC,
    LRU_PRIVATE,
    PAGE_SIZE,
    PageList,
    mapping_is_anon,
)
from pagemig.mm.mmap import MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_alloc import GFP_HIGHUSER_MOVABLE, GFP_THISNODE, alloc_pages_node
from pagemig.mm.page_flags import (
    F_ACTIVE,
    F_CHECKED,
    F_DIRTY,
    F_ERROR,
    F_LOCKED,
    F_LRU,
    F_MAPPEDTODISK,
    F_PRIVATE,
    F_RECLAIM,
    F_REFERENCED,
    F_SWAPCACHE,
    F_UPTODATE,
    F_WRITEBACK,
)
from pagemig.mm.rmap import try_to_unmap
from pagemig.mm.swap import PAGEVEC_SIZE, PVEC_ACTIVE, PVEC_INACTIVE, get_page, put_page
from pagemig.mm.swapops import (
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    SWP_MIGRATION_READ,
    SWP_MIGRATION_WRITE,
    is_migration_entry,
    is_swap_pte,
    migration_entry_to_pfn,
    pte_dirty,
    pte_pfn,
    pte_present,
    pte_protnone,
    pte_to_swp_entry,
    pte_write,
    pte_young,
    swp_entry,
    swp_entry_to_pte,
    swp_type,
)
from pagemig.sched import PF_SWAPWRITE, Task, Wait

EAGAIN, EBUSY, ENOMEM, EIO = -errno.EAGAIN, -errno.EBUSY, -errno.ENOMEM, -errno.EIO
RW = PROT_READ | PROT_WRITE
UNSET = -99999  # a status slot nobody wrote
THISNODE = GFP_HIGHUSER_MOVABLE | GFP_THISNODE
COPIED = F_ERROR | F_REFERENCED | F_UPTODATE | F_ACTIVE | F_CHECKED | F_MAPPEDTODISK


# -- helpers: building state through the API --

def settle(k: Kernel) -> None:
    """Drain every pagevec (migrate_prep) so that every page is on its zone LRU list."""
    assert migrate.migrate_prep(k) == 0


def anon_page(k: Kernel, task: Task, data: bytes = b"anon page", write: bool = True,
              prot: int = RW) -> tuple[int, int]:
    """A private anonymous page of ``task`` (written, or read-touched), settled on the LRU.

    Returns (address, pfn).  2.6.27 allocates a private page for both (SPEC Q2) and maps
    it dirty, and writable if the vma allows writes.
    """
    addr = k.mmap(task, PAGE_SIZE, prot)
    if write:
        k.write_user(task, addr, data)
    else:
        k.touch(task, addr, False)
    settle(k)
    pfn = k.page_at(task, addr)
    assert pfn is not None
    return addr, pfn


def shmem_page(k: Kernel, task: Task, write: bool = True, data: bytes = b"shmem page",
               name: str = "f") -> tuple[AddressSpace, int, int]:
    """Page 0 of a new one-page tmpfs file mapped MAP_SHARED read-write by ``task``.

    Returns (file, address, pfn), settled on the LRU (inactive: shmem_getpage() uses
    lru_cache_add()).
    """
    f = k.create_file(name, 1)
    addr = k.mmap(task, PAGE_SIZE, RW, MAP_SHARED, file=f)
    if write:
        k.write_user(task, addr, data)
    else:
        k.touch(task, addr, False)
    settle(k)
    pfn = k.page_at(task, addr)
    assert pfn is not None and f.slot(0) == pfn
    return f, addr, pfn


def isolated(k: Kernel, *pfns: int) -> PageList:
    """A private list holding ``pfns``, each isolated with isolate_lru_page() (rc 0)."""
    pl = PageList(k.pages)
    for pfn in pfns:
        assert migrate.isolate_lru_page(k, pfn, pl) == 0
    return pl


def lock_and_unmap(k: Kernel, pfn: int) -> None:
    """unmap_and_move()'s steps 4 and 8: take the page lock, replace the ptes."""
    assert trylock_page(k, pfn)
    try_to_unmap(k, pfn, True)
    assert int(k.pages.mapcount[pfn]) == 0


def undo(k: Kernel, pl: PageList, pfn: int) -> None:
    """Restore an unmapped page, unlock it and put it back (the failure path), then settle."""
    migrate.remove_migration_ptes(k, pfn, pfn)
    unlock_page(k, pfn)
    migrate.putback_lru_pages(k, pl)
    settle(k)


def new_page(k: Kernel, nid: int = 1) -> int:
    """A target page as new_page_node() allocates it (GFP_THISNODE on ``nid``)."""
    pfn = alloc_pages_node(k, nid, THISNODE)
    assert pfn is not None
    return pfn


def to_node(nid: int, slot: int | None = None) -> Callable[[Kernel, int, Any],
                                                          tuple[int | None, int | None]]:
    """A get_new_page() allocating on ``nid``, pointing the result at ``slot``."""
    def get_new_page(k: Kernel, page: int, private: Any) -> tuple[int | None, int | None]:
        return alloc_pages_node(k, nid, THISNODE), slot
    return get_new_page


def statuses(n: int) -> migrate.PageToNode:
    """A page_to_node array of ``n`` entries whose statuses read UNSET."""
    pm = migrate.PageToNode(n)
    pm.status[:] = UNSET
    return pm


def drive(k: Kernel, gen: Generator[Any, None, Any],
          on_wait: Callable[[Wait], None] | None = None) -> tuple[Any, list[Wait]]:
    """Run an engine generator, recording every Wait it yields.

    At each Wait the other actor finishes: ``on_wait`` is called (to look at the state
    while the task sleeps), then the page lock is released or the writeback ended, as
    ``k.run`` would.  Returns (the generator's result, the waits).
    """
    waits: list[Wait] = []
    try:
        item = next(gen)
        while True:
            if isinstance(item, Wait):
                waits.append(item)
                if on_wait is not None:
                    on_wait(item)
                if item.what == "page_locked":
                    unlock_page(k, item.pfn)
                else:
                    assert item.what == "page_writeback"
                    end_page_writeback(k, item.pfn)
            item = gen.send(None)
    except StopIteration as stop:
        return stop.value, waits


def start_writeback(k: Kernel, pfn: int) -> None:
    """What ->writepage leaves: PG_writeback set and NR_WRITEBACK +1 (SPEC §1.2)."""
    k.pages.flags[pfn] |= F_WRITEBACK
    k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_WRITEBACK] += 1


def stat(k: Kernel, pfn: int, item: ZoneStat) -> int:
    """A zone counter of the zone of ``pfn``."""
    return int(k.zone_stat[k.page_zone(pfn).id, item])


def is_free(k: Kernel, pfn: int) -> bool:
    """The page sits on its zone's free stack."""
    zone = k.page_zone(pfn)
    return bool(np.any(zone.free_stack[: zone.free_top] == pfn))


def pte_of(task: Task, addr: int) -> int:
    assert task.mm is not None
    return task.mm.get_pte(addr)


def entry_of(task: Task, addr: int) -> tuple[int, int]:
    """(swap type, pfn) of the migration entry at ``addr``."""
    pte = pte_of(task, addr)
    assert is_swap_pte(pte)
    entry = pte_to_swp_entry(pte)
    assert is_migration_entry(entry)
    return swp_type(entry), migration_entry_to_pfn(entry)


def vma_of(task: Task, addr: int):  # type: ignore[no-untyped-def]
    assert task.mm is not None
    vma = task.mm.vma_containing(addr)
    assert vma is not None
    return vma


def fill_node(k: Kernel, nid: int, leave: int) -> list[int]:
    """Allocate pages of ``nid`` until exactly ``leave`` more GFP_THISNODE allocations can
    succeed (one attempt at the low watermark: free > pages_low, SPEC §2.21)."""
    (zone,) = [z for z in k.nodes[nid].zones]  # node 1 of the small machine: one zone
    fillers = []
    while zone.free_top > zone.pages_low + leave:
        fillers.append(new_page(k, nid))
    return fillers


def free_all(k: Kernel, pfns: list[int]) -> None:
    for pfn in pfns:
        put_page(k, pfn)


@pytest.fixture
def t(k: Kernel) -> Task:
    """A probe process on CPU 0 (node 0), with the pagevecs its start-up filled drained."""
    task = k.spawn()
    settle(k)
    return task


# == §2.1 isolate_lru_page ==

def test_isolate_active_page(k: Kernel, t: Task) -> None:
    """§2.1 success on an active page (an anon page from a fault: lru_cache_add_active).

    Before: count 1 (its pte), PG_lru|PG_active, on the active list.  After: count 2 (the
    isolation reference), PG_lru clear, PG_active kept (step 5), NR_ACTIVE -1, on the
    caller's list; a second page goes to the list's tail (step 3).
    """
    _, p1 = anon_page(k, t, b"one")
    _, p2 = anon_page(k, t, b"two")
    assert int(k.pages.count[p1]) == 1 and int(k.pages.lru[p1]) == LRU_ACTIVE
    assert int(k.pages.flags[p1]) & (F_LRU | F_ACTIVE) == F_LRU | F_ACTIVE
    nr_active = stat(k, p1, ZoneStat.NR_ACTIVE)
    nr_inactive = stat(k, p1, ZoneStat.NR_INACTIVE)
    pl = PageList(k.pages)
    assert migrate.isolate_lru_page(k, p1, pl) == 0
    assert int(k.pages.count[p1]) == 2
    assert not int(k.pages.flags[p1]) & F_LRU
    assert int(k.pages.flags[p1]) & F_ACTIVE
    assert int(k.pages.lru[p1]) == LRU_PRIVATE
    assert stat(k, p1, ZoneStat.NR_ACTIVE) == nr_active - 1
    assert stat(k, p1, ZoneStat.NR_INACTIVE) == nr_inactive
    assert migrate.isolate_lru_page(k, p2, pl) == 0
    assert list(pl) == [p1, p2]
    assert migrate.putback_lru_pages(k, pl) == 2
    settle(k)


def test_isolate_inactive_page(k: Kernel, t: Task) -> None:
    """§2.1 success on an inactive page (a tmpfs page: shmem_getpage uses lru_cache_add).

    count 2 (pte + cache slot) -> 3 (+ isolation); NR_INACTIVE -1; PG_active stays clear.
    """
    _, _, pfn = shmem_page(k, t)
    assert int(k.pages.lru[pfn]) == LRU_INACTIVE and int(k.pages.count[pfn]) == 2
    nr_inactive = stat(k, pfn, ZoneStat.NR_INACTIVE)
    nr_active = stat(k, pfn, ZoneStat.NR_ACTIVE)
    pl = isolated(k, pfn)
    assert int(k.pages.count[pfn]) == 3
    assert not int(k.pages.flags[pfn]) & (F_LRU | F_ACTIVE)
    assert stat(k, pfn, ZoneStat.NR_INACTIVE) == nr_inactive - 1
    assert stat(k, pfn, ZoneStat.NR_ACTIVE) == nr_active
    assert list(pl) == [pfn]
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_isolate_page_in_pagevec_is_ebusy(k: Kernel, t: Task) -> None:
    """§2.1 step 1, §1.4: a page still in a pagevec is not PG_lru: -EBUSY, nothing changes.

    A fresh fault leaves the page in CPU 0's active add-pagevec (count 2: pte + pagevec).
    After migrate_prep's drain the same call succeeds.
    """
    addr = k.mmap(t, PAGE_SIZE)
    k.write_user(t, addr, b"x")
    pfn = k.page_at(t, addr)
    assert pfn is not None
    assert int(k.pages.lru[pfn]) == LRU_PAGEVEC and int(k.pages.count[pfn]) == 2
    pl = PageList(k.pages)
    assert migrate.isolate_lru_page(k, pfn, pl) == EBUSY
    assert int(k.pages.count[pfn]) == 2 and int(k.pages.lru[pfn]) == LRU_PAGEVEC
    assert pl.list_empty()
    settle(k)
    assert migrate.isolate_lru_page(k, pfn, pl) == 0
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_isolate_already_isolated_is_ebusy(k: Kernel, t: Task) -> None:
    """§2.1 step 1: the isolating call cleared PG_lru, so a second one is -EBUSY and takes
    no second reference (count stays 1 pte + 1 isolation); the page is listed once."""
    _, pfn = anon_page(k, t)
    pl = isolated(k, pfn)
    other = PageList(k.pages)
    assert migrate.isolate_lru_page(k, pfn, other) == EBUSY
    assert migrate.isolate_lru_page(k, pfn, pl) == EBUSY
    assert int(k.pages.count[pfn]) == 2
    assert list(pl) == [pfn] and other.list_empty()
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_isolate_page_being_freed_is_ebusy(k: Kernel, t: Task) -> None:
    """§2.1 steps 2 and 4: PG_lru is set but get_page_unless_zero fails (another CPU's
    put_page dropped the count to 0 and has not yet taken the lru_lock to unlink it):
    -EBUSY, the page stays on its list.  The count is restored afterwards."""
    _, pfn = anon_page(k, t)
    nr_active = stat(k, pfn, ZoneStat.NR_ACTIVE)
    k.pages.count[pfn] = 0
    pl = PageList(k.pages)
    try:
        assert migrate.isolate_lru_page(k, pfn, pl) == EBUSY
        assert int(k.pages.count[pfn]) == 0
        assert int(k.pages.flags[pfn]) & F_LRU and int(k.pages.lru[pfn]) == LRU_ACTIVE
        assert stat(k, pfn, ZoneStat.NR_ACTIVE) == nr_active
        assert pl.list_empty()
    finally:
        k.pages.count[pfn] = 1


# == §2.2 migrate_prep ==

def test_migrate_prep_drains_every_cpu(k: Kernel, t: Task) -> None:
    """§2.2: drains every CPU's add-pagevecs and returns 0.

    An anon fault on CPU 0 (node 0) queues its page on CPU 0's active pagevec; a read
    fault on a tmpfs file from a task on CPU 1 queues a page on CPU 1's inactive pagevec.
    After migrate_prep both pagevecs are empty, each page is PG_lru on its list (active
    with PG_active, inactive without), and the pagevec references are gone.
    """
    t1 = k.spawn(cpu=1)
    settle(k)
    addr = k.mmap(t, PAGE_SIZE)
    k.write_user(t, addr, b"cpu0")
    a = k.page_at(t, addr)
    f = k.create_file("g", 1)
    faddr = k.mmap(t1, PAGE_SIZE, PROT_READ, MAP_SHARED, file=f)
    k.touch(t1, faddr, False)
    s = k.page_at(t1, faddr)
    assert a is not None and s is not None
    assert int(k.pvec_len[0, PVEC_ACTIVE]) == 1 and int(k.pvec_len[1, PVEC_INACTIVE]) == 1
    assert int(k.pages.count[a]) == 2 and int(k.pages.count[s]) == 3
    assert migrate.migrate_prep(k) == 0
    assert not k.pvec_len.any()
    assert int(k.pages.lru[a]) == LRU_ACTIVE
    assert int(k.pages.flags[a]) & (F_LRU | F_ACTIVE) == F_LRU | F_ACTIVE
    assert int(k.pages.lru[s]) == LRU_INACTIVE
    assert int(k.pages.flags[s]) & (F_LRU | F_ACTIVE) == F_LRU
    assert int(k.pages.count[a]) == 1 and int(k.pages.count[s]) == 2


# == §2.3 move_to_lru ==

def test_move_to_lru_active(k: Kernel, t: Task) -> None:
    """§2.3 PG_active: cleared, added through the active pagevec, our reference dropped.

    Isolated anon page: count 2 (pte + ours).  move_to_lru: +1 pagevec, -1 ours = 2, in
    the active pagevec with PG_active clear.  The drain sets PG_lru|PG_active, links it on
    the active list and drops the pagevec's reference: count 1.
    """
    _, pfn = anon_page(k, t)
    pl = isolated(k, pfn)
    pl.list_del(pfn)
    migrate.move_to_lru(k, pfn)
    assert int(k.pages.count[pfn]) == 2
    assert int(k.pages.lru[pfn]) == LRU_PAGEVEC
    assert not int(k.pages.flags[pfn]) & (F_ACTIVE | F_LRU)
    assert int(k.pvec_len[0, PVEC_ACTIVE]) == 1 and int(k.pvecs[0, PVEC_ACTIVE, 0]) == pfn
    settle(k)
    assert int(k.pages.count[pfn]) == 1 and int(k.pages.lru[pfn]) == LRU_ACTIVE
    assert int(k.pages.flags[pfn]) & (F_ACTIVE | F_LRU) == F_ACTIVE | F_LRU


def test_move_to_lru_inactive(k: Kernel, t: Task) -> None:
    """§2.3 otherwise: the inactive pagevec.  Isolated tmpfs page: count 3 (pte + slot +
    ours) -> 3 in the pagevec -> 2 on the inactive list after the drain."""
    _, _, pfn = shmem_page(k, t)
    pl = isolated(k, pfn)
    pl.list_del(pfn)
    migrate.move_to_lru(k, pfn)
    assert int(k.pages.count[pfn]) == 3 and int(k.pages.lru[pfn]) == LRU_PAGEVEC
    assert int(k.pvec_len[0, PVEC_INACTIVE]) == 1 and int(k.pvec_len[0, PVEC_ACTIVE]) == 0
    settle(k)
    assert int(k.pages.count[pfn]) == 2 and int(k.pages.lru[pfn]) == LRU_INACTIVE
    assert int(k.pages.flags[pfn]) & (F_ACTIVE | F_LRU) == F_LRU


def test_move_to_lru_last_reference_frees_at_drain(k: Kernel) -> None:
    """§2.3, §1.4: when ours is the only reference left, the page is freed when the
    pagevec drains.  A fresh page (count 1, ours): pagevec 2, put 1; drain: linked, then
    the pagevec's put reaches 0, the page leaves the list and is freed."""
    settle(k)
    pfn = new_page(k)
    free_before = k.page_zone(pfn).free_top
    nr_inactive = stat(k, pfn, ZoneStat.NR_INACTIVE)
    migrate.move_to_lru(k, pfn)
    assert int(k.pages.count[pfn]) == 1 and int(k.pages.lru[pfn]) == LRU_PAGEVEC
    settle(k)
    assert int(k.pages.count[pfn]) == 0 and is_free(k, pfn)
    assert int(k.pages.lru[pfn]) == LRU_NONE and not int(k.pages.flags[pfn]) & F_LRU
    assert k.page_zone(pfn).free_top == free_before + 1
    assert stat(k, pfn, ZoneStat.NR_INACTIVE) == nr_inactive


def test_move_to_lru_filling_the_pagevec_frees_at_once(k: Kernel) -> None:
    """§2.3, §1.4: if this add fills the pagevec, the drain runs first (the page is briefly
    PG_lru with count 1) and move_to_lru's own put_page frees it at once.

    13 fresh pages queued (each count 1, the pagevec's); the 14th add drains all 14: the
    13 are freed by the drain's puts, the 14th (count 2 -> 1 after the drain) by ours.
    """
    settle(k)
    pfns = [new_page(k) for _ in range(PAGEVEC_SIZE)]
    for pfn in pfns[:-1]:
        migrate.move_to_lru(k, pfn)
    assert int(k.pvec_len[0, PVEC_INACTIVE]) == PAGEVEC_SIZE - 1
    trace = k.start_trace()
    migrate.move_to_lru(k, pfns[-1])
    assert int(k.pvec_len[0, PVEC_INACTIVE]) == 0
    for pfn in pfns:
        assert int(k.pages.count[pfn]) == 0 and is_free(k, pfn)
    events = [(ev, f.get("pfn")) for ev, f in trace if ev in ("mm_lru_drain", "mm_page_free")]
    # The drain's puts free the first 13 (its tracepoint fires when it is done); the
    # 14th is freed afterwards, by move_to_lru's own put_page.
    assert events == [("mm_page_free", p) for p in pfns[:-1]] + [("mm_lru_drain", None),
                                                                  ("mm_page_free", pfns[-1])]


# == §2.4 putback_lru_pages ==

def test_putback_lru_pages_counts_and_empties(k: Kernel, t: Task) -> None:
    """§2.4: every page unlinked, move_to_lru'd, counted; the list ends empty.

    Two anon pages (active) and a tmpfs page (inactive): returns 3; after the drain each
    is back on its list with its isolation reference gone.  An empty list gives 0.
    """
    _, a1 = anon_page(k, t, b"1")
    _, a2 = anon_page(k, t, b"2")
    _, _, s = shmem_page(k, t)
    pl = isolated(k, a1, s, a2)
    assert migrate.putback_lru_pages(k, pl) == 3
    assert pl.list_empty() and list(pl) == []
    assert all(int(k.pages.lru[p]) == LRU_PAGEVEC for p in (a1, a2, s))
    settle(k)
    assert int(k.pages.lru[a1]) == LRU_ACTIVE and int(k.pages.lru[a2]) == LRU_ACTIVE
    assert int(k.pages.lru[s]) == LRU_INACTIVE
    assert [int(k.pages.count[p]) for p in (a1, a2, s)] == [1, 1, 2]
    assert migrate.putback_lru_pages(k, PageList(k.pages)) == 0


# == §2.5 remove_migration_pte ==

def test_remove_migration_pte_write_entry(k: Kernel, t: Task) -> None:
    """§2.5, §1.10: a written private anon page has a writable, young, dirty pte; unmapping
    makes a write entry (offset = pfn) and moves the dirty bit to the page.  Restoring
    gives a present pte with vm_page_prot (PAGE_COPY: read-only) plus write, marked old
    and clean; mapcount 1 and the pte's reference are back (count 1 pte + 1 isolation)."""
    addr, pfn = anon_page(k, t)
    before = pte_of(t, addr)
    assert pte_write(before) and pte_young(before) and pte_dirty(before)
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    assert entry_of(t, addr) == (SWP_MIGRATION_WRITE, pfn)
    assert int(k.pages.count[pfn]) == 1
    assert int(k.pages.flags[pfn]) & F_DIRTY
    migrate.remove_migration_pte(k, vma_of(t, addr), pfn, pfn)
    pte = pte_of(t, addr)
    assert pte_present(pte) and pte_pfn(pte) == pfn
    assert pte_write(pte) and not pte_young(pte) and not pte_dirty(pte)
    assert pte == before & ~(_PAGE_ACCESSED | _PAGE_DIRTY)
    assert int(k.pages.mapcount[pfn]) == 1 and int(k.pages.count[pfn]) == 2
    unlock_page(k, pfn)
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_remove_migration_pte_read_entry(k: Kernel, t: Task) -> None:
    """§2.5, §1.10: a read-faulted page of a read-only anon vma has a read-only pte, so a
    read entry; it is restored read-only (PAGE_READONLY has no write), old and clean."""
    addr, pfn = anon_page(k, t, write=False, prot=PROT_READ)
    assert not pte_write(pte_of(t, addr))
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    assert entry_of(t, addr) == (SWP_MIGRATION_READ, pfn)
    migrate.remove_migration_pte(k, vma_of(t, addr), pfn, pfn)
    pte = pte_of(t, addr)
    assert pte_present(pte) and pte_pfn(pte) == pfn
    assert not pte_write(pte) and not pte_young(pte) and not pte_dirty(pte)
    assert int(k.pages.mapcount[pfn]) == 1
    unlock_page(k, pfn)
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_remove_migration_pte_prot_none(k: Kernel, t: Task) -> None:
    """§2.5 step 6c, Q15: a populated page made PROT_NONE keeps a (PROT_NONE) present pte;
    try_to_unmap finds it, the pte is not writable so the entry is a read one, and
    restoring takes vm_page_prot = PAGE_NONE: a PROT_NONE pte again, not accessible."""
    addr, pfn = anon_page(k, t)
    k.mprotect(t, addr, PAGE_SIZE, PROT_NONE)
    assert pte_protnone(pte_of(t, addr))
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    assert entry_of(t, addr) == (SWP_MIGRATION_READ, pfn)
    migrate.remove_migration_pte(k, vma_of(t, addr), pfn, pfn)
    pte = pte_of(t, addr)
    assert pte_protnone(pte) and pte_pfn(pte) == pfn
    assert not pte_write(pte) and not pte_young(pte) and not pte_dirty(pte)
    assert int(k.pages.mapcount[pfn]) == 1
    unlock_page(k, pfn)
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_remove_migration_pte_leaves_other_ptes(k: Kernel, t: Task) -> None:
    """§2.5 steps 1, 3 and 5: nothing changes when

    - the page's address falls outside the vma (page_address_in_vma -EFAULT: the other
      half of a vma split by mprotect, which shares the anon_vma);
    - the pte is not a swap pte (another page, still mapped, present);
    - the pte is a swap pte but not a migration entry (a real swap entry);
    - the pte is a migration entry for another page than ``old``.
    """
    addr = k.mmap(t, 2 * PAGE_SIZE)
    k.write_user(t, addr, b"A")
    k.write_user(t, addr + PAGE_SIZE, b"B")
    settle(k)
    k.mprotect(t, addr + PAGE_SIZE, PAGE_SIZE, PROT_READ)  # split: two vmas, one anon_vma
    a, b = k.page_at(t, addr), k.page_at(t, addr + PAGE_SIZE)
    assert a is not None and b is not None
    vma_a, vma_b = vma_of(t, addr), vma_of(t, addr + PAGE_SIZE)
    assert vma_a is not vma_b and vma_a.anon_vma is vma_b.anon_vma
    pl = isolated(k, a)
    lock_and_unmap(k, a)
    entry_a = pte_of(t, addr)
    pte_b = pte_of(t, addr + PAGE_SIZE)

    migrate.remove_migration_pte(k, vma_b, a, a)  # a's address is outside vma_b
    assert pte_of(t, addr) == entry_a and int(k.pages.mapcount[a]) == 0
    migrate.remove_migration_pte(k, vma_b, b, b)  # b's pte is present
    assert pte_of(t, addr + PAGE_SIZE) == pte_b
    assert int(k.pages.mapcount[b]) == 1 and int(k.pages.count[b]) == 1
    migrate.remove_migration_pte(k, vma_a, b, a)  # the entry is for a, not b
    assert pte_of(t, addr) == entry_a and int(k.pages.count[a]) == 1
    assert int(k.pages.count[b]) == 1
    assert t.mm is not None
    t.mm.set_pte(addr, swp_entry_to_pte(swp_entry(0, 7)))  # swap type 0: not migration
    try:
        migrate.remove_migration_pte(k, vma_a, a, a)
        assert pte_of(t, addr) == swp_entry_to_pte(swp_entry(0, 7))
        assert int(k.pages.mapcount[a]) == 0 and int(k.pages.count[a]) == 1
    finally:
        t.mm.set_pte(addr, entry_a)
    undo(k, pl, a)
    assert pte_pfn(pte_of(t, addr)) == a


# == §2.6-§2.8 remove_{anon,file}_migration_ptes, remove_migration_ptes ==

def test_remove_anon_migration_ptes_forked_cow_page(k: Kernel, t: Task) -> None:
    """§2.7, §6.2.8: a page shared copy-on-write after fork has two read-only ptes (both
    write-protected by fork).  Unmapping makes two read entries; the anon_vma walk visits
    the parent's and the child's vma and restores both (mapcount 2, count 2 ptes +
    isolation), both read-only."""
    addr, pfn = anon_page(k, t, b"cow")
    child = k.fork(t)
    assert int(k.pages.mapcount[pfn]) == 2
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    assert entry_of(t, addr) == (SWP_MIGRATION_READ, pfn)
    assert entry_of(child, addr) == (SWP_MIGRATION_READ, pfn)
    assert int(k.pages.count[pfn]) == 1
    migrate.remove_anon_migration_ptes(k, pfn, pfn)
    for task in (t, child):
        pte = pte_of(task, addr)
        assert pte_present(pte) and pte_pfn(pte) == pfn and not pte_write(pte)
    assert int(k.pages.mapcount[pfn]) == 2 and int(k.pages.count[pfn]) == 3
    unlock_page(k, pfn)
    migrate.putback_lru_pages(k, pl)
    settle(k)
    assert k.read_user(child, addr, 3) == b"cow"


def test_fork_during_migration_downgrades_write_entry(k: Kernel, t: Task) -> None:
    """§1.10, §6.2.8: fork while the page is unmapped copies the migration entry to the
    child and, the mapping being COW, downgrades the write entry to read in both.  The
    dispatcher (§2.8, anon) then restores both ptes read-only."""
    addr, pfn = anon_page(k, t, b"w")
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    assert entry_of(t, addr) == (SWP_MIGRATION_WRITE, pfn)
    child = k.fork(t)
    assert entry_of(t, addr) == (SWP_MIGRATION_READ, pfn)
    assert entry_of(child, addr) == (SWP_MIGRATION_READ, pfn)
    migrate.remove_migration_ptes(k, pfn, pfn)
    for task in (t, child):
        pte = pte_of(task, addr)
        assert pte_present(pte) and pte_pfn(pte) == pfn and not pte_write(pte)
    assert int(k.pages.mapcount[pfn]) == 2
    unlock_page(k, pfn)
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_remove_file_migration_ptes_shmem_mapped_twice(k: Kernel, t: Task) -> None:
    """§2.6: a tmpfs page mapped by a read-write and a read-only MAP_SHARED vma.  The
    read-write pte is writable (PAGE_SHARED) -> write entry; the read-only one -> read
    entry.  The i_mmap walk restores both: the first writable, the second read-only, both
    old and clean; mapcount 2, count 2 ptes + slot + isolation = 4."""
    f, addr, pfn = shmem_page(k, t)
    raddr = k.mmap(t, PAGE_SIZE, PROT_READ, MAP_SHARED, file=f)
    k.touch(t, raddr, False)
    settle(k)
    assert k.page_at(t, raddr) == pfn and int(k.pages.mapcount[pfn]) == 2
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    assert entry_of(t, addr) == (SWP_MIGRATION_WRITE, pfn)
    assert entry_of(t, raddr) == (SWP_MIGRATION_READ, pfn)
    assert int(k.pages.count[pfn]) == 2  # slot + isolation
    migrate.remove_file_migration_ptes(k, pfn, pfn)
    w, r = pte_of(t, addr), pte_of(t, raddr)
    assert pte_present(w) and pte_pfn(w) == pfn and pte_write(w)
    assert pte_present(r) and pte_pfn(r) == pfn and not pte_write(r)
    assert not (pte_young(w) or pte_young(r) or pte_dirty(w) or pte_dirty(r))
    assert int(k.pages.mapcount[pfn]) == 2 and int(k.pages.count[pfn]) == 4
    unlock_page(k, pfn)
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_restored_read_entry_takes_shared_write_prot(k: Kernel, t: Task) -> None:
    """§1.10: a restored pte takes vm_page_prot, so it is writable when that grants write.
    A read-only MAP_SHARED tmpfs mapping gives a read entry; mprotect to read-write while
    unmapped (the vma's prot becomes PAGE_SHARED); the read entry is restored writable."""
    f = k.create_file("ro", 1)
    addr = k.mmap(t, PAGE_SIZE, PROT_READ, MAP_SHARED, file=f)
    k.touch(t, addr, False)
    settle(k)
    pfn = f.slot(0)
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    assert entry_of(t, addr) == (SWP_MIGRATION_READ, pfn)
    k.mprotect(t, addr, PAGE_SIZE, RW)
    migrate.remove_migration_ptes(k, pfn, pfn)
    pte = pte_of(t, addr)
    assert pte_present(pte) and pte_pfn(pte) == pfn and pte_write(pte)
    assert not pte_young(pte) and not pte_dirty(pte)
    unlock_page(k, pfn)
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_remove_ptes_without_mapping_return(k: Kernel, t: Task) -> None:
    """§2.6 and §2.7 early returns: with ``new.mapping`` None, the anon walk returns, and
    the file walk (page_mapping(new) None) returns; the entries stay.  With a tmpfs page
    as ``new`` the anon walk returns too (not anon).  The dispatcher (§2.8) sends a
    mapping-less ``new`` to the file walk, which returns."""
    addr, pfn = anon_page(k, t)
    _, _, s = shmem_page(k, t)
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    entry = pte_of(t, addr)
    fresh = new_page(k)
    migrate.remove_anon_migration_ptes(k, pfn, fresh)
    migrate.remove_file_migration_ptes(k, pfn, fresh)
    migrate.remove_migration_ptes(k, pfn, fresh)
    migrate.remove_anon_migration_ptes(k, pfn, s)
    assert pte_of(t, addr) == entry
    assert int(k.pages.count[fresh]) == 1 and int(k.pages.mapcount[fresh]) == 0
    put_page(k, fresh)
    undo(k, pl, pfn)


# == §2.9 migration_entry_wait ==

def test_migration_entry_wait_not_a_migration_entry(k: Kernel, t: Task) -> None:
    """§2.9 step 1: a present pte, and a none pte, are not migration entries: returns 0 at
    once, no sleep, no reference taken."""
    addr, pfn = anon_page(k, t)
    assert t.mm is not None
    assert drive(k, migrate.migration_entry_wait(k, t.mm, addr)) == (0, [])
    assert int(k.pages.count[pfn]) == 1
    hole = k.mmap(t, PAGE_SIZE)
    assert drive(k, migrate.migration_entry_wait(k, t.mm, hole)) == (0, [])


def test_migration_entry_wait_frozen_returns_at_once(k: Kernel, t: Task) -> None:
    """§2.9 step 3, §6.2: while move_mapping has the count frozen at 0 the speculative get
    fails: return at once (the fault retries), no sleep, the count stays 0."""
    addr, pfn = anon_page(k, t)
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    assert t.mm is not None
    assert migrate.page_freeze_refs(k, pfn, 1)
    trace = k.start_trace()
    assert drive(k, migrate.migration_entry_wait(k, t.mm, addr)) == (0, [])
    assert int(k.pages.count[pfn]) == 0
    assert ("mm_migrate_entry_wait", {"pfn": pfn, "waited": 0}) in trace
    migrate.page_unfreeze_refs(k, pfn, 1)
    undo(k, pl, pfn)


def test_migration_entry_wait_sleeps_on_lock_then_drops_reference(k: Kernel,
                                                                  t: Task) -> None:
    """§2.9 step 4: take a reference (count 1 isolation -> 2), sleep on PG_locked of the
    old page (one Wait("page_locked", old)), then drop the reference (back to 1)."""
    addr, pfn = anon_page(k, t)
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    assert t.mm is not None
    seen: list[int] = []
    rc, waits = drive(k, migrate.migration_entry_wait(k, t.mm, addr),
                      lambda w: seen.append(int(k.pages.count[pfn])))
    assert rc == 0 and waits == [Wait("page_locked", pfn)]
    assert seen == [2]
    assert int(k.pages.count[pfn]) == 1
    assert not k.PageLocked(pfn)  # the other actor (the migration) unlocked it
    assert trylock_page(k, pfn)
    undo(k, pl, pfn)


# == §2.10 migrate_page_move_mapping ==

def test_move_mapping_anon_count_one(k: Kernel, t: Task) -> None:
    """§2.10 case A: no mapping (anon, not swap cache), count 1 (only the isolation
    reference once the pte is an entry): 0 and nothing changes (no slot, no counters)."""
    addr, pfn = anon_page(k, t)
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    new = new_page(k)
    file_pages = (stat(k, pfn, ZoneStat.NR_FILE_PAGES), stat(k, new, ZoneStat.NR_FILE_PAGES))
    assert migrate.migrate_page_move_mapping(k, None, new, pfn) == 0
    assert int(k.pages.count[pfn]) == 1 and int(k.pages.count[new]) == 1
    assert (stat(k, pfn, ZoneStat.NR_FILE_PAGES), stat(k, new, ZoneStat.NR_FILE_PAGES)) \
        == file_pages
    assert not int(k.pages.flags[new]) & F_SWAPCACHE
    put_page(k, new)
    undo(k, pl, pfn)


def test_move_mapping_anon_extra_reference(k: Kernel, t: Task) -> None:
    """§2.10 case A: count 2 (isolation + a get_user_pages pin) != 1: -EAGAIN."""
    addr, pfn = anon_page(k, t)
    pins = k.pin(t, addr, 1)
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    new = new_page(k)
    assert int(k.pages.count[pfn]) == 2
    assert migrate.migrate_page_move_mapping(k, None, new, pfn) == EAGAIN
    assert int(k.pages.count[pfn]) == 2 and int(k.pages.count[new]) == 1
    put_page(k, new)
    undo(k, pl, pfn)
    k.unpin(pins)


def charge_and_unmap(k: Kernel, pfn: int) -> int:
    """unmap_and_move()'s steps 3, 4 and 8 for an isolated page: a target on node 1 is
    charged like old (before the unmap, which uncharges an anon old), old is locked and
    unmapped.  Returns the target page."""
    new = new_page(k)
    assert mem_cgroup_prepare_migration(k, pfn, new) == 0
    lock_and_unmap(k, pfn)
    return new


def begin_move(k: Kernel, new: int, old: int) -> None:
    """move_to_new_page()'s steps 1-2: lock new, give it old's index and mapping."""
    assert trylock_page(k, new)
    k.pages.index[new] = k.pages.index[old]
    k.pages.mapping[new] = k.pages.mapping[old]


def end_move(k: Kernel, pl: PageList, new: int, old: int) -> None:
    """The rest of a successful unmap_and_move() after the copy: restore the ptes to new,
    unlock both, put old back (it is freed) and new on the LRU, then settle."""
    migrate.remove_migration_ptes(k, old, new)
    unlock_page(k, new)
    unlock_page(k, old)
    pl.list_del(old)
    migrate.move_to_lru(k, old)
    mem_cgroup_end_migration(k, new)
    migrate.move_to_lru(k, new)
    settle(k)
    assert is_free(k, old)


def test_move_mapping_shmem_count_two(k: Kernel, t: Task) -> None:
    """§2.10 case B: a tmpfs page, unmapped: count 2 (slot + isolation) = expected 2.

    The slot now holds new; new took the cache reference (1 allocation + 1 = 2); old is
    unfrozen to 2 and loses the slot's reference (1, never 0); NR_FILE_PAGES -1 in old's
    zone (node 0) and +1 in new's (node 1); the CACHE charge: prepare_migration (done by
    unmap_and_move before) charged new like old, and move_mapping removes old's record,
    so the charge moved (usage unchanged); PG_private is not set on new.
    """
    f, addr, pfn = shmem_page(k, t, data=b"moving")
    pl = isolated(k, pfn)
    new = new_page(k)
    assert k.pfn_to_nid(pfn) == 0 and k.pfn_to_nid(new) == 1
    usage = k.memcgs[ROOT_MEM_CGROUP].usage
    assert page_cgroup_of(k, pfn) == (ROOT_MEM_CGROUP, MEM_CGROUP_CHARGE_TYPE_CACHE)
    assert mem_cgroup_prepare_migration(k, pfn, new) == 0
    assert page_cgroup_of(k, new) == (ROOT_MEM_CGROUP, MEM_CGROUP_CHARGE_TYPE_CACHE)
    assert k.memcgs[ROOT_MEM_CGROUP].usage == usage + 1
    lock_and_unmap(k, pfn)
    old_fp, new_fp = stat(k, pfn, ZoneStat.NR_FILE_PAGES), stat(k, new, ZoneStat.NR_FILE_PAGES)
    begin_move(k, new, pfn)
    assert migrate.migrate_page_move_mapping(k, f, new, pfn) == 0
    assert f.slot(0) == new
    assert int(k.pages.count[new]) == 2 and int(k.pages.count[pfn]) == 1
    assert stat(k, pfn, ZoneStat.NR_FILE_PAGES) == old_fp - 1
    assert stat(k, new, ZoneStat.NR_FILE_PAGES) == new_fp + 1
    assert page_cgroup_of(k, pfn) is None
    assert page_cgroup_of(k, new) == (ROOT_MEM_CGROUP, MEM_CGROUP_CHARGE_TYPE_CACHE)
    assert k.memcgs[ROOT_MEM_CGROUP].usage == usage
    assert not int(k.pages.flags[new]) & (F_PRIVATE | F_SWAPCACHE)
    migrate.migrate_page_copy(k, new, pfn)
    end_move(k, pl, new, pfn)
    assert k.page_at(t, addr) == new and k.read_user(t, addr, 6) == b"moving"


def test_move_mapping_shmem_extra_reference(k: Kernel, t: Task) -> None:
    """§2.10 step 3: a concurrent lookup's reference makes count 3 != 2: -EAGAIN, nothing
    changed (slot, counts, NR_FILE_PAGES)."""
    f, addr, pfn = shmem_page(k, t)
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    get_page(k, pfn)  # find_get_page() by another task
    new = new_page(k)
    fp = stat(k, pfn, ZoneStat.NR_FILE_PAGES)
    begin_move(k, new, pfn)
    assert migrate.migrate_page_move_mapping(k, f, new, pfn) == EAGAIN
    assert f.slot(0) == pfn
    assert int(k.pages.count[pfn]) == 3 and int(k.pages.count[new]) == 1
    assert stat(k, pfn, ZoneStat.NR_FILE_PAGES) == fp
    k.pages.mapping[new] = 0
    unlock_page(k, new)
    put_page(k, new)
    put_page(k, pfn)
    undo(k, pl, pfn)


def test_move_mapping_shmem_slot_mismatch(k: Kernel, t: Task) -> None:
    """§2.10 step 3: the count is right (2) but the slot at page_index(old) does not hold
    old: -EAGAIN, nothing changed.  (Modelled by pointing old's index at an empty slot,
    restored afterwards.)"""
    f = k.create_file("two", 2)
    addr = k.mmap(t, 2 * PAGE_SIZE, RW, MAP_SHARED, file=f)
    k.write_user(t, addr, b"slot")
    settle(k)
    pfn = f.slot(0)
    pl = isolated(k, pfn)
    lock_and_unmap(k, pfn)
    new = new_page(k)
    k.pages.index[pfn] = 1  # slot 1 is empty
    try:
        assert int(k.pages.count[pfn]) == 2
        assert migrate.migrate_page_move_mapping(k, f, new, pfn) == EAGAIN
        assert f.slot(0) == pfn and f.slot(1) == -1
        assert int(k.pages.count[pfn]) == 2 and int(k.pages.count[new]) == 1
    finally:
        k.pages.index[pfn] = 0
    put_page(k, new)
    undo(k, pl, pfn)


# == §2.11 migrate_page_copy ==

def test_migrate_page_copy_anon_flags_and_dirty(k: Kernel, t: Task) -> None:
    """§2.11, §1.2: contents copied; Error, Referenced, Uptodate, Active, Checked and
    MappedToDisk set on new if set on old; the dirty state moves (old cleaned, which also
    clears Reclaim; new marked dirty, an anon page without mapping: the flag only).
    Old loses Active, mapping (-> None); keeps Locked, Referenced, Uptodate, Error,
    Checked, MappedToDisk.  Reclaim is not copied."""
    addr, pfn = anon_page(k, t, b"copy me")
    pl = isolated(k, pfn)
    new = charge_and_unmap(k, pfn)  # the dirty pte bit moved to the page
    extra = F_ERROR | F_CHECKED | F_MAPPEDTODISK | F_REFERENCED | F_RECLAIM
    k.pages.flags[pfn] |= extra
    old_flags = int(k.pages.flags[pfn])
    assert old_flags & (F_UPTODATE | F_ACTIVE | F_DIRTY) == F_UPTODATE | F_ACTIVE | F_DIRTY
    anon_vma = int(k.pages.mapping[pfn])
    begin_move(k, new, pfn)
    assert migrate.migrate_page_move_mapping(k, None, new, pfn) == 0
    migrate.migrate_page_copy(k, new, pfn)
    assert k.frames.read(new, 0, 7) == b"copy me"
    assert int(k.pages.flags[new]) == F_LOCKED | COPIED | F_DIRTY
    assert int(k.pages.flags[pfn]) == F_LOCKED | (COPIED & ~F_ACTIVE)
    assert int(k.pages.mapping[pfn]) == 0 and int(k.pages.private[pfn]) == 0
    assert int(k.pages.mapping[new]) == anon_vma
    end_move(k, pl, new, pfn)
    assert k.read_user(t, addr, 7) == b"copy me"


def test_migrate_page_copy_shmem_dirty_tag(k: Kernel, t: Task) -> None:
    """§2.11 step 3 for a tmpfs page: old cleaned; new dirty with the radix DIRTY tag set
    on its index and the inode marked dirty; tmpfs does not account dirty pages, so
    NR_FILE_DIRTY does not move."""
    f, addr, pfn = shmem_page(k, t, data=b"dirty shm")
    assert int(k.pages.flags[pfn]) & F_DIRTY and not f.tag_dirty[0] and not f.inode_dirty
    pl = isolated(k, pfn)
    new = charge_and_unmap(k, pfn)
    dirty = (stat(k, pfn, ZoneStat.NR_FILE_DIRTY), stat(k, new, ZoneStat.NR_FILE_DIRTY))
    begin_move(k, new, pfn)
    assert migrate.migrate_page_move_mapping(k, f, new, pfn) == 0
    migrate.migrate_page_copy(k, new, pfn)
    assert not int(k.pages.flags[pfn]) & F_DIRTY
    assert int(k.pages.flags[new]) & F_DIRTY
    assert f.tag_dirty[0] and f.inode_dirty
    assert (stat(k, pfn, ZoneStat.NR_FILE_DIRTY), stat(k, new, ZoneStat.NR_FILE_DIRTY)) == dirty
    assert int(k.pages.mapping[pfn]) == 0
    assert int(k.pages.mapping[new]) == f.handle and int(k.pages.index[new]) == 0
    end_move(k, pl, new, pfn)
    assert k.read_user(t, addr, 9) == b"dirty shm"


def test_migrate_page_copy_clean_page_stays_clean(k: Kernel, t: Task) -> None:
    """§2.11 step 3 skipped: a read-faulted tmpfs page is clean; neither page ends dirty
    and no DIRTY tag is set."""
    f, addr, pfn = shmem_page(k, t, write=False)
    assert not int(k.pages.flags[pfn]) & F_DIRTY
    pl = isolated(k, pfn)
    new = charge_and_unmap(k, pfn)
    begin_move(k, new, pfn)
    assert migrate.migrate_page_move_mapping(k, f, new, pfn) == 0
    migrate.migrate_page_copy(k, new, pfn)
    assert not int(k.pages.flags[new]) & F_DIRTY and not f.tag_dirty[0]
    end_move(k, pl, new, pfn)


def test_migrate_page_copy_clears_swapcache_private_and_ends_writeback(k: Kernel) -> None:
    """§2.11 steps 4-5 on two bare pages: old's SwapCache, Active and Private are cleared
    and its ``private`` zeroed (mapping None); a Writeback flag found on new at the end is
    ended (flag cleared, NR_WRITEBACK -1).  None of these is copied to new."""
    old, new = new_page(k, 0), new_page(k, 1)
    k.frames.write(old, 100, b"bare")
    k.pages.flags[old] |= F_SWAPCACHE | F_PRIVATE | F_ACTIVE | F_UPTODATE | F_LOCKED
    k.pages.private[old] = 1234
    k.pages.flags[new] |= F_LOCKED
    start_writeback(k, new)
    wb = stat(k, new, ZoneStat.NR_WRITEBACK)
    migrate.migrate_page_copy(k, new, old)
    assert int(k.pages.flags[old]) == F_UPTODATE | F_LOCKED
    assert int(k.pages.private[old]) == 0 and int(k.pages.mapping[old]) == 0
    assert int(k.pages.flags[new]) == F_UPTODATE | F_ACTIVE | F_LOCKED
    assert int(k.pages.private[new]) == 0
    assert stat(k, new, ZoneStat.NR_WRITEBACK) == wb - 1
    assert k.frames.read(new, 100, 4) == b"bare"
    k.pages.flags[old] = 0
    k.pages.flags[new] = 0
    put_page(k, old)
    put_page(k, new)


# == §2.12-§2.16 the migratepage methods ==

def test_fail_migrate_page_is_eio(k: Kernel) -> None:
    """§2.12: always -EIO, nothing touched."""
    old, new = new_page(k, 0), new_page(k, 1)
    assert k.run(migrate.fail_migrate_page(k, None, new, old)) == EIO
    assert int(k.pages.count[old]) == 1 and int(k.pages.count[new]) == 1
    put_page(k, old)
    put_page(k, new)


def test_migrate_page_and_no_buffer_methods(k: Kernel, t: Task) -> None:
    """§2.13: migrate_page = move_mapping then copy (0); its -EAGAIN is returned without a
    copy.  §2.14 step 1 and §2.16 step 3: buffer_migrate_page and fallback_migrate_page
    on a clean page without buffers behave exactly like migrate_page.  Three clean tmpfs
    pages, one per method; a fourth with an extra reference gives -EAGAIN."""
    f = k.create_file("m", 4)
    addr = k.mmap(t, 4 * PAGE_SIZE, PROT_READ, MAP_SHARED, file=f)
    for i in range(4):
        k.touch(t, addr + i * PAGE_SIZE, False)
    settle(k)
    methods = [migrate.migrate_page, migrate.buffer_migrate_page,
               migrate.fallback_migrate_page]
    for i, method in enumerate(methods):
        old = f.slot(i)
        k.frames.write(old, 0, bytes([0x40 + i]) * 8)
        pl = isolated(k, old)
        new = charge_and_unmap(k, old)
        begin_move(k, new, old)
        assert k.run(method(k, f, new, old)) == 0
        assert f.slot(i) == new and k.frames.read(new, 0, 8) == bytes([0x40 + i]) * 8
        assert int(k.pages.mapping[old]) == 0
        end_move(k, pl, new, old)
    old = f.slot(3)
    pl = isolated(k, old)
    lock_and_unmap(k, old)
    get_page(k, old)
    new = new_page(k)
    begin_move(k, new, old)
    k.pages.flags[old] |= F_REFERENCED
    assert k.run(migrate.migrate_page(k, f, new, old)) == EAGAIN
    assert not int(k.pages.flags[new]) & F_REFERENCED  # not copied
    assert int(k.pages.mapping[old]) == f.handle
    k.pages.mapping[new] = 0
    unlock_page(k, new)
    put_page(k, new)
    put_page(k, old)
    undo(k, pl, old)


# == §2.17 move_to_new_page ==

def test_move_to_new_page_anon_success(k: Kernel, t: Task) -> None:
    """§2.17, mapping None -> migrate_page: rc 0; new got old's index and anon_vma, the
    entry now maps new (write entry -> writable, old and clean), new's first rmap adds
    NR_ANON_PAGES +1 on node 1 (old's -1 happened at unmap); new is unlocked again."""
    addr, pfn = anon_page(k, t, b"to new")
    pl = isolated(k, pfn)
    anon = (stat(k, pfn, ZoneStat.NR_ANON_PAGES),
            stat(k, new_page_probe(k), ZoneStat.NR_ANON_PAGES))
    anon_vma, index = int(k.pages.mapping[pfn]), int(k.pages.index[pfn])
    assert mapping_is_anon(anon_vma)
    new = charge_and_unmap(k, pfn)
    assert k.run(migrate.move_to_new_page(k, new, pfn)) == 0
    assert not k.PageLocked(new) and k.PageLocked(pfn)
    assert int(k.pages.mapping[new]) == anon_vma and int(k.pages.index[new]) == index
    pte = pte_of(t, addr)
    assert pte_present(pte) and pte_pfn(pte) == new and pte_write(pte)
    assert not pte_young(pte) and not pte_dirty(pte)
    assert int(k.pages.mapcount[new]) == 1
    assert stat(k, pfn, ZoneStat.NR_ANON_PAGES) == anon[0] - 1
    assert stat(k, new, ZoneStat.NR_ANON_PAGES) == anon[1] + 1
    unlock_page(k, pfn)
    pl.list_del(pfn)
    migrate.move_to_lru(k, pfn)
    mem_cgroup_end_migration(k, new)
    migrate.move_to_lru(k, new)
    settle(k)
    assert is_free(k, pfn) and k.read_user(t, addr, 6) == b"to new"


def new_page_probe(k: Kernel) -> int:
    """A pfn of node 1 (the zone new pages come from), without allocating."""
    (zone,) = k.nodes[1].zones
    return zone.start_pfn


def test_move_to_new_page_shmem_uses_the_method(k: Kernel, t: Task) -> None:
    """§2.17 step 3, a mapping with a migratepage method (tmpfs: migrate_page): rc 0, the
    slot holds new, the entry maps new (NR_FILE_MAPPED moves with the first pte)."""
    f, addr, pfn = shmem_page(k, t, data=b"method")
    calls: list[tuple[int, int]] = []
    aops = f.a_ops

    def spy(k_: Kernel, mapping: AddressSpace, new: int, old: int):  # type: ignore[no-untyped-def]
        calls.append((new, old))
        return (yield from migrate.migrate_page(k_, mapping, new, old))

    f.a_ops = AddressSpaceOperations("spy", migratepage=spy,
                                     set_page_dirty=aops.set_page_dirty)
    try:
        mapped = (stat(k, pfn, ZoneStat.NR_FILE_MAPPED),
                  stat(k, new_page_probe(k), ZoneStat.NR_FILE_MAPPED))
        pl = isolated(k, pfn)
        new = charge_and_unmap(k, pfn)
        assert k.run(migrate.move_to_new_page(k, new, pfn)) == 0
        assert calls == [(new, pfn)]
    finally:
        f.a_ops = aops
    assert f.slot(0) == new and pte_pfn(pte_of(t, addr)) == new
    assert stat(k, pfn, ZoneStat.NR_FILE_MAPPED) == mapped[0] - 1
    assert stat(k, new, ZoneStat.NR_FILE_MAPPED) == mapped[1] + 1
    unlock_page(k, pfn)
    pl.list_del(pfn)
    migrate.move_to_lru(k, pfn)
    mem_cgroup_end_migration(k, new)
    migrate.move_to_lru(k, new)
    settle(k)
    assert k.read_user(t, addr, 6) == b"method"


def test_move_to_new_page_failure_clears_new_mapping(k: Kernel, t: Task) -> None:
    """§2.17 step 4: the method fails (-EAGAIN: a pin's extra reference), so new.mapping is
    set to None, new is unlocked, and the ptes are left as entries for the caller's undo;
    end_migration then removes new's charge (mapping None)."""
    addr, pfn = anon_page(k, t)
    pins = k.pin(t, addr, 1)
    pl = isolated(k, pfn)
    new = charge_and_unmap(k, pfn)
    assert page_cgroup_of(k, new) is not None
    assert k.run(migrate.move_to_new_page(k, new, pfn)) == EAGAIN
    assert int(k.pages.mapping[new]) == 0 and not k.PageLocked(new)
    assert entry_of(t, addr) == (SWP_MIGRATION_WRITE, pfn)
    mem_cgroup_end_migration(k, new)
    assert page_cgroup_of(k, new) is None
    migrate.move_to_lru(k, new)
    undo(k, pl, pfn)
    assert is_free(k, new)
    k.unpin(pins)


def test_move_to_new_page_locked_new_page_is_a_bug(raw_k: Kernel) -> None:
    """§2.17 step 1: nobody else knows about new, so a failed trylock is a BUG."""
    k = raw_k
    old, new = new_page(k, 0), new_page(k, 1)
    k.pages.flags[new] |= F_LOCKED
    with pytest.raises(AssertionError):
        k.run(migrate.move_to_new_page(k, new, old))


# == §2.19 unmap_and_move ==

def uam(k: Kernel, get_new_page: Any, private: Any, pfn: int, force: bool,
        pl: PageList) -> tuple[int, list[Wait]]:
    return drive(k, migrate.unmap_and_move(k, get_new_page, private, pfn, force, pl))


def test_unmap_and_move_no_target_page(k: Kernel, t: Task) -> None:
    """§2.19 step 1, §3.1 row 1: the allocator returns None: -ENOMEM at once; old is
    untouched (still isolated and on the list, mapped, unlocked) and the status slot the
    allocator named is not written."""
    addr, pfn = anon_page(k, t)
    pl = isolated(k, pfn)
    pm = statuses(1)
    trace = k.start_trace()
    rc, waits = uam(k, lambda k_, p, pr: (None, 0), pm, pfn, True, pl)
    assert (rc, waits) == (ENOMEM, [])
    assert int(pm.status[0]) == UNSET
    assert list(pl) == [pfn] and int(k.pages.count[pfn]) == 2
    assert int(k.pages.mapcount[pfn]) == 1 and not k.PageLocked(pfn)
    assert pte_pfn(pte_of(t, addr)) == pfn
    assert not any(ev == "mm_migrate_new_page" for ev, _ in trace)
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_unmap_and_move_freed_under_us(k: Kernel, t: Task) -> None:
    """§2.19 step 2, Q5: the process unmapped the page while it was isolated, so only the
    isolation reference is left (count 1): rc 0 without locking or charging; old stays on
    the list (freed by the final putback); new is freed; the status reads new's node."""
    addr, pfn = anon_page(k, t)
    pl = isolated(k, pfn)
    k.munmap(t, addr, PAGE_SIZE)
    assert int(k.pages.count[pfn]) == 1
    pm = statuses(1)
    trace = k.start_trace()
    rc, waits = uam(k, to_node(1, 0), pm, pfn, False, pl)
    assert (rc, waits) == (0, [])
    assert int(pm.status[0]) == 1
    assert list(pl) == [pfn] and int(k.pages.count[pfn]) == 1
    (new,) = [f["new"] for ev, f in trace if ev == "mm_migrate_new_page"]
    assert int(k.pages.mapping[new]) == 0 and page_cgroup_of(k, new) is None
    settle(k)
    assert is_free(k, new) and not is_free(k, pfn)
    assert migrate.putback_lru_pages(k, pl) == 1
    settle(k)
    assert is_free(k, pfn)


def test_unmap_and_move_shmem_truncated_under_us(k: Kernel, t: Task) -> None:
    """§2.19 step 2 for tmpfs: the file was truncated while its page was isolated (it left
    the cache and lost its mapping and ptes): count 1 -> rc 0, status = new's node."""
    f, addr, pfn = shmem_page(k, t, write=False)
    pl = isolated(k, pfn)
    k.munmap(t, addr, PAGE_SIZE)
    truncate(k, f, pfn)
    assert int(k.pages.count[pfn]) == 1
    pm = statuses(1)
    rc, _ = uam(k, to_node(1, 0), pm, pfn, True, pl)
    assert rc == 0 and int(pm.status[0]) == 1 and list(pl) == [pfn]
    migrate.putback_lru_pages(k, pl)
    settle(k)
    assert is_free(k, pfn)


def truncate(k: Kernel, f: AddressSpace, pfn: int) -> None:
    """truncate_inode_pages() on an unmapped tmpfs page, as remove_from_page_cache() and
    page_cache_release() do it: the slot emptied, NR_FILE_PAGES -1, mapping None, the cache
    charge removed and the slot's reference dropped."""
    index = int(k.pages.index[pfn])
    assert f.slot(index) == pfn and int(k.pages.mapcount[pfn]) == 0
    f.page_tree[index] = -1
    f.nrpages -= 1
    k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_FILE_PAGES] -= 1
    k.pages.mapping[pfn] = 0
    mem_cgroup_uncharge_cache_page(k, pfn)
    put_page(k, pfn)


def test_unmap_and_move_orphan_without_mapping(k: Kernel, t: Task) -> None:
    """§2.19 step 7, Q12: a truncated tmpfs page still held by someone (count 2: isolation
    + another holder) has mapping None: -EAGAIN, with the page locked and unlocked, no
    unmap; old stays on the list, new is freed.  It can never migrate."""
    f, addr, pfn = shmem_page(k, t, write=False)
    pl = isolated(k, pfn)
    k.munmap(t, addr, PAGE_SIZE)
    get_page(k, pfn)  # e.g. a pipe buffer
    truncate(k, f, pfn)
    assert int(k.pages.count[pfn]) == 2
    pm = statuses(1)
    trace = k.start_trace()
    rc, waits = uam(k, to_node(1, 0), pm, pfn, True, pl)
    assert (rc, waits) == (EAGAIN, [])
    assert int(pm.status[0]) == EAGAIN and list(pl) == [pfn]
    assert not k.PageLocked(pfn) and int(k.pages.count[pfn]) == 2
    assert [f_["why"] for ev, f_ in trace if ev == "mm_migrate_result"] == ["no mapping"]
    migrate.putback_lru_pages(k, pl)
    put_page(k, pfn)
    settle(k)
    assert is_free(k, pfn)


def test_unmap_and_move_memcg_charge_fails(k: Kernel, t: Task) -> None:
    """§2.19 step 3, §3.1 row 3: the cgroup is at its limit, so charging new fails:
    -ENOMEM; old unchanged on the list (still mapped); new freed; the status reads
    -ENOMEM."""
    addr, pfn = anon_page(k, t)
    pl = isolated(k, pfn)
    cg = k.memcgs[ROOT_MEM_CGROUP]
    saved = cg.limit
    cg.limit = cg.usage
    try:
        pm = statuses(1)
        rc, _ = uam(k, to_node(1, 0), pm, pfn, True, pl)
    finally:
        cg.limit = saved
    assert rc == ENOMEM and int(pm.status[0]) == ENOMEM
    assert list(pl) == [pfn] and int(k.pages.mapcount[pfn]) == 1
    assert pte_pfn(pte_of(t, addr)) == pfn and not k.PageLocked(pfn)
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_unmap_and_move_lock_busy_not_forced(k: Kernel, t: Task) -> None:
    """§2.19 step 4, not forced: another holder has the page lock: -EAGAIN without
    sleeping; old unchanged (mapped, on the list, still locked by the holder); new freed;
    status -EAGAIN."""
    addr, pfn = anon_page(k, t)
    pl = isolated(k, pfn)
    k.pages.flags[pfn] |= F_LOCKED
    pm = statuses(1)
    trace = k.start_trace()
    rc, waits = uam(k, to_node(1, 0), pm, pfn, False, pl)
    assert (rc, waits) == (EAGAIN, [])
    assert int(pm.status[0]) == EAGAIN and list(pl) == [pfn]
    assert k.PageLocked(pfn) and int(k.pages.mapcount[pfn]) == 1
    (new,) = [f["new"] for ev, f in trace if ev == "mm_migrate_new_page"]
    settle(k)
    assert is_free(k, new)
    unlock_page(k, pfn)
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_unmap_and_move_lock_busy_forced_sleeps_then_migrates(k: Kernel, t: Task) -> None:
    """§2.19 step 4, forced: sleeps on the lock (one Wait("page_locked", old)); once the
    holder unlocks, the page migrates (rc 0, status 1)."""
    addr, pfn = anon_page(k, t, b"locked")
    pl = isolated(k, pfn)
    k.pages.flags[pfn] |= F_LOCKED
    pm = statuses(1)
    rc, waits = uam(k, to_node(1, 0), pm, pfn, True, pl)
    assert rc == 0 and waits == [Wait("page_locked", pfn)]
    assert int(pm.status[0]) == 1 and pl.list_empty()
    settle(k)
    assert is_free(k, pfn)
    new = k.page_at(t, addr)
    assert new is not None and k.pfn_to_nid(new) == 1
    assert k.read_user(t, addr, 6) == b"locked"


def test_unmap_and_move_writeback_not_forced(k: Kernel, t: Task) -> None:
    """§2.19 step 5, not forced: writeback in flight: -EAGAIN; old was locked and is
    unlocked again, still under writeback, mapped, on the list; new freed."""
    addr, pfn = anon_page(k, t)
    pl = isolated(k, pfn)
    start_writeback(k, pfn)
    pm = statuses(1)
    rc, waits = uam(k, to_node(1, 0), pm, pfn, False, pl)
    assert (rc, waits) == (EAGAIN, [])
    assert int(pm.status[0]) == EAGAIN and list(pl) == [pfn]
    assert not k.PageLocked(pfn) and int(k.pages.flags[pfn]) & F_WRITEBACK
    assert int(k.pages.mapcount[pfn]) == 1 and pte_pfn(pte_of(t, addr)) == pfn
    end_page_writeback(k, pfn)
    migrate.putback_lru_pages(k, pl)
    settle(k)


def test_unmap_and_move_writeback_forced_waits_then_migrates(k: Kernel, t: Task) -> None:
    """§2.19 step 5, forced: waits for the writeback to end (one Wait("page_writeback"),
    during which old holds its lock), then migrates: rc 0, status 1."""
    addr, pfn = anon_page(k, t, b"wb")
    pl = isolated(k, pfn)
    start_writeback(k, pfn)
    locked: list[bool] = []
    rc, waits = drive(k, migrate.unmap_and_move(k, to_node(1, 0), statuses(1), pfn, True, pl),
                      lambda w: locked.append(k.PageLocked(pfn)))
    assert rc == 0 and waits == [Wait("page_writeback", pfn)] and locked == [True]
    settle(k)
    assert is_free(k, pfn)
    new = k.page_at(t, addr)
    assert new is not None and k.pfn_to_nid(new) == 1 and k.read_user(t, addr, 2) == b"wb"


def test_unmap_and_move_pinned_page(k: Kernel, t: Task) -> None:
    """§2.19 steps 8-10, §3.1 "refcount mismatch", Q4: a pinned anon page is unmapped
    (count 1 isolation + 1 pin = 2 != 1) so move_mapping refuses: -EAGAIN; the ptes are
    restored to old (same write permission), contents intact; old on the list; new freed
    with no charge left; status -EAGAIN."""
    addr, pfn = anon_page(k, t, b"pinned")
    pins = k.pin(t, addr, 1)
    pl = isolated(k, pfn)
    pm = statuses(1)
    trace = k.start_trace()
    rc, _ = uam(k, to_node(1, 0), pm, pfn, True, pl)
    assert rc == EAGAIN and int(pm.status[0]) == EAGAIN and list(pl) == [pfn]
    pte = pte_of(t, addr)
    assert pte_present(pte) and pte_pfn(pte) == pfn and pte_write(pte)
    assert int(k.pages.mapcount[pfn]) == 1 and int(k.pages.count[pfn]) == 3
    assert not k.PageLocked(pfn)
    assert page_cgroup_of(k, pfn) == (ROOT_MEM_CGROUP, MEM_CGROUP_CHARGE_TYPE_MAPPED)
    (new,) = [f["new"] for ev, f in trace if ev == "mm_migrate_new_page"]
    assert page_cgroup_of(k, new) is None and int(k.pages.mapping[new]) == 0
    migrate.putback_lru_pages(k, pl)
    settle(k)
    assert is_free(k, new)
    assert k.read_user(t, addr, 6) == b"pinned"
    k.unpin(pins)


def test_unmap_and_move_anon_success(k: Kernel, t: Task) -> None:
    """§2.19 success, §3.1 last row, §5.8-§5.11: contents, pte, rmap and charge move to a
    page on node 1; old is taken off the list, loses mapping/Active/Dirty, and is freed
    after the pagevec drains; new joins the active list (Active copied) with count 1 (its
    pte); NR_ANON_PAGES moves from node 0 to node 1; status 1."""
    addr, pfn = anon_page(k, t, b"anon contents")
    pl = isolated(k, pfn)
    usage = k.memcgs[ROOT_MEM_CGROUP].usage
    anon0 = stat(k, pfn, ZoneStat.NR_ANON_PAGES)
    anon1 = stat(k, new_page_probe(k), ZoneStat.NR_ANON_PAGES)
    pm = statuses(1)
    rc, waits = uam(k, to_node(1, 0), pm, pfn, False, pl)
    assert (rc, waits) == (0, []) and int(pm.status[0]) == 1 and pl.list_empty()
    new = k.page_at(t, addr)
    assert new is not None and new != pfn and k.pfn_to_nid(new) == 1
    pte = pte_of(t, addr)
    assert pte_write(pte) and not pte_young(pte) and not pte_dirty(pte)
    assert int(k.pages.mapping[pfn]) == 0
    assert not int(k.pages.flags[pfn]) & (F_ACTIVE | F_DIRTY | F_LOCKED)
    assert mapping_is_anon(int(k.pages.mapping[new])) and int(k.pages.mapcount[new]) == 1
    assert int(k.pages.flags[new]) & F_DIRTY
    assert page_cgroup_of(k, new) == (ROOT_MEM_CGROUP, MEM_CGROUP_CHARGE_TYPE_MAPPED)
    assert page_cgroup_of(k, pfn) is None and k.memcgs[ROOT_MEM_CGROUP].usage == usage
    assert stat(k, pfn, ZoneStat.NR_ANON_PAGES) == anon0 - 1
    assert stat(k, new, ZoneStat.NR_ANON_PAGES) == anon1 + 1
    settle(k)
    assert is_free(k, pfn)
    assert int(k.pages.lru[new]) == LRU_ACTIVE and int(k.pages.count[new]) == 1
    assert k.read_user(t, addr, 13) == b"anon contents"


def test_unmap_and_move_shmem_success(k: Kernel, t: Task) -> None:
    """§2.19 success for a tmpfs page mapped twice: the slot, both ptes and the CACHE
    charge move; new ends on old's (active) list with count 3 (2 ptes + slot); old freed."""
    f, addr, pfn = shmem_page(k, t, data=b"shared")
    raddr = k.mmap(t, PAGE_SIZE, PROT_READ, MAP_SHARED, file=f)
    k.touch(t, raddr, False)
    settle(k)
    # The second fault's mark_page_accessed found PG_referenced on an LRU page and
    # activated it, so old is active and new inherits PG_active (migrate_page_copy).
    assert int(k.pages.lru[pfn]) == LRU_ACTIVE
    pl = isolated(k, pfn)
    pm = statuses(1)
    rc, _ = uam(k, to_node(1, 0), pm, pfn, False, pl)
    assert rc == 0 and int(pm.status[0]) == 1
    new = f.slot(0)
    assert new != pfn and k.pfn_to_nid(new) == 1
    assert k.page_at(t, addr) == new and k.page_at(t, raddr) == new
    assert page_cgroup_of(k, new) == (ROOT_MEM_CGROUP, MEM_CGROUP_CHARGE_TYPE_CACHE)
    settle(k)
    assert is_free(k, pfn)
    assert int(k.pages.lru[new]) == LRU_ACTIVE and int(k.pages.count[new]) == 3
    assert k.read_user(t, raddr, 6) == b"shared"


def test_unmap_and_move_forked_cow_page(k: Kernel, t: Task) -> None:
    """§2.19 success for a page shared copy-on-write by parent and child: both read
    entries are restored to new (read-only, §5.9), new.mapcount 2 and count 2 (its ptes);
    the contents stay shared and a later write by the child still copies."""
    addr, pfn = anon_page(k, t, b"family")
    child = k.fork(t)
    pl = isolated(k, pfn)
    rc, _ = uam(k, to_node(1, 0), statuses(1), pfn, False, pl)
    assert rc == 0
    new = k.page_at(t, addr)
    assert new is not None and k.pfn_to_nid(new) == 1 and k.page_at(child, addr) == new
    assert not pte_write(pte_of(t, addr)) and not pte_write(pte_of(child, addr))
    settle(k)
    assert int(k.pages.mapcount[new]) == 2 and int(k.pages.count[new]) == 2
    assert is_free(k, pfn)
    k.write_user(child, addr, b"kid")
    assert k.page_at(child, addr) != new and k.read_user(t, addr, 6) == b"family"


def test_unmap_and_move_prot_none_page(k: Kernel, t: Task) -> None:
    """§2.19 success, Q15: a populated PROT_NONE page migrates like any other and its pte
    is restored as a PROT_NONE pte of new; mprotect back shows the contents."""
    addr, pfn = anon_page(k, t, b"hidden")
    k.mprotect(t, addr, PAGE_SIZE, PROT_NONE)
    pl = isolated(k, pfn)
    rc, _ = uam(k, to_node(1, 0), statuses(1), pfn, False, pl)
    assert rc == 0
    pte = pte_of(t, addr)
    assert pte_protnone(pte) and k.pfn_to_nid(pte_pfn(pte)) == 1
    settle(k)
    k.mprotect(t, addr, PAGE_SIZE, PROT_READ)
    assert k.read_user(t, addr, 6) == b"hidden"


def test_unmap_and_move_permanent_failure(k: Kernel, t: Task) -> None:
    """§2.19 step 13, §3.1 "fs method returns another error": a mapping whose method is
    fail_migrate_page gives -EIO; the ptes are restored and, rc not being -EAGAIN, old is
    taken off the list and put back on the LRU with its references; status -EIO.
    (tmpfs never has this method; the file's operations are swapped for the test.)"""
    f, addr, pfn = shmem_page(k, t, data=b"stay")
    aops = f.a_ops
    f.a_ops = AddressSpaceOperations("fail", migratepage=migrate.fail_migrate_page,
                                     set_page_dirty=aops.set_page_dirty)
    try:
        pl = isolated(k, pfn)
        pm = statuses(1)
        rc, _ = uam(k, to_node(1, 0), pm, pfn, True, pl)
    finally:
        f.a_ops = aops
    assert rc == EIO and int(pm.status[0]) == EIO and pl.list_empty()
    assert int(k.pages.lru[pfn]) == LRU_PAGEVEC and int(k.pages.count[pfn]) == 3
    assert f.slot(0) == pfn and pte_pfn(pte_of(t, addr)) == pfn
    settle(k)
    assert int(k.pages.lru[pfn]) == LRU_INACTIVE and int(k.pages.count[pfn]) == 2
    assert k.read_user(t, addr, 4) == b"stay"


# == §2.20 migrate_pages ==

def passes(trace: list[tuple[str, dict[str, Any]]]) -> list[tuple[int, int]]:
    return [(f["pass_nr"], f["force"]) for ev, f in trace if ev == "mm_migrate_pass"]


def test_migrate_pages_pinned_page_ten_passes(k: Kernel, t: Task) -> None:
    """§2.20, Q4: a pinned page is -EAGAIN in every pass; all 10 run (force from pass 3),
    each allocating and freeing a target; the result is nr_failed 0 + retry 1 = 1; the
    status (through new_page_node's result slot) reads -EAGAIN; the list is empty and the
    page is back on the LRU, mapped and intact."""
    addr, pfn = anon_page(k, t, b"pin")
    pins = k.pin(t, addr, 1)
    pl = isolated(k, pfn)
    pm = statuses(1)
    pm.page[0], pm.node[0] = pfn, 1
    trace = k.start_trace()
    rc = k.run(migrate.migrate_pages(k, pl, migrate.new_page_node, pm))
    assert rc == 1
    assert passes(trace) == [(i, int(i > 2)) for i in range(10)]
    allocs = [f["pfn"] for ev, f in trace if ev == "mm_page_alloc"]
    assert len(allocs) == 10 and all(k.pfn_to_nid(p) == 1 for p in allocs)
    assert int(pm.status[0]) == EAGAIN
    assert pl.list_empty()
    settle(k)
    assert all(is_free(k, p) for p in allocs)
    assert int(k.pages.lru[pfn]) == LRU_ACTIVE and pte_pfn(pte_of(t, addr)) == pfn
    assert k.read_user(t, addr, 3) == b"pin"
    k.unpin(pins)


def test_migrate_pages_mixed_list(k: Kernel, t: Task) -> None:
    """§2.20: a movable and a pinned page.  Pass 0 moves the first (taken off the list)
    and retries the second; passes 1-9 only revisit the pinned one.  Returns 1; statuses
    [1, -EAGAIN]; PF_SWAPWRITE is set during the call and cleared after (it was clear)."""
    a_addr, a = anon_page(k, t, b"mover")
    b_addr, b = anon_page(k, t, b"stayer")
    pins = k.pin(t, b_addr, 1)
    pl = isolated(k, a, b)
    pm = statuses(2)
    pm.page[:2], pm.node[:2] = [a, b], [1, 1]
    task = k.current
    assert task is not None and not task.flags & PF_SWAPWRITE
    seen: list[tuple[int, bool]] = []

    def alloc(k_: Kernel, p: int, private: Any) -> tuple[int | None, int | None]:
        seen.append((p, bool(task.flags & PF_SWAPWRITE)))
        return migrate.new_page_node(k_, p, private)

    trace = k.start_trace()
    assert k.run(migrate.migrate_pages(k, pl, alloc, pm)) == 1
    assert [p for p, _ in seen] == [a, b] + [b] * 9
    assert all(flag for _, flag in seen) and not task.flags & PF_SWAPWRITE
    assert [f["nr"] for ev, f in trace if ev == "mm_migrate_pass"] == [2] + [1] * 9
    assert pm.status[:2].tolist() == [1, EAGAIN] and pl.list_empty()
    settle(k)
    assert k.pfn_to_nid(k.page_at(t, a_addr)) == 1 and k.page_at(t, b_addr) == b
    assert k.read_user(t, a_addr, 5) == b"mover"
    k.unpin(pins)


def test_migrate_pages_all_moved_in_one_pass(k: Kernel, t: Task) -> None:
    """§2.20: every page succeeds in pass 0, so retry is 0 and no second pass runs; result
    0; PF_SWAPWRITE, already set by the caller, stays set."""
    addrs, pfns = zip(*(anon_page(k, t, bytes([65 + i]) * 4) for i in range(3)), strict=True)
    _, _, s = shmem_page(k, t)
    pl = isolated(k, *pfns, s)
    task = k.current
    assert task is not None
    task.flags |= PF_SWAPWRITE
    trace = k.start_trace()
    try:
        assert k.run(migrate.migrate_pages(k, pl, to_node(1), None)) == 0
        assert task.flags & PF_SWAPWRITE
    finally:
        task.flags &= ~PF_SWAPWRITE
    assert passes(trace) == [(0, 0)] and pl.list_empty()
    settle(k)
    for i, addr in enumerate(addrs):
        assert k.pfn_to_nid(k.page_at(t, addr)) == 1
        assert k.read_user(t, addr, 4) == bytes([65 + i]) * 4
    assert all(is_free(k, p) for p in (*pfns, s))


def test_migrate_pages_lock_busy_until_forced_pass(k: Kernel, t: Task) -> None:
    """§2.20 step 3: a page whose lock another holder keeps is -EAGAIN in passes 0-2
    (not forced: no sleep); pass 3 is forced and sleeps on the lock (k.run's other actor
    unlocks), then migrates: 4 passes, result 0, status 1."""
    addr, pfn = anon_page(k, t, b"late")
    pl = isolated(k, pfn)
    k.pages.flags[pfn] |= F_LOCKED
    pm = statuses(1)
    pm.page[0], pm.node[0] = pfn, 1
    trace = k.start_trace()
    rc, waits = drive(k, migrate.migrate_pages(k, pl, migrate.new_page_node, pm))
    assert rc == 0 and waits == [Wait("page_locked", pfn)]
    assert passes(trace) == [(0, 0), (1, 0), (2, 0), (3, 1)]
    results = [f["rc"] for ev, f in trace if ev == "mm_migrate_result"]
    assert results == [EAGAIN, EAGAIN, EAGAIN, 0]
    assert int(pm.status[0]) == 1 and pl.list_empty()
    settle(k)
    assert k.pfn_to_nid(k.page_at(t, addr)) == 1 and k.read_user(t, addr, 4) == b"late"


def test_migrate_pages_writeback_until_forced_pass(k: Kernel, t: Task) -> None:
    """§2.20 step 3: writeback in flight gives -EAGAIN in passes 0-2; pass 3 waits for it
    (the other actor ends it) and migrates; result 0."""
    addr, pfn = anon_page(k, t, b"wb")
    pl = isolated(k, pfn)
    start_writeback(k, pfn)
    trace = k.start_trace()
    rc, waits = drive(k, migrate.migrate_pages(k, pl, to_node(1), None))
    assert rc == 0 and waits == [Wait("page_writeback", pfn)]
    assert passes(trace) == [(0, 0), (1, 0), (2, 0), (3, 1)]
    settle(k)
    assert k.pfn_to_nid(k.page_at(t, addr)) == 1


def test_migrate_pages_permanent_failure_counts(k: Kernel, t: Task) -> None:
    """§2.20 step 3 "anything else": a permanent failure (-EIO from fail_migrate_page) is
    counted in nr_failed and the page leaves the list, so no retry: one pass, result 1."""
    f, addr, pfn = shmem_page(k, t)
    aops = f.a_ops
    f.a_ops = AddressSpaceOperations("fail", migratepage=migrate.fail_migrate_page,
                                     set_page_dirty=aops.set_page_dirty)
    trace = k.start_trace()
    try:
        pl = isolated(k, pfn)
        assert k.run(migrate.migrate_pages(k, pl, to_node(1), None)) == 1
    finally:
        f.a_ops = aops
    assert passes(trace) == [(0, 0)] and pl.list_empty()
    settle(k)
    assert f.slot(0) == pfn


def test_migrate_pages_enomem_aborts(k: Kernel, t: Task) -> None:
    """§2.20 step 3 -ENOMEM, Q10: node 1 has room for exactly one more GFP_THISNODE page.
    The first page moves (status 1); the second's allocation fails, so the call aborts at
    once: the second and third pages are never tried (statuses unwritten) and are put back;
    the result is -ENOMEM and the list is empty."""
    mapped = [anon_page(k, t, bytes([97 + i]) * 3) for i in range(3)]
    pfns = [p for _, p in mapped]
    pl = isolated(k, *pfns)
    pm = statuses(3)
    pm.page[:3], pm.node[:3] = pfns, [1, 1, 1]
    fillers = fill_node(k, 1, 1)
    try:
        trace = k.start_trace()
        assert k.run(migrate.migrate_pages(k, pl, migrate.new_page_node, pm)) == ENOMEM
        assert passes(trace) == [(0, 0)]
        assert pm.status[:3].tolist() == [1, UNSET, UNSET]
        assert pl.list_empty()
        assert [int(k.pages.lru[p]) for p in pfns[1:]] == [LRU_PAGEVEC] * 2
    finally:
        free_all(k, fillers)
    settle(k)
    (a0, _), (a1, p1), (a2, p2) = mapped
    assert k.pfn_to_nid(k.page_at(t, a0)) == 1
    assert k.page_at(t, a1) == p1 and k.page_at(t, a2) == p2
    assert int(k.pages.lru[p1]) == LRU_ACTIVE and int(k.pages.count[p1]) == 1


def test_migrate_pages_memcg_enomem_aborts(k: Kernel, t: Task) -> None:
    """§2.20 step 3, §2.19 step 3: the cgroup is at its limit, so the first page's charge
    fails with -ENOMEM (its status reads -ENOMEM, written by unmap_and_move) and the call
    aborts: the second page is never tried (UNSET); both are put back; -ENOMEM."""
    pages = [anon_page(k, t, bytes([48 + i])) for i in range(2)]
    pfns = [p for _, p in pages]
    pl = isolated(k, *pfns)
    pm = statuses(2)
    pm.page[:2], pm.node[:2] = pfns, [1, 1]
    cg = k.memcgs[ROOT_MEM_CGROUP]
    saved = cg.limit
    cg.limit = cg.usage
    try:
        rc = k.run(migrate.migrate_pages(k, pl, migrate.new_page_node, pm))
    finally:
        cg.limit = saved
    assert rc == ENOMEM and pm.status[:2].tolist() == [ENOMEM, UNSET] and pl.list_empty()
    settle(k)
    assert [k.page_at(t, a) for a, _ in pages] == pfns


def test_migrate_pages_duplicate_entries(k: Kernel, t: Task) -> None:
    """§2.21, Q14 through migrate_pages: entry 0 records page P and asks for node 0, where
    P already is (status 0, not isolated); entry 1 records P, asks for node 1 and isolated
    it (status 0 from isolate_lru_page).  new_page_node finds entry 0 first, so P is
    copied to a fresh page on node 0; the result goes to entry 0 (its node, 0) and
    entry 1 keeps the 0 it had.  Result 0."""
    addr, p = anon_page(k, t, b"dup")
    pl = isolated(k, p)
    pm = statuses(2)
    pm.page[:2], pm.node[:2], pm.status[:2] = [p, p], [0, 1], [0, 0]
    assert k.run(migrate.migrate_pages(k, pl, migrate.new_page_node, pm)) == 0
    moved = k.page_at(t, addr)
    assert moved is not None and moved != p and k.pfn_to_nid(moved) == 0
    assert pm.status[:2].tolist() == [0, 0]
    settle(k)
    assert is_free(k, p) and k.read_user(t, addr, 3) == b"dup"


def test_migrate_pages_empty_list(k: Kernel) -> None:
    """§2.20: an empty list runs one empty pass and returns 0."""
    pl = PageList(k.pages)
    trace = k.start_trace()
    assert k.run(migrate.migrate_pages(k, pl, to_node(1), None)) == 0
    assert passes(trace) == [(0, 0)]


# == §2.21 new_page_node ==

def test_new_page_node_first_matching_entry_wins(k: Kernel, t: Task) -> None:
    """§2.21, Q14: entries 1 and 2 both record page P, asking for nodes 1 and 0; the scan
    stops at the first, so the page comes from node 1 and the result slot is entry 1."""
    _, p = anon_page(k, t)
    _, q = anon_page(k, t, b"q")
    pm = migrate.PageToNode(3)
    pm.page[:3] = [q, p, p]
    pm.node[:3] = [0, 1, 0]
    new, slot = migrate.new_page_node(k, p, pm)
    assert slot == 1 and new is not None and k.pfn_to_nid(new) == 1
    assert int(k.pages.count[new]) == 1
    put_page(k, new)
    new, slot = migrate.new_page_node(k, q, pm)
    assert slot == 0 and new is not None and k.pfn_to_nid(new) == 0
    put_page(k, new)


def test_new_page_node_end_marker(k: Kernel, t: Task) -> None:
    """§2.21: a page no entry records: the scan reaches the end marker (node MAX_NUMNODES)
    and returns None (no page, no result slot), allocating nothing."""
    _, p = anon_page(k, t)
    pm = migrate.PageToNode(2)
    pm.page[:2] = [k.zero_page_pfn, k.zero_page_pfn]
    assert int(pm.node[2]) == MAX_NUMNODES
    free = k.nr_free_pages()
    assert migrate.new_page_node(k, p, pm) == (None, None)
    assert k.nr_free_pages() == free


def test_new_page_node_thisnode_never_falls_back(k: Kernel, t: Task) -> None:
    """§2.21: GFP_THISNODE is one attempt on the target node at the low watermark.  With
    node 1 at its low watermark (free == pages_low, still above min) new_page_node gives
    None although node 0 has plenty; an allocation without THISNODE would fall back."""
    _, p = anon_page(k, t)
    pm = migrate.PageToNode(1)
    pm.page[0], pm.node[0] = p, 1
    fillers = fill_node(k, 1, 0)
    try:
        (zone,) = k.nodes[1].zones
        assert zone.pages_min < zone.free_top == zone.pages_low
        assert migrate.new_page_node(k, p, pm) == (None, 0)
        assert zone.free_top == zone.pages_low
        other = alloc_pages_node(k, 1, GFP_HIGHUSER_MOVABLE)
        assert other is not None and k.pfn_to_nid(other) == 0
        put_page(k, other)
    finally:
        free_all(k, fillers)
