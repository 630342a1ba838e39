"""move_pages(2) of the Linux 6.1 profile at the API level (oracle README items 1-7, SPEC §8).

Each test states the 6.1 rule and checks it with hand-worked values; where 2.6.27 differs the
test runs the same call on a 2.6.27 machine too.  The argument arrays live in the caller's
memory, each ending at a PROT_NONE guard page, and the status array is preset to -99999
(the probe's UNSET), so unwritten statuses show.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import numpy as np
import pytest

from pagemig.kernel import Kernel, Topology, UserArrays
from pagemig.mm.mempolicy import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.mm.mmap import MAP_ANONYMOUS, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE
from pagemig.mm.swapops import _PAGE_SPECIAL, pte_pfn, pte_write
from pagemig.sched import CAP_SYS_NICE, CAP_SYS_PTRACE, Task
from pagemig.validate import validate

UNSET = -99999
EFAULT, ENOENT, EACCES, EBUSY = -errno.EFAULT, -errno.ENOENT, -errno.EACCES, -errno.EBUSY
SMALL = Topology(nodes=2, mem_per_node_mb=64)
KERNEL_ADDR = 0xFFFF888000100000
NONCANONICAL = 0x0000800000000000


@pytest.fixture
def k() -> Iterator[Kernel]:
    """A small 2-node machine with the 6.1 profile, validated at the end of the test."""
    kernel = Kernel(SMALL, "6.1")
    yield kernel
    validate(kernel)


@pytest.fixture
def proc(k: Kernel) -> Task:
    """A probe-like process on CPU 0 (node 0)."""
    return k.spawn()


def call(k: Kernel, caller: Task, addrs: list[int], nodes: list[int] | None,
         flags: int = MPOL_MF_MOVE, pid: int = 0, count: int | None = None,
         status_ptr: int | None = None) -> tuple[int, list[int]]:
    """sys_move_pages() with the arrays in ``caller``'s memory; (raw result, statuses)."""
    n = len(addrs)
    with UserArrays(k, caller, [8 * n, 4 * n, 4 * n]) as (p_ptr, n_ptr, s_ptr):
        k.write_user(caller, p_ptr, np.asarray(addrs, "<u8").tobytes())
        k.write_user(caller, s_ptr, np.full(n, UNSET, "<i4").tobytes())
        if nodes is not None:
            k.write_user(caller, n_ptr, np.asarray(nodes, "<i4").tobytes())
        ret = k.sys_move_pages(caller, pid, n if count is None else count, p_ptr,
                               n_ptr if nodes is not None else 0,
                               s_ptr if status_ptr is None else status_ptr, flags)
        status = np.frombuffer(k.read_user(caller, s_ptr, 4 * n), "<i4").tolist()
    return ret, [int(s) for s in status]


def anon(k: Kernel, task: Task, npages: int, touch: str | None = "write",
         flags: int | None = None) -> int:
    """An anonymous mapping of ``task`` (private unless ``flags``), each page touched."""
    prot = PROT_READ | PROT_WRITE
    addr = k.mmap(task, npages * PAGE_SIZE, prot) if flags is None else \
        k.mmap(task, npages * PAGE_SIZE, prot, flags)
    for i in range(npages):
        if touch == "write":
            k.write_user(task, addr + i * PAGE_SIZE, bytes([i + 1]) * 16)
        elif touch == "read":
            k.touch(task, addr + i * PAGE_SIZE, False)
    return addr


def pages(addr: int, npages: int) -> list[int]:
    """The addresses of ``npages`` pages from ``addr``."""
    return [addr + i * PAGE_SIZE for i in range(npages)]


def nids(k: Kernel, task: Task, addrs: list[int]) -> list[int | None]:
    """The node of the page at each address (None: no page)."""
    out: list[int | None] = []
    for a in addrs:
        pfn = k.page_at(task, a)
        out.append(None if pfn is None else k.pfn_to_nid(pfn))
    return out


def migrated(k: Kernel) -> tuple[int, int]:
    """(pgmigrate_success, pgmigrate_fail) so far."""
    return k.vm_events.get("pgmigrate_success", 0), k.vm_events.get("pgmigrate_fail", 0)


# == the zero page and FOLL_DUMP lookups ==

