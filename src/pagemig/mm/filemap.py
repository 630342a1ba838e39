"""Model of mm/filemap.c and struct address_space (Linux 2.6.27): the page cache.

An address_space keeps its radix tree as a numpy array of pfns indexed by page offset
(-1 for an empty slot), grown on demand, so that page-cache slots are not Python objects.
The radix tree's DIRTY and WRITEBACK tags are boolean arrays beside it.

``i_mmap`` (a prio_tree in 2.6.27) is a list of the linear vmas mapping the file; a walk
for offset ``pgoff`` visits the vmas whose range covers it, in the order they were linked.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pagemig.mm.mm_types import file_mapping
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_flags import F_DIRTY, F_LOCKED, F_RECLAIM, F_WRITEBACK
from pagemig.mm.swap import get_page, get_page_unless_zero
from pagemig.sched import Wait

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import VmArea

SWAPPER_SPACE_ID = 1
MAX_FILE_PAGES = 1 << 20  # the model's largest tmpfs file, 4 GiB (a dense page-cache index)


@dataclass(eq=False)
class AddressSpaceOperations:
    """Model of struct address_space_operations: the methods migration looks at.

    ``migratepage`` is a generator function ``(k, mapping, new, old)`` returning 0 or a
    negative errno (None: the mapping has no migration method, so the fallback is used).
    """

    name: str
    migratepage: Callable[..., Any] | None = None
    writepage: Callable[..., Any] | None = None
    readpage: Callable[..., Any] | None = None
    set_page_dirty: Callable[[Kernel, int], int] | None = None
    releasepage: Callable[..., Any] | None = None
    page_mkwrite: Callable[[Kernel, int], int] | None = None  # vm_ops->page_mkwrite


@dataclass(eq=False)
class BackingDevInfo:
    """Model of struct backing_dev_info: whether dirty pages are accounted."""

    name: str
    cap_account_dirty: bool = True
    cap_writeback_dirty: bool = True


@dataclass(eq=False)
class AddressSpace:
    """Model of struct address_space (with the fields of its host inode the model needs)."""

    id: int
    name: str
    a_ops: AddressSpaceOperations
    bdi: BackingDevInfo
    size_pages: int = 0
    page_tree: np.ndarray = field(default_factory=lambda: np.full(0, -1, np.int64))
    tag_dirty: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    tag_writeback: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    nrpages: int = 0
    i_mmap: list[VmArea] = field(default_factory=list)
    i_mmap_nonlinear: list[VmArea] = field(default_factory=list)
    gfp_zone: int = 3  # gfp_zone(mapping_gfp_mask()): ZONE_MOVABLE for GFP_HIGHUSER_MOVABLE
    shared_policy: list[tuple[int, int, Any]] = field(default_factory=list)
    inode_dirty: bool = False
    is_shmem: bool = False
    blocksize: int = 4096
    disk: np.ndarray | None = None  # block files: the file's blocks on disk (one per page)
    on_disk: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    io_error: bool = False  # make writepage fail with -EIO (to test error paths)
    # Linux 6.1: the read-ahead window of the file (struct file_ra_state; the model keeps one
    # per file, not one per open file).
    ra_start: int = 0
    ra_size: int = 0
    ra_async_size: int = 0
    ra_prev: int = -1  # the page index of the last read(2) (ra->prev_pos)

    @property
    def handle(self) -> int:
        """The ``page->mapping`` handle of this address space."""
        return file_mapping(self.id)

    def ensure_slots(self, index: int) -> None:
        """Grow the radix arrays so that ``index`` has a slot."""
        if index < len(self.page_tree):
            return
        size = max(index + 1, 2 * len(self.page_tree), 16)
        grown = np.full(size, -1, np.int64)
        grown[: len(self.page_tree)] = self.page_tree
        self.page_tree = grown
        for name in ("tag_dirty", "tag_writeback"):
            old = getattr(self, name)
            new = np.zeros(size, bool)
            new[: len(old)] = old
            setattr(self, name, new)

    def slot(self, index: int) -> int:
        """The pfn in slot ``index`` (radix_tree_lookup()), -1 when empty."""
        if index < 0 or index >= len(self.page_tree):
            return -1
        return int(self.page_tree[index])

    def mapping_cap_account_dirty(self) -> bool:
        """Model of mapping_cap_account_dirty()."""
        return self.bdi.cap_account_dirty


def vma_prio_tree_foreach(mapping: AddressSpace, pgoff: int) -> list[VmArea]:
    """The linear vmas of ``mapping`` that cover file offset ``pgoff``."""
    return [v for v in mapping.i_mmap if v.vm_pgoff <= pgoff < v.vm_pgoff + v.npages]


def add_to_page_cache(k: Kernel, pfn: int, mapping: AddressSpace, index: int) -> int:
    """Model of add_to_page_cache(): insert a new page, taking the cache reference.

    Charges the page to the current task's memory cgroup as CACHE; returns 0 or -ENOMEM.
    """
    from pagemig.mm.memcontrol import mem_cgroup_cache_charge
    from pagemig.mm.page_alloc import GFP_KERNEL

    err = mem_cgroup_cache_charge(k, pfn, k.current_mm(), GFP_KERNEL)
    if err:
        return err
    mapping.ensure_slots(index)
    assert mapping.slot(index) < 0, "add_to_page_cache: slot busy"
    get_page(k, pfn)
    k.pages.mapping[pfn] = mapping.handle
    k.pages.index[pfn] = index
    mapping.page_tree[index] = pfn
    mapping.nrpages += 1
    k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_FILE_PAGES] += 1
    return 0


def find_get_page(k: Kernel, mapping: AddressSpace, index: int) -> int:
    """Model of find_get_page(): a speculative reference on the cached page, or -1.

    While migration has frozen the page's count at 0 the speculative get fails; the kernel
    then retries the lookup, and with one actor the freeze cannot be in progress here.
    """
    pfn = mapping.slot(index)
    if pfn < 0:
        return -1
    if not get_page_unless_zero(k, pfn):
        raise AssertionError(f"find_get_page met a frozen page {pfn} with no other actor")
    return pfn


def set_page_dirty(k: Kernel, pfn: int) -> int:
    """Model of set_page_dirty(): the mapping's method (__set_page_dirty_buffers() when it
    has none, as with CONFIG_BLOCK), or just PG_dirty for anonymous pages."""
    mapping = k.page_mapping(pfn)
    if mapping is not None:
        if mapping.a_ops.set_page_dirty is not None:
            return mapping.a_ops.set_page_dirty(k, pfn)
        from pagemig.mm.buffer import __set_page_dirty_buffers

        return __set_page_dirty_buffers(k, pfn)
    f = k.pages.flags.item(pfn)
    if not f & F_DIRTY:
        k.pages.flags[pfn] = f | F_DIRTY
        return 1
    return 0


def __set_page_dirty_no_writeback(k: Kernel, pfn: int) -> int:
    """Model of __set_page_dirty_no_writeback(): set PG_dirty, nothing else (tmpfs)."""
    if not int(k.pages.flags[pfn]) & F_DIRTY:
        k.pages.flags[pfn] |= F_DIRTY
        return 1
    return 0


def __set_page_dirty_nobuffers(k: Kernel, pfn: int) -> int:
    """Model of __set_page_dirty_nobuffers(): PG_dirty, radix DIRTY tag and accounting.

    NR_FILE_DIRTY is counted only for mappings that account dirty pages; the inode is marked
    dirty only for a file mapping (not the swap cache).
    """
    f = k.pages.flags.item(pfn)
    if f & F_DIRTY:
        return 0
    k.pages.flags[pfn] = f | F_DIRTY
    mapping = k.page_mapping(pfn)
    if mapping is not None:
        index = k.page_index(pfn)
        mapping.ensure_slots(index)
        mapping.tag_dirty[index] = True
        if mapping.mapping_cap_account_dirty():
            k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_FILE_DIRTY] += 1
        if mapping.id != SWAPPER_SPACE_ID:
            mapping.inode_dirty = True
    return 1


def clear_page_dirty_for_io(k: Kernel, pfn: int) -> int:
    """Model of clear_page_dirty_for_io(): clean a locked page for I/O; 1 if it was dirty.

    Also clears PG_reclaim.  For mappings that account dirty pages, NR_FILE_DIRTY drops.
    (No ptes are left to write-protect on the migration paths that call it.)
    """
    p = k.pages
    p.flags[pfn] = p.flags.item(pfn) & ~F_RECLAIM
    mapping = k.page_mapping(pfn)
    if mapping is not None and mapping.mapping_cap_account_dirty() and page_mkclean(k, pfn):
        set_page_dirty(k, pfn)
    f = p.flags.item(pfn)
    was_dirty = bool(f & F_DIRTY)
    p.flags[pfn] = f & ~F_DIRTY
    if was_dirty and mapping is not None and mapping.mapping_cap_account_dirty():
        k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_FILE_DIRTY] -= 1
    return int(was_dirty)


def page_mkclean(k: Kernel, pfn: int) -> int:
    """Model of page_mkclean(): write-protect and clean every pte mapping a file page.

    Returns 1 if a pte was dirty or writable (the next write will fault and redirty).
    """
    from pagemig.mm.rmap import vma_address
    from pagemig.mm.swapops import (
        pte_dirty,
        pte_mkclean,
        pte_pfn,
        pte_present,
        pte_write,
        pte_wrprotect,
    )

    mapping = k.page_mapping(pfn)
    if mapping is None or int(k.pages.mapcount[pfn]) == 0:
        return 0
    ret = 0
    for vma in vma_prio_tree_foreach(mapping, k.page_index(pfn)):
        if not vma.vm_flags & 0x8:  # VM_SHARED: private ptes of a file page never write it
            continue
        addr = vma_address(k, pfn, vma)
        if addr < 0:
            continue
        pte = vma.vm_mm.get_pte(addr)
        if pte_present(pte) and pte_pfn(pte) == pfn and (pte_dirty(pte) or pte_write(pte)):
            vma.vm_mm.set_pte(addr, pte_mkclean(pte_wrprotect(pte)))
            ret = 1
    return ret


def page_cache_read(k: Kernel, mapping: AddressSpace, index: int) -> int | None:
    """Model of page_cache_read(): a new page-cache page filled by ->readpage().

    Page-cache pages are allocated by the task's policy (page_cache_alloc_cold(), not the
    vma's).  Returns the page with a reference, or None when no page could be allocated.
    """
    from pagemig.mm.mempolicy import alloc_pages_current
    from pagemig.mm.page_alloc import GFP_HIGHUSER_MOVABLE
    from pagemig.mm.swap import lru_cache_add, put_page

    pfn = alloc_pages_current(k, GFP_HIGHUSER_MOVABLE)
    if pfn is None:
        return None
    if add_to_page_cache(k, pfn, mapping, index):
        put_page(k, pfn)
        return None
    lru_cache_add(k, pfn)
    assert mapping.a_ops.readpage is not None
    mapping.a_ops.readpage(k, mapping, pfn)
    return pfn


def filemap_fault(k: Kernel, mapping: AddressSpace, index: int) -> int | None:
    """Model of filemap_fault(): the cached page, or one read in; with a reference."""
    from pagemig.mm.swap import mark_page_accessed

    pfn = find_get_page(k, mapping, index)
    if pfn < 0:
        got = page_cache_read(k, mapping, index)
        if got is None:
            return None
        pfn = got
    mark_page_accessed(k, pfn)
    return pfn


def max_file_pages(mapping: AddressSpace) -> int:
    """The largest file the model keeps on the mapping's filesystem, in pages (its
    s_maxbytes): MAX_FILE_PAGES on tmpfs, EXT2_MAX_FILE_PAGES on the ext2 filesystem."""
    from pagemig.fs.ext2 import EXT2_MAX_FILE_PAGES

    return MAX_FILE_PAGES if mapping.is_shmem else EXT2_MAX_FILE_PAGES


def i_size_write(k: Kernel, mapping: AddressSpace, size_pages: int) -> None:
    """Model of i_size_write() growing a file: a write past the end makes the file
    ``size_pages`` long (the page-cache slots, and an ext2 file's blocks, follow)."""
    if size_pages <= mapping.size_pages:
        return
    mapping.ensure_slots(size_pages - 1)
    if mapping.disk is not None:
        disk = np.zeros((size_pages, mapping.disk.shape[1]), mapping.disk.dtype)
        disk[: len(mapping.disk)] = mapping.disk
        on_disk = np.zeros(size_pages, bool)
        on_disk[: len(mapping.on_disk)] = mapping.on_disk
        mapping.disk, mapping.on_disk = disk, on_disk
    mapping.size_pages = size_pages


def block_write_page(k: Kernel, mapping: AddressSpace, index: int, data: bytes) -> int:
    """write(2) of one whole page of a file (generic_perform_write() with the block
    write_begin/write_end: buffers are attached and mapped, made uptodate and dirty).

    tmpfs files just get a dirty page.  A write past the end grows the file (write_end's
    i_size_write()).  Returns 0, -EINVAL for a negative index (rw_verify_area()), -EFBIG
    past the largest file (generic_write_checks()) or -ENOMEM.
    """
    from pagemig.mm.buffer import (
        BH_Mapped,
        BH_Uptodate,
        create_empty_buffers,
        mark_buffer_dirty,
        page_buffers,
    )
    from pagemig.mm.page_flags import F_PRIVATE, F_UPTODATE
    from pagemig.mm.swap import mark_page_accessed, put_page

    if index < 0:
        return -errno.EINVAL
    if index >= max_file_pages(mapping):
        return -errno.EFBIG
    page = find_get_page(k, mapping, index)
    if page < 0:
        old_size = mapping.size_pages
        i_size_write(k, mapping, index + 1)  # past the end: the page is read in as a hole
        if mapping.is_shmem:
            from pagemig.mm.shmem import shmem_getpage

            got = shmem_getpage(k, mapping, index)
        else:
            got = page_cache_read(k, mapping, index)
        if got is None:
            mapping.size_pages = old_size  # nothing written: the size stays
            return -errno.ENOMEM
        page = got
    k.run(lock_page(k, page))
    k.frames.write(page, 0, data)
    if mapping.is_shmem:
        set_page_dirty(k, page)
    else:
        if not int(k.pages.flags[page]) & F_PRIVATE:
            create_empty_buffers(k, page, mapping.blocksize, 0)
        for b in page_buffers(k, page):
            k.bh.b_state[b] |= BH_Mapped | BH_Uptodate
            mark_buffer_dirty(k, b)
    k.pages.flags[page] |= F_UPTODATE
    unlock_page(k, page)
    mark_page_accessed(k, page)
    put_page(k, page)
    return 0


def read_page(k: Kernel, mapping: AddressSpace, index: int) -> bytes | None:
    """read(2) of one whole page of a file: the cached page, or one read in."""
    from pagemig.mm.swap import put_page

    if k.profile.has("fault_around") and not mapping.is_shmem:
        file_read_ahead(k, mapping, index)  # Linux 6.1: on-demand read-ahead of read(2)
    page = filemap_fault(k, mapping, index) if not mapping.is_shmem else find_get_page(
        k, mapping, index)
    if page is None:
        return None
    if page < 0:
        return bytes(4096)  # a tmpfs hole reads as zeroes (the ZERO_PAGE)
    data = k.frames.read(page, 0, 4096)
    put_page(k, page)
    return data


# -- page lock and writeback waits (include/linux/pagemap.h, mm/filemap.c) --

def trylock_page(k: Kernel, pfn: int) -> bool:
    """Model of trylock_page(): take PG_locked if it is clear."""
    flags = k.pages.flags
    f = flags.item(pfn)
    if f & F_LOCKED:
        return False
    flags[pfn] = f | F_LOCKED
    return True


def unlock_page(k: Kernel, pfn: int) -> None:
    """Model of unlock_page(): clear PG_locked and wake waiters.

    Unlocking a page that is not locked is the double unlock of quirk Q6 (writeout()'s I/O
    error path): it is recorded in ``k.double_unlocks`` rather than crashing.
    """
    flags = k.pages.flags
    f = flags.item(pfn)
    if not f & F_LOCKED:
        k.double_unlocks.append(pfn)
        return
    flags[pfn] = f & ~F_LOCKED


def lock_page(k: Kernel, pfn: int):  # type: ignore[no-untyped-def]
    """Model of lock_page(): sleep until PG_locked can be taken (a generator)."""
    while not trylock_page(k, pfn):
        yield Wait("page_locked", pfn)


def wait_on_page_locked(k: Kernel, pfn: int):  # type: ignore[no-untyped-def]
    """Model of wait_on_page_locked(): sleep until PG_locked is clear (a generator)."""
    while int(k.pages.flags[pfn]) & F_LOCKED:
        yield Wait("page_locked", pfn)


def wait_on_page_writeback(k: Kernel, pfn: int):  # type: ignore[no-untyped-def]
    """Model of wait_on_page_writeback(): sleep until PG_writeback is clear (a generator)."""
    from pagemig.mm.page_flags import F_WRITEBACK
    while int(k.pages.flags[pfn]) & F_WRITEBACK:
        yield Wait("page_writeback", pfn)


def end_page_writeback(k: Kernel, pfn: int) -> None:
    """Model of end_page_writeback(): clear PG_writeback (and its radix tag), wake waiters."""
    if not int(k.pages.flags[pfn]) & F_WRITEBACK:
        return
    k.pages.flags[pfn] &= ~(F_WRITEBACK | F_RECLAIM)  # a reclaim-tagged page is rotated
    k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_WRITEBACK] -= 1
    mapping = k.page_mapping(pfn)
    if mapping is not None:
        index = k.page_index(pfn)
        if index < len(mapping.tag_writeback):
            mapping.tag_writeback[index] = False


