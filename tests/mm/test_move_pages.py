"""move_pages(2) on the model, at the API level: sys_move_pages(), do_move_pages(),
do_pages_stat() and migrate_vmas() of mm/migrate.c (Linux 2.6.27).

The first part follows the order of the checks of sys_move_pages() (SPEC §2.24), one test
(or one parametrized test) per check; each test also arranges for later checks to fail, so
that it shows the check comes first.  The second part follows do_move_pages()'s per-entry
check order (SPEC §2.22) through every status of SPEC §4.1's 2.6.27 column that anonymous
and tmpfs memory can reach, with quirks Q2, Q3, Q5, Q7, Q10, Q14 and Q15 (SPEC §7).  The
last part is migrate_vmas() (SPEC §2.25, Q8).

Calls are made as a program makes them: the argument arrays live in the caller's memory,
each ending at a PROT_NONE guard page (:class:`pagemig.kernel.UserArrays`), and the status
array is preset to -99999 (the oracle probe's UNSET) so that an unwritten status shows.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import numpy as np
import pytest

from pagemig.kernel import Kernel, Topology, UserArrays
from pagemig.mm import migrate
from pagemig.mm.memcontrol import RES_COUNTER_MAX, ROOT_MEM_CGROUP
from pagemig.mm.memory import zap_pte_range
from pagemig.mm.mempolicy import (
    MAX_NUMNODES,
    MPOL_BIND,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    sys_mbind,
)
from pagemig.mm.mm_types import (
    PAGE_SIZE,
    VM_IO,
    VM_MIXEDMAP,
    VM_PFNMAP,
    MmStruct,
    VmArea,
    VmOps,
)
from pagemig.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE
from pagemig.mm.page_alloc import GFP_HIGHUSER_MOVABLE, GFP_THISNODE, alloc_pages_node
from pagemig.mm.page_flags import F_DIRTY
from pagemig.mm.swap import get_page, put_page
from pagemig.mm.swapops import (
    _PAGE_SPECIAL,
    PAGE_READONLY,
    mk_pte,
    pte_dirty,
    pte_protnone,
    pte_write,
)
from pagemig.sched import CAP_SYS_NICE, Task
from pagemig.validate import validate

UNSET = -99999
ULONG_MAX = (1 << 64) - 1
E2BIG_LIMIT = 0x0AAAAAAAAAAAAAA9  # ULONG_MAX / sizeof(struct page_to_node) - 1 (SPEC §2.24.8)
ROUNDUP_WRAPS = 0x0AAAAAAAAAAAAA00  # from here (nr + 1) * 24 rounds up to 0 (SPEC §2.24.9)
TASK_SIZE = 0x7FFFFFFFF000
KERNEL_ADDR = 0xFFFF888000100000  # the direct map
NONCANONICAL = 0x0000800000000000
NEG_4096 = (1 << 64) - 4096
INT_MAX = (1 << 31) - 1
NO_SUCH_PID = 99999
KTHREADD_PID = 2
MIGRATE_PASSES = 10

ENOENT, EFAULT, EACCES, EBUSY, EAGAIN = (-errno.ENOENT, -errno.EFAULT, -errno.EACCES,
                                         -errno.EBUSY, -errno.EAGAIN)


# -- helpers --

def call(k: Kernel, caller: Task, addrs: list[int], nodes: list[int] | None,
         flags: int = MPOL_MF_MOVE, pid: int = 0, count: int | None = None,
         status_ptr: int | None = None) -> tuple[int, list[int]]:
    """sys_move_pages() with the arrays in ``caller``'s memory; (raw result, statuses).

    ``nodes`` None is query mode (nodes == NULL).  ``count`` overrides nr_pages (a count
    larger than the arrays reads into the guard pages); ``status_ptr`` overrides the status
    pointer (the statuses returned are then those of the unused array: all UNSET).
    """
    n = len(addrs)
    with UserArrays(k, caller, [8 * n, 4 * n, 4 * n]) as (p_ptr, n_ptr, s_ptr):
        if n:
            k.write_user(caller, p_ptr, np.asarray(addrs, "<u8").tobytes())
            k.write_user(caller, s_ptr, np.full(n, UNSET, "<i4").tobytes())
            if nodes is not None:
                k.write_user(caller, n_ptr, np.asarray(nodes, "<i4").tobytes())
        ret = k.sys_move_pages(caller, pid, n if count is None else count, p_ptr,
                               n_ptr if nodes is not None else 0,
                               s_ptr if status_ptr is None else status_ptr, flags)
        status = np.frombuffer(k.read_user(caller, s_ptr, 4 * n), "<i4").tolist() if n else []
    return ret, [int(s) for s in status]


def anon(k: Kernel, task: Task, npages: int, node: int = 0, touch: str | None = "write",
         prot: int = PROT_READ | PROT_WRITE, flags: int | None = None) -> int:
    """A private (or ``flags``) anonymous mapping, its pages touched from a CPU of ``node``."""
    addr = k.mmap(task, npages * PAGE_SIZE, prot) if flags is None else \
        k.mmap(task, npages * PAGE_SIZE, prot, flags)
    if touch is not None:
        saved, task.cpu = task.cpu, k.nodes[node].cpus[0]
        try:
            for i in range(npages):
                if touch == "write":
                    k.write_user(task, addr + i * PAGE_SIZE, bytes([i + 1]) * 16)
                else:
                    k.touch(task, addr + i * PAGE_SIZE, False)
        finally:
            task.cpu = saved
    return addr


def pages(addr: int, npages: int) -> list[int]:
    """The addresses of ``npages`` pages from ``addr``."""
    return [addr + i * PAGE_SIZE for i in range(npages)]


def nid_at(k: Kernel, task: Task, addr: int) -> int | None:
    """The node of the page mapped at ``addr``, or None."""
    pfn = k.page_at(task, addr)
    return None if pfn is None else k.pfn_to_nid(pfn)


def nids(k: Kernel, task: Task, addrs: list[int]) -> list[int | None]:
    """The node of each page."""
    return [nid_at(k, task, a) for a in addrs]


def layout(task: Task):  # type: ignore[no-untyped-def]
    """The probe-like process image (text, heap, stack, vdso, bad_page, ro_page)."""
    assert task.mm is not None
    return task.mm.layout  # type: ignore[attr-defined]


@pytest.fixture
def other(k: Kernel) -> Task:
    """A second probe-like process, started by init."""
    return k.spawn("other")


def pass_count(log: list[tuple[str, dict]]) -> int:  # type: ignore[type-arg]
    """How many migrate_pages() passes the trace shows."""
    return sum(1 for event, _ in log if event == "mm_migrate_pass")


# == sys_move_pages(): the order of the checks (SPEC §2.24) ==

@pytest.mark.parametrize("flags", [MPOL_MF_STRICT, 8, 0x10, -1, MPOL_MF_MOVE | MPOL_MF_STRICT])
def test_check1_unknown_flags_are_einval(k: Kernel, proc: Task, flags: int) -> None:
    """Flag bits other than MOVE|MOVE_ALL: -EINVAL, before the pid and the pointers."""
    ret = k.sys_move_pages(proc, NO_SUCH_PID, 1, 0, 0, 0, flags)

    assert -errno.EINVAL == ret


def test_check1_flags_zero_moves_like_mpol_mf_move(k: Kernel, proc: Task) -> None:
    """flags = 0 is accepted and migrates like MPOL_MF_MOVE."""
    a = anon(k, proc, 2)

    assert (0, [1, 1]) == call(k, proc, pages(a, 2), [1, 1], flags=0)
    assert [1, 1] == nids(k, proc, pages(a, 2))


def test_check2_move_all_without_cap_sys_nice_is_eperm(k: Kernel, proc: Task) -> None:
    """MOVE_ALL without CAP_SYS_NICE: -EPERM, before the pid lookup; plain MOVE still works."""
    a = anon(k, proc, 1)
    proc.cap_effective -= {CAP_SYS_NICE}

    assert -errno.EPERM == k.sys_move_pages(proc, NO_SUCH_PID, 1, 0, 0, 0, MPOL_MF_MOVE_ALL)
    assert (-errno.EPERM, [UNSET]) == call(k, proc, [a], [1], MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)
    assert (0, [1]) == call(k, proc, [a], [1], MPOL_MF_MOVE)


@pytest.mark.parametrize("pid", [NO_SUCH_PID, -1, 1 << 30])
def test_check3_unknown_pid_is_esrch(k: Kernel, proc: Task, pid: int) -> None:
    """No task with that pid: -ESRCH, before the mm and the pointers are looked at."""
    assert -errno.ESRCH == k.sys_move_pages(proc, pid, 1, 0, 0, 0, MPOL_MF_MOVE)


def test_check3_reaped_child_is_esrch(k: Kernel, proc: Task) -> None:
    """A child that exited and was reaped no longer has a pid: -ESRCH."""
    child = k.fork(proc)
    k.exit(child)
    k.reap(child)

    assert -errno.ESRCH == k.sys_move_pages(proc, child.pid, 1, 0, 0, 0, MPOL_MF_MOVE)


def test_check4_zombie_has_no_mm_einval(k: Kernel, proc: Task) -> None:
    """A zombie (exited, not reaped) has no mm: -EINVAL, before the uid rule."""
    child = k.fork(proc)
    k.exit(child)
    proc.cap_effective -= {CAP_SYS_NICE}
    proc.uid = proc.euid = 1000  # the uid rule would refuse

    assert -errno.EINVAL == k.sys_move_pages(proc, child.pid, 1, 0, 0, 0, MPOL_MF_MOVE)


def test_check4_kernel_thread_has_no_mm_einval(k: Kernel, proc: Task) -> None:
    """kthreadd (pid 2) is a kernel thread without an mm: -EINVAL, in both modes."""
    a = anon(k, proc, 1)

    assert (-errno.EINVAL, [UNSET]) == call(k, proc, [a], [1], pid=KTHREADD_PID)
    assert (-errno.EINVAL, [UNSET]) == call(k, proc, [a], None, pid=KTHREADD_PID)


def test_check4_pid_0_and_own_pid_are_the_caller(k: Kernel, proc: Task) -> None:
    """pid 0 is the caller; so is the caller's own pid."""
    a = anon(k, proc, 2)

    assert (0, [1]) == call(k, proc, [a], [1], pid=0)
    assert (0, [1]) == call(k, proc, [a + PAGE_SIZE], [1], pid=proc.pid)


