"""The array form of the migration of mm/migrate.c: move_pages(2) done on arrays of pages.

Linux batches migration since 6.3: migrate_pages_batch() isolates all the pages of a list,
unmaps all of them, moves all of them and remaps all of them, instead of taking each page
through unmap_and_move() in turn.  This module does the same work for a whole move_pages(2)
call with numpy operations on the page columns: the ptes of every entry are looked up at
once, the pages isolated, new frames taken as slices of the zones' free stacks, the
contents copied (runs of frames as slices), the new ptes written, and the bookkeeping
whose result depends on the order of the per-page path (the per-CPU pagevecs and their
drains, the LRU order stamps, the pages freed by a drain) computed from that order.

Both profiles: 2.6.27's do_move_pages() (migrate_prep() drains the pagevecs, then every
page goes old page then new page into the current CPU's add-pagevecs, 14 to a drain, and
the old pages a drain reaches are freed; the rest wait in the pagevec) and Linux 6.1's
do_pages_move() (lru_cache_disable(), as in its migrate_pages(2) and mbind(): every
page reaches its list at once and each old page is freed as it is added; the runs of
entries with the same node, which 6.1 migrates one after another, are one migration here,
which changes nothing when every page moves; pgmigrate_success counts the pages).

It is a module of its own because mm/migrate.py keeps the seed's functions, one per
function of 2.6.27's mm/migrate.c, in the seed's order; this is not one of them.  The
per-page path there is the reference: the batch path must leave the machine as the
reference would (the same return value, statuses, counters, node, contents, flags,
mapcounts and LRU membership of every page; frame numbers may differ).

A call takes this whole-call path only when every entry is simple or isolates nothing
(see :func:`plan_batch`).  With such entries every page that moves succeeds in the first
pass of migrate_pages(), so no -EAGAIN, no -ENOMEM and no fallback can happen in the
middle.  Any other call goes to the per-page functions, which move the runs of simple
pages of its list on arrays (mm/migrate_runs.py, built on this module's pieces).

Which path runs is ``k.migrate_path``: "reference" (always per page), "batch" (on arrays
wherever the pages are simple) or "auto" (the same for calls of at least BATCH_MIN_PAGES
entries).  ``k.move_pages_path`` says how the last call's pages moved ("batch", "mixed",
"reference").

migrate_pages(2) uses the same plan and migration for each (source, destination) pair of
do_migrate_pages() (:func:`migrate_to_node_batch`): the pages check_range() would queue
from the source node, in its order, when every one is simple.

Simplifications: the batch path does not emit the per-page trace events, so it is never
taken while tracing is on; the frames a zone gives are the ones the per-page path would
take (the top of its free stack) but are handed out in ascending order.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.memcontrol import ROOT_MEM_CGROUP
from pagemig.mm.mempolicy import MAX_NUMNODES, vma_migratable
from pagemig.mm.migrate import _COPIED_FLAGS  # the flags migrate_page_copy() moves
from pagemig.mm.mm_types import (
    LRU_ACTIVE,
    LRU_INACTIVE,
    LRU_NONE,
    LRU_PAGEVEC,
    LRU_PRIVATE,
    PAGE_SHIFT,
    PMD_SHIFT,
    PTRS_PER_PTE,
    VM_HUGETLB,
    VM_IO,
    VM_LOCKED,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VM_RESERVED,
    VM_SHARED,
)
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_flags import (
    F_ACTIVE,
    F_BUDDY,
    F_DIRTY,
    F_LOCKED,
    F_LRU,
    F_MLOCKED,
    F_PRIVATE,
    F_RECLAIM,
    F_RESERVED,
    F_SLAB,
    F_SWAPBACKED,
    F_SWAPCACHE,
    F_UNEVICTABLE,
    F_WRITEBACK,
)
from pagemig.mm.swap import PAGEVEC_SIZE, PVEC_ACTIVE, PVEC_INACTIVE
from pagemig.mm.swapops import (
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_PRESENT,
    _PAGE_PROTNONE,
    _PAGE_RW,
    _PAGE_SPECIAL,
    PTE_PFN_MASK,
)

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mempolicy import Mempolicy
    from pagemig.mm.migrate import PageToNode
    from pagemig.mm.mm_types import MmStruct, VmArea

PATHS = ("auto", "reference", "batch")
BATCH_MIN_PAGES = 64
"""Calls with fewer entries take the per-page path under "auto"."""

MAX_BATCH_PAGES = 1 << 26

_SEQ_LIMIT = (1 << 32) - 1  # as mm/swap.py: the stamps are renumbered past it

# A page with any of these is not simple (it may be busy, or not a plain anonymous page).
_NOT_SIMPLE = (F_LOCKED | F_WRITEBACK | F_SWAPCACHE | F_PRIVATE | F_RESERVED | F_MLOCKED
               | F_UNEVICTABLE | F_SLAB | F_BUDDY)
_BAD_VMA = VM_SHARED | VM_LOCKED | VM_IO | VM_HUGETLB | VM_PFNMAP | VM_RESERVED | VM_MIXEDMAP



def batch_allowed(k: Kernel) -> bool:
    """Whether any call may take a batch path: the path chosen is not "reference" and
    nothing records the per-page trace events."""
    return k.migrate_path != "reference" and k.trace_log is None and k.trace_sink is None


def batch_wanted(k: Kernel, n: int) -> bool:
    """Whether a call of ``n`` entries may take the batch path (the path chosen, no tracing)."""
    if not batch_allowed(k) or n <= 0 or n > MAX_BATCH_PAGES:
        return False
    return not (k.migrate_path == "auto" and n < BATCH_MIN_PAGES)


@dataclass
class BatchPlan:
    """What a simple call moves, decided before anything changes.

    ``addr``, ``old``, ``target``, ``pte``, ``vma`` are per moved page, in entry order
    (the order the per-page path migrates them); ``new`` is filled by the allocation.
    """

    addr: np.ndarray
    old: np.ndarray
    target: np.ndarray
    pte: np.ndarray
    vma_prot: np.ndarray
    table_keys: np.ndarray
    table_of: np.ndarray
    zone_take: list[tuple[int, int, np.ndarray]]  # (zone id, count, positions) per zone
    memcgs: list[int]
    status: np.ndarray  # the status of every entry
    il_zone: np.ndarray | None = None  # per page: the zone an interleave hit counts, or -1


def _zone_arrays(k: Kernel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    zones = k.zone_index.zones
    starts = np.array([z.start_pfn for z in zones], np.int64)
    ids = np.array([z.id for z in zones], np.int64)
    nids = np.array([z.nid for z in zones], np.int64)
    return starts, ids, nids


def zone_ids_of(k: Kernel, pfns: np.ndarray) -> np.ndarray:
    """page_zone() of many pages: the zone id of each pfn."""
    starts, ids, _ = _zone_arrays(k)
    return ids[np.searchsorted(starts, pfns, side="right") - 1]


def _unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # np.unique(keys, return_inverse=True), without the sort when keys are already sorted.
    if bool((keys[1:] >= keys[:-1]).all()):
        new = np.empty(len(keys), np.bool_)
        new[0] = True
        np.not_equal(keys[1:], keys[:-1], out=new[1:])
        return keys[new], np.cumsum(new) - 1
    return np.unique(keys, return_inverse=True)


def _entry_status(k: Kernel, mm: MmStruct, addr: int, node: int,
                  migrate_all: bool) -> int | None:
    # The status the per-page path gives an entry that is not simple, when it isolates
    # nothing for it (the checks of _move_pages_entry() and add_page_for_migration(), in
    # their order); None when the per-page path would isolate the page.  The lookup's
    # reference is dropped again, as there.
    from pagemig.mm.migrate import _lookup_page
    from pagemig.mm.swap import put_page

    page = _lookup_page(k, mm, addr, True)
    if page < 0:
        return page
    try:
        flags = int(k.pages.flags[page])
        if flags & F_RESERVED and not k.profile.has("move_pages_batched"):
            return -errno.ENOENT  # 2.6.27 checks PG_reserved first (6.1 does not)
        if k.pfn_to_nid(page) == node:
            return node
        if int(k.pages.mapcount[page]) > 1 and not migrate_all:
            return -errno.EACCES
        if not flags & F_LRU:
            return -errno.EBUSY  # isolate_lru_page() fails and changes nothing
        return None
    finally:
        put_page(k, page)


@dataclass
class _Lookup:
    """The ptes of a call's addresses, and which entries could be simple so far.

    Per entry: ``ok``, the vma index ``vi``, ``pte``, ``pfn`` (0 where not ok), the page
    address; per vma: whether its kind allows the batch, its anon_vma id, pgoff, start and
    page protection; the page-table pages (``table_keys``) and each entry's (``table_of``).
    """

    ok: np.ndarray
    vi: np.ndarray
    pte: np.ndarray
    pfn: np.ndarray
    page_addr: np.ndarray
    av_id: np.ndarray
    pgoff: np.ndarray
    vstarts: np.ndarray
    prot: np.ndarray
    table_keys: np.ndarray
    table_of: np.ndarray


def _gather_ptes(mm: MmStruct, addrs: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
    # The ptes at many addresses of ``mm`` (0 where there is no page-table page), with the
    # keys of the page-table pages they fall in and each address's: one gather.
    keys = addrs >> np.uint64(PMD_SHIFT)
    if not len(keys):
        return np.zeros(0, np.uint64), keys, np.zeros(0, np.int64)
    ukeys, table_of = _unique_inverse(keys)
    none = np.zeros(PTRS_PER_PTE, np.uint64)
    tables = np.stack([mm.pgtables.get(int(key), none) for key in ukeys.tolist()])
    slot = ((addrs >> np.uint64(PAGE_SHIFT)) & np.uint64(PTRS_PER_PTE - 1)).astype(np.int64)
    return tables[table_of, slot], ukeys, table_of


def ptes_at(mm: MmStruct, addrs: np.ndarray) -> np.ndarray:
    """The ptes of ``mm`` at many addresses (0 where there is no page-table page)."""
    return _gather_ptes(mm, addrs)[0]


def vma_index(mm: MmStruct, addrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vma containing each address: (its place in ``mm.vmas``, 0 where none; whether
    one does)."""
    if not mm.vmas:
        return np.zeros(len(addrs), np.int64), np.zeros(len(addrs), np.bool_)
    vstarts = np.array(mm._starts, np.uint64)
    vends = np.array([v.vm_end for v in mm.vmas], np.uint64)
    vi = np.searchsorted(vstarts, addrs, side="right").astype(np.int64) - 1
    inside = vi >= 0
    vi = np.where(inside, vi, 0)
    return vi, inside & (addrs < vends[vi])


