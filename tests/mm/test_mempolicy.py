"""The mempolicy.c callers of migration on the model, at the API level (Linux 2.6.27).

SPEC §2.26, §3.4 and §4.3 (2.6.27 column), quirks Q7, Q8, Q13 and Q16 (SPEC §7), in the
order of the kernel's code:

- ``get_nodes()``: every rule for ``maxnode`` and for the user longs beyond the kernel's
  64-node mask, seen through migrate_pages(2), set_mempolicy(2) and mbind(2);
- ``sys_migrate_pages()``: its checks in order (masks, pid, mm, uid rule, cpuset,
  N_HIGH_MEMORY, LSM), empty masks, CAP_SYS_NICE choosing MPOL_MF_MOVE_ALL, the return
  value, and ``do_migrate_pages()``'s pairing of nodes (``mm_migrate_to_node`` events), with
  its wrap-around when |to| < |from|;
- ``sys_mbind()`` / ``do_mbind()``: flag and mode checks, MOVE / MOVE_ALL / STRICT, the raw
  user mask selecting the pages, ``check_range()``'s hole rules and the page leak of Q7;
- ``sys_set_mempolicy()`` and the node later faults get;
- ``migrate_vmas()`` reached through migrate_pages(2), with ``vm_ops->migrate`` hooks.

Masks are placed in the calling task's memory, each ending at a PROT_NONE guard page
(:class:`pagemig.kernel.UserArrays`), and calls run as that task (``k.as_task``).
Expected values are worked out from SPEC and mm/mempolicy.c of 2.6.27, not from the model.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import pytest

from pagemig.kernel import Kernel, Topology, UserArrays
from pagemig.mm.mempolicy import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_MAX,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
    Mempolicy,
    sys_mbind,
    sys_migrate_pages,
    sys_set_mempolicy,
)
from pagemig.mm.mm_types import PAGE_SHIFT, PAGE_SIZE, VM_IO, VmArea, VmOps
from pagemig.mm.mmap import MAP_ANONYMOUS, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE
from pagemig.mm.page_alloc import (
    GFP_HIGHUSER_MOVABLE,
    GFP_THISNODE,
    __alloc_pages,
    alloc_pages_node,
    node_zonelist,
)
from pagemig.mm.swap import put_page
from pagemig.sched import CAP_SYS_NICE, Task
from pagemig.validate import validate

UNSET = -99999
ULONG_MAX = (1 << 64) - 1
KERNEL_ADDR = 0xFFFF888000100000  # the direct map
NO_SUCH_PID = 99999
KTHREADD_PID = 2
MAX_NODE_BITS = PAGE_SIZE * 8  # get_nodes(): maxnode - 1 may be at most 32768
EBUSY = -errno.EBUSY
Nodes = Iterable[int] | bytes | None


# -- machines --

def _kernel(topology: Topology) -> Iterator[Kernel]:
    kernel = Kernel(topology)
    yield kernel
    validate(kernel)


@pytest.fixture
def k3() -> Iterator[Kernel]:
    """Three nodes with memory (64 MiB each), validated at the end of the test."""
    yield from _kernel(Topology(nodes=3, mem_per_node_mb=64))


@pytest.fixture
def kml() -> Iterator[Kernel]:
    """Nodes 0 and 1 with memory and node 2 with a CPU and no memory; validated."""
    yield from _kernel(Topology(nodes=2, mem_per_node_mb=64, memless_nodes=1))


@pytest.fixture
def buf(k: Kernel, proc: Task) -> Iterator[int]:
    """A 64-byte mask array in ``proc``'s memory, placed before the test makes any hole."""
    with UserArrays(k, proc, [64]) as (ptr,):
        yield ptr


@pytest.fixture
def other(k: Kernel) -> Task:
    """A second probe-like process (same uid as ``proc``: root)."""
    return k.spawn("other")


# -- helpers --

def anon(k: Kernel, task: Task, npages: int, node: int = 0, shared: bool = False) -> int:
    """An anonymous mapping whose pages are written from a CPU of ``node`` (so they are
    allocated there); page i holds bytes i + 1."""
    flags = MAP_SHARED | MAP_ANONYMOUS if shared else None
    addr = k.mmap(task, npages * PAGE_SIZE) if flags is None else \
        k.mmap(task, npages * PAGE_SIZE, PROT_READ | PROT_WRITE, flags)
    saved, task.cpu = task.cpu, k.nodes[node].cpus[0]
    try:
        for i in range(npages):
            k.write_user(task, addr + i * PAGE_SIZE, bytes([i + 1]) * 16)
    finally:
        task.cpu = saved
    return addr


def pages(addr: int, npages: int) -> list[int]:
    """The addresses of ``npages`` pages from ``addr``."""
    return [addr + i * PAGE_SIZE for i in range(npages)]


def nid_at(k: Kernel, task: Task, addr: int) -> int | None:
    """The node of the page mapped at ``addr`` in ``task``, or None."""
    pfn = k.page_at(task, addr)
    return None if pfn is None else k.pfn_to_nid(pfn)


def nids(k: Kernel, task: Task, addrs: list[int]) -> list[int | None]:
    """The node of each page."""
    return [nid_at(k, task, a) for a in addrs]


def intact(k: Kernel, task: Task, addr: int, npages: int) -> bool:
    """Every page of an :func:`anon` mapping still holds what it was written with."""
    return all(k.read_user(task, addr + i * PAGE_SIZE, 16) == bytes([i + 1]) * 16
               for i in range(npages))


def mask(nodes: Nodes, nbytes: int = 8) -> bytes:
    """A user node mask of ``nbytes`` bytes (whole longs) with the bits of ``nodes`` set."""
    if isinstance(nodes, bytes):
        return nodes.ljust(nbytes, b"\0")
    word = sum(1 << n for n in nodes or ())
    return word.to_bytes(nbytes, "little")


def migrate(k: Kernel, caller: Task, old: Nodes, new: Nodes, pid: int = 0,
            maxnode: int = 65, nbytes: int = 8, old_ptr: int | None = None,
            new_ptr: int | None = None) -> int:
    """sys_migrate_pages() made by ``caller``; the kernel's return value.

    Each mask is an ``nbytes`` array ending at a guard page; None passes NULL.  ``old_ptr``
    / ``new_ptr`` replace the pointer passed (the array is still set up).
    """
    with UserArrays(k, caller, [nbytes, nbytes]) as (o, n):
        ptrs = []
        for ptr, nodes, override in ((o, old, old_ptr), (n, new, new_ptr)):
            if nodes is not None:
                k.write_user(caller, ptr, mask(nodes, nbytes))
            ptrs.append(override if override is not None else ptr if nodes is not None else 0)
        with k.as_task(caller):
            return int(k.run(sys_migrate_pages(k, pid, maxnode, ptrs[0], ptrs[1])))


def mbind(k: Kernel, caller: Task, start: int, length: int, mode: int, nodes: Nodes,
          flags: int, maxnode: int = 65, nbytes: int = 8, ptr: int | None = None,
          buf: int | None = None) -> int:
    """sys_mbind() made by ``caller``; None passes a NULL mask.

    The mask goes into a fresh array ending at a guard page, or into ``buf`` when given
    (tests that make holes place it first, so that no argument array fills a hole).
    """
    if buf is not None:
        if nodes is not None:
            k.write_user(caller, buf, mask(nodes, nbytes))
        return _mbind(k, caller, start, length, mode,
                      ptr if ptr is not None else buf if nodes is not None else 0, maxnode, flags)
    with UserArrays(k, caller, [nbytes]) as (m,):
        if nodes is not None:
            k.write_user(caller, m, mask(nodes, nbytes))
        nmask = ptr if ptr is not None else m if nodes is not None else 0
        return _mbind(k, caller, start, length, mode, nmask, maxnode, flags)


def _mbind(k: Kernel, caller: Task, start: int, length: int, mode: int, nmask: int,
           maxnode: int, flags: int) -> int:
    with k.as_task(caller):
        return int(k.run(sys_mbind(k, start, length, mode, nmask, maxnode, flags)))


def set_mempolicy(k: Kernel, caller: Task, mode: int, nodes: Nodes, maxnode: int = 65,
                  nbytes: int = 8, ptr: int | None = None) -> int:
    """sys_set_mempolicy() made by ``caller``; None passes a NULL mask."""
    with UserArrays(k, caller, [nbytes]) as (m,):
        if nodes is not None:
            k.write_user(caller, m, mask(nodes, nbytes))
        nmask = ptr if ptr is not None else m if nodes is not None else 0
        with k.as_task(caller):
            return int(sys_set_mempolicy(k, mode, nmask, maxnode))


