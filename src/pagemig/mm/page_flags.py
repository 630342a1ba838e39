"""Model of include/linux/page-flags.h (Linux 2.6.27).

Page flags are bits of the ``flags`` column of :class:`pagemig.mm.mm_types.PageArrays`.
Bit numbers follow 2.6.27's ``enum pageflags`` with CONFIG_PAGEFLAGS_EXTENDED (x86_64).
There is no PG_anon: a page is anonymous when its ``mapping`` has the PAGE_MAPPING_ANON bit.

Linux 6.1: the flags that came later take the model's bits after PG_buddy (their numbers in
6.1 differ, and only /proc/kpageflags shows them, through its own KPF numbers):
PG_swapbacked and PG_unevictable (2.6.28, split LRU), PG_mlocked (2.6.28).  6.1's
PG_anon_exclusive is PG_mappedtodisk on an anonymous page, as in 6.1 itself.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pagemig.mm.mm_types import PageArrays


class PG(IntEnum):
    """The page flag bits of 2.6.27 (``enum pageflags``)."""

    PG_locked = 0
    PG_error = 1
    PG_referenced = 2
    PG_uptodate = 3
    PG_dirty = 4
    PG_lru = 5
    PG_active = 6
    PG_slab = 7
    PG_owner_priv_1 = 8  # PG_checked for page-cache pages
    PG_arch_1 = 9
    PG_reserved = 10
    PG_private = 11
    PG_writeback = 12
    PG_head = 13
    PG_tail = 14
    PG_swapcache = 15
    PG_mappedtodisk = 16
    PG_reclaim = 17
    PG_buddy = 18
    # Linux 6.1 (split_lru): not in 2.6.27; only set when the profile has the feature.
    PG_swapbacked = 19
    PG_unevictable = 20
    PG_mlocked = 21


PG_checked = PG.PG_owner_priv_1

# Bit masks, so that hot paths test ``flags & F_LRU`` without an enum lookup.
F_LOCKED = 1 << PG.PG_locked
F_ERROR = 1 << PG.PG_error
F_REFERENCED = 1 << PG.PG_referenced
F_UPTODATE = 1 << PG.PG_uptodate
F_DIRTY = 1 << PG.PG_dirty
F_LRU = 1 << PG.PG_lru
F_ACTIVE = 1 << PG.PG_active
F_SLAB = 1 << PG.PG_slab
F_CHECKED = 1 << PG.PG_owner_priv_1
F_RESERVED = 1 << PG.PG_reserved
F_PRIVATE = 1 << PG.PG_private
F_WRITEBACK = 1 << PG.PG_writeback
F_SWAPCACHE = 1 << PG.PG_swapcache
F_MAPPEDTODISK = 1 << PG.PG_mappedtodisk
F_RECLAIM = 1 << PG.PG_reclaim
F_BUDDY = 1 << PG.PG_buddy
F_SWAPBACKED = 1 << PG.PG_swapbacked
F_UNEVICTABLE = 1 << PG.PG_unevictable
F_MLOCKED = 1 << PG.PG_mlocked
# Linux 6.1: PG_anon_exclusive (5.19) shares its bit with PG_mappedtodisk, which an
# anonymous page never uses otherwise.
F_ANON_EXCLUSIVE = F_MAPPEDTODISK
# PG_readahead is PG_reclaim on a page-cache page that is not under writeback (2.6.27 too).
F_READAHEAD = F_RECLAIM


def _test(pages: PageArrays, pfn: int, mask: int) -> bool:
    return bool(int(pages.flags[pfn]) & mask)


def _set(pages: PageArrays, pfn: int, mask: int) -> None:
    pages.flags[pfn] |= mask


def _clear(pages: PageArrays, pfn: int, mask: int) -> None:
    pages.flags[pfn] &= ~mask


def PageLocked(pages: PageArrays, pfn: int) -> bool:
    """Model of PageLocked()."""
    return _test(pages, pfn, F_LOCKED)


def PageLRU(pages: PageArrays, pfn: int) -> bool:
    """Model of PageLRU()."""
    return _test(pages, pfn, F_LRU)


def PageActive(pages: PageArrays, pfn: int) -> bool:
    """Model of PageActive()."""
    return _test(pages, pfn, F_ACTIVE)


def PageDirty(pages: PageArrays, pfn: int) -> bool:
    """Model of PageDirty()."""
    return _test(pages, pfn, F_DIRTY)


def PageWriteback(pages: PageArrays, pfn: int) -> bool:
    """Model of PageWriteback()."""
    return _test(pages, pfn, F_WRITEBACK)


def PagePrivate(pages: PageArrays, pfn: int) -> bool:
    """Model of PagePrivate() (and page_has_buffers(), which is the same test in 2.6.27)."""
    return _test(pages, pfn, F_PRIVATE)


def PageSwapCache(pages: PageArrays, pfn: int) -> bool:
    """Model of PageSwapCache()."""
    return _test(pages, pfn, F_SWAPCACHE)


def PageReserved(pages: PageArrays, pfn: int) -> bool:
    """Model of PageReserved()."""
    return _test(pages, pfn, F_RESERVED)


def SetPageFlag(pages: PageArrays, pfn: int, mask: int) -> None:
    """Set the flag bits in ``mask`` (the SetPageX() family)."""
    _set(pages, pfn, mask)


def ClearPageFlag(pages: PageArrays, pfn: int, mask: int) -> None:
    """Clear the flag bits in ``mask`` (the ClearPageX() family)."""
    _clear(pages, pfn, mask)


def decode_page_flags(flags: int) -> str:
    """Render a flags word as ``PG_lru|PG_active``, with unknown bits in hex."""
    names = [bit.name for bit in PG if flags & (1 << bit)]
    rest = flags & ~sum(1 << bit for bit in PG)
    if rest:
        names.append(hex(rest))
    return "|".join(names) if names else "0"
