"""The per-node hugetlb pool of the 6.1 profile (mm/hugetlb.py): its size takes a node's
memory, which makes move_pages(2) and migrate_pages(2) to that node fail with -ENOMEM."""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest

from pagemig.fs.procfs import read_file, write_file
from pagemig.kernel import Kernel, Topology, UserArrays
from pagemig.mm.hugetlb import HPAGE_PMD_NR
from pagemig.mm.mempolicy import sys_migrate_pages
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.sched import Task
from pagemig.validate import validate

NR = "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"


@pytest.fixture
def k() -> Iterator[Kernel]:
    """A 2-node machine (64 MiB a node) with the 6.1 profile, validated at the end."""
    kernel = Kernel(Topology(nodes=2, mem_per_node_mb=64), "6.1")
    yield kernel
    validate(kernel)


@pytest.fixture
def proc(k: Kernel) -> Task:
    """A probe-like process on node 0."""
    return k.spawn()


def node_free(k: Kernel, nid: int) -> int:
    """Free frames of node ``nid``."""
    return sum(z.free_top for z in k.nodes[nid].zones)


def test_pool_takes_512_frames_a_huge_page_and_gives_them_back(k: Kernel,
                                                                proc: Task) -> None:
    """nr_hugepages 3 takes 3 x 512 frames of node 1 (node 0 untouched); 0 frees them."""
    free0, free1 = node_free(k, 0), node_free(k, 1)

    assert 0 == write_file(k, proc, NR, "3")
    assert "3\n" == read_file(k, proc, NR)
    assert (free0, free1 - 3 * HPAGE_PMD_NR) == (node_free(k, 0), node_free(k, 1))
    assert 0 == write_file(k, proc, NR, "0")
    assert (free0, free1) == (node_free(k, 0), node_free(k, 1))


def test_pool_stops_at_the_low_watermark(k: Kernel, proc: Task) -> None:
    """A request for more than the node holds: the pool grows while a huge page leaves
    every zone above its low watermark, and the write still succeeds."""
    assert 0 == write_file(k, proc, NR, "100000")
    got = int(str(read_file(k, proc, NR)))
    zone = k.nodes[1].zones[-1]

    assert 0 < got < 100000
    assert zone.pages_low < zone.free_top <= zone.pages_low + HPAGE_PMD_NR


def test_pool_file_is_missing_on_2_6_27() -> None:
    """2.6.27 has no per-node hugepages directory: -ENOENT."""
    k27 = Kernel(Topology(nodes=2, mem_per_node_mb=64))
    assert -errno.ENOENT == write_file(k27, k27.spawn(), NR, "1")


def test_full_node_makes_move_pages_and_migrate_pages_enomem(k: Kernel, proc: Task) -> None:
    """With node 1 taken by the pool, a batch of 2048 pages fails with -ENOMEM and no status
    is written; after shrinking the pool the pages move."""
    n = 2048
    a = k.mmap(proc, n * PAGE_SIZE)
    for i in range(n):
        k.write_user(proc, a + i * PAGE_SIZE, b"x")
    assert 0 == write_file(k, proc, NR, "100000")
    addrs = [a + i * PAGE_SIZE for i in range(n)]

    with pytest.raises(OSError) as exc:
        k.move_pages(proc, 0, addrs, [1] * n)
    assert errno.ENOMEM == exc.value.errno
    with UserArrays(k, proc, [8, 8]) as (old, new):
        k.write_user(proc, old, (1 << 0).to_bytes(8, "little"))
        k.write_user(proc, new, (1 << 1).to_bytes(8, "little"))
        with k.as_task(proc):
            assert -errno.ENOMEM == k.run(sys_migrate_pages(k, 0, 65, old, new))
    assert 0 == write_file(k, proc, NR, "0")
    assert (0, [1] * 4) == k.move_pages(proc, 0, addrs[:4], [1] * 4)