def test_read_fault_maps_the_zero_page_without_a_reference(k: Kernel, proc: Task) -> None:
    """A read fault of private anonymous memory maps the zero page with a special
    read-only pte; the zero page's count and mapcount do not change, and it reads as
    zeroes."""
    zp = k.zero_page_pfn
    count, mapcount = int(k.pages.count[zp]), int(k.pages.mapcount[zp])
    a = anon(k, proc, 2, touch="read")

    for addr in pages(a, 2):
        pte = proc.mm.get_pte(addr)
        assert (zp, _PAGE_SPECIAL, False) == (pte_pfn(pte), pte & _PAGE_SPECIAL, pte_write(pte))
    assert (count, mapcount) == (int(k.pages.count[zp]), int(k.pages.mapcount[zp]))
    assert bytes(PAGE_SIZE) == k.read_user(proc, a, PAGE_SIZE)


def test_zero_page_is_efault_in_both_modes_and_does_not_move(k: Kernel, proc: Task) -> None:
    """The zero page: -EFAULT in query and move mode (FOLL_DUMP); nothing migrates."""
    a = anon(k, proc, 2, touch="read")

    assert (0, [EFAULT, EFAULT]) == call(k, proc, pages(a, 2), None)
    assert (0, [EFAULT, EFAULT]) == call(k, proc, pages(a, 2), [1, 1])
    assert (0, 0) == migrated(k)


def test_write_after_read_copies_the_zero_page_to_a_fresh_page(k: Kernel,
                                                               proc: Task) -> None:
    """A write fault on the zero page maps a fresh zeroed page (mapcount 1, writable); the
    zero page's count is unchanged; the new page moves."""
    zp = k.zero_page_pfn
    count = int(k.pages.count[zp])
    a = anon(k, proc, 1, touch="read")
    k.write_user(proc, a + 8, b"\x07")

    pfn = k.page_at(proc, a)
    assert pfn is not None and zp != pfn
    assert (1, count) == (int(k.pages.mapcount[pfn]), int(k.pages.count[zp]))
    assert pte_write(proc.mm.get_pte(a))
    assert bytes(8) + b"\x07" + bytes(7) == k.read_user(proc, a, 16)
    assert (0, [1]) == call(k, proc, [a], [1])


def test_zero_page_on_2_6_27_does_not_exist() -> None:
    """2.6.27 allocates a private page for the same read fault: it reports its node."""
    k27 = Kernel(SMALL)
    p = k27.spawn()
    a = anon(k27, p, 1, touch="read")
    assert (0, [0]) == call(k27, p, [a], None)
    validate(k27)


def test_untouched_memory_private_anon_efault_shared_enoent(k: Kernel, proc: Task) -> None:
    """Untouched private anonymous memory is -EFAULT (FOLL_DUMP, no page table or a none
    pte); untouched shared anonymous memory (it has a fault handler) is -ENOENT."""
    u = anon(k, proc, 2, touch=None)
    s = anon(k, proc, 2, touch=None, flags=MAP_SHARED | MAP_ANONYMOUS)

    assert (0, [EFAULT, EFAULT, ENOENT, ENOENT]) == call(k, proc, pages(u, 2) + pages(s, 2),
                                                         None)
    assert (0, [EFAULT, EFAULT, ENOENT, ENOENT]) == call(k, proc, pages(u, 2) + pages(s, 2),
                                                         [1] * 4)


def test_present_prot_none_page_is_enoent(k: Kernel, proc: Task) -> None:
    """A populated page made PROT_NONE is not followed without FOLL_FORCE: -ENOENT in both
    modes, and it stays on node 0."""
    a = anon(k, proc, 1)
    k.mprotect(proc, a, PAGE_SIZE, PROT_NONE)

    assert (0, [ENOENT]) == call(k, proc, [a], None)
    assert (0, [ENOENT]) == call(k, proc, [a], [1])
    assert [0] == nids(k, proc, [a])


