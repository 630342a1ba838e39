"""Model of mm/mempolicy.c (Linux 2.6.27): memory policies, and the callers of migration.

This module holds the policy objects and allocation by policy (alloc_page_vma() and
friends), vma_migratable(), get_nodes(), check_range() and sys_mbind().  Policies are
applied by mbind() on vmas, by set_mempolicy() on tasks, and (for tmpfs) per file offset in
the inode's shared policy.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pagemig.mm.mm_types import (
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_HUGETLB,
    VM_IO,
    VM_PFNMAP,
    VM_RESERVED,
    VmArea,
)
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_alloc import GFP_HIGHUSER_MOVABLE, __alloc_pages, node_zonelist
from pagemig.mm.swap import lru_cache_disable, lru_cache_enable

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.sched import Task

MPOL_DEFAULT = 0
MPOL_PREFERRED = 1
MPOL_BIND = 2
MPOL_INTERLEAVE = 3
MPOL_MAX = 4
MPOL_LOCAL = 4  # Linux 3.8 on: a mode of its own (allocate on the local node)
MPOL_PREFERRED_MANY = 5  # Linux 5.15 on (not modelled)

MPOL_F_STATIC_NODES = 1 << 15
MPOL_F_RELATIVE_NODES = 1 << 14
MPOL_MODE_FLAGS = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES

MPOL_MF_STRICT = 1 << 0
MPOL_MF_MOVE = 1 << 1
MPOL_MF_MOVE_ALL = 1 << 2
MPOL_MF_INTERNAL = 1 << 3
MPOL_MF_DISCONTIG_OK = MPOL_MF_INTERNAL << 0
MPOL_MF_INVERT = MPOL_MF_INTERNAL << 1

MAX_NUMNODES = 64  # CONFIG_NODES_SHIFT=6, the x86_64 default of 2.6.27
MAX_NUMNODES_SHIFT_10 = 1024  # CONFIG_NODES_SHIFT=10, as Debian builds 6.1
BITS_PER_LONG = 64

MODE_NAMES = {MPOL_DEFAULT: "default", MPOL_PREFERRED: "preferred", MPOL_BIND: "bind",
              MPOL_INTERLEAVE: "interleave"}


@dataclass(frozen=True)
class Mempolicy:
    """Model of struct mempolicy: a mode and its nodes (an empty preferred set is local)."""

    mode: int
    nodes: frozenset[int] = frozenset()
    flags: int = 0

    def __str__(self) -> str:
        nodes = ",".join(str(n) for n in sorted(self.nodes))
        return f"{MODE_NAMES.get(self.mode, self.mode)}:{nodes or 'local'}"


def numa_node_id(k: Kernel) -> int:
    """Model of numa_node_id(): the node of the CPU the current task runs on."""
    return k.cpu_to_node(k.current_cpu())


def vma_migratable(k: Kernel, vma: VmArea) -> bool:
    """Model of vma_migratable(): no VM_IO/HUGETLB/PFNMAP/RESERVED, file zone >= policy_zone."""
    if vma.vm_flags & (VM_IO | VM_HUGETLB | VM_PFNMAP | VM_RESERVED):
        return False
    if vma.vm_file is not None and vma.vm_file.gfp_zone < k.policy_zone:
        return False
    return True


def get_vma_policy(k: Kernel, task: Task | None, vma: VmArea | None, addr: int) -> Mempolicy:
    """Model of get_vma_policy(): the vma's (or shared) policy, else the task's, else default."""
    from pagemig.mm.shmem import mpol_shared_policy_lookup

    pol = task.mempolicy if task is not None else None
    if vma is not None:
        if vma.vm_file is not None and vma.vm_file.is_shmem:
            idx = ((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
            vpol = mpol_shared_policy_lookup(vma.vm_file, idx)
            if vpol is not None:
                pol = vpol
        elif vma.policy is not None:
            pol = vma.policy
    return pol if pol is not None else Mempolicy(MPOL_DEFAULT)


def offset_il_node(pol: Mempolicy, off: int) -> int:
    """Model of offset_il_node(): the (off mod weight)-th node of the interleave set."""
    nodes = sorted(pol.nodes)
    return nodes[off % len(nodes)]


def interleave_nid(pol: Mempolicy, vma: VmArea | None, addr: int) -> int:
    """Model of interleave_nid() for base pages: by the page's offset in the vma's object."""
    if vma is None:
        raise ValueError("interleave_nid without a vma")
    off = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT)
    return offset_il_node(pol, off)


def alloc_page_interleave(k: Kernel, gfp: int, nid: int) -> int | None:
    """Model of alloc_page_interleave(): allocate from ``nid``'s zonelist, count the hit."""
    zonelist = node_zonelist(k, nid)
    pfn = __alloc_pages(k, gfp, zonelist)
    if pfn is not None and zonelist and k.page_zone(pfn) is zonelist[0]:
        k.zone_stat[zonelist[0].id, ZoneStat.NUMA_INTERLEAVE_HIT] += 1
    return pfn