def _lookup(k: Kernel, mm: MmStruct, addrs: np.ndarray) -> _Lookup:
    # The vma of each address (a private anonymous one of a kind the batch takes) and the
    # present, normal pte there: one gather from the page-table pages the addresses hit.
    p = k.pages
    vi, ok = vma_index(mm, addrs)
    vstarts = np.array(mm._starts, np.uint64)
    nv = len(mm.vmas)
    good = np.zeros(nv, np.bool_)
    av_id = np.full(nv, -1, np.int64)
    pgoff = np.zeros(nv, np.int64)
    prot = np.zeros(nv, np.uint64)
    from pagemig.mm.memory import vma_page_prot

    for i in np.flatnonzero(np.bincount(vi[ok], minlength=nv)).tolist():
        vma = mm.vmas[i]
        if (vma.vm_file is not None or vma.vm_ops is not None or vma.anon_vma is None
                or vma.vm_flags & _BAD_VMA or not vma_migratable(k, vma)):
            continue
        good[i] = True
        av_id[i] = vma.anon_vma.id
        pgoff[i] = vma.vm_pgoff
        prot[i] = vma_page_prot(vma)
    ok &= good[vi]
    ptes, ukeys, table_of = _gather_ptes(mm, addrs)
    ok &= (ptes & np.uint64(_PAGE_PRESENT)) != 0
    ok &= (ptes & np.uint64(_PAGE_SPECIAL)) == 0
    pfn = ((ptes & np.uint64(PTE_PFN_MASK)) >> np.uint64(PAGE_SHIFT)).astype(np.int64)
    ok &= (pfn < p.nr_pages) & (pfn != k.zero_page_pfn)
    pfn = np.where(ok, pfn, 0)
    return _Lookup(ok=ok, vi=vi, pte=ptes, pfn=pfn, page_addr=addrs & ~np.uint64(4095),
                   av_id=av_id, pgoff=pgoff, vstarts=vstarts, prot=prot, table_keys=ukeys,
                   table_of=table_of)