def move_pages(k: Kernel, caller: Task, addrs: list[int],
               nodes: list[int]) -> tuple[int, list[int]]:
    """move_pages(2) of the caller's own pages; (raw result, statuses preset to UNSET)."""
    n = len(addrs)
    with UserArrays(k, caller, [8 * n, 4 * n, 4 * n]) as (p_ptr, n_ptr, s_ptr):
        k.write_user(caller, p_ptr, np.asarray(addrs, "<u8").tobytes())
        k.write_user(caller, n_ptr, np.asarray(nodes, "<i4").tobytes())
        k.write_user(caller, s_ptr, np.full(n, UNSET, "<i4").tobytes())
        ret = k.sys_move_pages(caller, 0, n, p_ptr, n_ptr, s_ptr, MPOL_MF_MOVE)
        status = np.frombuffer(k.read_user(caller, s_ptr, 4 * n), "<i4").tolist()
    return ret, [int(s) for s in status]


def pairs(log: list[tuple[str, dict]]) -> list[tuple[int, int]]:  # type: ignore[type-arg]
    """The (source, dest) pairs do_migrate_pages() handed to migrate_to_node(), in order."""
    return [(f["source"], f["dest"]) for e, f in log if e == "mm_migrate_to_node"]


def journey(k: Kernel, log: list[tuple[str, dict]], pfn: int) -> list[int]:  # type: ignore[type-arg]
    """The nodes a page's contents went through: its node, then the node of each copy."""
    nodes = [k.pfn_to_nid(pfn)]
    for event, f in log:
        if event == "mm_migrate_copy" and f["old"] == pfn:
            pfn = f["new"]
            nodes.append(k.pfn_to_nid(pfn))
    return nodes


def recorder(calls: list[Any], result: int) -> Callable[..., int]:
    """A hook that records its first argument and returns ``result``."""
    def hook(first: Any, *rest: Any) -> int:
        calls.append(first)
        return result
    return hook


def pfn_at(k: Kernel, task: Task, addr: int) -> int:
    """The pfn mapped at ``addr`` (which must be populated)."""
    pfn = k.page_at(task, addr)
    assert pfn is not None
    return pfn


def vma_at(task: Task, addr: int) -> VmArea:
    """The vma containing ``addr``."""
    assert task.mm is not None
    vma = task.mm.vma_containing(addr)
    assert vma is not None
    return vma


def no_nice(task: Task) -> None:
    """Remove CAP_SYS_NICE from the task's effective set."""
    task.cap_effective = task.cap_effective - {CAP_SYS_NICE}


def creds(task: Task, uid: int, euid: int, suid: int) -> None:
    """Set the task's uid, euid and suid."""
    task.uid, task.euid, task.suid = uid, euid, suid


def bad_page(task: Task) -> int:
    """The probe's PROT_NONE page: any access to it faults."""
    assert task.mm is not None
    return int(task.mm.layout.bad_page)  # type: ignore[attr-defined]


# == get_nodes() (SPEC §2.26 get_nodes, §4.3) ==

def test_get_nodes_maxnode_0_with_a_pointer_is_einval(k: Kernel, proc: Task) -> None:
    """maxnode = 0: maxnode - 1 wraps to ULONG_MAX > 32768, -EINVAL for whichever mask
    has a pointer; with both pointers NULL nothing is read and the call is a no-op."""
    a = anon(k, proc, 1)

    assert -errno.EINVAL == migrate(k, proc, {0}, {1}, maxnode=0)
    assert -errno.EINVAL == migrate(k, proc, None, {1}, maxnode=0)
    assert -errno.EINVAL == migrate(k, proc, {0}, None, maxnode=0)
    assert 0 == migrate(k, proc, None, None, maxnode=0)
    assert 0 == nid_at(k, proc, a)


def test_get_nodes_maxnode_1_reads_nothing(k: Kernel, proc: Task) -> None:
    """maxnode = 1 gives two empty masks without reading them: even pointers to a PROT_NONE
    page are accepted, and nothing moves."""
    a = anon(k, proc, 1)
    bad = bad_page(proc)
    log = k.start_trace()

    assert 0 == migrate(k, proc, {0}, {1}, maxnode=1, old_ptr=bad, new_ptr=bad)
    assert 0 == migrate(k, proc, {0}, {1}, maxnode=1)
    assert 0 == nid_at(k, proc, a)
    assert [] == pairs(log)


