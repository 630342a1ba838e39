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
from pagemig.mm.page_alloc import __alloc_pages, node_zonelist
from pagemig.mm.mmzone import ZoneStat

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.sched import Task

MPOL_DEFAULT = 0
MPOL_PREFERRED = 1
MPOL_BIND = 2
MPOL_INTERLEAVE = 3
MPOL_MAX = 4

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


def alloc_page_pseudo_vma(k: Kernel, gfp: int, pol: Mempolicy | None, idx: int) -> int | None:
    """alloc_page_vma() on shmem's pseudo vma (vm_start 0, vm_pgoff ``idx``)."""
    task = k.current
    if pol is None:
        pol = task.mempolicy if task is not None and task.mempolicy else Mempolicy(MPOL_DEFAULT)
    il = offset_il_node(pol, idx) if pol.mode == MPOL_INTERLEAVE else None
    return _alloc_by_policy(k, gfp, pol, il)


def get_nodes(k: Kernel, nmask: int, maxnode: int) -> tuple[int, set[int]]:
    """Model of get_nodes(): read a user node mask; returns (0 or -errno, nodes).

    Only bits below ``maxnode - 1`` are taken.  Longs beyond the kernel's own nodemask
    (MAX_NUMNODES bits) are read and must have no set bit among the kept bits.
    """
    from pagemig.mm.fault import copy_from_user

    m = (maxnode - 1) & ((1 << 64) - 1)
    if m == 0 or nmask == 0:
        return 0, set()
    if m > PAGE_SIZE * 8:
        return -errno.EINVAL, set()
    nlongs = (m + BITS_PER_LONG - 1) // BITS_PER_LONG
    klongs = (MAX_NUMNODES + BITS_PER_LONG - 1) // BITS_PER_LONG
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
