"""validate(): it accepts a busy machine built through the real API, and each invariant it
checks fires when exactly that invariant is broken by poking the model's state.

Every breaking test starts from the same busy machine (``busy``, built on ``raw_k`` so that
the fixture does not validate the broken machine at teardown), validates it once to show it
was valid, breaks one invariant, and expects InvariantError with the message of the check
that should fire.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from pagemig.kernel import KERNEL_START_PFN, Kernel
from pagemig.mm.filemap import AddressSpace
from pagemig.mm.memcontrol import ROOT_MEM_CGROUP
from pagemig.mm.mempolicy import MPOL_BIND, MPOL_MF_MOVE, sys_mbind
from pagemig.mm.migrate import isolate_lru_page
from pagemig.mm.mm_types import (
    LRU_ACTIVE,
    LRU_INACTIVE,
    LRU_NONE,
    LRU_PAGEVEC,
    MEMCG_KIND_CACHE,
    MEMCG_KIND_MAPPED,
    PAGE_SIZE,
    PageList,
    anon_mapping,
)
from pagemig.mm.mmap import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
)
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_flags import F_ACTIVE, F_LOCKED, F_LRU, F_REFERENCED, F_RESERVED
from pagemig.mm.swap import lru_add_drain_all
from pagemig.mm.swapops import make_migration_entry, pte_mkwrite, swp_entry_to_pte
from pagemig.sched import Task
from pagemig.validate import CHECKS, InvariantError, validate

EAGAIN, EACCES = 11, 13
MAPPED_RECORD = ROOT_MEM_CGROUP * 2 + MEMCG_KIND_MAPPED
CACHE_RECORD = ROOT_MEM_CGROUP * 2 + MEMCG_KIND_CACHE

# The pages of the busy machine's 8-page private anonymous mapping, by offset.
COW0, PROTNONE, PROTREAD, HOLE, LOCKED, LOCKED2, SHARED6, SHARED7 = range(8)
# The addresses move_pages is asked about, as (mapping name, page offset).
MOVED = [("anon", COW0), ("anon", PROTNONE), ("anon", LOCKED), ("anon", SHARED6),
         ("shared", 0), ("fshared", 0), ("fpriv", 1), ("fpriv", 2)]


@dataclass
class Busy:
    """A machine after the busy sequence: a parent, its child, and where things are mapped."""

    k: Kernel
    p: Task
    c: Task
    anon: int
    shared: int
    f: AddressSpace
    fshared: int
    fpriv: int
    pins: list[int]
    statuses: dict[str, tuple[int, list[int]]] = field(default_factory=dict)

    def addr(self, name: str, page: int) -> int:
        """The address of page ``page`` of the mapping called ``name``."""
        return int(getattr(self, name)) + page * PAGE_SIZE

    def pfn(self, name: str, page: int, task: Task | None = None) -> int:
        """The pfn mapped at that page in ``task`` (the parent by default)."""
        pfn = self.k.page_at(task or self.p, self.addr(name, page))
        assert pfn is not None
        return pfn


def build_busy(k: Kernel) -> Busy:
    """Run the busy sequence on ``k`` through the real API, validating after every step."""
    validate(k)
    p = k.spawn()
    validate(k)
    anon = k.mmap(p, 8 * PAGE_SIZE)
    for i in range(8):
        k.write_user(p, anon + i * PAGE_SIZE, bytes([i + 1]) * 32)
    validate(k)
    shared = k.mmap(p, 4 * PAGE_SIZE, flags=MAP_SHARED | MAP_ANONYMOUS)
    for i in range(4):
        k.write_user(p, shared + i * PAGE_SIZE, b"shared anon %d" % i)
    validate(k)
    f = k.create_file("data", 4)
    fshared = k.mmap(p, 4 * PAGE_SIZE, flags=MAP_SHARED, file=f)
    k.write_user(p, fshared, b"tmpfs page 0")
    k.write_user(p, fshared + PAGE_SIZE, b"tmpfs page 1")
    validate(k)
    fpriv = k.mmap(p, 4 * PAGE_SIZE, flags=MAP_PRIVATE, file=f)
    k.read_user(p, fpriv + PAGE_SIZE, 12)  # maps the page-cache page itself
    k.write_user(p, fpriv + 2 * PAGE_SIZE, b"private copy")  # COW: an anon page
    validate(k)
    c = k.fork(p)
    validate(k)
    k.write_user(c, anon + COW0 * PAGE_SIZE, b"child")  # COW break in the child
    k.write_user(c, anon + PROTNONE * PAGE_SIZE, b"child")
    validate(k)
    k.mprotect(p, anon + PROTNONE * PAGE_SIZE, PAGE_SIZE, PROT_NONE)
    validate(k)
    k.mprotect(p, anon + PROTREAD * PAGE_SIZE, PAGE_SIZE, PROT_READ)
    validate(k)
    k.munmap(p, anon + HOLE * PAGE_SIZE, PAGE_SIZE)
    validate(k)
    k.mlock(p, anon + LOCKED * PAGE_SIZE, 2 * PAGE_SIZE)  # write faults break COW
    validate(k)
    pins = k.pin(p, anon + LOCKED * PAGE_SIZE, 1)
    validate(k)
    b = Busy(k, p, c, anon, shared, f, fshared, fpriv, pins)
    addrs = [b.addr(name, page) for name, page in MOVED]
    b.statuses["to 1"] = k.move_pages(p, 0, addrs, [1] * len(addrs))
    validate(k)
    b.statuses["query"] = k.move_pages(p, 0, addrs, None)
    validate(k)
    b.statuses["to 0"] = k.move_pages(p, 0, addrs, [0] * len(addrs))
    validate(k)
    b.statuses["query again"] = k.move_pages(p, 0, addrs, None)
    validate(k)
    return b


@pytest.fixture
def busy(raw_k: Kernel) -> Busy:
    """The busy machine on ``raw_k`` (not validated at teardown)."""
    return build_busy(raw_k)


def drained(b: Busy, name: str, page: int) -> int:
    """Drain every pagevec; the pfn at that page of the parent, now on an LRU list."""
    lru_add_drain_all(b.k)
    pfn = b.pfn(name, page)
    assert int(b.k.pages.lru[pfn]) in (LRU_ACTIVE, LRU_INACTIVE)
    return pfn


def pagevec_page(b: Busy) -> int:
    """Drain every pagevec, then fault a fresh anon page: it sits in an add-pagevec."""
    lru_add_drain_all(b.k)
    addr = b.k.mmap(b.p, PAGE_SIZE)
    b.k.write_user(b.p, addr, b"fresh")
    pfn = b.k.page_at(b.p, addr)
    assert pfn is not None
    assert LRU_PAGEVEC == int(b.k.pages.lru[pfn])
    return pfn


def pagevec_slot(k: Kernel, pfn: int) -> tuple[int, int, int]:
    """(cpu, which pagevec, slot) of the first slot holding ``pfn``."""
    for cpu in range(k.nr_cpus):
        for which in range(2):
            held = k.pvecs[cpu, which, : int(k.pvec_len[cpu, which])]
            hits = np.flatnonzero(held == pfn)
            if len(hits):
                return cpu, which, int(hits[0])
    raise AssertionError(f"pfn {pfn} is in no pagevec")


def cold_cache_page(b: Busy) -> tuple[AddressSpace, int]:
    """A tmpfs file whose page 0 is cached but no longer mapped (mapped, written, unmapped)."""
    g = b.k.create_file("cold", 2)
    addr = b.k.mmap(b.p, 2 * PAGE_SIZE, flags=MAP_SHARED, file=g)
    b.k.write_user(b.p, addr, b"cold")
    pfn = b.k.page_at(b.p, addr)
    assert pfn is not None
    b.k.munmap(b.p, addr, 2 * PAGE_SIZE)
    return g, pfn


def free_pfn(k: Kernel, zone_index: int = -1) -> int:
    """The pfn on top of a zone's free stack (node 1's zone by default)."""
    zone = k.zones[zone_index]
    return int(zone.free_stack[zone.free_top - 1])


def expect_violation(k: Kernel, message: str) -> None:
    """validate(k) raises InvariantError with ``message`` (a literal) in it."""
    with pytest.raises(InvariantError, match=re.escape(message)):
        validate(k)


# -- 1. a busy machine is valid after every step --


def test_busy_machine_is_valid_after_every_step(k: Kernel) -> None:
    """Faults, shared/file maps, fork, COW, mprotect, munmap, mlock, pins and moves all validate."""
    b = build_busy(k)

    # move_pages returns how many pages were not migrated: the pinned one.
    assert (1, [1, 1, -EAGAIN, -EACCES, 1, 1, -EACCES, -EACCES]) == b.statuses["to 1"]
    assert (0, [1, 1, 0, 0, 1, 1, 0, 0]) == b.statuses["query"]
    assert (0, [0] * len(MOVED)) == b.statuses["to 0"]
    assert (0, [0] * len(MOVED)) == b.statuses["query again"]


def test_busy_machine_stays_valid_through_unpin_and_exit(k: Kernel) -> None:
    """Unpinning, then the child's and the parent's exit and reaping, keep the machine valid."""
    b = build_busy(k)
    k.unpin(b.pins)
    validate(k)
    k.exit(b.c)
    validate(k)
    k.reap(b.c)
    validate(k)
    k.exit(b.p)
    validate(k)


def test_pinned_page_outliving_its_mapping_is_valid(k: Kernel) -> None:
    """A pinned page whose mapping is unmapped lives on with the pin's reference alone."""
    b = build_busy(k)
    pfn = b.pins[0]
    k.munmap(b.p, b.addr("anon", LOCKED), PAGE_SIZE)
    validate(k)

    assert (1, 0, 0) == (int(k.pages.count[pfn]), int(k.pages.mapcount[pfn]),
                         int(k.pages.memcg[pfn]))


