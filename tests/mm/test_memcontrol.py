"""Memory cgroups with limits (mm/memcontrol.c, Linux 2.6.27; SPEC §1.8, §2.19, §3.3, §5.11).

Charges are made by real faults of a task moved into a cgroup; migration is driven through
move_pages(2) made by init (in the root cgroup), so that the caller's argument arrays are
not charged to the cgroup under test.  Expected values are worked out by hand in comments.
A charge that may sleep (GFP_KERNEL) and fails counts 6 failures: the first try and the
5 retries after a reclaim that frees nothing in the model; one that may not sleep counts 1.
"""

from __future__ import annotations

import errno

import pytest

from pagemig.kernel import Kernel
from pagemig.mm.memcontrol import (
    MEM_CGROUP_CHARGE_TYPE_CACHE,
    MEM_CGROUP_CHARGE_TYPE_MAPPED,
    RES_COUNTER_MAX,
    ROOT_MEM_CGROUP,
    MemCgroup,
    mem_cgroup_cache_charge,
    mem_cgroup_charge,
    mem_cgroup_charge_common,
    mem_cgroup_create,
    mem_cgroup_end_migration,
    mem_cgroup_move_task,
    mem_cgroup_prepare_migration,
    mem_cgroup_resize_limit,
    page_cgroup_of,
)
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.mm.mmap import MAP_ANONYMOUS, MAP_SHARED
from pagemig.mm.page_alloc import (
    GFP_ATOMIC,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL,
    GFP_NOWAIT,
    alloc_pages_node,
)
from pagemig.mm.swap import lru_add_drain_all, put_page
from pagemig.sched import Task
from pagemig.validate import validate

MAPPED, CACHE = MEM_CGROUP_CHARGE_TYPE_MAPPED, MEM_CGROUP_CHARGE_TYPE_CACHE
KERNEL_FAILS = 6  # a failed GFP_KERNEL charge: 1 try + MEM_CGROUP_RECLAIM_RETRIES (5)


# -- helpers --

def limited(k: Kernel, task: Task, limit: int | None) -> MemCgroup:
    """A new cgroup with ``limit`` pages, with ``task`` moved into it."""
    cg = mem_cgroup_create(k, limit)
    assert mem_cgroup_move_task(k, task, cg) == 0
    return cg


def anon(k: Kernel, task: Task, n: int, tag: bytes = b"page") -> int:
    """``n`` private anonymous pages of ``task``, each written (tag + its index)."""
    a = k.mmap(task, n * PAGE_SIZE)
    for i in range(n):
        k.write_user(task, a + i * PAGE_SIZE, tag + bytes([48 + i]))
    return a


def pfns_of(k: Kernel, task: Task, a: int, n: int) -> list[int | None]:
    return [k.page_at(task, a + i * PAGE_SIZE) for i in range(n)]


def records(k: Kernel, pfns: list[int | None]) -> list[tuple[int, int] | None]:
    return [page_cgroup_of(k, p) for p in pfns if p is not None]


def counters(cg: MemCgroup) -> tuple[int, int, int, int, int]:
    """(usage, limit, failcnt, max_usage, oom_calls)."""
    return cg.usage, cg.limit, cg.failcnt, cg.max_usage, cg.oom_calls


def move(k: Kernel, task: Task, a: int, n: int, node: int) -> tuple[int, list[int]]:
    """move_pages(2) of ``n`` pages of ``task`` from ``a`` to ``node``, called by init."""
    addrs = [a + i * PAGE_SIZE for i in range(n)]
    return k.move_pages(k.init_task(), task.pid, addrs, [node] * n)


def fresh_page(k: Kernel, nid: int = 1) -> int:
    pfn = alloc_pages_node(k, nid, GFP_HIGHUSER_MOVABLE)
    assert pfn is not None
    return pfn


# -- cgroups, limits, tasks --

