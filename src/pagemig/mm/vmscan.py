"""Model of mm/vmscan.c (Linux 6.1 only): reclaim of a list of isolated pages.

2.6.27 has no way for a process to ask for reclaim of its own pages (the model's
``Kernel.swap_out()`` plays reclaim there).  Linux 6.1's MADV_PAGEOUT isolates the pages and
passes them to reclaim_pages(), which runs shrink_page_list() on them with the references
ignored.  This module models that path.

Simplifications: no LRU scanning, no watermarks, no writeback throttling; a dirty file page
is kept (only kswapd writes file pages from reclaim); a tmpfs page loses its ptes but stays
in the page cache (6.1 moves it to the swap cache through shmem_writepage(); both leave
the ptes none and the data readable); a page reclaim keeps goes back to the LRU through
putback_lru_page().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagemig.mm.filemap import clear_page_dirty_for_io, trylock_page, unlock_page
from pagemig.mm.mm_types import PageList, mapping_is_anon
from pagemig.mm.page_flags import (
    F_DIRTY,
    F_PRIVATE,
    F_RECLAIM,
    F_SWAPBACKED,
    F_SWAPCACHE,
    F_UNEVICTABLE,
    F_WRITEBACK,
)
from pagemig.mm.swap import put_page

if TYPE_CHECKING:
    from pagemig.kernel import Kernel


def shrink_page_list(k: Kernel, page_list: PageList) -> int:
    """Model of shrink_page_list() as reclaim_pages() calls it (Linux 6.1): try to free
    every page of the list; returns how many were freed.

    An anonymous page gets a swap slot and enters the swap cache (add_to_swap()), every
    pte becomes its swap entry (try_to_unmap()), and a dirty page is written to the slot
    (pageout()).  A page that is then clean, unlocked from I/O and referenced only by the
    swap cache and the isolation leaves the cache (__remove_mapping()) and is freed; a page
    still under writeback (a disk's asynchronous write) or dirty is kept and put back on
    the LRU, in the swap cache.  A clean file page mapped nowhere else loses its ptes and
    its buffers and leaves the page cache.
    """
    from pagemig.mm.buffer import try_to_release_page
    from pagemig.mm.migrate import move_to_lru
    from pagemig.mm.page_alloc import GFP_KERNEL
    from pagemig.mm.rmap import try_to_unmap
    from pagemig.mm.swap_state import __delete_from_swap_cache, add_to_swap, swap_writepage
    from pagemig.mm.swapfile import swap_free
    from pagemig.mm.truncate import __remove_from_page_cache

    freed = 0
    for page in list(page_list):
        page_list.list_del(page)
        if not trylock_page(k, page):
            move_to_lru(k, page)
            continue
        flags = int(k.pages.flags[page])
        anon = mapping_is_anon(int(k.pages.mapping[page]))
        keep = bool(flags & (F_WRITEBACK | F_UNEVICTABLE))
        if flags & F_WRITEBACK:
            k.pages.flags[page] |= F_RECLAIM
        if not keep and anon and flags & F_SWAPBACKED and not flags & F_SWAPCACHE:
            keep = not add_to_swap(k, page)
        if anon and not int(k.pages.flags[page]) & F_SWAPCACHE:
            keep = True  # not swap-backed (or no slot): nowhere to put the data
        if not keep and int(k.pages.mapcount[page]):
            try_to_unmap(k, page, False)
            keep = bool(int(k.pages.mapcount[page]))
        if not keep and int(k.pages.flags[page]) & F_DIRTY:
            if anon and clear_page_dirty_for_io(k, page):
                swap_writepage(k, page)
            keep = bool(int(k.pages.flags[page]) & (F_WRITEBACK | F_DIRTY))
        if not keep and int(k.pages.flags[page]) & F_PRIVATE:
            keep = not try_to_release_page(k, page, GFP_KERNEL)
        # __remove_mapping(): only the mapping's reference and ours may remain.
        if not keep and int(k.pages.count[page]) == 2:
            if int(k.pages.flags[page]) & F_SWAPCACHE:
                entry = int(k.pages.private[page])
                __delete_from_swap_cache(k, page)
                swap_free(k, entry)
                put_page(k, page)  # the swap cache's reference
            else:
                mapping = k.page_mapping(page)
                assert mapping is not None
                __remove_from_page_cache(k, page, mapping)
            unlock_page(k, page)
            if k.tracing:
                k.trace("mm_vmscan_reclaim", pfn=page)
            put_page(k, page)  # the isolation's reference: the page is free
            freed += 1
            continue
        unlock_page(k, page)
        move_to_lru(k, page)
    return freed


def reclaim_pages(k: Kernel, page_list: PageList) -> int:
    """Model of reclaim_pages() (Linux 6.1): the pages lose PG_active, then
    shrink_page_list() ignoring references."""
    from pagemig.mm.page_flags import F_ACTIVE

    for page in page_list:
        k.pages.flags[page] &= ~F_ACTIVE
    return shrink_page_list(k, page_list)