def test_pages_leaked_by_mbind_are_counted_not_lost(k: Kernel) -> None:
    """Pages mbind() leaves isolated at a middle hole (quirk Q7) are accepted as leaked."""
    p = k.spawn()
    mask = k.mmap(p, PAGE_SIZE)
    k.write_user(p, mask, np.array([1 << 1], "<u8").tobytes())
    a = k.mmap(p, 3 * PAGE_SIZE)
    for i in range(3):
        k.write_user(p, a + i * PAGE_SIZE, b"x")
    k.munmap(p, a + PAGE_SIZE, PAGE_SIZE)
    first = k.page_at(p, a)
    with k.as_task(p):
        ret = k.run(sys_mbind(k, a, 3 * PAGE_SIZE, MPOL_BIND, mask, 3, MPOL_MF_MOVE))
    validate(k)

    assert (-14, [first]) == (ret, k.leaked_isolated)


# -- 2. every check fires on its own invariant --


def test_checks_covered_here() -> None:
    """CHECKS holds exactly the checks this file breaks one by one."""
    assert ["check_no_page_lost", "check_one_list", "check_counters", "check_references",
            "check_cache", "check_ptes", "check_memcg", "check_swap", "check_buffers",
            "check_locks"] == [
        c.__name__ for c in CHECKS]