def test_root_cgroup_alone_and_unlimited_at_boot(k: Kernel) -> None:
    """At boot only the root cgroup exists, limited to LLONG_MAX bytes (2**51 - 1 pages)."""
    assert list(k.memcgs) == [ROOT_MEM_CGROUP]
    root = k.memcgs[ROOT_MEM_CGROUP]
    assert (root.limit, root.failcnt, root.oom_calls) == (RES_COUNTER_MAX, 0, 0)
    assert RES_COUNTER_MAX == 2**51 - 1
    assert root.usage > 0 and root.max_usage == root.usage  # init, kthreadd's pages


def test_create_gives_fresh_ids_above_root(k: Kernel) -> None:
    """Cgroups get ids 2, 3, ... and are registered; without a limit they are unlimited."""
    a = mem_cgroup_create(k, 5)
    b = mem_cgroup_create(k)
    assert (a.id, b.id) == (2, 3)
    assert k.memcgs[2] is a and k.memcgs[3] is b
    assert counters(a) == (0, 5, 0, 0, 0)
    assert counters(b) == (0, RES_COUNTER_MAX, 0, 0, 0)
    c = mem_cgroup_create(k, 0)  # a limit of 0 pages is a valid limit
    assert (c.id, c.limit) == (4, 0)


def test_create_rejects_a_negative_limit(k: Kernel) -> None:
    """A negative limit is a ValueError and registers nothing."""
    with pytest.raises(ValueError):
        mem_cgroup_create(k, -1)
    assert list(k.memcgs) == [ROOT_MEM_CGROUP]


def test_resize_limit_below_usage_is_ebusy(k: Kernel, proc: Task) -> None:
    """Lowering the limit below usage gives -EBUSY and keeps the limit; to usage or up is fine."""
    cg = limited(k, proc, 10)
    anon(k, proc, 3)
    assert cg.usage == 3
    assert mem_cgroup_resize_limit(k, cg, 2) == -errno.EBUSY
    assert cg.limit == 10
    assert mem_cgroup_resize_limit(k, cg, 3) == 0 and cg.limit == 3
    assert mem_cgroup_resize_limit(k, cg.id, 7) == 0 and cg.limit == 7  # by id as well
    assert cg.failcnt == 0  # resizing is not charging
    with pytest.raises(ValueError):
        mem_cgroup_resize_limit(k, cg, -1)


def test_move_task_sets_the_task_cgroup(k: Kernel, proc: Task) -> None:
    """Moving a task sets task.mem_cgroup; moving it where it is already is a no-op."""
    cg = mem_cgroup_create(k)
    assert proc.mem_cgroup == ROOT_MEM_CGROUP
    assert mem_cgroup_move_task(k, proc, cg) == 0 and proc.mem_cgroup == cg.id
    assert mem_cgroup_move_task(k, proc, cg.id) == 0 and proc.mem_cgroup == cg.id
    assert mem_cgroup_move_task(k, proc, ROOT_MEM_CGROUP) == 0
    assert proc.mem_cgroup == ROOT_MEM_CGROUP


def test_move_task_of_an_exited_task_is_esrch(k: Kernel, proc: Task) -> None:
    """A zombie (PF_EXITING) cannot be moved: -ESRCH, its cgroup unchanged."""
    cg = mem_cgroup_create(k)
    k.exit(proc)
    assert mem_cgroup_move_task(k, proc, cg) == -errno.ESRCH
    assert proc.mem_cgroup == ROOT_MEM_CGROUP


# -- charges through faults --

