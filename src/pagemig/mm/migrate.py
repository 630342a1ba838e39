"""Model of mm/migrate.c (Linux 2.6.27): the seed, one function per seed function, in order.

Every function the seed has is here under its kernel name.  Functions that may sleep are
generators: they yield :class:`pagemig.sched.Wait` at the kernel's sleep points (page lock,
writeback) and :data:`pagemig.sched.RESCHED` where the kernel may reschedule, and return
their result; ``k.run()`` drives them with one actor.

Statuses and errors are the kernel's: 0 or a negative errno from each function, a status
array of node ids or negative errnos from sys_move_pages().

Linux 6.1 (features move_pages_ptrace_check, move_pages_batched, move_pages_vma_lookup,
move_pages_foll_dump, lru_cache_disable): sys_move_pages() finds the target with
find_mm_struct() (the ptrace rule), then do_pages_move() reads and handles the entries one
at a time, migrating runs of entries with the same node (add_page_for_migration(),
move_pages_and_store_status(), store_status() follow do_move_pages()), and query mode works
16 entries at a time (after do_pages_stat()).

Simplifications:
- the PF_SWAPWRITE flag is kept on the task but nothing reads it (no reclaim).
"""

from __future__ import annotations

import errno
from bisect import bisect_left
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np

from pagemig.cpuset import cpuset_mems_allowed
from pagemig.mm.buffer import BH_Lock, page_buffers, try_to_free_buffers, try_to_release_page
from pagemig.mm.filemap import (
    AddressSpace,
    __set_page_dirty_nobuffers,
    clear_page_dirty_for_io,
    end_page_writeback,
    lock_page,
    trylock_page,
    unlock_page,
    vma_prio_tree_foreach,
    wait_on_page_locked,
    wait_on_page_writeback,
)
from pagemig.mm.memcontrol import (
    mem_cgroup_charge,
    mem_cgroup_end_migration,
    mem_cgroup_prepare_migration,
    mem_cgroup_uncharge_cache_page,
)
from pagemig.mm.memory import FOLL_DUMP, FOLL_GET, follow_page, vma_page_prot
from pagemig.mm.mempolicy import MAX_NUMNODES, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, vma_migratable
from pagemig.mm.mm_types import (
    PAGE_MAPPING_ANON,
    PAGE_SHIFT,
    PageList,
    VmArea,
    mapping_id,
    mapping_is_anon,
)
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_alloc import (
    GFP_ATOMIC,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL,
    GFP_THISNODE,
    alloc_pages_node,
)
from pagemig.mm.page_flags import (
    F_ACTIVE,
    F_CHECKED,
    F_DIRTY,
    F_ERROR,
    F_LRU,
    F_MAPPEDTODISK,
    F_PRIVATE,
    F_REFERENCED,
    F_RESERVED,
    F_SWAPBACKED,
    F_SWAPCACHE,
    F_UNEVICTABLE,
    F_UPTODATE,
    F_WRITEBACK,
)
from pagemig.mm.page_writeback import AOP_WRITEPAGE_ACTIVATE, WritebackControl
from pagemig.mm.rmap import (
    page_add_anon_rmap,
    page_add_file_rmap,
    page_address_in_vma,
    try_to_unmap,
)
from pagemig.mm.swap import (
    del_page_from_list_keep_active,
    get_page,
    get_page_unless_zero,
    lru_add_drain_all,
    lru_cache_add,
    lru_cache_add_active,
    lru_cache_disable,
    lru_cache_enable,
    put_page,
)
from pagemig.mm.swapops import (
    is_migration_entry,
    is_swap_pte,
    is_write_migration_entry,
    migration_entry_to_pfn,
    mk_pte,
    pte_mkold,
    pte_mkwrite,
    pte_to_swp_entry,
)
from pagemig.mm.vmstat import PGMIGRATE_FAIL, PGMIGRATE_SUCCESS, count_vm_events
from pagemig.ptrace import PTRACE_MODE_READ_REALCREDS, ptrace_may_access
from pagemig.sched import CAP_SYS_NICE, PF_SWAPWRITE, RESCHED, Wait, may_move_memory_of
from pagemig.security import security_task_movememory

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import MmStruct
    from pagemig.sched import Task

Gen = Generator[Any, None, int]
# get_new_page(k, page, private) -> (new pfn or None, index of the status slot or None)
NewPageFn = Callable[["Kernel", int, Any], tuple[int | None, int | None]]



def isolate_lru_page(k: Kernel, page: int, pagelist: PageList) -> int:
    """Model of isolate_lru_page(): take a page off its LRU list onto ``pagelist``.

    Returns 0 (the page gained a reference and is on ``pagelist``, PG_lru clear, PG_active
    kept) or -EBUSY (not on an LRU list: in a pagevec, already isolated, being freed).
    """
    ret = -errno.EBUSY
    flags = k.pages.flags
    if flags.item(page) & F_LRU:
        # Under zone->lru_lock: re-check PG_lru and take the isolation reference.
        if flags.item(page) & F_LRU and get_page_unless_zero(k, page):
            ret = 0
            flags[page] = flags.item(page) & ~F_LRU
            del_page_from_list_keep_active(k, page)
            pagelist.list_add_tail(page)
    if k.tracing:
        k.trace("mm_migrate_isolate", pfn=page, ret=ret)
    return ret


def migrate_prep(k: Kernel) -> int:
    """Model of migrate_prep(): drain every CPU's pagevecs so recent pages can be isolated."""
    lru_add_drain_all(k)
    return 0


def move_to_lru(k: Kernel, page: int) -> None:
    """Model of move_to_lru(): back to the LRU through a pagevec, dropping our reference."""
    flags = k.pages.flags.item(page)
    if flags & F_ACTIVE:
        # lru_cache_add_active() wants PG_active clear; the drain sets it again.
        k.pages.flags[page] = flags & ~F_ACTIVE
        lru_cache_add_active(k, page)
    else:
        lru_cache_add(k, page)
    put_page(k, page)


