"""Order-sensitive behaviour of migration's callers that a set comparison or a final
placement alone does not pin down (both profiles where the behaviour is shared).

- ``do_migrate_pages()`` empties a destination node before it fills it, so no page is
  copied twice: seen as the per-page journey (trace) and, in 6.1, as pgmigrate_success;
- ``migrate_vmas()`` hands each ``vm_ops->migrate`` hook (from, to) in that order;
- ``check_range()`` takes only a gap between two vmas for a hole, never adjacent vmas;
- ``check_pte_range()`` skips PG_reserved pages, under MPOL_MF_STRICT too;
- ``writeout()`` puts the ptes back on the old page before ``->writepage`` runs;
- 2.6.27's do_move_pages() reports -ENOENT for a PG_reserved page even when the page is
  already on the requested node.

Expected values are worked out from mm/mempolicy.c and mm/migrate.c, not from the model.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Iterator
from typing import Any

import pytest

from pagemig import (
    MAP_SHARED,
    MPOL_BIND,
    MPOL_MF_MOVE,
    MPOL_MF_STRICT,
    PROT_READ,
    PROT_WRITE,
    Kernel,
    Topology,
)
from pagemig.mm.mm_types import PAGE_SIZE, VmArea, VmOps
from pagemig.mm.swap import get_page, put_page
from pagemig.mm.swapops import PAGE_READONLY, mk_pte, pte_present
from pagemig.sched import Task
from pagemig.validate import validate

PROFILES = ["2.6.27", "6.1"]


@pytest.fixture(params=PROFILES)
def kp(request: pytest.FixtureRequest) -> Iterator[Kernel]:
    """A small 2-node machine of each profile, validated at the end."""
    kernel = Kernel(Topology(nodes=2, mem_per_node_mb=64), request.param)
    yield kernel
    validate(kernel)


@pytest.fixture(params=PROFILES)
def k3p(request: pytest.FixtureRequest) -> Iterator[Kernel]:
    """Three nodes with memory, each profile, validated at the end."""
    kernel = Kernel(Topology(nodes=3, mem_per_node_mb=64), request.param)
    yield kernel
    validate(kernel)


def anon(k: Kernel, task: Task, npages: int, node: int) -> int:
    """A private anonymous mapping written from a CPU of ``node`` (its pages land there)."""
    addr = k.mmap(task, npages * PAGE_SIZE)
    saved, task.cpu = task.cpu, k.nodes[node].cpus[0]
    try:
        for i in range(npages):
            k.write_user(task, addr + i * PAGE_SIZE, bytes([node * 16 + i + 1]) * 8)
    finally:
        task.cpu = saved
    return addr


def nodes_of(k: Kernel, task: Task, addr: int, npages: int) -> list[int | None]:
    """The node of each page of the range (None where nothing is mapped)."""
    out: list[int | None] = []
    for i in range(npages):
        pfn = k.page_at(task, addr + i * PAGE_SIZE)
        out.append(None if pfn is None else k.pfn_to_nid(pfn))
    return out


def journey(k: Kernel, log: list[tuple[str, dict[str, Any]]], pfn: int) -> list[int]:
    """The nodes a page's contents went through: its node, then the node of each copy."""
    nodes = [k.pfn_to_nid(pfn)]
    for event, f in log:
        if event == "mm_migrate_copy" and f["old"] == pfn:
            pfn = f["new"]
            nodes.append(k.pfn_to_nid(pfn))
    return nodes


def pgmigrate_success(k: Kernel) -> int:
    """The pgmigrate_success event counter (6.1 only)."""
    return k.vm_events.get("pgmigrate_success", 0)


# == do_migrate_pages(): a node is emptied before it is filled ==

