"""cgroup v2 cpusets (Linux 6.1) through the model backend's file calls, and their absence
in 2.6.27: joining a cpuset moves the task's pages to its nodes and narrows move_pages(2)."""

from __future__ import annotations

import errno

from pagemig.backends.model import ModelBackend
from pagemig.cpuset import format_nodelist, parse_nodelist
from pagemig.kernel import Topology
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.validate import validate

ROOT = "/sys/fs/cgroup"
SMALL = Topology(nodes=2, mem_per_node_mb=64)


def test_nodelists_parse_and_format() -> None:
    """"0-1,3" is {0,1,3}; malformed lists are None; {0,1,3} prints as "0-1,3"."""
    assert frozenset({0, 1, 3}) == parse_nodelist("0-1,3\n")
    assert frozenset() == parse_nodelist("")
    assert None is parse_nodelist("1-0")
    assert None is parse_nodelist("x")
    assert "0-1,3" == format_nodelist(frozenset({0, 1, 3}))


def test_joining_a_cpuset_moves_the_pages_and_limits_move_pages() -> None:
    """6.1: +cpuset, mkdir, cpuset.mems=1, cgroup.procs=pid: the task's pages on node 0 go
    to node 1 (v2 always migrates), mems.effective reads "1", and move_pages(2) to node 0 is
    EACCES (node outside the task's cpuset)."""
    b = ModelBackend(SMALL, "6.1")
    k = b.k
    p = b.start()
    a = k.mmap(p, 2 * PAGE_SIZE)
    k.write_user(p, a, b"x")
    k.write_user(p, a + PAGE_SIZE, b"y")

    assert 0 == b.write_file(p, f"{ROOT}/cgroup.subtree_control", "+cpuset")
    assert 0 == b.mkdir(p, f"{ROOT}/lim")
    assert -errno.EEXIST == b.mkdir(p, f"{ROOT}/lim")
    assert "0-1\n" == b.read_file(p, f"{ROOT}/lim/cpuset.mems.effective")
    assert -errno.EINVAL == b.write_file(p, f"{ROOT}/lim/cpuset.mems", "7")
    assert 0 == b.write_file(p, f"{ROOT}/lim/cpuset.mems", "1")
    assert 0 == b.write_file(p, f"{ROOT}/lim/cgroup.procs", str(p.pid))

    assert "1\n" == b.read_file(p, f"{ROOT}/lim/cpuset.mems.effective")
    assert [1, 1] == [k.pfn_to_nid(k.page_at(p, a + i * PAGE_SIZE)) for i in range(2)]
    assert b"y" == k.read_user(p, a + PAGE_SIZE, 1)
    try:
        k.move_pages(p, 0, [a], [0])
        raise AssertionError("move_pages to a node outside the cpuset succeeded")
    except OSError as e:
        assert errno.EACCES == e.errno
    validate(k)


def test_changing_mems_moves_the_members() -> None:
    """6.1: a cpuset's mems changed from 1 to 0 moves its member's pages back to node 0;
    an unknown pid is ESRCH."""
    b = ModelBackend(SMALL, "6.1")
    k = b.k
    p = b.start()
    a = k.mmap(p, PAGE_SIZE)
    k.write_user(p, a, b"x")
    b.write_file(p, f"{ROOT}/cgroup.subtree_control", "+cpuset")
    b.mkdir(p, f"{ROOT}/lim")
    b.write_file(p, f"{ROOT}/lim/cpuset.mems", "1")
    b.write_file(p, f"{ROOT}/lim/cgroup.procs", str(p.pid))
    assert 1 == k.pfn_to_nid(k.page_at(p, a))

    assert 0 == b.write_file(p, f"{ROOT}/lim/cpuset.mems", "0")
    assert 0 == k.pfn_to_nid(k.page_at(p, a))
    assert frozenset({0}) == p.mems_allowed
    assert -errno.ESRCH == b.write_file(p, f"{ROOT}/lim/cgroup.procs", "99999")
    validate(k)


def test_no_cgroup_v2_in_2627() -> None:
    """2.6.27 has no cgroup v2 at /sys/fs/cgroup: the first write fails with ENOENT, as does
    mkdir."""
    b = ModelBackend(SMALL, "2.6.27")
    p = b.start()

    assert -errno.ENOENT == b.write_file(p, f"{ROOT}/cgroup.subtree_control", "+cpuset")
    assert -errno.ENOENT == b.mkdir(p, f"{ROOT}/lim")