def putback_lru_pages(k: Kernel, l: PageList) -> int:
    """Model of putback_lru_pages(): return every page of the list; how many were put back."""
    count = 0
    for page in l:
        l.list_del(page)
        move_to_lru(k, page)
        count += 1
    if count:
        if k.tracing:
            k.trace("mm_migrate_putback", nr=count)
    return count


def remove_migration_pte(k: Kernel, vma: VmArea, old: int, new: int) -> None:
    """Model of remove_migration_pte(): turn a migration entry for ``old`` into a pte for ``new``.

    The restored pte takes the vma's protection, is old and clean, and is writable if the
    entry was a write entry.  The memcg charge of ``new`` is attempted and its result
    ignored, as in the kernel: at the limit of the mm owner's cgroup an uncharged page
    (an old page whose migration is undone after its unmap uncharged it) is mapped without
    a charge, and ``k.memcg_uncharged_remaps`` records it.
    """
    mm = vma.vm_mm
    addr = page_address_in_vma(k, new, vma)
    if addr < 0:
        return
    if mm.pte_table(addr, False) is None:
        return  # no pgd/pud/pmd for this address
    pte = mm.get_pte(addr)
    if not is_swap_pte(pte):
        return
    # The pte lock is taken and the pte re-read: with one actor it has not changed.
    entry = pte_to_swp_entry(pte)
    if not is_migration_entry(entry) or migration_entry_to_pfn(entry) != old:
        return
    if mem_cgroup_charge(k, new, mm, GFP_ATOMIC) and not k.pages.memcg.item(new):
        k.memcg_uncharged_remaps.add(new)  # mapped below without a charge
    get_page(k, new)
    pte = pte_mkold(mk_pte(new, vma_page_prot(vma)))
    if is_write_migration_entry(entry):
        pte = pte_mkwrite(pte)
    mm.set_pte(addr, pte)
    if k.pages.mapping.item(new) & PAGE_MAPPING_ANON:
        page_add_anon_rmap(k, new, vma, addr)
    else:
        page_add_file_rmap(k, new, vma)
    if k.tracing:
        k.trace("mm_migrate_remap", old=old, new=new, mm=mm.id, addr=addr)


def remove_file_migration_ptes(k: Kernel, old: int, new: int) -> None:
    """Model of remove_file_migration_ptes(): restore through the file's i_mmap."""
    mapping = k.page_mapping(new)
    if mapping is None:
        return
    for vma in vma_prio_tree_foreach(mapping, k.pages.index.item(new)):
        remove_migration_pte(k, vma, old, new)


def remove_anon_migration_ptes(k: Kernel, old: int, new: int) -> None:
    """Model of remove_anon_migration_ptes(): restore through the page's anon_vma."""
    mapping = k.pages.mapping.item(new)
    if not mapping or not mapping_is_anon(mapping):
        return
    anon_vma = k.anon_vmas.get(mapping_id(mapping))
    if anon_vma is None:
        return
    # page_address_in_vma()'s pgoff: remove_migration_pte() may set the index of ``new``
    # again (page_add_anon_rmap()), always to this value.
    index = k.pages.index.item(new)
    for vma in list(anon_vma.vmas):
        # A vma that does not cover the page's index is one where remove_migration_pte()
        # finds no address and does nothing (move_pages(2)'s argument arrays share the
        # caller's anon_vma, for one): pass it over here.
        address = vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT)
        if address < vma.vm_start or address >= vma.vm_end:
            continue
        remove_migration_pte(k, vma, old, new)


def remove_migration_ptes(k: Kernel, old: int, new: int) -> None:
    """Model of remove_migration_ptes(): (old, new) after success, (old, old) to undo."""
    if k.pages.mapping.item(new) & PAGE_MAPPING_ANON:
        remove_anon_migration_ptes(k, old, new)
    else:
        remove_file_migration_ptes(k, old, new)


def migration_entry_wait(k: Kernel, mm: MmStruct, address: int) -> Gen:
    """Model of migration_entry_wait(): a fault on a migration entry waits for the old page.

    Returns at once if the pte is no longer a migration entry or the page's count is frozen
    (or zero); otherwise sleeps until the page is unlocked.  The fault is then retried.
    """
    pte = mm.get_pte(address)
    if not is_swap_pte(pte):
        return 0
    entry = pte_to_swp_entry(pte)
    if not is_migration_entry(entry):
        return 0
    page = migration_entry_to_pfn(entry)
    if not get_page_unless_zero(k, page):
        if k.tracing:
            k.trace("mm_migrate_entry_wait", pfn=page, waited=0)
        return 0
    yield from wait_on_page_locked(k, page)
    put_page(k, page)
    if k.tracing:
        k.trace("mm_migrate_entry_wait", pfn=page, waited=1)
    return 0


def page_freeze_refs(k: Kernel, page: int, count: int) -> bool:
    """Model of page_freeze_refs(): replace a count of exactly ``count`` with 0."""
    if k.pages.count.item(page) != count:
        return False
    k.pages.count[page] = 0
    return True


def page_unfreeze_refs(k: Kernel, page: int, count: int) -> None:
    """Model of page_unfreeze_refs(): set the count back to ``count``."""
    assert k.pages.count.item(page) == 0
    k.pages.count[page] = count


