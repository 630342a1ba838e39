"""migrate_pages(2) where Linux 6.1 differs from 2.6.27 (oracle README item 9, SPEC §8):
the mask rules with MAX_NUMNODES 1024, `new` cut to the caller's cpuset, the ptrace
permission rule and its place before the mm lookup, and the pairing that skips sources which
are also destinations when the masks differ in weight.  Each test states both releases'
answers, worked out from the two kernels' mm/mempolicy.c."""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest

from pagemig import Kernel, Topology
from pagemig.kernel import UserArrays
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.ptrace import (
    PTRACE_MODE_READ_FSCREDS,
    PTRACE_MODE_READ_REALCREDS,
    ptrace_may_access,
)
from pagemig.sched import CAP_SYS_NICE, CAP_SYS_PTRACE, Task
from pagemig.validate import validate

MASK_LONGS = 513  # enough for a mask of 32768 bits plus one long


@pytest.fixture
def k3_61() -> Iterator[Kernel]:
    """Three nodes with memory, Linux 6.1, validated at the end."""
    kernel = Kernel(Topology(nodes=3, mem_per_node_mb=64), "6.1")
    yield kernel
    validate(kernel)


def raw_migrate(k: Kernel, caller: Task, pid: int, maxnode: int, old: set[int] | None,
                new: set[int] | None) -> int:
    """sys_migrate_pages() with two masks of MASK_LONGS longs in the caller's memory."""
    size = MASK_LONGS * 8
    with UserArrays(k, caller, [size, size]) as (o, n):
        for ptr, nodes in ((o, old), (n, new)):
            if nodes is not None:
                k.write_user(caller, ptr, sum(1 << b for b in nodes).to_bytes(size, "little"))
        return k.sys_migrate_pages(caller, pid, maxnode, o if old is not None else 0,
                                   n if new is not None else 0)


def written(k: Kernel, task: Task, npages: int, node: int = 0) -> int:
    """``npages`` written private anonymous pages, allocated on ``node``."""
    addr = k.mmap(task, npages * PAGE_SIZE)
    saved, task.cpu = task.cpu, k.nodes[node].cpus[0]
    for i in range(npages):
        k.write_user(task, addr + i * PAGE_SIZE, b"page %d" % i)
    task.cpu = saved
    return addr


def node_of(k: Kernel, task: Task, addr: int) -> int:
    """The node of the page at ``addr``."""
    pfn = k.page_at(task, addr)
    assert pfn is not None
    return k.pfn_to_nid(pfn)


@pytest.mark.parametrize(("maxnode", "expected61", "expected2627"), [
    (0, -errno.EINVAL, -errno.EINVAL),   # maxnode - 1 wraps: more than 32768 bits
    (1, -errno.EINVAL, 0),               # no bit read: empty new (2.6.27: a no-op)
    (2, -errno.EINVAL, 0),               # only bit 0 read: new = {} once bit 1 is dropped
    (32769, 0, 0),                       # 32768 bits: the largest mask
    (32770, -errno.EINVAL, -errno.EINVAL),
])
def test_maxnode_rules(k: Kernel, k61: Kernel, maxnode: int, expected61: int,
                       expected2627: int) -> None:
    """old={0}, new={1} with each maxnode: 6.1 refuses an empty `new` with EINVAL."""
    for kernel, expected in ((k61, expected61), (k, expected2627)):
        p = kernel.spawn()
        assert expected == raw_migrate(kernel, p, 0, maxnode, {0}, {1})


def test_set_bit_at_max_numnodes_is_einval(k: Kernel, k61: Kernel) -> None:
    """A bit at 1024 is beyond 6.1's MAX_NUMNODES: EINVAL; a bit at 1023 is a node id 6.1
    knows, cut away with the cpuset, so {1, 1023} works; 2.6.27 (64 nodes) refuses 1023."""
    p61, p = k61.spawn(), k.spawn()
    a = written(k61, p61, 1)

    assert -errno.EINVAL == raw_migrate(k61, p61, 0, 2000, {0}, {1, 1024})
    assert 0 == raw_migrate(k61, p61, 0, 2000, {0}, {1, 1023})
    assert 1 == node_of(k61, p61, a)
    assert -errno.EINVAL == raw_migrate(k, p, 0, 2000, {0}, {1, 1023})


def test_new_cut_to_the_callers_cpuset(k: Kernel, k61: Kernel) -> None:
    """new={7} on a 2-node machine: 6.1 cuts it to the nodes with memory, leaving nothing:
    EINVAL; {1,7} moves to node 1.  2.6.27 refuses both (7 has no memory: EINVAL)."""
    p61, p = k61.spawn(), k.spawn()
    a = written(k61, p61, 1)

    assert -errno.EINVAL == raw_migrate(k61, p61, 0, 65, {0}, {7})
    assert 0 == raw_migrate(k61, p61, 0, 65, {0}, {1, 7})
    assert 1 == node_of(k61, p61, a)
    assert -errno.EINVAL == raw_migrate(k, p, 0, 65, {0}, {1, 7})


