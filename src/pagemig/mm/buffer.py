"""Model of fs/buffer.c (Linux 2.6.27): buffer heads of page-cache pages.

A page with PG_private owns a ring of buffer heads, one per block of the page, and the
ring holds one reference on the page (SPEC §1.7).  Buffer heads are a structure of arrays
like the pages: ``b_page``, ``b_offset``, ``b_state`` (BH_* bits), ``b_count``,
``b_blocknr`` and ``b_this_page`` (the next buffer of the ring), indexed by a buffer id;
``page->private`` holds the id of the ring's first buffer.  Free ids are kept on a stack.

Simplifications: buffers are never shared with a block device's cache; there is no
journal; a buffer's lock is a bit that nobody else holds (one actor).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.page_flags import F_DIRTY, F_PRIVATE, F_WRITEBACK
from pagemig.mm.swap import get_page, put_page

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

# enum bh_state_bits
BH_Uptodate = 1 << 0
BH_Dirty = 1 << 1
BH_Lock = 1 << 2
BH_Req = 1 << 3
BH_Uptodate_Lock = 1 << 4
BH_Mapped = 1 << 5
BH_New = 1 << 6
BH_Async_Read = 1 << 7
BH_Async_Write = 1 << 8


class BufferHeads:
    """Every buffer head of the machine, as a structure of arrays indexed by buffer id.

    Attributes
    ----------
    b_page : ndarray of int64
        the page the buffer's data lives in (pfn), -1 for a free id.
    b_offset : ndarray of int32
        offset of the buffer in its page, in bytes (bh_offset()).
    b_state : ndarray of int32
        BH_* bits.
    b_count : ndarray of int32
        the buffer head's own reference count.
    b_blocknr : ndarray of int64
        the block on disk (meaningful with BH_Mapped).
    b_this_page : ndarray of int64
        the next buffer of the page's ring.
    """

    def __init__(self) -> None:
        self.capacity = 0
        self.b_page = np.zeros(0, np.int64)
        self.b_offset = np.zeros(0, np.int32)
        self.b_state = np.zeros(0, np.int32)
        self.b_count = np.zeros(0, np.int32)
        self.b_blocknr = np.zeros(0, np.int64)
        self.b_this_page = np.zeros(0, np.int64)
        self.free: list[int] = []

    def _grow(self) -> None:
        new = max(64, 2 * self.capacity)
        for name in ("b_page", "b_offset", "b_state", "b_count", "b_blocknr", "b_this_page"):
            old = getattr(self, name)
            arr = np.zeros(new, old.dtype)
            arr[: self.capacity] = old
            setattr(self, name, arr)
        self.b_page[self.capacity:] = -1
        # ids 1.. (0 stays unused so that page->private 0 means "no buffers")
        self.free.extend(range(new - 1, max(self.capacity, 1) - 1, -1))
        self.capacity = new

    def alloc(self) -> int:
        """A fresh buffer head id (alloc_buffer_head())."""
        if not self.free:
            self._grow()
        return self.free.pop()

    def release(self, bh: int) -> None:
        """Return a buffer head id (free_buffer_head())."""
        self.b_page[bh] = -1
        self.b_state[bh] = 0
        self.b_count[bh] = 0
        self.free.append(bh)

    def ring(self, head: int) -> list[int]:
        """The buffer ids of the ring starting at ``head``, in order."""
        out = [head]
        bh = int(self.b_this_page[head])
        while bh != head:
            out.append(bh)
            bh = int(self.b_this_page[bh])
        return out

    def live_ids(self) -> np.ndarray:
        """Ids of buffer heads in use."""
        return np.flatnonzero(self.b_page >= 0)


def page_buffers(k: Kernel, page: int) -> list[int]:
    """Model of page_buffers(): the buffer ids of a page with PG_private."""
    assert int(k.pages.flags[page]) & F_PRIVATE, "page_buffers on a page without buffers"
    return k.bh.ring(int(k.pages.private[page]))


def attach_page_buffers(k: Kernel, page: int, head: int) -> None:
    """Model of attach_page_buffers(): the ring takes a page reference and PG_private."""
    get_page(k, page)
    k.pages.flags[page] |= F_PRIVATE
    k.pages.private[page] = head


def create_empty_buffers(k: Kernel, page: int, blocksize: int, b_state: int) -> int:
    """Model of create_empty_buffers(): a ring of PAGE_SIZE/blocksize buffers on ``page``.

    Dirty buffers are created only on a dirty page, as the kernel does.
    """
    bh = k.bh
    ids = [bh.alloc() for _ in range(4096 // blocksize)]
    dirty = bool(int(k.pages.flags[page]) & F_DIRTY)
    for i, b in enumerate(ids):
        bh.b_page[b] = page
        bh.b_offset[b] = i * blocksize
        bh.b_state[b] = b_state if dirty or not b_state & BH_Dirty else b_state & ~BH_Dirty
        bh.b_count[b] = 0
        bh.b_this_page[b] = ids[(i + 1) % len(ids)]
    attach_page_buffers(k, page, ids[0])
    return ids[0]


def buffer_busy(k: Kernel, b: int) -> bool:
    """Model of buffer_busy(): referenced, dirty or locked."""
    return bool(int(k.bh.b_count[b]) or int(k.bh.b_state[b]) & (BH_Dirty | BH_Lock))


def drop_buffers(k: Kernel, page: int) -> bool:
    """Model of drop_buffers(): detach the ring unless a buffer is busy."""
    ring = page_buffers(k, page)
    if any(buffer_busy(k, b) for b in ring):
        return False
    __clear_page_buffers(k, page)
    for b in ring:
        k.bh.release(b)
    return True


def __clear_page_buffers(k: Kernel, page: int) -> None:
    """Model of __clear_page_buffers(): PG_private off, private 0, the ring's reference gone."""
    k.pages.flags[page] &= ~F_PRIVATE
    k.pages.private[page] = 0
    put_page(k, page)


