"""Model of mm/memcontrol.c (Linux 2.6.27): memory cgroups, their limits and charge records.

Each page has at most one page_cgroup record, the ``memcg`` column: ``cgroup_id * 2 + kind``
with kind MAPPED (charged by a fault) or CACHE (charged when added to the page cache).  Each
cgroup (:class:`MemCgroup`, registered in ``k.memcgs``) has a res_counter counted in pages:
``usage``, ``max_usage``, ``limit`` and ``failcnt``.  The root cgroup (ROOT_MEM_CGROUP)
exists from boot without a limit; :func:`mem_cgroup_create` makes more,
:func:`mem_cgroup_resize_limit` changes a limit (a write to memory.limit_in_bytes) and
:func:`mem_cgroup_move_task` moves a task into a cgroup (a write of its pid to ``tasks``).

A charge is made against the cgroup of the task that owns the mm (``mm.owner.mem_cgroup``;
no mm or no owner: the root cgroup).  The res_counter is charged before anything else
(SPEC §1.8): when usage + 1 would pass the limit the charge fails with -ENOMEM and failcnt
grows by one, even if the page already carries a record; otherwise a page that already
carries a record keeps it and the counter is given back (no double charge).

Simplifications (what 2.6.27 does that the model does not):

- **No cgroup reclaim.**  try_to_free_mem_cgroup_pages() finds nothing reclaimable (there
  are no per-cgroup LRU lists to scan), so a cgroup at its limit stays there.  A charge that
  may not sleep (no __GFP_WAIT, e.g. GFP_ATOMIC) fails at once, counting one failure.  A
  charge that may sleep (GFP_KERNEL: faults, the page cache, mem_cgroup_prepare_migration())
  goes round the kernel's loop: the first try and MEM_CGROUP_RECLAIM_RETRIES (5) retries all
  fail, so failcnt grows by 6, and then 2.6.27 calls mem_cgroup_out_of_memory().
- **No OOM kill.**  Where 2.6.27's mem_cgroup_out_of_memory() would kill the worst task of
  the cgroup, the model kills nothing: it counts the call in ``MemCgroup.oom_calls`` and
  traces ``mm_memcg_oom``.  The charge then fails with -ENOMEM, as it does in 2.6.27 after
  the kill.  So a fault at the limit fails with -ENOMEM (``Kernel.touch`` raises
  OSError(ENOMEM)), and a cgroup at its limit holding only mapped pages makes
  mem_cgroup_prepare_migration() fail, hence unmap_and_move() and migrate_pages() return
  -ENOMEM and move_pages(2) fails with ENOMEM (SPEC §2.19 step 3, §2.20, §3.3).
- **Lowering a limit below the usage** fails with -EBUSY after the kernel's 5 fruitless
  reclaim rounds (mem_cgroup_resize_limit()), leaving the limit as it was.
- The page_cgroup allocation never fails; limits are whole pages (2.6.27 rounds a written
  limit_in_bytes up to a page); the default limit is LLONG_MAX bytes in whole pages.
- No per-cgroup LRU lists, no memory.stat counters, no force_empty, no rmdir (so no cgroup
  is ever destroyed), no cgroup filesystem: cgroups are made and tasks moved through the
  Python API.  2.6.27 had no hierarchy and no swap accounting, so neither is modelled.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.mm_types import (
    MEMCG_KIND_CACHE,
    MEMCG_KIND_MAPPED,
    PAGE_MAPPING_ANON,
    PAGE_SHIFT,
)
from pagemig.mm.page_alloc import __GFP_WAIT, GFP_KERNEL
from pagemig.sched import TASK_RUNNING

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import MmStruct
    from pagemig.sched import Task

ROOT_MEM_CGROUP = 1
LLONG_MAX = (1 << 63) - 1
RES_COUNTER_MAX = LLONG_MAX >> PAGE_SHIFT  # res_counter_init()'s limit, in whole pages
MEM_CGROUP_RECLAIM_RETRIES = 5

MEM_CGROUP_CHARGE_TYPE_MAPPED = MEMCG_KIND_MAPPED
MEM_CGROUP_CHARGE_TYPE_CACHE = MEMCG_KIND_CACHE


@dataclass(eq=False)
class MemCgroup:
    """Model of struct mem_cgroup: its res_counter, in pages.

    Attributes
    ----------
    id : int
        the cgroup's id; records of pages charged to it hold ``id * 2 + kind``.
    usage, max_usage, limit, failcnt : int
        the res_counter (memory.usage_in_bytes, max_usage_in_bytes and limit_in_bytes
        divided by the page size, and memory.failcnt).
    oom_calls : int
        the model's count of calls to mem_cgroup_out_of_memory(), which kill nothing here.
    """

    id: int
    usage: int = 0
    limit: int = RES_COUNTER_MAX
    failcnt: int = 0
    max_usage: int = 0
    oom_calls: int = 0


# -- the res_counter (kernel/res_counter.c) --

def res_counter_charge(cg: MemCgroup) -> int:
    """Model of res_counter_charge() of one page: 0, or -ENOMEM (and failcnt + 1)."""
    if cg.usage + 1 > cg.limit:
        cg.failcnt += 1
        return -errno.ENOMEM
    cg.usage += 1
    if cg.usage > cg.max_usage:
        cg.max_usage = cg.usage
    return 0


def res_counter_uncharge(cg: MemCgroup) -> None:
    """Model of res_counter_uncharge() of one page (the kernel warns and stops at 0)."""
    cg.usage = cg.usage - 1 if cg.usage > 0 else 0


def res_counter_check_under_limit(cg: MemCgroup) -> bool:
    """Model of res_counter_check_under_limit(): usage strictly below the limit."""
    return cg.usage < cg.limit


def res_counter_set_limit(cg: MemCgroup, limit: int) -> int:
    """Model of res_counter_set_limit(): 0, or -EBUSY when usage is above ``limit``."""
    if cg.usage > limit:
        return -errno.EBUSY
    cg.limit = limit
    return 0


# -- cgroups, limits and tasks --

def _memcg(k: Kernel, memcg: MemCgroup | int) -> MemCgroup:
    return k.memcgs[memcg if isinstance(memcg, int) else memcg.id]


def _limit_arg(limit_pages: object) -> int:
    # A limit is a whole number of pages from 0 to RES_COUNTER_MAX: a fraction or NaN would
    # make the charge and the under-limit check disagree (a charge that loops for ever).
    from pagemig.argcheck import size_arg

    return size_arg("limit_pages", limit_pages, RES_COUNTER_MAX)


def _max_memcg_id(k: Kernel) -> int:
    # The largest id whose records fit in the ``memcg`` column.
    return (int(np.iinfo(k.pages.memcg.dtype).max) - 1) // 2


def mem_cgroup_create(k: Kernel, limit_pages: int | None = None) -> MemCgroup:
    """A new memory cgroup (mkdir in the memory cgroup filesystem), registered in ``k.memcgs``.

    Its counter starts empty and unlimited, as mem_cgroup_create() leaves it; ``limit_pages``
    then sets the limit as a write to memory.limit_in_bytes would (it cannot fail on an
    empty cgroup).  Raises TypeError for a limit that is not an int, ValueError for one below
    0 or above RES_COUNTER_MAX, and OSError(ENOMEM) when the
    model's ``memcg`` column has no room for another id.
    """
    if limit_pages is not None:
        limit_pages = _limit_arg(limit_pages)
    cg_id = k.next_id("memcg")
    while cg_id <= ROOT_MEM_CGROUP or cg_id in k.memcgs:
        cg_id = k.next_id("memcg")
    if cg_id > _max_memcg_id(k):
        raise OSError(errno.ENOMEM, "no room for another memory cgroup id")
    cg = MemCgroup(cg_id)
    k.memcgs[cg_id] = cg
    if limit_pages is not None:
        rc = mem_cgroup_resize_limit(k, cg, limit_pages)
        assert rc == 0
    if k.tracing:
        k.trace("mm_memcg_create", memcg=cg_id, limit=cg.limit)
    return cg


def try_to_free_mem_cgroup_pages(k: Kernel, memcg: MemCgroup, gfp: int) -> int:
    """Model of try_to_free_mem_cgroup_pages(): pages reclaimed from the cgroup.

    Always 0: the model has no cgroup reclaim (see the module's simplifications).
    """
    return 0


def mem_cgroup_resize_limit(k: Kernel, memcg: MemCgroup | int, limit_pages: int) -> int:
    """Model of mem_cgroup_resize_limit(): set the limit, in pages; 0 or -EBUSY.

    A limit below the current usage needs reclaim; the kernel tries 5 rounds without
    progress and gives -EBUSY.  Reclaim frees nothing in the model, so such a limit always
    gives -EBUSY and the old limit stays.  Raises TypeError for a limit that is not an int
    and ValueError for one below 0 or above RES_COUNTER_MAX.
    """
    limit_pages = _limit_arg(limit_pages)
    cg = _memcg(k, memcg)
    retries = MEM_CGROUP_RECLAIM_RETRIES
    while res_counter_set_limit(cg, limit_pages):
        if not retries:
            return -errno.EBUSY
        if not try_to_free_mem_cgroup_pages(k, cg, GFP_KERNEL):
            retries -= 1
    return 0


def mem_cgroup_move_task(k: Kernel, task: Task, memcg: MemCgroup | int) -> int:
    """Move ``task`` into ``memcg`` (cgroup_attach_task() with mem_cgroup_move_task()): 0 or -ESRCH.

    Only the task moves: the pages already charged stay charged to their cgroup, and
    later charges of an mm owned by the task go to ``memcg``.  A task that has exited
    (PF_EXITING: a zombie) cannot be moved (-ESRCH).
    """
    cg = _memcg(k, memcg)
    if task.mem_cgroup == cg.id:
        return 0
    if task.state != TASK_RUNNING:
        return -errno.ESRCH
    old = task.mem_cgroup
    task.mem_cgroup = cg.id
    if k.tracing:
        k.trace("mm_memcg_move_task", pid=task.pid, memcg=cg.id, old=old)
    return 0


def mem_cgroup_out_of_memory(k: Kernel, memcg: MemCgroup, gfp: int) -> None:
    """Model of mem_cgroup_out_of_memory(): counted and traced; nobody is killed."""
    memcg.oom_calls += 1
    if k.tracing:
        k.trace("mm_memcg_oom", memcg=memcg.id, usage=memcg.usage, limit=memcg.limit)


# -- charge records --

def _record(cg_id: int, kind: int) -> int:
    return cg_id * 2 + kind


def page_cgroup_of(k: Kernel, pfn: int) -> tuple[int, int] | None:
    """The (cgroup id, kind) record of a page, or None (page_get_page_cgroup())."""
    rec = k.pages.memcg.item(pfn)
    if rec == 0:
        return None
    return rec >> 1, rec & 1


def _mm_cgroup(k: Kernel, mm: MmStruct | None) -> int:
    # mem_cgroup_from_task(mm->owner); no mm means init_mm, whose owner is in the root.
    if mm is None or mm.owner is None:
        return ROOT_MEM_CGROUP
    return mm.owner.mem_cgroup


def mem_cgroup_charge_common(k: Kernel, pfn: int, cg_id: int, gfp: int, ctype: int) -> int:
    """Model of mem_cgroup_charge_common(): charge the counter, then attach a record.

    The res_counter is charged first.  At the limit, a charge without __GFP_WAIT fails at
    once; one with __GFP_WAIT retries after reclaim (which finds nothing in the model) and
    fails after MEM_CGROUP_RECLAIM_RETRIES retries and a call to mem_cgroup_out_of_memory().
    A failed charge changes nothing but failcnt, even if the page already has a record.
    Once charged, a page that already has a record keeps it and the charge is undone.
    Returns 0 or -ENOMEM.
    """
    cg = k.memcgs[cg_id]
    retries = MEM_CGROUP_RECLAIM_RETRIES
    while res_counter_charge(cg):
        if not gfp & __GFP_WAIT:
            return _charge_failed(k, cg, pfn)
        if try_to_free_mem_cgroup_pages(k, cg, gfp):
            continue
        if res_counter_check_under_limit(cg):
            continue
        if not retries:
            mem_cgroup_out_of_memory(k, cg, gfp)
            return _charge_failed(k, cg, pfn)
        retries -= 1
    if k.pages.memcg.item(pfn) != 0:
        res_counter_uncharge(cg)
        return 0
    k.pages.memcg[pfn] = _record(cg_id, ctype)
    if k.memcg_uncharged_remaps:
        k.memcg_uncharged_remaps.discard(pfn)
    return 0


def _charge_failed(k: Kernel, cg: MemCgroup, pfn: int) -> int:
    if k.tracing:
        k.trace("mm_memcg_charge_fail", memcg=cg.id, pfn=pfn, usage=cg.usage, limit=cg.limit,
                failcnt=cg.failcnt)
    return -errno.ENOMEM


def mem_cgroup_charge(k: Kernel, pfn: int, mm: MmStruct | None, gfp: int) -> int:
    """Model of mem_cgroup_charge(): a "mapped" charge for a page about to be mapped.

    A no-op for a page that is already mapped or is a file page.  Returns 0 or -ENOMEM.
    """
    p = k.pages
    mapping = p.mapping.item(pfn)
    if p.mapcount.item(pfn) > 0 or (mapping and not mapping & PAGE_MAPPING_ANON):
        return 0
    return mem_cgroup_charge_common(k, pfn, _mm_cgroup(k, mm), gfp, MEM_CGROUP_CHARGE_TYPE_MAPPED)


def mem_cgroup_cache_charge(k: Kernel, pfn: int, mm: MmStruct | None, gfp: int) -> int:
    """Model of mem_cgroup_cache_charge(): a "cache" charge for a page entering the cache.

    A charge that may not sleep finds a page precharged (shmem charges before it inserts
    with GFP_NOWAIT) and returns 0 without touching the counter.  Returns 0 or -ENOMEM.
    """
    if not gfp & __GFP_WAIT and int(k.pages.memcg[pfn]) != 0:
        return 0
    return mem_cgroup_charge_common(k, pfn, _mm_cgroup(k, mm), gfp, MEM_CGROUP_CHARGE_TYPE_CACHE)


def __mem_cgroup_uncharge_common(k: Kernel, pfn: int, ctype: int | None) -> None:
    """Model of __mem_cgroup_uncharge_common(); ``ctype`` None forces the removal."""
    rec = page_cgroup_of(k, pfn)
    if rec is None:
        return
    cg_id, kind = rec
    if ctype == MEM_CGROUP_CHARGE_TYPE_MAPPED and (
        kind == MEMCG_KIND_CACHE or k.pages.mapcount.item(pfn) > 0
    ):
        return
    k.pages.memcg[pfn] = 0
    res_counter_uncharge(k.memcgs[cg_id])


def mem_cgroup_uncharge_page(k: Kernel, pfn: int) -> None:
    """Model of mem_cgroup_uncharge_page(): drop a MAPPED record of an unmapped page."""
    __mem_cgroup_uncharge_common(k, pfn, MEM_CGROUP_CHARGE_TYPE_MAPPED)


def mem_cgroup_uncharge_cache_page(k: Kernel, pfn: int) -> None:
    """Model of mem_cgroup_uncharge_cache_page(): drop the record unconditionally."""
    __mem_cgroup_uncharge_common(k, pfn, None)


def mem_cgroup_prepare_migration(k: Kernel, old: int, new: int) -> int:
    """Model of mem_cgroup_prepare_migration(): charge ``new`` like ``old``; 0 or -ENOMEM.

    ``new`` is charged to ``old``'s cgroup with ``old``'s kind, with GFP_KERNEL (so at the
    limit: 6 failures counted, an OOM call, -ENOMEM).  ``old`` without a record: 0 and
    ``new`` stays uncharged.
    """
    rec = page_cgroup_of(k, old)
    if rec is None:
        return 0
    cg_id, kind = rec
    return mem_cgroup_charge_common(k, new, cg_id, GFP_KERNEL, kind)


def mem_cgroup_end_migration(k: Kernel, new: int) -> None:
    """Model of mem_cgroup_end_migration(): undo the charge of an unused or unmapped ``new``.

    ``new`` without a mapping (the migration failed or never happened) loses its record;
    an anon ``new`` loses it only if no pte maps it; a file page keeps it.
    """
    mapping = k.pages.mapping.item(new)
    if mapping == 0:
        __mem_cgroup_uncharge_common(k, new, None)
    elif mapping & PAGE_MAPPING_ANON:
        mem_cgroup_uncharge_page(k, new)


__all__ = [
    "MEM_CGROUP_CHARGE_TYPE_CACHE", "MEM_CGROUP_CHARGE_TYPE_MAPPED",
    "MEM_CGROUP_RECLAIM_RETRIES", "RES_COUNTER_MAX", "ROOT_MEM_CGROUP", "MemCgroup",
    "mem_cgroup_cache_charge", "mem_cgroup_charge", "mem_cgroup_charge_common",
    "mem_cgroup_create", "mem_cgroup_end_migration", "mem_cgroup_move_task",
    "mem_cgroup_out_of_memory", "mem_cgroup_prepare_migration", "mem_cgroup_resize_limit",
    "mem_cgroup_uncharge_cache_page", "mem_cgroup_uncharge_page", "page_cgroup_of",
    "res_counter_charge", "res_counter_check_under_limit", "res_counter_set_limit",
    "res_counter_uncharge", "try_to_free_mem_cgroup_pages",
]