def test_anon_write_fault_charges_mapped_munmap_uncharges(k: Kernel, proc: Task) -> None:
    """An anon write fault charges a MAPPED record to the task's cgroup; munmap removes it."""
    root = k.memcgs[ROOT_MEM_CGROUP]
    root_usage = root.usage
    cg = limited(k, proc, 10)
    a = anon(k, proc, 2)
    p0, p1 = pfns_of(k, proc, a, 2)
    assert records(k, [p0, p1]) == [(cg.id, MAPPED), (cg.id, MAPPED)]
    assert counters(cg) == (2, 10, 0, 2, 0)
    k.munmap(proc, a, PAGE_SIZE)  # page_remove_rmap(): mapcount 0, the record goes
    assert page_cgroup_of(k, p0) is None and page_cgroup_of(k, p1) == (cg.id, MAPPED)
    assert counters(cg) == (1, 10, 0, 2, 0)
    assert root.usage == root_usage  # nothing of this went to the root


def test_anon_read_fault_charges_too(k: Kernel, proc: Task) -> None:
    """2.6.27 maps a fresh page for an anon read fault (no zero page), so it is charged."""
    cg = limited(k, proc, 10)
    a = k.mmap(proc, PAGE_SIZE)
    k.touch(proc, a, False)
    assert records(k, pfns_of(k, proc, a, 1)) == [(cg.id, MAPPED)] and cg.usage == 1


def test_shmem_write_fault_charges_cache_kept_after_munmap(k: Kernel, proc: Task) -> None:
    """A shared anon (tmpfs) write fault charges CACHE; munmap leaves it (the page stays cached)."""
    cg = limited(k, proc, 10)
    s = k.mmap(proc, 2 * PAGE_SIZE, flags=MAP_SHARED | MAP_ANONYMOUS)
    k.write_user(proc, s, b"shared")
    (p,) = pfns_of(k, proc, s, 1)
    assert p is not None and int(k.pages.mapcount[p]) == 1
    assert page_cgroup_of(k, p) == (cg.id, CACHE) and cg.usage == 1
    k.munmap(proc, s, 2 * PAGE_SIZE)  # mem_cgroup_uncharge_page() leaves a CACHE record
    assert int(k.pages.mapcount[p]) == 0
    assert page_cgroup_of(k, p) == (cg.id, CACHE) and cg.usage == 1


def test_moved_task_leaves_its_existing_charges_behind(k: Kernel, proc: Task) -> None:
    """Moving a task moves no charge: earlier pages stay charged to (and uncharge from) the root."""
    root = k.memcgs[ROOT_MEM_CGROUP]
    a = anon(k, proc, 1)  # charged to the root
    (old,) = pfns_of(k, proc, a, 1)
    root_usage = root.usage
    cg = limited(k, proc, 10)
    assert page_cgroup_of(k, old) == (ROOT_MEM_CGROUP, MAPPED) and root.usage == root_usage
    b = anon(k, proc, 1)
    assert records(k, pfns_of(k, proc, b, 1)) == [(cg.id, MAPPED)] and cg.usage == 1
    k.munmap(proc, a, PAGE_SIZE)
    assert (root.usage, cg.usage) == (root_usage - 1, 1)


def test_forked_child_charges_its_cow_copy_to_the_parent_cgroup(k: Kernel, proc: Task) -> None:
    """A child inherits its parent's cgroup, so its copy-on-write page is charged there."""
    cg = limited(k, proc, 10)
    a = anon(k, proc, 1)
    child = k.fork(proc)
    assert child.mem_cgroup == cg.id and cg.usage == 1  # the shared page is charged once
    k.write_user(child, a, b"child")  # do_wp_page(): a copy for the child
    (mine,), (theirs,) = pfns_of(k, child, a, 1), pfns_of(k, proc, a, 1)
    assert mine != theirs and records(k, [mine, theirs]) == [(cg.id, MAPPED)] * 2
    assert cg.usage == 2


