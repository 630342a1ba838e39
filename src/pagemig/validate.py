"""Invariant checks of the model (SPEC §5), recomputed from the references that exist.

:func:`validate` recomputes, independently of the engine's own bookkeeping, what every
page's reference count, mapcount, list membership, counters and charge must be, from the
page tables, page-cache slots, pagevecs, pins and boot-time kernel pages, and compares.
It raises :class:`InvariantError` listing every violation.  It is meant for quiescent
points (between system calls): no migration in progress, so no page may sit on a private
list (except pages quirk Q7 leaked) or be locked, and no migration entry may remain.

Checked: §5.1 no page lost (free, on an LRU list or pagevec, a kernel page, or leaked),
§5.2 one list at a time, §5.3 counters, §5.4 reference balance, §5.5 mapcounts,
§5.6 one cache owner, §5.7 no migration entry left, §5.9 no writable pte in a vma without
VM_WRITE, §5.10 flag hygiene of free and cached pages and buffer rings, §5.11 memcg records
(every cgroup, usage within the limit), §5.12 swap slot counts, §5.13 no page left locked;
and the reverse maps: every pte is found by an rmap walk.
Not here: §5.8 (contents: the scenario ``verify`` checks them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.mm_types import (
    LRU_ACTIVE,
    LRU_ACTIVE_FILE,
    LRU_INACTIVE,
    LRU_INACTIVE_FILE,
    LRU_NONE,
    LRU_PAGEVEC,
    LRU_PRIVATE,
    LRU_UNEVICTABLE,
    MEMCG_KIND_CACHE,
    VM_EXEC,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    ZONE_LRU_LISTS,
    mapping_id,
    mapping_is_anon,
)
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_flags import (
    F_ACTIVE,
    F_DIRTY,
    F_LOCKED,
    F_LRU,
    F_MLOCKED,
    F_PRIVATE,
    F_RESERVED,
    F_SWAPBACKED,
    F_SWAPCACHE,
    F_UNEVICTABLE,
    F_WRITEBACK,
)
from pagemig.mm.swapops import (
    _PAGE_PRESENT,
    _PAGE_SPECIAL,
    PTE_PFN_MASK,
    is_migration_entry,
    is_swap_pte,
    pte_present,
    pte_to_swp_entry,
    pte_write,
)

if TYPE_CHECKING:
    from pagemig.kernel import Kernel

MAX_REPORTED = 20


class InvariantError(AssertionError):
    """One or more invariants of the model do not hold."""


class _Facts:
    """What the references that exist say about every page, recomputed from scratch."""

    def __init__(self, k: Kernel) -> None:
        n = k.pages.nr_pages
        self.free = np.zeros(n, bool)
        self.free_dups: list[int] = []
        self.free_misplaced: list[tuple[int, int]] = []
        for zone in k.zones:
            stack = zone.free_stack[: zone.free_top].astype(np.int64)
            outside = (stack < zone.start_pfn) | (stack >= zone.end_pfn)
            self.free_misplaced += [(int(pfn), zone.id) for pfn in stack[outside]]
            stack = stack[~outside]
            counts = np.bincount(stack, minlength=n)
            self.free_dups += np.flatnonzero(counts > 1).tolist()
            self.free[stack] = True
        self.ptes = np.zeros(n, np.int64)
        self.bad_pfn_ptes: list[tuple[int, int]] = []
        self.pte_list: list[tuple[object, int, int]] = []  # (mm, addr, pte) of present ptes
        self.migration_ptes: list[tuple[int, int]] = []
        self.swap_ptes: list[tuple[int, int, int]] = []
        for mm in _all_mms(k):
            for key, table in mm.pgtables.items():
                present = (table & np.uint64(0x101)) != 0
                normal = present & ((table & np.uint64(_PAGE_SPECIAL)) == 0)
                pfns = ((table[normal] & np.uint64(PTE_PFN_MASK)) >> np.uint64(12)).astype(np.int64)
                if len(pfns) and int(pfns.max()) >= n:
                    self.bad_pfn_ptes += [(mm.id, int(pfn)) for pfn in pfns[pfns >= n]]
                    pfns = pfns[pfns < n]
                self.ptes += np.bincount(pfns, minlength=n)
                for i in np.flatnonzero(table).tolist():
                    pte = int(table[i])
                    addr = (key << 21) | (i << 12)
                    if pte_present(pte):
                        self.pte_list.append((mm, addr, pte))
                    elif is_swap_pte(pte):
                        entry = pte_to_swp_entry(pte)
                        if is_migration_entry(entry):
                            self.migration_ptes.append((mm.id, addr))
                        else:
                            self.swap_ptes.append((mm.id, addr, entry))
        self.slots = np.zeros(n, np.int64)
        self.slot_owner: dict[int, tuple[int, int]] = {}
        self.slot_dups: list[int] = []
        for space in k.address_spaces.values():
            idx = np.flatnonzero(space.page_tree >= 0)
            for i in idx.tolist():
                pfn = int(space.page_tree[i])
                if pfn in self.slot_owner:
                    self.slot_dups.append(pfn)
                self.slot_owner[pfn] = (space.id, i)
                self.slots[pfn] += 1
        self.accounted = np.zeros(n, bool)  # in the cache of a mapping that accounts dirty
        for space in k.address_spaces.values():
            if space.mapping_cap_account_dirty():
                held = space.page_tree[space.page_tree >= 0]
                self.accounted[held] = True
        self.pvec = np.zeros(n, np.int64)
        for cpu in range(k.nr_cpus):
            for which in range(2):
                m = int(k.pvec_len[cpu, which])
                np.add.at(self.pvec, k.pvecs[cpu, which, :m], 1)
        self.pins = np.zeros(n, np.int64)
        for pfn, c in k.pinned.items():
            self.pins[pfn] += c
        self.leaked = np.zeros(n, np.int64)
        for pfn in k.leaked_isolated:
            self.leaked[pfn] += 1
        self.kernel = np.zeros(n, np.int64)
        self.kernel[(k.pages.flags & F_RESERVED) != 0] = 1
        for pfn in k.vdso_pages:
            self.kernel[pfn] += 1
        for pool in k.hugetlb_pool.values():  # Linux 6.1: the huge pages of a node's pool
            for frames in pool:
                self.kernel[frames] += 1


def _all_mms(k: Kernel) -> list:  # type: ignore[type-arg]
    seen = {}
    for task in k.tasks.values():
        if task.mm is not None:
            seen[id(task.mm)] = task.mm
    return list(seen.values())


def check_no_page_lost(k: Kernel, f: _Facts) -> list[str]:
    """§5.1: every frame is free, on an LRU list or pagevec, a kernel page, or leaked (Q7)."""
    p = k.pages
    errs = [f"free stack holds pfn {pfn} twice" for pfn in f.free_dups]
    errs += [f"free stack of zone {zone_id} holds pfn {pfn} of another zone"
             for pfn, zone_id in f.free_misplaced]
    for pfn in np.flatnonzero(f.free & ((p.count != 0) | (p.mapping != 0) | (p.mapcount != 0)
                                        | (p.lru != LRU_NONE) | (p.flags != 0)
                                        | (p.memcg != 0))).tolist():
        errs.append(f"free page {pfn} is not clean: {k.describe_page(pfn)}")
    allocated = ~f.free
    zero_count = np.flatnonzero(allocated & (p.count <= 0))
    errs += [f"page {pfn} is neither free nor referenced: {k.describe_page(pfn)}"
             for pfn in zero_count.tolist()]
    user = allocated & (f.kernel == 0) & (p.count > 0)
    homeless = user & ~np.isin(p.lru, [*_zone_lists(k), LRU_PAGEVEC]) & (f.leaked == 0)
    errs += [f"page {pfn} is recorded as leaked by mbind but is not isolated"
             for pfn in np.flatnonzero((f.leaked > 0) & (p.lru != LRU_PRIVATE)).tolist()]
    errs += [f"page {pfn} is on no LRU list, pagevec or leak record: {k.describe_page(pfn)}"
             for pfn in np.flatnonzero(homeless).tolist()]
    return errs


def _zone_lists(k: Kernel) -> list[int]:
    # The lru column values that are zone lists in this profile (2.6.27: two; 6.1: five).
    if k.profile.has("split_lru"):
        return list(ZONE_LRU_LISTS)
    return [LRU_INACTIVE, LRU_ACTIVE]


def check_one_list(k: Kernel, f: _Facts) -> list[str]:
    """§5.2: PG_lru exactly on a zone list; PG_active matches the list; pagevecs consistent."""
    p = k.pages
    errs = []
    lists = _zone_lists(k)
    on_list = np.isin(p.lru, lists)
    has_lru = (p.flags & F_LRU) != 0
    errs += [f"page {pfn}: PG_lru disagrees with its list: {k.describe_page(pfn)}"
             for pfn in np.flatnonzero(on_list != has_lru).tolist()]
    active = (p.flags & F_ACTIVE) != 0
    bad_active = on_list & (active != np.isin(p.lru, [LRU_ACTIVE, LRU_ACTIVE_FILE]))
    errs += [f"page {pfn}: PG_active disagrees with its list: {k.describe_page(pfn)}"
             for pfn in np.flatnonzero(bad_active).tolist()]
    if k.profile.has("split_lru"):
        # Linux 6.1: PG_unevictable exactly on the unevictable list; PG_swapbacked pages on
        # the anon lists, the others on the file lists.
        unevictable = (p.flags & F_UNEVICTABLE) != 0
        bad = on_list & (unevictable != (p.lru == LRU_UNEVICTABLE))
        errs += [f"page {pfn}: PG_unevictable disagrees with its list: {k.describe_page(pfn)}"
                 for pfn in np.flatnonzero(bad).tolist()]
        anon_list = np.isin(p.lru, [LRU_INACTIVE, LRU_ACTIVE])
        file_list = np.isin(p.lru, [LRU_INACTIVE_FILE, LRU_ACTIVE_FILE])
        backed = (p.flags & F_SWAPBACKED) != 0
        bad = (anon_list & ~backed) | (file_list & backed)
        errs += [f"page {pfn}: PG_swapbacked disagrees with its list: {k.describe_page(pfn)}"
                 for pfn in np.flatnonzero(bad).tolist()]
    in_pvec = f.pvec > 0
    errs += [f"page {pfn} is in {int(f.pvec[pfn])} pagevec slots" for pfn in
             np.flatnonzero(f.pvec > 1).tolist()]
    errs += [f"page {pfn}: lru column disagrees with pagevec membership: {k.describe_page(pfn)}"
             for pfn in np.flatnonzero(in_pvec != (p.lru == LRU_PAGEVEC)).tolist()]
    errs += [f"page {pfn} in an add-pagevec has PG_active set" for pfn in
             np.flatnonzero(in_pvec & active).tolist()]
    private = p.lru == LRU_PRIVATE
    errs += [f"page {pfn} is still on a private list (isolated) outside a migration"
             for pfn in np.flatnonzero(private & (f.leaked == 0)).tolist()]
    return errs


def check_counters(k: Kernel, f: _Facts) -> list[str]:
    """§5.3: zone counters equal what they count; totalram_pages counts the frames that are
    not reserved."""
    p = k.pages
    errs = []
    mapped = p.mapcount > 0
    anon = (p.mapping & 1) == 1
    for zone in k.zones:
        s = slice(zone.start_pfn, zone.end_pfn)
        expect = {
            ZoneStat.NR_FREE_PAGES: zone.free_top,
            ZoneStat.NR_ACTIVE: int(np.count_nonzero(p.lru[s] == LRU_ACTIVE)),
            ZoneStat.NR_INACTIVE: int(np.count_nonzero(p.lru[s] == LRU_INACTIVE)),
            ZoneStat.NR_ACTIVE_FILE: int(np.count_nonzero(p.lru[s] == LRU_ACTIVE_FILE)),
            ZoneStat.NR_INACTIVE_FILE: int(np.count_nonzero(p.lru[s] == LRU_INACTIVE_FILE)),
            ZoneStat.NR_UNEVICTABLE: int(np.count_nonzero(p.lru[s] == LRU_UNEVICTABLE)),
            ZoneStat.NR_MLOCK: int(np.count_nonzero(p.flags[s] & F_MLOCKED)),
            ZoneStat.NR_FILE_PAGES: int(f.slots[s].sum()),
            ZoneStat.NR_ANON_PAGES: int(np.count_nonzero(mapped[s] & anon[s])),
            ZoneStat.NR_FILE_MAPPED: int(np.count_nonzero(mapped[s] & ~anon[s])),
            ZoneStat.NR_WRITEBACK: int(np.count_nonzero(p.flags[s] & F_WRITEBACK)),
            ZoneStat.NR_FILE_DIRTY: int(np.count_nonzero(
                f.accounted[s] & ((p.flags[s] & F_DIRTY) != 0))),
        }
        for item, value in expect.items():
            have = int(k.zone_stat[zone.id, item])
            if have != value:
                errs.append(f"zone {zone.nid}/{zone.name}: {item.name} is {have}, counts {value}")
    unreserved = int(p.nr_pages - np.count_nonzero(p.flags & F_RESERVED))
    if k.totalram_pages() != unreserved:
        errs.append(f"totalram_pages is {k.totalram_pages()}, but {unreserved} frames are "
                    f"not reserved")
    return errs


def check_references(k: Kernel, f: _Facts) -> list[str]:
    """§5.4, §5.5: count = ptes + cache slot + buffers + pagevecs + pins + kernel + leaks."""
    p = k.pages
    private = ((p.flags & F_PRIVATE) != 0).astype(np.int64)
    expect = f.ptes + f.slots + private + f.pvec + f.pins + f.kernel + f.leaked
    live = ~f.free
    errs = [f"page {pfn}: count {int(p.count[pfn])} but {int(expect[pfn])} references exist "
            f"(ptes {int(f.ptes[pfn])}, slot {int(f.slots[pfn])}, pagevec {int(f.pvec[pfn])}, "
            f"pins {int(f.pins[pfn])})"
            for pfn in np.flatnonzero(live & (p.count != expect)).tolist()]
    errs += [f"page {pfn}: mapcount {int(p.mapcount[pfn])} but {int(f.ptes[pfn])} ptes map it"
             for pfn in np.flatnonzero(live & (p.mapcount != f.ptes)).tolist()]
    return errs


def check_cache(k: Kernel, f: _Facts) -> list[str]:
    """§5.6: a page is in at most one slot, and its mapping and index name that slot."""
    errs = [f"page {pfn} is in two cache slots" for pfn in f.slot_dups]
    p = k.pages
    filed = ~f.free & (p.mapping != 0) & ((p.mapping & 1) == 0)
    errs += [f"page {pfn} names a cache slot that does not hold it: {k.describe_page(pfn)}"
             for pfn in np.flatnonzero(filed & (f.slots == 0)).tolist()]
    for pfn, (space_id, index) in f.slot_owner.items():
        mapping = int(k.pages.mapping[pfn])
        if space_id == k.swapper_space.id:
            # A swap-cache page: PG_swapcache, private = the entry (= the offset of type 0).
            bad = not int(k.pages.flags[pfn]) & F_SWAPCACHE or int(k.pages.private[pfn]) != index
        else:
            bad = mapping_is_anon(mapping) or mapping_id(mapping) != space_id or \
                k.page_index(pfn) != index
        if bad:
            errs.append(f"page {pfn} in slot {space_id}:{index} points elsewhere: "
                        f"{k.describe_page(pfn)}")
    return errs


def check_ptes(k: Kernel, f: _Facts) -> list[str]:
    """§5.7, §5.9 and the reverse maps: no migration entry left; every pte is in a vma that
    allows it and is found by the rmap walk of its page."""
    from pagemig.mm.filemap import vma_prio_tree_foreach
    from pagemig.mm.rmap import vma_address

    errs = [f"migration entry left in mm {mm_id} at {addr:#x}" for mm_id, addr in
            f.migration_ptes]
    errs += [f"pte of mm {mm_id} maps pfn {pfn}, beyond the machine's memory"
             for mm_id, pfn in f.bad_pfn_ptes]
    for mm, addr, pte in f.pte_list:
        vma = mm.vma_containing(addr)  # type: ignore[attr-defined]
        if vma is None:
            errs.append(f"pte at {addr:#x} of mm {mm.id} lies in no vma")  # type: ignore[attr-defined]
            continue
        if pte_write(pte) and not vma.vm_flags & VM_WRITE:
            errs.append(f"writable pte at {addr:#x} in a vma without VM_WRITE")
        if pte & _PAGE_PRESENT and not vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC):
            errs.append(f"accessible pte at {addr:#x} in a PROT_NONE vma")
        if pte & _PAGE_SPECIAL:
            continue
        pfn = (pte & PTE_PFN_MASK) >> 12
        if pfn >= k.pages.nr_pages:
            continue
        mapping = int(k.pages.mapping[pfn])
        if (pte_write(pte) and mapping_is_anon(mapping) and not vma.vm_flags & VM_SHARED
                and int(k.pages.mapcount[pfn]) > 1):
            errs.append(f"writable pte at {addr:#x} to page {pfn} shared copy-on-write")
        if mapping_is_anon(mapping):
            found = vma.anon_vma is not None and vma.anon_vma.id == mapping_id(mapping) \
                and vma in vma.anon_vma.vmas and vma_address(k, pfn, vma) == addr
        elif mapping:
            space = k.page_mapping(pfn)
            found = space is not None and vma in vma_prio_tree_foreach(space, k.page_index(pfn)) \
                and vma_address(k, pfn, vma) == addr
        else:
            found = vma.vm_ops is not None and vma.vm_ops.fault == "special"
        if not found:
            errs.append(f"pte at {addr:#x} of mm {mm.id} maps page {pfn} "  # type: ignore[attr-defined]
                        f"but its rmap walk would miss it: {k.describe_page(pfn)}")
    return errs


def check_memcg(k: Kernel, f: _Facts) -> list[str]:
    """§5.11: one record per page at most; mapped anon pages MAPPED (but those
    remove_migration_pte() mapped after its charge failed), cached pages CACHE; the root
    cgroup's usage counts its records."""
    p = k.pages
    errs = []
    has = p.memcg != 0
    kind_cache = (p.memcg & 1) == MEMCG_KIND_CACHE
    anon_mapped = ((p.mapping & 1) == 1) & (p.mapcount > 0)
    excused = np.zeros(len(anon_mapped), np.bool_)  # remapped after a failed charge
    excused[list(k.memcg_uncharged_remaps)] = True
    cached = (f.slots > 0) & ((p.flags & F_SWAPCACHE) == 0)  # the swap cache is not charged
    errs += [f"mapped anon page {pfn} has no MAPPED charge: {k.describe_page(pfn)}"
             for pfn in np.flatnonzero(anon_mapped & ~(has & ~kind_cache) & ~cached
                                       & ~excused).tolist()]
    errs += [f"cached page {pfn} has no CACHE charge: {k.describe_page(pfn)}"
             for pfn in np.flatnonzero(cached & ~(has & kind_cache)).tolist()]
    stray = has & ~anon_mapped & ~cached
    errs += [f"page {pfn} carries a charge nothing explains: {k.describe_page(pfn)}"
             for pfn in np.flatnonzero(stray).tolist()]
    unknown = has & ~np.isin(p.memcg >> 1, list(k.memcgs))
    errs += [f"page {pfn} is charged to a memory cgroup that does not exist"
             for pfn in np.flatnonzero(unknown).tolist()]
    for cg in k.memcgs.values():
        records = int(np.count_nonzero(has & ((p.memcg >> 1) == cg.id)))
        if records != cg.usage:
            errs.append(f"memcg {cg.id}: usage {cg.usage} but {records} pages are charged")
        if cg.usage > cg.limit:
            errs.append(f"memcg {cg.id}: usage {cg.usage} above its limit {cg.limit}")
        if cg.max_usage < cg.usage:
            errs.append(f"memcg {cg.id}: max_usage {cg.max_usage} below usage {cg.usage}")
    return errs


