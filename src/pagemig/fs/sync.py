"""Model of fs/sync.c: fsync(2), sync(2) and sync_file_range(2).

File ranges are in pages here (the system calls take bytes): ``first`` is the first page
index and ``count`` the number of pages.

Simplifications: fsync writes and waits for the whole file's data (no metadata, no
fdatasync difference); sync writes back only the files of the block filesystem (tmpfs has
nothing to write) and ignores errors, as sync(2) does; sync_file_range's WAIT_BEFORE or
WAIT_AFTER is modelled as an fsync of the whole file, and a range of 0 pages as one page.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pagemig.mm.page_writeback import write_cache_pages

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.filemap import AddressSpace

SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4
SYNC_FILE_RANGE_VALID = (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE
                         | SYNC_FILE_RANGE_WAIT_AFTER)


def do_fsync(k: Kernel, file: AddressSpace) -> int:
    """Model of do_fsync(): write every dirty page of ``file`` and wait; 0 or -EIO."""
    return int(k.run(write_cache_pages(k, file, 0, file.size_pages - 1, True)))


def sys_sync(k: Kernel) -> int:
    """Model of sys_sync(): every file of the block filesystem is written back and waited
    for; always 0."""
    for f in list(k.address_spaces.values()):
        if f.disk is not None:
            do_fsync(k, f)
    return 0


def sys_sync_file_range(k: Kernel, file: AddressSpace, first: int, count: int,
                        flags: int) -> int:
    """Model of sys_sync_file_range(): start writeback of pages ``first`` ..
    ``first + count - 1`` (SYNC_FILE_RANGE_WRITE), waiting if WAIT_BEFORE or WAIT_AFTER
    is given; -EINVAL for an unknown flag or a negative range."""
    if flags & ~SYNC_FILE_RANGE_VALID or first < 0 or count < 0:
        return -errno.EINVAL
    last = first + max(count, 1) - 1
    if file.disk is None:
        return 0
    if flags & (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER):
        return do_fsync(k, file)
    return int(k.run(write_cache_pages(k, file, first, last, False)))
