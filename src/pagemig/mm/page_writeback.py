"""Model of mm/page-writeback.c (Linux 2.6.27): dirty accounting and writeback.

Writeback I/O is asynchronous: ``->writepage`` starts it (PG_writeback, the radix
WRITEBACK tag, NR_WRITEBACK) and queues the page on ``k.writeback_inflight``; the I/O
completes when :func:`complete_writeback` runs.  With one actor that is at the next script
action (or a wait for writeback); the API can hold it open (``k.hold_writeback``) to look
at pages under writeback.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_flags import F_DIRTY, F_LOCKED, F_WRITEBACK

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

AOP_WRITEPAGE_ACTIVATE = 0x80000


class WritebackQueue:
    """The pages whose write is in flight, oldest first (``k.writeback_inflight``).

    A FIFO with the list operations the model uses, each O(1): ``append``, ``popleft``,
    ``in`` and ``remove`` (of the oldest entry of that page, as ``list.remove``; the entry
    is skipped when it reaches the front).  Iteration gives the entries in order.
    """

    def __init__(self) -> None:
        self._fifo: deque[int] = deque()
        self._live: dict[int, int] = {}  # page -> entries in the queue
        self._skip: dict[int, int] = {}  # page -> removed entries still in the fifo
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __contains__(self, page: object) -> bool:
        return self._live.get(page, 0) > 0  # type: ignore[call-overload]

    def __iter__(self) -> Iterator[int]:
        skip = dict(self._skip)
        for page in self._fifo:
            if skip.get(page):
                skip[page] -= 1
            else:
                yield page

    def append(self, page: int) -> None:
        """Queue ``page`` as the newest entry."""
        self._fifo.append(page)
        self._live[page] = self._live.get(page, 0) + 1
        self._len += 1

    def remove(self, page: int) -> None:
        """Take the oldest entry of ``page`` out (ValueError if it has none)."""
        if not self._live.get(page):
            raise ValueError(f"page {page} is not in the writeback queue")
        self._drop(page)
        self._skip[page] = self._skip.get(page, 0) + 1

    def popleft(self) -> int:
        """Take the oldest entry out and return it (IndexError when empty)."""
        while True:
            page = self._fifo.popleft()
            skipped = self._skip.get(page)
            if not skipped:
                break
            if skipped == 1:
                del self._skip[page]
            else:
                self._skip[page] = skipped - 1
        self._drop(page)
        return page

    def _drop(self, page: int) -> None:
        left = self._live[page] - 1
        if left:
            self._live[page] = left
        else:
            del self._live[page]
        self._len -= 1


def __set_page_dirty(k: Kernel, page: int) -> int:
    """Set PG_dirty with the accounting of __set_page_dirty_nobuffers() (1 if it was clean)."""
    from pagemig.mm.filemap import __set_page_dirty_nobuffers

    return __set_page_dirty_nobuffers(k, page)


def cancel_dirty_page(k: Kernel, page: int) -> None:
    """Model of cancel_dirty_page(): clean a page whose dirty data is gone (accounted)."""
    if not int(k.pages.flags[page]) & F_DIRTY:
        return
    k.pages.flags[page] &= ~F_DIRTY
    mapping = k.page_mapping(page)
    if mapping is not None and mapping.mapping_cap_account_dirty():
        k.zone_stat[k.page_zone(page).id, ZoneStat.NR_FILE_DIRTY] -= 1


def set_page_writeback(k: Kernel, page: int) -> int:
    """Model of test_set_page_writeback(): PG_writeback on, tags moved, NR_WRITEBACK +1."""
    if int(k.pages.flags[page]) & F_WRITEBACK:
        return 1
    k.pages.flags[page] |= F_WRITEBACK
    k.zone_stat[k.page_zone(page).id, ZoneStat.NR_WRITEBACK] += 1
    mapping = k.page_mapping(page)
    if mapping is not None:
        index = k.page_index(page)
        mapping.ensure_slots(index)
        mapping.tag_writeback[index] = True
        if not int(k.pages.flags[page]) & F_DIRTY:
            mapping.tag_dirty[index] = False
    k.writeback_inflight.append(page)
    if k.tracing:
        k.trace("mm_writeback_start", pfn=page)
    return 0


def complete_writeback(k: Kernel) -> int:
    """The I/O of every page under writeback completes (end_page_writeback() for each)."""
    done = 0
    while k.writeback_inflight:
        page = k.writeback_inflight.popleft()
        end_io(k, page)
        done += 1
    return done


def end_io(k: Kernel, page: int) -> None:
    """Completion of one page's write: the data is on disk, the buffers are clean."""
    from pagemig.mm.filemap import end_page_writeback

    if page in k.writeback_inflight:
        k.writeback_inflight.remove(page)
    mapping = k.page_mapping(page)
    if int(k.pages.flags[page]) & 0x8000 and k.swap_info is not None:  # PG_swapcache
        from pagemig.mm.swapops import swp_offset

        k.swap_info.data[swp_offset(int(k.pages.private[page]))] = k.frames.frame(page)
    elif mapping is not None and mapping.disk is not None:
        mapping.disk[k.page_index(page)] = k.frames.frame(page)
        mapping.on_disk[k.page_index(page)] = True
    if int(k.pages.flags[page]) & 0x800:  # PG_private: end_buffer_async_write() per buffer
        from pagemig.mm.buffer import BH_Async_Write, BH_Lock, page_buffers

        for b in page_buffers(k, page):
            k.bh.b_state[b] &= ~(BH_Async_Write | BH_Lock)
    end_page_writeback(k, page)
    if k.tracing:
        k.trace("mm_writeback_end", pfn=page)