def _creds(task: Task, uid: int, euid: int, suid: int) -> None:
    task.uid, task.euid, task.suid = uid, euid, suid


def test_check5_uid_mismatch_without_cap_sys_nice_is_eperm(k: Kernel, proc: Task,
                                                          other: Task) -> None:
    """No uid pair matches and no CAP_SYS_NICE: -EPERM (query mode too), before the LSM hook.

    The target's euid and the caller's suid take no part in the rule: here the target's
    euid equals the caller's euid and the caller's suid equals the target's uid.
    """
    a = anon(k, other, 1)
    _creds(proc, 1, 2, 3)
    _creds(other, 3, 2, 4)
    proc.cap_effective -= {CAP_SYS_NICE}
    k.security.task_movememory = lambda task: -errno.EACCES

    assert (-errno.EPERM, [UNSET]) == call(k, proc, [a], [1], pid=other.pid)
    assert (-errno.EPERM, [UNSET]) == call(k, proc, [a], None, pid=other.pid)


@pytest.mark.parametrize(("caller", "target"), [
    ((1, 2), (3, 2)),  # caller euid == target suid
    ((1, 2), (2, 3)),  # caller euid == target uid
    ((1, 2), (3, 1)),  # caller uid == target suid
    ((1, 2), (1, 3)),  # caller uid == target uid
], ids=["euid=suid", "euid=uid", "uid=suid", "uid=uid"])
def test_check5_each_uid_pair_allows(k: Kernel, proc: Task, other: Task,
                                     caller: tuple[int, int], target: tuple[int, int]) -> None:
    """Any one of the four (caller, target) uid pairs lets a caller without CAP_SYS_NICE in."""
    a = anon(k, other, 1)
    _creds(proc, caller[0], caller[1], 9)
    _creds(other, target[0], 8, target[1])
    proc.cap_effective -= {CAP_SYS_NICE}

    assert (0, [1]) == call(k, proc, [a], [1], pid=other.pid)
    assert 1 == nid_at(k, other, a)


def test_check5_cap_sys_nice_overrides_the_uid_rule(k: Kernel, proc: Task,
                                                    other: Task) -> None:
    """With CAP_SYS_NICE the uids do not matter."""
    a = anon(k, other, 1)
    _creds(proc, 1, 2, 3)
    _creds(other, 4, 5, 6)

    assert (0, [1]) == call(k, proc, [a], [1], pid=other.pid)


@pytest.mark.parametrize("err", [-errno.EPERM, -errno.EACCES, -errno.ENOMEM])
def test_check6_lsm_hook_result_is_returned_as_is(k: Kernel, proc: Task, other: Task,
                                                  err: int) -> None:
    """security_task_movememory(target) denying: its value is returned, before the cpuset."""
    a = anon(k, other, 1)
    seen: list[Task] = []

    def hook(task: Task) -> int:
        seen.append(task)
        return err

    k.security.task_movememory = hook
    other.mems_allowed = frozenset({0})  # the cpuset check would refuse node 1

    assert (err, [UNSET]) == call(k, proc, [a], [1], pid=other.pid)
    assert [other] == seen
    assert 0 == nid_at(k, other, a)


def test_check6_lsm_hook_allowing_lets_the_call_through(k: Kernel, proc: Task) -> None:
    """A hook returning 0 changes nothing."""
    a = anon(k, proc, 1)
    k.security.task_movememory = lambda task: 0

    assert (0, [1]) == call(k, proc, [a], [1])