def _alloc_by_policy(k: Kernel, gfp: int, pol: Mempolicy, il_node: int | None) -> int | None:
    if pol.mode == MPOL_INTERLEAVE:
        assert il_node is not None
        return alloc_page_interleave(k, gfp, il_node)
    local = numa_node_id(k)
    if pol.mode == MPOL_PREFERRED and pol.nodes:
        return __alloc_pages(k, gfp, node_zonelist(k, min(pol.nodes)))
    if pol.mode == MPOL_BIND:
        return __alloc_pages(k, gfp, node_zonelist(k, local), set(pol.nodes))
    return __alloc_pages(k, gfp, node_zonelist(k, local))


def alloc_page_vma(k: Kernel, gfp: int, vma: VmArea | None, addr: int) -> int | None:
    """Model of alloc_page_vma(): allocate one page by the policy in force at ``addr``."""
    pol = get_vma_policy(k, k.current, vma, addr)
    il = interleave_nid(pol, vma, addr) if pol.mode == MPOL_INTERLEAVE else None
    return _alloc_by_policy(k, gfp, pol, il)


def interleave_nodes(k: Kernel, pol: Mempolicy) -> int:
    """Model of interleave_nodes(): the task's next interleave node (``il_next``), which
    then moves on to the following node of the set, round-robin."""
    nodes = sorted(pol.nodes)
    task = k.current
    nid = task.il_next if task is not None else None
    if nid not in nodes:
        nid = nodes[0]
    if task is not None:
        task.il_next = next((n for n in nodes if n > nid), nodes[0])
    return nid


def alloc_pages_current(k: Kernel, gfp: int) -> int | None:
    """Model of alloc_pages_current(): one page by the task's own policy (no vma: the
    page cache's allocations); an interleave policy takes the task's next node."""
    task = k.current
    pol = task.mempolicy if task is not None and task.mempolicy else Mempolicy(MPOL_DEFAULT)
    il = interleave_nodes(k, pol) if pol.mode == MPOL_INTERLEAVE else None
    return _alloc_by_policy(k, gfp, pol, il)


def alloc_page_pseudo_vma(k: Kernel, gfp: int, pol: Mempolicy | None, idx: int) -> int | None:
    """alloc_page_vma() on shmem's pseudo vma (vm_start 0, vm_pgoff ``idx``)."""
    task = k.current
    if pol is None:
        pol = task.mempolicy if task is not None and task.mempolicy else Mempolicy(MPOL_DEFAULT)
    il = offset_il_node(pol, idx) if pol.mode == MPOL_INTERLEAVE else None
    return _alloc_by_policy(k, gfp, pol, il)


def max_numnodes(k: Kernel) -> int:
    """MAX_NUMNODES of the modelled build: 64 (2.6.27's x86_64 default) or 1024."""
    return MAX_NUMNODES_SHIFT_10 if k.profile.has("nodes_shift_10") else MAX_NUMNODES


