"""Model of mm/swap_state.c (Linux 2.6.27): the swap cache.

A swap-cache page has PG_swapcache, ``private`` = its swap entry, a slot in
``swapper_space`` (keyed by the entry) holding one reference, and is counted in
NR_FILE_PAGES.  ``page_mapping()`` of such a page is ``swapper_space``, whose migratepage
is migrate_page(), so migrate_page_move_mapping() expects 2 references (SPEC §1.3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_flags import F_DIRTY, F_SWAPCACHE, F_UPTODATE
from pagemig.mm.swap import get_page, put_page
from pagemig.mm.swapfile import get_swap_page, swap_free
from pagemig.mm.swapops import swp_offset

if TYPE_CHECKING:
    from pagemig.kernel import Kernel


def add_to_swap_cache(k: Kernel, page: int, entry: int) -> int:
    """Model of add_to_swap_cache(): take the cache reference, set PG_swapcache, insert."""
    space = k.swapper_space
    off = swp_offset(entry)
    if space.slot(off) >= 0:
        return -17  # -EEXIST
    get_page(k, page)
    k.pages.flags[page] |= F_SWAPCACHE
    k.pages.private[page] = entry
    space.page_tree[off] = page
    space.nrpages += 1
    k.zone_stat[k.page_zone(page).id, ZoneStat.NR_FILE_PAGES] += 1
    return 0


def __delete_from_swap_cache(k: Kernel, page: int) -> None:
    """Model of __delete_from_swap_cache(): out of the slot, PG_swapcache off."""
    space = k.swapper_space
    off = swp_offset(int(k.pages.private[page]))
    space.page_tree[off] = -1
    space.tag_dirty[off] = False
    space.nrpages -= 1
    k.pages.flags[page] &= ~F_SWAPCACHE
    k.pages.private[page] = 0
    k.zone_stat[k.page_zone(page).id, ZoneStat.NR_FILE_PAGES] -= 1


def delete_from_swap_cache(k: Kernel, page: int) -> None:
    """Model of delete_from_swap_cache(): leave the cache, free the slot's cache reference."""
    entry = int(k.pages.private[page])
    __delete_from_swap_cache(k, page)
    swap_free(k, entry)
    put_page(k, page)


def add_to_swap(k: Kernel, page: int) -> int:
    """Model of add_to_swap(): give an anonymous page a slot and put it in the swap cache.

    The page becomes dirty (its data is not in the slot yet).  Returns 1, or 0 when no slot
    is free.
    """
    entry = get_swap_page(k)
    if not entry:
        return 0
    if add_to_swap_cache(k, page, entry):
        swap_free(k, entry)
        return 0
    k.pages.flags[page] |= F_DIRTY
    return 1


def lookup_swap_cache(k: Kernel, entry: int) -> int:
    """Model of lookup_swap_cache(): the cached page with a reference, or -1."""
    page = k.swapper_space.slot(swp_offset(entry))
    if page >= 0:
        get_page(k, page)
    return page


def read_swap_cache_async(k: Kernel, entry: int, vma, addr: int) -> int:  # type: ignore[no-untyped-def]
    """Model of read_swap_cache_async(): the cached page, or a new one read from the slot.

    The new page is allocated by the vma's policy at ``addr``, added to the swap cache and
    the LRU, and filled from the swap area (the read completes at once).  Returns the page
    with a reference, or -1 when no page could be allocated.
    """
    from pagemig.mm.mempolicy import alloc_page_vma
    from pagemig.mm.page_alloc import GFP_HIGHUSER_MOVABLE
    from pagemig.mm.swap import lru_cache_add_active

    page = lookup_swap_cache(k, entry)
    if page >= 0:
        return page
    new = alloc_page_vma(k, GFP_HIGHUSER_MOVABLE, vma, addr)
    if new is None:
        return -1
    from pagemig.mm.swapfile import swap_duplicate

    swap_duplicate(k, entry)  # the swap cache's reference to the slot
    add_to_swap_cache(k, new, entry)
    swap_readpage(k, new, entry)
    if k.profile.has("split_lru"):
        # Linux 6.1: a swap-backed page, added to the LRU by folio_add_lru() (inactive).
        from pagemig.mm.page_flags import F_SWAPBACKED
        from pagemig.mm.swap import lru_cache_add

        k.pages.flags[new] |= F_SWAPBACKED
        lru_cache_add(k, new)
    else:
        lru_cache_add_active(k, new)
    return new


def swap_readpage(k: Kernel, page: int, entry: int) -> None:
    """Model of swap_readpage(): fill the page from the slot (the read completes at once)."""
    assert k.swap_info is not None
    k.frames.load(page, k.swap_info.data[swp_offset(entry)])
    k.pages.flags[page] |= F_UPTODATE


def swap_writepage(k: Kernel, page: int) -> None:
    """Model of swap_writepage(): start writing a locked swap-cache page to its slot.

    On a synchronous device (zram) the write has completed when this returns; on a disk
    the page stays under writeback until the I/O completes.
    """
    from pagemig.mm.page_writeback import end_io, set_page_writeback

    set_page_writeback(k, page)
    assert k.swap_info is not None
    if k.swap_info.synchronous:
        end_io(k, page)