# check_no_page_lost


def test_no_page_lost_free_stack_duplicate(busy: Busy) -> None:
    """A pfn pushed twice on a zone's free stack is reported."""
    k = busy.k
    zone = k.page_zone(busy.pfn("anon", COW0))
    validate(k)
    top = int(zone.free_stack[zone.free_top - 1])
    zone.free_stack[zone.free_top] = top
    zone.free_top += 1
    k.zone_stat[zone.id, ZoneStat.NR_FREE_PAGES] += 1
    expect_violation(k, f"free stack holds pfn {top} twice")


@pytest.mark.parametrize(("column", "value"), [
    ("count", 1),
    ("mapping", 2),  # an address_space handle
    ("flags", F_REFERENCED),
])
def test_no_page_lost_free_page_not_clean(busy: Busy, column: str, value: int) -> None:
    """A page on a free stack with a count, a mapping or flags is reported."""
    k = busy.k
    validate(k)
    pfn = free_pfn(k)
    getattr(k.pages, column)[pfn] = value
    expect_violation(k, f"free page {pfn} is not clean")


def test_no_page_lost_neither_free_nor_referenced(busy: Busy) -> None:
    """A frame taken off the free stack but never given a reference is reported."""
    k = busy.k
    zone = k.zones[-1]
    validate(k)
    pfn = free_pfn(k)
    zone.free_top -= 1
    k.zone_stat[zone.id, ZoneStat.NR_FREE_PAGES] -= 1
    expect_violation(k, f"page {pfn} is neither free nor referenced")


def test_no_page_lost_page_on_no_list(busy: Busy) -> None:
    """A referenced user page taken off its LRU list and put nowhere is reported."""
    k = busy.k
    pfn = drained(busy, "anon", COW0)
    validate(k)
    stat = ZoneStat.NR_ACTIVE if int(k.pages.lru[pfn]) == LRU_ACTIVE else ZoneStat.NR_INACTIVE
    k.pages.lru[pfn] = LRU_NONE
    k.pages.flags[pfn] &= ~F_LRU
    k.zone_stat[k.page_zone(pfn).id, stat] -= 1
    expect_violation(k, f"page {pfn} is on no LRU list, pagevec or leak record")


# check_one_list


def test_one_list_pg_lru_cleared_on_a_listed_page(busy: Busy) -> None:
    """A page on a zone LRU list without PG_lru is reported."""
    k = busy.k
    pfn = drained(busy, "anon", COW0)
    validate(k)
    k.pages.flags[pfn] &= ~F_LRU
    expect_violation(k, f"page {pfn}: PG_lru disagrees with its list")


def test_one_list_pg_lru_set_on_a_pagevec_page(busy: Busy) -> None:
    """A page still in a pagevec with PG_lru set is reported."""
    k = busy.k
    pfn = pagevec_page(busy)
    validate(k)
    k.pages.flags[pfn] |= F_LRU
    expect_violation(k, f"page {pfn}: PG_lru disagrees with its list")


