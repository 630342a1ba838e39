"""Model of mm/mmap.c (Linux 2.6.27): mapping, merging, splitting and unmapping vmas.

Addresses are chosen top-down from ``mmap_base`` (arch_get_unmapped_area_topdown() with its
free_area_cache), as on x86_64 without address randomisation (the oracle boots with
``norandmaps``), so mappings made one after another sit next to each other and private
anonymous ones merge as in the kernel.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pagemig.mm.memory import free_pgtables, zap_pte_range
from pagemig.mm.mm_types import (
    PAGE_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_DONTEXPAND,
    VM_IO,
    VM_PFNMAP,
    VM_RESERVED,
    VM_SHARED,
    MmStruct,
    VmArea,
    VmOps,
)
from pagemig.mm.rmap import anon_vma_link, anon_vma_unlink

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.filemap import AddressSpace
    from pagemig.mm.mempolicy import Mempolicy

VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_RESERVED | VM_PFNMAP

PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_TYPE = 0x0F  # the mask of the mapping type
MAP_SHARED_VALIDATE = 0x03  # Linux 6.1: MAP_SHARED with every flag checked
# Linux 6.1: the flags MAP_SHARED_VALIDATE accepts (LEGACY_MAP_MASK; MAP_SYNC needs DAX).
LEGACY_MAP_MASK = (MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | 0x0800 | 0x1000
                   | 0x4000000 | 0x0100 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000
                   | 0x40000)
TASK_SIZE = 0x7FFFFFFFF000  # x86_64 user address space


def calc_vm_flags(prot: int, flags: int) -> int:
    """Model of calc_vm_prot_bits() | calc_vm_flag_bits() | VM_MAY*: the new vma's flags."""
    from pagemig.mm.mm_types import (
        VM_EXEC,
        VM_MAYEXEC,
        VM_MAYREAD,
        VM_MAYSHARE,
        VM_MAYWRITE,
        VM_READ,
        VM_WRITE,
    )

    vm = (VM_READ if prot & PROT_READ else 0) | (VM_WRITE if prot & PROT_WRITE else 0) \
        | (VM_EXEC if prot & PROT_EXEC else 0)
    vm |= VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
    if flags & MAP_SHARED:
        vm |= VM_SHARED | VM_MAYSHARE
    return vm


# -- address choice --

def arch_get_unmapped_area_topdown(mm: MmStruct, length: int) -> int:
    """Model of arch_get_unmapped_area_topdown(): the highest hole below the cache that fits."""
    addr = mm.free_area_cache
    if addr > length:
        vma = mm.find_vma(addr - length)
        if vma is None or addr <= vma.vm_start:
            mm.free_area_cache = addr - length
            return addr - length
    if mm.mmap_base < length:
        return -errno.ENOMEM
    addr = mm.mmap_base - length
    while True:
        vma = mm.find_vma(addr)
        if vma is None or addr + length <= vma.vm_start:
            mm.free_area_cache = addr
            return addr
        if length >= vma.vm_start:
            return -errno.ENOMEM
        addr = vma.vm_start - length


def arch_unmap_area_topdown(mm: MmStruct, addr: int) -> None:
    """Model of arch_unmap_area_topdown(): a hole above the cache moves the cache up."""
    if addr > mm.free_area_cache:
        mm.free_area_cache = addr
    if mm.free_area_cache > mm.mmap_base:
        mm.free_area_cache = mm.mmap_base


# -- linking --

def vma_link(k: Kernel, mm: MmStruct, vma: VmArea) -> None:
    """Model of vma_link(): into the mm's list, the file's i_mmap and the anon_vma's list."""
    mm.insert_vma(vma)
    if vma.vm_file is not None:
        vma.vm_file.i_mmap.append(vma)
    anon_vma_link(k, vma)


def vma_unlink_all(k: Kernel, mm: MmStruct, vma: VmArea) -> None:
    """Remove ``vma`` from the mm, i_mmap and its anon_vma (remove_vma() and friends)."""
    mm.remove_vma(vma)
    if vma.vm_file is not None and vma in vma.vm_file.i_mmap:
        vma.vm_file.i_mmap.remove(vma)
    anon_vma_unlink(k, vma)