def get_nodes(k: Kernel, nmask: int, maxnode: int) -> tuple[int, set[int]]:
    """Model of get_nodes(): read a user node mask; returns (0 or -errno, nodes).

    Only bits below ``maxnode - 1`` are taken.  Longs beyond the kernel's own nodemask
    (MAX_NUMNODES bits) are read and must have no set bit among the kept bits.
    Linux 6.1 (Debian's build): MAX_NUMNODES is 1024, so the kernel's mask is 16 longs.
    """
    from pagemig.mm.fault import copy_from_user

    m = (maxnode - 1) & ((1 << 64) - 1)
    if m == 0 or nmask == 0:
        return 0, set()
    if m > PAGE_SIZE * 8:
        return -errno.EINVAL, set()
    nlongs = (m + BITS_PER_LONG - 1) // BITS_PER_LONG
    klongs = (max_numnodes(k) + BITS_PER_LONG - 1) // BITS_PER_LONG
    if nlongs > klongs:
        for i in range(klongs, nlongs):
            data = copy_from_user(k, nmask + i * 8, 8)
            if data is None:
                return -errno.EFAULT, set()
            word = int.from_bytes(data, "little")
            keep = m - i * BITS_PER_LONG
            if keep < BITS_PER_LONG:
                word &= (1 << keep) - 1
            if word:
                return -errno.EINVAL, set()
        nlongs = klongs
    data = copy_from_user(k, nmask, nlongs * 8)
    if data is None:
        return -errno.EFAULT, set()
    bits = int.from_bytes(data, "little")
    if m < nlongs * BITS_PER_LONG:
        bits &= (1 << m) - 1
    return 0, {i for i in range(nlongs * BITS_PER_LONG) if bits >> i & 1}


# -- mbind() --

def mode_and_nodes(k: Kernel, mode: int, nmask: int,
                   maxnode: int) -> tuple[int, int, int, set[int]]:
    """The checks sys_mbind() and sys_set_mempolicy() share: split the mode flags off,
    refuse a bad mode or STATIC with RELATIVE, read the mask.  Returns
    (0 or -errno, mode, mode flags, nodes)."""
    mode_flags = mode & MPOL_MODE_FLAGS
    mode &= ~MPOL_MODE_FLAGS
    if not 0 <= mode < policy_mode_max(k):
        return -errno.EINVAL, mode, mode_flags, set()
    if mode == MPOL_PREFERRED_MANY:
        raise NotImplementedError("MPOL_PREFERRED_MANY (Linux 5.15) is not modelled")
    if mode_flags & MPOL_F_STATIC_NODES and mode_flags & MPOL_F_RELATIVE_NODES:
        return -errno.EINVAL, mode, mode_flags, set()
    err, nodes = get_nodes(k, nmask, maxnode)
    return err, mode, mode_flags, nodes


def policy_mode_max(k: Kernel) -> int:
    """MPOL_MAX of the release: 4 in 2.6.27; 6 in 6.1 (MPOL_LOCAL, MPOL_PREFERRED_MANY)."""
    if k.profile.has("mpol_preferred_many"):
        return MPOL_PREFERRED_MANY + 1
    return MPOL_LOCAL + 1 if k.profile.has("mpol_local") else MPOL_MAX


