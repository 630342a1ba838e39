"""Model of mm/fadvise.c: posix_fadvise(2).

File ranges are in pages here (the system call takes bytes): ``first`` is the first page
index and ``count`` the number of pages.  POSIX_FADV_DONTNEED starts writeback of the
range's dirty pages (block filesystem files only) and drops the range's clean, unmapped,
unlocked pages from the page cache (invalidate_mapping_pages()); the other advice values
change nothing the model keeps (read-ahead is not modelled).

Simplifications: DONTNEED writes back only the range (2.6.27 flushes the whole file) and
drops whole pages of the range; tmpfs files are treated as other files (Linux 6.1 ignores
the advice on a file without a backing device).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pagemig.mm.page_writeback import write_cache_pages
from pagemig.mm.truncate import invalidate_mapping_pages

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.filemap import AddressSpace

POSIX_FADV_NORMAL = 0
POSIX_FADV_RANDOM = 1
POSIX_FADV_SEQUENTIAL = 2
POSIX_FADV_WILLNEED = 3
POSIX_FADV_DONTNEED = 4
POSIX_FADV_NOREUSE = 5


def sys_fadvise64_64(k: Kernel, file: AddressSpace, first: int, count: int,
                     advice: int) -> int:
    """Model of sys_fadvise64_64(): 0, or -EINVAL for an unknown advice or a negative
    length."""
    if not POSIX_FADV_NORMAL <= advice <= POSIX_FADV_NOREUSE or count < 0:
        return -errno.EINVAL
    if advice == POSIX_FADV_DONTNEED and first >= 0:
        # A negative ``first`` drops and writes nothing: the model's choice (the kernel's
        # unsigned page-index arithmetic gives no meaningful range for it).
        last = first + count - 1
        if file.disk is not None:
            k.run(write_cache_pages(k, file, first, last, False))
        invalidate_mapping_pages(k, file, first, last)
    return 0