def test_faults_fail_with_enomem_at_the_limit(k: Kernel, proc: Task) -> None:
    """With a limit of 3 pages the 4th fault fails with ENOMEM: usage 3, failcnt 6, no page."""
    cg = limited(k, proc, 3)
    a = k.mmap(proc, 4 * PAGE_SIZE)
    for i in range(3):
        k.touch(proc, a + i * PAGE_SIZE, True)
    assert counters(cg) == (3, 3, 0, 3, 0)
    free = k.nr_free_pages()
    with pytest.raises(OSError) as exc:
        k.touch(proc, a + 3 * PAGE_SIZE, True)
    assert exc.value.errno == errno.ENOMEM
    # the GFP_KERNEL charge: 1 try + 5 retries fail, then one OOM call that kills nothing
    assert counters(cg) == (3, 3, KERNEL_FAILS, 3, 1)
    assert k.page_at(proc, a + 3 * PAGE_SIZE) is None
    assert k.nr_free_pages() == free  # the page allocated for the fault was given back
    with pytest.raises(OSError) as exc:  # a read fault needs a page too
        k.touch(proc, a + 3 * PAGE_SIZE, False)
    assert exc.value.errno == errno.ENOMEM
    assert counters(cg) == (3, 3, 2 * KERNEL_FAILS, 3, 2)


def test_uncharge_makes_room_under_the_limit(k: Kernel, proc: Task) -> None:
    """After an munmap at the limit the next fault fits again: usage 2 -> 1 -> 2."""
    cg = limited(k, proc, 2)
    a = anon(k, proc, 2)
    b = k.mmap(proc, PAGE_SIZE)
    with pytest.raises(OSError):
        k.touch(proc, b, True)
    k.munmap(proc, a, PAGE_SIZE)
    assert cg.usage == 1
    k.touch(proc, b, True)
    assert counters(cg) == (2, 2, KERNEL_FAILS, 2, 1)


def test_atomic_charge_at_the_limit_fails_once(k: Kernel, proc: Task) -> None:
    """A charge that may not sleep fails at the limit at once: failcnt 1, no OOM call, no record."""
    cg = limited(k, proc, 1)
    anon(k, proc, 1)
    p = fresh_page(k)
    assert mem_cgroup_charge(k, p, proc.mm, GFP_ATOMIC) == -errno.ENOMEM
    assert page_cgroup_of(k, p) is None and counters(cg) == (1, 1, 1, 1, 0)
    put_page(k, p)


# -- the existing record is left alone (SPEC §1.8) --

def test_existing_record_left_alone_below_the_limit(k: Kernel, proc: Task) -> None:
    """Charging a charged page succeeds, keeps the old record and gives the counter back."""
    cg = limited(k, proc, 10)
    root = k.memcgs[ROOT_MEM_CGROUP]
    a = anon(k, proc, 1)
    (p,) = pfns_of(k, proc, a, 1)
    assert p is not None
    assert mem_cgroup_cache_charge(k, p, proc.mm, GFP_KERNEL) == 0
    assert page_cgroup_of(k, p) == (cg.id, MAPPED)  # still MAPPED, not CACHE
    assert counters(cg) == (1, 10, 0, 2, 0)  # usage back to 1; the transient 2 shows in max
    root_usage, root_max = root.usage, root.max_usage
    assert mem_cgroup_charge_common(k, p, ROOT_MEM_CGROUP, GFP_KERNEL, CACHE) == 0
    assert page_cgroup_of(k, p) == (cg.id, MAPPED)  # another cgroup's charge changes nothing
    assert (root.usage, root.max_usage) == (root_usage, max(root_max, root_usage + 1))


def test_existing_record_does_not_save_a_charge_at_the_limit(k: Kernel, proc: Task) -> None:
    """At the limit a charge of an already charged page fails with -ENOMEM and changes nothing."""
    cg = limited(k, proc, 1)
    a = anon(k, proc, 1)
    (p,) = pfns_of(k, proc, a, 1)
    assert p is not None
    assert mem_cgroup_charge_common(k, p, cg.id, GFP_ATOMIC, MAPPED) == -errno.ENOMEM
    assert page_cgroup_of(k, p) == (cg.id, MAPPED) and counters(cg) == (1, 1, 1, 1, 0)
    assert mem_cgroup_cache_charge(k, p, proc.mm, GFP_KERNEL) == -errno.ENOMEM
    assert page_cgroup_of(k, p) == (cg.id, MAPPED)
    assert counters(cg) == (1, 1, 1 + KERNEL_FAILS, 1, 1)