def mpol_new(k: Kernel, mode: int, flags: int, nodes: set[int]) -> Mempolicy | None | int:
    """Model of mpol_new(): a policy, None for MPOL_DEFAULT, or -EINVAL.

    Nodes are intersected with the current task's cpuset (contextualised); an empty result
    is -EINVAL, except MPOL_PREFERRED with an empty mask, which is local allocation.
    """
    if mode == MPOL_DEFAULT:
        return -errno.EINVAL if nodes else None
    if mode == MPOL_LOCAL:
        # Linux 6.1: MPOL_LOCAL takes no nodes and no mode flags; it allocates as a
        # preferred policy with no node does (the local node), which is how it is kept here.
        if nodes or flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES):
            return -errno.EINVAL
        return Mempolicy(MPOL_PREFERRED, frozenset(), flags)
    if mode == MPOL_PREFERRED and not nodes:
        if flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES):
            return -errno.EINVAL
        return Mempolicy(MPOL_PREFERRED, frozenset(), flags)
    if not nodes:
        return -errno.EINVAL
    task = k.current
    allowed = task.mems_allowed if task is not None else frozenset(k.nodes_with_memory())
    if flags & MPOL_F_RELATIVE_NODES:
        ordered = sorted(allowed)
        ctx = {ordered[n % len(ordered)] for n in nodes} if ordered else set()
    else:
        ctx = set(nodes) & set(allowed)
    if not ctx:
        return -errno.EINVAL
    if mode == MPOL_PREFERRED:
        return Mempolicy(MPOL_PREFERRED, frozenset({min(ctx)}), flags)
    return Mempolicy(mode, frozenset(ctx), flags)


def policy_vma(k: Kernel, vma: VmArea, new: Mempolicy | None) -> int:
    """Model of policy_vma(): a tmpfs vma stores the policy in the inode's shared policy too."""
    from pagemig.mm.shmem import mpol_set_shared_policy

    if vma.vm_file is not None and vma.vm_file.is_shmem:
        mpol_set_shared_policy(vma.vm_file, vma.vm_pgoff, vma.vm_pgoff + vma.npages, new)
    vma.policy = new
    return 0


def mbind_range(k: Kernel, vma: VmArea, start: int, end: int, new: Mempolicy | None) -> int:
    """Model of mbind_range(): split vmas at the range's edges and set the policy (no merge)."""
    from pagemig.mm.mmap import split_vma

    mm = vma.vm_mm
    cur: VmArea | None = vma
    while cur is not None and cur.vm_start < end:
        i = mm.vmas.index(cur)
        nxt = mm.vmas[i + 1] if i + 1 < len(mm.vmas) else None
        if cur.vm_start < start:
            split_vma(k, mm, cur, start, True)
        if cur.vm_end > end:
            split_vma(k, mm, cur, end, False)
        err = policy_vma(k, cur, new)
        if err:
            return err
        cur = nxt
    return 0


def check_range(k: Kernel, mm, start: int, end: int, nodes: set[int], flags: int,  # type: ignore[no-untyped-def]
                pagelist) -> VmArea | int:  # type: ignore[no-untyped-def]
    """Model of check_range(): the first vma of the range, or -EFAULT / -EIO.

    Hole checks (unless MPOL_MF_DISCONTIG_OK) happen when the walk reaches each vma, after
    the earlier vmas were scanned.  Scanned vmas queue their misplaced pages (MOVE) or fail
    with -EIO on the first one (STRICT alone).
    """
    from pagemig.mm.migrate import migrate_prep

    if flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        migrate_prep(k)
    first = mm.find_vma(start)
    if first is None:
        return -errno.EFAULT
    prev = None
    i = mm.vmas.index(first)
    while i < len(mm.vmas) and mm.vmas[i].vm_start < end:
        vma = mm.vmas[i]
        if not flags & MPOL_MF_DISCONTIG_OK:
            if i + 1 == len(mm.vmas) and vma.vm_end < end:
                return -errno.EFAULT
            if prev is not None and prev.vm_end < vma.vm_start:
                return -errno.EFAULT
        err = _scan_vma(k, vma, start, end, nodes, flags, pagelist)
        if err:
            return err
        prev = vma
        i += 1
    return first


def _scan_vma(k: Kernel, vma: VmArea, start: int, end: int, nodes: set[int], flags: int,
              pagelist) -> int:  # type: ignore[no-untyped-def]
    # The part of [start, end) in ``vma``: queue its misplaced pages (MOVE, migratable vmas)
    # or find one (STRICT); hugetlb vmas are skipped.  0 or -EIO.
    scan = not vma.vm_flags & VM_HUGETLB and (
        flags & MPOL_MF_STRICT
        or (flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) and vma_migratable(k, vma)))
    if not scan:
        return 0
    return check_pte_range(k, vma, max(start, vma.vm_start), min(end, vma.vm_end), nodes,
                           flags, pagelist)


