"""mbind(2) in Linux 6.1 against 2.6.27: hole rules, pages put back on errors, MPOL_LOCAL.

The 6.1 answers were recorded on the real kernel (tests/kernel-cases/6.1/lead_mbind_holes).
"""

from __future__ import annotations

import errno

import pytest

from pagemig import MPOL_BIND, MPOL_DEFAULT, MPOL_LOCAL, MPOL_MF_MOVE
from pagemig.kernel import Kernel
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.mm.page_flags import F_LRU
from pagemig.sched import Task

P = PAGE_SIZE


def four_pages_with_hole(k: Kernel, p: Task, hole: int) -> int:
    """Four written pages on node 0, then page ``hole`` unmapped; returns the start."""
    a = k.mmap(p, 4 * P)
    for i in range(4):
        k.write_user(p, a + i * P, b"%d" % i)
    k.munmap(p, a + hole * P, P)
    return a


def nodes_of(k: Kernel, p: Task, a: int, n: int) -> list[int | None]:
    out = []
    for i in range(n):
        pfn = k.page_at(p, a + i * P)
        out.append(None if pfn is None else k.pfn_to_nid(pfn))
    return out


@pytest.mark.parametrize("hole", [0, 1, 3])
def test_61_any_hole_is_efault_and_nothing_moves(k61: Kernel, hole: int) -> None:
    """6.1: a hole at the head, middle or tail of a bind range is -EFAULT before any page
    moves (the real kernel: EFAULT, pgmigrate_success 0)."""
    p = k61.spawn()
    a = four_pages_with_hole(k61, p, hole)
    with pytest.raises(OSError) as e:
        k61.mbind(p, a, 4 * P, MPOL_BIND, [1], MPOL_MF_MOVE)
    assert errno.EFAULT == e.value.errno
    expected = [0, 0, 0, 0]
    expected[hole] = None
    assert expected == nodes_of(k61, p, a, 4)


def test_2627_head_hole_is_missed(k: Kernel) -> None:
    """2.6.27 (quirk Q16): a hole at the head of the range is not seen; the rest moves."""
    p = k.spawn()
    a = four_pages_with_hole(k, p, 0)
    k.mbind(p, a, 4 * P, MPOL_BIND, [1], MPOL_MF_MOVE)
    assert [None, 1, 1, 1] == nodes_of(k, p, a, 4)


@pytest.mark.parametrize(("profile", "expected"), [("2.6.27", 0), ("6.1", -errno.EFAULT)])
def test_range_without_vma_default_policy(profile: str, expected: int) -> None:
    """A range with no vma: 6.1 says -EFAULT even for MPOL_DEFAULT; 2.6.27 finds the next
    vma and, the default policy allowing holes, succeeds."""
    from pagemig.kernel import Topology
    from pagemig.validate import validate

    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile)
    p = k.spawn()
    a = k.mmap(p, 4 * P)
    b = k.mmap(p, 2 * P)  # below a
    k.munmap(p, b, 2 * P)
    with k.as_task(p):
        from pagemig.mm.mempolicy import sys_mbind

        ret = k.run(sys_mbind(k, b, 2 * P, MPOL_DEFAULT, 0, 0, 0))
    assert expected == ret
    assert a > b
    validate(k)


def test_61_error_puts_isolated_pages_back(k61: Kernel) -> None:
    """6.1: pages isolated before the walk hits a tail hole go back to the LRU (2.6.27
    leaks them, quirk Q7)."""
    p = k61.spawn()
    a = four_pages_with_hole(k61, p, 3)
    with pytest.raises(OSError):
        k61.mbind(p, a, 4 * P, MPOL_BIND, [1], MPOL_MF_MOVE)
    assert [] == k61.leaked_isolated
    for i in range(3):
        assert int(k61.pages.flags[k61.page_at(p, a + i * P)]) & F_LRU


def test_2627_error_leaks_isolated_pages(raw_k: Kernel) -> None:
    """2.6.27 (quirk Q7): the pages isolated before a middle hole stay off the LRU."""
    k = raw_k
    p = k.spawn()
    a = k.mmap(p, 4 * P)
    for i in range(4):
        k.write_user(p, a + i * P, b"x")
    k.munmap(p, a + 2 * P, P)
    with pytest.raises(OSError):
        k.mbind(p, a, 4 * P, MPOL_BIND, [1], MPOL_MF_MOVE)
    assert 2 == len(k.leaked_isolated)


@pytest.mark.parametrize(("profile", "ok"), [("2.6.27", False), ("6.1", True)])
def test_mpol_local(profile: str, ok: bool) -> None:
    """MPOL_LOCAL (mode 4) exists from 3.8: 6.1 moves the range to the caller's node with
    MOVE; 2.6.27 has no such mode (EINVAL)."""
    from pagemig.kernel import Topology
    from pagemig.validate import validate

    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile)
    p = k.spawn()
    a = k.mmap(p, 2 * P)
    k.mbind(p, a, 2 * P, MPOL_BIND, [1])
    k.write_user(p, a, b"x")
    k.write_user(p, a + P, b"y")
    if ok:
        k.mbind(p, a, 2 * P, MPOL_LOCAL, None, MPOL_MF_MOVE)
        assert [0, 0] == nodes_of(k, p, a, 2)
    else:
        with pytest.raises(OSError) as e:
            k.mbind(p, a, 2 * P, MPOL_LOCAL, None, MPOL_MF_MOVE)
        assert errno.EINVAL == e.value.errno
        assert [1, 1] == nodes_of(k, p, a, 2)
    validate(k)


def test_61_mpol_local_refuses_nodes(k61: Kernel) -> None:
    """6.1: MPOL_LOCAL with a node mask is -EINVAL."""
    p = k61.spawn()
    with pytest.raises(OSError) as e:
        k61.set_mempolicy(p, MPOL_LOCAL, [1])
    assert errno.EINVAL == e.value.errno


def test_61_pages_queued_before_a_later_hole_go_back(k61: Kernel) -> None:
    """6.1: when the walk has queued the pages of two vmas and then meets a hole after the
    third, -EFAULT puts those pages back on the LRU (none leaks, none moves)."""
    from pagemig.mm.mmap import PROT_READ

    p = k61.spawn()
    a = k61.mmap(p, 4 * P)
    for i in range(4):
        k61.write_user(p, a + i * P, b"%d" % i)
    k61.mprotect(p, a + P, P, PROT_READ)  # vmas [0], [1], [2, 3]
    k61.munmap(p, a + 3 * P, P)           # a hole after the third vma
    with pytest.raises(OSError) as e:
        k61.mbind(p, a, 4 * P, MPOL_BIND, [1], MPOL_MF_MOVE)
    assert errno.EFAULT == e.value.errno
    assert [] == k61.leaked_isolated
    assert [0, 0, 0, None] == nodes_of(k61, p, a, 4)  # validate() then finds them listed