def test_new_outside_the_targets_cpuset_without_cap_sys_nice_is_eperm(k61: Kernel) -> None:
    """Without CAP_SYS_NICE a `new` with a node outside the target's cpuset is EPERM, before
    the cut that would have made it EINVAL."""
    p = k61.spawn()
    p.cap_effective = p.cap_effective - {CAP_SYS_NICE}

    assert -errno.EPERM == raw_migrate(k61, p, 0, 65, {0}, {7})


def test_null_masks(k: Kernel, k61: Kernel) -> None:
    """old=NULL is a no-op returning 0 in both; new=NULL is EINVAL in 6.1 (empty after the
    cut) and a no-op in 2.6.27."""
    for kernel, new_null in ((k61, -errno.EINVAL), (k, 0)):
        p = kernel.spawn()
        a = written(kernel, p, 1)
        assert 0 == raw_migrate(kernel, p, 0, 65, None, {1})
        assert new_null == raw_migrate(kernel, p, 0, 65, {0}, None)
        assert 0 == node_of(kernel, p, a)


def test_sources_that_are_destinations_are_skipped_when_weights_differ(k3_61: Kernel) -> None:
    """6.1, from {0,1,2} to {1,2}: 1 and 2 are destinations, so only node 0 moves (to 1);
    the pages on 1 and 2 are not copied (2.6.27 moves 2->1->2 and 1->2)."""
    k = k3_61
    p = k.spawn()
    a0, a1, a2 = written(k, p, 1, 0), written(k, p, 1, 1), written(k, p, 1, 2)
    log = k.start_trace()

    assert 0 == k.migrate_pages(p, 0, {0, 1, 2}, {1, 2})

    assert [(0, 1)] == [(f["source"], f["dest"]) for e, f in log if e == "mm_migrate_to_node"]
    assert [1, 1, 2] == [node_of(k, p, a) for a in (a0, a1, a2)]


def test_equal_weights_move_every_source(k3_61: Kernel) -> None:
    """6.1, from {0,1} to {1,2}: equal weights, so nothing is skipped: (1,2), then (0,1)."""
    k = k3_61
    p = k.spawn()
    a0, a1 = written(k, p, 1, 0), written(k, p, 1, 1)
    log = k.start_trace()

    assert 0 == k.migrate_pages(p, 0, {0, 1}, {1, 2})

    assert [(1, 2), (0, 1)] == [(f["source"], f["dest"]) for e, f in log
                                if e == "mm_migrate_to_node"]
    assert [1, 2] == [node_of(k, p, a0), node_of(k, p, a1)]


# == permission: ptrace_may_access() in 6.1, the uid rule in 2.6.27 ==

def unprivileged(task: Task, uid: int) -> None:
    """``task`` becomes ``uid`` (and gid) with no capabilities."""
    task.uid = task.euid = task.suid = task.gid = uid
    task.cap_effective = task.cap_permitted = frozenset()


def test_ptrace_rule_wants_the_targets_capabilities_in_the_callers(k: Kernel,
                                                                   k61: Kernel) -> None:
    """Caller and target both uid 7; the target still holds capabilities the caller lacks:
    6.1 refuses (EPERM), 2.6.27's uid rule allows; without them both allow."""
    for kernel, expected in ((k61, -errno.EPERM), (k, 0)):
        caller, target = kernel.spawn(), kernel.spawn("target")
        unprivileged(caller, 7)
        target.uid = target.euid = target.suid = target.gid = 7
        assert expected == raw_migrate(kernel, caller, target.pid, 65, {0}, {1})
        target.cap_permitted = target.cap_effective = frozenset()
        assert 0 == raw_migrate(kernel, caller, target.pid, 65, {0}, {1})


def test_zombie_of_another_user_eperm_in_61_einval_in_2627(k: Kernel, k61: Kernel) -> None:
    """6.1 checks permission before it looks for the mm: a root zombie is EPERM for an
    unprivileged caller; 2.6.27 looks for the mm first: EINVAL."""
    for kernel, expected in ((k61, -errno.EPERM), (k, -errno.EINVAL)):
        caller, victim = kernel.spawn(), kernel.spawn("victim")
        kernel.exit(victim)
        unprivileged(caller, 7)
        assert expected == raw_migrate(kernel, caller, victim.pid, 65, {0}, {1})


def test_ptrace_may_access_rules(k61: Kernel) -> None:
    """Itself always; same ids and a subset of capabilities; CAP_SYS_PTRACE overrides ids
    and capabilities; one of REALCREDS / FSCREDS must be given."""
    a, b = k61.spawn(), k61.spawn("b")
    unprivileged(a, 7)
    unprivileged(b, 8)

    assert ptrace_may_access(a, a, PTRACE_MODE_READ_REALCREDS)
    assert not ptrace_may_access(a, b, PTRACE_MODE_READ_REALCREDS)
    b.uid = b.euid = b.suid = b.gid = 7
    assert ptrace_may_access(a, b, PTRACE_MODE_READ_REALCREDS)
    b.euid = 0
    assert not ptrace_may_access(a, b, PTRACE_MODE_READ_FSCREDS)
    a.cap_effective = a.cap_permitted = frozenset({CAP_SYS_PTRACE})
    b.cap_permitted = frozenset({CAP_SYS_NICE})
    assert ptrace_may_access(a, b, PTRACE_MODE_READ_REALCREDS)
    assert not ptrace_may_access(a, b, 0x01)