@pytest.mark.parametrize(("name", "page", "lru"), [
    ("anon", COW0, LRU_ACTIVE),  # anon faults go to the active list
    ("shared", 0, LRU_INACTIVE),  # shmem pages go to the inactive list
])
def test_one_list_pg_active_disagrees(busy: Busy, name: str, page: int, lru: int) -> None:
    """Flipping PG_active on a page of the active or the inactive list is reported."""
    k = busy.k
    pfn = drained(busy, name, page)
    assert lru == int(k.pages.lru[pfn])
    validate(k)
    k.pages.flags[pfn] ^= F_ACTIVE
    expect_violation(k, f"page {pfn}: PG_active disagrees with its list")


def test_one_list_pagevec_double_slot(busy: Busy) -> None:
    """A page held by two pagevec slots (with both references) is reported."""
    k = busy.k
    pfn = pagevec_page(busy)
    cpu, which, _ = pagevec_slot(k, pfn)
    validate(k)
    n = int(k.pvec_len[cpu, which])
    k.pvecs[cpu, which, n] = pfn
    k.pvec_len[cpu, which] = n + 1
    k.pages.count[pfn] += 1
    expect_violation(k, f"page {pfn} is in 2 pagevec slots")


def test_one_list_lru_column_says_pagevec_but_no_slot(busy: Busy) -> None:
    """A page whose lru column says pagevec while no pagevec holds it is reported."""
    k = busy.k
    pfn = drained(busy, "shared", 0)
    validate(k)
    k.pages.lru[pfn] = LRU_PAGEVEC
    k.pages.flags[pfn] &= ~F_LRU
    k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_INACTIVE] -= 1
    expect_violation(k, f"page {pfn}: lru column disagrees with pagevec membership")


def test_one_list_listed_page_also_in_a_pagevec(busy: Busy) -> None:
    """A page on a zone list that a pagevec slot also holds is reported."""
    k = busy.k
    pfn = drained(busy, "shared", 0)
    validate(k)
    k.pvecs[0, 0, 0] = pfn
    k.pvec_len[0, 0] = 1
    k.pages.count[pfn] += 1
    expect_violation(k, f"page {pfn}: lru column disagrees with pagevec membership")


def test_one_list_pg_active_in_a_pagevec(busy: Busy) -> None:
    """A page in an add-pagevec with PG_active set is reported."""
    k = busy.k
    pfn = pagevec_page(busy)
    validate(k)
    k.pages.flags[pfn] |= F_ACTIVE
    expect_violation(k, f"page {pfn} in an add-pagevec has PG_active set")


def test_one_list_page_left_on_a_private_list(busy: Busy) -> None:
    """A page isolated onto a migration list outside a migration (no leak record) is reported."""
    # Isolation cannot help breaking more: the page is also on no LRU list and its isolation
    # reference is explained by nothing, which check_no_page_lost and check_references report.
    k = busy.k
    pfn = drained(busy, "anon", COW0)
    validate(k)
    assert 0 == isolate_lru_page(k, pfn, PageList(k.pages))
    expect_violation(k, f"page {pfn} is still on a private list (isolated) outside a migration")


# check_counters


@pytest.mark.parametrize("delta", [1, -1])
@pytest.mark.parametrize("item", [ZoneStat.NR_FREE_PAGES, ZoneStat.NR_ACTIVE,
                                  ZoneStat.NR_INACTIVE, ZoneStat.NR_FILE_PAGES,
                                  ZoneStat.NR_ANON_PAGES, ZoneStat.NR_FILE_MAPPED])
def test_counters_zone_stat_off_by_one(busy: Busy, item: ZoneStat, delta: int) -> None:
    """Each checked zone counter, one off from what it counts, is reported."""
    k = busy.k
    lru_add_drain_all(k)
    zone = k.page_zone(busy.pfn("shared", 0))
    validate(k)
    have = int(k.zone_stat[zone.id, item])
    k.zone_stat[zone.id, item] += delta
    expect_violation(k, f"zone {zone.nid}/{zone.name}: {item.name} is {have + delta}, "
                        f"counts {have}")


def test_counters_totalram_off_from_the_reserved_frames(busy: Busy) -> None:
    """A frame marked PG_reserved after boot leaves totalram_pages one too high: reported."""
    k = busy.k
    validate(k)
    total = k.totalram_pages()
    pfn = busy.pfn("anon", COW0)
    k.pages.flags[pfn] |= F_RESERVED
    expect_violation(k, f"totalram_pages is {total}, but {total - 1} frames are not reserved")


# check_references

