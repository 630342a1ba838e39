"""Model of mm/rmap.c (Linux 2.6.27): reverse maps and try_to_unmap() with migration entries.

Anonymous pages point (``mapping``) at an anon_vma, whose list names every vma that may map
them; file pages point at their address_space, whose ``i_mmap`` names the vmas mapping the
file.  try_to_unmap() walks one of these and replaces each pte mapping the page; with
``migration`` set it installs a migration entry and ignores VM_LOCKED and the young bit.

Simplifications: no nonlinear vmas (remap_file_pages() is not modelled, so
``i_mmap_nonlinear`` stays empty and try_to_unmap_cluster() is never reached).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pagemig.mm.filemap import set_page_dirty, vma_prio_tree_foreach
from pagemig.mm.memcontrol import mem_cgroup_uncharge_page
from pagemig.mm.mm_types import (
    PAGE_MAPPING_ANON,
    PAGE_SHIFT,
    AnonVma,
    VmArea,
    anon_mapping,
    mapping_id,
    mapping_is_anon,
)
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_flags import F_ACTIVE, F_ANON_EXCLUSIVE, F_LRU, F_SWAPBACKED, F_SWAPCACHE
from pagemig.mm.swap import put_page
from pagemig.mm.swapops import (
    make_migration_entry,
    pte_dirty,
    pte_pfn,
    pte_present,
    pte_write,
    swp_entry_to_pte,
)

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

SWAP_SUCCESS = 0
SWAP_AGAIN = 1
SWAP_FAIL = 2


# -- anon_vma --

def anon_vma_alloc(k: Kernel) -> AnonVma:
    """Model of anon_vma_alloc()."""
    av = AnonVma(k.next_id("anon_vma"))
    k.anon_vmas[av.id] = av
    return av


def anon_vma_link(k: Kernel, vma: VmArea) -> None:
    """Model of anon_vma_link(): add ``vma`` at the tail of its anon_vma's list."""
    if vma.anon_vma is not None:
        vma.anon_vma.vmas.append(vma)


def anon_vma_unlink(k: Kernel, vma: VmArea) -> None:
    """Model of anon_vma_unlink(): remove ``vma``; an empty anon_vma is freed."""
    av = vma.anon_vma
    if av is None:
        return
    av.vmas.remove(vma)
    if not av.vmas:
        k.anon_vmas.pop(av.id, None)


def _mergeable_neighbour_anon_vma(vma: VmArea) -> AnonVma | None:
    # find_mergeable_anon_vma(): reuse a neighbour's anon_vma when the two vmas could
    # merge but for the anon_vma (same flags and file, contiguous offsets, equal policy).
    mm = vma.vm_mm
    i = mm.vmas.index(vma)
    nbrs = []
    if i + 1 < len(mm.vmas):
        nbrs.append((vma, mm.vmas[i + 1]))
    if i > 0:
        nbrs.append((mm.vmas[i - 1], vma))
    for a, b in nbrs:
        other = b if a is vma else a
        if (other.anon_vma is not None and a.vm_end == b.vm_start
                and a.vm_flags == b.vm_flags and a.vm_file is b.vm_file
                and a.vm_pgoff + a.npages == b.vm_pgoff and a.policy == b.policy):
            return other.anon_vma
    return None


def anon_vma_prepare(k: Kernel, vma: VmArea) -> int:
    """Model of anon_vma_prepare(): give ``vma`` an anon_vma (a neighbour's if mergeable)."""
    if vma.anon_vma is None:
        av = _mergeable_neighbour_anon_vma(vma) or anon_vma_alloc(k)
        vma.anon_vma = av
        av.vmas.append(vma)
    return 0


# -- addresses --