def migrate_page_move_mapping(k: Kernel, mapping: AddressSpace | None, newpage: int,
                              page: int) -> int:
    """Model of migrate_page_move_mapping(): switch the cache slot to ``newpage``.

    The references left must be exactly 1 (anonymous page, no mapping), 2 (page-cache or
    swap-cache page) or 3 (with buffers); anything else is -EAGAIN.  Returns 0 or -EAGAIN.
    """
    if mapping is None:
        count = k.pages.count.item(page)
        rc = 0 if count == 1 else -errno.EAGAIN
        if k.tracing:
            k.trace("mm_migrate_move_mapping", old=page, new=newpage, count=count,
                    expected=1, rc=rc)
        return rc
    index = k.page_index(page)
    p = k.pages
    expected = 2 + (1 if p.flags.item(page) & F_PRIVATE else 0)
    count = p.count.item(page)
    if count != expected or mapping.slot(index) != page:
        if k.tracing:
            k.trace("mm_migrate_move_mapping", old=page, new=newpage, count=count,
                    expected=expected, rc=-errno.EAGAIN)
        return -errno.EAGAIN
    if not page_freeze_refs(k, page, expected):
        return -errno.EAGAIN
    get_page(k, newpage)  # the cache reference
    if p.flags.item(page) & F_SWAPCACHE:
        p.flags[newpage] = p.flags.item(newpage) | F_SWAPCACHE
        p.private[newpage] = p.private.item(page)
    mapping.page_tree[index] = newpage
    page_unfreeze_refs(k, page, expected)
    p.count[page] = p.count.item(page) - 1  # __put_page(): the cache reference, never the last
    k.zone_stat[k.page_zone(page).id, ZoneStat.NR_FILE_PAGES] -= 1
    k.zone_stat[k.page_zone(newpage).id, ZoneStat.NR_FILE_PAGES] += 1
    if not p.flags.item(newpage) & F_SWAPCACHE:
        mem_cgroup_uncharge_cache_page(k, page)
    if k.tracing:
        k.trace("mm_migrate_move_mapping", old=page, new=newpage, count=count, expected=expected,
                rc=0)
    return 0


# Linux 6.1: PG_swapbacked (set on the new page with the mapping) and PG_unevictable move
# too; neither exists in 2.6.27, so adding them changes nothing there.
_COPIED_FLAGS = (F_ERROR | F_REFERENCED | F_UPTODATE | F_ACTIVE | F_CHECKED | F_MAPPEDTODISK
                 | F_SWAPBACKED | F_UNEVICTABLE)


def migrate_page_copy(k: Kernel, newpage: int, page: int) -> None:
    """Model of migrate_page_copy(): contents, the listed flags, the dirty state; clear old."""
    if k.copy_enabled:
        k.frames.copy(newpage, page)
    p = k.pages
    flags = p.flags
    old_flags = flags.item(page)
    flags[newpage] = flags.item(newpage) | (old_flags & _COPIED_FLAGS)
    if old_flags & F_DIRTY:
        clear_page_dirty_for_io(k, page)
        __set_page_dirty_nobuffers(k, newpage)
    flags[page] = flags.item(page) & ~(F_SWAPCACHE | F_ACTIVE | F_PRIVATE | F_UNEVICTABLE)
    p.private[page] = 0
    p.mapping[page] = 0
    if flags.item(newpage) & F_WRITEBACK:
        end_page_writeback(k, newpage)
    if k.tracing:
        k.trace("mm_migrate_copy", old=page, new=newpage)


def fail_migrate_page(k: Kernel, mapping: AddressSpace | None, newpage: int, page: int) -> Gen:
    """Model of fail_migrate_page(): the method of mappings that must not move; -EIO."""
    return -errno.EIO
    yield  # a generator, like every migratepage method (some sleep)


def migrate_page(k: Kernel, mapping: AddressSpace | None, newpage: int, page: int) -> Gen:
    """Model of migrate_page(): move the mapping, then copy; 0 or -EAGAIN.  Pages locked."""
    assert not k.pages.flags.item(page) & F_WRITEBACK, "migrate_page: page under writeback"
    rc = migrate_page_move_mapping(k, mapping, newpage, page)
    if rc:
        return rc
    migrate_page_copy(k, newpage, page)
    return 0
    yield  # a generator, like every migratepage method (some sleep)


def buffer_migrate_page(k: Kernel, mapping: AddressSpace | None, newpage: int,
                        page: int) -> Gen:
    """Model of buffer_migrate_page(): move the mapping and the buffer ring to ``newpage``.

    A page without buffers is handled by migrate_page().  With buffers the reference
    count must be 3 (cache, buffers, isolation); every buffer is referenced and locked
    (they may sleep) while the ring, its page reference and PG_private move to ``newpage``
    and each buffer is pointed at it at the same offset.  Returns 0 or -EAGAIN.
    """
    if not int(k.pages.flags[page]) & F_PRIVATE:
        return (yield from migrate_page(k, mapping, newpage, page))
    ring = page_buffers(k, page)
    rc = migrate_page_move_mapping(k, mapping, newpage, page)
    if rc:
        return rc
    bh = k.bh
    for b in ring:
        bh.b_count[b] += 1
        while int(bh.b_state[b]) & BH_Lock:
            yield Wait("buffer_locked", b)
        bh.b_state[b] |= BH_Lock
    k.pages.flags[page] &= ~F_PRIVATE
    k.pages.private[newpage] = k.pages.private[page]
    k.pages.private[page] = 0
    put_page(k, page)
    get_page(k, newpage)
    for b in ring:
        bh.b_page[b] = newpage  # set_bh_page(): same offset in the new page
    k.pages.flags[newpage] |= F_PRIVATE
    migrate_page_copy(k, newpage, page)
    for b in ring:
        bh.b_state[b] &= ~BH_Lock
        bh.b_count[b] -= 1
    if k.tracing:
        k.trace("mm_migrate_buffers", old=page, new=newpage, nr=len(ring))
    return 0


def writeout(k: Kernel, mapping: AddressSpace, page: int) -> Gen:
    """Model of writeout(): start writing a dirty page back; never 0.

    -EINVAL without ->writepage; -EAGAIN if someone else already cleaned it; otherwise the
    ptes are restored to the old page, ->writepage runs (as for reclaim, not waiting) and
    the page is locked again: -EAGAIN, or -EIO on an I/O error, in which case the page is
    NOT locked again (quirk Q6: unmap_and_move() then unlocks it a second time).
    """
    if mapping.a_ops.writepage is None:
        return -errno.EINVAL
    if not clear_page_dirty_for_io(k, page):
        return -errno.EAGAIN
    remove_migration_ptes(k, page, page)
    wbc = WritebackControl(sync=False, for_reclaim=True, nonblocking=True)
    rc = mapping.a_ops.writepage(k, page, wbc)
    if k.tracing:
        k.trace("mm_migrate_writeout", pfn=page, rc=rc)
    if rc < 0:
        return -errno.EIO
    if rc != AOP_WRITEPAGE_ACTIVATE:
        yield from lock_page(k, page)
    return -errno.EAGAIN