def queue_pages_range(k: Kernel, mm, start: int, end: int, nodes: set[int], flags: int,  # type: ignore[no-untyped-def]
                      pagelist) -> VmArea | int:
    """Model of queue_pages_range() (Linux 6.1, replacing check_range()): the first vma of
    the range, or -EFAULT / -EIO.

    Unless MPOL_MF_DISCONTIG_OK, a hole anywhere in the range is -EFAULT: before the first
    vma, between two vmas, or after the last; a range with no vma at all is -EFAULT even
    with it.  Vmas are scanned in order and the walk stops at the first error, after the
    earlier vmas queued their pages.
    """
    first = None
    i = 0
    while i < len(mm.vmas) and mm.vmas[i].vm_end <= start:
        i += 1
    while i < len(mm.vmas) and mm.vmas[i].vm_start < end:
        vma = mm.vmas[i]
        nxt = mm.vmas[i + 1] if i + 1 < len(mm.vmas) else None
        if not flags & MPOL_MF_DISCONTIG_OK:
            if first is None and start < vma.vm_start:
                return -errno.EFAULT  # a hole at the head of the range
            if vma.vm_end < end and (nxt is None or vma.vm_end < nxt.vm_start):
                return -errno.EFAULT  # a hole in the middle or at the tail
        first = first or vma
        err = _scan_vma(k, vma, start, end, nodes, flags, pagelist)
        if err:
            return err
        i += 1
    return first if first is not None else -errno.EFAULT


def check_pte_range(k: Kernel, vma: VmArea, start: int, end: int, nodes: set[int], flags: int,
                    pagelist) -> int:  # type: ignore[no-untyped-def]
    """Model of check_pte_range(): select present, normal pages whose node is (not) wanted."""
    from pagemig.mm.memory import vm_normal_page
    from pagemig.mm.page_flags import F_RESERVED
    from pagemig.mm.swapops import pte_present

    if flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        from pagemig.mm.migrate_runs import queue_range_on_arrays

        if queue_range_on_arrays(k, vma, start, end, nodes, flags, pagelist):
            return 0  # the same pages isolated in the same order, on arrays
    mm = vma.vm_mm
    for addr in range(start, end, PAGE_SIZE):
        pte = mm.get_pte(addr)
        if not pte_present(pte):
            continue
        page = vm_normal_page(k, vma, addr, pte)
        if page < 0 or int(k.pages.flags[page]) & F_RESERVED:
            continue
        nid = k.pfn_to_nid(page)
        if (nid in nodes) == bool(flags & MPOL_MF_INVERT):
            continue
        if flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
            migrate_page_add(k, page, pagelist, flags)
        else:
            return -errno.EIO
    return 0


def migrate_page_add(k: Kernel, page: int, pagelist, flags: int) -> None:  # type: ignore[no-untyped-def]
    """Model of migrate_page_add(): isolate unshared pages (all with MOVE_ALL); failures ignored."""
    from pagemig.mm.migrate import isolate_lru_page

    if flags & MPOL_MF_MOVE_ALL or int(k.pages.mapcount[page]) == 1:
        isolate_lru_page(k, page, pagelist)


def new_vma_page(k: Kernel, page: int, private: VmArea) -> tuple[int | None, int | None]:
    """Model of new_vma_page(): allocate by the policy of the first vma mapping ``page``."""
    from pagemig.mm.rmap import page_address_in_vma

    vma: VmArea | None = private
    mm = private.vm_mm
    address = 0
    i = mm.vmas.index(private) if private in mm.vmas else len(mm.vmas)
    while i < len(mm.vmas):
        vma = mm.vmas[i]
        address = page_address_in_vma(k, page, vma)
        if address >= 0:
            break
        i += 1
    else:
        vma = None
    return alloc_page_vma(k, GFP_HIGHUSER_MOVABLE, vma, address if vma else 0), None