def test_pairing_moves_node_1_out_before_node_0_moves_in(k3p: Kernel) -> None:
    """from {0,1} to {1,2}: 0->1 is remembered, but 1 is still a source, so 1->2 goes
    first and 0->1 second; no page of the target (its program's pages included) is copied
    twice, and in 6.1 pgmigrate_success grows by the number of pages copied."""
    k = k3p
    caller, target = k.spawn(), k.spawn("target")
    a0, a1 = anon(k, target, 2, 0), anon(k, target, 2, 1)
    first = [k.page_at(target, a0), k.page_at(target, a0 + PAGE_SIZE),
             k.page_at(target, a1), k.page_at(target, a1 + PAGE_SIZE)]
    before = pgmigrate_success(k)
    log = k.start_trace()

    assert 0 == k.migrate_pages(caller, target.pid, {0, 1}, {1, 2})

    assert [(1, 2), (0, 1)] == [(f["source"], f["dest"]) for e, f in log
                                if e == "mm_migrate_to_node"]
    assert [[0, 1], [0, 1], [1, 2], [1, 2]] == [journey(k, log, p) for p in first]
    assert [1, 1, 2, 2] == nodes_of(k, target, a0, 2) + nodes_of(k, target, a1, 2)
    copies = [(f["old"], f["new"]) for e, f in log if e == "mm_migrate_copy"]
    copied_again = [old for i, (old, _) in enumerate(copies)
                    if old in {new for _, new in copies[:i]}]
    assert [] == copied_again
    counted = len(copies) if k.profile.has("pgmigrate_vmstat") else 0
    assert counted == pgmigrate_success(k) - before


def test_pairing_takes_the_pair_whose_destination_is_empty(k3p: Kernel) -> None:
    """from {1,2} to {0,1}: 1->0 has a destination that is no source, so it is taken at
    once (not the later 2->1); then 2->1.  Node 2's pages end on node 1, copied once."""
    k = k3p
    caller, target = k.spawn(), k.spawn("target")
    a1, a2 = anon(k, target, 2, 1), anon(k, target, 2, 2)
    first = [k.page_at(target, a1), k.page_at(target, a2)]
    before = pgmigrate_success(k)
    log = k.start_trace()

    assert 0 == k.migrate_pages(caller, target.pid, {1, 2}, {0, 1})

    assert [(1, 0), (2, 1)] == [(f["source"], f["dest"]) for e, f in log
                                if e == "mm_migrate_to_node"]
    assert [[1, 0], [2, 1]] == [journey(k, log, p) for p in first]
    assert [0, 0, 1, 1] == nodes_of(k, target, a1, 2) + nodes_of(k, target, a2, 2)
    copies = [e for e, _ in log if e == "mm_migrate_copy"]
    assert (len(copies) if k.profile.has("pgmigrate_vmstat") else 0) == \
        pgmigrate_success(k) - before


# == migrate_vmas(): the hook gets (from, to) ==

def test_migrate_vmas_hook_gets_from_then_to(kp: Kernel) -> None:
    """migrate_pages(old={0}, new={1}): every hook called gets from={0} first and to={1}
    second (2.6.27's two swaps of the names cancel out)."""
    k = kp
    caller, target = k.spawn(), k.spawn("target")
    assert target.mm is not None
    calls: list[tuple[frozenset[int], frozenset[int]]] = []

    def hook(vma: VmArea, first: frozenset[int], second: frozenset[int], flags: int) -> int:
        calls.append((frozenset(first), frozenset(second)))
        return 0

    vma = target.mm.vmas[0]
    saved = vma.vm_ops
    vma.vm_ops = VmOps(fault=saved.fault if saved else "none", migrate=hook,
                       special_pages=saved.special_pages if saved else ())
    try:
        assert 0 == k.migrate_pages(caller, target.pid, {0}, {1})
    finally:
        vma.vm_ops = saved
    assert [(frozenset({0}), frozenset({1}))] == calls


# == check_range(): adjacent vmas are no hole ==

def test_mbind_move_over_adjacent_vmas_is_not_a_hole(kp: Kernel) -> None:
    """A mapping split in two adjacent vmas by mprotect: mbind(BIND {1}, MOVE) over both
    finds no hole, returns 0 and moves the pages of both vmas."""
    k = kp
    p = k.spawn()
    a = anon(k, p, 4, 0)
    k.mprotect(p, a + 2 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ)
    assert p.mm is not None
    v1, v2 = p.mm.vma_containing(a), p.mm.vma_containing(a + 2 * PAGE_SIZE)
    assert v1 is not v2 and v1 is not None and v2 is not None and v1.vm_end == v2.vm_start

    k.mbind(p, a, 4 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE)

    assert [1, 1, 1, 1] == nodes_of(k, p, a, 4)