def fallback_migrate_page(k: Kernel, mapping: AddressSpace, newpage: int, page: int) -> Gen:
    """Model of fallback_migrate_page(): for mappings without a migratepage method.

    A dirty page is written out (never migrated in this attempt); private data that cannot
    be released is -EAGAIN; otherwise migrate_page().
    """
    if int(k.pages.flags[page]) & F_DIRTY:
        return (yield from writeout(k, mapping, page))
    if int(k.pages.flags[page]) & F_PRIVATE and not try_to_release_page(k, page, GFP_KERNEL):
        return -errno.EAGAIN
    return (yield from migrate_page(k, mapping, newpage, page))


def move_to_new_page(k: Kernel, newpage: int, page: int) -> Gen:
    """Model of move_to_new_page(): the mapping's method moves ``page`` to ``newpage``.

    ``page`` is locked and unmapped.  On success its migration entries point at
    ``newpage``; on failure ``newpage`` loses the mapping it was given.
    """
    if not trylock_page(k, newpage):
        raise AssertionError("move_to_new_page: new page already locked (BUG)")
    p = k.pages
    p.index[newpage] = p.index.item(page)
    p.mapping[newpage] = p.mapping.item(page)
    mapping = k.page_mapping(page)
    if mapping is None:
        rc = yield from migrate_page(k, None, newpage, page)
    elif mapping.a_ops.migratepage is not None:
        rc = yield from mapping.a_ops.migratepage(k, mapping, newpage, page)
    else:
        rc = yield from fallback_migrate_page(k, mapping, newpage, page)
    if not rc:
        remove_migration_ptes(k, page, newpage)
    else:
        k.pages.mapping[newpage] = 0
    unlock_page(k, newpage)
    return rc


def unmap_and_move(k: Kernel, get_new_page: NewPageFn, private: Any, page: int, force: bool,
                   from_list: PageList) -> Gen:
    """Model of unmap_and_move(): lock, unmap, move and restore one page; 0 or -errno.

    ``from_list`` is the list ``page`` is on (the kernel reaches it through ``page->lru``).
    -EAGAIN leaves ``page`` on the list for another pass; any other result takes it off
    (back to the LRU, or freed after success).  The status slot named by get_new_page()
    receives the node of the new page, or the error.
    """
    rc = 0
    charge = 0
    newpage, result = get_new_page(k, page, private)
    if newpage is None:
        if k.tracing:
            k.trace("mm_migrate_result", pfn=page, rc=-errno.ENOMEM, why="no target page")
        return -errno.ENOMEM
    if k.tracing:
        k.trace("mm_migrate_new_page", old=page, new=newpage, nid=k.pfn_to_nid(newpage))
    why = ""
    if k.pages.count.item(page) == 1:
        why = "freed under us"
    else:
        charge = mem_cgroup_prepare_migration(k, page, newpage)
        if charge == -errno.ENOMEM:
            rc = -errno.ENOMEM
            why = "memcg charge failed"
        else:
            rc, why = yield from _lock_unmap_move(k, newpage, page, force, from_list)
    if not charge:
        mem_cgroup_end_migration(k, newpage)
    move_to_lru(k, newpage)
    if result is not None:
        private.status[result] = rc if rc else k.pfn_to_nid(newpage)
    if k.tracing:
        k.trace("mm_migrate_result", pfn=page, rc=rc, why=why or ("moved" if not rc else "failed"))
    return rc


def _lock_unmap_move(k: Kernel, newpage: int, page: int, force: bool,
                     from_list: PageList) -> Generator[Any, None, tuple[int, str]]:
    # The middle of unmap_and_move(), from taking the old page's lock to putting it back:
    # returns (rc, why) where why names the reason of a failure for the trace.
    rc = -errno.EAGAIN
    why = ""
    if not trylock_page(k, page):
        if not force:
            return rc, "page locked (not forced)"
        yield from lock_page(k, page)
    locked_wb = k.pages.flags.item(page) & F_WRITEBACK
    if locked_wb and not force:
        why = "under writeback (not forced)"
    else:
        if locked_wb:
            yield from wait_on_page_writeback(k, page)
        # PageAnon: the RCU read section keeps the anon_vma alive once mapcount reaches 0.
        if not k.pages.mapping.item(page):
            if k.pages.flags.item(page) & F_PRIVATE:
                try_to_free_buffers(k, page)  # an orphan's buffers (not an anon page)
            why = "no mapping"
        else:
            try_to_unmap(k, page, True)
            if not k.pages.mapcount.item(page):
                rc = yield from move_to_new_page(k, newpage, page)
                why = "move_mapping refused (extra references)" if rc == -errno.EAGAIN else ""
            else:
                why = "still mapped after unmap"
            if rc:
                remove_migration_ptes(k, page, page)
    unlock_page(k, page)
    if rc != -errno.EAGAIN:
        from_list.list_del(page)
        move_to_lru(k, page)
    return rc, why


MIGRATE_PASSES = 10


