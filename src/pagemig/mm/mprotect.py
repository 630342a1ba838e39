"""Model of mm/mprotect.c (Linux 2.6.27): changing the protection of a range.

Present ptes (PROT_NONE ones included, since x86 pte_present() accepts them) get the new
protection with their pfn, dirty and accessed bits kept; write migration entries are
downgraded to read ones.  A PROT_NONE page stays present and mapped.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pagemig.mm.memory import _populated_addresses, vma_page_prot
from pagemig.mm.mm_types import PAGE_MASK, PAGE_SIZE, VM_EXEC, VM_READ, VM_WRITE
from pagemig.mm.mmap import PROT_EXEC, PROT_READ, PROT_WRITE, merge_or_split
from pagemig.mm.swapops import (
    is_swap_pte,
    is_write_migration_entry,
    make_migration_entry_read,
    pte_modify,
    pte_present,
    pte_to_swp_entry,
    swp_entry_to_pte,
)

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import MmStruct, VmArea


def change_protection(k: Kernel, vma: VmArea, start: int, end: int, newprot: int) -> None:
    """Model of change_protection(): rewrite the ptes of [start, end)."""
    mm = vma.vm_mm
    for addr in _populated_addresses(mm, start, end):
        pte = mm.get_pte(addr)
        if pte_present(pte):
            mm.set_pte(addr, pte_modify(pte, newprot))
        elif is_swap_pte(pte):
            entry = pte_to_swp_entry(pte)
            if is_write_migration_entry(entry):
                mm.set_pte(addr, swp_entry_to_pte(make_migration_entry_read(entry)))


def mprotect_fixup(k: Kernel, vma: VmArea, prev: VmArea | None, start: int, end: int,
                   newflags: int) -> tuple[int, VmArea]:
    """Model of mprotect_fixup(): merge or split, then apply; returns (0, the vma covering)."""
    if newflags == vma.vm_flags:
        return 0, vma
    vma = merge_or_split(k, vma, prev, start, end, newflags)
    vma.vm_flags = newflags
    change_protection(k, vma, start, end, vma_page_prot(vma))
    return 0, vma


PROT_SEM = 0x8
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000


def sys_mprotect(k: Kernel, mm: MmStruct, start: int, length: int, prot: int) -> int:
    """Model of sys_mprotect(): 0 or -EINVAL / -ENOMEM (unmapped hole) / -EACCES.

    ``start`` and ``length`` are unsigned longs.  Unknown ``prot`` bits (anything but
    PROT_READ, PROT_WRITE, PROT_EXEC, PROT_SEM and one of the PROT_GROWS* bits) give
    -EINVAL (arch_validate_prot()); the PROT_GROWS* extension of the range is not modelled.
    """
    prot &= (1 << 64) - 1
    grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP)
    if grows == PROT_GROWSDOWN | PROT_GROWSUP:
        return -errno.EINVAL
    if start & ~PAGE_MASK:
        return -errno.EINVAL
    if not length:
        return 0
    length = (length + PAGE_SIZE - 1) & PAGE_MASK
    end = start + length
    if end <= start or end > (1 << 64) - 1 or length == 0:
        return -errno.ENOMEM  # the end wrapped around
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM):
        return -errno.EINVAL
    vm_flags = (VM_READ if prot & PROT_READ else 0) | (VM_WRITE if prot & PROT_WRITE else 0) \
        | (VM_EXEC if prot & PROT_EXEC else 0)
    vma, prev = mm.find_vma_prev(start)
    if vma is None or vma.vm_start > start:
        return -errno.ENOMEM
    if start > vma.vm_start:
        prev = vma
    nstart = start
    while True:
        newflags = vm_flags | (vma.vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC))
        if (newflags & ~(newflags >> 4)) & (VM_READ | VM_WRITE | VM_EXEC):
            return -errno.EACCES
        tmp = min(vma.vm_end, end)
        err, prev = mprotect_fixup(k, vma, prev, nstart, tmp, newflags)
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
