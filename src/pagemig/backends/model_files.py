"""File system calls of the model backend (mixed into ModelBackend): pwrite, pread,
fsync, sync, msync, sync_file_range, fadvise and drop_caches, each one call of the
kernel's system-call surface (:class:`pagemig.kernel.Kernel`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pagemig.sched import Task

if TYPE_CHECKING:
    from pagemig.mm.filemap import AddressSpace


class FileOpsMixin:
    """The file calls, on ``self.k`` (a Kernel)."""

    k: Any

    def pwrite(self, proc: Task, file: AddressSpace, index: int, data: bytes) -> int:
        """pwrite(2) of one page: 0 or -errno."""
        return int(self.k.sys_pwrite(proc, file, index, data))

    def pread(self, proc: Task, file: AddressSpace, index: int) -> bytes | None:
        """pread(2) of one page, or None."""
        data = self.k.sys_pread(proc, file, index)
        return None if isinstance(data, int) else bytes(data)

    def fsync(self, proc: Task, file: AddressSpace) -> int:
        """fsync(2): 0 or -EIO."""
        return int(self.k.sys_fsync(proc, file))

    def sync(self, proc: Task) -> None:
        """sync(2)."""
        self.k.sys_sync(proc)

    def msync(self, proc: Task, addr: int, length: int, flags: int) -> int:
        """msync(2)."""
        return int(self.k.sys_msync(proc, addr, length, flags))

    def sync_file_range(self, proc: Task, file: AddressSpace, first: int, count: int,
                        flags: int) -> int:
        """sync_file_range(2): start writeback of the range, waiting if asked."""
        return int(self.k.sys_sync_file_range(proc, file, first, count, flags))

    def fadvise(self, proc: Task, file: AddressSpace, first: int, count: int, advice: int) -> int:
        """posix_fadvise(2)."""
        return int(self.k.sys_fadvise(proc, file, first, count, advice))

    def drop_caches(self, value: str) -> int:
        """echo VALUE > /proc/sys/vm/drop_caches."""
        return int(self.k.write_drop_caches(value))