# -- merging and splitting --

def _is_mergeable_vma(vma: VmArea, file: AddressSpace | None, vm_flags: int) -> bool:
    return vma.vm_flags == vm_flags and vma.vm_file is file


def _is_mergeable_anon_vma(a1, a2) -> bool:  # type: ignore[no-untyped-def]
    return a1 is None or a2 is None or a1 is a2


def can_vma_merge_before(vma: VmArea, vm_flags: int, anon_vma, file, vm_pgoff: int) -> bool:  # type: ignore[no-untyped-def]
    """Model of can_vma_merge_before()."""
    return (_is_mergeable_vma(vma, file, vm_flags)
            and _is_mergeable_anon_vma(anon_vma, vma.anon_vma) and vma.vm_pgoff == vm_pgoff)


def can_vma_merge_after(vma: VmArea, vm_flags: int, anon_vma, file, vm_pgoff: int) -> bool:  # type: ignore[no-untyped-def]
    """Model of can_vma_merge_after()."""
    return (_is_mergeable_vma(vma, file, vm_flags)
            and _is_mergeable_anon_vma(anon_vma, vma.anon_vma)
            and vma.vm_pgoff + vma.npages == vm_pgoff)


def _next_vma(mm: MmStruct, vma: VmArea | None) -> VmArea | None:
    if vma is None:
        return mm.vmas[0] if mm.vmas else None
    i = mm.vmas.index(vma)
    return mm.vmas[i + 1] if i + 1 < len(mm.vmas) else None


def vma_adjust(k: Kernel, vma: VmArea, start: int, end: int, pgoff: int) -> None:
    """Model of vma_adjust() without insertion: move bounds, swallowing or trimming next."""
    mm = vma.vm_mm
    orig_end = end
    nxt = _next_vma(mm, vma)
    remove_next = 0
    adjust_next = 0
    importer: VmArea | None = None
    anon_vma = None
    if nxt is not None:
        if end >= nxt.vm_end:
            remove_next = 1 + (end > nxt.vm_end)
            end = nxt.vm_end
            anon_vma = nxt.anon_vma
            importer = vma
        elif end > nxt.vm_start:
            adjust_next = (end - nxt.vm_start) >> PAGE_SHIFT
            anon_vma = nxt.anon_vma
            importer = vma
        elif end < vma.vm_end:
            adjust_next = -((vma.vm_end - end) >> PAGE_SHIFT)
            anon_vma = nxt.anon_vma
            importer = nxt
    if vma.anon_vma is not None:
        anon_vma = vma.anon_vma
    if importer is not None and importer.anon_vma is None and anon_vma is not None:
        importer.anon_vma = anon_vma
        anon_vma.vmas.append(importer)
    vma.vm_start, vma.vm_end, vma.vm_pgoff = start, end, pgoff
    if adjust_next and nxt is not None:
        nxt.vm_start += adjust_next << PAGE_SHIFT
        nxt.vm_pgoff += adjust_next
    if remove_next and nxt is not None:
        vma_unlink_all(k, mm, nxt)
    mm.reindex()
    if remove_next == 2:
        vma_adjust(k, vma, vma.vm_start, orig_end, vma.vm_pgoff)


