"""File system calls of the model backend (mixed into ModelBackend): pwrite, pread,
fsync, sync, msync, sync_file_range, fadvise, drop_caches, and writeback completion."""

from __future__ import annotations

import errno
from typing import Any

from pagemig.mm.filemap import AddressSpace
from pagemig.sched import Task


class FileOpsMixin:
    """The file calls, on ``self.k`` (a Kernel)."""

    k: Any

    def pwrite(self, proc: Task, file: AddressSpace, index: int, data: bytes) -> int:
        """pwrite(2) of one page: 0 or -errno."""
        try:
            self.k.pwrite(proc, file, index, data)
        except OSError as e:
            return -e.errno
        return 0

    def pread(self, proc: Task, file: AddressSpace, index: int) -> bytes | None:
        """pread(2) of one page, or None."""
        try:
            return bytes(self.k.pread(proc, file, index))
        except OSError:
            return None

    def fsync(self, proc: Task, file: AddressSpace) -> int:
        """fsync(2): 0 or -EIO."""
        return int(self.k.fsync(proc, file))

    def sync(self, proc: Task) -> None:
        """sync(2): every block file is written back and waited for."""
        for f in list(self.k.address_spaces.values()):
            if f.disk is not None:
                self.k.fsync(proc, f)

    def msync(self, proc: Task, addr: int, length: int, flags: int) -> int:
        """msync(2) of 2.6.27: MS_SYNC fsyncs the file of each shared file vma of the range;
        MS_ASYNC does nothing; unmapped parts are -ENOMEM; MS_INVALIDATE on mlocked is -EBUSY."""
        from pagemig.mm.mm_types import VM_LOCKED, VM_SHARED

        if flags & ~7 or addr & 4095 or (flags & 1 and flags & 4):
            return -errno.EINVAL
        mm = proc.mm
        assert mm is not None
        end = addr + ((length + 4095) & ~4095)
        err, pos, files = 0, addr, []
        while pos < end:
            vma = mm.find_vma(pos)
            if vma is None:
                return -errno.ENOMEM
            if vma.vm_start > pos:
                err = -errno.ENOMEM
                pos = vma.vm_start
                continue
            if flags & 2 and vma.vm_flags & VM_LOCKED:
                return -errno.EBUSY
            if flags & 4 and vma.vm_file is not None and vma.vm_flags & VM_SHARED:
                files.append(vma.vm_file)
            pos = vma.vm_end
        for f in dict.fromkeys(files):
            ret = self.k.fsync(proc, f) if f.disk is not None else 0
            err = err or ret
        return err

    def sync_file_range(self, proc: Task, file: AddressSpace, first: int, count: int,
                        flags: int) -> int:
        """sync_file_range(2): start writeback of the range, waiting if asked."""
        last = first + max(count, 1) - 1
        if file.disk is None:
            return 0
        if flags & 1 or flags & 4:
            return int(self.k.fsync(proc, file))
        return int(self.k.start_writeback(proc, file, first, last))

    def fadvise(self, proc: Task, file: AddressSpace, first: int, count: int, advice: int) -> int:
        """posix_fadvise(2): DONTNEED starts writeback and drops the clean, unmapped pages."""
        from pagemig.mm.truncate import invalidate_mapping_pages

        if not 0 <= advice <= 5:
            return -errno.EINVAL
        if advice == 4:
            if file.disk is not None:
                self.k.start_writeback(proc, file, first, first + count - 1)
            invalidate_mapping_pages(self.k, file, first, first + count - 1)
        return 0

    def drop_caches(self, value: str) -> int:
        """echo VALUE > /proc/sys/vm/drop_caches (1 or 3 drops clean page cache)."""
        if value not in ("1", "2", "3"):
            return -errno.EINVAL
        if value in ("1", "3"):
            self.k.drop_caches()
        return 0