def test_cache_charge_without_wait_accepts_a_precharged_page(k: Kernel, proc: Task) -> None:
    """A GFP_NOWAIT cache charge of a page with a record returns 0 untouched, even at the limit."""
    cg = limited(k, proc, 1)
    a = anon(k, proc, 1)
    (p,) = pfns_of(k, proc, a, 1)
    assert p is not None
    assert mem_cgroup_cache_charge(k, p, proc.mm, GFP_NOWAIT) == 0
    assert page_cgroup_of(k, p) == (cg.id, MAPPED) and counters(cg) == (1, 1, 0, 1, 0)
    q = fresh_page(k)  # no record: the charge is tried, and fails without retries
    assert mem_cgroup_cache_charge(k, q, proc.mm, GFP_NOWAIT) == -errno.ENOMEM
    assert page_cgroup_of(k, q) is None and counters(cg) == (1, 1, 1, 1, 0)
    put_page(k, q)


# -- prepare / end migration --

def test_prepare_migration_charges_new_like_old_end_uncharges_unused_new(k: Kernel,
                                                                         proc: Task) -> None:
    """prepare charges new to old's cgroup and kind; end uncharges new when it got no mapping."""
    cg = limited(k, proc, 10)
    a = anon(k, proc, 1)
    (old,) = pfns_of(k, proc, a, 1)
    assert old is not None
    new = fresh_page(k)
    assert mem_cgroup_prepare_migration(k, old, new) == 0
    assert page_cgroup_of(k, new) == (cg.id, MAPPED) and cg.usage == 2
    mem_cgroup_end_migration(k, new)  # the migration failed: new.mapping is None
    assert page_cgroup_of(k, new) is None and page_cgroup_of(k, old) == (cg.id, MAPPED)
    assert counters(cg) == (1, 10, 0, 2, 0)
    put_page(k, new)


def test_prepare_migration_of_an_uncharged_page(k: Kernel) -> None:
    """An old page without a record: prepare returns 0 and new stays uncharged."""
    old, new = fresh_page(k, 0), fresh_page(k, 1)
    root = k.memcgs[ROOT_MEM_CGROUP]
    usage = root.usage
    assert mem_cgroup_prepare_migration(k, old, new) == 0
    assert page_cgroup_of(k, new) is None and root.usage == usage
    put_page(k, new)
    put_page(k, old)


def test_prepare_migration_at_the_limit_is_enomem(k: Kernel, proc: Task) -> None:
    """At the limit prepare fails with -ENOMEM (6 failures, an OOM call) and new stays uncharged."""
    cg = limited(k, proc, 1)
    a = anon(k, proc, 1)
    (old,) = pfns_of(k, proc, a, 1)
    assert old is not None
    new = fresh_page(k)
    assert mem_cgroup_prepare_migration(k, old, new) == -errno.ENOMEM
    assert page_cgroup_of(k, new) is None and counters(cg) == (1, 1, KERNEL_FAILS, 1, 1)
    put_page(k, new)  # unmap_and_move() skips end_migration after a failed charge


def test_move_pages_moves_a_mapped_charge_to_the_new_page(k: Kernel, proc: Task) -> None:
    """A migrated anon page's MAPPED charge moves to the new page; the old one is uncharged."""
    cg = limited(k, proc, 3)
    a = anon(k, proc, 2, b"mapped")
    old = pfns_of(k, proc, a, 2)
    assert move(k, proc, a, 2, 1) == (0, [1, 1])
    new = pfns_of(k, proc, a, 2)
    assert all(p is not None and k.pfn_to_nid(p) == 1 for p in new)
    assert records(k, new) == [(cg.id, MAPPED)] * 2
    assert records(k, old) == [None, None]
    # per page: prepare 2 -> 3, unmap of old 3 -> 2, remove_migration_pte's charge 2 -> 3 -> 2
    assert counters(cg) == (2, 3, 0, 3, 0)
    assert k.read_user(proc, a, 7) == b"mapped0"
    assert k.read_user(proc, a + PAGE_SIZE, 7) == b"mapped1"