def sys_mbind(k: Kernel, start: int, length: int, mode: int, nmask: int, maxnode: int,
              flags: int):  # type: ignore[no-untyped-def]
    """Model of sys_mbind() and do_mbind() (a generator: migration may sleep)."""
    from pagemig.sched import CAP_SYS_NICE

    err, mode, mode_flags, nodes = mode_and_nodes(k, mode, nmask, maxnode)
    if err:
        return err
    if flags & ~(MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        return -errno.EINVAL
    task = k.current
    assert task is not None and task.mm is not None
    if flags & MPOL_MF_MOVE_ALL and not task.capable(CAP_SYS_NICE):
        return -errno.EPERM
    if start & (PAGE_SIZE - 1):
        return -errno.EINVAL
    if mode == MPOL_DEFAULT:
        flags &= ~MPOL_MF_STRICT
    length = (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & ((1 << 64) - 1)
    end = (start + length) & ((1 << 64) - 1)
    if end < start:
        return -errno.EINVAL
    if end == start:
        return 0
    new = mpol_new(k, mode, mode_flags, nodes)
    if isinstance(new, int):
        return new
    if new is None:
        flags |= MPOL_MF_DISCONTIG_OK
    # Linux 5.13 on: the per-CPU LRU add caches are off while the pages move.
    no_lru_cache = bool(flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)) \
        and k.profile.has("lru_cache_disable")
    if no_lru_cache:
        lru_cache_disable(k)
    try:
        return (yield from _mbind_queue_and_move(k, task, start, end, nodes, flags, new))
    finally:
        if no_lru_cache:
            lru_cache_enable(k)


def _mbind_queue_and_move(k: Kernel, task, start: int, end: int, nodes: set[int],  # type: ignore[no-untyped-def]
                          flags: int, new: Mempolicy | None):
    # The rest of do_mbind(): queue the misplaced pages, set the policy, move the pages.
    from pagemig.mm.migrate import migrate_pages, putback_lru_pages
    from pagemig.mm.mm_types import PageList

    pagelist = PageList(k.pages)
    plan = None
    if flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) and new is not None:
        # The moves on arrays, planned before the walk isolates anything, after the drain
        # the walk starts with (mm/migrate_batch.py).
        from pagemig.mm.migrate import migrate_prep
        from pagemig.mm.migrate_batch import batch_allowed, plan_mbind_batch

        if batch_allowed(k):
            migrate_prep(k)
            plan = plan_mbind_batch(k, task.mm, start, end, nodes, flags, new)
    # Linux 6.1: queue_pages_range() replaces check_range() (hole rules, putback on error).
    if k.profile.has("mbind_queue_pages"):
        if flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
            from pagemig.mm.migrate import migrate_prep

            migrate_prep(k)
        vma = queue_pages_range(k, task.mm, start, end, nodes, flags | MPOL_MF_INVERT,
                                pagelist)
    else:
        vma = check_range(k, task.mm, start, end, nodes, flags | MPOL_MF_INVERT, pagelist)
    if isinstance(vma, int):
        if k.profile.has("mbind_queue_pages"):
            putback_lru_pages(k, pagelist)  # Linux 6.1: every error path puts pages back
        else:
            k.leaked_isolated.extend(pagelist)  # quirk Q7: isolated pages are not put back
        return vma
    err = mbind_range(k, vma, start, end, new)
    nr_failed = 0
    if err and k.profile.has("mbind_queue_pages"):
        putback_lru_pages(k, pagelist)  # Linux 6.1: nothing moves when the policy failed
    elif plan is not None and list(pagelist) == plan.old.tolist():
        from pagemig.mm.migrate_batch import migrate_batch
        from pagemig.mm.vmstat import PGMIGRATE_SUCCESS, count_vm_events

        migrate_batch(k, task.mm, plan, isolated=True)  # every queued page moves
        count_vm_events(k, PGMIGRATE_SUCCESS, len(plan.old))
    elif not pagelist.list_empty():
        nr_failed = yield from migrate_pages(k, pagelist, new_vma_page, vma)
    if not err and nr_failed and flags & MPOL_MF_STRICT:
        err = -errno.EIO
    return err