def test_address_in_a_hole_is_efault_not_the_next_vma(k: Kernel, proc: Task) -> None:
    """vma_lookup(): an address in a hole below a vma is -EFAULT (2.6.27's find_vma()
    looks at the next vma and says -ENOENT)."""
    a = anon(k, proc, 3)
    k.munmap(proc, a + PAGE_SIZE, PAGE_SIZE)

    assert (0, [1, EFAULT, 1]) == call(k, proc, pages(a, 3), [1, 1, 1])
    assert (0, [1, EFAULT, 1]) == call(k, proc, pages(a, 3), None)


@pytest.mark.parametrize("addr", [0, KERNEL_ADDR, NONCANONICAL, (1 << 64) - 4096])
def test_kernel_null_and_noncanonical_addresses_are_efault(k: Kernel, proc: Task,
                                                           addr: int) -> None:
    """No vma contains them: -EFAULT, in both modes."""
    assert (0, [EFAULT]) == call(k, proc, [addr], [1])
    assert (0, [EFAULT]) == call(k, proc, [addr], None)


def test_vdso_is_eacces_and_ebusy_with_move_all(k: Kernel, proc: Task) -> None:
    """The vDSO page is mapped by init and by the caller: -EACCES; with MOVE_ALL it is on
    no LRU list: -EBUSY."""
    vdso = proc.mm.layout.vdso  # type: ignore[attr-defined]
    assert (0, [EACCES]) == call(k, proc, [vdso], [1])
    assert (0, [EBUSY]) == call(k, proc, [vdso], [1], MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)


# == batching, duplicates and statuses ==

def test_duplicate_to_one_node_is_ebusy_then_moves_again(k: Kernel, proc: Task) -> None:
    """a,a: the second entry finds the page isolated (-EBUSY), which flushes the batch;
    a,a,a: the third entry finds it already on node 1 and reports 1."""
    a = anon(k, proc, 2)

    assert (0, [1, EBUSY]) == call(k, proc, [a, a], [1, 1])
    assert (0, [1, EBUSY, 1]) == call(k, proc, [a + PAGE_SIZE] * 3, [1] * 3)
    assert [1, 1] == nids(k, proc, pages(a, 2))
    assert (2, 0) == migrated(k)


def test_duplicate_to_two_nodes_moves_the_page_twice(k: Kernel, proc: Task) -> None:
    """a to node 1 then a to node 0: the node change migrates the first batch, the new page
    goes straight to the LRU (LRU caching is disabled for the call) and is moved back."""
    a = anon(k, proc, 1)

    assert (0, [1, 0]) == call(k, proc, [a, a], [1, 0])
    assert [0] == nids(k, proc, [a])
    assert (2, 0) == migrated(k)
    assert 0 == k.lru_disable_count


def test_already_on_target_is_reported_before_the_mapcount_check(k: Kernel,
                                                                 proc: Task) -> None:
    """A COW-shared page after fork: its own node is reported (0), not -EACCES; another
    node gives -EACCES without MOVE_ALL."""
    a = anon(k, proc, 1)
    k.fork(proc)

    assert (0, [0]) == call(k, proc, [a], [0])
    assert (0, [EACCES]) == call(k, proc, [a], [1])


def test_pinned_pages_fail_the_batch_positive_count_statuses_unwritten(k: Kernel,
                                                                      proc: Task) -> None:
    """One batch of 4 with a pinned page: the 3 others move, the pinned one fails after
    the passes; the result is 1 failed + 0 not attempted, and no status is written.
    pgmigrate: 3 successes, 1 failure."""
    a = anon(k, proc, 4)
    k.pin(proc, a + PAGE_SIZE, 1)

    assert (1, [UNSET] * 4) == call(k, proc, pages(a, 4), [1] * 4)
    assert [1, 0, 1, 1] == nids(k, proc, pages(a, 4))
    assert (3, 1) == migrated(k)


def test_failed_batch_at_a_node_change_counts_the_entries_not_attempted(k: Kernel,
                                                                        proc: Task) -> None:
    """Entries 0-1 to node 1 (entry 1 pinned), entries 2-3 to node 0: the node change at
    entry 2 migrates the batch, which fails 1 page: 1 + (4 - 2) = 3, nothing written,
    entries 2 and 3 never looked at."""
    a = anon(k, proc, 4)
    k.pin(proc, a + PAGE_SIZE, 1)

    assert (3, [UNSET] * 4) == call(k, proc, pages(a, 4), [1, 1, 0, 0])
    assert [1, 0, 0, 0] == nids(k, proc, pages(a, 4))