def _simple_pages(k: Kernel, lk: _Lookup, isolated: bool) -> np.ndarray:
    # lk.ok narrowed to simple pages: anonymous in the vma's anon_vma at the address's
    # index, mapped once, with no reference but the pte's (and the isolation's when
    # ``isolated``: then off every LRU list, on a migration list), on the LRU list its
    # PG_active names otherwise, none of the busy flags, charged as a mapped page.
    p = k.pages
    pfn, vi = lk.pfn, lk.vi
    ok = lk.ok.copy()
    fl = p.flags[pfn].astype(np.int64)
    ok &= (fl & _NOT_SIMPLE) == 0
    if isolated:
        ok &= ((fl & F_LRU) == 0) & (p.lru[pfn] == LRU_PRIVATE)
    else:
        ok &= (fl & F_LRU) != 0
        active = (fl & F_ACTIVE) != 0
        ok &= p.lru[pfn] == np.where(active, LRU_ACTIVE, LRU_INACTIVE)
    if k.profile.has("split_lru"):
        ok &= (fl & F_SWAPBACKED) != 0
    mapping = p.mapping[pfn].astype(np.int64)
    ok &= ((mapping & 1) == 1) & ((mapping >> 1) == lk.av_id[vi])
    lin = ((lk.page_addr - lk.vstarts[vi]) >> np.uint64(PAGE_SHIFT)).astype(np.int64) \
        + lk.pgoff[vi]
    ok &= p.index[pfn] == lin
    ok &= (p.mapcount[pfn] == 1) & (p.count[pfn] == (2 if isolated else 1))
    rec = p.memcg[pfn].astype(np.int64)
    ok &= (rec != 0) & ((rec & 1) == 0)
    return ok


def distinct(pfns: np.ndarray) -> np.ndarray:
    """Which entries of ``pfns`` name a page no other entry names.  The cost follows the
    call, not the machine's size: counts over the span of the pfns when it is a few times
    their number, else a sort."""
    n = len(pfns)
    if n < 2:
        return np.ones(n, np.bool_)
    lo, hi = int(pfns.min()), int(pfns.max())
    if hi - lo <= 8 * n:
        return np.bincount(pfns - lo, minlength=hi - lo + 1)[pfns - lo] == 1
    order = np.argsort(pfns, kind="stable")
    same = pfns[order][1:] == pfns[order][:-1]
    twice = np.zeros(n, np.bool_)
    twice[order[1:][same]] = True
    twice[order[:-1][same]] = True
    return ~twice


def _source_nodes(k: Kernel, pfn: np.ndarray) -> np.ndarray:
    # page_to_nid() of many pages.
    zone_nid = np.zeros(len(k.zones), np.int64)
    zone_nid[[z.id for z in k.zones]] = [z.nid for z in k.zones]
    return zone_nid[zone_ids_of(k, pfn)]


def _zone_take(k: Kernel, tgt: np.ndarray,
               src: np.ndarray) -> list[tuple[int, int, np.ndarray]] | None:
    # The frames each target node gives, zone by zone from the highest, above the low
    # watermark and counting no page freed during the call; None when a node lacks room,
    # or when its pages would spill into a lower zone of a node that also gives pages
    # (the per-page path's frees could then change the zone).
    src_nodes = set(np.flatnonzero(np.bincount(src)).tolist())
    zone_take: list[tuple[int, int, np.ndarray]] = []
    for t in np.flatnonzero(np.bincount(tgt)).tolist():
        positions = np.flatnonzero(tgt == t)
        want = len(positions)
        got = 0
        for i, zone in enumerate(reversed(k.nodes[t].zones)):
            if got == want:
                break
            cap = max(0, zone.free_top - zone.pages_low)
            c = min(cap, want - got)
            if c <= 0:
                continue
            if i > 0 and t in src_nodes:
                return None
            zone_take.append((zone.id, c, positions[got:got + c]))
            got += c
        if got < want:
            return None
    return zone_take


