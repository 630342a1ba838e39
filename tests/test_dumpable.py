"""Dumpability: changing ids makes a process non-dumpable, which the ptrace rule of 6.1's
move_pages(2)/migrate_pages(2) and /proc/PID/pagemap checks (recorded on the real 6.1
kernel: tests/kernel-cases/6.1/lead_dumpable)."""

from __future__ import annotations

import errno

import pytest

from pagemig.kernel import Kernel, Topology
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.validate import validate


def setup(profile: str, dumpable: bool):  # type: ignore[no-untyped-def]
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile)
    p = k.spawn()
    a = k.mmap(p, PAGE_SIZE)
    k.write_user(p, a, b"x")
    c = k.fork(p)
    k.write_user(c, a, b"y")  # the child's own copy: mapped once
    assert 0 == k.sys_setresuid(c, 65534, 65534)
    if dumpable:
        assert 0 == k.sys_prctl_set_dumpable(c, 1)
    assert 0 == k.sys_setresuid(p, 65534, 65534)
    return k, p, c, a


def test_setresuid_clears_dumpable_and_prctl_restores_it() -> None:
    """A change of euid leaves the mm non-dumpable; PR_SET_DUMPABLE 1 gives it back; the
    flag is inherited at fork."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), "6.1")
    p = k.spawn()
    assert p.mm.dumpable
    k.sys_setresuid(p, 1000, 1000)
    assert not p.mm.dumpable
    assert not k.fork(p).mm.dumpable
    assert 0 == k.sys_prctl_set_dumpable(p, 1)
    assert p.mm.dumpable
    assert -errno.EINVAL == k.sys_prctl_set_dumpable(p, 2)


@pytest.mark.parametrize(("profile", "dumpable", "expected"), [
    ("6.1", True, 1), ("6.1", False, -errno.EPERM),
    ("2.6.27", True, 1), ("2.6.27", False, 1),  # 2.6.27's uid rule ignores dumpability
])
def test_move_pages_of_a_same_uid_child(profile: str, dumpable: bool, expected: int) -> None:
    """An unprivileged parent moving the page of a child with its uid: 6.1 refuses a
    non-dumpable child (EPERM); 2.6.27 compares uids only."""
    k, p, c, a = setup(profile, dumpable)
    if expected < 0:
        with pytest.raises(OSError) as e:
            k.move_pages(p, c.pid, [a], [1])
        assert -expected == e.value.errno
    else:
        ret, status = k.move_pages(p, c.pid, [a], [1])
        assert (0, [expected]) == (ret, status)
    validate(k)


def test_euid_change_alone_clears_dumpable() -> None:
    """setresuid() that changes the effective uid (the gid unchanged) clears dumpable;
    one that keeps it does not."""
    from pagemig import cred

    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), "6.1")
    p = k.spawn()
    assert 0 == cred.sys_setresuid(p, 0, 0, 0)  # no change
    assert p.mm.dumpable
    assert 0 == cred.sys_setresuid(p, -1, 1000, -1)
    assert not p.mm.dumpable
