"""Model of mm/msync.c: msync(2).

Linux 2.6.27's rules: the start must be page-aligned and the flags known, with not both
MS_ASYNC and MS_SYNC (-EINVAL); the length is rounded up to pages; an unmapped part of the
range gives -ENOMEM (after the mapped parts were handled); MS_INVALIDATE on an mlocked vma
is -EBUSY; MS_SYNC writes back and waits for the file of every shared file vma of the
range; MS_ASYNC does nothing (dirty pages are already known to the page cache).

Simplifications: MS_SYNC writes back the whole file, not only the range (Linux 6.1 syncs
the vma's range of the file); only files of the block filesystem are written (tmpfs has no
backing store).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pagemig.fs.sync import do_fsync
from pagemig.mm.mm_types import PAGE_SIZE, VM_LOCKED, VM_SHARED

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.filemap import AddressSpace
    from pagemig.mm.mm_types import MmStruct

MS_ASYNC = 1
MS_INVALIDATE = 2
MS_SYNC = 4


def sys_msync(k: Kernel, mm: MmStruct, start: int, length: int, flags: int) -> int:
    """Model of sys_msync(): 0, -EINVAL, -ENOMEM, -EBUSY or the error of a file's fsync."""
    if flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC) or start & (PAGE_SIZE - 1) \
            or (flags & MS_ASYNC and flags & MS_SYNC):
        return -errno.EINVAL
    end = start + ((length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
    err, pos = 0, start
    files: list[AddressSpace] = []
    while pos < end:
        vma = mm.find_vma(pos)
        if vma is None:
            return -errno.ENOMEM
        if vma.vm_start > pos:
            err = -errno.ENOMEM
            pos = vma.vm_start
            continue
        if flags & MS_INVALIDATE and vma.vm_flags & VM_LOCKED:
            return -errno.EBUSY
        if flags & MS_SYNC and vma.vm_file is not None and vma.vm_flags & VM_SHARED:
            files.append(vma.vm_file)
        pos = vma.vm_end
    for f in dict.fromkeys(files):
        ret = do_fsync(k, f) if f.disk is not None else 0
        err = err or ret
    return err
