"""Model of mm/mlock.c (Linux 2.6.27, before the unevictable LRU of 2.6.28).

mlock() sets VM_LOCKED and faults every page in (make_pages_present(), a write fault in a
writable vma, which breaks copy-on-write sharing).  Migration ignores VM_LOCKED.

Linux 6.1 (split_lru): a page mapped in a VM_LOCKED vma is PG_mlocked (counted in
NR_MLOCK) and lives on the unevictable list with PG_unevictable: mlock() marks the pages
already present, and the rmap helpers mark a page each time a locked vma maps it (a fault,
the new page of a migration) and clear it when a locked vma unmaps it.  munlock() clears
them and the pages return to an evictable list.  Simplifications: 6.1 batches mlocks in a
per-CPU pagevec and moves the pages at its drain; the model moves them at once.  6.1
counts the locked vmas of a page (mlock_count); the model clears PG_mlocked at the first
munlock, which 6.1 allows too ("reclaim will fix it").
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pagemig.mm.memory import get_user_pages
from pagemig.mm.mm_types import (
    PAGE_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    ULONG_MAX,
    VM_IO,
    VM_LOCKED,
    VM_PFNMAP,
    VM_SHARED,
    VM_WRITE,
)
from pagemig.mm.mmap import merge_or_split

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import MmStruct, VmArea


def make_pages_present(k: Kernel, mm: MmStruct, vma: VmArea, start: int, end: int) -> int:
    """Model of make_pages_present(): fault in [start, end), writing if the vma is writable.

    Linux 6.1 (populate_vma_page_range()): only a private writable vma is write-faulted
    (to break COW); a shared one is read-faulted, so its pages are not dirtied.
    """
    write = bool(vma.vm_flags & VM_WRITE)
    if k.profile.has("mlock_no_shared_write") and vma.vm_flags & VM_SHARED:
        write = False
    ret, _ = get_user_pages(k, mm, start, (end - start) >> PAGE_SHIFT, write, False)
    return 0 if ret >= 0 else ret


def mlock_fixup(k: Kernel, vma: VmArea, prev: VmArea | None, start: int, end: int,
                newflags: int) -> tuple[int, VmArea]:
    """Model of mlock_fixup(): merge or split, set the flags, populate when locking."""
    mm = vma.vm_mm
    if newflags == vma.vm_flags:
        return 0, vma
    oldflags = vma.vm_flags
    vma = merge_or_split(k, vma, prev, start, end, newflags)
    vma.vm_flags = newflags
    if newflags & VM_LOCKED:
        make_pages_present(k, mm, vma, start, end)
    # Linux 6.1: locked pages go to the unevictable list with PG_mlocked.
    if k.profile.has("split_lru") and (newflags ^ oldflags) & VM_LOCKED:
        mlock_vma_pages_range(k, vma, start, end)
    return 0, vma


def mlock_vma_pages_range(k: Kernel, vma: VmArea, start: int, end: int) -> None:
    """Model of mlock_vma_pages_range() (Linux 6.1): mlock (or munlock, as the vma's flags
    now say) every page a pte of [start, end) maps."""
    from pagemig.mm.memory import vm_normal_page
    from pagemig.mm.swap import lru_add_drain
    from pagemig.mm.swapops import pte_present

    mm = vma.vm_mm
    for addr in range(start, end, PAGE_SIZE):
        pte = mm.get_pte(addr)
        if not pte_present(pte):
            continue
        page = vm_normal_page(k, vma, addr, pte)
        if page < 0:
            continue
        if vma.vm_flags & VM_LOCKED:
            mlock_page(k, page)
        else:
            munlock_page(k, page)
    lru_add_drain(k)  # pages still in this CPU's pagevec reach their list now


def mlock_vma_page(k: Kernel, page: int, vma: VmArea) -> None:
    """Model of mlock_vma_page() (Linux 6.1): a VM_LOCKED vma (not a special one) maps the
    page."""
    if k.profile.has("split_lru") and vma.vm_flags & (VM_LOCKED | VM_IO | VM_PFNMAP) \
            == VM_LOCKED:
        mlock_page(k, page)


def munlock_vma_page(k: Kernel, page: int, vma: VmArea) -> None:
    """Model of munlock_vma_page() (Linux 6.1): a VM_LOCKED vma stops mapping the page."""
    if k.profile.has("split_lru") and vma.vm_flags & VM_LOCKED:
        munlock_page(k, page)


def mlock_page(k: Kernel, page: int) -> None:
    """Model of mlock_page() (Linux 6.1): PG_mlocked (NR_MLOCK); a page on an evictable
    list moves to the unevictable list; one in a pagevec or isolated gets there when it is
    put on a list (the drain's lru_add_fn())."""
    from pagemig.mm.mmzone import ZoneStat
    from pagemig.mm.page_flags import F_ACTIVE, F_LRU, F_MLOCKED, F_UNEVICTABLE
    from pagemig.mm.swap import add_page_to_lru, del_page_from_list_keep_active

    p = k.pages
    if not int(p.flags[page]) & F_MLOCKED:
        p.flags[page] |= F_MLOCKED
        k.zone_stat[k.page_zone(page).id, ZoneStat.NR_MLOCK] += 1
    flags = int(p.flags[page])
    if flags & F_LRU and not flags & F_UNEVICTABLE:
        del_page_from_list_keep_active(k, page)
        p.flags[page] = (flags | F_UNEVICTABLE) & ~F_ACTIVE
        add_page_to_lru(k, page, False)


def munlock_page(k: Kernel, page: int) -> None:
    """Model of munlock_page() (Linux 6.1): PG_mlocked off; a page on the unevictable list
    goes back to the inactive list of its kind."""
    from pagemig.mm.mmzone import ZoneStat
    from pagemig.mm.page_flags import F_LRU, F_MLOCKED, F_UNEVICTABLE
    from pagemig.mm.swap import add_page_to_lru, del_page_from_list_keep_active

    p = k.pages
    if not int(p.flags[page]) & F_MLOCKED:
        return
    p.flags[page] &= ~F_MLOCKED
    k.zone_stat[k.page_zone(page).id, ZoneStat.NR_MLOCK] -= 1
    if int(p.flags[page]) & F_LRU and int(p.flags[page]) & F_UNEVICTABLE:
        del_page_from_list_keep_active(k, page)
        p.flags[page] &= ~F_UNEVICTABLE
        add_page_to_lru(k, page, False)


def do_mlock(k: Kernel, mm: MmStruct, start: int, length: int, on: bool) -> int:
    """Model of do_mlock() (sys_mlock() / sys_munlock()): 0, -EINVAL or -ENOMEM."""
    # C arithmetic: the aligned length and the end wrap at 2**64, so a "negative" length
    # gives an end below the start (-EINVAL) instead of a walk to the top of memory.
    length = (((start & ~PAGE_MASK) + length + PAGE_SIZE - 1) & PAGE_MASK) & ULONG_MAX
    start &= PAGE_MASK
    end = (start + length) & ULONG_MAX
    if end < start:
        return -errno.EINVAL
    if end == start:
        return 0
    if k.profile.has("split_lru"):
        from pagemig.mm.swap import lru_add_drain_all

        lru_add_drain_all(k)  # Linux 6.1: flush the pagevecs first
    vma, prev = mm.find_vma_prev(start)
    if vma is None or vma.vm_start > start:
        return -errno.ENOMEM
    if start > vma.vm_start:
        prev = vma
    nstart = start
    while True:
        newflags = (vma.vm_flags & ~VM_LOCKED) | (VM_LOCKED if on else 0)
        tmp = min(vma.vm_end, end)
        err, prev = mlock_fixup(k, vma, prev, nstart, tmp, newflags)
        if err:
            return err
        nstart = tmp
        if nstart < prev.vm_end:
            nstart = prev.vm_end
        if nstart >= end:
            return 0
        i = mm.vmas.index(prev)
        vma = mm.vmas[i + 1] if i + 1 < len(mm.vmas) else None  # type: ignore[assignment]
        if vma is None or vma.vm_start != nstart:
            return -errno.ENOMEM