# -- Linux 6.1: fault-around and mmap read-around --

FAULT_AROUND_PAGES = 16  # fault_around_bytes (64 KiB)
VM_READAHEAD_PAGES = 32  # the block device's read_ahead_kb (128 KiB)


def filemap_map_pages(k: Kernel, vma: VmArea, start_pgoff: int, end_pgoff: int) -> int:
    """Model of filemap_map_pages() (Linux 6.1): map every page of [start_pgoff, end_pgoff]
    that is in the page cache, uptodate, unlocked and below the end of the file, where the
    pte is none; read-only (the vma's protection) and counted like a fault's mapping.
    Returns the pages mapped."""
    from pagemig.mm.page_flags import F_READAHEAD, F_UPTODATE
    from pagemig.mm.rmap import page_add_file_rmap
    from pagemig.mm.swap import get_page
    from pagemig.mm.swapops import mk_pte, pte_none

    mapping = vma.vm_file
    assert mapping is not None
    mm = vma.vm_mm
    from pagemig.mm.memory import vma_page_prot

    done = 0
    for pgoff in range(start_pgoff, min(end_pgoff, mapping.size_pages - 1) + 1):
        page = mapping.slot(pgoff)
        if page < 0:
            continue
        flags = int(k.pages.flags[page])
        if not flags & F_UPTODATE or flags & (F_LOCKED | F_READAHEAD):
            continue
        addr = vma.vm_start + ((pgoff - vma.vm_pgoff) << 12)
        if not pte_none(mm.get_pte(addr)):
            continue
        get_page(k, page)  # the pte's reference
        mm.file_rss += 1
        page_add_file_rmap(k, page, vma)
        mm.set_pte(addr, mk_pte(page, vma_page_prot(vma)))
        done += 1
    if done:
        if k.tracing:
            k.trace("mm_fault_around", mm=mm.id, start=start_pgoff, end=end_pgoff, nr=done)
    return done


