"""Runs of simple pages inside migrate_pages(): a mixed migration list on arrays.

The batch paths of mm/migrate_batch.py take a whole call or nothing.  A call whose list
holds a few pages the batch cannot take (pinned, locked, under writeback, in the swap
cache, file pages such as a program's image) would then run wholly page by page.  This
module lets migrate_pages() itself, in its first pass, move each run of consecutive simple
pages of its list on arrays, and hand every other page to unmap_and_move() as before:

- before the pass, a cheap test over the whole list marks the pages that may be simple;
- at the first page of a run of such pages, the run is checked now (the per-page work
  done before it may have changed the machine): each page's one mapping is found through
  its anon_vma (as try_to_unmap() finds it), its pte and vma checked as the batch path
  checks them, the targets worked out from the list's get_new_page(), and room and memory
  cgroups checked for the run;
- the simple prefix of the run moves with migrate_batch(), starting from whatever the
  per-page work left in the current CPU's pagevecs; the first page that is not simple,
  and a run refused as a whole, go page by page.

A page that moves in a run would have succeeded in the first pass on the per-page path
(simple pages cannot be busy, and the run's room is checked), so the passes, the
statuses, the counters and the -ENOMEM cut are those of the per-page path.  The trace
events are not emitted, so no run is taken while tracing is on.

The targets: new_page_node() (2.6.27's move_pages: the node of the page's first entry,
whose status receives it), alloc_migration_target() (6.1's move_pages) and
new_node_page() (migrate_pages(2)) give one node; new_vma_page() (mbind) follows the
policy of the vma mapping the page: interleave by the page's offset, preferred, bind
(the first node of the local zonelist the policy allows) or local.  An allocation
without __GFP_THISNODE goes to the first node of its zonelist the cpuset allows, which is
the one whose room is checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pagemig.mm.migrate_batch import (
    _NOT_SIMPLE,
    _SEQ_LIMIT,
    BatchPlan,
    _count,
    _lookup,
    _memcgs,
    _simple_pages,
    _source_nodes,
    _zone_take,
    batch_allowed,
    cpuset_nodes,
    distinct,
    migrate_batch,
    ptes_at,
    walk_selected,
    zone_ids_of,
)
from pagemig.mm.mm_types import PAGE_SHIFT
from pagemig.mm.page_alloc import node_zonelist
from pagemig.mm.swapops import _PAGE_PRESENT, PTE_PFN_MASK

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import MmStruct, PageList, VmArea

RUN_MIN_PAGES = 16
"""Under "auto", runs shorter than this go page by page (and lists shorter than
BATCH_MIN_PAGES are not looked at)."""


class RunBatcher:
    """The runs of one first pass of migrate_pages() over ``from_list``."""

    def __init__(self, k: Kernel, from_list: PageList, get_new_page: Any, private: Any,
                 min_run: int) -> None:
        self.k, self.list = k, from_list
        self.get_new_page, self.private = get_new_page, private
        self.min_run = min_run
        p = k.pages
        pfns = from_list.positions()
        live = pfns >= 0
        q = np.where(live, pfns, 0)
        # May be simple: anonymous, mapped once, the isolation's and the pte's references,
        # none of the busy flags (checked again when its run comes).
        cand = live & ((p.mapping[q] & 1) == 1) & (p.mapcount[q] == 1) & (p.count[q] == 2)
        cand &= (p.flags[q].astype(np.int64) & _NOT_SIMPLE) == 0
        self.cand = cand
        self.breaks = np.flatnonzero(~cand)  # where the runs end

    def run_at(self, page: int) -> int:
        """Move the run of simple pages starting at ``page`` (on the list, not yet tried
        in this pass) on arrays; how many moved (0: ``page`` goes page by page)."""
        pos = int(self.k.pages.lru_seq[page])
        if not self.cand[pos]:
            return 0
        end = self.breaks[np.searchsorted(self.breaks, pos)] \
            if len(self.breaks) and self.breaks[-1] > pos else len(self.cand)
        end = int(end)
        if end - pos < self.min_run:
            self.cand[pos:end] = False
            return 0
        positions = np.arange(pos, end)
        if end - pos > _PROBE:
            # A short look first: a long run is checked whole only when its head is simple
            # (a page the cheap test let through would cost a check of the whole run).
            head, _ = _checked_prefix(self.k, self.list, positions[:_PROBE],
                                      self.get_new_page, self.private)
            if head < 0:  # no targets for this list's pages: page by page
                self.cand[pos:end] = False
                return 0
            if head < _PROBE:
                positions = positions[:head]
        if not len(positions) or len(positions) < self.min_run:
            self.cand[pos:pos + max(1, len(positions))] = False
            return 0
        moved, refused = _move_run(self.k, self.list, positions, self.get_new_page,
                                   self.private)
        if refused:
            self.cand[pos:end] = False  # the run as a whole: page by page
        elif not moved:
            self.cand[pos] = False  # its first page is not simple now
        return moved


def list_batcher(k: Kernel, from_list: PageList, get_new_page: Any,
                 private: Any) -> RunBatcher | None:
    """The run batcher for a first pass over ``from_list``, or None (page by page: the
    path is "reference", something records the trace, the list is short under "auto", or
    its get_new_page() is not one whose targets are known)."""
    from pagemig.mm.migrate_batch import BATCH_MIN_PAGES

    if not batch_allowed(k) or _target_kind(get_new_page) is None:
        return None
    auto = k.migrate_path == "auto"
    if auto and len(from_list) < BATCH_MIN_PAGES:
        return None
    return RunBatcher(k, from_list, get_new_page, private, RUN_MIN_PAGES if auto else 1)


def _target_kind(get_new_page: Any) -> str | None:
    from pagemig.mm.mempolicy import new_node_page, new_vma_page
    from pagemig.mm.migrate import alloc_migration_target, new_page_node

    return {new_page_node: "entry", alloc_migration_target: "node", new_node_page: "node",
            new_vma_page: "policy"}.get(get_new_page)


# -- one run --

_PROBE = 64


def _checked_prefix(k: Kernel, from_list: PageList, positions: np.ndarray, get_new_page: Any,
                    private: Any) -> tuple[int, Any]:
    # How many pages at the head of ``positions`` are simple now, with what planning them
    # needs (mm, lookup, targets, slots, interleave zones); -1 when the targets cannot be
    # worked out (the run goes page by page).
    pfns = from_list.positions()[positions]
    mm, addrs, ok = _rmap_addresses(k, pfns)
    if mm is None:
        return 0, None
    lk = _lookup(k, mm, addrs)
    ok &= lk.ok & (lk.pfn == pfns)
    lk.ok = ok
    ok = _simple_pages(k, lk, isolated=True)
    got = _targets(k, get_new_page, private, mm, lk, ok)
    if got is None:
        return -1, None
    targets, slots, il_zone, ok = got
    n = int(np.argmin(ok)) if not ok.all() else len(ok)  # the simple prefix
    return n, (mm, lk, targets, slots, il_zone)


def _move_run(k: Kernel, from_list: PageList, positions: np.ndarray, get_new_page: Any,
              private: Any) -> tuple[int, bool]:
    # (pages moved, whether the run was refused as a whole).  The pages moved are the
    # simple prefix of the run; they leave the list, their statuses are stored.
    n, found = _checked_prefix(k, from_list, positions, get_new_page, private)
    if n < 0:
        return 0, True
    if n == 0:
        return 0, False
    mm, lk, targets, slots, il_zone = found
    plan = _plan_run(k, mm, lk, n, targets[:n], il_zone[:n])
    if plan is None:
        return 0, True
    migrate_batch(k, mm, plan, isolated=True, list_pos=positions[:n])
    from_list.list_del_many(positions[:n])
    if slots is not None:
        private.status[slots[:n]] = targets[:n]
    return n, False


def _plan_run(k: Kernel, mm: MmStruct, lk: Any, n: int, targets: np.ndarray,
              il_zone: np.ndarray) -> BatchPlan | None:
    # The plan of the first n pages of a checked run: room, memory cgroups, stamps.
    p = k.pages
    old = lk.pfn[:n]
    src = _source_nodes(k, old)
    zone_take = _zone_take(k, targets, src)
    if zone_take is None:
        return None
    memcgs = _memcgs(k, mm, p.memcg[old].astype(np.int64))
    if memcgs is None:
        return None
    held = int(k.pvec_len[k.current_cpu()].sum())
    if max(z.lru_seq for z in k.zones) + 2 * n + held > _SEQ_LIMIT:
        return None
    return BatchPlan(addr=lk.page_addr[:n], old=old, target=targets, pte=lk.pte[:n],
                     vma_prot=lk.prot[lk.vi[:n]], table_keys=lk.table_keys,
                     table_of=lk.table_of[:n], zone_take=zone_take, memcgs=memcgs,
                     status=targets, il_zone=il_zone)


def _offset_in(vma: VmArea, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # vma_address() of many pages of ``vma``'s object: (the page offset of each from
    # the vma's start, whether it falls inside the vma).
    off = index - vma.vm_pgoff
    return off, (off >= 0) & (off < (vma.vm_end - vma.vm_start) >> PAGE_SHIFT)


def _rmap_addresses(k: Kernel, pfns: np.ndarray) -> tuple[MmStruct | None, np.ndarray,
                                                           np.ndarray]:
    # The one mapping of each anonymous page, found as try_to_unmap_anon() finds it: each
    # vma of its anon_vma, in list order, at the page's linear address, whose pte maps
    # it.  (mm of the first page, the addresses, which pages map in that mm.)
    p = k.pages
    n = len(pfns)
    mapping = p.mapping[pfns].astype(np.int64)
    index = p.index[pfns].astype(np.int64)
    anon = (mapping & 1) == 1
    av_ids = mapping >> 1
    addrs = np.zeros(n, np.uint64)
    owner = np.full(n, -1, np.int64)  # index into mms
    mms: list[MmStruct] = []
    for a in np.unique(av_ids[anon]).tolist():
        av = k.anon_vmas.get(a)
        if av is None:
            continue
        sel = np.flatnonzero(anon & (av_ids == a))
        for vma in av.vmas:
            todo = sel[owner[sel] < 0]
            if not len(todo):
                break
            off, inside = _offset_in(vma, index[todo])
            cand = todo[inside]
            if not len(cand):
                continue
            at = (np.uint64(vma.vm_start)
                  + (off[inside].astype(np.uint64) << np.uint64(PAGE_SHIFT)))
            pte = ptes_at(vma.vm_mm, at)
            hit = (((pte & np.uint64(_PAGE_PRESENT)) != 0)
                   & (((pte & np.uint64(PTE_PFN_MASK)) >> np.uint64(PAGE_SHIFT)).astype(np.int64)
                      == pfns[cand]))
            if hit.any():
                mi = next((i for i, m in enumerate(mms) if m is vma.vm_mm), None)
                if mi is None:
                    mms.append(vma.vm_mm)
                    mi = len(mms) - 1
                owner[cand[hit]] = mi
                addrs[cand[hit]] = at[hit]
    if owner[0] < 0:
        return None, addrs, np.zeros(n, np.bool_)
    return mms[int(owner[0])], addrs, owner == owner[0]


def _targets(k: Kernel, get_new_page: Any, private: Any, mm: MmStruct, lk: Any,
             ok: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray,
                                      np.ndarray] | None:
    # (the node each page goes to, the status slot of each or None, the zone whose
    # interleave hit it counts or -1, ok narrowed to pages whose target is known), or
    # None when the run cannot be planned.
    n = len(ok)
    kind = _target_kind(get_new_page)
    il_zone = np.full(n, -1, np.int64)
    slots = None
    if kind == "entry":
        slots = private.first_entries_of(lk.pfn)
        ok = ok & (slots >= 0)
        slots = np.maximum(slots, 0)
        targets = private.node[slots].astype(np.int64)
    elif kind == "node":
        from pagemig.mm.mempolicy import new_node_page

        node = int(private)
        if get_new_page is new_node_page and not k.profile.has("migrate_to_node_thisnode"):
            # 2.6.27 new_node_page(): no __GFP_THISNODE, so the first node of the
            # node's zonelist the cpuset allows
            first = _first_allowed(k, node, cpuset_nodes(k))
            if first is None:
                return None
            node = first
        targets = np.full(n, node, np.int64)
    else:
        got = _policy_targets(k, private, mm, lk, ok)
        if got is None:
            return None
        targets, il_zone, ok = got
    if (targets < 0).any() or (targets >= len(k.nodes)).any():
        return None
    return targets, slots, il_zone, ok


def _first_allowed(k: Kernel, start: int, allowed: set[int]) -> int | None:
    # The node of the first zone of ``start``'s zonelist in ``allowed`` (where a first
    # allocation attempt with room lands).
    return next((z.nid for z in node_zonelist(k, start) if z.nid in allowed), None)


def _policy_targets(k: Kernel, first: VmArea, mm: MmStruct, lk: Any,
                    ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    # new_vma_page(): the first vma from ``first`` on in which the page has an address is
    # the one mapping it (a page whose address also falls in an earlier vma of its
    # anon_vma is left to the per-page path); its policy places the page.
    from pagemig.mm.mempolicy import (
        MPOL_BIND,
        MPOL_INTERLEAVE,
        MPOL_PREFERRED,
        get_vma_policy,
        numa_node_id,
    )

    n = len(ok)
    vmas = mm.vmas
    start_i = vmas.index(first) if first in vmas else len(vmas)
    vi = lk.vi
    ok = ok & (vi >= start_i)
    p = k.pages
    index = p.index[lk.pfn].astype(np.int64)
    targets = np.zeros(n, np.int64)
    il_zone = np.full(n, -1, np.int64)
    task = k.current
    cpuset = cpuset_nodes(k)
    local = numa_node_id(k)
    for i in np.unique(vi[ok]).tolist():
        vma = vmas[i]
        sel = ok & (vi == i)
        for j in range(start_i, i):  # an earlier vma of the same anon_vma
            other = vmas[j]
            if other.anon_vma is not None and other.anon_vma is vma.anon_vma:
                ok &= ~(sel & _offset_in(other, index)[1])
        sel &= ok
        pol = get_vma_policy(k, task, vma, vma.vm_start)
        if pol.mode == MPOL_INTERLEAVE:
            nodes = np.array(sorted(pol.nodes), np.int64)
            off = vma.vm_pgoff + ((lk.page_addr[sel] - np.uint64(vma.vm_start))
                                  >> np.uint64(PAGE_SHIFT)).astype(np.int64)
            il = nodes[off % len(nodes)]
            for node in np.unique(il).tolist():
                t = _first_allowed(k, node, cpuset)
                if t is None:
                    return None
                where = np.flatnonzero(sel)[il == node]
                targets[where] = t
                il_zone[where] = node_zonelist(k, node)[0].id
            continue
        if pol.mode == MPOL_PREFERRED and pol.nodes:
            t = _first_allowed(k, min(pol.nodes), cpuset)
        elif pol.mode == MPOL_BIND:
            t = _first_allowed(k, local, set(pol.nodes) & cpuset)
        else:
            t = _first_allowed(k, local, cpuset)
        if t is None:
            return None
        targets[sel] = t
    return targets, il_zone, ok


# -- the page-table walk of mbind() and migrate_pages(2), isolating on arrays --

def queue_range_on_arrays(k: Kernel, vma: VmArea, start: int, end: int, nodes: set[int],
                          flags: int, pagelist: PageList) -> bool:
    """check_pte_range() with MPOL_MF_MOVE(_ALL) on arrays; False (nothing done) when the
    batch paths are off (the "reference" path, tracing).

    The ptes of [start, end) are read a page-table page at a time; the pages the walk
    selects (present, PROT_NONE included; normal; not PG_reserved; on a node the walk
    wants) are taken in address order.  Runs of pages isolate_lru_page() plainly takes
    (mapped once or MPOL_MF_MOVE_ALL, on an LRU list, not selected twice) are isolated on
    arrays; every other page goes through migrate_page_add() in its place.
    """
    from pagemig.mm.mempolicy import MPOL_MF_INVERT, MPOL_MF_MOVE_ALL, migrate_page_add
    from pagemig.mm.page_flags import F_LRU

    if not batch_allowed(k):
        return False
    if start >= end:
        return True
    p = k.pages
    _, pfn = walk_selected(k, vma.vm_mm, start, end)
    wanted = np.isin(_source_nodes(k, pfn), list(nodes))
    pfn = pfn[wanted != bool(flags & MPOL_MF_INVERT)]
    if not len(pfn):
        return True
    fl = p.flags[pfn].astype(np.int64)
    plain = ((fl & F_LRU) != 0) & (p.count[pfn] > 0)
    if not flags & MPOL_MF_MOVE_ALL:
        plain &= p.mapcount[pfn] == 1
    plain &= distinct(pfn)
    for lo, hi in _segments(plain):
        run = pfn[lo:hi]
        if plain[lo]:
            isolate_many(k, run, pagelist)
        else:
            for page in run.tolist():
                migrate_page_add(k, page, pagelist, flags)
    return True


def _segments(mask: np.ndarray) -> list[tuple[int, int]]:
    # The runs of equal values of ``mask``, as (start, end) pairs in order.
    bounds = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    return list(zip(np.r_[0, bounds].tolist(), np.r_[bounds, len(mask)].tolist(),
                    strict=True))


def isolate_many(k: Kernel, pfns: np.ndarray, pagelist: PageList) -> None:
    """isolate_lru_page() of many distinct pages on LRU lists, in order, onto
    ``pagelist``: PG_lru cleared, a reference taken, off their zone lists."""
    from pagemig.mm.page_flags import F_LRU
    from pagemig.mm.swap import LRU_STAT

    p = k.pages
    lists = p.lru[pfns]
    list_stat = np.zeros(len(pfns), np.int64)  # the zone counter of each page's list
    for which, stat in LRU_STAT.items():
        list_stat[lists == which] = stat
    p.flags[pfns] &= ~F_LRU
    p.count[pfns] += 1
    _count(k.zone_stat, zone_ids_of(k, pfns), list_stat, -1)
    pagelist.list_add_tail_many(pfns)


# -- move_pages(2): the entries' pages isolated on arrays --

def isolate_entries_on_arrays(k: Kernel, mm: MmStruct, pm: Any, migrate_all: bool,
                              pagelist: PageList) -> bool:
    """2.6.27 do_move_pages()'s loop over the entries on arrays; False (nothing done) when
    the batch paths are off.

    The entries whose page is simple and named once (see migrate_batch.plan_batch) are
    handled on arrays: on its node, the status is the node; elsewhere the page is isolated
    (status 0 until migrate_pages() stores the result).  Every other entry goes through
    the per-page check in its place, so the list is in entry order as before.
    """
    from pagemig.mm.migrate import _move_pages_entry

    n = pm.n
    if not batch_allowed(k) or n == 0 or not mm.vmas:
        return False
    lk = _lookup(k, mm, pm.addr[:n].astype(np.uint64))
    ok = _simple_pages(k, lk, isolated=False) & distinct(lk.pfn)
    nodes = pm.node[:n].astype(np.int64)
    stay = ok & (_source_nodes(k, lk.pfn) == nodes)
    pm.page[:n][ok] = lk.pfn[ok]
    pm.status[:n][stay] = nodes[stay]
    plain = ok & ~stay
    for lo, hi in _segments(ok):
        if ok[lo]:
            isolate_many(k, lk.pfn[lo:hi][plain[lo:hi]], pagelist)
            pm.status[lo:hi][plain[lo:hi]] = 0
        else:
            for i in range(lo, hi):
                pm.status[i] = _move_pages_entry(k, mm, pm, i, migrate_all, pagelist)
    return True


def queue_entries_on_arrays(k: Kernel, mm: MmStruct, pages: int, nodes: int, i: int,
                            nr_pages: int, node: int, migrate_all: bool,
                            pagelist: PageList) -> int:
    """Linux 6.1 do_pages_move(): the entries from ``i`` on that add_page_for_migration()
    would queue for ``node``, queued on arrays; the index of the first entry left to the
    per-page loop (``i`` when none).

    Taken: a prefix of entries whose node is ``node``, whose page is simple, named once
    and not on ``node``, read from arrays lying in present pages (reading them faults
    nothing).  They are read when they are reached, as the loop reads them.
    """
    from pagemig.mm.fault import copy_from_user
    from pagemig.mm.migrate_batch import _present_range

    caller_mm = k.current_mm()
    if not batch_allowed(k) or i >= nr_pages or caller_mm is None or not mm.vmas:
        return i
    size = _PROBE  # windows growing eightfold, so that a stop costs what was read
    while i < nr_pages:
        count = min(nr_pages, i + size) - i
        if not (_present_range(caller_mm, pages + 8 * i, 8 * count, False)
                and _present_range(caller_mm, nodes + 4 * i, 4 * count, False)):
            return i
        pdata = copy_from_user(k, pages + 8 * i, 8 * count)
        ndata = copy_from_user(k, nodes + 4 * i, 4 * count)
        assert pdata is not None and ndata is not None
        addrs = np.frombuffer(pdata, "<u8")
        same = np.frombuffer(ndata, "<i4") == node
        lk = _lookup(k, mm, addrs)
        # (a page named again in a later window is isolated by then: not simple there)
        ok = same & _simple_pages(k, lk, isolated=False) & distinct(lk.pfn)
        ok &= _source_nodes(k, lk.pfn) != node
        take = int(np.argmin(ok)) if not ok.all() else count
        isolate_many(k, lk.pfn[:take], pagelist)
        i += take
        if take < count:
            break
        size *= 8
    return i