@pytest.mark.parametrize("which", ["old", "new"])
@pytest.mark.parametrize("maxnode", [65, MAX_NODE_BITS + 1])
def test_get_nodes_null_pointer_is_an_empty_mask(k: Kernel, proc: Task, which: str,
                                                  maxnode: int) -> None:
    """A NULL mask is empty: with old NULL nothing moves, with new NULL every node maps to
    itself.  The NULL test comes before the limit: two NULL masks with any maxnode give 0."""
    a = anon(k, proc, 1)
    old, new = (None, {1}) if which == "old" else ({0}, None)

    assert 0 == migrate(k, proc, old, new, maxnode=maxnode, nbytes=MAX_NODE_BITS // 8)
    assert 0 == migrate(k, proc, None, None, maxnode=1 << 40)
    assert 0 == nid_at(k, proc, a)


def test_get_nodes_drops_the_bit_numbered_maxnode_minus_1(k: Kernel, proc: Task) -> None:
    """Only bits below maxnode - 1 are read: maxnode = 2 reads node 0 alone, so new = {1}
    reads as empty and nothing moves; maxnode = 3 reads node 1 and the page moves."""
    a = anon(k, proc, 2)

    assert 0 == migrate(k, proc, {0}, {1}, maxnode=2)
    assert [0, 0] == nids(k, proc, pages(a, 2))
    assert 0 == migrate(k, proc, {0}, {1}, maxnode=3)
    assert [1, 1] == nids(k, proc, pages(a, 2))


@pytest.mark.parametrize(("maxnode", "nodes"), [
    (2, frozenset({0})), (3, frozenset({0, 1})), (65, frozenset({0, 1}))])
def test_get_nodes_kept_bits_seen_in_the_task_policy(k: Kernel, proc: Task, maxnode: int,
                                                     nodes: frozenset[int]) -> None:
    """set_mempolicy(MPOL_BIND, {0, 1}, maxnode) stores exactly the bits get_nodes() kept."""
    assert 0 == set_mempolicy(k, proc, MPOL_BIND, {0, 1}, maxnode=maxnode)
    assert Mempolicy(MPOL_BIND, nodes) == proc.mempolicy


def test_get_nodes_dropped_bit_can_leave_an_empty_mask(k: Kernel, proc: Task) -> None:
    """The numactl off-by-one: MPOL_BIND {1} with maxnode = 2 reads an empty mask, which
    MPOL_BIND refuses (-EINVAL); maxnode = 3 works."""
    assert -errno.EINVAL == set_mempolicy(k, proc, MPOL_BIND, {1}, maxnode=2)
    assert proc.mempolicy is None
    assert 0 == set_mempolicy(k, proc, MPOL_BIND, {1}, maxnode=3)
    assert Mempolicy(MPOL_BIND, frozenset({1})) == proc.mempolicy


def test_get_nodes_limit_is_32768_bits(k: Kernel, proc: Task) -> None:
    """maxnode - 1 = 32768 (one page of bits) is accepted, its 511 extra longs read and
    found zero; one more is -EINVAL."""
    a = anon(k, proc, 1)
    nbytes = MAX_NODE_BITS // 8

    assert -errno.EINVAL == migrate(k, proc, {0}, {1}, maxnode=MAX_NODE_BITS + 2,
                                    nbytes=nbytes)
    assert 0 == nid_at(k, proc, a)
    assert 0 == migrate(k, proc, {0}, {1}, maxnode=MAX_NODE_BITS + 1, nbytes=nbytes)
    assert 1 == nid_at(k, proc, a)


def test_get_nodes_extra_long_is_read_and_may_fault(k: Kernel, proc: Task) -> None:
    """A one-long mask ending at a guard page: maxnode = 65 reads only that long; maxnode =
    66 needs a second long (bit 64), which is read and faults: -EFAULT."""
    a = anon(k, proc, 1)

    assert -errno.EFAULT == migrate(k, proc, {0}, {1}, maxnode=66)
    assert 0 == nid_at(k, proc, a)
    assert 0 == migrate(k, proc, {0}, {1}, maxnode=65)
    assert 1 == nid_at(k, proc, a)


@pytest.mark.parametrize(("bit", "maxnode", "nbytes", "expected"), [
    (64 + 3, 129, 16, -errno.EINVAL),   # kept bit of the last extra long
    (64 + 3, 69, 16, -errno.EINVAL),    # m = 68: bits 64..67 kept
    (64 + 3, 68, 16, 0),                # m = 67: bit 67 is dropped
    (64 + 63, 128, 16, 0),              # m = 127: bit 127 is dropped
    (64 + 63, 193, 24, -errno.EINVAL),  # an extra long before the last: any bit counts
    (128 + 5, 193, 24, -errno.EINVAL),
], ids=["last-long", "kept-edge", "dropped-edge", "dropped-top", "middle-long", "third-long"])
def test_get_nodes_set_bit_in_an_extra_long(k: Kernel, proc: Task, bit: int, maxnode: int,
                                            nbytes: int, expected: int) -> None:
    """A set bit beyond MAX_NUMNODES (64) among the kept bits of an extra user long: -EINVAL
    for the call (nothing moves); a bit at or above maxnode - 1 is ignored."""
    a = anon(k, proc, 1)
    new = (2 | 1 << bit).to_bytes(nbytes, "little")  # node 1 and the extra bit

    assert expected == migrate(k, proc, {0}, new, maxnode=maxnode, nbytes=nbytes)
    assert (1 if expected == 0 else 0) == nid_at(k, proc, a)


@pytest.mark.parametrize(("extra", "expected"), [(1 << 3, -errno.EINVAL), (0, -errno.EFAULT)])
def test_get_nodes_extra_longs_are_read_before_the_first(k: Kernel, proc: Task, extra: int,
                                                         expected: int) -> None:
    """A two-long mask whose first long lies in a PROT_NONE page and whose second long is
    readable: the extra long is checked first (a kept set bit: -EINVAL), and only then is
    the first long copied (-EFAULT)."""
    a = anon(k, proc, 1)
    base = k.mmap(proc, 2 * PAGE_SIZE)
    k.write_user(proc, base + PAGE_SIZE, extra.to_bytes(8, "little"))
    k.mprotect(proc, base, PAGE_SIZE, PROT_NONE)
    straddling = base + PAGE_SIZE - 8
    try:
        assert expected == migrate(k, proc, {0}, {1}, maxnode=129, nbytes=16,
                                   new_ptr=straddling)
    finally:
        k.munmap(proc, base, 2 * PAGE_SIZE)
    assert 0 == nid_at(k, proc, a)


def test_get_nodes_old_is_read_before_new(k: Kernel, proc: Task) -> None:
    """The first failing mask decides: old faulting and new invalid gives -EFAULT; old
    invalid and new faulting gives -EINVAL."""
    invalid = (1 << 70).to_bytes(16, "little")
    bad = bad_page(proc)

    assert -errno.EFAULT == migrate(k, proc, {0}, invalid, maxnode=129, nbytes=16,
                                    old_ptr=bad)
    assert -errno.EINVAL == migrate(k, proc, invalid, {1}, maxnode=129, nbytes=16,
                                    new_ptr=bad)


@pytest.mark.parametrize("where", ["prot_none", "kernel", "minus_one", "unmapped"])
def test_get_nodes_unreadable_mask_is_efault(k: Kernel, proc: Task, where: str) -> None:
    """LTP migrate_pages01 test_invalid_mem: masks at -1, a PROT_NONE page, an unmapped page
    or a kernel address: -EFAULT."""
    a = anon(k, proc, 1)
    if where == "unmapped":
        ptr = k.mmap(proc, PAGE_SIZE)
        k.munmap(proc, ptr, PAGE_SIZE)
    else:
        ptr = {"prot_none": bad_page(proc), "kernel": KERNEL_ADDR,
               "minus_one": ULONG_MAX}[where]

    assert -errno.EFAULT == migrate(k, proc, {0}, {1}, old_ptr=ptr, new_ptr=ptr)
    assert -errno.EFAULT == migrate(k, proc, {0}, {1}, new_ptr=ptr)
    assert 0 == nid_at(k, proc, a)


def test_get_nodes_rules_apply_to_mbind_and_set_mempolicy(k: Kernel, proc: Task) -> None:
    """mbind(2) and set_mempolicy(2) read their mask with the same get_nodes()."""
    a = anon(k, proc, 1)
    bad = bad_page(proc)

    assert -errno.EINVAL == mbind(k, proc, a, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE,
                                  maxnode=0)
    assert -errno.EFAULT == mbind(k, proc, a, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE,
                                  maxnode=66)
    assert -errno.EFAULT == mbind(k, proc, a, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE,
                                  ptr=bad)
    assert -errno.EINVAL == set_mempolicy(k, proc, MPOL_BIND, {1},
                                          maxnode=MAX_NODE_BITS + 2)
    assert -errno.EINVAL == set_mempolicy(k, proc, MPOL_BIND, (1 << 65).to_bytes(16, "little"),
                                          maxnode=129, nbytes=16)
    assert 0 == nid_at(k, proc, a)
    assert proc.mempolicy is None


# == sys_migrate_pages(): the order of the checks (SPEC §2.26, §4.3) ==

def test_esrch_unknown_pid_after_the_masks(k: Kernel, proc: Task) -> None:
    """No task with that pid: -ESRCH (LTP: pid -1 and pid_max + 1); the masks are read
    first, so a faulting mask wins."""
    assert -errno.ESRCH == migrate(k, proc, {0}, {0}, pid=NO_SUCH_PID)
    assert -errno.ESRCH == migrate(k, proc, {0}, {0}, pid=-1)
    assert -errno.EFAULT == migrate(k, proc, {0}, {0}, pid=NO_SUCH_PID, old_ptr=bad_page(proc))
    assert -errno.EINVAL == migrate(k, proc, {0}, {0}, pid=NO_SUCH_PID, maxnode=0)


def test_esrch_reaped_child(k: Kernel, proc: Task) -> None:
    """A reaped child's pid no longer exists: -ESRCH."""
    child = k.fork(proc)
    k.exit(child)
    k.reap(child)

    assert -errno.ESRCH == migrate(k, proc, {0}, {1}, pid=child.pid)


def test_einval_no_mm_before_the_uid_rule(k: Kernel, proc: Task) -> None:
    """A zombie and kthreadd have no mm: -EINVAL, even for a caller the uid rule refuses."""
    child = k.fork(proc)
    k.exit(child)
    no_nice(proc)
    creds(proc, 1000, 1000, 1000)

    assert -errno.EINVAL == migrate(k, proc, {0}, {1}, pid=child.pid)
    assert -errno.EINVAL == migrate(k, proc, {0}, {1}, pid=KTHREADD_PID)


def test_eperm_uid_rule_before_the_node_checks_and_lsm(k: Kernel, proc: Task,
                                                       other: Task) -> None:
    """No uid pair matches and no CAP_SYS_NICE: -EPERM (LTP test_invalid_perm), before the
    N_HIGH_MEMORY check and the LSM hook; nothing moves."""
    a = anon(k, other, 1)
    creds(proc, 1, 2, 3)
    creds(other, 3, 2, 4)  # target euid = caller euid and caller suid = target uid: no match
    no_nice(proc)
    called: list[Task] = []
    k.security.task_movememory = recorder(called, -errno.EACCES)

    assert -errno.EPERM == migrate(k, proc, {0}, {1}, pid=other.pid)
    assert -errno.EPERM == migrate(k, proc, {0}, {7}, pid=other.pid)
    assert -errno.EPERM == migrate(k, proc, None, None, pid=other.pid)
    assert [] == called
    assert 0 == nid_at(k, other, a)


@pytest.mark.parametrize(("caller", "target"), [
    ((1, 2), (3, 2)),  # caller euid == target suid
    ((1, 2), (2, 3)),  # caller euid == target uid
    ((1, 2), (3, 1)),  # caller uid == target suid
    ((1, 2), (1, 3)),  # caller uid == target uid
], ids=["euid=suid", "euid=uid", "uid=suid", "uid=uid"])
def test_uid_rule_each_pair_allows(k: Kernel, proc: Task, other: Task,
                                   caller: tuple[int, int], target: tuple[int, int]) -> None:
    """Any one of the four (caller, target) uid pairs lets a caller without CAP_SYS_NICE
    move another process's unshared pages (LTP migrate_pages02: same uid)."""
    a = anon(k, other, 1)
    creds(proc, caller[0], caller[1], 9)
    creds(other, target[0], 8, target[1])
    no_nice(proc)

    assert 0 == migrate(k, proc, {0}, {1}, pid=other.pid)
    assert 1 == nid_at(k, other, a)


def test_cap_sys_nice_overrides_the_uid_rule(k: Kernel, proc: Task, other: Task) -> None:
    """With CAP_SYS_NICE the uids do not matter (LTP migrate_pages02, privileged)."""
    a = anon(k, other, 1)
    creds(proc, 1, 2, 3)
    creds(other, 4, 5, 6)

    assert 0 == migrate(k, proc, {0}, {1}, pid=other.pid)
    assert 1 == nid_at(k, other, a)


def test_eperm_new_outside_the_targets_cpuset(k: Kernel, proc: Task, other: Task) -> None:
    """`new` not within the *target's* cpuset and no CAP_SYS_NICE: -EPERM; CAP_SYS_NICE
    skips the check."""
    a = anon(k, other, 1)
    other.mems_allowed = frozenset({0})
    no_nice(proc)

    assert -errno.EPERM == migrate(k, proc, {0}, {1}, pid=other.pid)
    assert 0 == nid_at(k, other, a)
    proc.cap_effective = proc.cap_effective | {CAP_SYS_NICE}
    assert 0 == migrate(k, proc, {0}, {1}, pid=other.pid)
    assert 1 == nid_at(k, other, a)


def test_the_callers_cpuset_is_not_checked(k: Kernel, proc: Task, other: Task) -> None:
    """Only the target's cpuset is compared with `new`: a caller restricted to node 0 and
    without CAP_SYS_NICE passes the checks for new = {1} (return 0)."""
    anon(k, other, 1)
    proc.mems_allowed = frozenset({0})
    no_nice(proc)

    assert 0 == migrate(k, proc, {0}, {1}, pid=other.pid)


@pytest.mark.parametrize("node", [2, 5])
def test_memoryless_or_absent_node_eperm_then_einval(kml: Kernel, node: int) -> None:
    """A node without memory in `new` is outside every cpuset: -EPERM without CAP_SYS_NICE;
    with it the N_HIGH_MEMORY check gives -EINVAL (LTP test_invalid_nodes); the LSM hook
    is not reached."""
    k = kml
    proc = k.spawn()
    a = anon(k, proc, 1)
    called: list[Task] = []
    k.security.task_movememory = recorder(called, 0)

    assert -errno.EINVAL == migrate(k, proc, {0}, {1, node})
    no_nice(proc)
    assert -errno.EPERM == migrate(k, proc, {0}, {1, node})
    assert [] == called
    assert 0 == nid_at(k, proc, a)


def test_old_is_not_checked(kml: Kernel) -> None:
    """`old` may name memoryless or absent nodes: no error, nothing to move from them."""
    k = kml
    proc = k.spawn()
    a = anon(k, proc, 1)
    no_nice(proc)

    assert 0 == migrate(k, proc, {2, 40}, {1})
    assert 0 == nid_at(k, proc, a)


@pytest.mark.parametrize("err", [-errno.EPERM, -errno.EACCES, -errno.ENOMEM])
def test_lsm_hook_result_returned_as_is(k: Kernel, proc: Task, other: Task, err: int) -> None:
    """security_task_movememory(target), after every other check: its value is returned
    and nothing moves."""
    a = anon(k, other, 1)
    seen: list[Task] = []
    k.security.task_movememory = recorder(seen, err)

    assert err == migrate(k, proc, {0}, {1}, pid=other.pid)
    assert [other] == seen
    assert 0 == nid_at(k, other, a)


def test_pid_0_and_own_pid_are_the_caller(k: Kernel, proc: Task) -> None:
    """pid 0 is the caller; so is its own pid."""
    a = anon(k, proc, 1)

    assert 0 == migrate(k, proc, {0}, {1}, pid=0)
    assert 1 == nid_at(k, proc, a)
    assert 0 == migrate(k, proc, {1}, {0}, pid=proc.pid)
    assert 0 == nid_at(k, proc, a)


# == empty masks: a no-op returning 0, after the pid, mm and uid checks ==

@pytest.mark.parametrize(("old", "new", "maxnode"), [
    (None, {1}, 65),       # old NULL
    ({0}, None, 65),       # new NULL: every node maps to itself
    (set(), {1}, 65),      # old without bits
    ({0}, set(), 65),      # new without bits
    ({0}, {1}, 1),         # maxnode = 1
    ({0}, {1}, 2),         # new's only bit is the dropped one
    ({1}, {1}, 65),        # nothing on the source node
    ({0, 1}, {0, 1}, 65),  # every node maps to itself
], ids=["old-null", "new-null", "old-empty", "new-empty", "maxnode-1", "bit-dropped",
        "nothing-there", "identity"])
def test_empty_or_identity_masks_move_nothing(k: Kernel, proc: Task, old: set[int] | None,
                                              new: set[int] | None, maxnode: int) -> None:
    """Empty masks are not errors: the call returns 0, nothing is copied and, except when
    there are pairs to try, no node pair is handed to migrate_to_node()."""
    a = anon(k, proc, 2)
    log = k.start_trace()

    assert 0 == migrate(k, proc, old, new, maxnode=maxnode)
    assert [0, 0] == nids(k, proc, pages(a, 2))
    assert [] == [e for e, _ in log if e == "mm_migrate_copy"]
    assert [] == pairs(log)


def test_empty_masks_still_check_pid_mm_and_uids(k: Kernel, proc: Task, other: Task) -> None:
    """With NULL masks -ESRCH, -EINVAL (no mm) and -EPERM still occur."""
    zombie = k.fork(proc)
    k.exit(zombie)

    assert -errno.ESRCH == migrate(k, proc, None, None, pid=NO_SUCH_PID)
    assert -errno.EINVAL == migrate(k, proc, None, None, pid=zombie.pid)
    creds(other, 7, 7, 7)
    no_nice(proc)
    assert -errno.EPERM == migrate(k, proc, None, None, pid=other.pid)


# == do_migrate_pages(): pairing source and destination nodes ==

def test_pairing_empties_a_node_before_filling_it(k3: Kernel) -> None:
    """from {0,1} to {1,2}: (0,1) is remembered but 1 is still a source, so (1,2) is taken
    first, then (0,1). Each page is copied once."""
    k = k3
    proc = k.spawn()
    target = k.spawn("target")
    a0, a1, a2 = anon(k, target, 2, 0), anon(k, target, 2, 1), anon(k, target, 2, 2)
    start = {a: pfn_at(k, target, a) for a in pages(a0, 2) + pages(a1, 2) + pages(a2, 2)}
    log = k.start_trace()

    assert 0 == migrate(k, proc, {0, 1}, {1, 2}, pid=target.pid)
    assert [(1, 2), (0, 1)] == pairs(log)
    assert [1, 1, 2, 2, 2, 2] == nids(k, target, pages(a0, 2) + pages(a1, 2) + pages(a2, 2))
    assert [[0, 1], [0, 1], [1, 2], [1, 2], [2], [2]] == [
        journey(k, log, start[a]) for a in pages(a0, 2) + pages(a1, 2) + pages(a2, 2)]
    assert intact(k, target, a0, 2) and intact(k, target, a1, 2)


def test_pairing_wraps_around_when_to_is_smaller(k3: Kernel) -> None:
    """from {0,1,2} to {1,2}: node_remap gives 0->1, 1->2, 2->1 (wrapped).  The pairs are
    (2,1), (1,2), (0,1), so pages starting on node 2 go 2 -> 1 -> 2 (SPEC §3.4)."""
    k = k3
    proc = k.spawn()
    target = k.spawn("target")
    a0, a1, a2 = anon(k, target, 2, 0), anon(k, target, 2, 1), anon(k, target, 2, 2)
    start = {a: pfn_at(k, target, a) for a in pages(a0, 2) + pages(a1, 2) + pages(a2, 2)}
    log = k.start_trace()

    assert 0 == migrate(k, proc, {0, 1, 2}, {1, 2}, pid=target.pid)
    assert [(2, 1), (1, 2), (0, 1)] == pairs(log)
    assert [[0, 1], [0, 1], [1, 2], [1, 2], [2, 1, 2], [2, 1, 2]] == [
        journey(k, log, start[a]) for a in pages(a0, 2) + pages(a1, 2) + pages(a2, 2)]
    assert [1, 1, 2, 2, 2, 2] == nids(k, target, pages(a0, 2) + pages(a1, 2) + pages(a2, 2))
    assert intact(k, target, a2, 2)


def test_pairing_by_rank_not_by_number(k3: Kernel) -> None:
    """The k-th node of `from` goes to the (k mod |to|)-th node of `to`: from {1} to {0,1}
    moves node 1 to node 0; from {0} to {0,1} maps 0 to itself (nothing moves); nodes not
    in `from` stay where they are."""
    k = k3
    proc = k.spawn()
    a1, a2 = anon(k, proc, 1, 1), anon(k, proc, 1, 2)
    log = k.start_trace()

    assert 0 == migrate(k, proc, {1}, {0, 1})
    assert [(1, 0)] == pairs(log)
    assert [0, 2] == [nid_at(k, proc, a1), nid_at(k, proc, a2)]
    log.clear()
    assert 0 == migrate(k, proc, {0}, {0, 1})
    assert [] == pairs(log)


def test_only_selected_pages_of_the_source_node_move(k: Kernel, proc: Task) -> None:
    """migrate_to_node() selects pages *on* the source node (no INVERT): a page on node 1
    stays when old = {0}; text, heap and stack pages on node 0 move with the mapping."""
    a0, a1 = anon(k, proc, 2, 0), anon(k, proc, 1, 1)
    assert proc.mm is not None
    stack = proc.mm.vmas[-1].vm_end - PAGE_SIZE  # the top page of the stack
    assert 0 == nid_at(k, proc, stack)

    assert 0 == migrate(k, proc, {0}, {1})
    assert [1, 1, 1] == nids(k, proc, pages(a0, 2) + [a1])
    assert 1 == nid_at(k, proc, stack)


# == CAP_SYS_NICE chooses MPOL_MF_MOVE_ALL; shared pages ==

def test_shared_pages_move_only_with_cap_sys_nice(k: Kernel, proc: Task) -> None:
    """After fork the private pages are COW-shared (mapcount 2). A caller without
    CAP_SYS_NICE gets MOVE: they are skipped silently, not counted (0), while a page written
    after fork (unshared) moves. With CAP_SYS_NICE (MOVE_ALL) the shared pages move, for
    both processes (LTP migrate_pages02 case 3)."""
    a = anon(k, proc, 3)
    child = k.fork(proc)
    fresh = anon(k, proc, 1)
    shared_pfns = [k.page_at(proc, x) for x in pages(a, 3)]
    no_nice(proc)

    assert 0 == migrate(k, proc, {0}, {1})
    assert [0, 0, 0] == nids(k, proc, pages(a, 3))
    assert 1 == nid_at(k, proc, fresh)
    assert shared_pfns == [k.page_at(child, x) for x in pages(a, 3)]

    proc.cap_effective = proc.cap_effective | {CAP_SYS_NICE}
    assert 0 == migrate(k, proc, {0}, {1})
    assert [1, 1, 1] == nids(k, proc, pages(a, 3))
    assert [1, 1, 1] == nids(k, child, pages(a, 3))
    assert [k.page_at(proc, x) for x in pages(a, 3)] == [k.page_at(child, x)
                                                         for x in pages(a, 3)]
    assert intact(k, child, a, 3)


def test_shared_anon_mapping_after_fork_with_and_without_cap(k: Kernel, proc: Task) -> None:
    """A MAP_SHARED|MAP_ANONYMOUS page touched by parent and child (mapcount 2): the child
    without CAP_SYS_NICE leaves it where it is, with it moves it."""
    s = anon(k, proc, 1, shared=True)
    child = k.fork(proc)
    k.write_user(child, s, b"\x01" * 16)
    assert 2 == int(k.pages.mapcount[k.page_at(child, s)])
    no_nice(child)

    assert 0 == migrate(k, child, {0}, {1})
    assert 0 == nid_at(k, proc, s)
    child.cap_effective = child.cap_effective | {CAP_SYS_NICE}
    assert 0 == migrate(k, child, {0}, {1})
    assert 1 == nid_at(k, proc, s)


# == the return value: pages not moved ==

def test_return_value_counts_pinned_pages(k: Kernel, proc: Task) -> None:
    """Pages with an extra reference fail in all 10 passes and are counted; the other
    pages move; the pinned pages stay, intact."""
    a = anon(k, proc, 4)
    pins = k.pin(proc, a + PAGE_SIZE, 2)
    try:
        assert 2 == migrate(k, proc, {0}, {1})
        assert [1, 0, 0, 1] == nids(k, proc, pages(a, 4))
        assert intact(k, proc, a, 4)
    finally:
        k.unpin(pins)
    assert 0 == migrate(k, proc, {0}, {1})
    assert [1, 1, 1, 1] == nids(k, proc, pages(a, 4))


def test_return_value_sums_over_node_pairs(k3: Kernel) -> None:
    """busy adds up the positive results of each migrate_to_node()."""
    k = k3
    proc = k.spawn()
    a0, a1 = anon(k, proc, 2, 0), anon(k, proc, 2, 1)
    pins = k.pin(proc, a0, 1) + k.pin(proc, a1, 2)
    log = k.start_trace()
    try:
        assert 3 == migrate(k, proc, {0, 1}, {1, 2})
        assert [(1, 2, 2), (0, 1, 1)] == [(f["source"], f["dest"], f["ret"])
                                          for e, f in log if e == "mm_migrate_to_node"]
    finally:
        k.unpin(pins)


def test_skipped_shared_pinned_page_is_not_counted(k: Kernel, proc: Task) -> None:
    """A shared page is not isolated under MOVE, so even pinned it does not count."""
    a = anon(k, proc, 1)
    k.fork(proc)
    pins = k.pin(proc, a, 1)
    no_nice(proc)
    try:
        assert 0 == migrate(k, proc, {0}, {1})
    finally:
        k.unpin(pins)


def fill(k: Kernel, nid: int, how: str) -> list[int]:
    """Allocate pages from node ``nid`` until it gives no more.

    ``low``: with GFP_THISNODE, down to its low watermark; ``min``: bound to the node (a
    nodemask, as MPOL_BIND allocates), down to its min watermark; ``all``: falling back
    to every node, down to every node's min watermark.
    """
    gfp = GFP_HIGHUSER_MOVABLE | (GFP_THISNODE if how == "low" else 0)
    nodemask = {nid} if how == "min" else None
    taken: list[int] = []
    while True:
        if how == "min":
            pfn = __alloc_pages(k, gfp, node_zonelist(k, nid), nodemask)
        else:
            pfn = alloc_pages_node(k, nid, gfp)
        if pfn is None:
            return taken
        taken.append(pfn)


def release(k: Kernel, taken: list[int]) -> None:
    """Free the pages :func:`fill` took."""
    for pfn in taken:
        put_page(k, pfn)


def test_q13_destination_full_pages_land_on_another_node(k3: Kernel) -> None:
    """Q13: new_node_page() has no GFP_THISNODE. With node 1 below its low watermark the
    pages paired 0 -> 1 are allocated on node 2 (the next node of node 1's zonelist); the
    call cannot tell and returns 0."""
    k = k3
    proc = k.spawn()
    a = anon(k, proc, 2)
    taken = fill(k, 1, "low")
    try:
        assert 0 == migrate(k, proc, {0}, {1})
        assert [2, 2] == nids(k, proc, pages(a, 2))
        assert intact(k, proc, a, 2)
    finally:
        release(k, taken)


def test_enomem_when_no_page_can_be_allocated(k: Kernel, proc: Task) -> None:
    """Every node exhausted: migrate_pages() aborts with -ENOMEM, which migrate_pages(2)
    returns; the isolated pages are put back where they were, intact."""
    a = anon(k, proc, 2)
    with UserArrays(k, proc, [8, 8]) as (o, n):
        k.write_user(proc, o, mask({0}))
        k.write_user(proc, n, mask({1}))
        taken = fill(k, 1, "all")
        try:
            with k.as_task(proc):
                assert -errno.ENOMEM == k.run(sys_migrate_pages(k, 0, 65, o, n))
        finally:
            release(k, taken)
    assert [0, 0] == nids(k, proc, pages(a, 2))
    assert intact(k, proc, a, 2)


def test_mbind_turns_enomem_into_eio_or_nothing(k: Kernel, proc: Task) -> None:
    """mbind never returns migrate_pages()' -ENOMEM: node 1 full, BIND {1} with MOVE gives
    0, with MOVE|STRICT -EIO (the policy was applied); the pages stay on node 0."""
    a = anon(k, proc, 2)
    with UserArrays(k, proc, [8]) as (m,):
        k.write_user(proc, m, mask({1}))
        taken = fill(k, 1, "min")
        try:
            assert 0 == _mbind(k, proc, a, PAGE_SIZE, MPOL_BIND, m, 65, MPOL_MF_MOVE)
            assert -errno.EIO == _mbind(k, proc, a + PAGE_SIZE, PAGE_SIZE, MPOL_BIND, m, 65,
                                        MPOL_MF_MOVE | MPOL_MF_STRICT)
        finally:
            release(k, taken)
    assert [0, 0] == nids(k, proc, pages(a, 2))
    assert Mempolicy(MPOL_BIND, frozenset({1})) == vma_at(proc, a + PAGE_SIZE).policy


# == migrate_vmas() through migrate_pages(2) (SPEC §2.25, Q8) ==

def hooked_ops(vma: VmArea, hook: Callable[..., int]) -> VmOps:
    """The vma's vm_ops with a ``migrate`` hook added (an anonymous vma gets a fault
    handler name no fault path uses here: the target does not fault during the call)."""
    ops = vma.vm_ops
    if ops is None:
        return VmOps(fault="none", migrate=hook)
    return VmOps(fault=ops.fault, migrate=hook, special_pages=ops.special_pages)


@pytest.fixture
def hooks(k: Kernel, other: Task) -> Iterator[list[tuple[int, frozenset[int], frozenset[int],
                                                          int]]]:
    """A ``vm_ops->migrate`` hook on every vma of ``other`` recording (vma index, first
    mask, second mask, flags); the vm_ops are restored afterwards."""
    assert other.mm is not None
    calls: list[tuple[int, frozenset[int], frozenset[int], int]] = []
    saved = [(v, v.vm_ops) for v in other.mm.vmas]
    vmas = list(other.mm.vmas)

    def hook(vma: VmArea, m1: frozenset[int], m2: frozenset[int], flags: int) -> int:
        calls.append((vmas.index(vma), frozenset(m1), frozenset(m2), flags))
        return 0

    for v in other.mm.vmas:
        v.vm_ops = hooked_ops(v, hook)
    yield calls
    for v, ops in saved:
        v.vm_ops = ops


@pytest.mark.parametrize("nice", [True, False])
def test_migrate_vmas_hooks_called_except_on_the_last_vma(k: Kernel, proc: Task, other: Task,
                                                          hooks: list, nice: bool) -> None:  # type: ignore[type-arg]
    """do_migrate_pages() calls migrate_vmas() first: every vma's hook but the last one's
    (Q8) is called once, with both masks and MOVE_ALL (CAP_SYS_NICE) or MOVE."""
    assert other.mm is not None
    nvmas = len(other.mm.vmas)
    if not nice:
        no_nice(proc)

    assert 0 == migrate(k, proc, {0}, {1}, pid=other.pid)
    assert list(range(nvmas - 1)) == [c[0] for c in hooks]
    flags = MPOL_MF_MOVE_ALL if nice else MPOL_MF_MOVE
    assert all({c[1], c[2]} == {frozenset({0}), frozenset({1})} and c[3] == flags
               for c in hooks)


def test_migrate_vmas_error_stops_everything(k: Kernel, proc: Task, other: Task) -> None:
    """A hook error ends the vma walk and is returned before any page is looked at."""
    assert other.mm is not None
    a = anon(k, other, 1)
    calls: list[int] = []
    vmas = other.mm.vmas
    saved = [(v, v.vm_ops) for v in vmas]

    def make(i: int, err: int):  # type: ignore[no-untyped-def]
        def hook(vma: VmArea, m1: frozenset[int], m2: frozenset[int], flags: int) -> int:
            calls.append(i)
            return err
        return hook

    for i, err in enumerate([0, -errno.EIO, -errno.EINVAL]):
        vmas[i].vm_ops = hooked_ops(vmas[i], make(i, err))
    log = k.start_trace()
    try:
        assert -errno.EIO == migrate(k, proc, {0}, {1}, pid=other.pid)
    finally:
        for v, ops in saved:
            v.vm_ops = ops
    assert [0, 1] == calls
    assert [] == pairs(log)
    assert 0 == nid_at(k, other, a)


def test_migrate_vmas_hook_on_the_last_vma_alone_is_never_called(k: Kernel, proc: Task,
                                                                 other: Task) -> None:
    """Q8: a failing hook on the last vma (the stack) is never reached; pages move."""
    assert other.mm is not None
    a = anon(k, other, 1)
    last = other.mm.vmas[-1]
    saved = last.vm_ops
    called: list[VmArea] = []
    last.vm_ops = hooked_ops(last, recorder(called, -errno.EIO))
    try:
        assert 0 == migrate(k, proc, {0}, {1}, pid=other.pid)
    finally:
        last.vm_ops = saved
    assert [] == called
    assert 1 == nid_at(k, other, a)


# == mbind(2): checks (SPEC §2.26 do_mbind, §4.3) ==

@pytest.mark.parametrize(("mode", "flags"), [
    (MPOL_MAX, MPOL_MF_MOVE),
    (MPOL_MAX + 1, 0),
    (MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, MPOL_MF_MOVE),
    (MPOL_BIND, 1 << 3),
    (MPOL_BIND, MPOL_MF_MOVE | 1 << 4),
], ids=["mode-max", "mode-5", "static+relative", "flag-8", "flag-16"])
def test_mbind_einval_mode_and_flags(k: Kernel, proc: Task, mode: int, flags: int) -> None:
    """Bad mode, STATIC|RELATIVE together, unknown flag bits: -EINVAL, nothing moves."""
    a = anon(k, proc, 1)

    assert -errno.EINVAL == mbind(k, proc, a, PAGE_SIZE, mode, {1}, flags)
    assert 0 == nid_at(k, proc, a)
    assert vma_at(proc, a).policy is None


def test_mbind_mask_is_read_before_the_flags_are_checked(k: Kernel, proc: Task) -> None:
    """sys_mbind() reads the mask before do_mbind() checks flags: a faulting mask with an
    unknown flag is -EFAULT; a bad mode comes before the mask."""
    a = anon(k, proc, 1)
    bad = bad_page(proc)

    assert -errno.EFAULT == mbind(k, proc, a, PAGE_SIZE, MPOL_BIND, {1}, 1 << 3, ptr=bad)
    assert -errno.EINVAL == mbind(k, proc, a, PAGE_SIZE, MPOL_MAX, {1}, 0, ptr=bad)


def test_mbind_move_all_without_cap_sys_nice_is_eperm_first(k: Kernel, proc: Task) -> None:
    """MOVE_ALL without CAP_SYS_NICE: -EPERM, before the alignment check."""
    a = anon(k, proc, 1)
    no_nice(proc)

    assert -errno.EPERM == mbind(k, proc, a + 1, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE_ALL)
    assert -errno.EPERM == mbind(k, proc, a, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE_ALL)
    assert 0 == nid_at(k, proc, a)


def test_mbind_range_checks(k: Kernel, proc: Task) -> None:
    """Unaligned start: -EINVAL; length 0 (or rounding to 0 after wrapping): 0 and nothing
    happens; a range wrapping past the top: -EINVAL."""
    a = anon(k, proc, 1)

    assert -errno.EINVAL == mbind(k, proc, a + 8, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE)
    assert 0 == mbind(k, proc, a, 0, MPOL_BIND, {1}, MPOL_MF_MOVE)
    assert 0 == mbind(k, proc, a, ULONG_MAX, MPOL_BIND, {1}, MPOL_MF_MOVE)
    assert -errno.EINVAL == mbind(k, proc, a, ULONG_MAX - a, MPOL_BIND, {1}, MPOL_MF_MOVE)
    assert 0 == nid_at(k, proc, a)
    assert vma_at(proc, a).policy is None


@pytest.mark.parametrize(("mode", "nodes"), [
    (MPOL_DEFAULT, {0}), (MPOL_BIND, set()), (MPOL_INTERLEAVE, set()),
    (MPOL_PREFERRED | MPOL_F_STATIC_NODES, set())])
def test_mbind_policy_creation_errors(k: Kernel, proc: Task, mode: int, nodes: set[int]) -> None:
    """mpol_new(): MPOL_DEFAULT with nodes, BIND / INTERLEAVE without, an empty PREFERRED
    with a mode flag: -EINVAL; nothing is scanned."""
    a = anon(k, proc, 1)

    assert -errno.EINVAL == mbind(k, proc, a, PAGE_SIZE, mode, nodes, MPOL_MF_MOVE)
    assert 0 == nid_at(k, proc, a)


# == mbind(2): MOVE, MOVE_ALL, STRICT (SPEC §3.4) ==

def test_mbind_move_bind(k: Kernel, proc: Task) -> None:
    """MPOL_BIND {1} with MOVE: pages outside {1} move, the policy is applied, later faults
    in the range go to node 1 (numactl mbind_mig_pages)."""
    a = k.mmap(proc, 4 * PAGE_SIZE)
    for i in range(3):
        k.write_user(proc, a + i * PAGE_SIZE, bytes([i + 1]) * 16)

    assert 0 == mbind(k, proc, a, 4 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE)
    assert [1, 1, 1, None] == nids(k, proc, pages(a, 4))
    assert Mempolicy(MPOL_BIND, frozenset({1})) == vma_at(proc, a).policy
    k.touch(proc, a + 3 * PAGE_SIZE, True)
    assert 1 == nid_at(k, proc, a + 3 * PAGE_SIZE)
    assert intact(k, proc, a, 3)


def test_mbind_pages_already_in_the_mask_are_not_selected(k: Kernel, proc: Task) -> None:
    """Pages on a node of the mask are not touched: no copy."""
    a = anon(k, proc, 2, 1)
    log = k.start_trace()

    assert 0 == mbind(k, proc, a, 2 * PAGE_SIZE, MPOL_BIND, {0, 1}, MPOL_MF_MOVE)
    assert [] == [e for e, _ in log if e == "mm_migrate_copy"]
    assert [1, 1] == nids(k, proc, pages(a, 2))


def test_mbind_default_selects_every_page(k: Kernel, proc: Task) -> None:
    """MPOL_DEFAULT (NULL mask) with MOVE: every page is outside the empty user mask, so
    every page is isolated and re-allocated by the default policy, on the caller's node 0,
    those already there included (a copy on the same node)."""
    a0, a1 = anon(k, proc, 2, 0), anon(k, proc, 2, 1)
    before = [pfn_at(k, proc, x) for x in pages(a0, 2)]
    log = k.start_trace()

    assert 0 == mbind(k, proc, a1, 2 * PAGE_SIZE, MPOL_DEFAULT, None, MPOL_MF_MOVE)
    assert 0 == mbind(k, proc, a0, 2 * PAGE_SIZE, MPOL_DEFAULT, None, MPOL_MF_MOVE)
    assert [0, 0, 0, 0] == nids(k, proc, pages(a0, 2) + pages(a1, 2))
    assert [[0, 0], [0, 0]] == [journey(k, log, p) for p in before]
    assert intact(k, proc, a0, 2) and intact(k, proc, a1, 2)


def test_mbind_empty_preferred_selects_every_page(k: Kernel, proc: Task) -> None:
    """MPOL_PREFERRED with an empty mask (local allocation) selects every page too."""
    a = anon(k, proc, 2, 1)

    assert 0 == mbind(k, proc, a, 2 * PAGE_SIZE, MPOL_PREFERRED, set(), MPOL_MF_MOVE)
    assert [0, 0] == nids(k, proc, pages(a, 2))


def test_mbind_selects_by_the_raw_user_mask(k: Kernel, proc: Task) -> None:
    """A caller whose cpuset holds only node 0: BIND {0,1} becomes the policy {0}, but the
    pages are selected by the raw mask {0,1}: a page on node 1 stays there."""
    a = anon(k, proc, 1, 1)
    proc.mems_allowed = frozenset({0})

    assert 0 == mbind(k, proc, a, PAGE_SIZE, MPOL_BIND, {0, 1}, MPOL_MF_MOVE)
    assert Mempolicy(MPOL_BIND, frozenset({0})) == vma_at(proc, a).policy
    assert 1 == nid_at(k, proc, a)


def test_mbind_relative_nodes_select_by_the_raw_mask(k: Kernel, proc: Task) -> None:
    """MPOL_F_RELATIVE_NODES {1} in a cpuset of {0} folds onto node 0, but the raw mask
    {1} selects the pages: a page on node 1 stays there although the policy excludes
    node 1; a page on node 0 is outside {1}, so it is queued and re-allocated by the
    policy on node 0 (a copy on the same node)."""
    a1, a0 = anon(k, proc, 1, 1), anon(k, proc, 1, 0)
    proc.mems_allowed = frozenset({0})
    pfn0 = pfn_at(k, proc, a0)
    log = k.start_trace()

    assert 0 == mbind(k, proc, a1, PAGE_SIZE, MPOL_BIND | MPOL_F_RELATIVE_NODES, {1},
                      MPOL_MF_MOVE)
    assert Mempolicy(MPOL_BIND, frozenset({0}), MPOL_F_RELATIVE_NODES) == vma_at(proc, a1).policy
    assert 1 == nid_at(k, proc, a1)
    assert 0 == mbind(k, proc, a0, PAGE_SIZE, MPOL_BIND | MPOL_F_RELATIVE_NODES, {1},
                      MPOL_MF_MOVE)
    assert [0, 0] == journey(k, log, pfn0)


def test_mbind_interleave_moves_by_page_offset(k3: Kernel) -> None:
    """new_vma_page() allocates by the new policy at the page's address: MPOL_INTERLEAVE
    {0,1} sends the page at pgoff p (address >> PAGE_SHIFT for anonymous memory) of a
    mapping on node 2 to node p mod 2."""
    k = k3
    proc = k.spawn()
    a = anon(k, proc, 4, 2)

    assert 0 == mbind(k, proc, a, 4 * PAGE_SIZE, MPOL_INTERLEAVE, {0, 1}, MPOL_MF_MOVE)
    assert [(x >> PAGE_SHIFT) % 2 for x in pages(a, 4)] == nids(k, proc, pages(a, 4))
    assert intact(k, proc, a, 4)


def test_mbind_strict_alone_misplaced_page_is_eio(k: Kernel, proc: Task) -> None:
    """STRICT without MOVE: the first misplaced page is -EIO; the policy is not applied,
    nothing moves or stays isolated. All pages in the mask: 0 and the policy is set."""
    a = anon(k, proc, 2)

    assert -errno.EIO == mbind(k, proc, a, 2 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_STRICT)
    assert vma_at(proc, a).policy is None
    assert [0, 0] == nids(k, proc, pages(a, 2))
    assert [] == k.leaked_isolated
    assert 0 == mbind(k, proc, a, 2 * PAGE_SIZE, MPOL_BIND, {0}, MPOL_MF_STRICT)
    assert Mempolicy(MPOL_BIND, frozenset({0})) == vma_at(proc, a).policy


def test_mbind_default_drops_strict(k: Kernel, proc: Task) -> None:
    """MPOL_DEFAULT drops STRICT: with no MOVE flag nothing is scanned, 0."""
    a = anon(k, proc, 1)

    assert 0 == mbind(k, proc, a, PAGE_SIZE, MPOL_DEFAULT, None, MPOL_MF_STRICT)
    assert 0 == nid_at(k, proc, a)


def test_mbind_failed_migration_is_eio_only_with_strict(k: Kernel, proc: Task) -> None:
    """A pinned page cannot move: with MOVE alone the result is 0; with MOVE|STRICT it is
    -EIO, after the policy was applied and the other pages moved."""
    a = anon(k, proc, 2)
    b = anon(k, proc, 2)
    pins = k.pin(proc, a, 1) + k.pin(proc, b, 1)
    try:
        assert 0 == mbind(k, proc, a, 2 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE)
        assert [0, 1] == nids(k, proc, pages(a, 2))
        assert -errno.EIO == mbind(k, proc, b, 2 * PAGE_SIZE, MPOL_BIND, {1},
                                   MPOL_MF_MOVE | MPOL_MF_STRICT)
        assert [0, 1] == nids(k, proc, pages(b, 2))
        assert Mempolicy(MPOL_BIND, frozenset({1})) == vma_at(proc, b).policy
    finally:
        k.unpin(pins)


def test_mbind_shared_pages_skipped_under_move_even_with_strict(k: Kernel, proc: Task) -> None:
    """COW-shared pages after fork: MOVE|STRICT skips them with no error (0) and they stay;
    MOVE_ALL (CAP_SYS_NICE) moves them (oracle case 45's shape)."""
    a = anon(k, proc, 2)
    k.fork(proc)

    assert 0 == mbind(k, proc, a, 2 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE | MPOL_MF_STRICT)
    assert [0, 0] == nids(k, proc, pages(a, 2))
    assert 0 == mbind(k, proc, a, 2 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE_ALL)
    assert [1, 1] == nids(k, proc, pages(a, 2))


def test_mbind_strict_scans_unmigratable_vmas(k: Kernel, proc: Task) -> None:
    """A VM_IO vma is not migratable: MOVE alone does not scan it; STRICT does (-EIO for a
    misplaced page); MOVE|STRICT queues its pages like any others."""
    a = anon(k, proc, 1)
    vma = vma_at(proc, a)
    vma.vm_flags |= VM_IO
    try:
        assert 0 == mbind(k, proc, a, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE)
        assert 0 == nid_at(k, proc, a)
        assert -errno.EIO == mbind(k, proc, a, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_STRICT)
        assert 0 == mbind(k, proc, a, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE | MPOL_MF_STRICT)
        assert 1 == nid_at(k, proc, a)
    finally:
        vma_at(proc, a).vm_flags &= ~VM_IO


# == check_range(): holes (SPEC §2.26 step 3, Q7, Q16) ==

def test_hole_at_the_start_of_the_range_is_accepted(k: Kernel, proc: Task, buf: int) -> None:
    """Q16: a range starting in a hole below its first vma is processed normally."""
    a = anon(k, proc, 4)
    k.munmap(proc, a, PAGE_SIZE)

    assert 0 == mbind(k, proc, a, 4 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE, buf=buf)
    assert [None, 1, 1, 1] == nids(k, proc, pages(a, 4))
    assert Mempolicy(MPOL_BIND, frozenset({1})) == vma_at(proc, a + PAGE_SIZE).policy


def test_gap_between_vmas_is_efault_and_leaks_isolated_pages(k: Kernel, proc: Task,
                                                             buf: int) -> None:
    """Q7: a gap between two vmas of the range is found when the walk reaches the second
    vma; the first vma's pages were already isolated and are not put back (recorded in
    k.leaked_isolated); the second vma is not scanned; no policy is applied. A later
    move_pages reports -EBUSY for the leaked page and moves the other one."""
    a = anon(k, proc, 3)
    k.munmap(proc, a + PAGE_SIZE, PAGE_SIZE)
    leaked = k.page_at(proc, a)

    assert -errno.EFAULT == mbind(k, proc, a, 3 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE, buf=buf)
    assert [leaked] == k.leaked_isolated
    assert vma_at(proc, a).policy is None and vma_at(proc, a + 2 * PAGE_SIZE).policy is None
    assert [0, None, 0] == nids(k, proc, pages(a, 3))
    assert (0, [EBUSY, 1]) == move_pages(k, proc, [a, a + 2 * PAGE_SIZE], [1, 1])
    assert 0 == migrate(k, proc, {0}, {1})
    assert leaked == k.page_at(proc, a)


def test_gap_is_accepted_with_the_default_policy(k: Kernel, proc: Task, buf: int) -> None:
    """MPOL_DEFAULT sets DISCONTIG_OK: the same gap is accepted and every page moves to the
    local node (here node 0, from node 1)."""
    a = anon(k, proc, 3, 1)
    k.munmap(proc, a + PAGE_SIZE, PAGE_SIZE)

    assert 0 == mbind(k, proc, a, 3 * PAGE_SIZE, MPOL_DEFAULT, None, MPOL_MF_MOVE, buf=buf)
    assert [0, None, 0] == nids(k, proc, pages(a, 3))
    assert [] == k.leaked_isolated


def test_gap_after_strict_failure_in_the_first_vma(k: Kernel, proc: Task, buf: int) -> None:
    """STRICT alone: the first vma's misplaced page stops the walk with -EIO before the gap
    is seen; nothing is isolated."""
    a = anon(k, proc, 3)
    k.munmap(proc, a + PAGE_SIZE, PAGE_SIZE)

    assert -errno.EIO == mbind(k, proc, a, 3 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_STRICT, buf=buf)
    assert [] == k.leaked_isolated


def test_hole_at_the_end_before_another_vma_is_accepted(k: Kernel, proc: Task, buf: int) -> None:
    """Q16: a hole between the last vma visited and `end` is not reported when another vma
    lies beyond `end`."""
    a = anon(k, proc, 3)
    k.munmap(proc, a + PAGE_SIZE, PAGE_SIZE)

    assert 0 == mbind(k, proc, a, 2 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE, buf=buf)
    assert [1, None, 0] == nids(k, proc, pages(a, 3))
    assert [] == k.leaked_isolated


def test_range_past_the_last_vma_is_efault(k: Kernel, proc: Task, buf: int) -> None:
    """The last vma of the address space (the stack) ending before `end`: -EFAULT, checked
    before that vma is scanned (nothing isolated); with MPOL_DEFAULT it is accepted."""
    assert proc.mm is not None
    stack = proc.mm.vmas[-1]
    top = stack.vm_end - PAGE_SIZE
    k.write_user(proc, top, b"x")

    assert -errno.EFAULT == mbind(k, proc, top, 2 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE,
                                  buf=buf)
    assert 0 == nid_at(k, proc, top)
    assert [] == k.leaked_isolated
    assert 0 == mbind(k, proc, top, 2 * PAGE_SIZE, MPOL_DEFAULT, None, MPOL_MF_MOVE, buf=buf)


def test_range_wholly_in_a_hole_below_a_vma_does_nothing(k: Kernel, proc: Task, buf: int) -> None:
    """No vma is visited: the result is 0 and the vma above keeps its policy and pages."""
    a = anon(k, proc, 3)
    k.munmap(proc, a, 2 * PAGE_SIZE)

    assert 0 == mbind(k, proc, a, 2 * PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE, buf=buf)
    assert vma_at(proc, a + 2 * PAGE_SIZE).policy is None
    assert 0 == nid_at(k, proc, a + 2 * PAGE_SIZE)


def test_no_vma_at_or_above_start_is_efault(k: Kernel, proc: Task, buf: int) -> None:
    """find_vma() finds nothing above the stack: -EFAULT, whatever the policy."""
    assert proc.mm is not None
    above = proc.mm.vmas[-1].vm_end

    assert -errno.EFAULT == mbind(k, proc, above, PAGE_SIZE, MPOL_BIND, {1}, MPOL_MF_MOVE, buf=buf)
    assert -errno.EFAULT == mbind(k, proc, above, PAGE_SIZE, MPOL_DEFAULT, None, MPOL_MF_MOVE,
                                  buf=buf)


# == set_mempolicy(2) ==

def test_set_mempolicy_bind_and_preferred_place_later_faults(k: Kernel, proc: Task) -> None:
    """MPOL_BIND {1} and MPOL_PREFERRED {1}: a caller on node 0 faults pages in on node 1;
    MPOL_DEFAULT goes back to the local node."""
    a = k.mmap(proc, 3 * PAGE_SIZE)

    assert 0 == set_mempolicy(k, proc, MPOL_BIND, {1})
    k.touch(proc, a, True)
    assert 0 == set_mempolicy(k, proc, MPOL_PREFERRED, {1})
    k.touch(proc, a + PAGE_SIZE, True)
    assert 0 == set_mempolicy(k, proc, MPOL_DEFAULT, None)
    assert proc.mempolicy is None
    k.touch(proc, a + 2 * PAGE_SIZE, True)
    assert [1, 1, 0] == nids(k, proc, pages(a, 3))


def test_set_mempolicy_interleave_by_page_offset(k: Kernel, proc: Task) -> None:
    """MPOL_INTERLEAVE {0,1}: a page at pgoff p of an anonymous vma (pgoff = address >>
    PAGE_SHIFT) goes to node p mod 2."""
    a = k.mmap(proc, 4 * PAGE_SIZE)

    assert 0 == set_mempolicy(k, proc, MPOL_INTERLEAVE, {0, 1})
    for x in pages(a, 4):
        k.touch(proc, x, True)
    assert [(x >> PAGE_SHIFT) % 2 for x in pages(a, 4)] == nids(k, proc, pages(a, 4))


def test_set_mempolicy_empty_preferred_is_local(k: Kernel, proc: Task) -> None:
    """MPOL_PREFERRED with an empty mask is local allocation."""
    assert 0 == set_mempolicy(k, proc, MPOL_PREFERRED, None)
    assert Mempolicy(MPOL_PREFERRED, frozenset()) == proc.mempolicy
    a = k.mmap(proc, PAGE_SIZE)
    k.touch(proc, a, True)
    assert 0 == nid_at(k, proc, a)


@pytest.mark.parametrize(("mode", "nodes"), [
    (MPOL_MAX, {0}), (MPOL_MAX + 1, {0}), (-1, {0}),
    (MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, {0}),
    (MPOL_BIND, None), (MPOL_INTERLEAVE, set()), (MPOL_DEFAULT, {1}),
    (MPOL_PREFERRED | MPOL_F_RELATIVE_NODES, None)],
    ids=["mode-max", "mode-5", "mode-minus-1", "static+relative", "bind-null",
         "interleave-empty", "default-with-nodes", "preferred-empty-relative"])
def test_set_mempolicy_einval(k: Kernel, proc: Task, mode: int, nodes: set[int] | None) -> None:
    """mode >= MPOL_MAX, STATIC|RELATIVE, and mpol_new()'s mask rules: -EINVAL, the task's
    policy unchanged."""
    assert 0 == set_mempolicy(k, proc, MPOL_PREFERRED, {1})

    assert -errno.EINVAL == set_mempolicy(k, proc, mode, nodes)
    assert Mempolicy(MPOL_PREFERRED, frozenset({1})) == proc.mempolicy


def test_set_mempolicy_nodes_outside_the_cpuset(k: Kernel, proc: Task) -> None:
    """Nodes are intersected with the caller's cpuset: BIND {1} with a cpuset of {0} is
    empty (-EINVAL); BIND {0,1} keeps {0}."""
    proc.mems_allowed = frozenset({0})

    assert -errno.EINVAL == set_mempolicy(k, proc, MPOL_BIND, {1})
    assert 0 == set_mempolicy(k, proc, MPOL_BIND, {0, 1})
    assert Mempolicy(MPOL_BIND, frozenset({0})) == proc.mempolicy


def test_task_policy_places_mbind_default_moves(k: Kernel, proc: Task) -> None:
    """mbind(MPOL_DEFAULT, MOVE) re-allocates by the policy in force: with no vma policy,
    the task's BIND {1}."""
    a = anon(k, proc, 2)

    assert 0 == set_mempolicy(k, proc, MPOL_BIND, {1})
    assert 0 == mbind(k, proc, a, 2 * PAGE_SIZE, MPOL_DEFAULT, None, MPOL_MF_MOVE)
    assert [1, 1] == nids(k, proc, pages(a, 2))
    assert intact(k, proc, a, 2)