def cpuset_nodes(k: Kernel) -> set[int]:
    """The nodes an allocation without __GFP_THISNODE may use: the current task's cpuset
    (ALLOC_CPUSET), or every node."""
    task = k.current
    if task is None or len(task.mems_allowed) >= len(k.nodes):
        return set(range(len(k.nodes)))
    return set(task.mems_allowed)


def _cpuset_allows(k: Kernel, targets: np.ndarray) -> bool:
    # Such an allocation lands on its target node only if the cpuset allows that node.
    return set(np.unique(targets).tolist()) <= cpuset_nodes(k)


def _memcgs(k: Kernel, mm: MmStruct, rec: np.ndarray) -> list[int] | None:
    # The memory cgroups charged one page more for a moment (the old pages' and the
    # mm's); None when one has no room for it.
    cg_ids = set((rec >> 1).tolist())
    owner_cg = mm.owner.mem_cgroup if mm.owner is not None else ROOT_MEM_CGROUP
    cg_ids.add(owner_cg)
    for cg_id in cg_ids:
        cg = k.memcgs.get(cg_id)
        if cg is None or cg.usage + 1 > cg.limit:
            return None
    return sorted(cg_ids)


def _walk_status(k: Kernel, mm: MmStruct, addr: int, node: int, migrate_all: bool) -> int | None:
    # As _entry_status() for a page check_pte_range() selected (present, normal, not
    # reserved): None when migrate_page_add() would isolate it (mapped once or
    # MPOL_MF_MOVE_ALL, on an LRU list), else ``node`` (it stays; no status is kept).
    from pagemig.mm.swapops import pte_pfn

    pfn = pte_pfn(mm.get_pte(addr))
    if (migrate_all or int(k.pages.mapcount[pfn]) == 1) and int(k.pages.flags[pfn]) & F_LRU:
        return None
    return node


def plan_batch(k: Kernel, mm: MmStruct, addrs: np.ndarray, nodes: np.ndarray,
               migrate_all: bool = False, walk: bool = False) -> BatchPlan | None:
    """Decide for the whole call whether the batch path may take it; the plan, or None
    (the per-page path).

    Every entry is simple, or one the per-page path gives a status without isolating a
    page (:func:`_entry_status`: a bad address, no page, a reserved page in 2.6.27, a page
    already on its node, one mapped twice without MPOL_MF_MOVE_ALL, one on no LRU list);
    no page is named twice by simple entries; at least one simple entry moves.

    Simple: the address lies in a private anonymous vma of ``mm`` (no file, no vm_ops,
    not shared, not VM_LOCKED, migratable) and a present pte there maps a page that is
    anonymous in that vma's anon_vma at the index of that address, on an LRU list (PG_lru,
    the list its PG_active names), mapped once, with no reference but the pte's, not locked,
    not under writeback, not in the swap cache, without PG_private, not mlocked, charged
    as a mapped page; no page twice and not the zero page; every target node valid and
    with memory (the caller checked it is allowed); each target node has room for all the
    pages sent to it above the low watermark, counting no page freed during the call (and
    if the pages spill into a lower zone of a node that also gives pages, the per-page
    path's frees could change the zone: refused); each memory cgroup involved has room for
    one more page; the LRU order stamps cannot run out.  Entries whose page is already on
    its target node stay (status = node).

    ``walk``: the addresses are pages a page-table walk of mbind() or migrate_pages(2)
    selected, and an entry that is not simple may only be one the walk does not isolate
    (:func:`_walk_status`), not move_pages' cases.
    """
    p = k.pages
    n = len(addrs)
    if n == 0 or not mm.vmas:
        return None
    addrs = addrs.astype(np.uint64)
    nodes = nodes.astype(np.int64)
    if (nodes < 0).any() or (nodes >= min(MAX_NUMNODES, len(k.nodes))).any():
        return None
    has_mem = np.array([node.has_memory for node in k.nodes])
    if not has_mem[nodes].all():
        return None
    lk = _lookup(k, mm, addrs)
    ok = _simple_pages(k, lk, isolated=False)
    pfn = lk.pfn
    if not distinct(pfn[ok]).all():
        return None
    src = _source_nodes(k, pfn)
    move = ok & (src != nodes)
    if not move.any():
        return None
    # The other entries must be ones the per-page path gives a status without isolating.
    status = nodes.copy()
    for i in np.flatnonzero(~ok).tolist():
        st = (_walk_status if walk else _entry_status)(k, mm, int(addrs[i]), int(nodes[i]),
                                                        migrate_all)
        if st is None:
            return None
        status[i] = st
    m = int(move.sum())
    zone_take = _zone_take(k, nodes[move], src[move])
    if zone_take is None:
        return None
    memcgs = _memcgs(k, mm, p.memcg[pfn[move]].astype(np.int64))
    if memcgs is None:
        return None
    if max(z.lru_seq for z in k.zones) + 2 * m > _SEQ_LIMIT:
        return None
    return BatchPlan(addr=lk.page_addr[move], old=pfn[move], target=nodes[move],
                     pte=lk.pte[move], vma_prot=lk.prot[lk.vi[move]],
                     table_keys=lk.table_keys, table_of=lk.table_of[move],
                     zone_take=zone_take, memcgs=memcgs, status=status)


