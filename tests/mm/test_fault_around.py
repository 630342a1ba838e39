"""Fault-around (Linux 3.15 on): a read fault of a shared or file mapping maps the cached
pages of a 16-page window; 2.6.27 maps only the faulting page."""

from __future__ import annotations

import pytest

from pagemig.kernel import Kernel, Topology
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.mm.mmap import MAP_ANONYMOUS, MAP_SHARED, PROT_READ, PROT_WRITE
from pagemig.validate import validate

P = PAGE_SIZE
RW = PROT_READ | PROT_WRITE


def machine(profile: str) -> Kernel:
    return Kernel(Topology(nodes=2, mem_per_node_mb=64), profile)


def mapped(k: Kernel, task, addr: int, n: int) -> list[bool]:  # type: ignore[no-untyped-def]
    return [k.page_at(task, addr + i * P) is not None for i in range(n)]


@pytest.mark.parametrize(("profile", "expected"), [
    ("2.6.27", [True, False, False, False]),
    ("6.1", [True, True, True, True]),
])
def test_child_read_fault_maps_cached_neighbours(profile: str, expected: list[bool]) -> None:
    """A child's read of one page of a written shared anon range maps the other cached pages
    too in 6.1 (the real kernel's placement shows them all, tests/kernel-cases/6.1/
    lead_cpuset_child); 2.6.27 maps one."""
    k = machine(profile)
    p = k.spawn()
    s = k.mmap(p, 4 * P, RW, MAP_SHARED | MAP_ANONYMOUS)
    for i in range(4):
        k.write_user(p, s + i * P, b"%d" % i)
    c = k.fork(p)
    k.touch(c, s, False)
    assert expected == mapped(k, c, s, 4)
    validate(k)


def test_write_fault_maps_only_its_page(k61: Kernel) -> None:
    """Fault-around is for read faults: a child's write maps the one page."""
    p = k61.spawn()
    s = k61.mmap(p, 4 * P, RW, MAP_SHARED | MAP_ANONYMOUS)
    for i in range(4):
        k61.write_user(p, s + i * P, b"x")
    c = k61.fork(p)
    k61.touch(c, s + P, True)
    assert [False, True, False, False] == mapped(k61, c, s, 4)


def test_uncached_pages_are_not_mapped(k61: Kernel) -> None:
    """Only pages already in the page cache are mapped: never-written pages stay unmapped."""
    p = k61.spawn()
    s = k61.mmap(p, 4 * P, RW, MAP_SHARED | MAP_ANONYMOUS)
    k61.write_user(p, s + 2 * P, b"x")
    c = k61.fork(p)
    k61.touch(c, s, False)  # not cached: shmem allocates it, then nothing else but page 2
    assert [True, False, True, False] == mapped(k61, c, s, 4)


def test_window_is_16_pages_from_the_block_start(k61: Kernel) -> None:
    """The window starts at the 64 KiB block (or the vma start) and spans 16 pages: a read
    at page 20 of a 40-page cached range maps pages 16..31 only (the vma starts on a block)."""
    p = k61.spawn()
    f = k61.create_file("ring", 40)
    a = k61.mmap(p, 40 * P, RW, MAP_SHARED, file=f)
    for i in range(40):
        k61.write_user(p, a + i * P, b"x")
    c = k61.fork(p)
    k61.touch(c, a + 20 * P, False)
    block = (a + 20 * P) & ~(16 * P - 1)
    start = max(block, a)
    expected = [start <= a + i * P < start + 16 * P for i in range(40)]
    assert expected == mapped(k61, c, a, 40)
    validate(k61)


def test_window_runs_16_pages_from_the_vma_start(k61: Kernel) -> None:
    """Linux 6.1 clips the window's start to the vma but still runs 16 pages from there: a
    read of page 1 of a vma that starts 3 pages into a block maps pages 0..15 of the vma."""
    p = k61.spawn()
    f = k61.create_file("shifted", 40)
    a = k61.mmap(p, 40 * P, RW, MAP_SHARED, file=f)
    shift = (a >> 12) % 16
    assert 0 < shift  # the first mappings are not 64 KiB aligned (0x7ffff7f...)
    for i in range(40):
        k61.write_user(p, a + i * P, b"x")
    c = k61.fork(p)
    first_block_end = 16 - shift  # pages of the vma inside its first block
    k61.touch(c, a + min(1, first_block_end - 1) * P, False)
    assert [i < 16 for i in range(40)] == mapped(k61, c, a, 40)