def test_check7_node_outside_the_targets_cpuset_is_eacces(k: Kernel, proc: Task,
                                                          other: Task) -> None:
    """A node outside the *target's* cpuset: -EACCES; nothing moves, no status is written."""
    a = anon(k, other, 2)
    other.mems_allowed = frozenset({0})

    assert (-errno.EACCES, [UNSET, UNSET]) == call(k, proc, pages(a, 2), [0, 1], pid=other.pid)
    assert [0, 0] == nids(k, other, pages(a, 2))


def test_check7_the_callers_cpuset_does_not_matter(k: Kernel, proc: Task,
                                                   other: Task) -> None:
    """The caller's own cpuset is not consulted: only the target's."""
    a = anon(k, other, 1)
    proc.mems_allowed = frozenset({0})

    assert (0, [1]) == call(k, proc, [a], [1], pid=other.pid)


@pytest.mark.parametrize("count", [E2BIG_LIMIT, E2BIG_LIMIT + 1, 1 << 63, ULONG_MAX])
def test_check8_huge_count_is_e2big(k: Kernel, proc: Task, count: int) -> None:
    """nr_pages >= 0x0AAAAAAAAAAAAAA9: -E2BIG at once, without reading the (null) arrays."""
    assert -errno.E2BIG == k.sys_move_pages(proc, 0, count, 0, 0, 0, MPOL_MF_MOVE)
    assert -errno.E2BIG == k.sys_move_pages(proc, 0, count, 0, 0, 0, 0)


def test_check8_one_below_the_limit_is_not_e2big(k: Kernel, proc: Task) -> None:
    """0x0AAAAAAAAAAAAAA8 passes the E2BIG check and fails in vmalloc: -ENOMEM."""
    assert -errno.ENOMEM == k.sys_move_pages(proc, 0, E2BIG_LIMIT - 1, 0, 0, 0, MPOL_MF_MOVE)


@pytest.mark.parametrize("count", [E2BIG_LIMIT - 1, ROUNDUP_WRAPS, ROUNDUP_WRAPS - 1, 1 << 40],
                         ids=["limit-1", "round-up-wraps", "no-wrap", "2^40"])
def test_check9_vmalloc_failure_is_enomem_before_reading_arrays(k: Kernel, proc: Task,
                                                                count: int) -> None:
    """Just below the E2BIG limit the record array cannot be allocated: -ENOMEM, before any
    user memory is read (the null pointers would give -EFAULT)."""
    assert -errno.ENOMEM == k.sys_move_pages(proc, 0, count, 0, 0, 0, MPOL_MF_MOVE)
    assert -errno.ENOMEM == k.sys_move_pages(proc, 0, count, 0, 0, 0, 0)


