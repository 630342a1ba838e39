"""The queue of pages whose write is in flight (``k.writeback_inflight``) behaves as the
list it replaces: oldest first, ``remove`` takes the oldest entry of a page."""

from __future__ import annotations

import pytest

from pagemig.mm.page_writeback import WritebackQueue


def test_fifo_order_and_membership() -> None:
    """Appended 5, 7, 9: popped 5 then 7; 5 is no longer in it, 9 still is."""
    q = WritebackQueue()
    for page in (5, 7, 9):
        q.append(page)

    assert (q.popleft(), q.popleft()) == (5, 7)
    assert (5 in q, 9 in q, len(q), list(q)) == (False, True, 1, [9])


def test_remove_takes_the_oldest_entry_as_list_remove_does() -> None:
    """[3, 4, 3] less 3 is [4, 3] (list.remove drops the first 3): the pops give 4, 3."""
    q = WritebackQueue()
    for page in (3, 4, 3):
        q.append(page)
    q.remove(3)

    assert (list(q), len(q), 3 in q) == ([4, 3], 2, True)
    assert [q.popleft(), q.popleft()] == [4, 3]
    assert (len(q), bool(q), 3 in q) == (0, False, False)


def test_remove_of_a_page_not_queued_and_pop_of_an_empty_queue() -> None:
    """ValueError and IndexError, like a list's remove() and pop(0)."""
    q = WritebackQueue()
    q.append(1)
    q.remove(1)

    with pytest.raises(ValueError):
        q.remove(1)
    with pytest.raises(IndexError):
        q.popleft()
