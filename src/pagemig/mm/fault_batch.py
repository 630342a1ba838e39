"""The array form of the anonymous first-touch fault: many pages of memory faulted in at once.

A program that touches a large private anonymous buffer takes one fault per page:
do_page_fault() -> handle_mm_fault() -> do_anonymous_page(), which allocates a zeroed page
by the vma's memory policy, charges it to the memory cgroup, queues it for the active LRU
list (the current CPU's pagevec, drained every PAGEVEC_SIZE pages), adds its anon rmap and
writes its pte.  This module does that work for a run of pages with numpy operations: the
frames are taken as slices of the zones' free stacks (the very frames the per-page path
pops, in the same order), the page columns, charges, counters, the pagevec drains and the
LRU order stamps are computed from the order the per-page path follows, the ptes are
written per page-table page, and the contents the touch stores (a token page per page, or
nothing) are written at once.

It is a module of its own because mm/memory.py keeps one function per function of
2.6.27's mm/memory.c; this is not one of them.  The per-page path (Kernel.touch /
Kernel.store_token, page by page) is the reference: the batch path must leave the machine
as the reference would (return value, counters, node, contents, flags, counts, rmap, LRU
membership and order stamps, pagevecs, cgroup charges, rss, ptes; here even the frame
numbers are the same).

How a request is split (:func:`fault_in_range`): the ptes of the whole range are read at
once; pages that are present, swapped, or in a vma the batch does not take run on the
per-page path, in order; a run of none ptes of one eligible vma (of at least
MIN_RUN_PAGES pages; any run under "batch") runs on the per-page path until the current
CPU's active pagevec is empty (at most PAGEVEC_SIZE - 1 pages), then the rest of the run
is planned as a whole by :func:`plan_fault_batch` and either done on arrays or, when the
plan refuses, page by page.  Each piece is exact, so the whole is.

Eligible run (both profiles): a private anonymous vma (no file, no vm_ops, not shared)
that allows the access; every pte of the run none; the vma's policy default, preferred,
bind or interleave; every page allocated in the first pass of get_page_from_freelist()
(above the low watermark of its zone; a default, preferred or bind allocation may go on
down the zonelist as zones reach their low watermark, an interleave one must stay in the
first zone it may use, and the interleave nodes' first zones must differ); the memory
cgroup of the mm's owner has room for every page; the LRU order stamps cannot run out; in
``bytes`` contents the host-memory budget has room for every page stored; no tracing.
Linux 6.1: a read touch maps the zero page (feature anon_zero_page): ptes only; a write
touch of a VM_LOCKED vma (which mlocks each page as it is mapped) is refused.

Which path runs follows ``k.migrate_path`` (the machine's one choice of path):
"reference" never takes the batch path; "auto" takes it for requests of at least
BATCH_MIN_PAGES pages; "batch" for any.  ``k.fault_path`` says whether the last request
used it ("batch") or not ("reference").
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pagemig.mm.memcontrol import MEM_CGROUP_CHARGE_TYPE_MAPPED, _mm_cgroup
from pagemig.mm.mempolicy import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_INTERLEAVE,
    MPOL_PREFERRED,
    get_vma_policy,
    numa_node_id,
)
from pagemig.mm.migrate_batch import batch_wanted
from pagemig.mm.mm_types import (
    LRU_ACTIVE,
    LRU_NONE,
    LRU_PAGEVEC,
    PAGE_SHIFT,
    PAGE_SIZE,
    PMD_SHIFT,
    PTRS_PER_PTE,
    VM_EXEC,
    VM_LOCKED,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    anon_mapping,
)
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_alloc import node_zonelist
from pagemig.mm.page_flags import (
    F_ACTIVE,
    F_ANON_EXCLUSIVE,
    F_LRU,
    F_SWAPBACKED,
    F_UPTODATE,
)
from pagemig.mm.swap import PAGEVEC_SIZE, PVEC_ACTIVE
from pagemig.mm.swapops import _PAGE_SPECIAL, mk_pte, pte_mkdirty, pte_mkyoung

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import MmStruct, VmArea
    from pagemig.mm.mmzone import Zone

MIN_RUN_PAGES = 2 * PAGEVEC_SIZE
"""Runs of none ptes shorter than this are faulted page by page (under "auto"; "batch"
plans every run, however short)."""

_SEQ_LIMIT = (1 << 32) - 1  # as mm/swap.py: the stamps are renumbered past it


def touch_one(k: Kernel, mm: MmStruct, addr: int, write: bool, token: int | None) -> int:
    """The per-page path: one access of the page at ``addr`` by the current task (a store
    of the page ``token`` stands for when given, as Kernel.store_token; else a one-byte
    access, as Kernel.touch); 0 or -errno."""
    from pagemig.mm.fault import access_ok, user_page

    if token is not None and not access_ok(addr, PAGE_SIZE):
        return -errno.EFAULT
    pfn = user_page(k, mm, addr, write)
    if pfn < 0:
        return pfn
    if token is not None:
        k.frames.store_token(pfn, token)
    return 0


def _vma_takes(k: Kernel, vma: VmArea, write: bool) -> bool:
    # A private anonymous vma the access is allowed in (do_page_fault()'s checks), whose
    # first-touch fault is do_anonymous_page() and which the batch can reproduce.
    flags = vma.vm_flags
    if vma.vm_file is not None or vma.vm_ops is not None or flags & VM_SHARED:
        return False
    if write:
        if not flags & VM_WRITE:
            return False
        if flags & VM_LOCKED and k.profile.has("split_lru"):
            return False  # Linux 6.1 mlocks each page as it maps it
    elif not flags & (VM_READ | VM_EXEC | VM_WRITE):
        return False
    return True


# Pages a Kernel request hands to fault_in_range() at a time: a multiple of PAGEVEC_SIZE
# (14), so that the active pagevec is as empty after a piece as before it.
FAULT_RANGE_CHUNK = 14 * 1171  # 16,394 pages: their arrays are a few MiB


def fault_in_range(k: Kernel, mm: MmStruct, addr: int, n: int, write: bool,
                   tokens: np.ndarray | None) -> tuple[int, int]:
    """Touch the ``n`` pages from the page-aligned ``addr`` in order as the current task:
    store ``tokens[i]`` in page i (a write), or access one byte of each (``write`` says
    how); runs of first touches on arrays where they can be (see the module docstring).
    Returns (0, n), or (the -errno of the first page that fails, its index): the pages
    before it are done."""
    k.fault_path = "reference"
    if not batch_wanted(k, n):
        return _per_page(k, mm, addr, 0, n, write, tokens)
    cpu = k.current_cpu()
    queues = write or not k.profile.has("anon_zero_page")  # each fault adds to a pagevec
    i = 0
    short = 1 if k.migrate_path == "batch" else PAGEVEC_SIZE  # the shortest run planned
    for start, end in _none_runs(k, mm, addr, n, write, short):
        err, i = _per_page(k, mm, addr, i, start, write, tokens)
        if err:
            return err, i
        # Page by page until the active pagevec is empty (its next drain would take
        # pages queued before the run).
        while queues and i < end and k.pvec_len[cpu, PVEC_ACTIVE]:
            err, i = _per_page(k, mm, addr, i, i + 1, write, tokens)
            if err:
                return err, i
        if end - i >= short:
            sub = None if tokens is None else tokens[i:end]
            if fault_batch(k, mm, addr + i * PAGE_SIZE, end - i, write, sub):
                k.fault_path = "batch"
                i = end
        err, i = _per_page(k, mm, addr, i, end, write, tokens)
        if err:
            return err, i
    return _per_page(k, mm, addr, i, n, write, tokens)


def _per_page(k: Kernel, mm: MmStruct, addr: int, lo: int, hi: int, write: bool,
              tokens: np.ndarray | None) -> tuple[int, int]:
    # Pages lo..hi-1 on the per-page path: (0, hi) or (-errno, the failing page).
    for i in range(lo, hi):
        err = touch_one(k, mm, addr + i * PAGE_SIZE, write,
                        None if tokens is None else int(tokens[i]))
        if err:
            return err, i
    return 0, max(lo, hi)


def _ptes(mm: MmStruct, addr: int, n: int) -> np.ndarray:
    # The ptes of the n pages from addr (0 where no page table exists).
    out = np.zeros(n, np.uint64)
    first = addr >> PAGE_SHIFT
    i = 0
    while i < n:
        page = first + i
        key = page >> (PMD_SHIFT - PAGE_SHIFT)
        slot = page & (PTRS_PER_PTE - 1)
        c = min(PTRS_PER_PTE - slot, n - i)
        table = mm.pgtables.get(key)
        if table is not None:
            out[i:i + c] = table[slot:slot + c]
        i += c
    return out


def _none_runs(k: Kernel, mm: MmStruct, addr: int, n: int, write: bool,
               short: int) -> list[tuple[int, int]]:
    # The runs [start, end) of none ptes inside one vma the batch takes, in order: of at
    # least MIN_RUN_PAGES pages (of any length when ``short`` is 1).
    from pagemig.mm.fault import TASK_SIZE

    if addr & (PAGE_SIZE - 1) or addr < 0 or addr + n * PAGE_SIZE > TASK_SIZE:
        return []
    none = _ptes(mm, addr, n) == 0
    runs: list[tuple[int, int]] = []
    end_addr = addr + n * PAGE_SIZE
    for vma in mm.vmas:
        if vma.vm_end <= addr or vma.vm_start >= end_addr or not _vma_takes(k, vma, write):
            continue
        lo = max(vma.vm_start, addr) - addr >> PAGE_SHIFT
        hi = min(vma.vm_end, end_addr) - addr >> PAGE_SHIFT
        seg = np.concatenate(([False], none[lo:hi], [False]))
        edges = np.flatnonzero(seg[1:] != seg[:-1])
        for s, e in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
            if e - s >= (MIN_RUN_PAGES if short > 1 else 1):
                runs.append((lo + s, lo + e))
    return runs


@dataclass
class FaultPlan:
    """Where each page of a run comes from, decided before anything changes."""

    vma: VmArea
    zone_take: list[tuple[int, int, np.ndarray]]  # (zone id, count, positions in the run)
    preferred: np.ndarray  # per page: the nid of the preferred zone (NUMA hit or miss)
    preferred_zone: np.ndarray  # per page: its zone id (NUMA_FOREIGN)
    interleave_first: np.ndarray  # per page: zonelist[0]'s id for interleave, else -1
    memcg: int


def _zonelist_and_mask(k: Kernel, zonelist: list[Zone],
                       nodemask: set[int] | None) -> tuple[list[Zone], Zone | None]:
    # __alloc_pages(): the cpuset narrows the nodemask; the zones it may use, in order,
    # and the preferred zone of zone_statistics().
    task = k.current
    if task is not None and len(task.mems_allowed) < len(k.nodes):
        allowed = set(task.mems_allowed)
        nodemask = allowed if nodemask is None else set(nodemask) & allowed
    usable = [z for z in zonelist if nodemask is None or z.nid in nodemask]
    if nodemask is None:
        preferred = zonelist[0] if zonelist else None
    else:
        preferred = usable[0] if usable else None
    return usable, preferred


def plan_fault_batch(k: Kernel, mm: MmStruct, addr: int, n: int, write: bool,
                     tokens: np.ndarray | None) -> FaultPlan | None:
    """Decide whether the batch path may fault in the ``n`` none ptes from ``addr`` (one
    vma); the plan, or None (the per-page path).  See the module docstring."""
    vma = mm.vma_containing(addr)
    if vma is None or vma.vm_end < addr + n * PAGE_SIZE or not _vma_takes(k, vma, write):
        return None
    if _ptes(mm, addr, n).any():
        return None
    pol = get_vma_policy(k, k.current, vma, addr)
    if pol.flags or pol.mode not in (MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND,
                                     MPOL_INTERLEAVE):
        return None
    if pol.mode == MPOL_INTERLEAVE:
        nodes = sorted(pol.nodes)
        off = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT) + np.arange(n)
        page_nid = np.array(nodes, np.int64)[off % len(nodes)]
        groups = [(node_zonelist(k, nid), None, np.flatnonzero(page_nid == nid))
                  for nid in nodes]
    elif pol.mode == MPOL_PREFERRED and pol.nodes:
        groups = [(node_zonelist(k, min(pol.nodes)), None, np.arange(n))]
    elif pol.mode == MPOL_BIND:
        groups = [(node_zonelist(k, numa_node_id(k)), set(pol.nodes), np.arange(n))]
    else:
        groups = [(node_zonelist(k, numa_node_id(k)), None, np.arange(n))]
    preferred = np.zeros(n, np.int64)
    preferred_zone = np.zeros(n, np.int64)
    il_first = np.full(n, -1, np.int64)
    zone_take: list[tuple[int, int, np.ndarray]] = []
    used: set[int] = set()
    for zonelist, mask, positions in groups:
        want = len(positions)
        if not want:
            continue
        usable, pref = _zonelist_and_mask(k, zonelist, mask)
        if pref is None:
            return None
        preferred[positions] = pref.nid
        preferred_zone[positions] = pref.id
        if pol.mode == MPOL_INTERLEAVE:
            il_first[positions] = zonelist[0].id
        got = 0
        for zone in usable:
            if got == want:
                break
            cap = max(0, zone.free_top - zone.pages_low)
            c = min(cap, want - got)
            if c <= 0:
                continue
            if zone.id in used or (pol.mode == MPOL_INTERLEAVE and got == 0
                                   and zone is not usable[0]):
                return None  # two groups in one zone: their order would matter
            if pol.mode == MPOL_INTERLEAVE and c < want:
                return None
            used.add(zone.id)
            zone_take.append((zone.id, c, positions[got:got + c]))
            got += c
        if got < want:
            return None  # some page would need the min watermark (or fail)
    cg_id = _mm_cgroup(k, mm)
    cg = k.memcgs.get(cg_id)
    if cg is None or cg.usage + n > cg.limit:
        return None
    if max(z.lru_seq for z in k.zones) + 2 * n > _SEQ_LIMIT or k.lru_disable_count:
        return None
    if tokens is not None and k.frames.mode == "bytes":
        budget = k.frames.budget_frames
        if budget is not None and k.frames.frames_held + n > budget:
            return None
    return FaultPlan(vma=vma, zone_take=zone_take, preferred=preferred,
                     preferred_zone=preferred_zone, interleave_first=il_first, memcg=cg_id)


def fault_batch(k: Kernel, mm: MmStruct, addr: int, n: int, write: bool,
                tokens: np.ndarray | None) -> bool:
    """Fault in (and store ``tokens`` into) the ``n`` none ptes from ``addr`` on arrays, as
    that many do_anonymous_page() faults in order would; False (nothing changed) when
    :func:`plan_fault_batch` refuses."""
    from pagemig.mm.memory import maybe_mkwrite, vma_page_prot
    from pagemig.mm.rmap import anon_vma_prepare

    if not write and k.profile.has("anon_zero_page"):
        vma = mm.vma_containing(addr)
        if vma is None or vma.vm_end < addr + n * PAGE_SIZE or not _vma_takes(k, vma, False) \
                or _ptes(mm, addr, n).any():
            return False
        # Linux 6.1: every read fault maps the zero page (a special pte, nothing else).
        _write_ptes(mm, addr, np.full(n, k.zero_page_pfn, np.int64),
                    mk_pte(0, vma_page_prot(vma)) | _PAGE_SPECIAL)
        if tokens is not None:
            raise AssertionError("a read touch stores nothing")
        return True
    plan = plan_fault_batch(k, mm, addr, n, write, tokens)
    if plan is None:
        return False
    vma = plan.vma
    anon_vma_prepare(k, vma)
    assert vma.anon_vma is not None
    p = k.pages
    stat = k.zone_stat
    pfn = np.empty(n, np.int64)
    zid = np.empty(n, np.int64)
    for zone_id, c, positions in plan.zone_take:
        zone = k.zones[zone_id]
        top = zone.free_top
        # The per-page path pops the top of the stack: page j of the zone gets top-1-j.
        pfn[positions] = zone.free_stack[top - c:top][::-1]
        zid[positions] = zone_id
        zone.free_top = top - c
        stat[zone_id, ZoneStat.NR_FREE_PAGES] -= c
    zone_nid = np.zeros(len(k.zones), np.int64)
    zone_nid[[z.id for z in k.zones]] = [z.nid for z in k.zones]
    nid = zone_nid[zid]
    nz = len(k.zones)
    # zone_statistics(): hit or miss against the preferred zone, local or other.
    hit = nid == plan.preferred
    stat[:, ZoneStat.NUMA_HIT] += np.bincount(zid[hit], minlength=nz)
    stat[:, ZoneStat.NUMA_MISS] += np.bincount(zid[~hit], minlength=nz)
    stat[:, ZoneStat.NUMA_FOREIGN] += np.bincount(plan.preferred_zone[~hit], minlength=nz)
    local = nid == k.cpu_to_node(k.current_cpu())
    stat[:, ZoneStat.NUMA_LOCAL] += np.bincount(zid[local], minlength=nz)
    stat[:, ZoneStat.NUMA_OTHER] += np.bincount(zid[~local], minlength=nz)
    il_hit = zid == plan.interleave_first
    stat[:, ZoneStat.NUMA_INTERLEAVE_HIT] += np.bincount(zid[il_hit], minlength=nz)
    # prep_new_page(), __GFP_ZERO, the charge, PG_uptodate, page_add_new_anon_rmap().
    k.frames.zero_many(pfn)
    cg = k.memcgs[plan.memcg]
    cg.usage += n
    cg.max_usage = max(cg.max_usage, cg.usage)
    flags = F_UPTODATE
    if k.profile.has("split_lru"):
        flags |= F_SWAPBACKED  # Linux 6.1: swap-backed from the rmap on
    if k.profile.has("anon_exclusive"):
        flags |= F_ANON_EXCLUSIVE
    p.flags[pfn] = flags
    p.mapcount[pfn] = 1
    p.mapping[pfn] = anon_mapping(vma.anon_vma.id)
    p.index[pfn] = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT) + np.arange(n)
    p.private[pfn] = 0
    p.memcg[pfn] = plan.memcg * 2 + MEM_CGROUP_CHARGE_TYPE_MAPPED
    stat[:, ZoneStat.NR_ANON_PAGES] += np.bincount(zid, minlength=nz)
    mm.anon_rss += n
    _pagevec_adds(k, pfn, zid)
    # The ptes: dirty, writable if the vma allows; a write's second look makes it young.
    bits = maybe_mkwrite(pte_mkdirty(mk_pte(0, vma_page_prot(vma))), vma)
    if write:
        bits = pte_mkdirty(pte_mkyoung(bits))
    _write_ptes(mm, addr, pfn, bits)
    if tokens is not None:
        k.frames.store_tokens(pfn, tokens)
    return True


def _write_ptes(mm: MmStruct, addr: int, pfn: np.ndarray, bits: int) -> None:
    # set_pte_at() of pte (pfn[i] << PAGE_SHIFT) | bits for the n pages from addr,
    # creating the page-table pages.
    ptes = (pfn.astype(np.uint64) << np.uint64(PAGE_SHIFT)) | np.uint64(bits)
    n = len(pfn)
    i = 0
    while i < n:
        a = addr + i * PAGE_SIZE
        slot = (a >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)
        c = min(PTRS_PER_PTE - slot, n - i)
        table = mm.pte_table(a, True)
        assert table is not None
        table[slot:slot + c] = ptes[i:i + c]
        i += c


def _pagevec_adds(k: Kernel, pfn: np.ndarray, zid: np.ndarray) -> None:
    # lru_cache_add_active() of each page in order, into an empty active pagevec: every
    # PAGEVEC_SIZE-th add drains the pagevec (the pages get PG_lru and PG_active and the
    # next stamps of their zones, in order; the pagevec's references are dropped); the
    # pages of the last, partial pagevec stay there holding a reference.
    # Linux 6.1: the page that fills the pagevec is put on a list before its rmap makes it
    # swap-backed (the file list), then moved to the anon list: it takes two stamps.
    p = k.pages
    n = len(pfn)
    cpu = k.current_cpu()
    assert not k.pvec_len[cpu, PVEC_ACTIVE]
    full = n // PAGEVEC_SIZE * PAGEVEC_SIZE
    d_pfn, d_zid = pfn[:full], zid[:full]
    weight = np.ones(full, np.int64)
    if k.profile.has("split_lru"):
        weight[PAGEVEC_SIZE - 1::PAGEVEC_SIZE] = 2
    stamp = np.empty(full, np.int64)
    for z in k.zones:
        sel = d_zid == z.id
        if not sel.any():
            continue
        csum = np.cumsum(weight[sel])
        stamp[sel] = z.lru_seq + csum
        z.lru_seq += int(csum[-1])
    p.lru[d_pfn] = LRU_ACTIVE
    p.lru_seq[d_pfn] = stamp
    p.flags[d_pfn] |= F_LRU | F_ACTIVE
    p.count[d_pfn] = 1
    k.zone_stat[:, ZoneStat.NR_ACTIVE] += np.bincount(d_zid, minlength=len(k.zones))
    left = pfn[full:]
    k.pvecs[cpu, PVEC_ACTIVE, :len(left)] = left
    k.pvec_len[cpu, PVEC_ACTIVE] = len(left)
    p.lru[left] = LRU_PAGEVEC
    p.count[left] = 2
    assert LRU_NONE != LRU_PAGEVEC