PAGE_KINDS: dict[str, Callable[[Busy], int]] = {
    "private anon": lambda b: b.pfn("anon", COW0),
    "cow-shared anon": lambda b: b.pfn("anon", SHARED6),
    "protnone anon": lambda b: b.pfn("anon", PROTNONE),
    "shmem": lambda b: b.pfn("shared", 0),
    "tmpfs mapped shared and private": lambda b: b.pfn("fpriv", 1),
    "pinned": lambda b: b.pins[0],
    "pagevec": pagevec_page,
    "cached, unmapped": lambda b: cold_cache_page(b)[1],
    "vdso": lambda b: b.k.vdso_pfn,
    "kernel image": lambda b: KERNEL_START_PFN,
}


@pytest.mark.parametrize(("kind", "delta"), [(kind, 1) for kind in PAGE_KINDS] + [
    ("private anon", -1), ("shmem", -1), ("pinned", -1), ("pagevec", -1)])
def test_references_count(busy: Busy, kind: str, delta: int) -> None:
    """A page count one off from the references that exist is reported, for each kind of page."""
    k = busy.k
    pfn = PAGE_KINDS[kind](busy)
    validate(k)
    have = int(k.pages.count[pfn])
    k.pages.count[pfn] += delta
    expect_violation(k, f"page {pfn}: count {have + delta} but {have} references exist")


@pytest.mark.parametrize("kind", ["private anon", "cow-shared anon", "protnone anon", "shmem",
                                  "tmpfs mapped shared and private", "pinned", "vdso"])
def test_references_mapcount(busy: Busy, kind: str) -> None:
    """A mapcount one above the ptes that map a page is reported."""
    k = busy.k
    pfn = PAGE_KINDS[kind](busy)
    validate(k)
    have = int(k.pages.mapcount[pfn])
    k.pages.mapcount[pfn] += 1
    expect_violation(k, f"page {pfn}: mapcount {have + 1} but {have} ptes map it")


# check_cache


def test_cache_page_in_two_slots(busy: Busy) -> None:
    """A page that two page-cache slots hold (with both references) is reported."""
    k = busy.k
    g, pfn = cold_cache_page(busy)
    validate(k)
    g.page_tree[1] = pfn
    k.pages.count[pfn] += 1
    k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_FILE_PAGES] += 1
    expect_violation(k, f"page {pfn} is in two cache slots")


@pytest.mark.parametrize("poke", ["index", "other file", "anon_vma"])
def test_cache_slot_points_elsewhere(busy: Busy, poke: str) -> None:
    """A cached page whose index or mapping names another slot is reported."""
    k = busy.k
    g, pfn = cold_cache_page(busy)
    validate(k)
    if poke == "index":
        k.pages.index[pfn] += 1
    elif poke == "other file":
        k.pages.mapping[pfn] = busy.f.handle
    else:
        k.pages.mapping[pfn] = anon_mapping(next(iter(k.anon_vmas)))
    expect_violation(k, f"page {pfn} in slot {g.id}:0 points elsewhere")


# check_ptes


@pytest.mark.parametrize("write", [True, False])
def test_ptes_migration_entry_left(busy: Busy, write: bool) -> None:
    """A migration entry (write or read type) left in a page table at rest is reported."""
    k = busy.k
    mm = busy.p.mm
    assert mm is not None
    addr = busy.addr("fshared", 3)  # never touched: pte_none
    pfn = busy.pfn("fshared", 0)
    validate(k)
    mm.set_pte(addr, swp_entry_to_pte(make_migration_entry(pfn, write)))
    expect_violation(k, f"migration entry left in mm {mm.id} at {addr:#x}")


def test_ptes_pte_in_no_vma(busy: Busy) -> None:
    """A present pte left in the munmapped hole (its references counted) is reported."""
    k = busy.k
    mm = busy.p.mm
    assert mm is not None
    hole = busy.addr("anon", HOLE)
    pfn = busy.pfn("anon", COW0)
    assert mm.vma_containing(hole) is None
    validate(k)
    mm.set_pte(hole, mm.get_pte(busy.addr("anon", COW0)))
    k.pages.count[pfn] += 1
    k.pages.mapcount[pfn] += 1
    expect_violation(k, f"pte at {hole:#x} of mm {mm.id} lies in no vma")


@pytest.mark.parametrize("page", [PROTREAD, PROTNONE])
def test_ptes_writable_pte_in_readonly_vma(busy: Busy, page: int) -> None:
    """A writable pte in a PROT_READ or PROT_NONE vma is reported."""
    k = busy.k
    mm = busy.p.mm
    assert mm is not None
    addr = busy.addr("anon", page)
    validate(k)
    mm.set_pte(addr, pte_mkwrite(mm.get_pte(addr)))
    expect_violation(k, f"writable pte at {addr:#x} in a vma without VM_WRITE")