def test_failed_batch_behind_a_failing_entry_does_not_count_that_entry(k: Kernel,
                                                                       proc: Task) -> None:
    """Entries 0-1 queued (1 pinned), entry 2 an unmapped address: its -EFAULT is stored,
    then the batch fails 1 page: 1 + (4 - 2) - 1 = 2; entry 3 is never looked at."""
    a = anon(k, proc, 4)
    k.pin(proc, a + PAGE_SIZE, 1)

    assert (2, [UNSET, UNSET, EFAULT, UNSET]) == call(k, proc, pages(a, 2) + [0, a + 3 * PAGE_SIZE],
                                                      [1] * 4)
    assert [1, 0, None, 0] == nids(k, proc, pages(a, 2) + [0, a + 3 * PAGE_SIZE])


def test_bad_node_migrates_the_pending_batch_and_leaves_the_rest_unwritten(k: Kernel,
                                                                         proc: Task) -> None:
    """nodes [1, 1, 7, 1]: entries 0-1 are queued, node 7 stops the loop with -ENODEV, the
    pending batch still moves and gets its statuses; entries 2-3 stay unwritten."""
    a = anon(k, proc, 4)

    assert (-errno.ENODEV, [1, 1, UNSET, UNSET]) == call(k, proc, pages(a, 4), [1, 1, 7, 1])
    assert [1, 1, 0, 0] == nids(k, proc, pages(a, 4))


def test_node_outside_the_cpuset_is_eacces_entry_by_entry(k: Kernel, proc: Task) -> None:
    """A node outside the target's cpuset at entry 1: entry 0 moves, then -EACCES."""
    a = anon(k, proc, 2)
    proc.mems_allowed = frozenset({0})

    assert (-errno.EACCES, [0, UNSET]) == call(k, proc, pages(a, 2), [0, 1])


def test_no_e2big_count_past_the_arrays_is_efault_after_the_real_entries(k: Kernel,
                                                                         proc: Task) -> None:
    """A count past the arrays: the real entries are queued and migrated (statuses
    written), then reading the guard page gives -EFAULT; also for 2^64 - 1."""
    a = anon(k, proc, 4)

    assert (-errno.EFAULT, [1, 1, 1, 1]) == call(k, proc, pages(a, 4), [1] * 4, count=1 << 28)
    assert (-errno.EFAULT, [0, 0, 0, 0]) == call(k, proc, pages(a, 4), [0] * 4,
                                                 count=(1 << 64) - 1)


@pytest.mark.parametrize("which", ["null", "read_only"])
def test_unwritable_status_still_migrates_then_efault(k: Kernel, proc: Task,
                                                     which: str) -> None:
    """A NULL or read-only status array: the batch still migrates, then -EFAULT."""
    a = anon(k, proc, 2)
    ro = k.mmap(proc, PAGE_SIZE, PROT_READ)
    ptr = 0 if which == "null" else ro

    assert -errno.EFAULT == call(k, proc, pages(a, 2), [1, 1], status_ptr=ptr)[0]
    assert [1, 1] == nids(k, proc, pages(a, 2))


def test_query_reads_16_entries_at_a_time(k: Kernel, proc: Task) -> None:
    """Query mode with 20 entries and a count of 40: the first chunk of 16 is written, the
    second one faults on the guard page (-EFAULT) and writes nothing."""
    a = anon(k, proc, 20)
    ret, status = call(k, proc, pages(a, 20), None, count=40)

    assert -errno.EFAULT == ret
    assert [0] * 16 + [UNSET] * 4 == status


# == permission: the ptrace rule ==

def _user(task: Task, uid: int) -> None:
    task.uid = task.euid = task.suid = task.gid = uid
    task.cap_effective = task.cap_permitted = frozenset()


def test_other_users_process_is_eperm_in_both_modes(k: Kernel, proc: Task) -> None:
    """An unprivileged caller and a root target: ptrace_may_access() refuses (-EPERM), in
    query mode too; the caller's own pages are fine."""
    target = k.spawn("other")
    t = anon(k, target, 1)
    mine = anon(k, proc, 1)
    _user(proc, 65534)

    assert (-errno.EPERM, [UNSET]) == call(k, proc, [t], [1], pid=target.pid)
    assert (-errno.EPERM, [UNSET]) == call(k, proc, [t], None, pid=target.pid)
    assert (0, [1]) == call(k, proc, [mine], [1])