def test_mbind_strict_over_adjacent_vmas_is_not_a_hole(kp: Kernel) -> None:
    """STRICT alone over two adjacent vmas whose pages are all on the policy's node: 0."""
    k = kp
    p = k.spawn()
    a = anon(k, p, 2, 1)
    k.mprotect(p, a + PAGE_SIZE, PAGE_SIZE, PROT_READ)

    k.mbind(p, a, 2 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_STRICT)

    assert [1, 1] == nodes_of(k, p, a, 2)


# == check_pte_range(): PG_reserved pages are never selected ==

@pytest.fixture
def reserved_at(kp: Kernel) -> Iterator[tuple[Task, int]]:
    """A task with the zero page (PG_reserved, node 0) mapped read-only at an address of an
    anonymous vma, as a driver's vm_insert_page() of a reserved page would; removed after."""
    k = kp
    p = k.spawn()
    spot = k.mmap(p, PAGE_SIZE)
    assert p.mm is not None
    get_page(k, k.zero_page_pfn)
    p.mm.set_pte(spot, mk_pte(k.zero_page_pfn, PAGE_READONLY))
    yield p, spot
    p.mm.set_pte(spot, 0)
    put_page(k, k.zero_page_pfn)


def test_mbind_strict_skips_a_reserved_page(kp: Kernel, reserved_at: tuple[Task, int]) -> None:
    """mbind(BIND {1}, STRICT) over a reserved page on node 0: it is not looked at, so no
    -EIO; with MOVE it is not isolated or moved either."""
    k = kp
    p, spot = reserved_at
    count = int(k.pages.count[k.zero_page_pfn])

    k.mbind(p, spot, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_STRICT)
    k.mbind(p, spot, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE | MPOL_MF_STRICT)

    assert k.zero_page_pfn == k.page_at(p, spot)
    assert count == int(k.pages.count[k.zero_page_pfn])


def test_move_pages_reserved_page_on_its_node_is_enoent(k: Kernel, proc: Task) -> None:
    """2.6.27: do_move_pages() tests PG_reserved before comparing nodes, so a reserved page
    already on the requested node (the zero page, node 0, asked for node 0) is -ENOENT.
    (A third page that does move keeps the call from failing with -ENOENT as a whole.)"""
    spot = k.mmap(proc, PAGE_SIZE)
    a, b = anon(k, proc, 1, 0), anon(k, proc, 1, 0)
    assert proc.mm is not None
    assert 0 == k.pfn_to_nid(k.zero_page_pfn)
    get_page(k, k.zero_page_pfn)
    proc.mm.set_pte(spot, mk_pte(k.zero_page_pfn, PAGE_READONLY))
    try:
        assert (0, [-errno.ENOENT, 0, 1]) == k.move_pages(proc, 0, [spot, a, b], [0, 0, 1])
    finally:
        proc.mm.set_pte(spot, 0)
        put_page(k, k.zero_page_pfn)


# == writeout(): ptes back on the old page before ->writepage ==

def test_writeout_restores_the_ptes_before_writepage(k: Kernel, proc: Task) -> None:
    """A dirty ext2 page of a mapping without ->migratepage goes to writeout(): when
    ->writepage runs, the page is mapped again (present pte to the old page, mapcount 1),
    not left behind a migration entry."""
    f = k.create_blockfs_file("/blk/f", 1)
    addr = k.mmap(proc, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, file=f)
    k.write_user(proc, addr, b"dirty through the mapping")
    old = k.page_at(proc, addr)
    assert proc.mm is not None and old is not None
    seen: list[tuple[bool, int, int]] = []
    writepage = k.ext2_aops.writepage
    assert writepage is not None

    def watching(kk: Kernel, page: int, wbc: Any) -> int:
        pte = proc.mm.get_pte(addr)  # type: ignore[union-attr]
        pfn = kk.page_at(proc, addr)
        seen.append((pte_present(pte), -1 if pfn is None else pfn, int(kk.pages.mapcount[page])))
        return writepage(kk, page, wbc)

    f.a_ops = dataclasses.replace(k.ext2_aops, migratepage=None, writepage=watching)

    ret, status = k.move_pages(proc, 0, [addr], [1])

    assert (0, [1]) == (ret, status)
    assert [(True, old, 1)] == seen
    assert b"dirty through the mapping" == k.read_user(proc, addr, 25)