@pytest.mark.parametrize("poke", ["anon index", "other anon_vma", "vma off anon_vma list",
                                  "vma off i_mmap"])
def test_ptes_rmap_walk_would_miss(busy: Busy, poke: str) -> None:
    """A pte the page's reverse-map walk cannot find is reported."""
    k = busy.k
    mm = busy.p.mm
    assert mm is not None
    name = "fshared" if poke == "vma off i_mmap" else "anon"
    addr = busy.addr(name, 0)
    pfn = busy.pfn(name, 0)
    vma = mm.vma_containing(addr)
    assert vma is not None and (name == "fshared") == (vma.anon_vma is None)
    validate(k)
    if poke == "anon index":
        k.pages.index[pfn] += 1
    elif poke == "other anon_vma":
        other = next(v.anon_vma for v in mm.vmas
                     if v.anon_vma is not None and v.anon_vma is not vma.anon_vma)
        k.pages.mapping[pfn] = anon_mapping(other.id)
    elif poke == "vma off anon_vma list":
        assert vma.anon_vma is not None
        vma.anon_vma.vmas.remove(vma)
    else:
        busy.f.i_mmap.remove(vma)
    expect_violation(k, f"pte at {addr:#x} of mm {mm.id} maps page {pfn} "
                        f"but its rmap walk would miss it")


# check_memcg


@pytest.mark.parametrize("poke", ["cleared", "cache kind"])
def test_memcg_mapped_anon_without_mapped_charge(busy: Busy, poke: str) -> None:
    """A mapped anon page with no record, or a CACHE one, is reported."""
    k = busy.k
    pfn = busy.pfn("anon", COW0)
    assert MAPPED_RECORD == int(k.pages.memcg[pfn])
    validate(k)
    if poke == "cleared":
        k.pages.memcg[pfn] = 0
        k.memcgs[ROOT_MEM_CGROUP].usage -= 1
    else:
        k.pages.memcg[pfn] = CACHE_RECORD
    expect_violation(k, f"mapped anon page {pfn} has no MAPPED charge")


@pytest.mark.parametrize("poke", ["cleared", "mapped kind"])
@pytest.mark.parametrize("kind", ["shmem", "cached, unmapped"])
def test_memcg_cached_page_without_cache_charge(busy: Busy, kind: str, poke: str) -> None:
    """A page-cache page with no record, or a MAPPED one, is reported."""
    k = busy.k
    pfn = PAGE_KINDS[kind](busy)
    assert CACHE_RECORD == int(k.pages.memcg[pfn])
    validate(k)
    if poke == "cleared":
        k.pages.memcg[pfn] = 0
        k.memcgs[ROOT_MEM_CGROUP].usage -= 1
    else:
        k.pages.memcg[pfn] = MAPPED_RECORD
    expect_violation(k, f"cached page {pfn} has no CACHE charge")


@pytest.mark.parametrize("kind", ["pinned, unmapped", "vdso", "kernel image"])
def test_memcg_stray_charge(busy: Busy, kind: str) -> None:
    """A charge (with its usage) on a page neither mapped anon nor cached is reported."""
    k = busy.k
    if kind == "pinned, unmapped":
        pfn = busy.pins[0]
        k.munmap(busy.p, busy.addr("anon", LOCKED), PAGE_SIZE)
    else:
        pfn = PAGE_KINDS[kind](busy)
    assert 0 == int(k.pages.memcg[pfn])
    validate(k)
    k.pages.memcg[pfn] = MAPPED_RECORD
    k.memcgs[ROOT_MEM_CGROUP].usage += 1
    expect_violation(k, f"page {pfn} carries a charge nothing explains")


@pytest.mark.parametrize("delta", [1, -1])
def test_memcg_usage_mismatch(busy: Busy, delta: int) -> None:
    """A cgroup usage that differs from the records charged to it is reported."""
    k = busy.k
    cg = k.memcgs[ROOT_MEM_CGROUP]
    validate(k)
    have = cg.usage
    cg.usage += delta
    expect_violation(k, f"memcg {cg.id}: usage {have + delta} but {have} pages are charged")


# check_locks


@pytest.mark.parametrize("kind", ["private anon", "shmem", "pinned", "pagevec",
                                  "cached, unmapped"])
def test_locks_page_left_locked(busy: Busy, kind: str) -> None:
    """A page left with PG_locked at rest is reported."""
    k = busy.k
    pfn = PAGE_KINDS[kind](busy)
    validate(k)
    k.pages.flags[pfn] |= F_LOCKED
    expect_violation(k, f"page {pfn} is left locked")


# -- the report --