def migrate_pages(k: Kernel, from_list: PageList, get_new_page: NewPageFn, private: Any) -> Gen:
    """Model of migrate_pages(): up to 10 passes over the list; forced from pass 3 on.

    Returns the number of pages not migrated (permanent failures plus pages still -EAGAIN
    after the last pass run), or -ENOMEM when a target page could not be allocated (the
    rest are not attempted).  The list is empty afterwards.
    """
    from pagemig.mm.migrate_runs import list_batcher

    task = k.current
    swapwrite = bool(task.flags & PF_SWAPWRITE) if task is not None else True
    if task is not None and not swapwrite:
        task.flags |= PF_SWAPWRITE
    nr_failed = 0
    nr_succeeded = 0  # Linux 6.1 counts these for /proc/vmstat's pgmigrate_success
    retry = 1
    rc = 0
    aborted = False
    for pass_ in range(MIGRATE_PASSES):
        if not retry:
            break
        retry = 0
        if k.tracing:
            k.trace("mm_migrate_pass", pass_nr=pass_, force=int(pass_ > 2), nr=len(from_list))
        # The first pass moves runs of simple pages on arrays (mm/migrate_runs.py).
        runs = list_batcher(k, from_list, get_new_page, private) if pass_ == 0 else None
        for page in from_list:
            if runs is not None:
                moved = runs.run_at(page)
                if moved:
                    nr_succeeded += moved
                    continue
            k.pages_moved_one_by_one += 1
            yield RESCHED
            rc = yield from unmap_and_move(k, get_new_page, private, page, pass_ > 2, from_list)
            if rc == -errno.ENOMEM:
                aborted = True
                nr_failed += 1  # counted as failed in pgmigrate_fail only (Linux 6.1)
                break
            if rc == -errno.EAGAIN:
                retry += 1
            elif rc:
                nr_failed += 1
            else:
                nr_succeeded += 1
        if aborted:
            break
    if task is not None and not swapwrite:
        task.flags &= ~PF_SWAPWRITE
    putback_lru_pages(k, from_list)
    count_vm_events(k, PGMIGRATE_SUCCESS, nr_succeeded)
    count_vm_events(k, PGMIGRATE_FAIL, nr_failed + retry)
    if aborted:
        return -errno.ENOMEM
    return nr_failed + retry


class PageToNode:
    """Model of the ``struct page_to_node`` array of sys_move_pages() (n + 1 records).

    Attributes
    ----------
    addr : ndarray of uint64, shape (n + 1,)
    page : ndarray of int64
        the recorded page (pfn); the zero page's pfn is the "matches nothing" sentinel.
    node : ndarray of int64
        the requested node; MAX_NUMNODES marks the end.
    status : ndarray of int64
    """

    RECORD_BYTES = 24  # sizeof(struct page_to_node) on 64-bit

    def __init__(self, n: int) -> None:
        self.n = n
        self.addr = np.zeros(n + 1, np.uint64)
        self.page = np.zeros(n + 1, np.int64)
        self.node = np.zeros(n + 1, np.int64)
        self.status = np.zeros(n + 1, np.int64)
        self.node[n] = MAX_NUMNODES
        self._sorted: tuple[list[int], list[int]] | None = None

    def first_entry_of(self, page: int) -> int | None:
        """The first entry (before the end marker) whose recorded page is ``page``.

        new_page_node() scans linearly; the same answer is found by bisection over a
        stable sort made once (the recorded pages do not change during migrate_pages()).
        """
        if self._sorted is None:
            order = np.argsort(self.page[: self.n], kind="stable")
            self._sorted = (self.page[: self.n][order].tolist(), order.tolist())
        keys, order = self._sorted
        i = bisect_left(keys, page)
        if i < len(keys) and keys[i] == page:
            return order[i]
        return None

    def first_entries_of(self, pages: np.ndarray) -> np.ndarray:
        """first_entry_of() of many pages at once; -1 where no entry records the page."""
        order = np.argsort(self.page[: self.n], kind="stable")
        keys = self.page[: self.n][order]
        i = np.minimum(np.searchsorted(keys, pages), max(0, len(keys) - 1))
        if not len(keys):
            return np.full(len(pages), -1, np.int64)
        return np.where(keys[i] == pages, order[i], -1).astype(np.int64)


def new_page_node(k: Kernel, p: int, private: PageToNode) -> tuple[int | None, int | None]:
    """Model of new_page_node(): a page on the node of the first entry recording ``p``.

    Allocates with GFP_HIGHUSER_MOVABLE | GFP_THISNODE (one attempt on that node at the low
    watermark).  Returns (pfn or None, the entry whose status receives the result).
    """
    i = private.first_entry_of(p)
    if i is None:
        return None, None
    nid = private.node.item(i)
    return alloc_pages_node(k, nid, GFP_HIGHUSER_MOVABLE | GFP_THISNODE), i


def do_move_pages(k: Kernel, mm: MmStruct, pm: PageToNode, migrate_all: bool) -> Gen:
    """Model of do_move_pages(): check each entry in order, isolate, then migrate.

    Returns migrate_pages()'s result, or -ENOENT when nothing was isolated.
    """
    from pagemig.mm.migrate_runs import isolate_entries_on_arrays

    pagelist = PageList(k.pages)
    migrate_prep(k)
    if not isolate_entries_on_arrays(k, mm, pm, migrate_all, pagelist):
        for i in range(pm.n):
            pm.status[i] = _move_pages_entry(k, mm, pm, i, migrate_all, pagelist)
    if not pagelist.list_empty():
        return (yield from migrate_pages(k, pagelist, new_page_node, pm))
    return -errno.ENOENT


def _move_pages_entry(k: Kernel, mm: MmStruct, pm: PageToNode, i: int, migrate_all: bool,
                      pagelist: PageList) -> int:
    # The status of one entry, in do_move_pages()'s check order.
    pm.page[i] = k.zero_page_pfn
    page = _lookup_page(k, mm, pm.addr.item(i), True)
    if page < 0:
        return page
    if k.pages.flags.item(page) & F_RESERVED:
        err = -errno.ENOENT
    else:
        pm.page[i] = page
        err = k.pfn_to_nid(page)
        if err != pm.node.item(i):
            if k.pages.mapcount.item(page) > 1 and not migrate_all:
                err = -errno.EACCES
            else:
                err = isolate_lru_page(k, page, pagelist)
    put_page(k, page)
    return err


NUMA_NO_NODE = -1


def store_status(k: Kernel, status: int, start: int, value: int, nr: int) -> int:
    """Model of store_status() (Linux 6.1): put_user(value) into status[start:start+nr];
    -EFAULT at the first element that cannot be written (those before it are written)."""
    if nr <= 0:
        return 0
    failed = put_user_array(k, status + 4 * start, np.full(nr, value, "<i4"), stop=True)
    return -errno.EFAULT if failed else 0


