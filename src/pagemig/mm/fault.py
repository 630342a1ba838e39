"""Model of arch/x86/mm/fault.c and the user-access helpers (Linux 2.6.27).

do_page_fault() finds the vma, checks the access against its flags and calls
handle_mm_fault().  copy_from_user()/copy_to_user() go through it page by page, so a bad
pointer, a guard page, a read-only page or a kernel address gives -EFAULT from the
mechanism, exactly where the kernel's exception table would.

Simplifications: no stack expansion below the stack vma (the stack vma is made large
enough); TASK_SIZE is the 64-bit one (0x7ffffffff000).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pagemig.mm.memory import VM_FAULT_ERROR, VM_FAULT_OOM, handle_mm_fault
from pagemig.mm.mm_types import PAGE_MASK, PAGE_SIZE, VM_EXEC, VM_READ, VM_WRITE
from pagemig.mm.swapops import (
    pte_mkdirty,
    pte_mkyoung,
    pte_pfn,
    pte_present,
    pte_protnone,
    pte_write,
)

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import MmStruct

TASK_SIZE = 0x7FFFFFFFF000


def access_ok(addr: int, size: int) -> bool:
    """Model of access_ok(): the whole range lies below TASK_SIZE (no wrap-around)."""
    return 0 <= addr and addr + size <= TASK_SIZE


def do_page_fault(k: Kernel, mm: MmStruct, address: int, write: bool) -> int:
    """Model of do_page_fault() for a user address: 0, -EFAULT (SIGSEGV) or -ENOMEM (OOM)."""
    if not 0 <= address < TASK_SIZE:
        return -errno.EFAULT
    vma = mm.find_vma(address)
    if vma is None or vma.vm_start > address:
        return -errno.EFAULT
    if write:
        if not vma.vm_flags & VM_WRITE:
            return -errno.EFAULT
    elif not vma.vm_flags & (VM_READ | VM_EXEC | VM_WRITE):
        return -errno.EFAULT
    ret = handle_mm_fault(k, mm, vma, address, write)
    if ret & VM_FAULT_OOM:
        return -errno.ENOMEM
    if ret & VM_FAULT_ERROR:
        return -errno.EFAULT
    return 0


def user_page(k: Kernel, mm: MmStruct, addr: int, write: bool) -> int:
    """The pfn backing user address ``addr`` for an access, faulting it in; -errno if none.

    A present pte is used directly when it allows the access (the MMU would not fault);
    otherwise do_page_fault() runs, up to a few times (as a retried instruction would).
    """
    page = addr & PAGE_MASK
    for _ in range(4):
        pte = mm.get_pte(page)
        if pte_present(pte) and not pte_protnone(pte) and (not write or pte_write(pte)):
            vma = mm.find_vma(page)
            if vma is None or vma.vm_start > page:
                return -errno.EFAULT
            if write:
                mm.set_pte(page, pte_mkdirty(pte_mkyoung(pte)))
            # The MMU reads the frame whether or not it is a normal page (a vvar pfn).
            return pte_pfn(pte)
        err = do_page_fault(k, mm, page, write)
        if err:
            return err
    return -errno.EFAULT


def copy_from_user(k: Kernel, addr: int, size: int, mm: MmStruct | None = None) -> bytes | None:
    """Model of copy_from_user() from the current task: the bytes, or None on a fault."""
    mm = mm if mm is not None else k.current_mm()
    if mm is None or not access_ok(addr, size):
        return None
    out = bytearray()
    pos = addr
    end = addr + size
    while pos < end:
        pfn = user_page(k, mm, pos, False)
        if pfn < 0:
            return None
        off = pos & (PAGE_SIZE - 1)
        n = min(PAGE_SIZE - off, end - pos)
        out += k.frames.read(pfn, off, n)
        pos += n
    return bytes(out)


def copy_to_user(k: Kernel, addr: int, data: bytes, mm: MmStruct | None = None) -> int:
    """Model of copy_to_user() into the current task: 0, -EFAULT if a byte faults (-ENOMEM
    when the fault found no memory: the task would be OOM-killed).

    Bytes before the faulting page are written, as the kernel's copy leaves them.
    """
    mm = mm if mm is not None else k.current_mm()
    if mm is None or not access_ok(addr, len(data)):
        return -errno.EFAULT
    pos, end, done = addr, addr + len(data), 0
    while pos < end:
        pfn = user_page(k, mm, pos, True)
        if pfn < 0:
            return pfn  # -EFAULT, or -ENOMEM when the fault ran out of memory
        off = pos & (PAGE_SIZE - 1)
        n = min(PAGE_SIZE - off, end - pos)
        k.frames.write(pfn, off, data[done:done + n], user=True)
        pos += n
        done += n
    return 0