def vma_address(k: Kernel, pfn: int, vma: VmArea) -> int:
    """Model of vma_address(): where ``vma`` would map the page, or -EFAULT."""
    pgoff = k.page_index(pfn) if not k.pages.mapping.item(pfn) & PAGE_MAPPING_ANON \
        else k.pages.index.item(pfn)
    address = vma.vm_start + ((pgoff - vma.vm_pgoff) << PAGE_SHIFT)
    if address < vma.vm_start or address >= vma.vm_end:
        return -errno.EFAULT
    return address


def page_address_in_vma(k: Kernel, pfn: int, vma: VmArea) -> int:
    """Model of page_address_in_vma(): the page's address in ``vma``, or -EFAULT."""
    mapping = k.pages.mapping.item(pfn)
    if mapping & PAGE_MAPPING_ANON:
        if vma.anon_vma is None or vma.anon_vma.id != mapping_id(mapping):
            return -errno.EFAULT
    elif mapping and vma.vm_file is not None:
        if vma.vm_file.handle != mapping:
            return -errno.EFAULT
    else:
        return -errno.EFAULT
    return vma_address(k, pfn, vma)


def linear_page_index(vma: VmArea, address: int) -> int:
    """Model of linear_page_index()."""
    return ((address - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff


# -- adding and removing rmaps --

def __page_set_anon_rmap(k: Kernel, pfn: int, vma: VmArea, address: int) -> None:
    """Model of __page_set_anon_rmap(): point the page at the vma's anon_vma."""
    assert vma.anon_vma is not None
    p = k.pages
    p.mapping[pfn] = anon_mapping(vma.anon_vma.id)
    p.index[pfn] = linear_page_index(vma, address)
    k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_ANON_PAGES] += 1


def page_add_anon_rmap(k: Kernel, pfn: int, vma: VmArea, address: int,
                       exclusive: bool = False) -> None:
    """Model of page_add_anon_rmap(): one more pte maps an anon page (page locked).

    Linux 6.1: ``exclusive`` (RMAP_EXCLUSIVE) sets PG_anon_exclusive.
    """
    mapcount = k.pages.mapcount
    n = mapcount.item(pfn) + 1
    mapcount[pfn] = n
    if n == 1:
        __page_set_anon_rmap(k, pfn, vma, address)
    if exclusive and k.profile.has("anon_exclusive"):
        k.pages.flags[pfn] |= F_ANON_EXCLUSIVE
    _mlock_vma_page(k, pfn, vma)


def page_add_new_anon_rmap(k: Kernel, pfn: int, vma: VmArea, address: int) -> None:
    """Model of page_add_new_anon_rmap(): the first pte of a page just allocated.

    Linux 6.1: the page becomes PG_swapbacked (split_lru) and PG_anon_exclusive.
    """
    k.pages.mapcount[pfn] = 1
    __page_set_anon_rmap(k, pfn, vma, address)
    if k.profile.has("split_lru") and not int(k.pages.flags[pfn]) & F_SWAPBACKED:
        k.pages.flags[pfn] |= F_SWAPBACKED
        if int(k.pages.flags[pfn]) & F_LRU:
            # The model's callers queue the page for the LRU first; 6.1 sets PG_swapbacked
            # before, so a page a full pagevec already put on a file list moves to anon.
            from pagemig.mm.swap import add_page_to_lru, del_page_from_list_keep_active

            del_page_from_list_keep_active(k, pfn)
            add_page_to_lru(k, pfn, bool(int(k.pages.flags[pfn]) & F_ACTIVE))
    if k.profile.has("anon_exclusive"):
        k.pages.flags[pfn] |= F_ANON_EXCLUSIVE
    _mlock_vma_page(k, pfn, vma)


def page_add_file_rmap(k: Kernel, pfn: int, vma: VmArea | None = None) -> None:
    """Model of page_add_file_rmap(): NR_FILE_MAPPED counts the first pte.

    Linux 6.1: a VM_LOCKED ``vma`` mlocks the page.
    """
    mapcount = k.pages.mapcount
    n = mapcount.item(pfn) + 1
    mapcount[pfn] = n
    if n == 1:
        k.zone_stat[k.page_zone(pfn).id, ZoneStat.NR_FILE_MAPPED] += 1
    if vma is not None:
        _mlock_vma_page(k, pfn, vma)


def _mlock_vma_page(k: Kernel, pfn: int, vma: VmArea) -> None:
    # Linux 6.1: the rmap helpers mlock a page mapped in a VM_LOCKED vma.
    if k.profile.has("split_lru"):
        from pagemig.mm.mlock import mlock_vma_page

        mlock_vma_page(k, pfn, vma)


def page_dup_rmap(k: Kernel, pfn: int) -> None:
    """Model of page_dup_rmap(): fork copied a pte.

    Linux 6.1 (page_try_dup_anon_rmap()): an anonymous page shared by fork is no longer
    exclusive.
    """
    k.pages.mapcount[pfn] += 1
    if k.profile.has("anon_exclusive") and mapping_is_anon(int(k.pages.mapping[pfn])):
        k.pages.flags[pfn] &= ~F_ANON_EXCLUSIVE


def page_remove_rmap(k: Kernel, pfn: int, vma: VmArea) -> None:
    """Model of page_remove_rmap(): the last pte gone uncharges a MAPPED page."""
    mapcount = k.pages.mapcount
    left = mapcount.item(pfn) - 1
    mapcount[pfn] = left
    assert left >= 0, f"page_remove_rmap: negative mapcount on pfn {pfn}"
    if k.profile.has("split_lru"):
        from pagemig.mm.mlock import munlock_vma_page

        munlock_vma_page(k, pfn, vma)  # Linux 6.1: a locked vma lets go of the page
    if left == 0:
        mem_cgroup_uncharge_page(k, pfn)
        anon = k.pages.mapping.item(pfn) & PAGE_MAPPING_ANON
        item = ZoneStat.NR_ANON_PAGES if anon else ZoneStat.NR_FILE_MAPPED
        k.zone_stat[k.page_zone(pfn).id, item] -= 1


# -- try_to_unmap --

def page_check_address(k: Kernel, pfn: int, vma: VmArea, address: int) -> bool:
    """Model of page_check_address(): does the pte at ``address`` map this page?"""
    pte = vma.vm_mm.get_pte(address)
    return pte_present(pte) and pte_pfn(pte) == pfn


def try_to_unmap_one(k: Kernel, pfn: int, vma: VmArea, migration: bool) -> int:
    """Model of try_to_unmap_one(): replace one pte of the page.

    Anonymous pages get a migration entry (a swap entry for swap-cache pages, which
    belongs to the swap-cache scope); file pages get a migration entry when ``migration``
    is set and are simply unmapped otherwise.  The pte's dirty bit moves to the page.
    """
    address = vma_address(k, pfn, vma)
    if address < 0 or not page_check_address(k, pfn, vma, address):
        return SWAP_AGAIN
    mm = vma.vm_mm
    pteval = mm.get_pte(address)
    mm.set_pte(address, 0)  # ptep_clear_flush()
    if pte_dirty(pteval):
        set_page_dirty(k, pfn)
    anon = bool(k.pages.mapping.item(pfn) & PAGE_MAPPING_ANON)
    # Linux 6.1: a swap-cache page is unmapped to migration entries like any other page,
    # so it is mapped again after the move (2.6.27 leaves swap entries: quirk Q11).
    swap_entry_for_migration = not k.profile.has("migrate_swapcache_entry")
    if anon and k.pages.flags.item(pfn) & F_SWAPCACHE and (swap_entry_for_migration
                                                           or not migration):
        # A swap-cache page gets its real swap entry, even for migration (SPEC §1.10).
        # Linux 6.1: only when swapping out (try_to_migrate() gives it a migration entry);
        # an exclusive page's swap pte remembers that, and the page stops being exclusive.
        from pagemig.mm.swapfile import swap_duplicate
        from pagemig.mm.swapops import pte_swp_mkexclusive

        entry = int(k.pages.private[pfn])
        swap_duplicate(k, entry)
        mm.anon_rss -= 1
        swp_pte = swp_entry_to_pte(entry)
        # Linux 6.1: the swap pte remembers that the page was exclusive.
        if int(k.pages.flags[pfn]) & F_ANON_EXCLUSIVE and k.profile.has("anon_exclusive"):
            k.pages.flags[pfn] &= ~F_ANON_EXCLUSIVE
            swp_pte = pte_swp_mkexclusive(swp_pte)
        mm.set_pte(address, swp_pte)
        if k.tracing:
            k.trace("mm_swap_unmap", pfn=pfn, mm=mm.id, addr=address)
    elif migration or anon:
        assert migration, "try_to_unmap_one: anon page without swap cache needs migration"
        entry = make_migration_entry(pfn, pte_write(pteval))
        mm.set_pte(address, swp_entry_to_pte(entry))
        if k.tracing:
            k.trace("mm_migrate_unmap", pfn=pfn, mm=mm.id, addr=address,
                    entry="write" if pte_write(pteval) else "read")
    else:
        mm.file_rss -= 1
    page_remove_rmap(k, pfn, vma)
    put_page(k, pfn)
    return SWAP_AGAIN


def try_to_unmap_anon(k: Kernel, pfn: int, migration: bool) -> int:
    """Model of try_to_unmap_anon(): walk the anon_vma's vmas until the page is unmapped."""
    mapping = k.pages.mapping.item(pfn)
    mapcount = k.pages.mapcount
    if mapcount.item(pfn) == 0 or not mapping & PAGE_MAPPING_ANON:
        return SWAP_AGAIN
    av = k.anon_vmas.get(mapping_id(mapping))
    if av is None:
        return SWAP_AGAIN
    index = k.pages.index.item(pfn)  # vma_address()'s pgoff; try_to_unmap_one() keeps it
    for vma in list(av.vmas):
        # A vma that does not cover the page's index is one where try_to_unmap_one() finds
        # no address and does nothing (move_pages(2)'s argument arrays share the caller's
        # anon_vma, for one): pass it over here.
        address = vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT)
        if address < vma.vm_start or address >= vma.vm_end:
            continue
        try_to_unmap_one(k, pfn, vma, migration)
        if mapcount.item(pfn) == 0:
            break
    return SWAP_SUCCESS if mapcount.item(pfn) == 0 else SWAP_AGAIN