# -- set_mempolicy(), migrate_pages() --

def sys_set_mempolicy(k: Kernel, mode: int, nmask: int, maxnode: int) -> int:
    """Model of sys_set_mempolicy() / do_set_mempolicy(): the current task's policy."""
    err, mode, mode_flags, nodes = mode_and_nodes(k, mode, nmask, maxnode)
    if err:
        return err
    new = mpol_new(k, mode, mode_flags, nodes)
    if isinstance(new, int):
        return new
    assert k.current is not None
    k.current.mempolicy = new
    if new is not None and new.mode == MPOL_INTERLEAVE and new.nodes:
        k.current.il_next = min(new.nodes)
    return 0


def new_node_page(k: Kernel, page: int, node: int) -> tuple[int | None, int | None]:
    """Model of new_node_page(): a page on ``node`` or, failing that, another (no THISNODE)."""
    from pagemig.mm.page_alloc import alloc_pages_node

    if k.profile.has("migrate_to_node_thisnode"):
        # Linux 6.1: migrate_to_node() uses alloc_migration_target() with __GFP_THISNODE.
        from pagemig.mm.migrate import alloc_migration_target

        return alloc_migration_target(k, page, node)
    return alloc_pages_node(k, node, GFP_HIGHUSER_MOVABLE), None


def node_remap(s: int, from_nodes: set[int], to_nodes: set[int]) -> int:
    """Model of node_remap() (bitmap_bitremap()): the k-th node of ``from`` to the
    (k mod |to|)-th node of ``to``; nodes not in ``from``, or an empty ``to``, map to themselves."""
    if s not in from_nodes or not to_nodes:
        return s
    ordinal = sorted(from_nodes).index(s)
    return sorted(to_nodes)[ordinal % len(to_nodes)]


def migrate_to_node(k: Kernel, mm, source: int, dest: int, flags: int):  # type: ignore[no-untyped-def]
    """Model of migrate_to_node(): move every selected page on ``source`` towards ``dest``.

    Scans [first vma start, TASK_SIZE) with MPOL_MF_DISCONTIG_OK; check_range()'s result
    is ignored.  Returns 0 or migrate_pages()'s result (a generator).
    """
    from pagemig.mm.fault import TASK_SIZE
    from pagemig.mm.migrate import migrate_pages
    from pagemig.mm.migrate_batch import migrate_to_node_batch
    from pagemig.mm.mm_types import PageList

    if mm.vmas:
        # The same pair on arrays when every page it queues is simple (mm/migrate_batch.py).
        done = migrate_to_node_batch(k, mm, source, dest, flags)
        if done is not None:
            return done
    pagelist = PageList(k.pages)
    if mm.vmas:
        check_range(k, mm, mm.vmas[0].vm_start, TASK_SIZE, {source},
                    flags | MPOL_MF_DISCONTIG_OK, pagelist)
    if not pagelist.list_empty():
        return (yield from migrate_pages(k, pagelist, new_node_page, dest))
    return 0


def do_migrate_pages(k: Kernel, mm, from_nodes: set[int], to_nodes: set[int], flags: int):  # type: ignore[no-untyped-def]
    """Model of do_migrate_pages(): pair source and destination nodes and move each pair.

    The scan picks, among the remaining sources, the last one whose destination is not a
    remaining source (so a node is emptied before it is filled); |to| < |from| wraps around.
    Returns the number of pages not moved, or a negative errno (a generator).
    """
    from pagemig.mm.migrate import migrate_vmas

    # 2.6.27 passes (from, to) to a definition that names them (to, from), which passes them
    # on as (to, from) to a hook declared (from, to): the hook gets from first.
    err = migrate_vmas(k, mm, frozenset(from_nodes), frozenset(to_nodes), flags)
    if err:
        return err
    if not k.profile.has("lru_cache_disable"):
        return (yield from _migrate_node_pairs(k, mm, from_nodes, to_nodes, flags))
    # Linux 5.13 on: the per-CPU LRU add caches are off while the pages move.
    lru_cache_disable(k)
    try:
        return (yield from _migrate_node_pairs(k, mm, from_nodes, to_nodes, flags))
    finally:
        lru_cache_enable(k)


