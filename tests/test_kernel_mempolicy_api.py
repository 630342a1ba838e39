"""The Kernel's mempolicy system calls: mbind, set_mempolicy and migrate_pages, raw
(``sys_*``: user pointers in, the kernel's value out) and convenient (masks placed in the
caller's memory, OSError for a negative result), in both profiles; and the constants the
package exports for them."""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest

import pagemig
from pagemig import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_INTERLEAVE,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
    Kernel,
    Topology,
)
from pagemig.kernel import UserArrays
from pagemig.mm.mempolicy import Mempolicy
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.sched import CAP_SYS_NICE, Task
from pagemig.validate import validate


@pytest.fixture(params=["2.6.27", "6.1"])
def kp(request: pytest.FixtureRequest) -> Iterator[Kernel]:
    """A small 2-node machine of each profile, validated at the end."""
    kernel = Kernel(Topology(nodes=2, mem_per_node_mb=64), request.param)
    yield kernel
    validate(kernel)


def written(k: Kernel, task: Task, npages: int) -> int:
    """A private anonymous mapping of ``npages`` written pages (from node 0's CPU)."""
    addr = k.mmap(task, npages * PAGE_SIZE)
    for i in range(npages):
        k.write_user(task, addr + i * PAGE_SIZE, b"p%d" % i)
    return addr


def node_at(k: Kernel, task: Task, addr: int) -> int:
    """The node of the page at ``addr`` (which must be mapped)."""
    pfn = k.page_at(task, addr)
    assert pfn is not None
    return k.pfn_to_nid(pfn)


def test_exported_constants_have_the_kernel_values() -> None:
    """The uapi values: MPOL_* modes and MPOL_MF_* flags, MAP_* and PROT_*."""
    assert (0, 1, 2, 3) == (pagemig.MPOL_DEFAULT, pagemig.MPOL_PREFERRED, pagemig.MPOL_BIND,
                            pagemig.MPOL_INTERLEAVE)
    assert (1, 2, 4) == (pagemig.MPOL_MF_STRICT, pagemig.MPOL_MF_MOVE, pagemig.MPOL_MF_MOVE_ALL)
    assert (1 << 15, 1 << 14) == (pagemig.MPOL_F_STATIC_NODES, pagemig.MPOL_F_RELATIVE_NODES)
    assert (0x01, 0x02, 0x10, 0x20) == (pagemig.MAP_SHARED, pagemig.MAP_PRIVATE,
                                        pagemig.MAP_FIXED, pagemig.MAP_ANONYMOUS)
    assert (0, 1, 2, 4) == (pagemig.PROT_NONE, pagemig.PROT_READ, pagemig.PROT_WRITE,
                            pagemig.PROT_EXEC)


def test_mbind_move_and_its_errors(kp: Kernel) -> None:
    """mbind(BIND {1}, MOVE) moves the range's pages; an unaligned start is EINVAL and
    MOVE_ALL without CAP_SYS_NICE EPERM, raised as OSError."""
    k = kp
    p = k.spawn()
    a = written(k, p, 2)

    assert k.mbind(p, a, 2 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE) is None
    assert [1, 1] == [node_at(k, p, a), node_at(k, p, a + PAGE_SIZE)]
    assert p.mm is not None
    assert Mempolicy(MPOL_BIND, frozenset({1})) == p.mm.vma_containing(a).policy  # type: ignore[union-attr]
    with pytest.raises(OSError) as e:
        k.mbind(p, a + 1, PAGE_SIZE, MPOL_BIND, {1})
    assert errno.EINVAL == e.value.errno
    p.cap_effective = p.cap_effective - {CAP_SYS_NICE}
    with pytest.raises(OSError) as e:
        k.mbind(p, a, PAGE_SIZE, MPOL_BIND, {0}, MPOL_MF_MOVE_ALL)
    assert errno.EPERM == e.value.errno


def test_mbind_strict_misplaced_page_is_eio(kp: Kernel) -> None:
    """mbind(BIND {1}, STRICT) over a page on node 0: EIO, the page stays."""
    k = kp
    p = k.spawn()
    a = written(k, p, 1)

    with pytest.raises(OSError) as e:
        k.mbind(p, a, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_STRICT)
    assert errno.EIO == e.value.errno
    assert 0 == node_at(k, p, a)