def do_move_pages_to_node(k: Kernel, mm: MmStruct, pagelist: PageList, node: int) -> Gen:
    """Model of do_move_pages_to_node() (Linux 6.1): migrate the batch to ``node``
    (GFP_HIGHUSER_MOVABLE | __GFP_THISNODE, synchronous); the pages left are put back.
    Returns migrate_pages()'s result."""
    err = yield from migrate_pages(k, pagelist, alloc_migration_target, node)
    if err:
        putback_lru_pages(k, pagelist)
    return err


def alloc_migration_target(k: Kernel, page: int, nid: int) -> tuple[int | None, int | None]:
    """Model of alloc_migration_target() (Linux 6.1) for move_pages(2): a page on node
    ``nid`` with __GFP_THISNODE; no status slot (statuses are stored per batch)."""
    return alloc_pages_node(k, nid, GFP_HIGHUSER_MOVABLE | GFP_THISNODE), None


def add_page_for_migration(k: Kernel, mm: MmStruct, addr: int, node: int,
                           pagelist: PageList, migrate_all: bool) -> int:
    """Model of add_page_for_migration() (Linux 6.1): find and isolate one page.

    Returns 1 (queued on ``pagelist``), 0 (already on ``node``) or a negative errno:
    -EFAULT (no vma containing it, not migratable, the zero page, untouched anonymous
    memory, a special pte), -ENOENT (not present, PROT_NONE), -EACCES (mapped more than
    once without MPOL_MF_MOVE_ALL: checked after the node), -EBUSY (isolation failed, for
    example a page already isolated by an earlier entry of this call).
    """
    page = _lookup_page(k, mm, addr, True)
    if page < 0:
        return page
    if k.pfn_to_nid(page) == node:
        err = 0
    elif int(k.pages.mapcount[page]) > 1 and not migrate_all:
        err = -errno.EACCES
    else:
        err = isolate_lru_page(k, page, pagelist)
        if not err:
            err = 1
    put_page(k, page)
    return err


def move_pages_and_store_status(k: Kernel, mm: MmStruct, node: int, pagelist: PageList,
                                status: int, start: int, i: int, nr_pages: int) -> Gen:
    """Model of move_pages_and_store_status() (Linux 6.1): migrate the pending batch
    (entries start..i-1) and store ``node`` as their statuses.

    If migration fails the statuses are not stored: a positive result counts the pages
    that failed plus the entries from ``i`` on (not attempted); -ENOMEM is returned as is.
    """
    if pagelist.list_empty():
        return 0
    err = yield from do_move_pages_to_node(k, mm, pagelist, node)
    if err:
        if err > 0:
            err += nr_pages - i
        return err
    return store_status(k, status, start, node, i - start)


def do_pages_move(k: Kernel, mm: MmStruct, task_nodes: frozenset[int], nr_pages: int,
                  pages: int, nodes: int, status: int, flags: int) -> Gen:
    """Model of do_pages_move() (Linux 6.1): move_pages(2) with a nodes array.

    Entry by entry: read pages[i] and nodes[i] (-EFAULT), check the node (-ENODEV,
    -EACCES), then queue the page.  Consecutive entries with the same node form a batch,
    migrated when the node changes, when an entry is not queued (its status is stored
    first, then the batch before it is migrated) and at the end.  A bad argument stops
    the loop, but the pending batch is still migrated.  Returns 0, a negative errno, or
    the positive count of pages not migrated plus entries not attempted.
    """
    from pagemig.mm.migrate_runs import queue_entries_on_arrays

    migrate_all = bool(flags & MPOL_MF_MOVE_ALL)
    pagelist = PageList(k.pages)
    current_node = NUMA_NO_NODE
    start = 0
    err = 0
    page_words = _UserWords(k, pages, 8, "<u8")
    node_words = _UserWords(k, nodes, 4, "<i4")
    lru_cache_disable(k)
    i = 0
    flush = True
    while i < nr_pages:
        addr = page_words.get(i)
        node = node_words.get(i) if addr is not None else None
        if addr is None or node is None:
            err = -errno.EFAULT
            break
        if not 0 <= node < MAX_NUMNODES or not k.node_state_high_memory(node):
            err = -errno.ENODEV
            break
        if node not in task_nodes:
            err = -errno.EACCES
            break
        if current_node == NUMA_NO_NODE:
            current_node, start = node, i
        elif node != current_node:
            err = yield from move_pages_and_store_status(k, mm, current_node, pagelist,
                                                         status, start, i, nr_pages)
            if err:
                flush = False
                break
            current_node, start = node, i
        err = add_page_for_migration(k, mm, addr, current_node, pagelist, migrate_all)
        if err > 0:
            # The entries after it that would be queued too, on arrays (mm/migrate_runs.py).
            i = queue_entries_on_arrays(k, mm, pages, nodes, i + 1, nr_pages, current_node,
                                        migrate_all, pagelist)
            continue
        if err == -errno.EEXIST:
            err = -errno.EFAULT
        err = store_status(k, status, i, err if err else current_node, 1)
        if err:
            break
        err = yield from move_pages_and_store_status(k, mm, current_node, pagelist, status,
                                                     start, i, nr_pages)
        if err:
            if err > 0:
                err -= 1  # entry i was accounted for (its status is stored)
            flush = False
            break
        current_node = NUMA_NO_NODE
        i += 1
    if flush:
        err1 = yield from move_pages_and_store_status(k, mm, current_node, pagelist, status,
                                                      start, i, nr_pages)
        if err >= 0:
            err = err1
    lru_cache_enable(k)
    return err