def check_swap(k: Kernel, f: _Facts) -> list[str]:
    """§5.12: each slot's count is the swap ptes holding its entry plus one if the swap
    cache holds a page for it; PG_swapcache pages are exactly the swap cache's."""
    from pagemig.mm.swapops import swp_offset

    p = k.pages
    errs = []
    in_swapper = np.zeros(p.nr_pages, bool)
    held = k.swapper_space.page_tree
    in_swapper[held[held >= 0]] = True
    flagged = (p.flags & F_SWAPCACHE) != 0
    errs += [f"page {pfn}: PG_swapcache disagrees with the swap cache: {k.describe_page(pfn)}"
             for pfn in np.flatnonzero(flagged != in_swapper).tolist()]
    si = k.swap_info
    if si is None:
        return errs + [f"swap pte of mm {mm_id} at {addr:#x} without a swap area"
                       for mm_id, addr, _ in f.swap_ptes]
    expect = np.zeros(si.pages, np.int64)
    for _, _, entry in f.swap_ptes:
        expect[swp_offset(entry)] += 1
    cached = held[: si.pages] >= 0
    expect[: len(cached)] += cached
    errs += [f"swap slot {off}: count {int(si.swap_map[off])} but {int(expect[off])} "
             "references exist" for off in np.flatnonzero(si.swap_map != expect).tolist()]
    return errs


