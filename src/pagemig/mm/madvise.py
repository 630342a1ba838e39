"""Model of mm/madvise.c (Linux 2.6.27): sys_madvise() and the advice it knows.

2.6.27 knows MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL (read-ahead hints kept in vm_flags,
which may split or merge vmas), MADV_WILLNEED (read-ahead of a file's pages; -EBADF on
anonymous memory), MADV_DONTNEED (zap the ptes), MADV_REMOVE (punch a hole in a tmpfs file)
and MADV_DONTFORK / MADV_DOFORK.  Every later advice (MADV_MERGEABLE, MADV_HUGEPAGE,
MADV_COLD, MADV_PAGEOUT, ...) falls into the default case: -EINVAL, but only once a vma of
the range is reached, so the argument checks and the -ENOMEM of an unmapped range come first.

Linux 6.1 (feature madv_pageout): MADV_PAGEOUT reclaims the range's pages that only this
mapping maps (mm/vmscan.py), MADV_COLD deactivates them (modelled as clearing the
referenced state only).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pagemig.mm.mm_types import (
    PAGE_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_DONTCOPY,
    VM_HUGETLB,
    VM_IO,
    VM_LOCKED,
    VM_NONLINEAR,
    VM_PFNMAP,
    VM_SHARED,
    VM_WRITE,
)

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.filemap import AddressSpace
    from pagemig.mm.mm_types import MmStruct, VmArea

# include/asm-generic/mman.h of 2.6.27.
MADV_NORMAL = 0
MADV_RANDOM = 1
MADV_SEQUENTIAL = 2
MADV_WILLNEED = 3
MADV_DONTNEED = 4
MADV_REMOVE = 9
MADV_DONTFORK = 10
MADV_DOFORK = 11

# Values later kernels gave to advice 2.6.27 does not know (what a program built against
# newer headers passes, as the oracle's probe is).
MADV_MERGEABLE = 12
MADV_UNMERGEABLE = 13
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
MADV_COLD = 20
MADV_PAGEOUT = 21

# include/linux/mm.h of 2.6.27: the read-ahead hints.
VM_SEQ_READ = 0x00008000
VM_RAND_READ = 0x00010000

READAHEAD_CHUNK_PAGES = (2 * 1024 * 1024) // PAGE_SIZE  # force_page_cache_readahead()


def madvise_behavior(k: Kernel, vma: VmArea, prev: VmArea | None, start: int, end: int,
                     behavior: int) -> tuple[int, VmArea | None]:
    """Model of madvise_behavior(): set the vm_flags hint on [start, end), merging or
    splitting vmas as mprotect does.  Returns (0 or -errno, the new ``prev``)."""
    from pagemig.mm.mmap import merge_or_split

    new_flags = vma.vm_flags
    if behavior == MADV_NORMAL:
        new_flags &= ~(VM_RAND_READ | VM_SEQ_READ)
    elif behavior == MADV_SEQUENTIAL:
        new_flags = (new_flags & ~VM_RAND_READ) | VM_SEQ_READ
    elif behavior == MADV_RANDOM:
        new_flags = (new_flags & ~VM_SEQ_READ) | VM_RAND_READ
    elif behavior == MADV_DONTFORK:
        new_flags |= VM_DONTCOPY
    elif behavior == MADV_DOFORK:
        new_flags &= ~VM_DONTCOPY
    if new_flags == vma.vm_flags:
        return 0, vma
    # The model's split_vma() cannot fail (no map_count limit), so the -ENOMEM that the
    # kernel turns into -EAGAIN here does not occur.
    vma = merge_or_split(k, vma, prev, start, end, new_flags)
    vma.vm_flags = new_flags
    return 0, vma


def max_sane_readahead(k: Kernel, nr: int) -> int:
    """Model of max_sane_readahead(): at most half the inactive and free pages of the
    current CPU's node."""
    from pagemig.mm.mmzone import ZoneStat

    nid = k.cpu_to_node(k.current_cpu())
    ids = [z.id for z in k.nodes[nid].zones]
    avail = int(k.zone_stat[ids, ZoneStat.NR_INACTIVE].sum()
                + k.zone_stat[ids, ZoneStat.NR_FREE_PAGES].sum())
    return min(nr, avail // 2)


def force_page_cache_readahead(k: Kernel, mapping: AddressSpace, offset: int,
                               nr_to_read: int) -> int:
    """Model of force_page_cache_readahead() and __do_page_cache_readahead().

    Every offset of [offset, offset + nr_to_read) below the end of the file that has no
    page in the cache gets a new page, allocated by the task's policy
    (page_cache_alloc_cold()), added to the cache and the inactive LRU and filled by
    ->readpage (tmpfs: shmem_readpage() zeroes a hole); the read-ahead's own reference is
    then dropped.  Returns the pages read, or -EINVAL for a mapping without ->readpage.
    """
    from pagemig.mm.filemap import add_to_page_cache
    from pagemig.mm.mempolicy import alloc_pages_current
    from pagemig.mm.page_alloc import GFP_HIGHUSER_MOVABLE
    from pagemig.mm.swap import lru_cache_add, put_page

    if mapping.a_ops.readpage is None and not mapping.is_shmem:
        return -errno.EINVAL  # neither ->readpage nor ->readpages
    if mapping.size_pages == 0:
        return 0
    end_index = mapping.size_pages - 1
    done = 0
    while nr_to_read > 0:
        chunk = min(READAHEAD_CHUNK_PAGES, nr_to_read)
        pool: list[int] = []
        for index in range(offset, offset + chunk):
            if index > end_index:
                break
            if mapping.slot(index) >= 0:
                continue
            pfn = alloc_pages_current(k, GFP_HIGHUSER_MOVABLE)
            if pfn is None:
                break
            k.pages.index[pfn] = index
            pool.append(pfn)
        for pfn in pool:  # read_pages()
            if not add_to_page_cache(k, pfn, mapping, int(k.pages.index[pfn])):
                lru_cache_add(k, pfn)
                _readpage(k, mapping, pfn)
            put_page(k, pfn)
        done += len(pool)
        offset += chunk
        nr_to_read -= chunk
    return done


def _readpage(k: Kernel, mapping: AddressSpace, pfn: int) -> None:
    # ->readpage on a locked, not yet uptodate page-cache page.
    from pagemig.mm.page_flags import F_UPTODATE

    if mapping.is_shmem:  # shmem_readpage(): shmem_getpage(SGP_CACHE) zeroes a hole
        k.frames.zero(pfn)
        k.pages.flags[pfn] |= F_UPTODATE
        return
    assert mapping.a_ops.readpage is not None
    mapping.a_ops.readpage(k, mapping, pfn)


def force_swapin_readahead(k: Kernel, vma: VmArea, start: int, end: int) -> None:
    """Model of force_swapin_readahead() (Linux 6.1): every swap pte of [start, end) has its
    page read into the swap cache (allocated by the vma's policy, left unmapped); then the
    pagevec is drained."""
    from pagemig.mm.swap import lru_add_drain, put_page
    from pagemig.mm.swap_state import read_swap_cache_async
    from pagemig.mm.swapops import is_swap_pte, non_swap_entry, pte_to_swp_entry

    mm = vma.vm_mm
    for addr in range(start, min(end, vma.vm_end), PAGE_SIZE):
        pte = mm.get_pte(addr)
        if not is_swap_pte(pte):
            continue
        entry = pte_to_swp_entry(pte)
        if non_swap_entry(entry):
            continue
        page = read_swap_cache_async(k, entry, vma, addr)
        if page >= 0:
            put_page(k, page)
    lru_add_drain(k)


def madvise_willneed(k: Kernel, vma: VmArea, start: int, end: int) -> tuple[int, VmArea]:
    """Model of madvise_willneed(): read-ahead of the file pages; -EBADF without a file
    (Linux 6.1: swap-in read-ahead of anonymous memory; nothing for tmpfs holes).

    The read-ahead's own result is ignored, as the kernel ignores it.
    """
    mapping = vma.vm_file
    if mapping is None:
        if k.profile.has("willneed_swapin"):
            force_swapin_readahead(k, vma, start, end)
            return 0, vma
        return -errno.EBADF, vma
    if mapping.is_shmem and k.profile.has("shmem_willneed_swapin"):
        return 0, vma  # Linux 6.1: only swapped tmpfs pages are read (none in the model)
    first = ((start - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    end = min(end, vma.vm_end)
    last = ((end - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    force_page_cache_readahead(k, mapping, first, max_sane_readahead(k, last - first))
    return 0, vma


def zap_page_range(k: Kernel, vma: VmArea, address: int, size: int) -> None:
    """Model of zap_page_range(): drain this CPU's pagevecs, then zap the ptes of the range
    in each vma it covers (unmap_vmas())."""
    from pagemig.mm.memory import zap_pte_range
    from pagemig.mm.swap import lru_add_drain

    lru_add_drain(k)
    end = address + size
    mm = vma.vm_mm
    i = mm.vmas.index(vma)
    for v in mm.vmas[i:]:
        if v.vm_start >= end:
            break
        zap_pte_range(k, v, max(address, v.vm_start), min(end, v.vm_end))


def madvise_dontneed(k: Kernel, vma: VmArea, start: int, end: int) -> tuple[int, VmArea]:
    """Model of madvise_dontneed(): zap the range; -EINVAL on locked, hugetlb or PFN-mapped
    vmas."""
    if vma.vm_flags & (VM_LOCKED | VM_HUGETLB | VM_PFNMAP):
        return -errno.EINVAL, vma
    if vma.vm_flags & VM_NONLINEAR:
        raise NotImplementedError("nonlinear vmas (remap_file_pages) are not modelled")
    zap_page_range(k, vma, start, end - start)
    return 0, vma


def unmap_mapping_range(k: Kernel, mapping: AddressSpace, first: int, last: int) -> None:
    """Model of unmap_mapping_range(even_cows=1): zap the ptes of file pages [first, last]
    in every vma of the file, private copies included."""
    from pagemig.mm.memory import zap_pte_range

    for vma in list(mapping.i_mmap):
        lo = max(first, vma.vm_pgoff)
        hi = min(last, vma.vm_pgoff + vma.npages - 1)
        if lo > hi:
            continue
        start = vma.vm_start + ((lo - vma.vm_pgoff) << PAGE_SHIFT)
        end = vma.vm_start + ((hi + 1 - vma.vm_pgoff) << PAGE_SHIFT)
        zap_pte_range(k, vma, start, end)


def truncate_inode_pages_range(k: Kernel, mapping: AddressSpace, first: int, last: int) -> None:
    """Model of truncate_inode_pages_range() on whole pages [first, last]: each cached page is
    locked, waited for if under writeback, cleaned and removed from the page cache."""
    from pagemig.mm.filemap import lock_page, unlock_page, wait_on_page_writeback
    from pagemig.mm.page_flags import F_DIRTY, F_MAPPEDTODISK, F_PRIVATE
    from pagemig.mm.swap import get_page, put_page
    from pagemig.mm.truncate import __remove_from_page_cache

    for index in range(first, min(last, len(mapping.page_tree) - 1) + 1):
        page = mapping.slot(index)
        if page < 0:
            continue
        get_page(k, page)  # the lookup's reference (pagevec_lookup())
        k.run(lock_page(k, page))
        k.run(wait_on_page_writeback(k, page))
        if int(k.pages.flags[page]) & F_PRIVATE:
            raise NotImplementedError("truncating a page with buffers (tmpfs pages have none)")
        k.pages.flags[page] &= ~F_DIRTY  # cancel_dirty_page(): tmpfs accounts no dirty pages
        mapping.tag_dirty[index] = False
        __remove_from_page_cache(k, page, mapping)
        k.pages.flags[page] &= ~F_MAPPEDTODISK
        unlock_page(k, page)
        put_page(k, page)


def madvise_remove(k: Kernel, vma: VmArea, start: int, end: int) -> tuple[int, None]:
    """Model of madvise_remove(): punch a hole in a shared writable tmpfs mapping's file
    (vmtruncate_range()); -ENOSYS for files of other filesystems."""
    if vma.vm_flags & (VM_LOCKED | VM_NONLINEAR | VM_HUGETLB):
        return -errno.EINVAL, None
    mapping = vma.vm_file
    if mapping is None:
        return -errno.EINVAL, None
    if vma.vm_flags & (VM_SHARED | VM_WRITE) != VM_SHARED | VM_WRITE:
        return -errno.EACCES, None
    if not mapping.is_shmem:
        return -errno.ENOSYS, None  # no ->truncate_range
    first = ((start - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    last = ((end - vma.vm_start - 1) >> PAGE_SHIFT) + vma.vm_pgoff
    unmap_mapping_range(k, mapping, first, last)
    truncate_inode_pages_range(k, mapping, first, last)
    return 0, None


def madvise_vma(k: Kernel, vma: VmArea, prev: VmArea | None, start: int, end: int,
                behavior: int) -> tuple[int, VmArea | None]:
    """Model of madvise_vma(): dispatch one vma's part of the range."""
    if behavior == MADV_DOFORK and vma.vm_flags & VM_IO:
        return -errno.EINVAL, prev
    if behavior in (MADV_DOFORK, MADV_DONTFORK, MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM):
        return madvise_behavior(k, vma, prev, start, end, behavior)
    if behavior == MADV_REMOVE:
        return madvise_remove(k, vma, start, end)
    if behavior == MADV_WILLNEED:
        return madvise_willneed(k, vma, start, end)
    if behavior == MADV_DONTNEED:
        return madvise_dontneed(k, vma, start, end)
    # Linux 6.1: MADV_COLD and MADV_PAGEOUT deactivate or reclaim the range (5.4 on).
    if behavior in (MADV_COLD, MADV_PAGEOUT) and k.profile.has("madv_pageout"):
        return madvise_cold_or_pageout(k, vma, start, end, behavior == MADV_PAGEOUT)
    return -errno.EINVAL, prev


def madvise_cold_or_pageout(k: Kernel, vma: VmArea, start: int, end: int,
                            pageout: bool) -> tuple[int, VmArea]:
    """Model of madvise_cold() / madvise_pageout() (Linux 6.1).

    -EINVAL for a locked, PFN-mapped or hugetlb vma.  After draining this CPU's pagevecs,
    each present page of the range that is on the LRU and mapped only here has its pte
    made old and PG_referenced cleared; for MADV_PAGEOUT it is isolated and the list is
    handed to reclaim_pages().
    """
    from pagemig.mm.memory import vm_normal_page
    from pagemig.mm.migrate import isolate_lru_page
    from pagemig.mm.mm_types import PageList
    from pagemig.mm.page_flags import F_LRU, F_REFERENCED
    from pagemig.mm.swap import lru_add_drain
    from pagemig.mm.swapops import pte_mkold, pte_present
    from pagemig.mm.vmscan import reclaim_pages

    if vma.vm_flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB):
        return -errno.EINVAL, vma
    lru_add_drain(k)
    mm = vma.vm_mm
    page_list = PageList(k.pages)
    for addr in range(start, end, PAGE_SIZE):
        pte = mm.get_pte(addr)
        if not pte_present(pte):
            continue
        page = vm_normal_page(k, vma, addr, pte)
        if page < 0 or not int(k.pages.flags[page]) & F_LRU:
            continue
        if int(k.pages.mapcount[page]) != 1:
            continue
        mm.set_pte(addr, pte_mkold(pte))
        k.pages.flags[page] &= ~F_REFERENCED
        if pageout:
            isolate_lru_page(k, page, page_list)
    if pageout:
        reclaim_pages(k, page_list)
    return 0, vma


def sys_madvise(k: Kernel, mm: MmStruct, start: int, len_in: int, behavior: int) -> int:
    """Model of sys_madvise(): 0 or -errno.

    -EINVAL for an unaligned start, a length that wraps, or (from the first vma reached) an
    unknown advice; a range that is empty returns 0 before the advice is looked at; holes
    in the range are skipped and give -ENOMEM at the end, a range with no vma at all
    -ENOMEM at once.
    """
    mask = (1 << 64) - 1
    len_in &= mask
    if start & ~PAGE_MASK:
        return -errno.EINVAL
    length = (len_in + PAGE_SIZE - 1) & PAGE_MASK & mask
    if len_in and not length:
        return -errno.EINVAL
    end = start + length
    if end > mask:
        return -errno.EINVAL
    if end == start:
        return 0
    unmapped_error = 0
    vma, prev = mm.find_vma_prev(start)
    if vma is not None and start > vma.vm_start:
        prev = vma
    while True:
        if vma is None:
            return -errno.ENOMEM
        if start < vma.vm_start:
            unmapped_error = -errno.ENOMEM
            start = vma.vm_start
            if start >= end:
                return -errno.ENOMEM
        tmp = min(vma.vm_end, end)
        error, prev = madvise_vma(k, vma, prev, start, tmp, behavior)
        if error:
            return error
        start = tmp
        if prev is not None and start < prev.vm_end:
            start = prev.vm_end
        if start >= end:
            return unmapped_error
        if prev is not None:
            i = mm.vmas.index(prev)
            vma = mm.vmas[i + 1] if i + 1 < len(mm.vmas) else None
        else:  # madvise_remove() dropped mmap_sem: look the vma up again
            vma = mm.find_vma(start)
