"""Model of mm/memory.c (Linux 2.6.27): page faults, follow_page(), zap and fork copies.

In 2.6.27 a read fault on private anonymous memory allocates a private zeroed page (the
anonymous ZERO_PAGE mapping was removed in 2.6.24 and returned in 2.6.32).  Linux 6.1 maps
the zero page there (feature anon_zero_page): a special pte, no reference, no mapcount, no
rmap, never on an LRU list; the first write fault copies it to a fresh zeroed page.  Shared mappings
without an anon_vma are not copied at fork: the child faults their pages in later.

Faults are generators, because a fault that meets a migration entry sleeps in
migration_entry_wait(); ``handle_mm_fault`` drives one to completion with the machine's
one-actor driver for callers that are not themselves generators.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from pagemig.mm.filemap import filemap_fault, set_page_dirty
from pagemig.mm.memcontrol import mem_cgroup_charge
from pagemig.mm.mempolicy import alloc_page_vma
from pagemig.mm.mm_types import (
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_LOCKED,
    VM_MIXEDMAP,
    VM_NONLINEAR,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    MmStruct,
    VmArea,
    mapping_is_anon,
)
from pagemig.mm.page_alloc import __GFP_ZERO, GFP_HIGHUSER_MOVABLE, GFP_KERNEL
from pagemig.mm.page_flags import F_DIRTY, F_SWAPCACHE, F_UPTODATE
from pagemig.mm.rmap import (
    anon_vma_prepare,
    page_add_file_rmap,
    page_add_new_anon_rmap,
    page_dup_rmap,
    page_remove_rmap,
)
from pagemig.mm.swap import get_page, lru_cache_add_active, mark_page_accessed, put_page
from pagemig.mm.swapops import (
    _PAGE_SPECIAL,
    PAGE_COPY,
    PAGE_NONE,
    PAGE_READONLY,
    PAGE_SHARED,
    is_migration_entry,
    is_write_migration_entry,
    make_migration_entry_read,
    mk_pte,
    pte_dirty,
    pte_file,
    pte_mkclean,
    pte_mkdirty,
    pte_mkold,
    pte_mkwrite,
    pte_mkyoung,
    pte_none,
    pte_pfn,
    pte_present,
    pte_protnone,
    pte_to_swp_entry,
    pte_write,
    pte_wrprotect,
    swp_entry_to_pte,
)

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

VM_FAULT_OOM = 0x0001
VM_FAULT_SIGBUS = 0x0002
VM_FAULT_MAJOR = 0x0004
VM_FAULT_WRITE = 0x0008
VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS

FOLL_WRITE = 0x01
FOLL_TOUCH = 0x02
FOLL_GET = 0x04
FOLL_ANON = 0x08  # 2.6.27 only: give the ZERO_PAGE for a none pte
FOLL_FORCE = 0x10
FOLL_DUMP = 0x40  # 2.6.32 on (it replaced FOLL_ANON): special pages and holes are errors

FaultGen = Generator[Any, None, int]


def vm_get_page_prot(vm_flags: int) -> int:
    """Model of vm_get_page_prot(): protection_map[] without exec bits.

    Private writable mappings get PAGE_COPY (read-only), so the first write faults and
    copies (or reuses) the page; shared writable ones get PAGE_SHARED.
    """
    if not vm_flags & (VM_READ | VM_WRITE | 0x4):
        return PAGE_NONE
    if vm_flags & VM_WRITE:
        return PAGE_SHARED if vm_flags & VM_SHARED else PAGE_COPY
    return PAGE_READONLY


def vma_wants_writenotify(vma: VmArea) -> bool:
    """Model of vma_wants_writenotify(): shared writable mappings of files that account
    dirty pages are mapped read-only, so the first write faults and dirties the page."""
    if vma.vm_flags & (VM_WRITE | VM_SHARED) != (VM_WRITE | VM_SHARED):
        return False
    if vma.vm_flags & VM_PFNMAP:
        return False
    return vma.vm_file is not None and vma.vm_file.mapping_cap_account_dirty()


def vma_page_prot(vma: VmArea) -> int:
    """``vma->vm_page_prot``: protection_map[] of the flags, read-only with writenotify."""
    if vma_wants_writenotify(vma):
        return vm_get_page_prot(vma.vm_flags & ~VM_SHARED)
    return vm_get_page_prot(vma.vm_flags)


def maybe_mkwrite(pte: int, vma: VmArea) -> int:
    """Model of maybe_mkwrite(): writable only if the vma allows writes."""
    return pte_mkwrite(pte) if vma.vm_flags & VM_WRITE else pte


def is_zero_pfn(k: Kernel, pfn: int) -> bool:
    """Model of is_zero_pfn(): the pfn of the shared zero page."""
    return pfn == k.zero_page_pfn


def vm_normal_page(k: Kernel, vma: VmArea, addr: int, pte: int) -> int:
    """Model of vm_normal_page(): the page a present pte maps, or -1 for a special pfn."""
    if pte & _PAGE_SPECIAL:
        return -1
    pfn = pte_pfn(pte)
    if vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP) and pfn >= k.pages.nr_pages:
        return -1
    if pfn >= k.pages.nr_pages:
        return -1
    return pfn


def follow_page(k: Kernel, vma: VmArea, address: int, flags: int) -> int | None:
    """Model of follow_page(): the page mapped at ``address``.

    Returns a pfn, None when no page is mapped (no page table, a none, swap, migration or
    nonlinear file pte), or -EFAULT (an error pointer) for a special pfn.  FOLL_GET takes a
    reference.  Without FOLL_ANON (move_pages never passes it) no ZERO_PAGE is returned.

    Linux 6.1: with FOLL_DUMP a none pte (or no page table) of an anonymous vma, or of a
    vma without a fault handler, is -EFAULT, and so is a special pte (the zero page
    included); without it the zero page is returned.  A PROT_NONE pte is not followed
    without FOLL_FORCE (feature foll_numa_protnone).
    """
    import errno

    mm = vma.vm_mm
    pte = mm.get_pte(address)
    if not pte_present(pte):
        if pte_none(pte) and flags & FOLL_ANON:
            pfn = k.zero_page_pfn
            if flags & FOLL_GET:
                get_page(k, pfn)
            return pfn
        if pte_none(pte) and flags & FOLL_DUMP and (vma.vm_ops is None
                                                   or vma.vm_ops.fault is None):
            return -errno.EFAULT  # no_page_table(): a hole of anonymous memory
        return None
    # Linux 6.1: a PROT_NONE pte is not followed without FOLL_FORCE (move_pages: -ENOENT).
    if pte_protnone(pte) and k.profile.has("foll_numa_protnone") and not flags & FOLL_FORCE:
        return None
    if flags & FOLL_WRITE and not pte_write(pte):
        return None
    pfn = vm_normal_page(k, vma, address, pte)
    if pfn < 0:
        if flags & FOLL_DUMP or not is_zero_pfn(k, pte_pfn(pte)):
            return -errno.EFAULT
        pfn = pte_pfn(pte)  # the zero page itself (only Linux 6.1 maps it)
    if flags & FOLL_GET:
        get_page(k, pfn)
    if flags & FOLL_TOUCH:
        if flags & FOLL_WRITE and not pte_dirty(pte) and not int(k.pages.flags[pfn]) & F_DIRTY:
            set_page_dirty(k, pfn)
        mark_page_accessed(k, pfn)
    return pfn


# -- faults --

def handle_mm_fault(k: Kernel, mm: MmStruct, vma: VmArea, address: int, write: bool) -> int:
    """Model of handle_mm_fault(), driven to completion by the one-actor driver."""
    return k.run(handle_mm_fault_gen(k, mm, vma, address, write))


def handle_mm_fault_gen(k: Kernel, mm: MmStruct, vma: VmArea, address: int,
                        write: bool) -> FaultGen:
    """Model of handle_mm_fault() / handle_pte_fault(): returns VM_FAULT_* bits."""
    address &= ~(PAGE_SIZE - 1)
    pte = mm.get_pte(address)
    if not pte_present(pte):
        if pte_none(pte):
            if vma.vm_ops is not None:
                return do_linear_fault(k, mm, vma, address, pte, write)
            return do_anonymous_page(k, mm, vma, address, write)
        if pte_file(pte):
            raise NotImplementedError("nonlinear file ptes (remap_file_pages) are not modelled")
        return (yield from do_swap_page(k, mm, vma, address, pte, write))
    if pte_protnone(pte):
        return VM_FAULT_SIGBUS  # no access: the arch fault handler refuses before this
    if write:
        if not pte_write(pte):
            return do_wp_page(k, mm, vma, address, pte)
        pte = pte_mkdirty(pte)
    mm.set_pte(address, pte_mkyoung(pte))
    return 0


def do_swap_page(k: Kernel, mm: MmStruct, vma: VmArea, address: int, pte: int,
                 write: bool) -> FaultGen:
    """Model of do_swap_page(): map the page of a swap pte (a migration entry makes the
    fault wait, then retry).

    2.6.27: the page comes from the swap cache (read in if needed), is marked accessed,
    mapped writable for a write fault when can_share_swap_page(), and its swap cache is
    dropped when swap is more than half full or the vma is locked.
    Linux 6.1: from a synchronous device (zram) with no other user of the slot the page is
    read into a new page that never enters the swap cache; it is not marked accessed; the
    swap pte's exclusive bit (or a fresh page) makes the page PG_anon_exclusive and a
    write fault maps it writable at once; the swap cache is dropped as
    should_try_to_free_swap() says.
    """
    from pagemig.mm.filemap import lock_page, unlock_page
    from pagemig.mm.migrate import migration_entry_wait
    from pagemig.mm.rmap import page_add_anon_rmap
    from pagemig.mm.swap_state import lookup_swap_cache, read_swap_cache_async
    from pagemig.mm.swapfile import can_share_swap_page, remove_exclusive_swap_page, swap_free

    entry = pte_to_swp_entry(pte)
    if is_migration_entry(entry):
        yield from migration_entry_wait(k, mm, address)
        return 0
    fresh = False  # Linux 6.1: read around the swap cache (SWP_SYNCHRONOUS_IO)
    page = lookup_swap_cache(k, entry)
    if page < 0:
        fresh = _swapin_skips_swap_cache(k, entry)
        if fresh:
            page = _swapin_fresh_page(k, entry, vma, address)
        else:
            page = read_swap_cache_async(k, entry, vma, address)
    if page < 0:
        return VM_FAULT_OOM
    yield from lock_page(k, page)
    if mem_cgroup_charge(k, page, mm, GFP_KERNEL):
        unlock_page(k, page)
        put_page(k, page)
        return VM_FAULT_OOM
    if not k.profile.has("swapin_unreferenced"):  # Linux 6.1 does not mark it accessed
        mark_page_accessed(k, page)
    mm.anon_rss += 1
    new_pte = mk_pte(page, vma_page_prot(vma))
    # Linux 6.1: an exclusive swap pte gives back an exclusive (writable) anonymous page.
    if k.profile.has("anon_exclusive"):
        from pagemig.mm.swapops import pte_swp_exclusive

        exclusive = fresh or pte_swp_exclusive(pte)
        swap_free(k, entry)
        if not fresh and _should_try_to_free_swap(k, page, vma, write):
            from pagemig.mm.swapfile import try_to_free_swap

            try_to_free_swap(k, page)
        if exclusive or int(k.pages.count[page]) == 1:
            exclusive = True
            if write:
                new_pte = maybe_mkwrite(pte_mkdirty(new_pte), vma)
                write = False
        mm.set_pte(address, new_pte)
        page_add_anon_rmap(k, page, vma, address, exclusive=exclusive)
    else:
        if write and can_share_swap_page(k, page):
            new_pte = maybe_mkwrite(pte_mkdirty(new_pte), vma)
            write = False
        mm.set_pte(address, new_pte)
        page_add_anon_rmap(k, page, vma, address)
        swap_free(k, entry)
        if k.vm_swap_full() or vma.vm_flags & VM_LOCKED:
            remove_exclusive_swap_page(k, page)
    unlock_page(k, page)  # the lookup's (or allocation's) reference is the pte's now
    if k.tracing:
        k.trace("mm_fault_swapin", mm=mm.id, addr=address, pfn=page)
    if write:
        return do_wp_page(k, mm, vma, address, new_pte)
    return 0


def _swapin_skips_swap_cache(k: Kernel, entry: int) -> bool:
    # Linux 6.1: a synchronous swap device and a slot nobody else refers to.
    from pagemig.mm.swapfile import __swap_count

    si = k.swap_info
    return (k.profile.has("swap_sync_io") and si is not None and si.synchronous
            and __swap_count(k, entry) == 1)


def _swapin_fresh_page(k: Kernel, entry: int, vma: VmArea, address: int) -> int:
    # Linux 6.1: the new page of a synchronous swap-in: allocated by the vma's policy,
    # swap-backed, on the LRU, read from the slot; never in the swap cache.  Returns it
    # with the allocation's reference, or -1.
    from pagemig.mm.page_flags import F_SWAPBACKED
    from pagemig.mm.swap import lru_cache_add
    from pagemig.mm.swap_state import swap_readpage

    page = alloc_page_vma(k, GFP_HIGHUSER_MOVABLE, vma, address)
    if page is None:
        return -1
    k.pages.flags[page] |= F_SWAPBACKED
    lru_cache_add(k, page)
    swap_readpage(k, page, entry)
    return page


def _should_try_to_free_swap(k: Kernel, page: int, vma: VmArea, write: bool) -> bool:
    """Model of should_try_to_free_swap() (Linux 6.1)."""
    from pagemig.mm.page_flags import F_MLOCKED

    flags = int(k.pages.flags[page])
    if not flags & F_SWAPCACHE:
        return False
    if k.vm_swap_full() or vma.vm_flags & VM_LOCKED or flags & F_MLOCKED:
        return True
    return write and int(k.pages.count[page]) == 2


def do_anonymous_page(k: Kernel, mm: MmStruct, vma: VmArea, address: int, write: bool) -> int:
    """Model of do_anonymous_page(): a new private zeroed page, read or write (2.6.27).

    Every fault, read or write, maps the new page dirty and, if the vma allows writes,
    writable (maybe_mkwrite(pte_mkdirty())), so a read-touched page ends PG_dirty once it
    is unmapped (try_to_unmap_one() folds the pte's dirty bit into the page).

    Linux 6.1: a read fault maps the zero page instead (a special read-only pte that takes
    no reference); only a write fault allocates, so the page is still always dirty.
    """
    if not write and k.profile.has("anon_zero_page"):
        mm.set_pte(address, mk_pte(k.zero_page_pfn, vma_page_prot(vma)) | _PAGE_SPECIAL)
        if k.tracing:
            k.trace("mm_fault_anon", mm=mm.id, addr=address, pfn=k.zero_page_pfn, write=0)
        return 0
    pfn = _map_new_zeroed_page(k, mm, vma, address)
    if pfn < 0:
        return -pfn
    if k.tracing:
        k.trace("mm_fault_anon", mm=mm.id, addr=address, pfn=pfn, write=int(write))
    return 0


def _map_new_zeroed_page(k: Kernel, mm: MmStruct, vma: VmArea, address: int) -> int:
    # A new private zeroed page at ``address``: charged, on the LRU, in the anon rmap and
    # mapped dirty (writable if the vma allows).  Its pfn, or -VM_FAULT_OOM.
    if anon_vma_prepare(k, vma):
        return -VM_FAULT_OOM
    pfn = alloc_page_vma(k, GFP_HIGHUSER_MOVABLE | __GFP_ZERO, vma, address)
    if pfn is None:
        return -VM_FAULT_OOM
    if mem_cgroup_charge(k, pfn, mm, GFP_KERNEL):
        put_page(k, pfn)
        return -VM_FAULT_OOM
    k.pages.flags[pfn] |= F_UPTODATE
    entry = maybe_mkwrite(pte_mkdirty(mk_pte(pfn, vma_page_prot(vma))), vma)
    mm.anon_rss += 1
    lru_cache_add_active(k, pfn)
    page_add_new_anon_rmap(k, pfn, vma, address)
    mm.set_pte(address, entry)
    return pfn


def _vma_fault(k: Kernel, vma: VmArea, address: int) -> int | None:
    # vma->vm_ops->fault(): shmem_fault() or special_mapping_fault(); a page with a reference.
    from pagemig.mm.shmem import shmem_getpage

    pgoff = ((address - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    assert vma.vm_ops is not None
    if vma.vm_ops.fault == "special":
        pages = vma.vm_ops.special_pages
        if pgoff - vma.vm_pgoff >= len(pages):
            return None
        pfn = pages[pgoff - vma.vm_pgoff]
        get_page(k, pfn)
        return pfn
    assert vma.vm_file is not None
    if pgoff >= vma.vm_file.size_pages:
        return None  # beyond EOF: SIGBUS
    if vma.vm_ops.fault == "filemap":
        pfn = filemap_fault(k, vma.vm_file, pgoff)
        # filemap_fault(): page_cache_read()'s -ENOMEM is VM_FAULT_OOM, not the end of file
        return -VM_FAULT_OOM if pfn is None else pfn
    pfn = shmem_getpage(k, vma.vm_file, pgoff)
    if pfn is None:
        # shmem_fault(): no page, or the memcg charge failed: -ENOMEM is VM_FAULT_OOM
        return -VM_FAULT_OOM
    mark_page_accessed(k, pfn)
    return pfn


def vm_insert_pfn(k: Kernel, vma: VmArea, address: int, pfn: int) -> int:
    """Model of vm_insert_pfn(): map a raw pfn with a special pte (no reference, no rmap,
    no rss); returns 0."""
    vma.vm_mm.set_pte(address, mk_pte(pfn, vma_page_prot(vma)) | _PAGE_SPECIAL)
    return 0


def _pfnmap_fault(k: Kernel, vma: VmArea, address: int) -> int:
    # A fault handler that inserts pfns (x86's vvar_fault()): pages it has no pfn for
    # (an absent hpet or pvclock page) are SIGBUS.
    assert vma.vm_ops is not None
    index = (address - vma.vm_start) >> PAGE_SHIFT
    pfns = vma.vm_ops.special_pages
    if index >= len(pfns):
        return VM_FAULT_SIGBUS
    vm_insert_pfn(k, vma, address, pfns[index])
    return 0


def do_linear_fault(k: Kernel, mm: MmStruct, vma: VmArea, address: int, orig_pte: int,
                    write: bool) -> int:
    """Model of __do_fault(): map the object's page, or a private copy for a private write.

    Linux 6.1: fault-around and read-around come first (_fault_around_first()).
    """
    assert vma.vm_ops is not None
    if vma.vm_ops.fault == "pfnmap":
        return _pfnmap_fault(k, vma, address)
    if k.profile.has("fault_around") and _fault_around_first(k, vma, address, write):
        return 0
    page = _vma_fault(k, vma, address)
    if page is None:
        return VM_FAULT_SIGBUS  # beyond the end of the object
    if page < 0:
        return -page
    anon = write and not vma.vm_flags & VM_SHARED
    if anon:
        if anon_vma_prepare(k, vma):
            put_page(k, page)
            return VM_FAULT_OOM
        new = alloc_page_vma(k, GFP_HIGHUSER_MOVABLE, vma, address)
        if new is None:
            put_page(k, page)
            return VM_FAULT_OOM
        if mem_cgroup_charge(k, new, mm, GFP_KERNEL):
            put_page(k, new)
            put_page(k, page)
            return VM_FAULT_OOM
        k.frames.copy(new, page)
        k.pages.flags[new] |= F_UPTODATE
        mapped = new
    else:
        mapped = page
    entry = mk_pte(mapped, vma_page_prot(vma))
    if write:
        entry = maybe_mkwrite(pte_mkdirty(entry), vma)
    if anon:
        mm.anon_rss += 1
        lru_cache_add_active(k, mapped)
        page_add_new_anon_rmap(k, mapped, vma, address)
    else:
        mm.file_rss += 1
        page_add_file_rmap(k, mapped, vma)
    mm.set_pte(address, entry)
    if k.tracing:
        k.trace("mm_fault_file", mm=mm.id, addr=address, pfn=mapped, write=int(write),
                cow=int(anon))
    if anon:
        put_page(k, page)  # the reference the fault handler returned
    elif write and vma.vm_file is not None:
        do_page_mkwrite(k, vma, page)
        set_page_dirty(k, page)  # the reference becomes the pte's; set_page_dirty_balance()
    return 0


def _fault_around_first(k: Kernel, vma: VmArea, address: int, write: bool) -> bool:
    # Linux 6.1 do_read_fault(): a read fault first maps the cached pages of its 64 KiB
    # block (do_fault_around()).  filemap_fault() of a page missing from the cache reads
    # the read-around window and has the fault retried, which fault-around then maps; a
    # cached page marked PG_readahead starts the next window.  True if the pte is mapped.
    from pagemig.mm.filemap import do_async_mmap_readahead, do_sync_mmap_readahead
    from pagemig.mm.page_flags import F_READAHEAD

    assert vma.vm_ops is not None
    if vma.vm_ops.fault == "special":
        return False
    if not write and do_fault_around(k, vma, address):
        return True
    mapping = vma.vm_file
    if vma.vm_ops.fault != "filemap" or mapping is None:
        return False
    pgoff = ((address - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    if pgoff >= mapping.size_pages:
        return False
    page = mapping.slot(pgoff)
    if page < 0:
        do_sync_mmap_readahead(k, vma, pgoff)
        return not write and do_fault_around(k, vma, address)  # the retried fault
    if int(k.pages.flags[page]) & F_READAHEAD:
        do_async_mmap_readahead(k, vma, page)
    return False


def do_fault_around(k: Kernel, vma: VmArea, address: int) -> bool:
    """Model of do_fault_around() (Linux 6.1): map what vm_ops->map_pages finds cached in
    the fault_around_bytes block of ``address`` (within the vma and its page table); True
    if the faulting address is mapped now."""
    from pagemig.mm.filemap import FAULT_AROUND_PAGES, filemap_map_pages

    pgoff = ((address - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    block = FAULT_AROUND_PAGES * PAGE_SIZE
    start_addr = max(address & ~(block - 1), vma.vm_start)
    start_pgoff = pgoff - ((address - start_addr) >> PAGE_SHIFT)
    end_pgoff = start_pgoff - ((start_addr >> PAGE_SHIFT) & 511) + 511
    end_pgoff = min(end_pgoff, vma.vm_pgoff + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT) - 1,
                    start_pgoff + FAULT_AROUND_PAGES - 1)
    filemap_map_pages(k, vma, start_pgoff, end_pgoff)
    return not pte_none(vma.vm_mm.get_pte(address))


def do_page_mkwrite(k: Kernel, vma: VmArea, page: int) -> int:
    """Model of do_page_mkwrite(): tell the file a shared mapping will write the page
    (its ->page_mkwrite, run with the page locked).  2.6.27's ext2 and tmpfs have none;
    Linux 6.1's ext4 attaches buffers there.  Returns 0."""
    from pagemig.mm.filemap import trylock_page, unlock_page

    file = vma.vm_file
    if file is None or file.a_ops.page_mkwrite is None:
        return 0
    locked = trylock_page(k, page)
    assert locked, "do_page_mkwrite: the page is locked by someone else"
    file.a_ops.page_mkwrite(k, page)
    unlock_page(k, page)
    return 0


def do_wp_page(k: Kernel, mm: MmStruct, vma: VmArea, address: int, orig_pte: int) -> int:
    """Model of do_wp_page(): reuse an exclusive page, or copy it (copy-on-write)."""
    old = vm_normal_page(k, vma, address, orig_pte)
    if old < 0 and is_zero_pfn(k, pte_pfn(orig_pte)):
        return _wp_zero_page_copy(k, mm, vma, address)
    if old < 0:
        raise NotImplementedError("write fault on a special pfn mapping")
    anon = mapping_is_anon(int(k.pages.mapping[old]))
    shared_writable = vma.vm_flags & (VM_WRITE | VM_SHARED) == (VM_WRITE | VM_SHARED)
    reuse = shared_writable or (anon and _reuse_anon_page(k, old))
    if reuse:
        entry = maybe_mkwrite(pte_mkdirty(pte_mkyoung(orig_pte)), vma)
        mm.set_pte(address, entry)
        if shared_writable and vma.vm_file is not None:
            do_page_mkwrite(k, vma, old)
            set_page_dirty(k, old)
        return VM_FAULT_WRITE
    get_page(k, old)
    if anon_vma_prepare(k, vma):
        put_page(k, old)
        return VM_FAULT_OOM
    new = alloc_page_vma(k, GFP_HIGHUSER_MOVABLE, vma, address)
    if new is None:
        put_page(k, old)
        return VM_FAULT_OOM
    k.frames.copy(new, old)
    k.pages.flags[new] |= F_UPTODATE
    if mem_cgroup_charge(k, new, mm, GFP_KERNEL):
        put_page(k, new)
        put_page(k, old)
        return VM_FAULT_OOM
    if not anon:
        mm.file_rss -= 1
        mm.anon_rss += 1
    entry = maybe_mkwrite(pte_mkdirty(mk_pte(new, vma_page_prot(vma))), vma)
    mm.set_pte(address, entry)
    lru_cache_add_active(k, new)
    page_add_new_anon_rmap(k, new, vma, address)
    page_remove_rmap(k, old, vma)
    if k.tracing:
        k.trace("mm_fault_cow", mm=mm.id, addr=address, old=old, new=new)
    put_page(k, old)  # the pte's reference
    put_page(k, old)  # ours
    return VM_FAULT_WRITE


def _wp_zero_page_copy(k: Kernel, mm: MmStruct, vma: VmArea, address: int) -> int:
    # Linux 6.1 wp_page_copy() for the zero page: a fresh zeroed page replaces it; the
    # zero page had no reference, mapcount or rmap to drop.
    new = _map_new_zeroed_page(k, mm, vma, address)
    if new < 0:
        return -new
    if k.tracing:
        k.trace("mm_fault_cow", mm=mm.id, addr=address, old=k.zero_page_pfn, new=new)
    return VM_FAULT_WRITE


def _reuse_anon_page(k: Kernel, page: int) -> bool:
    # Whether do_wp_page() may write to the anonymous page in place.
    # 2.6.27: if the page lock is free, can_share_swap_page(): one pte and, for a
    # swap-cache page, no swap pte elsewhere (the page stays in the swap cache).
    # Linux 6.1: PG_anon_exclusive reuses at once; otherwise only the mapping's reference
    # (and the swap cache's, which try_to_free_swap() then drops) may remain, after
    # draining this CPU's pagevec; the page then becomes exclusive.
    from pagemig.mm.filemap import trylock_page, unlock_page
    from pagemig.mm.page_flags import F_ANON_EXCLUSIVE, F_LRU
    from pagemig.mm.swapfile import can_share_swap_page

    if k.profile.has("anon_exclusive"):
        from pagemig.mm.swap import lru_add_drain
        from pagemig.mm.swapfile import try_to_free_swap

        flags = int(k.pages.flags[page])
        if flags & F_ANON_EXCLUSIVE:
            return True
        if int(k.pages.count[page]) > 3:
            return False
        if not flags & F_LRU:
            lru_add_drain(k)
        if int(k.pages.count[page]) > 1 + bool(int(k.pages.flags[page]) & F_SWAPCACHE):
            return False
        if not trylock_page(k, page):
            return False
        if int(k.pages.flags[page]) & F_SWAPCACHE:
            try_to_free_swap(k, page)
        if int(k.pages.count[page]) != 1:
            unlock_page(k, page)
            return False
        k.pages.flags[page] |= F_ANON_EXCLUSIVE  # page_move_anon_rmap()
        unlock_page(k, page)
        return True
    if not trylock_page(k, page):
        return False
    reuse = can_share_swap_page(k, page)
    unlock_page(k, page)
    return reuse


# -- unmapping --

def zap_pte_range(k: Kernel, vma: VmArea, start: int, end: int) -> None:
    """Model of zap_pte_range(): drop every pte of [start, end) and its page references."""
    mm = vma.vm_mm
    for addr in _populated_addresses(mm, start, end):
        pte = mm.get_pte(addr)
        mm.set_pte(addr, 0)
        if pte_present(pte):
            pfn = vm_normal_page(k, vma, addr, pte)
            if pfn < 0:
                continue
            if mapping_is_anon(int(k.pages.mapping[pfn])):
                mm.anon_rss -= 1
            else:
                if pte_dirty(pte):
                    set_page_dirty(k, pfn)
                mm.file_rss -= 1
            page_remove_rmap(k, pfn, vma)
            put_page(k, pfn)
        elif not pte_file(pte):
            from pagemig.mm.swapfile import free_swap_and_cache

            free_swap_and_cache(k, pte_to_swp_entry(pte))


def _populated_addresses(mm: MmStruct, start: int, end: int) -> list[int]:
    # Addresses in [start, end) with a non-none pte, from the page-table pages that exist.
    import numpy as np

    out: list[int] = []
    for key in sorted(mm.pgtables):
        base = key << 21
        if base >= end or base + (1 << 21) <= start:
            continue
        table = mm.pgtables[key]
        for i in np.flatnonzero(table):
            addr = base + (int(i) << PAGE_SHIFT)
            if start <= addr < end:
                out.append(addr)
    return out


def free_pgtables(mm: MmStruct, start: int, end: int) -> None:
    """Free page-table pages left empty in [start, end) (free_pgtables())."""
    for key in [k for k in mm.pgtables if start >> 21 <= k <= (end - 1) >> 21]:
        if not mm.pgtables[key].any():
            del mm.pgtables[key]


# -- fork --

def copy_page_range(k: Kernel, dst_mm: MmStruct, src_mm: MmStruct, vma: VmArea,
                    new_vma: VmArea) -> None:
    """Model of copy_page_range(): copy ptes, write-protecting COW pages in both mms.

    A vma with no anon_vma that is not VM_PFNMAP/NONLINEAR/INSERTPAGE/HUGETLB is skipped:
    its pages are faulted in again by the child.  Migration entries are copied, write
    entries downgraded to read in COW mappings.
    """
    from pagemig.mm.mm_types import VM_HUGETLB, VM_INSERTPAGE

    if not vma.vm_flags & (VM_HUGETLB | VM_NONLINEAR | VM_PFNMAP | VM_INSERTPAGE):
        if vma.anon_vma is None:
            return
    cow = vma.vm_flags & (VM_SHARED | 0x20) == 0x20  # is_cow_mapping(): private, may write
    for addr in _populated_addresses(src_mm, vma.vm_start, vma.vm_end):
        pte = src_mm.get_pte(addr)
        if not pte_present(pte):
            copy_nonpresent_pte(k, dst_mm, src_mm, addr, pte, bool(cow))
            continue
        if cow and pte_write(pte):
            pte = pte_wrprotect(pte)
            src_mm.set_pte(addr, pte)
        if vma.vm_flags & VM_SHARED:
            pte = pte_mkclean(pte)
        pte = pte_mkold(pte)
        pfn = vm_normal_page(k, vma, addr, pte)
        if pfn >= 0:
            get_page(k, pfn)
            page_dup_rmap(k, pfn)
            if mapping_is_anon(int(k.pages.mapping[pfn])):
                dst_mm.anon_rss += 1
            else:
                dst_mm.file_rss += 1
        dst_mm.set_pte(addr, pte)


def copy_nonpresent_pte(k: Kernel, dst_mm: MmStruct, src_mm: MmStruct, addr: int, pte: int,
                        cow: bool) -> None:
    """Model of copy_nonpresent_pte(): copy a swap, migration or file pte at fork.

    A swap entry gains a reference (swap_duplicate()); a write migration entry of a COW
    mapping becomes a read one in both mms.
    """
    if not pte_file(pte):
        entry = pte_to_swp_entry(pte)
        if not is_migration_entry(entry):
            from pagemig.mm.swapfile import swap_duplicate
            from pagemig.mm.swapops import pte_swp_clear_exclusive

            swap_duplicate(k, entry)
            # Linux 6.1: the slot is shared now; neither pte stays exclusive.
            pte = pte_swp_clear_exclusive(pte)
            src_mm.set_pte(addr, pte)
        elif is_write_migration_entry(entry) and cow:
            entry = make_migration_entry_read(entry)
            pte = swp_entry_to_pte(entry)
            src_mm.set_pte(addr, pte)
    dst_mm.set_pte(addr, pte)


# -- get_user_pages --

def get_user_pages(k: Kernel, mm: MmStruct, start: int, nr_pages: int, write: bool,
                   want_pages: bool) -> tuple[int, list[int]]:
    """Model of get_user_pages(): fault in pages; with ``want_pages`` take a reference each.

    Returns (pages done, or when none were -ENOMEM if a fault found no memory and -EFAULT
    otherwise, the pfns referenced).
    """
    import errno

    pfns: list[int] = []
    done = 0
    for i in range(nr_pages):
        addr = start + i * PAGE_SIZE
        vma = mm.vma_containing(addr)
        bad = vma is None or not vma.vm_flags & (VM_WRITE if write else VM_READ)
        if bad:
            return (done if done else -errno.EFAULT), pfns
        assert vma is not None
        foll = FOLL_TOUCH | (FOLL_GET if want_pages else 0) | (FOLL_WRITE if write else 0)
        while True:
            pfn = follow_page(k, vma, addr, foll)
            if pfn is not None:
                break
            ret = handle_mm_fault(k, mm, vma, addr, bool(foll & FOLL_WRITE))
            if ret & VM_FAULT_ERROR:
                # VM_FAULT_OOM is -ENOMEM, VM_FAULT_SIGBUS -EFAULT (when no page was done).
                err = -errno.ENOMEM if ret & VM_FAULT_OOM else -errno.EFAULT
                return (done if done else err), pfns
            if ret & VM_FAULT_WRITE and not vma.vm_flags & VM_WRITE:
                foll &= ~FOLL_WRITE
        if pfn < 0:
            return (done if done else pfn), pfns
        if want_pages:
            pfns.append(pfn)
        done += 1
    return done, pfns