def test_validate_reports_every_violation(busy: Busy) -> None:
    """Two invariants broken on two pages give one error naming both."""
    k = busy.k
    counted = busy.pfn("anon", COW0)
    locked = busy.pfn("shared", 0)
    validate(k)
    k.pages.count[counted] += 1
    k.pages.flags[locked] |= F_LOCKED
    with pytest.raises(InvariantError, match=f"page {counted}: count") as err:
        validate(k)

    assert f"page {locked} is left locked" in str(err.value)


def test_validate_report_is_truncated(busy: Busy) -> None:
    """More than MAX_REPORTED (20) violations are listed as 20 lines and a count of the rest."""
    k = busy.k
    validate(k)
    k.pages.flags[:25] |= F_LOCKED  # reserved boot pages
    with pytest.raises(InvariantError, match=r"\n\.\.\. and 5 more$") as err:
        validate(k)

    assert 21 == len(str(err.value).splitlines())


def test_prot_write_restored_page_is_valid(busy: Busy) -> None:
    """Giving the PROT_NONE page its write permission back and writing to it stays valid."""
    k = busy.k
    validate(k)
    k.mprotect(busy.p, busy.addr("anon", PROTNONE), PAGE_SIZE, PROT_READ | PROT_WRITE)
    k.write_user(busy.p, busy.addr("anon", PROTNONE), b"again")
    validate(k)

    assert b"again" == k.read_user(busy.p, busy.addr("anon", PROTNONE), 5)


# -- 3. the checks added after review: each break below was once accepted --


def test_cache_page_naming_a_slot_that_does_not_hold_it(busy: Busy) -> None:
    """A page whose mapping and index name a slot that holds nothing else is reported (§5.6)."""
    k = busy.k
    pfn = busy.pfn("fshared", 0)
    validate(k)
    busy.f.page_tree[0] = -1
    k.pages.count[pfn] -= 1
    k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_FILE_PAGES] -= 1
    k.pages.memcg[pfn] = 0
    k.memcgs[ROOT_MEM_CGROUP].usage -= 1
    expect_violation(k, f"page {pfn} names a cache slot that does not hold it")


def test_no_page_lost_free_page_on_another_zones_stack(busy: Busy) -> None:
    """A free pfn pushed on the free stack of a zone it does not belong to is reported."""
    k = busy.k
    validate(k)
    src, dst = k.zones[-1], k.zones[1]
    src.free_top -= 1
    pfn = int(src.free_stack[src.free_top])
    dst.free_stack[dst.free_top] = pfn
    dst.free_top += 1
    expect_violation(k, f"free stack of zone {dst.id} holds pfn {pfn} of another zone")


def test_memcg_charge_to_unknown_cgroup(busy: Busy) -> None:
    """A charge record naming a cgroup that does not exist is reported (§5.11)."""
    k = busy.k
    pfn = busy.pfn("anon", SHARED7)
    validate(k)
    k.pages.memcg[pfn] = 7 * 2 + MEMCG_KIND_MAPPED
    k.memcgs[ROOT_MEM_CGROUP].usage -= 1
    expect_violation(k, f"page {pfn} is charged to a memory cgroup that does not exist")


def test_ptes_pfn_beyond_memory(busy: Busy) -> None:
    """A pte naming a pfn past the end of memory is reported, not a crash."""
    k = busy.k
    mm = busy.p.mm
    assert mm is not None
    validate(k)
    bad = k.pages.nr_pages + 5
    mm.set_pte(busy.addr("fshared", 3), (bad << 12) | 0x25)
    expect_violation(k, f"pte of mm {mm.id} maps pfn {bad}, beyond the machine's memory")


def test_no_page_lost_leak_record_of_a_listed_page(busy: Busy) -> None:
    """A page recorded as leaked by mbind must really be isolated (§5.1, Q7)."""
    k = busy.k
    lru_add_drain_all(k)
    pfn = busy.pfn("anon", SHARED7)
    validate(k)
    k.leaked_isolated.append(pfn)
    k.pages.count[pfn] += 1
    expect_violation(k, f"page {pfn} is recorded as leaked by mbind but is not isolated")


def test_ptes_writable_pte_to_a_cow_shared_page(busy: Busy) -> None:
    """After fork a private page mapped twice must be write-protected in both mms."""
    k = busy.k
    mm = busy.p.mm
    assert mm is not None
    addr = busy.addr("anon", SHARED6)
    pfn = busy.pfn("anon", SHARED6)
    assert 2 == int(k.pages.mapcount[pfn])
    validate(k)
    mm.set_pte(addr, pte_mkwrite(mm.get_pte(addr)))
    expect_violation(k, f"writable pte at {addr:#x} to page {pfn} shared copy-on-write")


