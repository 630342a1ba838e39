"""Model of mm/mlock.c (Linux 2.6.27, before the unevictable LRU of 2.6.28).

mlock() sets VM_LOCKED and faults every page in (make_pages_present(), a write fault in a
writable vma, which breaks copy-on-write sharing).  Migration ignores VM_LOCKED.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pagemig.mm.memory import get_user_pages
from pagemig.mm.mm_types import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, VM_LOCKED, VM_WRITE
from pagemig.mm.mmap import merge_or_split

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import MmStruct, VmArea


def make_pages_present(k: Kernel, mm: MmStruct, vma: VmArea, start: int, end: int) -> int:
    """Model of make_pages_present(): fault in [start, end), writing if the vma is writable."""
    write = bool(vma.vm_flags & VM_WRITE)
    ret, _ = get_user_pages(k, mm, start, (end - start) >> PAGE_SHIFT, write, False)
    return 0 if ret >= 0 else ret


def mlock_fixup(k: Kernel, vma: VmArea, prev: VmArea | None, start: int, end: int,
                newflags: int) -> tuple[int, VmArea]:
    """Model of mlock_fixup(): merge or split, set the flags, populate when locking."""
    mm = vma.vm_mm
    if newflags == vma.vm_flags:
        return 0, vma
    vma = merge_or_split(k, vma, prev, start, end, newflags)
    vma.vm_flags = newflags
    if newflags & VM_LOCKED:
        make_pages_present(k, mm, vma, start, end)
    return 0, vma


def do_mlock(k: Kernel, mm: MmStruct, start: int, length: int, on: bool) -> int:
    """Model of do_mlock() (sys_mlock() / sys_munlock()): 0, -EINVAL or -ENOMEM."""
    length = ((start & ~PAGE_MASK) + length + PAGE_SIZE - 1) & PAGE_MASK
    start &= PAGE_MASK
    end = start + length
    if end < start:
        return -errno.EINVAL
    if end == start:
        return 0
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