def _count(stat: np.ndarray, zones: np.ndarray, items: np.ndarray | int, sign: int) -> None:
    # stat[zones[i], items[i]] += sign for every i (np.add.at, by counting).
    nz, ni = stat.shape
    flat = zones * ni + items
    stat += sign * np.bincount(flat, minlength=nz * ni).reshape(nz, ni)


def migrate_batch(k: Kernel, mm: MmStruct, plan: BatchPlan, isolated: bool = False,
                  list_pos: np.ndarray | None = None) -> None:
    """Migrate the pages of a simple call's plan; the machine ends as the per-page path
    leaves it (migrate_pages() over the same pages in entry order).  ``isolated``: the
    pages were taken off their LRU lists already, by isolate_lru_page() onto a list in
    plan order (mbind()'s walk, or a run of a migration list), at ``list_pos`` on it
    (None: 0, 1, ...)."""
    p = k.pages
    old = plan.old
    m = len(old)
    stat = k.zone_stat
    old_zone = zone_ids_of(k, old)
    old_flags = p.flags[old].astype(np.int64)
    old_active = (old_flags & F_ACTIVE) != 0
    if not isolated:
        # isolate_lru_page(): off the LRU lists.
        lru_stat = np.where(old_active, ZoneStat.NR_ACTIVE, ZoneStat.NR_INACTIVE)
        _count(stat, old_zone, lru_stat, -1)
    # new_page_node() / alloc_migration_target(): pops from the target zones' stacks.
    new = np.empty(m, np.int64)
    new_zone = np.empty(m, np.int64)
    cpu_nid = k.cpu_to_node(k.current_cpu())
    for zone_id, c, positions in plan.zone_take:
        zone = k.zones[zone_id]
        top = zone.free_top
        # The same frames the per-page path would take (the top of the stack), given in
        # ascending order: frame numbers are free to differ, and runs copy faster.
        new[positions] = np.sort(zone.free_stack[top - c:top])
        new_zone[positions] = zone_id
        zone.free_top = top - c
        stat[zone_id, ZoneStat.NR_FREE_PAGES] -= c
        stat[zone_id, ZoneStat.NUMA_HIT] += c
        stat[zone_id, ZoneStat.NUMA_LOCAL if zone.nid == cpu_nid else ZoneStat.NUMA_OTHER] += c
    if plan.il_zone is not None:  # alloc_page_interleave(): a page from its first zone
        hit = new_zone[plan.il_zone == new_zone]
        stat[:, ZoneStat.NUMA_INTERLEAVE_HIT] += np.bincount(hit, minlength=len(stat))
    k.pages_moved_on_arrays += m
    # try_to_unmap_one(): the pte's dirty bit goes to the page; write entries stay writable.
    dirty = ((old_flags & F_DIRTY) != 0) | ((plan.pte & np.uint64(_PAGE_DIRTY)) != 0)
    writable = (plan.pte & np.uint64(_PAGE_RW)) != 0
    # migrate_page_copy(): the contents, the copied flags, the dirty state.
    if k.copy_enabled:
        k.frames.copy_many(new, old)
    new_flags = (old_flags & _COPIED_FLAGS & ~F_ACTIVE) | np.where(dirty, F_DIRTY, 0)
    p.count[new] = 1
    p.mapcount[new] = 1
    p.mapping[new] = p.mapping[old]
    p.index[new] = p.index[old]
    p.private[new] = 0
    p.memcg[new] = p.memcg[old]
    cleared = F_LRU | F_LOCKED | F_SWAPCACHE | F_ACTIVE | F_PRIVATE | F_UNEVICTABLE
    old_left = old_flags & ~cleared & ~np.where(dirty, F_DIRTY | F_RECLAIM, 0)
    p.mapcount[old] = 0
    p.memcg[old] = 0
    p.mapping[old] = 0
    p.private[old] = 0
    _count(stat, old_zone, ZoneStat.NR_ANON_PAGES, -1)
    _count(stat, new_zone, ZoneStat.NR_ANON_PAGES, 1)
    # remove_migration_pte(): the new ptes, old and clean, writable for write entries.
    new_pte = (((new.astype(np.uint64) << np.uint64(PAGE_SHIFT)) | plan.vma_prot)
               & ~np.uint64(_PAGE_ACCESSED)) | np.where(writable, np.uint64(_PAGE_RW),
                                                        np.uint64(0))
    slot = ((plan.addr >> np.uint64(PAGE_SHIFT)) & np.uint64(PTRS_PER_PTE - 1)).astype(np.int64)
    order = np.argsort(plan.table_of, kind="stable")
    bounds = np.searchsorted(plan.table_of[order], np.arange(len(plan.table_keys) + 1))
    for ti, key in enumerate(plan.table_keys.tolist()):
        sel = order[bounds[ti]:bounds[ti + 1]]
        if len(sel):
            mm.pgtables[int(key)][slot[sel]] = new_pte[sel]
    # mem_cgroup_prepare_migration() and the remap's charge: one page more for a moment.
    for cg_id in plan.memcgs:
        cg = k.memcgs[cg_id]
        cg.max_usage = max(cg.max_usage, cg.usage + 1)
    _lru_and_frees(k, old, new, old_zone, new_zone, old_active, old_left, new_flags,
                   list_pos)