def write_one_page(k: Kernel, page: int, wait: bool):  # type: ignore[no-untyped-def]
    """Model of write_one_page(): write a locked dirty page; the page is unlocked after.

    Returns 0 or the writepage error (a generator: it waits for writeback in flight, and
    with ``wait`` for its own).
    """
    from pagemig.mm.filemap import clear_page_dirty_for_io, unlock_page, wait_on_page_writeback

    mapping = k.page_mapping(page)
    assert mapping is not None and int(k.pages.flags[page]) & F_LOCKED
    yield from wait_on_page_writeback(k, page)
    ret = 0
    if clear_page_dirty_for_io(k, page):
        assert mapping.a_ops.writepage is not None
        ret = mapping.a_ops.writepage(k, page, WritebackControl(sync=wait))
        if ret == 0 and wait:
            yield from wait_on_page_writeback(k, page)
    else:
        unlock_page(k, page)
    return ret


class WritebackControl:
    """Model of struct writeback_control: the fields writepage looks at."""

    def __init__(self, sync: bool = False, for_reclaim: bool = False,
                 nonblocking: bool = False) -> None:
        self.sync_mode_all = sync
        self.for_reclaim = for_reclaim
        self.nonblocking = nonblocking
        self.nr_to_write = 1


def write_cache_pages(k: Kernel, mapping, first: int, last: int, wait: bool):  # type: ignore[no-untyped-def]
    """Model of do_writepages() / write_cache_pages(): write the dirty pages of a range.

    With ``wait`` (WB_SYNC_ALL, fsync) pages under writeback are waited for and written
    again if dirty, and the call waits for its own I/O.  Returns 0 or the first error.
    """
    from pagemig.mm.filemap import lock_page, unlock_page

    err = 0
    if not mapping.bdi.cap_writeback_dirty:
        return 0  # tmpfs, the swap cache: nothing to write back (simple_sync_file())
    last = min(last, len(mapping.tag_dirty) - 1)
    for index in range(first, last + 1):
        if not mapping.tag_dirty[index]:
            continue
        page = mapping.slot(index)
        if page < 0:
            continue
        yield from lock_page(k, page)
        if int(k.pages.flags[page]) & F_WRITEBACK and not wait:
            unlock_page(k, page)
            continue
        ret = yield from write_one_page(k, page, wait)
        err = err or ret
    return err