def test_move_pages_moves_a_cache_charge_to_the_new_page(k: Kernel, proc: Task) -> None:
    """A migrated tmpfs page's CACHE charge moves to new; move_mapping uncharges the old page."""
    cg = limited(k, proc, 2)
    s = k.mmap(proc, PAGE_SIZE, flags=MAP_SHARED | MAP_ANONYMOUS)
    k.write_user(proc, s, b"cached")
    (old,) = pfns_of(k, proc, s, 1)
    assert move(k, proc, s, 1, 1) == (0, [1])
    (new,) = pfns_of(k, proc, s, 1)
    assert new is not None and new != old and k.pfn_to_nid(new) == 1
    assert page_cgroup_of(k, new) == (cg.id, CACHE) and records(k, [old]) == [None]
    assert counters(cg) == (1, 2, 0, 2, 0)  # prepare 1 -> 2, move_mapping 2 -> 1
    assert k.read_user(proc, s, 6) == b"cached"


def test_pinned_page_charges_and_uncharges_new_on_every_pass(k: Kernel, proc: Task) -> None:
    """A pinned page fails 10 passes (-EAGAIN); each pass charges a new page, then uncharges it."""
    cg = limited(k, proc, 2)
    a = anon(k, proc, 1)
    old = pfns_of(k, proc, a, 1)
    pins = k.pin(proc, a, 1)
    try:
        assert move(k, proc, a, 1, 1) == (1, [-errno.EAGAIN])
    finally:
        k.unpin(pins)
    assert pfns_of(k, proc, a, 1) == old and records(k, old) == [(cg.id, MAPPED)]
    assert counters(cg) == (1, 2, 0, 2, 0)  # each pass: 1 -> 2 -> 1


# -- a cgroup at its limit makes migration fail (SPEC §2.19 step 3, §2.20, §3.3) --

def test_move_pages_at_the_limit_is_enomem_and_moves_nothing(k: Kernel, proc: Task) -> None:
    """A cgroup at its limit: move_pages raises ENOMEM, the pages stay put with their data."""
    cg = limited(k, proc, 2)
    a = anon(k, proc, 2, b"keep")
    old = pfns_of(k, proc, a, 2)
    assert all(p is not None and k.pfn_to_nid(p) == 0 for p in old)
    lru_add_drain_all(k)
    free = k.nr_free_pages()
    with pytest.raises(OSError) as exc:
        move(k, proc, a, 2, 1)
    assert exc.value.errno == errno.ENOMEM
    # only the first page was tried: its new page's charge failed (6 failures, one OOM call)
    assert counters(cg) == (2, 2, KERNEL_FAILS, 2, 1)
    assert pfns_of(k, proc, a, 2) == old and records(k, old) == [(cg.id, MAPPED)] * 2
    lru_add_drain_all(k)  # the failed target page waits in a pagevec for its last put
    assert k.nr_free_pages() == free  # the target page went back, the arrays were unmapped
    assert k.read_user(proc, a, 5) == b"keep0" and k.read_user(proc, a + PAGE_SIZE, 5) == b"keep1"