def try_to_free_buffers(k: Kernel, page: int) -> int:
    """Model of try_to_free_buffers(): 1 if the buffers were freed.

    Refused under writeback.  When the buffers go, a still-dirty page is cleaned
    (cancel_dirty_page()): its data lived in the buffers.
    """
    from pagemig.mm.page_writeback import cancel_dirty_page

    if int(k.pages.flags[page]) & F_WRITEBACK:
        return 0
    mapping = k.page_mapping(page)
    ok = drop_buffers(k, page)
    if ok and mapping is not None:
        cancel_dirty_page(k, page)
    return int(ok)


def try_to_release_page(k: Kernel, page: int, gfp: int) -> int:
    """Model of try_to_release_page(): the fs's releasepage, or try_to_free_buffers()."""
    if int(k.pages.flags[page]) & F_WRITEBACK:
        return 0
    mapping = k.page_mapping(page)
    if mapping is not None and mapping.a_ops.releasepage is not None:
        return int(mapping.a_ops.releasepage(k, page, gfp))
    return try_to_free_buffers(k, page)


def mark_buffer_dirty(k: Kernel, b: int) -> None:
    """Model of mark_buffer_dirty(): the buffer, then its page, become dirty."""
    from pagemig.mm.page_writeback import __set_page_dirty

    if int(k.bh.b_state[b]) & BH_Dirty:
        return
    k.bh.b_state[b] |= BH_Dirty
    __set_page_dirty(k, int(k.bh.b_page[b]))


def __set_page_dirty_buffers(k: Kernel, page: int) -> int:
    """Model of __set_page_dirty_buffers(): dirty every buffer, then the page (accounted)."""
    from pagemig.mm.page_writeback import __set_page_dirty

    if int(k.pages.flags[page]) & F_PRIVATE:
        for b in page_buffers(k, page):
            k.bh.b_state[b] |= BH_Dirty
    return __set_page_dirty(k, page)


def block_page_mkwrite(k: Kernel, page: int) -> int:
    """Model of block_page_mkwrite(): a shared mapping is about to write the locked page.

    __block_write_begin() gives the page mapped, uptodate buffers if it has none, and
    block_commit_write() marks them dirty, which dirties the page.  Returns 0.
    """
    if not int(k.pages.flags[page]) & F_PRIVATE:
        mapping = k.page_mapping(page)
        assert mapping is not None
        create_empty_buffers(k, page, mapping.blocksize, 0)
    for b in page_buffers(k, page):
        k.bh.b_state[b] |= BH_Mapped | BH_Uptodate
        mark_buffer_dirty(k, b)
    return 0