def do_sync_mmap_readahead(k: Kernel, vma: VmArea, pgoff: int) -> None:
    """Model of do_sync_mmap_readahead() (Linux 6.1) for a page missing from the cache:
    no read-ahead for a VM_RAND_READ vma; otherwise mmap read-around: the window of
    VM_READAHEAD_PAGES pages centred on the fault (a quarter of it asynchronous) is read."""
    from pagemig.mm.madvise import VM_RAND_READ

    mapping = vma.vm_file
    if mapping is None or vma.vm_flags & VM_RAND_READ:
        return
    mapping.ra_start = max(0, pgoff - VM_READAHEAD_PAGES // 2)
    mapping.ra_size = VM_READAHEAD_PAGES
    mapping.ra_async_size = VM_READAHEAD_PAGES // 4
    do_page_cache_ra(k, mapping, mapping.ra_start, mapping.ra_size, mapping.ra_async_size)


def do_async_mmap_readahead(k: Kernel, vma: VmArea, page: int) -> None:
    """Model of do_async_mmap_readahead() (Linux 6.1): a fault met a page marked
    PG_readahead: the mark goes and, for sequential progress through the window, the next
    window (as large as the last, all of it asynchronous) is read."""
    from pagemig.mm.madvise import VM_RAND_READ

    mapping = vma.vm_file
    if mapping is None or vma.vm_flags & VM_RAND_READ:
        return
    page_cache_async_ra(k, mapping, page)


def get_next_ra_size(cur: int, max_pages: int) -> int:
    """Model of get_next_ra_size(): the next window grows 4x while small, then 2x, to max."""
    if cur < max_pages // 16:
        return 4 * cur
    if cur <= max_pages // 2:
        return 2 * cur
    return max_pages


def page_cache_async_ra(k: Kernel, mapping: AddressSpace, page: int) -> None:
    """Model of page_cache_async_ra() (Linux 6.1): the PG_readahead mark goes; a hit at the
    mark (or the window's end) moves the window on, grown, all of it asynchronous."""
    from pagemig.mm.page_flags import F_READAHEAD

    k.pages.flags[page] &= ~F_READAHEAD
    index = k.page_index(page)
    ra_end = mapping.ra_start + mapping.ra_size
    if index not in (ra_end - mapping.ra_async_size, ra_end):
        return
    mapping.ra_start = ra_end
    mapping.ra_size = get_next_ra_size(mapping.ra_size, VM_READAHEAD_PAGES)
    mapping.ra_async_size = mapping.ra_size
    do_page_cache_ra(k, mapping, mapping.ra_start, mapping.ra_size, mapping.ra_async_size)


def file_read_ahead(k: Kernel, mapping: AddressSpace, index: int) -> None:
    """Read-ahead of a one-page read(2) at ``index`` (Linux 6.1 filemap_get_pages()): a
    missing page starts on-demand read-ahead (page_cache_sync_ra()): from offset 0 or right
    after the last read a new window of 4 pages, 3 of them asynchronous; elsewhere just the
    page.  A cached page marked PG_readahead moves the window on (page_cache_async_ra())."""
    from pagemig.mm.page_flags import F_READAHEAD

    page = mapping.slot(index)
    if page >= 0:
        if int(k.pages.flags[page]) & F_READAHEAD:
            page_cache_async_ra(k, mapping, page)
    elif index == 0 or 0 <= index - mapping.ra_prev <= 1:
        mapping.ra_start = index
        mapping.ra_size = get_init_ra_size(1, VM_READAHEAD_PAGES)
        mapping.ra_async_size = mapping.ra_size - 1
        do_page_cache_ra(k, mapping, mapping.ra_start, mapping.ra_size, mapping.ra_async_size)
    mapping.ra_prev = index


def get_init_ra_size(req: int, max_pages: int) -> int:
    """Model of get_init_ra_size(): the first window for a read of ``req`` pages."""
    size = 1 << max(req - 1, 0).bit_length()  # roundup_pow_of_two()
    if size <= max_pages // 32:
        return size * 4
    if size <= max_pages // 4:
        return size * 2
    return max_pages


def do_page_cache_ra(k: Kernel, mapping: AddressSpace, start: int, nr_to_read: int,
                     lookahead_size: int) -> int:
    """Model of do_page_cache_ra() / page_cache_ra_unbounded() (Linux 6.1): read the pages
    of [start, start + nr_to_read) that are not cached (allocated by the task's policy, left
    unmapped); the window is first cut at the end of the file, and the new page at
    ``nr_to_read - lookahead_size`` into what is left is marked PG_readahead (none when
    the cut window is shorter than the look-ahead).  Returns the pages read."""
    from pagemig.mm.madvise import _readpage
    from pagemig.mm.mempolicy import alloc_pages_current
    from pagemig.mm.page_alloc import GFP_HIGHUSER_MOVABLE
    from pagemig.mm.page_flags import F_READAHEAD
    from pagemig.mm.swap import lru_cache_add, put_page

    done = 0
    nr_to_read = min(nr_to_read, mapping.size_pages - start)  # not past the end of the file
    for i in range(nr_to_read):
        index = start + i
        if mapping.slot(index) >= 0:
            continue
        pfn = alloc_pages_current(k, GFP_HIGHUSER_MOVABLE)
        if pfn is None:
            break
        if add_to_page_cache(k, pfn, mapping, index):
            put_page(k, pfn)
            break
        if i == nr_to_read - lookahead_size:
            k.pages.flags[pfn] |= F_READAHEAD
        lru_cache_add(k, pfn)
        _readpage(k, mapping, pfn)
        put_page(k, pfn)
        done += 1
    return done