def vma_merge(k: Kernel, mm: MmStruct, prev: VmArea | None, addr: int, end: int, vm_flags: int,
              anon_vma, file, pgoff: int, policy: Mempolicy | None) -> VmArea | None:  # type: ignore[no-untyped-def]
    """Model of vma_merge(): extend ``prev`` and/or the next vma over [addr, end) if they match."""
    pglen = (end - addr) >> PAGE_SHIFT
    if vm_flags & VM_SPECIAL:
        return None
    nxt = _next_vma(mm, prev)
    area = nxt
    if nxt is not None and nxt.vm_end == end:  # cases 6, 7, 8: [addr, end) is a whole vma
        nxt = _next_vma(mm, nxt)
    if (prev is not None and prev.vm_end == addr and prev.policy == policy
            and can_vma_merge_after(prev, vm_flags, anon_vma, file, pgoff)):
        if (nxt is not None and end == nxt.vm_start and policy == nxt.policy
                and can_vma_merge_before(nxt, vm_flags, anon_vma, file, pgoff + pglen)
                and _is_mergeable_anon_vma(prev.anon_vma, nxt.anon_vma)):
            vma_adjust(k, prev, prev.vm_start, nxt.vm_end, prev.vm_pgoff)
        else:
            vma_adjust(k, prev, prev.vm_start, end, prev.vm_pgoff)
        return prev
    if (nxt is not None and end == nxt.vm_start and policy == nxt.policy
            and can_vma_merge_before(nxt, vm_flags, anon_vma, file, pgoff + pglen)):
        if prev is not None and addr < prev.vm_end:
            vma_adjust(k, prev, prev.vm_start, addr, prev.vm_pgoff)
        else:
            assert area is not None
            vma_adjust(k, area, addr, nxt.vm_end, nxt.vm_pgoff - pglen)
        return area
    return None


def merge_or_split(k: Kernel, vma: VmArea, prev: VmArea | None, start: int, end: int,
                   newflags: int) -> VmArea:
    """The common part of mprotect_fixup() and mlock_fixup(): the vma that will cover
    exactly [start, end) with ``newflags``, merged with a neighbour or split out of ``vma``."""
    mm = vma.vm_mm
    pgoff = vma.vm_pgoff + ((start - vma.vm_start) >> PAGE_SHIFT)
    merged = vma_merge(k, mm, prev, start, end, newflags, vma.anon_vma, vma.vm_file, pgoff,
                       vma.policy)
    if merged is not None:
        return merged
    if start != vma.vm_start:
        split_vma(k, mm, vma, start, True)
    if end != vma.vm_end:
        split_vma(k, mm, vma, end, False)
    return vma


def split_vma(k: Kernel, mm: MmStruct, vma: VmArea, addr: int, new_below: bool) -> VmArea:
    """Model of split_vma(): cut ``vma`` at ``addr``; returns the new vma."""
    new = VmArea(vm_mm=mm, vm_start=vma.vm_start, vm_end=vma.vm_end, vm_flags=vma.vm_flags,
                 vm_pgoff=vma.vm_pgoff, vm_file=vma.vm_file, anon_vma=vma.anon_vma,
                 vm_ops=vma.vm_ops, policy=vma.policy, name=vma.name)
    delta = (addr - vma.vm_start) >> PAGE_SHIFT
    if new_below:
        new.vm_end = addr
        vma.vm_start = addr
        vma.vm_pgoff += delta
    else:
        new.vm_start = addr
        new.vm_pgoff += delta
        vma.vm_end = addr
    mm.reindex()
    vma_link(k, mm, new)
    return new


# -- mmap / munmap / brk --

def mmap_region(k: Kernel, mm: MmStruct, addr: int, length: int, vm_flags: int, pgoff: int,
                file: AddressSpace | None, vm_ops: VmOps | None, name: str = "") -> VmArea:
    """Model of mmap_region(): map [addr, addr+length), merging private anon memory."""
    do_munmap(k, mm, addr, length)
    _, prev = mm.find_vma_prev(addr)
    if file is None and not vm_flags & VM_SHARED:
        merged = vma_merge(k, mm, prev, addr, addr + length, vm_flags, None, None, pgoff, None)
        if merged is not None:
            return merged
    vma = VmArea(vm_mm=mm, vm_start=addr, vm_end=addr + length, vm_flags=vm_flags,
                 vm_pgoff=pgoff, vm_file=file, vm_ops=vm_ops, name=name)
    if file is not None:
        merged = vma_merge(k, mm, prev, addr, addr + length, vm_flags, None, file, pgoff, None)
        if merged is not None:
            return merged
    vma_link(k, mm, vma)
    return vma