def try_to_unmap_file(k: Kernel, pfn: int, migration: bool) -> int:
    """Model of try_to_unmap_file(): walk the i_mmap vmas covering the page's offset."""
    mapping = k.page_mapping(pfn)
    if mapping is None:
        return SWAP_AGAIN
    for vma in vma_prio_tree_foreach_page(k, pfn, mapping):
        try_to_unmap_one(k, pfn, vma, migration)
        if int(k.pages.mapcount[pfn]) == 0:
            break
    return SWAP_SUCCESS if int(k.pages.mapcount[pfn]) == 0 else SWAP_AGAIN


def vma_prio_tree_foreach_page(k: Kernel, pfn: int, mapping) -> list[VmArea]:  # type: ignore[no-untyped-def]
    """The i_mmap vmas that cover the page's file offset."""
    return vma_prio_tree_foreach(mapping, k.page_index(pfn))


def try_to_unmap(k: Kernel, pfn: int, migration: bool) -> int:
    """Model of try_to_unmap(): SWAP_SUCCESS if the page is no longer mapped, else SWAP_AGAIN.

    The page must be locked.
    """
    assert k.PageLocked(pfn), "try_to_unmap on an unlocked page"
    if k.pages.mapping.item(pfn) & PAGE_MAPPING_ANON:
        ret = try_to_unmap_anon(k, pfn, migration)
    else:
        ret = try_to_unmap_file(k, pfn, migration)
    if k.pages.mapcount.item(pfn) == 0:
        ret = SWAP_SUCCESS
    return ret