def test_raising_the_limit_lets_the_same_move_succeed(k: Kernel, proc: Task) -> None:
    """After a failed move at the limit, one more page of limit lets the same move succeed."""
    cg = limited(k, proc, 2)
    a = anon(k, proc, 2, b"keep")
    old = pfns_of(k, proc, a, 2)
    with pytest.raises(OSError):
        move(k, proc, a, 2, 1)
    assert mem_cgroup_resize_limit(k, cg, 3) == 0
    assert move(k, proc, a, 2, 1) == (0, [1, 1])
    new = pfns_of(k, proc, a, 2)
    assert all(p is not None and k.pfn_to_nid(p) == 1 for p in new)
    assert records(k, new) == [(cg.id, MAPPED)] * 2 and records(k, old) == [None, None]
    assert counters(cg) == (2, 3, KERNEL_FAILS, 3, 1)
    assert k.read_user(proc, a, 5) == b"keep0" and k.read_user(proc, a + PAGE_SIZE, 5) == b"keep1"


def test_root_charges_do_not_count_against_a_limited_cgroup(k: Kernel, proc: Task) -> None:
    """A root-charged page migrates though the task's cgroup is full; the remap charge fails."""
    a = anon(k, proc, 1, b"root")  # charged to the root before the move
    root = k.memcgs[ROOT_MEM_CGROUP]
    usage = root.usage
    cg = limited(k, proc, 0)
    assert move(k, proc, a, 1, 1) == (0, [1])
    (new,) = pfns_of(k, proc, a, 1)
    assert new is not None and page_cgroup_of(k, new) == (ROOT_MEM_CGROUP, MAPPED)
    assert root.usage == usage  # prepare +1 (to old's cgroup, the root), unmap of old -1
    # remove_migration_pte() charges new to the mm owner's cgroup with GFP_ATOMIC: at the
    # limit 0 that fails once (result ignored), and new keeps its root record
    assert counters(cg) == (0, 0, 1, 0, 0)


def test_an_undone_migration_may_map_the_old_page_uncharged(k: Kernel, proc: Task) -> None:
    """A pinned page whose migration is undone in every pass: each unmap uncharges it, and
    each remove_migration_pte() charges it to the mm owner's cgroup with GFP_ATOMIC, which
    at the limit fails and is ignored; the page stays mapped without a charge, and
    validate() accepts that page alone."""
    a = anon(k, proc, 1, b"kept")  # charged to the root before the task moves
    root = k.memcgs[ROOT_MEM_CGROUP]
    usage = root.usage
    cg = limited(k, proc, 0)
    (old,) = pfns_of(k, proc, a, 1)
    assert old is not None
    pins = k.pin(proc, a, 1)
    try:
        assert (1, [-errno.EAGAIN]) == move(k, proc, a, 1, 1)
    finally:
        k.unpin(pins)
    assert [old] == pfns_of(k, proc, a, 1)
    assert page_cgroup_of(k, old) is None
    assert usage - 1 == root.usage
    assert counters(cg) == (0, 0, 10, 0, 0)  # one failed charge in each of the 10 passes
    assert {old} == k.memcg_uncharged_remaps
    assert b"kept0" == k.read_user(proc, a, 5)
    validate(k)  # the uncharged mapped page is the kernel's own state
    k.munmap(proc, a, PAGE_SIZE)
    lru_add_drain_all(k)  # the pagevec's reference was the last
    assert set() == k.memcg_uncharged_remaps  # the frame is free: no longer that page


def test_shmem_fault_at_the_limit_is_enomem(k: Kernel, proc: Task) -> None:
    """A tmpfs fault whose cache charge fails is VM_FAULT_OOM (ENOMEM), not SIGBUS: failcnt 6."""
    cg = limited(k, proc, 0)
    s = k.mmap(proc, PAGE_SIZE, flags=MAP_SHARED | MAP_ANONYMOUS)
    free = k.nr_free_pages()
    with pytest.raises(OSError) as exc:
        k.touch(proc, s, True)
    assert exc.value.errno == errno.ENOMEM
    assert k.page_at(proc, s) is None and k.nr_free_pages() == free
    assert counters(cg) == (0, 0, KERNEL_FAILS, 0, 1)