def do_mmap(k: Kernel, mm: MmStruct, addr: int, length: int, prot: int, flags: int,
            file: AddressSpace | None = None, pgoff: int = 0, name: str = "") -> int:
    """Model of do_mmap_pgoff(): returns the address or -errno.

    MAP_SHARED|MAP_ANONYMOUS memory gets a new tmpfs object (shmem_zero_setup()); a file
    must be a tmpfs address_space.  Private anonymous vmas have ``vm_pgoff = addr >> 12``.
    """
    from pagemig.mm.shmem import shmem_file_setup, shmem_vm_ops

    if length <= 0:
        return -errno.EINVAL
    length = (length + PAGE_SIZE - 1) & PAGE_MASK
    if length > TASK_SIZE:
        return -errno.ENOMEM  # also a length that wrapped to 0 as it was rounded up
    if flags & MAP_FIXED:
        # get_unmapped_area(): a fixed range must lie below TASK_SIZE and be page aligned;
        # refused here, before mmap_region() unmaps anything.
        if addr > TASK_SIZE - length:
            return -errno.ENOMEM
        if addr & ~PAGE_MASK:
            return -errno.EINVAL
    else:
        addr = arch_get_unmapped_area_topdown(mm, length)
        if addr < 0:
            return addr
    map_type = flags & MAP_TYPE
    if file is not None and map_type == MAP_SHARED_VALIDATE \
            and k.profile.has("map_shared_validate"):
        # Linux 6.1: MAP_SHARED_VALIDATE maps a file shared after checking every flag.
        if flags & ~LEGACY_MAP_MASK:
            return -errno.EOPNOTSUPP
        flags = (flags & ~MAP_TYPE) | MAP_SHARED
    elif map_type not in (MAP_SHARED, MAP_PRIVATE):
        return -errno.EINVAL  # a bad map type (after the address was chosen, as in the kernel)
    vm_flags = calc_vm_flags(prot, flags)
    vm_ops = None
    if file is None and flags & MAP_SHARED:
        file = shmem_file_setup(k, "dev/zero", length >> PAGE_SHIFT)
        pgoff = 0
    if file is not None:
        vm_ops = shmem_vm_ops() if file.is_shmem else VmOps(fault="filemap")
    elif not flags & MAP_SHARED:
        pgoff = addr >> PAGE_SHIFT
    mmap_region(k, mm, addr, length, vm_flags, pgoff, file, vm_ops, name)
    return addr


def unmap_region(k: Kernel, mm: MmStruct, vmas: list[VmArea], start: int, end: int) -> None:
    """Model of unmap_region(): zap the ptes of the vmas, free empty page tables."""
    for vma in vmas:
        zap_pte_range(k, vma, max(start, vma.vm_start), min(end, vma.vm_end))
    free_pgtables(mm, start, end)


def do_munmap(k: Kernel, mm: MmStruct, start: int, length: int) -> int:
    """Model of do_munmap(): split at the edges, zap and remove the vmas inside."""
    if start & ~PAGE_MASK or start >= 0x7FFFFFFFF000 or length > 0x7FFFFFFFF000 - start:
        return -errno.EINVAL
    length = (length + PAGE_SIZE - 1) & PAGE_MASK
    if length == 0:
        return -errno.EINVAL
    end = start + length
    vma = mm.find_vma(start)
    if vma is None or vma.vm_start >= end:
        return 0
    if start > vma.vm_start:
        split_vma(k, mm, vma, start, False)
    last = mm.find_vma(end)
    if last is not None and end > last.vm_start:
        split_vma(k, mm, last, end, True)
    doomed = [v for v in mm.vmas if v.vm_start >= start and v.vm_end <= end]
    unmap_region(k, mm, doomed, start, end)
    for v in doomed:
        vma_unlink_all(k, mm, v)
        arch_unmap_area_topdown(mm, v.vm_start)
    return 0


def exit_mmap(k: Kernel, mm: MmStruct) -> None:
    """Model of exit_mmap(): unmap everything."""
    vmas = list(mm.vmas)
    for vma in vmas:
        zap_pte_range(k, vma, vma.vm_start, vma.vm_end)
    for vma in vmas:
        vma_unlink_all(k, mm, vma)
    mm.pgtables.clear()


def find_vma_intersection(mm: MmStruct, start: int, end: int) -> VmArea | None:
    """Model of find_vma_intersection()."""
    vma = mm.find_vma(start)
    if vma is not None and end <= vma.vm_start:
        return None
    return vma
