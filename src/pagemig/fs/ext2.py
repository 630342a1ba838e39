"""Model of ext2's address space (fs/ext2/inode.c, Linux 2.6.27) on a block device.

``ext2_aops``: ->readpage reads the file's blocks (mpage_readpage(): a page whose blocks
are all on disk is PG_mappedtodisk and gets no buffers; a hole reads as zeroes),
->writepage is block_write_full_page() (attaches buffers if the page has none, allocates
the blocks, starts writeback and unlocks the page), ->migratepage is
buffer_migrate_page(), and there is no ->set_page_dirty, so set_page_dirty() is
__set_page_dirty_buffers().  The backing device accounts dirty pages and does writeback.

In 2.6.27 ext4 was still "ext4dev"; only ext2 is modelled.  Simplifications: one block per
page-sized slice of the file at the mount's block size; blocks are allocated on first
writeback; there is no journal, no metadata, no block bitmap.

Linux 6.1 (feature ext4): both ext4 and ext2 filesystems are mounted by the ext4 driver
(the oracle's kernel has no ext2 module), so one set of operations serves both:
``ext4_aops`` differ from 2.6.27's ext2 ones by ->page_mkwrite (ext4_page_mkwrite(), that
is block_page_mkwrite()): the first write through a shared mapping gives the page dirty,
mapped buffers.  Pages read from disk still get none, and writeback keeps the buffers and
does not set PG_mappedtodisk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.buffer import (
    BH_Async_Write,
    BH_Dirty,
    BH_Lock,
    BH_Mapped,
    BH_Uptodate,
    block_page_mkwrite,
    create_empty_buffers,
    page_buffers,
)
from pagemig.mm.filemap import (
    AddressSpace,
    AddressSpaceOperations,
    BackingDevInfo,
    unlock_page,
)
from pagemig.mm.page_flags import F_ERROR, F_MAPPEDTODISK, F_PRIVATE, F_UPTODATE
from pagemig.mm.page_writeback import set_page_writeback

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

EXT2_BLOCKSIZE = 1024  # mke2fs's choice for a small filesystem (the oracle's is 64 MiB)
# The model's largest ext2 file: the size of the oracle's filesystem, 64 MiB (its disk
# blocks are kept in memory, one array row per page).
EXT2_MAX_FILE_PAGES = 16384


def ext2_readpage(k: Kernel, mapping: AddressSpace, page: int) -> int:
    """Model of ext2_readpage() (mpage_readpage()): read the page's blocks or zero a hole."""
    index = k.page_index(page)
    if mapping.disk is not None and index < len(mapping.on_disk) and mapping.on_disk[index]:
        k.frames.load(page, mapping.disk[index])
        k.pages.flags[page] |= F_MAPPEDTODISK
    else:
        k.frames.zero(page)
    k.pages.flags[page] |= F_UPTODATE
    return 0


def ext2_writepage(k: Kernel, page: int, wbc: object) -> int:
    """Model of ext2_writepage() = block_write_full_page(): start writing a locked page.

    Attaches dirty, uptodate buffers if the page has none, maps them to blocks, marks them
    for async write, sets PG_writeback and unlocks the page.  Returns 0, or -EIO (the page
    unlocked, PG_error set, still dirty) when the mapping is set to fail.
    """
    from pagemig.mm.filemap import set_page_dirty

    mapping = k.page_mapping(page)
    assert mapping is not None
    if mapping.io_error:
        k.pages.flags[page] |= F_ERROR
        set_page_dirty(k, page)  # redirtied: the data did not reach the disk
        unlock_page(k, page)
        if k.tracing:
            k.trace("mm_writeback_error", pfn=page)
        return -5  # -EIO
    if not int(k.pages.flags[page]) & F_PRIVATE:
        create_empty_buffers(k, page, mapping.blocksize, BH_Dirty | BH_Uptodate)
    index = k.page_index(page)
    for i, b in enumerate(page_buffers(k, page)):
        k.bh.b_state[b] |= BH_Mapped
        k.bh.b_blocknr[b] = index * (4096 // mapping.blocksize) + i
        if int(k.bh.b_state[b]) & BH_Dirty:
            k.bh.b_state[b] = (int(k.bh.b_state[b]) & ~BH_Dirty) | BH_Lock | BH_Async_Write
    set_page_writeback(k, page)
    unlock_page(k, page)
    return 0


def ext2_aops(ext4_driver: bool = False) -> AddressSpaceOperations:
    """The address_space_operations of an ext2 regular file; with ``ext4_driver`` (Linux
    6.1) those of the ext4 driver, which add ->page_mkwrite."""
    from pagemig.mm.migrate import buffer_migrate_page

    if ext4_driver:
        return AddressSpaceOperations(name="ext4_aops", migratepage=buffer_migrate_page,
                                      writepage=ext2_writepage, readpage=ext2_readpage,
                                      page_mkwrite=block_page_mkwrite)
    return AddressSpaceOperations(name="ext2_aops", migratepage=buffer_migrate_page,
                                  writepage=ext2_writepage, readpage=ext2_readpage)


def ext2_new_file(k: Kernel, name: str, size_pages: int) -> AddressSpace:
    """A new, sparse ext2 file of ``size_pages`` pages (open(O_CREAT) + ftruncate())."""
    mapping = AddressSpace(
        id=k.next_id("address_space"),
        name=name,
        a_ops=k.ext2_aops,
        bdi=BackingDevInfo("blockdev", cap_account_dirty=True, cap_writeback_dirty=True),
        size_pages=size_pages,
        blocksize=EXT2_BLOCKSIZE,
        disk=np.zeros((size_pages, 4096), np.uint8),
        on_disk=np.zeros(size_pages, bool),
    )
    mapping.ensure_slots(max(size_pages - 1, 0))
    k.address_spaces[mapping.id] = mapping
    return mapping