def test_check9_array_larger_than_the_machine_is_enomem(k: Kernel, proc: Task) -> None:
    """(nr + 1) * 24 bytes needing more pages than the machine has: -ENOMEM; a count whose
    array fits is accepted and fails reading the (null) pointers instead."""
    fits = (k.nr_free_pages() // 2) * PAGE_SIZE // 24
    too_big = k.pages.nr_pages * PAGE_SIZE // 24  # more than all frames, reserved included

    assert -errno.ENOMEM == k.sys_move_pages(proc, 0, too_big, 0, 0, 0, MPOL_MF_MOVE)
    assert -errno.EFAULT == k.sys_move_pages(proc, 0, fits, 0, 0, 0, MPOL_MF_MOVE)


@pytest.mark.parametrize("which", ["null", "kernel", "prot_none"])
def test_check10_bad_pages_pointer_is_efault(k: Kernel, proc: Task, which: str) -> None:
    """pages[] unreadable (NULL, a kernel address, a PROT_NONE page): -EFAULT, nothing moves."""
    a = anon(k, proc, 1)
    bad = {"null": 0, "kernel": KERNEL_ADDR, "prot_none": layout(proc).bad_page}[which]
    with UserArrays(k, proc, [4, 4]) as (n_ptr, s_ptr):
        k.write_user(proc, n_ptr, np.asarray([1], "<i4").tobytes())
        k.write_user(proc, s_ptr, np.asarray([UNSET], "<i4").tobytes())
        ret = k.sys_move_pages(proc, 0, 1, bad, n_ptr, s_ptr, MPOL_MF_MOVE)
        status = np.frombuffer(k.read_user(proc, s_ptr, 4), "<i4").tolist()

    assert (-errno.EFAULT, [UNSET]) == (ret, status)
    assert 0 == nid_at(k, proc, a)


@pytest.mark.parametrize("which", ["kernel", "prot_none"])
def test_check10_bad_nodes_pointer_is_efault(k: Kernel, proc: Task, which: str) -> None:
    """nodes[] unreadable: -EFAULT before anything moves (a NULL nodes is query mode)."""
    a = anon(k, proc, 1)
    bad = {"kernel": KERNEL_ADDR, "prot_none": layout(proc).bad_page}[which]
    with UserArrays(k, proc, [8, 4]) as (p_ptr, s_ptr):
        k.write_user(proc, p_ptr, np.asarray([a], "<u8").tobytes())
        k.write_user(proc, s_ptr, np.asarray([UNSET], "<i4").tobytes())
        ret = k.sys_move_pages(proc, 0, 1, p_ptr, bad, s_ptr, MPOL_MF_MOVE)
        status = np.frombuffer(k.read_user(proc, s_ptr, 4), "<i4").tolist()

    assert (-errno.EFAULT, [UNSET]) == (ret, status)
    assert 0 == nid_at(k, proc, a)


@pytest.mark.parametrize("query", [False, True])
def test_check10_count_past_the_guard_page_is_efault(k: Kernel, proc: Task, query: bool) -> None:
    """A count larger than arrays that end at a guard page: -EFAULT, nothing moves, no status
    (2.6.27 validates every element before migrating anything)."""
    a = anon(k, proc, 3)

    assert (-errno.EFAULT, [UNSET] * 3) == call(k, proc, pages(a, 3), None if query else [1] * 3,
                                                 count=4)
    assert [0, 0, 0] == nids(k, proc, pages(a, 3))


def test_check10_nodes_array_shorter_than_pages_is_efault(k: Kernel, proc: Task) -> None:
    """nodes[] ending (at its guard page) before pages[] does: -EFAULT, nothing moves."""
    a = anon(k, proc, 2)
    with UserArrays(k, proc, [16, 4, 8]) as (p_ptr, n_ptr, s_ptr):
        k.write_user(proc, p_ptr, np.asarray(pages(a, 2), "<u8").tobytes())
        k.write_user(proc, n_ptr, np.asarray([1], "<i4").tobytes())
        ret = k.sys_move_pages(proc, 0, 2, p_ptr, n_ptr, s_ptr, MPOL_MF_MOVE)

    assert -errno.EFAULT == ret
    assert [0, 0] == nids(k, proc, pages(a, 2))


@pytest.mark.parametrize("node", [-1, MAX_NUMNODES, 5, INT_MAX, -(1 << 31)])
def test_check10_node_without_memory_is_enodev(k: Kernel, proc: Task, node: int) -> None:
    """A node that is negative, >= MAX_NUMNODES or absent: -ENODEV (Q9: 2.6.27 has no range
    check; modelled as -ENODEV), even after valid entries; nothing moves, no status."""
    a = anon(k, proc, 2)

    assert (-errno.ENODEV, [UNSET, UNSET]) == call(k, proc, pages(a, 2), [1, node])
    assert [0, 0] == nids(k, proc, pages(a, 2))


def test_check10_memoryless_node_is_enodev() -> None:
    """A node with a CPU and no memory is not in N_HIGH_MEMORY: -ENODEV."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64, memless_nodes=1))
    proc = k.spawn()
    a = anon(k, proc, 1)

    assert 2 == len(k.nodes_with_memory()) and 3 == len(k.nodes)
    assert (-errno.ENODEV, [UNSET]) == call(k, proc, [a], [2])
    assert (0, [1]) == call(k, proc, [a], [1])
    validate(k)


def test_check10_first_bad_element_decides(k: Kernel, proc: Task, other: Task) -> None:
    """Elements are checked in order, pages[i] then nodes[i] (-ENODEV before -EACCES):
    the first bad element gives the error."""
    a = anon(k, other, 2)
    other.mems_allowed = frozenset({0})

    assert (-errno.ENODEV, [UNSET] * 2) == call(k, proc, pages(a, 2), [7, 1], pid=other.pid)
    assert (-errno.EACCES, [UNSET] * 2) == call(k, proc, pages(a, 2), [1, 7], pid=other.pid)


def _lazy_arrays(k: Kernel, task: Task, n: int, nodes: dict[int, int]) -> tuple[int, int, int]:
    """pages[] (n entries over two pages, only its first page written), nodes[] (all 0
    but ``nodes``) and status[] in fresh mappings; (pages, nodes, status) pointers."""
    p_ptr = k.mmap(task, 2 * PAGE_SIZE)
    n_ptr = k.mmap(task, PAGE_SIZE)
    s_ptr = k.mmap(task, PAGE_SIZE)
    k.write_user(task, p_ptr, bytes(8))  # pages[0] = NULL; the second page stays untouched
    vals = np.zeros(n, "<i4")
    for i, node in nodes.items():
        vals[i] = node
    k.write_user(task, n_ptr, vals.tobytes())
    return p_ptr, n_ptr, s_ptr


def test_check10_bad_node_at_entry_0_touches_no_later_argument_page(k: Kernel,
                                                                   proc: Task) -> None:
    """The argument loop reads pages[i] then nodes[i] element by element: a bad node at
    entry 0 fails before pages[512] (the second page of pages[]) is read, so that page is
    never faulted in (its pte stays none)."""
    p_ptr, n_ptr, s_ptr = _lazy_arrays(k, proc, 1024, {0: 7})
    assert 0 == proc.mm.get_pte(p_ptr + PAGE_SIZE)

    assert -errno.ENODEV == k.sys_move_pages(proc, 0, 1024, p_ptr, n_ptr, s_ptr, MPOL_MF_MOVE)
    assert 0 == proc.mm.get_pte(p_ptr + PAGE_SIZE)
    assert 0 == proc.mm.get_pte(s_ptr)


def test_check10_bad_node_in_the_second_page_faults_it_in_first(k: Kernel,
                                                                proc: Task) -> None:
    """A bad node at entry 600: pages[512..600] were read first, so the second page of
    pages[] was faulted in (2.6.27: a private zeroed page) before -ENODEV."""
    p_ptr, n_ptr, s_ptr = _lazy_arrays(k, proc, 1024, {600: 7})

    assert -errno.ENODEV == k.sys_move_pages(proc, 0, 1024, p_ptr, n_ptr, s_ptr, MPOL_MF_MOVE)
    assert k.page_at(proc, p_ptr + PAGE_SIZE) is not None
    assert 0 == proc.mm.get_pte(s_ptr)


@pytest.mark.parametrize("which", ["null", "kernel", "prot_none", "read_only"])
def test_check13_status_write_failure_is_efault_after_the_move(k: Kernel, proc: Task,
                                                               which: str) -> None:
    """A status array that cannot be written: the pages move, then -EFAULT."""
    a = anon(k, proc, 2)
    bad = {"null": 0, "kernel": KERNEL_ADDR, "prot_none": layout(proc).bad_page,
           "read_only": layout(proc).ro_page}[which]

    assert (-errno.EFAULT, [UNSET, UNSET]) == call(k, proc, pages(a, 2), [1, 1], status_ptr=bad)
    assert [1, 1] == nids(k, proc, pages(a, 2))


def test_check13_status_write_failure_still_writes_the_others(k: Kernel, proc: Task) -> None:
    """Statuses that straddle a PROT_NONE page: those on it fail (-EFAULT), the ones after it
    are still written; query mode too."""
    a = anon(k, proc, 4)
    buf = k.mmap(proc, 3 * PAGE_SIZE)
    k.mprotect(proc, buf + PAGE_SIZE, PAGE_SIZE, PROT_NONE)
    status = buf + 2 * PAGE_SIZE - 8  # statuses 0 and 1 on the PROT_NONE page, 2 and 3 after
    with UserArrays(k, proc, [32, 16]) as (p_ptr, n_ptr):
        k.write_user(proc, p_ptr, np.asarray(pages(a, 4), "<u8").tobytes())
        k.write_user(proc, n_ptr, np.asarray([1] * 4, "<i4").tobytes())
        ret_move = k.sys_move_pages(proc, 0, 4, p_ptr, n_ptr, status, MPOL_MF_MOVE)
        after_move = np.frombuffer(k.read_user(proc, status + 8, 8), "<i4").tolist()
        k.write_user(proc, status + 8, np.asarray([UNSET] * 2, "<i4").tobytes())
        ret_query = k.sys_move_pages(proc, 0, 4, p_ptr, 0, status, 0)
        after_query = np.frombuffer(k.read_user(proc, status + 8, 8), "<i4").tolist()
    k.munmap(proc, buf, 3 * PAGE_SIZE)

    assert (-errno.EFAULT, [1, 1]) == (ret_move, after_move)
    assert (-errno.EFAULT, [1, 1]) == (ret_query, after_query)
    assert [1] * 4 == nids(k, proc, pages(a, 4))


def test_check14_count_zero_with_nodes_is_enoent(k: Kernel, proc: Task) -> None:
    """nr_pages = 0 with nodes given: nothing isolated, -ENOENT (Q1); in query mode: 0."""
    a = anon(k, proc, 1)

    assert (-errno.ENOENT, [UNSET]) == call(k, proc, [a], [1], count=0)
    assert (0, [UNSET]) == call(k, proc, [a], None, count=0)
    assert 0 == nid_at(k, proc, a)


def test_check14_all_already_on_target_is_enoent(k: Kernel, proc: Task) -> None:
    """Every page already on its node: nothing isolated, -ENOENT, no status written (Q1)."""
    a = anon(k, proc, 3)

    assert (-errno.ENOENT, [UNSET] * 3) == call(k, proc, pages(a, 3), [0] * 3)


def test_check14_all_errors_is_enoent(k: Kernel, proc: Task) -> None:
    """Every entry failing its checks (-EFAULT, -ENOENT, -EACCES): -ENOENT, no status (Q1)."""
    a = anon(k, proc, 2, touch=None)
    shared = anon(k, proc, 1)
    k.fork(proc)

    assert (-errno.ENOENT, [UNSET] * 4) == call(k, proc, [KERNEL_ADDR, a, 0, shared], [1] * 4)


def test_check14_pinned_pages_give_a_positive_count_with_every_status(k: Kernel,
                                                                      proc: Task) -> None:
    """Pages that stay busy for all 10 passes are counted in a positive return, and every
    status is written: -EAGAIN for them, the node for the others (Q4)."""
    a = anon(k, proc, 4)
    pins = k.pin(proc, a + PAGE_SIZE, 2)
    try:
        assert (2, [1, EAGAIN, EAGAIN, 1]) == call(k, proc, pages(a, 4), [1] * 4)
        assert [1, 0, 0, 1] == nids(k, proc, pages(a, 4))
    finally:
        k.unpin(pins)


# == do_move_pages(): per-entry statuses in check order (SPEC §2.22, §4.1) ==

@pytest.mark.parametrize("addr", [TASK_SIZE, KERNEL_ADDR, NONCANONICAL, NEG_4096, ULONG_MAX],
                         ids=["task_size", "kernel", "noncanonical", "neg", "ulong_max"])
def test_status_efault_no_vma_at_or_above(k: Kernel, proc: Task, addr: int) -> None:
    """No vma at or above the address: -EFAULT, in move and query mode; the call goes on."""
    a = anon(k, proc, 1)

    assert (0, [EFAULT, 1]) == call(k, proc, [addr, a], [1, 1])
    assert (0, [EFAULT, 1]) == call(k, proc, [addr, a], None)


def _io_vma(k: Kernel, task: Task, addr: int) -> VmArea:
    # Mark the vma at addr VM_IO, as a driver mapping would be (API only: anonymous and
    # tmpfs mappings are always migratable).
    assert task.mm is not None
    vma = task.mm.find_vma(addr)
    assert vma is not None and vma.vm_start <= addr
    vma.vm_flags |= VM_IO
    return vma


def test_status_efault_vma_not_migratable(k: Kernel, proc: Task) -> None:
    """A populated page in a VM_IO vma: -EFAULT in move mode; query mode has no migratable
    check and reports the node (API only: anon and tmpfs vmas are always migratable)."""
    io = anon(k, proc, 1)
    vma = _io_vma(k, proc, io)
    a = anon(k, proc, 1)  # mapped after: a vma with other flags does not merge with it
    try:
        assert (0, [EFAULT, 1]) == call(k, proc, [io, a], [1, 1])
        assert (0, [0, 1]) == call(k, proc, [io, a], None)
    finally:
        vma.vm_flags &= ~VM_IO


@pytest.mark.parametrize("vm_flag", [VM_PFNMAP, VM_MIXEDMAP], ids=["pfnmap", "mixedmap"])
def test_status_efault_special_pte_api_only(k: Kernel, proc: Task, vm_flag: int) -> None:
    """A special pte (a pfn inserted into a VM_PFNMAP or VM_MIXEDMAP vma): follow_page()'s
    error pointer gives -EFAULT in query mode; in move mode VM_PFNMAP is already refused as
    not migratable and VM_MIXEDMAP reaches follow_page(): -EFAULT too.  API only: the flag
    and the pte are set by hand, as remap_pfn_range() / vm_insert_mixed() would."""
    a = anon(k, proc, 1)
    spot = k.mmap(proc, PAGE_SIZE, PROT_READ)
    assert proc.mm is not None
    vma = proc.mm.find_vma(spot)
    assert vma is not None
    vma.vm_flags |= vm_flag
    proc.mm.set_pte(spot, mk_pte(k.pages.nr_pages + 16, PAGE_READONLY) | _PAGE_SPECIAL)
    try:
        assert (0, [EFAULT, 0]) == call(k, proc, [spot, a], None)
        assert (0, [EFAULT, 1]) == call(k, proc, [spot, a], [1, 1])
    finally:
        proc.mm.set_pte(spot, 0)
        vma.vm_flags &= ~vm_flag


def test_status_enoent_not_present(k: Kernel, proc: Task) -> None:
    """Untouched anon page, untouched tmpfs page, untouched PROT_NONE vma: -ENOENT."""
    a = anon(k, proc, 1)
    untouched = anon(k, proc, 1, touch=None)
    f = k.create_file("/tmp/f", 2)
    fm = k.mmap(proc, 2 * PAGE_SIZE, flags=MAP_SHARED, file=f)
    bad = layout(proc).bad_page
    addrs = [untouched, fm, bad, a]

    assert (0, [ENOENT, ENOENT, ENOENT, 1]) == call(k, proc, addrs, [1] * 4)


def test_status_enoent_hole_below_a_vma_q3(k: Kernel, proc: Task) -> None:
    """An address in a hole below a vma (find_vma does not check vm_start) and the null
    address below the first vma: -ENOENT, not -EFAULT (Q3), in both modes."""
    a = anon(k, proc, 3)
    k.munmap(proc, a + PAGE_SIZE, PAGE_SIZE)
    hole = a + PAGE_SIZE
    addrs = [hole, 0, 0x1000, a, a + 2 * PAGE_SIZE]

    assert (0, [ENOENT, ENOENT, ENOENT, 1, 1]) == call(k, proc, addrs, [1] * 5)
    assert (0, [ENOENT, ENOENT, ENOENT, 1, 1]) == call(k, proc, addrs, None)


def test_status_hole_below_unmigratable_vma_is_efault_in_move_mode_q3(k: Kernel,
                                                                      proc: Task) -> None:
    """Q3: in move mode a hole address takes the migratable test of the vma *above* it, so a
    hole below a VM_IO vma is -EFAULT; query mode says -ENOENT (API only: VM_IO)."""
    a = anon(k, proc, 1)
    io = anon(k, proc, 3, touch="read", prot=PROT_READ)  # other flags: not merged with a
    hole = io + PAGE_SIZE
    k.munmap(proc, hole, PAGE_SIZE)
    vma = _io_vma(k, proc, hole + PAGE_SIZE)
    try:
        assert (0, [EFAULT, EFAULT, 1]) == call(k, proc, [hole, hole + PAGE_SIZE, a], [1] * 3)
        assert (0, [ENOENT, 0, 1]) == call(k, proc, [hole, hole + PAGE_SIZE, a], None)
    finally:
        vma.vm_flags &= ~VM_IO


def test_status_enoent_reserved_page_api_only(k: Kernel, proc: Task) -> None:
    """A PG_reserved page (here the zero page) mapped at an address: -ENOENT in both modes,
    and it is never isolated.

    API only: in 2.6.27 nothing maps the zero page (or any reserved page) into anonymous or
    tmpfs memory (do_anonymous_page always allocates, Q2), so the pte is installed by hand,
    as a driver's vm_insert_page() of a reserved page would, and removed afterwards.
    """
    a = anon(k, proc, 1)
    spot = anon(k, proc, 1, touch=None)
    assert proc.mm is not None
    get_page(k, k.zero_page_pfn)
    proc.mm.set_pte(spot, mk_pte(k.zero_page_pfn, PAGE_READONLY))
    count = int(k.pages.count[k.zero_page_pfn])
    try:
        assert (0, [ENOENT, 1]) == call(k, proc, [spot, a], [1, 1])
        assert (0, [ENOENT, 1]) == call(k, proc, [spot, a], None)
        assert count == int(k.pages.count[k.zero_page_pfn])
    finally:
        proc.mm.set_pte(spot, 0)
        put_page(k, k.zero_page_pfn)


def test_status_node_when_already_there(k: Kernel, proc: Task) -> None:
    """A page already on its requested node reports that node and is not migrated."""
    a = anon(k, proc, 2)
    pfn = k.page_at(proc, a)

    assert (0, [0, 1]) == call(k, proc, pages(a, 2), [0, 1])
    assert pfn == k.page_at(proc, a)


def test_status_node_check_comes_before_the_mapcount_check(k: Kernel, proc: Task) -> None:
    """A COW-shared page already on its node reports the node, not -EACCES."""
    a = anon(k, proc, 2)
    k.fork(proc)
    c = anon(k, proc, 1)

    assert (0, [0, EACCES, 1]) == call(k, proc, [a, a + PAGE_SIZE, c], [0, 1, 1])


def test_status_eacces_shared_after_fork(k: Kernel, proc: Task) -> None:
    """Private pages shared copy-on-write after fork (mapcount 2): -EACCES without MOVE_ALL;
    MOVE_ALL moves them for both processes."""
    a = anon(k, proc, 2)
    child = k.fork(proc)
    own = anon(k, proc, 1)

    assert (0, [EACCES, EACCES, 1]) == call(k, proc, pages(a, 2) + [own], [1] * 3)
    assert (0, [1, 1]) == call(k, proc, pages(a, 2), [1, 1], MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)
    assert [1, 1] == nids(k, child, pages(a, 2))
    assert k.page_at(proc, a) == k.page_at(child, a)


def test_status_vdso_is_eacces_then_ebusy(k: Kernel, proc: Task) -> None:
    """The vdso page is an ordinary page mapped by every process and on no LRU list: -EACCES
    with MOVE, -EBUSY (isolation fails) with MOVE_ALL; query reports its node."""
    a = anon(k, proc, 2)
    vdso = layout(proc).vdso

    assert (0, [0, 0]) == call(k, proc, [vdso, a], None)
    assert (0, [EACCES, 1]) == call(k, proc, [vdso, a], [1, 1])
    assert (0, [EBUSY, 1]) == call(k, proc, [vdso, a + PAGE_SIZE], [1, 1],
                                   MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)


def test_status_ebusy_duplicate_entry(k: Kernel, proc: Task) -> None:
    """The same page twice: the second entry finds it isolated (-EBUSY); a third one too
    (6.1 moves it again, 2.6.27 does not)."""
    a = anon(k, proc, 2)

    assert (0, [1, EBUSY]) == call(k, proc, [a, a], [1, 1])
    assert (0, [1, EBUSY, EBUSY]) == call(k, proc, [a + PAGE_SIZE] * 3, [1] * 3)
    assert [1, 1] == nids(k, proc, pages(a, 2))


def test_status_ebusy_page_left_isolated_by_failed_mbind_q7(k: Kernel, proc: Task) -> None:
    """Q7: mbind(MOVE) failing on a hole leaves the pages it isolated off the LRU; move_pages
    then reports -EBUSY for them."""
    a = anon(k, proc, 3)
    other_page = anon(k, proc, 1)
    k.munmap(proc, a + PAGE_SIZE, PAGE_SIZE)
    with UserArrays(k, proc, [8]) as (mask,):
        k.write_user(proc, mask, (1 << 1).to_bytes(8, "little"))
        with k.as_task(proc):
            ret = k.run(sys_mbind(k, a, 3 * PAGE_SIZE, MPOL_BIND, mask, 65, MPOL_MF_MOVE))

    assert -errno.EFAULT == ret
    assert [k.page_at(proc, a)] == k.leaked_isolated
    assert (0, [EBUSY, 1]) == call(k, proc, [a, other_page], [1, 1])


def test_status_eagain_pinned_page_after_ten_passes(k: Kernel, proc: Task) -> None:
    """A page with an extra reference fails move_mapping's count check in all 10 passes:
    status -EAGAIN, counted in the return value; its contents stay."""
    a = anon(k, proc, 2)
    pins = k.pin(proc, a, 1)
    log = k.start_trace()
    try:
        assert (1, [EAGAIN, 1]) == call(k, proc, pages(a, 2), [1, 1])
    finally:
        k.unpin(pins)

    assert MIGRATE_PASSES == pass_count(log)
    assert bytes([1]) * 16 == k.read_user(proc, a, 16)
    assert (0, [1]) == call(k, proc, [a], [1])


def test_q14_later_duplicate_requesting_the_current_node_reports_it(k: Kernel,
                                                                    proc: Task) -> None:
    """Q14: the first entry isolates and decides the target; a later duplicate that requests
    the node the page is on reports that node (the node check comes first)."""
    a = anon(k, proc, 1)

    assert (0, [1, 0]) == call(k, proc, [a, a], [1, 0])
    assert 1 == nid_at(k, proc, a)


def test_q14_isolating_entry_behind_an_already_there_entry_keeps_zero(k: Kernel,
                                                                      proc: Task) -> None:
    """Q14: the first entry is already on its node (and records the page), a later one
    isolates it: the page is copied to a fresh page on the node it is on, the result goes to
    the first entry, and the isolating entry keeps isolate_lru_page()'s 0 ("node 0")."""
    a = anon(k, proc, 1, node=1)
    old = k.page_at(proc, a)

    assert (0, [1, 0]) == call(k, proc, [a, a], [1, 0])
    assert 1 == nid_at(k, proc, a)
    assert old != k.page_at(proc, a)
    assert bytes([1]) * 16 == k.read_user(proc, a, 16)


def test_q14_two_mappings_of_one_tmpfs_page_with_move_all(k: Kernel, proc: Task) -> None:
    """Q14 with MOVE_ALL: two mappings of one tmpfs page are one page; the first entry moves
    it, the second finds it isolated (-EBUSY); without MOVE_ALL both are -EACCES."""
    f = k.create_file("/tmp/f", 1)
    m1 = k.mmap(proc, PAGE_SIZE, flags=MAP_SHARED, file=f)
    m2 = k.mmap(proc, PAGE_SIZE, flags=MAP_SHARED, file=f)
    k.write_user(proc, m1, b"shared")
    k.touch(proc, m2, False)
    a = anon(k, proc, 1)

    assert (0, [EACCES, EACCES, 1]) == call(k, proc, [m1, m2, a], [1] * 3)
    assert (0, [1, EBUSY]) == call(k, proc, [m1, m2], [1, 1], MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)
    assert (1, 1) == (nid_at(k, proc, m1), nid_at(k, proc, m2))
    assert b"shared" == k.read_user(proc, m2, 6)


def test_q15_populated_prot_none_page_is_found_and_migrated(k: Kernel, proc: Task) -> None:
    """Q15: a populated page under PROT_NONE is present: query gives its node, move migrates
    it, and its restored pte is PROT_NONE again; the contents survive."""
    a = anon(k, proc, 2)
    k.mprotect(proc, a, 2 * PAGE_SIZE, PROT_NONE)
    assert proc.mm is not None

    assert (0, [0, 0]) == call(k, proc, pages(a, 2), None)
    assert (0, [1, 1]) == call(k, proc, pages(a, 2), [1, 1])
    assert (0, [1, 1]) == call(k, proc, pages(a, 2), None)
    assert pte_protnone(proc.mm.get_pte(a))
    k.mprotect(proc, a, 2 * PAGE_SIZE, PROT_READ)
    assert bytes([2]) * 16 == k.read_user(proc, a + PAGE_SIZE, 16)


def test_q2_read_touched_anon_page_is_ordinary_and_migrates(k: Kernel, proc: Task) -> None:
    """Q2: in 2.6.27 a read fault on private anonymous memory allocates a zeroed page (no
    zero page): query gives its node, move migrates it, it still reads as zeroes."""
    r = anon(k, proc, 2, touch="read")

    assert k.zero_page_pfn not in (k.page_at(proc, r), k.page_at(proc, r + PAGE_SIZE))
    assert (0, [0, 0]) == call(k, proc, pages(r, 2), None)
    assert (0, [1, 1]) == call(k, proc, pages(r, 2), [1, 1])
    assert bytes(PAGE_SIZE) == k.read_user(proc, r, PAGE_SIZE)


def test_read_fault_maps_anon_page_dirty_and_writable_so_it_moves_dirty(k: Kernel,
                                                                         proc: Task) -> None:
    """2.6.27's do_anonymous_page() maps even a read-faulted page dirty and writable; the
    move folds the pte's dirty bit into PG_dirty and carries it to the new page."""
    r = anon(k, proc, 1, touch="read")
    pte = proc.mm.get_pte(r)
    assert pte_dirty(pte) and pte_write(pte)
    assert 0 == int(k.pages.flags[k.page_at(proc, r)]) & F_DIRTY

    assert (0, [1]) == call(k, proc, [r], [1])
    assert F_DIRTY == int(k.pages.flags[k.page_at(proc, r)]) & F_DIRTY


def test_read_fault_of_read_only_anon_vma_is_dirty_but_not_writable(k: Kernel,
                                                                   proc: Task) -> None:
    """maybe_mkwrite(): a read fault in a PROT_READ anon vma maps the page dirty but
    read-only."""
    r = anon(k, proc, 1, touch="read", prot=PROT_READ)
    pte = proc.mm.get_pte(r)
    assert pte_dirty(pte) and not pte_write(pte)


def test_query_mode_every_kind(k: Kernel, proc: Task) -> None:
    """Query mode (do_pages_stat) on every kind of address: the node of every present page
    (anon, read-touched, PROT_NONE, tmpfs shared and private, shared anon, vdso, text,
    heap, stack), -ENOENT for absent pages and holes, -EFAULT above the last vma."""
    a = anon(k, proc, 1, node=1)
    r = anon(k, proc, 1, touch="read")
    pn = anon(k, proc, 1)
    k.mprotect(proc, pn, PAGE_SIZE, PROT_NONE)
    u = anon(k, proc, 1, touch=None)
    s = anon(k, proc, 1, node=1, flags=MAP_SHARED | MAP_ANONYMOUS)
    f = k.create_file("/tmp/f", 2)
    fm = k.mmap(proc, 2 * PAGE_SIZE, flags=MAP_SHARED, file=f)
    k.write_user(proc, fm, b"x")
    fp = k.mmap(proc, 2 * PAGE_SIZE, flags=MAP_PRIVATE, file=f)
    k.touch(proc, fp, False)
    hole = anon(k, proc, 3)
    k.munmap(proc, hole + PAGE_SIZE, PAGE_SIZE)
    lay = layout(proc)
    rows = [
        (a, 1), (r, 0), (pn, 0), (u, ENOENT), (s, 1), (fm, 0), (fm + PAGE_SIZE, ENOENT),
        (fp, 0), (fp + PAGE_SIZE, ENOENT), (hole + PAGE_SIZE, ENOENT), (0, ENOENT),
        (lay.bad_page, ENOENT), (lay.vdso, 0), (lay.text, 0), (lay.heap, 0), (lay.stack, 0),
        (a + 123, 1), (TASK_SIZE, EFAULT), (KERNEL_ADDR, EFAULT),
    ]

    assert (0, [st for _, st in rows]) == call(k, proc, [ad for ad, _ in rows], None)


def test_q10_enomem_after_earlier_pages_moved(k: Kernel, proc: Task) -> None:
    """Q10: the target node runs out after 3 pages: -ENOMEM, no status written, the first 3
    pages moved, the others put back where they were."""
    a = anon(k, proc, 8)
    fill = []
    while (pfn := alloc_pages_node(k, 1, GFP_HIGHUSER_MOVABLE | GFP_THISNODE)) is not None:
        fill.append(pfn)
    for pfn in fill[-3:]:
        put_page(k, pfn)
    del fill[-3:]
    try:
        assert (-errno.ENOMEM, [UNSET] * 8) == call(k, proc, pages(a, 8), [1] * 8)
        assert [1, 1, 1, 0, 0, 0, 0, 0] == nids(k, proc, pages(a, 8))
    finally:
        for pfn in fill:
            put_page(k, pfn)

    assert [bytes([i + 1]) * 16 for i in range(8)] == [
        k.read_user(proc, ad, 16) for ad in pages(a, 8)]


def test_status_enomem_memcg_charge_failure_is_never_copied_out(k: Kernel,
                                                                proc: Task) -> None:
    """A failing memcg charge of the new page: unmap_and_move() returns -ENOMEM and stores it
    in the first page's status, migrate_pages() aborts, and the call fails with -ENOMEM, so
    that status is never copied out; the page never attempted keeps isolate's 0 (SPEC §2.19
    step 3, §2.22 step 3, §3.1).  API only: the root cgroup's limit is set by hand."""
    a = anon(k, proc, 2)
    assert proc.mm is not None
    cg = k.memcgs[ROOT_MEM_CGROUP]
    try:
        with UserArrays(k, proc, [16, 8, 8]) as (p_ptr, n_ptr, s_ptr):
            k.write_user(proc, p_ptr, np.asarray(pages(a, 2), "<u8").tobytes())
            k.write_user(proc, n_ptr, np.asarray([1, 1], "<i4").tobytes())
            k.write_user(proc, s_ptr, np.full(2, UNSET, "<i4").tobytes())
            cg.limit = cg.usage  # the argument pages are charged already: the next charge fails
            ret = k.sys_move_pages(proc, 0, 2, p_ptr, n_ptr, s_ptr, MPOL_MF_MOVE)
            status = np.frombuffer(k.read_user(proc, s_ptr, 8), "<i4").tolist()
        assert (-errno.ENOMEM, [UNSET, UNSET]) == (ret, status)
        pm = migrate.PageToNode(2)
        pm.addr[:2] = pages(a, 2)
        pm.node[:2] = [1, 1]
        cg.limit = cg.usage  # the argument arrays were unmapped (and uncharged)
        with k.as_task(proc):
            assert -errno.ENOMEM == k.run(migrate.do_move_pages(k, proc.mm, pm, False))
        assert [-errno.ENOMEM, 0] == pm.status[:2].tolist()
    finally:
        cg.limit = RES_COUNTER_MAX

    assert [0, 0] == nids(k, proc, pages(a, 2))


def test_q5_page_freed_under_us_reports_the_target_node(k: Kernel, proc: Task) -> None:
    """Q5: an isolated page whose last mapping goes away before migrate_pages() reaches it
    (count 1: only the isolation reference) counts as migrated, and its status is the
    target node.  API only: do_move_pages() is driven by hand and the pte is zapped at its
    first reschedule point, as a concurrent MADV_DONTNEED (mmap_sem for reading) would."""
    a = anon(k, proc, 2)
    assert proc.mm is not None
    pm = migrate.PageToNode(2)
    pm.addr[:2] = pages(a, 2)
    pm.node[:2] = [1, 1]
    with k.as_task(proc):
        gen = migrate.do_move_pages(k, proc.mm, pm, False)
        next(gen)  # the first cond_resched() of migrate_pages(): both pages isolated
        vma = proc.mm.find_vma(a)
        assert vma is not None
        zap_pte_range(k, vma, a, a + PAGE_SIZE)

        def rest():  # type: ignore[no-untyped-def]
            return (yield from gen)  # resumes the started generator where it stopped

        ret = k.run(rest())

    assert 0 == ret
    assert [1, 1] == pm.status[:2].tolist()
    assert [None, 1] == nids(k, proc, pages(a, 2))


def test_do_move_pages_with_no_entries_is_enoent(k: Kernel, proc: Task) -> None:
    """do_move_pages() on a record array holding only the end marker: -ENOENT."""
    assert proc.mm is not None
    pm = migrate.PageToNode(0)

    assert MAX_NUMNODES == int(pm.node[0])
    with k.as_task(proc):
        assert -errno.ENOENT == k.run(migrate.do_move_pages(k, proc.mm, pm, False))


def test_do_pages_stat_always_returns_zero(k: Kernel, proc: Task) -> None:
    """do_pages_stat() returns 0 whatever the statuses are; it never isolates anything."""
    a = anon(k, proc, 1)
    assert proc.mm is not None
    pm = migrate.PageToNode(3)
    pm.addr[:3] = [a, KERNEL_ADDR, 0]
    log = k.start_trace()

    with k.as_task(proc):
        assert 0 == migrate.do_pages_stat(k, proc.mm, pm)
    assert [0, EFAULT, ENOENT] == pm.status[:3].tolist()
    assert [] == [e for e, _ in log if e == "mm_migrate_isolate"]


# == migrate_vmas() (SPEC §2.25, Q8) ==

@pytest.fixture
def hooked(proc: Task) -> Iterator[tuple[MmStruct, list[VmArea]]]:
    """The process's mm, with vm_ops restored after the test."""
    assert proc.mm is not None
    saved = [(v, v.vm_ops) for v in proc.mm.vmas]
    yield proc.mm, proc.mm.vmas
    for v, ops in saved:
        v.vm_ops = ops


def test_migrate_vmas_never_visits_the_last_vma(k: Kernel, hooked: tuple[MmStruct,
                                                                          list[VmArea]]) -> None:
    """Q8: the loop tests vma->vm_next, so the last vma's migrate hook is never called."""
    mm, vmas = hooked
    called: list[tuple[VmArea, frozenset[int], frozenset[int], int]] = []

    def hook(vma: VmArea, to: frozenset[int], from_: frozenset[int], flags: int) -> int:
        called.append((vma, to, from_, flags))
        return 0

    vmas[0].vm_ops = VmOps(fault="none", migrate=hook)
    vmas[-1].vm_ops = VmOps(fault="none", migrate=hook)
    to, from_ = frozenset({1}), frozenset({0})

    assert 0 == migrate.migrate_vmas(k, mm, to, from_, MPOL_MF_MOVE)
    assert [(vmas[0], to, from_, MPOL_MF_MOVE)] == called


def test_migrate_vmas_stops_at_the_first_error(k: Kernel, hooked: tuple[MmStruct,
                                                                         list[VmArea]]) -> None:
    """The first hook returning an error ends the walk and its error is returned."""
    mm, vmas = hooked
    called: list[int] = []

    def failing(i: int, err: int):  # type: ignore[no-untyped-def]
        def hook(vma: VmArea, to: frozenset[int], from_: frozenset[int], flags: int) -> int:
            called.append(i)
            return err
        return hook

    vmas[1].vm_ops = VmOps(fault="none", migrate=failing(1, 0))
    vmas[2].vm_ops = VmOps(fault="none", migrate=failing(2, -errno.EIO))
    vmas[3].vm_ops = VmOps(fault="none", migrate=failing(3, -errno.EINVAL))

    assert -errno.EIO == migrate.migrate_vmas(k, mm, frozenset({1}), frozenset({0}), 0)
    assert [1, 2] == called


def test_migrate_vmas_without_hooks_is_zero(k: Kernel, proc: Task) -> None:
    """No 2.6.27 vma type has a migrate hook: the walk returns 0."""
    assert proc.mm is not None

    assert 0 == migrate.migrate_vmas(k, proc.mm, frozenset({1}), frozenset({0}), 0)