def _lru_and_frees(k: Kernel, old: np.ndarray, new: np.ndarray, old_zone: np.ndarray,
                   new_zone: np.ndarray, active: np.ndarray, old_left: np.ndarray,
                   new_flags: np.ndarray, list_pos: np.ndarray | None = None) -> None:
    # move_to_lru() of the old page then of the new page, for each page in order: the
    # current CPU's add-pagevecs (one page each while lru_cache_disable() holds, Linux
    # 6.1), each drain stamping its pages onto their zone lists in order and freeing the
    # old pages, whose last reference it drops.  Pages of a pagevec not full at the end
    # stay there.  Pages the pagevecs held before (put there by the per-page path between
    # two runs of a list) are drained first when theirs fills, as any page would be.
    # ``list_pos``: the old pages' places on their migration list.
    p = k.pages
    stat = k.zone_stat
    m = len(old)
    cpu = k.current_cpu()
    size = 1 if k.lru_disable_count else PAGEVEC_SIZE
    held = [k.pvecs[cpu, w, :int(k.pvec_len[cpu, w])].astype(np.int64)
            for w in (PVEC_INACTIVE, PVEC_ACTIVE)]
    npre = len(held[0]) + len(held[1])
    assert size > 1 or npre == 0, "nothing waits in a pagevec while lru_cache_disable() holds"
    total = npre + 2 * m
    ev_page = np.empty(total, np.int64)
    ev_page[:npre] = np.concatenate(held)
    ev_page[npre::2], ev_page[npre + 1::2] = old, new
    ev_zone = np.empty(total, np.int64)
    ev_zone[:npre] = zone_ids_of(k, ev_page[:npre]) if npre else []
    ev_zone[npre::2], ev_zone[npre + 1::2] = old_zone, new_zone
    ev_w = np.zeros(total, np.int64)
    ev_w[len(held[0]):npre] = PVEC_ACTIVE
    ev_w[npre + 1::2] = np.where(active, PVEC_ACTIVE, PVEC_INACTIVE)
    # kind: 0 held before, 1 old page, 2 new page
    kind = np.zeros(total, np.int64)
    kind[npre::2], kind[npre + 1::2] = 1, 2
    drained_idx = []
    drained_at = []
    for w in (PVEC_INACTIVE, PVEC_ACTIVE):
        idx = np.flatnonzero(ev_w == w)
        full = len(idx) // size * size
        r = np.arange(full)
        drained_idx.append(idx[:full])
        drained_at.append(idx[r // size * size + size - 1])
        left = ev_page[idx[full:]]
        k.pvecs[cpu, w, :len(left)] = left
        k.pvec_len[cpu, w] = len(left)
        p.lru[left] = LRU_PAGEVEC
    if size == 1:
        dr = np.arange(total)  # every page drained as it is added
    else:
        # By drain, then by place in the pagevec.  Each pagevec's entries are in that
        # order already, and no two drains happen at the same event: a merge of the two
        # by drain time.
        (ia, ib), (aa, ab) = drained_idx, drained_at
        dr = np.empty(len(ia) + len(ib), np.int64)
        dr[np.arange(len(ia)) + np.searchsorted(ab, aa)] = ia
        dr[np.arange(len(ib)) + np.searchsorted(aa, ab)] = ib
    dr_zone = ev_zone[dr]
    nz = len(k.zones)
    counts = np.bincount(dr_zone, minlength=nz)
    stamp = np.empty(len(dr), np.int64)
    for z in k.zones:  # each zone stamps its pages in drain order
        c = int(counts[z.id])
        if c:
            stamp[dr_zone == z.id] = np.arange(z.lru_seq + 1, z.lru_seq + c + 1)
            z.lru_seq += c
    dr_kind = kind[dr]
    is_new = dr_kind == 2
    is_old = dr_kind == 1
    # New pages drained: on their list, one reference (the pte's).
    dn = ev_page[dr[is_new]]
    dn_active = ev_w[dr[is_new]] == PVEC_ACTIVE
    p.lru[dn] = np.where(dn_active, LRU_ACTIVE, LRU_INACTIVE)
    p.lru_seq[dn] = stamp[is_new]
    _count(stat, dr_zone[is_new], np.where(dn_active, ZoneStat.NR_ACTIVE,
                                           ZoneStat.NR_INACTIVE), 1)
    # Flags: new pages keep their copied flags; drained ones gain PG_lru (and PG_active).
    p.flags[new] = new_flags
    p.flags[dn] |= F_LRU | np.where(dn_active, F_ACTIVE, 0).astype(np.int32)
    in_pvec_new = p.lru[new] == LRU_PAGEVEC
    p.count[new] = np.where(in_pvec_new, 2, 1)
    # Old pages: those a drain reached are freed, the others wait in the pagevec.
    do = ev_page[dr[is_old]]
    do_zone = dr_zone[is_old]
    p.flags[old] = old_left
    p.count[old] = 1
    p.lru_seq[old] = np.arange(m) if list_pos is None else list_pos
    p.lru_seq[do] = stamp[is_old]
    p.flags[do] = 0
    p.count[do] = 0
    p.lru[do] = LRU_NONE
    for z in k.zones:
        freed = do[do_zone == z.id]
        c = len(freed)
        if c:
            z.free_stack[z.free_top:z.free_top + c] = freed
            z.free_top += c
            stat[z.id, ZoneStat.NR_FREE_PAGES] += c
    if npre:
        _drain_held(k, ev_page, ev_w, dr, stamp, npre)


def _drain_held(k: Kernel, ev_page: np.ndarray, ev_w: np.ndarray, dr: np.ndarray,
                stamp: np.ndarray, npre: int) -> None:
    # The pages the pagevecs held before the batch, drained with their stamps: onto their
    # lists as any drained page, then the pagevec's reference dropped (which frees a page
    # whose last reference it was).  At most two pagevecs' worth: page by page.
    from pagemig.mm.swap import lru_add_one, put_page

    split = k.profile.has("split_lru")
    held = np.flatnonzero(dr < npre)
    for j in held.tolist():
        e = int(dr[j])
        lru_add_one(k, int(ev_page[e]), int(ev_w[e]) == PVEC_ACTIVE, split, int(stamp[j]))
    for j in held.tolist():
        put_page(k, int(ev_page[int(dr[j])]))


def do_move_pages_batch(k: Kernel, mm: MmStruct, pm: PageToNode,
                        migrate_all: bool) -> int | None:
    """do_move_pages() on arrays (2.6.27); its result, or None when plan_batch() refuses
    the call (nothing changed but the pagevec drain the per-page path does first)."""
    from pagemig.mm.migrate import migrate_prep

    n = pm.n
    if not batch_wanted(k, n):
        return None
    migrate_prep(k)
    plan = plan_batch(k, mm, pm.addr[:n], pm.node[:n], migrate_all)
    if plan is None:
        return None
    migrate_batch(k, mm, plan)
    pm.status[:n] = plan.status
    return 0


def _present_range(mm: MmStruct, addr: int, size: int, write: bool) -> bool:
    # Every page of [addr, addr + size) is mapped by a present pte the access needs no
    # fault for (so reading or writing it changes no mapping).
    from pagemig.mm.fault import access_ok

    if size <= 0 or not access_ok(addr, size):
        return False
    first, last = addr >> PAGE_SHIFT, (addr + size - 1) >> PAGE_SHIFT
    for page in range(first, last + 1):
        a = page << PAGE_SHIFT
        vma = mm.vma_containing(a)
        pte = mm.get_pte(a)
        if vma is None or not pte & _PAGE_PRESENT or (write and not pte & _PAGE_RW):
            return False
    return True


def do_pages_move_batch(k: Kernel, mm: MmStruct, task_nodes: frozenset[int], nr_pages: int,
                        pages: int, nodes: int, status: int, migrate_all: bool) -> int | None:
    """do_pages_move() on arrays (Linux 6.1); its result, or None when plan_batch()
    refuses the call (nothing changed).

    The arrays must lie in present pages (reading them faults nothing) and the status
    array in present writable pages that no entry moves; every node valid, with memory
    and allowed.  Then every entry is handled as the per-page path would, and the runs of
    entries with the same node (which the per-page path migrates one after another) are
    one migration here: the result is the same, as every page that is queued moves.
    """
    from pagemig.mm.fault import copy_from_user
    from pagemig.mm.migrate import put_user_array
    from pagemig.mm.swap import lru_cache_disable, lru_cache_enable
    from pagemig.mm.vmstat import PGMIGRATE_SUCCESS, count_vm_events

    if not batch_wanted(k, nr_pages):
        return None
    caller_mm = k.current_mm()
    if caller_mm is None:
        return None
    if not (_present_range(caller_mm, pages, 8 * nr_pages, False)
            and _present_range(caller_mm, nodes, 4 * nr_pages, False)
            and _present_range(caller_mm, status, 4 * nr_pages, True)):
        return None
    pdata = copy_from_user(k, pages, 8 * nr_pages)
    ndata = copy_from_user(k, nodes, 4 * nr_pages)
    assert pdata is not None and ndata is not None
    addrs = np.frombuffer(pdata, "<u8")
    targets = np.frombuffer(ndata, "<i4").astype(np.int64)
    if (targets < 0).any() or (targets >= MAX_NUMNODES).any():
        return None
    allowed = np.zeros(MAX_NUMNODES, bool)
    allowed[[t for t in task_nodes if 0 <= t < MAX_NUMNODES]] = True
    if not allowed[targets].all() or not all(k.node_state_high_memory(int(t))
                                             for t in np.unique(targets).tolist()):
        return None
    if mm is caller_mm:
        spages = addrs >> np.uint64(PAGE_SHIFT)
        lo, hi = status >> PAGE_SHIFT, (status + 4 * nr_pages - 1) >> PAGE_SHIFT
        if ((spages >= np.uint64(lo)) & (spages <= np.uint64(hi))).any():
            return None
    lru_cache_disable(k)
    plan = plan_batch(k, mm, addrs, targets, migrate_all)
    if plan is None:
        lru_cache_enable(k)
        return None
    migrate_batch(k, mm, plan)
    count_vm_events(k, PGMIGRATE_SUCCESS, len(plan.old))
    failed = put_user_array(k, status, plan.status.astype("<i4"), stop=True)
    assert not failed
    lru_cache_enable(k)
    return 0


# -- migrate_pages(2): one (source, destination) pair of do_migrate_pages() --

def range_addresses(mm: MmStruct, start: int, end: int) -> np.ndarray:
    """The page addresses of [start, end) that have a page-table page in ``mm``, in order."""
    keys = np.array(sorted(mm.pgtables), np.int64)
    lo = np.searchsorted(keys, start >> PMD_SHIFT)
    hi = np.searchsorted(keys, ((end - 1) >> PMD_SHIFT) + 1)
    if lo == hi:
        return np.zeros(0, np.uint64)
    slots = np.arange(PTRS_PER_PTE, dtype=np.uint64) << np.uint64(PAGE_SHIFT)
    addrs = ((keys[lo:hi].astype(np.uint64) << np.uint64(PMD_SHIFT))[:, None] + slots).ravel()
    return addrs[(addrs >= np.uint64(start)) & (addrs < np.uint64(end))]


def walk_selected(k: Kernel, mm: MmStruct, start: int, end: int) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """The pages check_pte_range() looks at in [start, end) of one vma, in address order:
    (addresses, pfns) of the present ptes (PROT_NONE ones too, as pte_present() says)
    that map a normal page (vm_normal_page()), not PG_reserved."""
    addrs = range_addresses(mm, start, end)
    ptes = ptes_at(mm, addrs)
    pfn = ((ptes & np.uint64(PTE_PFN_MASK)) >> np.uint64(PAGE_SHIFT)).astype(np.int64)
    take = (((ptes & np.uint64(_PAGE_PRESENT | _PAGE_PROTNONE)) != 0)
            & ((ptes & np.uint64(_PAGE_SPECIAL)) == 0) & (pfn < k.pages.nr_pages))
    addrs, pfn = addrs[take], pfn[take]
    normal = (k.pages.flags[pfn] & F_RESERVED) == 0
    return addrs[normal], pfn[normal]


def _queued_pages(k: Kernel, mm: MmStruct, start: int, end: int,
                  scanned: Callable[[VmArea], bool],
                  wanted: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    # The addresses check_range() would queue in [start, end), in its order: the pages
    # walk_selected() gives in each vma ``scanned`` accepts, whose node ``wanted`` accepts
    # (given the array of nodes).
    found: list[np.ndarray] = []
    for vma in mm.vmas:
        lo_addr, hi_addr = max(start, vma.vm_start), min(end, vma.vm_end)
        if lo_addr >= hi_addr or vma.vm_flags & VM_HUGETLB or not scanned(vma):
            continue
        addrs, pfn = walk_selected(k, mm, lo_addr, hi_addr)
        found.append(addrs[wanted(_source_nodes(k, pfn))])
    return np.concatenate(found) if found else np.zeros(0, np.uint64)


def migrate_to_node_batch(k: Kernel, mm: MmStruct, source: int, dest: int,
                          flags: int) -> int | None:
    """migrate_to_node() on arrays: 0 (every page it would queue moved), or None when the
    batch path does not take the pair (nothing changed but the pagevec drain the per-page
    path does first).

    The pages are those check_range() would isolate from ``source``, in its order; they go
    to ``dest`` through :func:`plan_batch` (every one simple, or one the per-page path does
    not isolate: mapped twice without MPOL_MF_MOVE_ALL, on no LRU list) and
    :func:`migrate_batch`, as one migrate_pages() call with new_node_page() would move
    them.  A process's program image is file pages, which are not simple: a pair whose
    source node holds them goes to the per-page functions (and their runs on arrays).
    """
    from pagemig.mm.mempolicy import MPOL_MF_MOVE_ALL
    from pagemig.mm.migrate import migrate_prep
    from pagemig.mm.vmstat import PGMIGRATE_SUCCESS, count_vm_events

    if not batch_allowed(k):
        return None
    migrate_prep(k)  # check_range() drains first, whichever path then runs
    addrs = _queued_pages(k, mm, 0, 1 << 64, lambda vma: vma_migratable(k, vma),
                          lambda nid: nid == source)
    if not batch_wanted(k, len(addrs)):
        return None
    targets = np.full(len(addrs), dest, np.int64)
    if not k.profile.has("migrate_to_node_thisnode") and not _cpuset_allows(k, targets):
        return None  # new_node_page() would allocate elsewhere: page by page
    plan = plan_batch(k, mm, addrs, targets, bool(flags & MPOL_MF_MOVE_ALL), walk=True)
    if plan is None:
        return None
    migrate_batch(k, mm, plan)
    count_vm_events(k, PGMIGRATE_SUCCESS, len(plan.old))
    return 0


# -- mbind(2) with MPOL_MF_MOVE: the pages its walk queues, to the policy's one node --

def plan_mbind_batch(k: Kernel, mm: MmStruct, start: int, end: int, nodes: set[int],
                     flags: int, new: Mempolicy) -> BatchPlan | None:
    """The plan for the pages mbind()'s walk of [start, end) would queue (not on
    ``nodes``), all to the node the new policy allocates from, or None (the per-page
    path).  Called before the walk, after the drain it starts with; changes nothing.

    Taken only for MPOL_BIND of one node and MPOL_PREFERRED (one node, or local): every
    page then comes from that node's zones while it has room above the low watermark,
    which :func:`plan_batch` checks with every queued page simple.  The walk isolates the
    pages as usual; :func:`migrate_batch` with ``isolated`` moves them if the list it
    made is the plan's pages in the plan's order.
    """
    from pagemig.mm.mempolicy import (
        MPOL_BIND,
        MPOL_MF_MOVE_ALL,
        MPOL_MF_STRICT,
        MPOL_PREFERRED,
        numa_node_id,
    )

    if not batch_allowed(k):
        return None
    if new.mode == MPOL_BIND and len(new.nodes) == 1:
        target = min(new.nodes)
    elif new.mode == MPOL_PREFERRED and len(new.nodes) <= 1:
        target = min(new.nodes) if new.nodes else numa_node_id(k)
    else:
        return None
    strict = bool(flags & MPOL_MF_STRICT)
    addrs = _queued_pages(k, mm, start, end,
                          lambda vma: strict or vma_migratable(k, vma),
                          lambda nid: ~np.isin(nid, list(nodes)))
    if not batch_wanted(k, len(addrs)):
        return None
    targets = np.full(len(addrs), target, np.int64)
    if not _cpuset_allows(k, targets):
        return None  # alloc_page_vma() would allocate elsewhere: page by page
    return plan_batch(k, mm, addrs, targets, bool(flags & MPOL_MF_MOVE_ALL), walk=True)