class _UserWords:
    """get_user() of element i of a user array, element by element.

    The fault (or its absence) happens at the first element read in each page, as the
    kernel's get_user() loop would see it; the rest of that page is then served from the
    bytes read with it.
    """

    def __init__(self, k: Kernel, base: int, size: int, dtype: str) -> None:
        self.k, self.base, self.size, self.dtype = k, base, size, dtype
        self.first = 0
        self.values: list[int] = []

    def get(self, i: int) -> int | None:
        from pagemig.mm.fault import copy_from_user

        if not self.first <= i < self.first + len(self.values):
            addr = self.base + self.size * i
            if addr + self.size > ULONG_MAX + 1:
                return None
            run = max(1, ((addr | 4095) + 1 - addr) // self.size)
            data = copy_from_user(self.k, addr, self.size * run)
            if data is None and run > 1:
                data = copy_from_user(self.k, addr, self.size)
                run = 1
            if data is None:
                return None
            self.first, self.values = i, np.frombuffer(data, self.dtype).tolist()
        return int(self.values[i - self.first])


def _lookup_page(k: Kernel, mm: MmStruct, addr: int, move: bool) -> int:
    # The page lookup of both modes: the vma (a migratable one to move), then follow_page()
    # with FOLL_GET; a pfn holding a reference, or -EFAULT/-ENOENT.
    if k.profile.has("move_pages_vma_lookup"):
        vma = mm.vma_containing(addr)  # Linux 6.1: vma_lookup(), an address in a hole is -EFAULT
    else:
        vma = mm.find_vma(addr)
    if vma is None or (move and not vma_migratable(k, vma)):
        return -errno.EFAULT
    # Linux 6.1: FOLL_DUMP makes the zero page and untouched anonymous memory -EFAULT.
    foll = FOLL_GET | (FOLL_DUMP if k.profile.has("move_pages_foll_dump") else 0)
    page = follow_page(k, vma, addr, foll)
    if page is None:
        return -errno.ENOENT
    return page


def do_pages_stat(k: Kernel, mm: MmStruct, pm: PageToNode) -> int:
    """Model of do_pages_stat(): the node of each page, -ENOENT or -EFAULT; returns 0."""
    pm.status[: pm.n] = do_pages_stat_array(k, mm, pm.addr[: pm.n].tolist())
    return 0


def do_pages_stat_array(k: Kernel, mm: MmStruct, addrs: list[int]) -> list[int]:
    """Model of do_pages_stat_array(): the status of each address in query mode.

    The node of the page, -ENOENT (not present; 2.6.27: also a reserved page) or -EFAULT.
    """
    out = []
    for addr in addrs:
        err = _lookup_page(k, mm, int(addr), False)
        if err >= 0:
            page = err
            reserved = int(k.pages.flags[page]) & F_RESERVED
            # Linux 6.1 reports the node of a reserved page (2.6.27: -ENOENT, quirk Q2).
            err = -errno.ENOENT if reserved and not k.profile.has("move_pages_batched") \
                else k.pfn_to_nid(page)
            put_page(k, page)
        out.append(err)
    return out


DO_PAGES_STAT_CHUNK_NR = 16


def _pages_stat_in_chunks(k: Kernel, mm: MmStruct, nr_pages: int, pages: int,
                          status: int) -> int:
    # Linux 6.1's do_pages_stat(): 16 addresses are read, looked up and their statuses
    # written at a time; a fault on either array stops with -EFAULT, the statuses of the
    # chunks before it written.
    from pagemig.mm.fault import copy_from_user, copy_to_user

    while nr_pages:
        chunk_nr = min(nr_pages, DO_PAGES_STAT_CHUNK_NR)
        data = copy_from_user(k, pages, 8 * chunk_nr)
        if data is None:
            break
        chunk_status = do_pages_stat_array(k, mm, np.frombuffer(data, "<u8").tolist())
        if copy_to_user(k, status, np.asarray(chunk_status, "<i4").tobytes()):
            break
        pages += 8 * chunk_nr
        status += 4 * chunk_nr
        nr_pages -= chunk_nr
    return -errno.EFAULT if nr_pages else 0


ULONG_MAX = (1 << 64) - 1


def find_task_mm(k: Kernel, pid: int) -> tuple[int, Task | None, MmStruct | None]:
    """The target of move_pages(2)/migrate_pages(2): current for pid 0, else the task with
    that pid (-ESRCH), and its mm (-EINVAL for a kernel thread or an exited task)."""
    task = k.current if pid == 0 else k.find_task_by_vpid(pid)
    if task is None:
        return -errno.ESRCH, None, None
    mm = k.get_task_mm(task)
    if mm is None:
        return -errno.EINVAL, task, None
    return 0, task, mm


def find_mm_struct(k: Kernel, pid: int) -> tuple[int, MmStruct | None, frozenset[int]]:
    """Model of find_mm_struct() (Linux 6.1): the mm and allowed nodes of move_pages(2)'s
    target; (0 or -errno, mm, nodes).

    pid 0 is the caller, with no permission check; otherwise -ESRCH for no such task, -EPERM
    if ptrace_may_access(PTRACE_MODE_READ_REALCREDS) refuses, the LSM hook's error, and
    -EINVAL for a task without an mm (checked last).
    """
    current = k.current
    assert current is not None
    if pid == 0:
        assert current.mm is not None
        return 0, current.mm, cpuset_mems_allowed(current)
    task = k.find_task_by_vpid(pid)
    if task is None:
        return -errno.ESRCH, None, frozenset()
    if not ptrace_may_access(current, task, PTRACE_MODE_READ_REALCREDS):
        return -errno.EPERM, None, frozenset()
    err = security_task_movememory(k.security, task)
    if err:
        return err, None, frozenset()
    mem_nodes = cpuset_mems_allowed(task)
    mm = k.get_task_mm(task)
    if mm is None:
        return -errno.EINVAL, None, frozenset()
    return 0, mm, mem_nodes


def sys_move_pages(k: Kernel, pid: int, nr_pages: int, pages: int, nodes: int, status: int,
                   flags: int) -> Gen:
    """Model of sys_move_pages(): the move_pages(2) system call of the current task.

    Returns a negative errno, 0, or the positive number of pages not migrated.  Statuses
    are written to user memory only when the result is >= 0.
    """
    nr_pages &= ULONG_MAX
    if flags & ~(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        return -errno.EINVAL
    current = k.current
    assert current is not None
    if flags & MPOL_MF_MOVE_ALL and not current.capable(CAP_SYS_NICE):
        return -errno.EPERM
    if k.profile.has("move_pages_batched"):
        # Linux 6.1 (kernel_move_pages()): the ptrace rule, then the entries are read
        # and handled one at a time (no E2BIG, no array of records).
        err, mm, task_nodes = find_mm_struct(k, pid)
        if err:
            return err
        assert mm is not None
        if nodes:
            from pagemig.mm.migrate_batch import do_pages_move_batch

            err = do_pages_move_batch(k, mm, task_nodes, nr_pages, pages, nodes, status,
                                      bool(flags & MPOL_MF_MOVE_ALL))
            if err is None:  # refused by the batch path: page by page
                err = yield from do_pages_move(k, mm, task_nodes, nr_pages, pages, nodes,
                                               status, flags)
            return err
        return _pages_stat_in_chunks(k, mm, nr_pages, pages, status)
    err, task, mm = find_task_mm(k, pid)
    if err:
        return err
    assert task is not None and mm is not None
    if not may_move_memory_of(current, task):
        return -errno.EPERM
    err = security_task_movememory(k.security, task)
    if err:
        return err
    task_nodes = cpuset_mems_allowed(task)
    if nr_pages >= ULONG_MAX // PageToNode.RECORD_BYTES - 1:
        return -errno.E2BIG
    if not k.vmalloc_ok((nr_pages + 1) * PageToNode.RECORD_BYTES):
        return -errno.ENOMEM
    pm_or_err = _copy_in_move_args(k, nr_pages, pages, nodes, task_nodes)
    if isinstance(pm_or_err, int):
        return pm_or_err
    pm = pm_or_err
    if nodes:
        from pagemig.mm.migrate_batch import do_move_pages_batch

        err = do_move_pages_batch(k, mm, pm, bool(flags & MPOL_MF_MOVE_ALL))
        if err is None:  # refused by the batch path: page by page
            err = yield from do_move_pages(k, mm, pm, bool(flags & MPOL_MF_MOVE_ALL))
    else:
        err = do_pages_stat(k, mm, pm)
    if err >= 0:
        if put_user_array(k, status, pm.status[:nr_pages].astype("<i4")):
            err = -errno.EFAULT
    return err


def put_user_array(k: Kernel, addr: int, values: np.ndarray, stop: bool = False) -> int:
    """Store ``values`` element by element at user ``addr`` (the put_user() loop).

    Works a page at a time; returns how many elements could not be stored (each failing
    put_user() sets -EFAULT and the loop goes on, or with ``stop`` the loop ends there).
    """
    from pagemig.mm.fault import copy_to_user

    data = values.tobytes()
    size = values.itemsize
    failed = 0
    pos = 0
    while pos < len(data):
        chunk_end = min(len(data), pos + 4096 - ((addr + pos) & 4095))
        chunk_end -= (chunk_end - pos) % size if chunk_end < len(data) else 0
        if chunk_end <= pos:
            chunk_end = pos + size  # an element straddling two pages
        if copy_to_user(k, addr + pos, data[pos:chunk_end]):
            if stop:
                return (len(data) - pos + size - 1) // size
            failed += (chunk_end - pos + size - 1) // size
        pos = chunk_end
    return failed


def _copy_in_move_args(k: Kernel, nr_pages: int, pages: int, nodes: int,
                       task_nodes: frozenset[int]) -> PageToNode | int:
    # The get_user() loop of sys_move_pages(): pages[i], then nodes[i] and its checks,
    # element by element; the first bad element fails the whole call before anything
    # moves, and no argument page past it is touched.  The elements that lie in the pages
    # already reached are handled together (no fault can happen inside such a run).
    from pagemig.mm.fault import copy_from_user

    pm = PageToNode(nr_pages)
    has_memory = np.array([k.node_state_high_memory(n) for n in range(MAX_NUMNODES)])
    allowed = np.zeros(MAX_NUMNODES, bool)
    allowed[[n for n in task_nodes if 0 <= n < MAX_NUMNODES]] = True
    i = 0
    while i < nr_pages:
        run = _elements_in_user_page(pages, i, 8, nr_pages)
        if nodes:
            run = min(run, _elements_in_user_page(nodes, i, 4, nr_pages))
        pdata = copy_from_user(k, pages + 8 * i, 8 * run)
        if pdata is None:
            return -errno.EFAULT
        pm.addr[i:i + run] = np.frombuffer(pdata, "<u8")
        if nodes:
            ndata = copy_from_user(k, nodes + 4 * i, 4 * run)
            if ndata is None:
                return -errno.EFAULT
            vals = np.frombuffer(ndata, "<i4").astype(np.int64)
            # 2.6.27 has no range check before node_state() (Q9): modelled as -ENODEV.
            in_range = (vals >= 0) & (vals < MAX_NUMNODES)
            clipped = np.where(in_range, vals, 0)
            nodev = ~in_range | ~has_memory[clipped]
            denied = ~allowed[clipped]
            bad = np.flatnonzero(nodev | denied)
            if len(bad):
                return -errno.ENODEV if nodev[bad[0]] else -errno.EACCES
            pm.node[i:i + run] = vals
        i += run
    return pm


def _elements_in_user_page(base: int, i: int, size: int, n: int) -> int:
    # How many elements from element i of the user array at ``base`` start in the page of
    # element i (at least one: an element straddling two pages is read on its own).
    start = base + size * i
    in_page = ((start | 4095) + 1 - start) // size
    return max(1, min(in_page, n - i))


def migrate_vmas(k: Kernel, mm: MmStruct, to: frozenset[int], from_: frozenset[int],
                 flags: int) -> int:
    """Model of migrate_vmas(): call each vma's ``vm_ops->migrate``; the last vma is skipped."""
    err = 0
    vmas = mm.vmas
    i = 0
    while i + 1 < len(vmas) and not err:
        vma = vmas[i]
        if vma.vm_ops is not None and vma.vm_ops.migrate is not None:
            err = vma.vm_ops.migrate(vma, to, from_, flags)
        i += 1
    return err
