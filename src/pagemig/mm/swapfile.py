"""Model of mm/swapfile.c (Linux 2.6.27): one swap area and its slot counts.

``swap_map[offset]`` counts the references to a slot: one per swap pte holding the entry,
plus one while the swap cache holds a page for it.  Slot 0 holds the swap header and is
never handed out.  Only swap type 0 exists, so an entry's value is its offset.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.swapops import swp_entry, swp_offset, swp_type

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

SWAP_MAP_MAX = 0x7FFF


@dataclass(eq=False)
class SwapInfo:
    """Model of struct swap_info_struct: slot counts and the slots' contents."""

    type: int
    pages: int
    swap_map: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    data: np.ndarray = field(default_factory=lambda: np.zeros((0, 4096), np.uint8))
    next_offset: int = 1
    synchronous: bool = False  # SWP_SYNCHRONOUS_IO: the device completes I/O at once (zram)


def sys_swapon(k: Kernel, nr_pages: int, synchronous: bool = False) -> int:
    """swapon(2) of a swap area of ``nr_pages`` pages (slot 0 is the header).

    ``synchronous``: a device whose writes and reads complete before the call returns
    (zram; Linux 6.1 then sets SWP_SYNCHRONOUS_IO); otherwise a disk, whose writes stay in
    flight until the I/O completes.
    """
    if k.swap_info is not None:
        return -errno.EBUSY
    if nr_pages < 2:
        return -errno.EINVAL
    k.swap_info = SwapInfo(0, nr_pages, np.zeros(nr_pages, np.int32),
                           np.zeros((nr_pages, 4096), np.uint8), synchronous=synchronous)
    k.swapper_space.ensure_slots(nr_pages - 1)
    return 0


def get_swap_page(k: Kernel) -> int:
    """Model of get_swap_page(): a free slot (count 1), or 0 when there is none."""
    si = k.swap_info
    if si is None:
        return 0
    free = np.flatnonzero(si.swap_map[1:] == 0)
    if not len(free):
        return 0
    offset = int(free[0]) + 1
    si.swap_map[offset] = 1
    return swp_entry(si.type, offset)


def swap_duplicate(k: Kernel, entry: int) -> int:
    """Model of swap_duplicate(): one more reference to the slot (a pte copied)."""
    si = k.swap_info
    assert si is not None and swp_type(entry) == si.type
    off = swp_offset(entry)
    assert 0 < int(si.swap_map[off]) < SWAP_MAP_MAX, f"swap_duplicate of a free slot {off}"
    si.swap_map[off] += 1
    return 1


def swap_free(k: Kernel, entry: int) -> None:
    """Model of swap_free(): drop one reference to the slot."""
    si = k.swap_info
    assert si is not None
    off = swp_offset(entry)
    assert int(si.swap_map[off]) > 0, f"swap_free of a free slot {off}"
    si.swap_map[off] -= 1


def page_swapcount(k: Kernel, page: int) -> int:
    """Model of page_swapcount(): the slot's references other than the swap cache's."""
    si = k.swap_info
    assert si is not None
    return int(si.swap_map[swp_offset(int(k.pages.private[page]))]) - 1


def can_share_swap_page(k: Kernel, page: int) -> bool:
    """Model of can_share_swap_page(): mapped once and no swap pte elsewhere."""
    from pagemig.mm.page_flags import F_SWAPCACHE

    count = int(k.pages.mapcount[page])
    if count <= 1 and int(k.pages.flags[page]) & F_SWAPCACHE:
        count += page_swapcount(k, page)
    return count == 1


def remove_exclusive_swap_page(k: Kernel, page: int) -> int:
    """Model of remove_exclusive_swap_page(): drop the swap cache of a page nobody else needs.

    The page must be unreferenced but for its mapper and the swap cache (count 2), not
    under writeback, and the slot referenced only by the cache.
    """
    from pagemig.mm.page_flags import F_SWAPCACHE, F_WRITEBACK
    from pagemig.mm.swap_state import delete_from_swap_cache

    flags = int(k.pages.flags[page])
    if not flags & F_SWAPCACHE or flags & F_WRITEBACK or int(k.pages.count[page]) != 2:
        return 0
    if page_swapcount(k, page) != 0:
        return 0
    delete_from_swap_cache(k, page)
    return 1


def __swap_count(k: Kernel, entry: int) -> int:
    """Model of __swap_count(): the references to the slot (ptes and the swap cache)."""
    si = k.swap_info
    assert si is not None
    return int(si.swap_map[swp_offset(entry)])


def try_to_free_swap(k: Kernel, page: int) -> int:
    """Model of try_to_free_swap() (Linux 6.1; 2.6.27's remove_exclusive_swap_page() also
    wants the page count at 2): drop a locked page's swap cache when no swap pte needs the
    slot and it is not under writeback.  The page becomes dirty (its only copy is now in
    memory).  Returns 1 if it did."""
    from pagemig.mm.page_flags import F_DIRTY, F_SWAPCACHE, F_WRITEBACK
    from pagemig.mm.swap_state import delete_from_swap_cache

    flags = int(k.pages.flags[page])
    if not flags & F_SWAPCACHE or flags & F_WRITEBACK:
        return 0
    if page_swapcount(k, page) != 0:
        return 0
    delete_from_swap_cache(k, page)
    k.pages.flags[page] |= F_DIRTY
    return 1


def free_swap_and_cache(k: Kernel, entry: int) -> None:
    """Model of free_swap_and_cache(): a swap pte goes away; an orphaned cache page too.

    When only the swap cache still refers to the slot, the cached page is looked up with a
    reference and, if its lock is free, leaves the swap cache (and becomes dirty) when it
    is not under writeback and either swap is more than half full or (2.6.27) the cache
    and this lookup hold its only references / (Linux 6.1) no pte maps it.  The lookup's
    reference is dropped after the unlock, which may free the page.
    """
    from pagemig.mm.filemap import trylock_page, unlock_page
    from pagemig.mm.page_flags import F_DIRTY, F_SWAPCACHE, F_WRITEBACK
    from pagemig.mm.swap import get_page, put_page
    from pagemig.mm.swap_state import delete_from_swap_cache

    si = k.swap_info
    if si is None or swp_type(entry) >= 30:
        return
    swap_free(k, entry)
    off = swp_offset(entry)
    page = k.swapper_space.slot(off)
    if page < 0 or int(si.swap_map[off]) != 1:
        return
    get_page(k, page)  # find_get_page()
    if trylock_page(k, page):
        flags = int(k.pages.flags[page])
        # Linux 6.1: a cached page no pte maps is dropped with its slot (2.6.28 on).
        if k.profile.has("free_swap_unmapped"):
            unused = not int(k.pages.mapcount[page])
        else:
            unused = int(k.pages.count[page]) == 2
        if flags & F_SWAPCACHE and not flags & F_WRITEBACK and (unused or k.vm_swap_full()):
            delete_from_swap_cache(k, page)
            k.pages.flags[page] |= F_DIRTY
        unlock_page(k, page)
    put_page(k, page)