def test_ptes_accessible_pte_in_prot_none_vma(busy: Busy) -> None:
    """A PROT_NONE vma may hold only PROT_NONE ptes (present to pte_present, not accessible)."""
    k = busy.k
    mm = busy.p.mm
    assert mm is not None
    addr = busy.addr("anon", PROTNONE)
    validate(k)
    mm.set_pte(addr, mm.get_pte(addr) | 0x1)
    expect_violation(k, f"accessible pte at {addr:#x} in a PROT_NONE vma")


def test_memcg_usage_above_limit(busy: Busy) -> None:
    """A cgroup whose usage is above its limit is reported (a charge never passes the limit)."""
    k = busy.k
    cg = k.memcgs[ROOT_MEM_CGROUP]
    validate(k)
    cg.limit = cg.usage - 1
    expect_violation(k, f"memcg {cg.id}: usage {cg.usage} above its limit {cg.usage - 1}")


def test_memcg_max_usage_below_usage(busy: Busy) -> None:
    """A cgroup whose max_usage is below its usage is reported."""
    k = busy.k
    cg = k.memcgs[ROOT_MEM_CGROUP]
    validate(k)
    cg.max_usage = cg.usage - 1
    expect_violation(k, f"memcg {cg.id}: max_usage {cg.max_usage} below usage {cg.usage}")


def test_swap_slot_count_off(k: Kernel) -> None:
    """A swap slot whose count disagrees with its swap ptes and cache page is reported."""
    p = k.spawn()
    k.swapon(16)
    a = k.mmap(p, PAGE_SIZE)
    k.write_user(p, a, b"swap me")
    entry = k.swap_out(p, a)
    validate(k)
    k.swap_info.swap_map[entry] += 1
    expect_violation(k, f"swap slot {entry}: count 2 but 1 references exist")
    k.swap_info.swap_map[entry] -= 1


def test_swapcache_flag_without_the_cache(k: Kernel) -> None:
    """PG_swapcache on a page the swap cache does not hold is reported."""
    p = k.spawn()
    a = k.mmap(p, PAGE_SIZE)
    k.write_user(p, a, b"x")
    pfn = k.page_at(p, a)
    validate(k)
    k.pages.flags[pfn] |= 1 << 15
    expect_violation(k, f"page {pfn}: PG_swapcache disagrees with the swap cache")
    k.pages.flags[pfn] &= ~(1 << 15)


# check_buffers (§1.7, §5.10)


def buffered_page(k: Kernel) -> tuple[Task, int]:
    """A process with an ext2 page written by pwrite (so it has a ring of 4 buffers)."""
    p = k.spawn()
    f = k.create_blockfs_file("/blk/v", 1)
    k.pwrite(p, f, 0, b"data")
    return p, f.slot(0)


def test_buffers_ring_pointing_elsewhere(k: Kernel) -> None:
    """A buffer of a page's ring that points at another page is reported."""
    _, page = buffered_page(k)
    validate(k)
    b = int(k.pages.private[page])
    second = int(k.bh.b_this_page[b])
    k.bh.b_page[second] = page + 1
    expect_violation(k, f"buffer {second} of page {page}'s ring points at page {page + 1}")
    k.bh.b_page[second] = page


def test_buffers_pg_private_without_a_ring(k: Kernel) -> None:
    """PG_private on a page whose private names no ring of its own is reported."""
    _, page = buffered_page(k)
    validate(k)
    saved = int(k.pages.private[page])
    k.pages.private[page] = 0
    expect_violation(k, f"page {page} has PG_private but no buffer ring of its own")
    k.pages.private[page] = saved


def test_buffers_locked_without_io(k: Kernel) -> None:
    """A buffer left locked with no writeback in flight is reported."""
    from pagemig.mm.buffer import BH_Lock

    _, page = buffered_page(k)
    validate(k)
    b = int(k.pages.private[page])
    k.bh.b_state[b] |= BH_Lock
    expect_violation(k, f"buffer {b} of page {page} is locked with no I/O in flight")
    k.bh.b_state[b] &= ~BH_Lock


def test_buffers_writeback_without_io(k: Kernel) -> None:
    """PG_writeback on a page with no I/O in flight is reported (NR_WRITEBACK kept equal)."""
    _, page = buffered_page(k)
    validate(k)
    k.pages.flags[page] |= 1 << 12
    k.zone_stat[k.page_zone(page).id, ZoneStat.NR_WRITEBACK] += 1
    expect_violation(k, f"page {page} is under writeback with no I/O in flight")
    k.pages.flags[page] &= ~(1 << 12)
    k.zone_stat[k.page_zone(page).id, ZoneStat.NR_WRITEBACK] -= 1
