"""Model of mm/truncate.c (Linux 2.6.27): dropping clean pages from the page cache.

invalidate_mapping_pages() removes the pages of a range that are clean, unmapped, unlocked
and not under writeback (their buffers must be releasable), as posix_fadvise(DONTNEED) and
drop_caches do.  Dirty, mapped or busy pages stay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagemig.mm.buffer import try_to_release_page
from pagemig.mm.filemap import AddressSpace, trylock_page, unlock_page
from pagemig.mm.memcontrol import mem_cgroup_uncharge_cache_page
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_alloc import GFP_KERNEL
from pagemig.mm.page_flags import F_DIRTY, F_PRIVATE, F_WRITEBACK
from pagemig.mm.swap import get_page, put_page

if TYPE_CHECKING:
    from pagemig.kernel import Kernel


def __remove_from_page_cache(k: Kernel, page: int, mapping: AddressSpace) -> None:
    """Model of remove_from_page_cache(): empty the slot, uncharge, drop the cache reference."""
    index = int(k.pages.index[page])
    mapping.page_tree[index] = -1
    mapping.tag_dirty[index] = False
    mapping.nrpages -= 1
    k.pages.mapping[page] = 0
    k.zone_stat[k.page_zone(page).id, ZoneStat.NR_FILE_PAGES] -= 1
    mem_cgroup_uncharge_cache_page(k, page)
    put_page(k, page)


def invalidate_complete_page(k: Kernel, mapping: AddressSpace, page: int) -> int:
    """Model of invalidate_complete_page(): 1 if the (locked) page left the cache."""
    if int(k.pages.flags[page]) & F_PRIVATE and not try_to_release_page(k, page, GFP_KERNEL):
        return 0
    if int(k.pages.flags[page]) & F_DIRTY:
        return 0
    __remove_from_page_cache(k, page, mapping)
    return 1


def invalidate_mapping_pages(k: Kernel, mapping: AddressSpace, start: int, end: int) -> int:
    """Model of invalidate_mapping_pages(): drop the clean, unmapped, idle pages of a range."""
    done = 0
    for index in range(start, min(end, len(mapping.page_tree) - 1) + 1):
        page = mapping.slot(index)
        if page < 0 or not trylock_page(k, page):
            continue
        get_page(k, page)  # the lookup's reference (pagevec_lookup())
        flags = int(k.pages.flags[page])
        if not flags & (F_DIRTY | F_WRITEBACK) and int(k.pages.mapcount[page]) == 0:
            done += invalidate_complete_page(k, mapping, page)
        unlock_page(k, page)
        put_page(k, page)
    return done