def test_same_uid_but_more_capabilities_is_eperm_on_6_1_only(k: Kernel, proc: Task) -> None:
    """Same uids, but the target has capabilities the caller lacks (and no CAP_SYS_PTRACE):
    the capability hook refuses on 6.1; 2.6.27's uid rule allows."""
    for kern in (k, Kernel(SMALL)):
        caller = proc if kern is k else kern.spawn()
        target = kern.spawn("other")
        t = anon(kern, target, 1)
        _user(caller, 1000)
        target.uid = target.euid = target.suid = target.gid = 1000
        expected = (-errno.EPERM, [UNSET]) if kern is k else (0, [1])
        assert expected == call(kern, caller, [t], [1], pid=target.pid)
        validate(kern)


def test_cap_sys_ptrace_overrides_and_cap_sys_nice_does_not(k: Kernel, proc: Task) -> None:
    """uid 1000 with only CAP_SYS_PTRACE may move a root process's pages; with only
    CAP_SYS_NICE it may not (2.6.27 would allow that)."""
    target = k.spawn("other")
    t = anon(k, target, 1)
    _user(proc, 1000)
    proc.cap_effective = proc.cap_permitted = frozenset({CAP_SYS_NICE})
    assert (-errno.EPERM, [UNSET]) == call(k, proc, [t], [1], pid=target.pid)
    proc.cap_effective = proc.cap_permitted = frozenset({CAP_SYS_PTRACE})
    assert (0, [1]) == call(k, proc, [t], [1], pid=target.pid)


def test_ptrace_check_comes_before_the_mm_check(k: Kernel, proc: Task) -> None:
    """A zombie child: -EINVAL (no mm) for its owner, but -EPERM for another user, since
    the ptrace check runs first."""
    child = k.fork(proc)
    k.exit(child)
    assert -errno.EINVAL == k.sys_move_pages(proc, child.pid, 1, 0, 0, 0, MPOL_MF_MOVE)
    stranger = k.spawn("stranger")
    _user(stranger, 65534)
    assert -errno.EPERM == k.sys_move_pages(stranger, child.pid, 1, 0, 0, 0, MPOL_MF_MOVE)


def test_move_all_still_needs_cap_sys_nice(k: Kernel, proc: Task) -> None:
    """MOVE_ALL without CAP_SYS_NICE: -EPERM even for the caller's own pages."""
    a = anon(k, proc, 1)
    proc.cap_effective = proc.cap_effective - {CAP_SYS_NICE}
    assert (-errno.EPERM, [UNSET]) == call(k, proc, [a], [1], MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)


def test_ptrace_rule_wants_every_uid_and_the_gid(k: Kernel, proc: Task) -> None:
    """Same uids but another gid, or another saved uid, without CAP_SYS_PTRACE: -EPERM;
    the same ids and capabilities: allowed."""
    from pagemig.ptrace import PTRACE_MODE_READ_REALCREDS, ptrace_may_access

    target = k.spawn("other")
    _user(proc, 1000)
    _user(target, 1000)
    assert ptrace_may_access(proc, target, PTRACE_MODE_READ_REALCREDS)
    target.gid = 1001
    assert not ptrace_may_access(proc, target, PTRACE_MODE_READ_REALCREDS)
    target.gid, target.suid = 1000, 0
    assert not ptrace_may_access(proc, target, PTRACE_MODE_READ_REALCREDS)


def test_page_in_a_pagevec_is_isolated_after_lru_cache_disable(k: Kernel,
                                                               proc: Task) -> None:
    """A page just faulted in sits in a per-CPU pagevec; lru_cache_disable() drains it at
    the start of the call, so it moves; caching is enabled again afterwards."""
    a = anon(k, proc, 1)
    pfn = k.page_at(proc, a)
    assert int(k.pvec_len[0].sum()) > 0 and pfn in k.pvecs[0].ravel().tolist()

    assert (0, [1]) == call(k, proc, [a], [1])
    assert 0 == k.lru_disable_count