def check_buffers(k: Kernel, f: _Facts) -> list[str]:
    """§1.7, §5.10: PG_private pages own a ring whose buffers all point at them; at rest no
    buffer is referenced, and only buffers of a page under writeback are locked; every
    page under writeback is in flight."""
    from pagemig.mm.buffer import BH_Lock

    p, bh = k.pages, k.bh
    errs = []
    owned = np.zeros(bh.capacity, bool)
    for page in np.flatnonzero((p.flags & F_PRIVATE) != 0).tolist():
        head = int(p.private[page])
        if not 0 < head < bh.capacity or int(bh.b_page[head]) != page:
            errs.append(f"page {page} has PG_private but no buffer ring of its own")
            continue
        for b in bh.ring(head):
            owned[b] = True
            if int(bh.b_page[b]) != page:
                errs.append(f"buffer {b} of page {page}'s ring points at page {int(bh.b_page[b])}")
    live = bh.live_ids()
    errs += [f"buffer {b} (page {int(bh.b_page[b])}) belongs to no page's ring"
             for b in live.tolist() if not owned[b]]
    errs += [f"buffer {b} is still referenced at rest" for b in live.tolist()
             if int(bh.b_count[b])]
    for b in live.tolist():
        page = int(bh.b_page[b])
        if int(bh.b_state[b]) & BH_Lock and not int(p.flags[page]) & F_WRITEBACK:
            errs.append(f"buffer {b} of page {page} is locked with no I/O in flight")
    inflight = set(k.writeback_inflight)
    errs += [f"page {pfn} is under writeback with no I/O in flight" for pfn in
             np.flatnonzero((p.flags & F_WRITEBACK) != 0).tolist() if pfn not in inflight]
    return errs


def check_locks(k: Kernel, f: _Facts) -> list[str]:
    """§5.13 at rest: no page is left locked."""
    return [f"page {pfn} is left locked: {k.describe_page(pfn)}"
            for pfn in np.flatnonzero((k.pages.flags & F_LOCKED) != 0).tolist()]


CHECKS = (check_no_page_lost, check_one_list, check_counters, check_references, check_cache,
          check_ptes, check_memcg, check_swap, check_buffers, check_locks)


def validate(k: Kernel) -> None:
    """Check every invariant; raise InvariantError naming the violations."""
    facts = _Facts(k)
    errs: list[str] = []
    for check in CHECKS:
        errs += check(k, facts)
    if errs:
        more = f"\n... and {len(errs) - MAX_REPORTED} more" if len(errs) > MAX_REPORTED else ""
        raise InvariantError("\n".join(errs[:MAX_REPORTED]) + more)


__all__ = ["CHECKS", "InvariantError", "validate"]