def test_sys_mbind_returns_the_kernel_value(kp: Kernel) -> None:
    """The raw call: a mask pointer in user memory; -EFAULT for a pointer that faults, 0
    for a good one (interleave policy set on the vma)."""
    k = kp
    p = k.spawn()
    a = k.mmap(p, 2 * PAGE_SIZE)
    bad = int(p.mm.layout.bad_page)  # type: ignore[union-attr]

    assert -errno.EFAULT == k.sys_mbind(p, a, 2 * PAGE_SIZE, MPOL_INTERLEAVE, bad, 65, 0)
    with UserArrays(k, p, [8]) as (m,):
        k.write_user(p, m, (0b11).to_bytes(8, "little"))
        assert 0 == k.sys_mbind(p, a, 2 * PAGE_SIZE, MPOL_INTERLEAVE, m, 65, 0)
    assert Mempolicy(MPOL_INTERLEAVE, frozenset({0, 1})) == \
        p.mm.vma_containing(a).policy  # type: ignore[union-attr]


def test_set_mempolicy_places_later_faults(kp: Kernel) -> None:
    """set_mempolicy(BIND {1}): the next page faulted in lands on node 1; back to DEFAULT
    (NULL mask), the next one lands on the local node 0."""
    k = kp
    p = k.spawn()
    a = k.mmap(p, 2 * PAGE_SIZE)

    k.set_mempolicy(p, MPOL_BIND, {1})
    k.write_user(p, a, b"x")
    k.set_mempolicy(p, MPOL_DEFAULT, None)
    k.write_user(p, a + PAGE_SIZE, b"y")

    assert [1, 0] == [node_at(k, p, a), node_at(k, p, a + PAGE_SIZE)]
    assert p.mempolicy is None


def test_set_mempolicy_errors(kp: Kernel) -> None:
    """An empty BIND mask and a DEFAULT mode with nodes are EINVAL, as OSError; the raw call
    returns -EINVAL for an unknown mode (99), and 0 for PREFERRED with a NULL mask (local
    allocation)."""
    k = kp
    p = k.spawn()

    for mode, nodes in ((MPOL_BIND, set()), (MPOL_DEFAULT, {0})):
        with pytest.raises(OSError) as e:
            k.set_mempolicy(p, mode, nodes)
        assert errno.EINVAL == e.value.errno
    assert 0 == k.sys_set_mempolicy(p, MPOL_PREFERRED, 0, 65)
    assert Mempolicy(MPOL_PREFERRED, frozenset()) == p.mempolicy
    assert -errno.EINVAL == k.sys_set_mempolicy(p, 99, 0, 65)


def test_migrate_pages_moves_another_process(kp: Kernel) -> None:
    """migrate_pages(target, {0}, {1}): the target's pages move; 0 pages left behind."""
    k = kp
    caller, target = k.spawn(), k.spawn("target")
    a = written(k, target, 3)

    assert 0 == k.migrate_pages(caller, target.pid, {0}, {1})
    assert [1, 1, 1] == [node_at(k, target, a + i * PAGE_SIZE) for i in range(3)]
    assert b"p2" == k.read_user(target, a + 2 * PAGE_SIZE, 2)


def test_migrate_pages_counts_pinned_pages(kp: Kernel) -> None:
    """A pinned page cannot move: the result is the number of pages not moved (1)."""
    k = kp
    p = k.spawn()
    a = written(k, p, 2)
    pins = k.pin(p, a, 1)

    assert 1 == k.migrate_pages(p, 0, {0}, {1})
    assert [0, 1] == [node_at(k, p, a), node_at(k, p, a + PAGE_SIZE)]
    k.unpin(pins)


def test_migrate_pages_errors_raise(kp: Kernel) -> None:
    """No such pid: ESRCH; a kernel thread: EINVAL."""
    k = kp
    p = k.spawn()

    for pid, err in ((99999, errno.ESRCH), (2, errno.EINVAL)):
        with pytest.raises(OSError) as e:
            k.migrate_pages(p, pid, {0}, {1})
        assert err == e.value.errno


def test_sys_migrate_pages_returns_the_kernel_value(kp: Kernel) -> None:
    """The raw call with a NULL old mask moves nothing and returns 0 in both releases; a
    mask pointer that faults is -EFAULT."""
    k = kp
    p = k.spawn()
    a = written(k, p, 1)
    bad = int(p.mm.layout.bad_page)  # type: ignore[union-attr]

    with UserArrays(k, p, [8]) as (m,):
        k.write_user(p, m, (0b10).to_bytes(8, "little"))
        assert 0 == k.sys_migrate_pages(p, 0, 65, 0, m)
        assert -errno.EFAULT == k.sys_migrate_pages(p, 0, 65, bad, m)
    assert 0 == node_at(k, p, a)