def _migrate_node_pairs(k: Kernel, mm, from_nodes: set[int], to_nodes: set[int],  # type: ignore[no-untyped-def]
                        flags: int):
    # The pairs of do_migrate_pages(), each moved by migrate_to_node().
    busy = 0
    tmp = set(from_nodes)
    while tmp:
        source, dest = -1, 0
        for s in sorted(tmp):
            # Linux 6.1: with |from| != |to| the relative placement cannot be kept, so a
            # source node that is also a destination keeps its pages.
            if (k.profile.has("migrate_pages_skip_dest_sources")
                    and len(from_nodes) != len(to_nodes) and s in to_nodes):
                continue
            d = node_remap(s, from_nodes, to_nodes)
            if s == d:
                continue
            source, dest = s, d
            if dest not in tmp:
                break
        if source == -1:
            break
        tmp.discard(source)
        err = yield from migrate_to_node(k, mm, source, dest, flags)
        if k.tracing:
            k.trace("mm_migrate_to_node", source=source, dest=dest, ret=err)
        if err > 0:
            busy += err
        if err < 0:
            return err
    return busy


def sys_migrate_pages(k: Kernel, pid: int, maxnode: int, old_nodes: int, new_nodes: int):  # type: ignore[no-untyped-def]
    """Model of sys_migrate_pages(): the migrate_pages(2) system call (a generator)."""
    from pagemig.cpuset import cpuset_mems_allowed
    from pagemig.mm.migrate import find_task_mm
    from pagemig.ptrace import PTRACE_MODE_READ_REALCREDS, ptrace_may_access
    from pagemig.sched import CAP_SYS_NICE, may_move_memory_of
    from pagemig.security import security_task_movememory

    err, old = get_nodes(k, old_nodes, maxnode)
    if err:
        return err
    err, new = get_nodes(k, new_nodes, maxnode)
    if err:
        return err
    current = k.current
    assert current is not None
    nice = current.capable(CAP_SYS_NICE)
    if k.profile.has("migrate_pages_new_in_cpuset"):
        # Linux 6.1: the task first, then ptrace_may_access(), the target's cpuset (EPERM),
        # `new` cut to the caller's cpuset (empty: EINVAL), the LSM, and only then the mm.
        task = k.current if pid == 0 else k.find_task_by_vpid(pid)
        if task is None:
            return -errno.ESRCH
        if k.profile.has("move_pages_ptrace_check"):
            allowed = ptrace_may_access(current, task, PTRACE_MODE_READ_REALCREDS)
        else:
            allowed = may_move_memory_of(current, task)
        if not allowed:
            return -errno.EPERM
        if not new <= set(cpuset_mems_allowed(task)) and not nice:
            return -errno.EPERM
        new &= set(cpuset_mems_allowed(current))
        if not new:
            return -errno.EINVAL
        err = security_task_movememory(k.security, task)
        if err:
            return err
        mm = k.get_task_mm(task)
        if mm is None:
            return -errno.EINVAL
    else:
        err, task, mm = find_task_mm(k, pid)
        if err:
            return err
        assert task is not None and mm is not None
        if not may_move_memory_of(current, task):
            return -errno.EPERM
        if not new <= set(cpuset_mems_allowed(task)) and not nice:
            return -errno.EPERM
        if not new <= set(k.nodes_with_memory()):
            return -errno.EINVAL
        err = security_task_movememory(k.security, task)
        if err:
            return err
    flags = MPOL_MF_MOVE_ALL if nice else MPOL_MF_MOVE
    return (yield from do_migrate_pages(k, mm, old, new, flags))
