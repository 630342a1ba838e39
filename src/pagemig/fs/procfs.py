"""Model of the /proc and /sys files that scenarios read and write (Linux 2.6.27).

The files and where 2.6.27 defines them:

- ``/proc/meminfo``, ``/proc/kpagecount``, ``/proc/kpageflags``: fs/proc/proc_misc.c;
- ``/proc/PID/pagemap``: fs/proc/task_mmu.c;
- ``/proc/vmstat``: mm/vmstat.c;
- ``/sys/devices/system/node``: drivers/base/node.c (``possible``, ``online``,
  ``has_normal_memory``, ``has_cpu``; per node ``cpumap``, ``cpulist``, ``meminfo``,
  ``numastat``, ``distance`` and the ``cpuN`` links);
- ``/proc/sys/vm/drop_caches``: kernel/sysctl.c; ``/sys/kernel/mm/hugepages``: mm/hugetlb.c.

Paths that appeared after 2.6.27 give -ENOENT, as the VFS does: ``node/has_memory`` (3.8),
``nodeN/hugepages`` (2.6.32), ``/sys/kernel/mm/ksm`` (2.6.32),
``/sys/kernel/mm/transparent_hugepage`` (2.6.38), ``/sys/fs/cgroup`` (no cgroup v2, nothing
mounted there), ``/proc/sys/kernel/numa_balancing`` (3.8).  The directories
``/sys/devices/system/node``, its ``nodeN`` and ``/sys/kernel/mm`` are modelled whole, so any
other name in them is -ENOENT too.  A path the model cannot answer for (another directory's
unknown entry, or a file whose every field the model does not keep) raises
:class:`NotModelled`.
"""

from __future__ import annotations

import errno
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pagemig.mm.mm_types import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_flags import F_RESERVED, PG
from pagemig.mm.vmstat import vm_event_value

if TYPE_CHECKING:
    from pagemig.kernel import Kernel
    from pagemig.mm.mm_types import MmStruct, VmArea
    from pagemig.sched import Task

CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_SYS_PTRACE = 19
CAP_SYS_ADMIN = 21


class NotModelled(Exception):
    """The model cannot give the kernel's answer for this file (the message says which)."""


# -- /proc/kpageflags and /proc/kpagecount (fs/proc/proc_misc.c) --

KPF_LOCKED = 0
KPF_ERROR = 1
KPF_REFERENCED = 2
KPF_UPTODATE = 3
KPF_DIRTY = 4
KPF_LRU = 5
KPF_ACTIVE = 6
KPF_SLAB = 7
KPF_WRITEBACK = 8
KPF_RECLAIM = 9
KPF_BUDDY = 10

# (KPF bit, PG bit) of each term of kpageflags_read() after the locked one.
_KPF_TERMS = (
    (KPF_ERROR, PG.PG_error), (KPF_REFERENCED, PG.PG_referenced),
    (KPF_UPTODATE, PG.PG_uptodate), (KPF_DIRTY, PG.PG_dirty), (KPF_LRU, PG.PG_lru),
    (KPF_ACTIVE, PG.PG_active), (KPF_SLAB, PG.PG_slab), (KPF_WRITEBACK, PG.PG_writeback),
    (KPF_RECLAIM, PG.PG_reclaim), (KPF_BUDDY, PG.PG_buddy),
)


def kpageflags_word(flags: int) -> int:
    """The u64 that 2.6.27's kpageflags_read() returns for a page whose flags are ``flags``.

    2.6.27 exports eleven bits, but its bit-copy helper takes (word, source bit, target bit)
    while every call passes (word, KPF bit, PG bit): each term therefore reads page->flags
    at the KPF number and writes the result at the PG number.  For error .. slab (1-7) the
    two numbers coincide and the bits come out right.  The writeback, reclaim and buddy
    terms read PG_owner_priv_1 (PG_checked), PG_arch_1 and PG_reserved (bits 8-10) and put
    them at bits 12, 17 and 18, so PG_writeback, PG_reclaim and PG_buddy themselves never
    show.  The locked term has its arguments in a third order and always contributes 0.
    (2.6.28 fixed the locked term only; the rest was rewritten later.)
    """
    word = 0
    for kpf, pg in _KPF_TERMS:
        word |= ((flags >> kpf) & 1) << pg
    return word


# Linux 6.1 (feature kpageflags): stable_page_flags() of fs/proc/page.c, with the
# KPF numbers of include/uapi/linux/kernel-page-flags.h.
KPF_MMAP = 11
KPF_ANON = 12
KPF_SWAPCACHE = 13
KPF_SWAPBACKED = 14
KPF_UNEVICTABLE = 18
KPF_ZERO_PAGE = 24
KPF_RESERVED = 32
KPF_MLOCKED = 33
KPF_MAPPEDTODISK = 34
KPF_PRIVATE = 35
KPF_OWNER_PRIVATE = 37
KPF_ARCH = 38

# (KPF bit, model PG bit) of the bits 6.1 copies straight from page->flags.
_KPF_COPIED_61 = (
    (KPF_LOCKED, PG.PG_locked), (KPF_SLAB, PG.PG_slab), (KPF_ERROR, PG.PG_error),
    (KPF_DIRTY, PG.PG_dirty), (KPF_UPTODATE, PG.PG_uptodate),
    (KPF_WRITEBACK, PG.PG_writeback), (KPF_LRU, PG.PG_lru),
    (KPF_REFERENCED, PG.PG_referenced), (KPF_ACTIVE, PG.PG_active),
    (KPF_RECLAIM, PG.PG_reclaim), (KPF_SWAPBACKED, PG.PG_swapbacked),
    (KPF_UNEVICTABLE, PG.PG_unevictable), (KPF_MLOCKED, PG.PG_mlocked),
    (KPF_RESERVED, PG.PG_reserved), (KPF_MAPPEDTODISK, PG.PG_mappedtodisk),
    (KPF_PRIVATE, PG.PG_private), (KPF_OWNER_PRIVATE, PG.PG_owner_priv_1),
    (KPF_ARCH, PG.PG_arch_1),
)


def stable_page_flags(k: Kernel, pfn: int) -> int:
    """Model of stable_page_flags() (Linux 6.1): the /proc/kpageflags word of a frame.

    KPF_MMAP when a pte maps the page, KPF_ANON for an anonymous page, KPF_ZERO_PAGE for
    the zero page, KPF_BUDDY for a free page, then the page->flags bits at their KPF
    numbers.  6.1 keeps PG_swapcache in PG_owner_priv_1 of a swap-backed page, so a
    swap-cache page shows KPF_SWAPCACHE and KPF_OWNER_PRIVATE; the model's PG_swapcache
    bit is reported that way.  PG_anon_exclusive is PG_mappedtodisk (KPF_MAPPEDTODISK).
    """
    from pagemig.mm.mm_types import mapping_is_anon

    p = k.pages
    flags = int(p.flags[pfn])
    word = 0
    if int(p.mapcount[pfn]) > 0:
        word |= 1 << KPF_MMAP
    if mapping_is_anon(int(p.mapping[pfn])):
        word |= 1 << KPF_ANON
    if pfn == k.zero_page_pfn:
        word |= 1 << KPF_ZERO_PAGE
    if int(p.count[pfn]) == 0 and not flags & F_RESERVED:
        word |= 1 << KPF_BUDDY
    for kpf, pg in _KPF_COPIED_61:
        word |= ((flags >> pg) & 1) << kpf
    if flags & (1 << PG.PG_swapcache):
        word |= 1 << KPF_SWAPCACHE | 1 << KPF_OWNER_PRIVATE
    return word


def kpage_read(k: Kernel, reader: Task, name: str, pfn: int) -> int | None:
    """A read of the u64 of ``pfn`` from /proc/kpagecount or /proc/kpageflags by ``reader``.

    None when the open fails (the files are 0400 root: -EACCES for a user without
    CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH) or the read is short (a pfn at or above
    max_pfn).  kpagecount gives page_mapcount(), kpageflags :func:`kpageflags_word`.
    """
    if not _may_open_root_file(reader, 0o400, write=False):
        return None
    if not 0 <= pfn < k.pages.nr_pages:
        return None
    if name == "/proc/kpagecount":
        return int(k.pages.mapcount[pfn])
    if name == "/proc/kpageflags":
        return k.kpageflags(pfn)
    raise ValueError(f"not a kpage file: {name}")


# -- /proc/PID/pagemap (fs/proc/task_mmu.c) --

PM_STATUS_OFFSET = 61
PM_PSHIFT_OFFSET = 55
PM_PFRAME_MASK = (1 << PM_PSHIFT_OFFSET) - 1
PM_PRESENT = 4 << PM_STATUS_OFFSET
PM_SWAP = 2 << PM_STATUS_OFFSET
PM_NOT_PRESENT = PAGE_SHIFT << PM_PSHIFT_OFFSET
MAX_SWAPFILES_SHIFT = 5


def pagemap_entry(k: Kernel, mm: MmStruct, addr: int) -> int:
    """The pagemap u64 of user address ``addr`` in ``mm`` (pagemap_pte_range()).

    Outside every vma, or where no page table exists, the entry is PM_NOT_PRESENT (only the
    page shift); a none pte inside a table is 0; a present pte (PROT_NONE included) gives
    PM_PRESENT and the pfn; any other non-file pte, migration entries included, gives
    PM_SWAP with the swap type in bits 0-4 and the offset above.
    """
    from pagemig.mm.mm_types import VM_HUGETLB
    from pagemig.mm.swapops import (
        is_swap_pte,
        pte_pfn,
        pte_present,
        pte_to_swp_entry,
        swp_offset,
        swp_type,
    )

    vma = mm.find_vma(addr)
    if k.profile.has("pagemap_exclusive"):
        if vma is None or vma.vm_start > addr or vma.vm_flags & VM_HUGETLB:
            return 0
        return _pagemap_entry_61(k, mm, vma, addr)
    if vma is None or vma.vm_start > addr or vma.vm_flags & VM_HUGETLB:
        return PM_NOT_PRESENT
    if mm.pte_table(addr, False) is None:
        return PM_NOT_PRESENT
    pte = mm.get_pte(addr)
    if is_swap_pte(pte):
        entry = pte_to_swp_entry(pte)
        frame = swp_type(entry) | (swp_offset(entry) << MAX_SWAPFILES_SHIFT)
        return (frame & PM_PFRAME_MASK) | PM_NOT_PRESENT | PM_SWAP
    if pte_present(pte):
        return (pte_pfn(pte) & PM_PFRAME_MASK) | PM_NOT_PRESENT | PM_PRESENT
    return 0


# Linux 6.1 pagemap bits (the page-shift field went away in 4.2).
PM_SOFT_DIRTY = 1 << 55
PM_MMAP_EXCLUSIVE = 1 << 56
PM_FILE = 1 << 61


def _pagemap_entry_61(k: Kernel, mm: MmStruct, vma: VmArea, addr: int) -> int:
    """Linux 6.1's pagemap_pte_range() entry inside a vma: every vma is soft-dirty (new
    vmas are VM_SOFTDIRTY and nothing clears it here); a present pte gives PM_PRESENT and
    the pfn, a swap or migration pte PM_SWAP with type and offset; a page that is not
    anonymous adds PM_FILE, one mapped once PM_MMAP_EXCLUSIVE (not for a migration
    entry)."""
    from pagemig.mm.mm_types import mapping_is_anon
    from pagemig.mm.swapops import (
        is_migration_entry,
        is_swap_pte,
        migration_entry_to_pfn,
        pte_pfn,
        pte_present,
        pte_to_swp_entry,
        swp_offset,
        swp_type,
    )

    flags = PM_SOFT_DIRTY
    pte = mm.get_pte(addr) if mm.pte_table(addr, False) is not None else 0
    page = -1
    migration = False
    if pte_present(pte):
        frame = pte_pfn(pte)
        flags |= PM_PRESENT
        if frame != k.zero_page_pfn and frame < k.pages.nr_pages:
            page = frame
    elif is_swap_pte(pte):
        entry = pte_to_swp_entry(pte)
        frame = swp_type(entry) | (swp_offset(entry) << MAX_SWAPFILES_SHIFT)
        flags |= PM_SWAP
        migration = is_migration_entry(entry)
        if migration:
            page = migration_entry_to_pfn(entry)
    else:
        return flags
    if page >= 0 and not mapping_is_anon(int(k.pages.mapping[page])):
        flags |= PM_FILE
    if page >= 0 and not migration and int(k.pages.mapcount[page]) == 1:
        flags |= PM_MMAP_EXCLUSIVE
    return (frame & PM_PFRAME_MASK) | flags


def ptrace_may_access(reader: Task, task: Task) -> int:
    """Model of __ptrace_may_access() with the capability LSM: 0 or -EPERM.

    Every uid and the gid of the target must be the reader's uid and gid, unless the reader
    has CAP_SYS_PTRACE; an mm-less task, or one whose mm is not dumpable (its ids changed
    and it did not call prctl(PR_SET_DUMPABLE, 1)), is refused too; and the target's
    permitted capabilities must be a
    subset of the reader's, again unless it has CAP_SYS_PTRACE.
    """
    if task is reader:
        return 0
    ptrace = reader.capable(CAP_SYS_PTRACE)
    same = (reader.uid == task.euid == task.suid == task.uid) and reader.gid == task.gid
    if not same and not ptrace:
        return -errno.EPERM
    if (task.mm is None or not task.mm.dumpable) and not ptrace:
        return -errno.EPERM
    if not task.cap_permitted <= reader.cap_permitted and not ptrace:
        return -errno.EPERM
    return 0


def pagemap_open(k: Kernel, reader: Task, pid: int) -> Task | int:
    """open("/proc/PID/pagemap", O_RDONLY): the task, or -ENOENT (no such pid) / -EACCES.

    The file is 0400 and owned by the task's euid while it has an mm (root otherwise).
    """
    task = k.find_task_by_vpid(pid)
    if task is None:
        return -errno.ENOENT
    owner = task.euid if task.mm is not None else 0
    if reader.euid != owner and not (reader.capable(CAP_DAC_OVERRIDE)
                                     or reader.capable(CAP_DAC_READ_SEARCH)):
        return -errno.EACCES
    return task


def pagemap_read(k: Kernel, reader: Task, task: Task, buf: int, vaddr: int, count: int) -> int:
    """Model of pagemap_read(): pread() of ``count`` entries from ``vaddr``'s entry into the
    reader's buffer ``buf``; the bytes read or -errno.

    -EACCES when ptrace access is refused; 0 bytes for a task without an mm (a zombie or a
    kernel thread), or for 0 entries into a page-aligned buffer (8 bytes if unaligned).
    The reader's buffer pages are pinned with get_user_pages(write) first (-EFAULT if that
    fails) and are marked dirty when released, as the kernel does.
    """
    from pagemig.mm.fault import copy_to_user
    from pagemig.mm.memory import get_user_pages
    from pagemig.mm.swap import put_page

    if ptrace_may_access(reader, task):
        return -errno.EACCES
    mm = k.get_task_mm(task)
    if mm is None:
        return 0
    assert reader.mm is not None
    first = buf & PAGE_MASK
    last = (buf + 8 * count + PAGE_SIZE - 1) & PAGE_MASK
    pagecount = (last - first) >> PAGE_SHIFT
    if pagecount == 0:
        return 0
    # add_to_pagemap() stores an entry before it compares with the end of the buffer, so a
    # read of 0 bytes into a buffer that is not page aligned still returns one entry.
    count = max(count, 1)
    if k.profile.has("pagemap_kernel_buffer"):
        return _pagemap_copy_out(k, reader, mm, buf, vaddr, count)
    with k.as_task(reader):
        got, pfns = get_user_pages(k, reader.mm, first, pagecount, True, True)
        try:
            if got != pagecount:
                return -errno.EFAULT if got >= 0 else got
            base = vaddr & PAGE_MASK
            entries = [pagemap_entry(k, mm, base + i * PAGE_SIZE) for i in range(count)]
            if k.profile.has("pagemap_exclusive") and not reader.capable(CAP_SYS_ADMIN):
                # Linux 6.1: without CAP_SYS_ADMIN the frame of a present page reads as 0.
                entries = [e & ~PM_PFRAME_MASK if e & PM_PRESENT else e for e in entries]
            data = b"".join(e.to_bytes(8, "little") for e in entries)
            if copy_to_user(k, buf, data):
                return -errno.EFAULT
        finally:
            for pfn in pfns:
                if not int(k.pages.flags[pfn]) & F_RESERVED:
                    k.pages.flags[pfn] |= 1 << PG.PG_dirty  # SetPageDirty(), no accounting
                put_page(k, pfn)
    return 8 * count


def _pagemap_copy_out(k: Kernel, reader: Task, mm: MmStruct, buf: int, vaddr: int,
                      count: int) -> int:
    # Linux 6.1: the entries are gathered in a kernel buffer and copied out with
    # copy_to_user(), without pinning the reader's buffer first; a copy that faults, for
    # whatever reason (no memory for the reader's page included), is -EFAULT.
    from pagemig.mm.fault import copy_to_user

    base = vaddr & PAGE_MASK
    entries = [pagemap_entry(k, mm, base + i * PAGE_SIZE) for i in range(count)]
    if k.profile.has("pagemap_exclusive") and not reader.capable(CAP_SYS_ADMIN):
        # Without CAP_SYS_ADMIN the frame of a present page reads as 0.
        entries = [e & ~PM_PFRAME_MASK if e & PM_PRESENT else e for e in entries]
    data = b"".join(e.to_bytes(8, "little") for e in entries)
    with k.as_task(reader):
        if copy_to_user(k, buf, data):
            return -errno.EFAULT
    return 8 * count


# -- /proc/meminfo (fs/proc/proc_misc.c) and nodeN/meminfo (drivers/base/node.c) --

def _global(k: Kernel, item: ZoneStat) -> int:
    return int(k.zone_stat[:, item].sum())


def _node(k: Kernel, nid: int, item: ZoneStat) -> int:
    return int(sum(k.zone_stat[z.id, item] for z in k.nodes[nid].zones))


def _swap_pages(k: Kernel) -> tuple[int, int]:
    # (total_swap_pages, free swap pages): slot 0 is the swap header.
    si = getattr(k, "swap_info", None)
    if si is None:
        return 0, 0
    total = int(si.pages) - 1
    used = int((si.swap_map[1:] != 0).sum())
    return total, total - used


MEMINFO_NOT_MODELLED = frozenset({
    "CommitLimit", "Committed_AS", "VmallocTotal", "VmallocUsed", "VmallocChunk",
    "DirectMap4k", "DirectMap2M",
})
"""Fields of 2.6.27's /proc/meminfo (x86_64) with no counterpart in the model."""


def meminfo_values(k: Kernel) -> dict[str, int]:
    """The /proc/meminfo fields of 2.6.27 (x86_64) the model keeps, as printed (kB, or a
    count for the HugePages_* lines).

    Buffers is 0: no block-device inode has page-cache pages in the model.  Slab, page
    tables, NFS, bounce and FUSE pages are the model's zone counters, which stay 0 (the
    model allocates none of them).  The model has no hugetlb pool.
    """
    kb = PAGE_SIZE // 1024
    file_pages = _global(k, ZoneStat.NR_FILE_PAGES)
    swapcache = k.swapper_space.nrpages
    swap_total, swap_free = _swap_pages(k)
    pages = {
        "MemTotal": k.totalram_pages(),
        "MemFree": _global(k, ZoneStat.NR_FREE_PAGES),
        "Buffers": 0,
        "Cached": max(file_pages - swapcache, 0),
        "SwapCached": swapcache,
        "Active": _global(k, ZoneStat.NR_ACTIVE),
        "Inactive": _global(k, ZoneStat.NR_INACTIVE),
        "SwapTotal": swap_total,
        "SwapFree": swap_free,
        "Dirty": _global(k, ZoneStat.NR_FILE_DIRTY),
        "Writeback": _global(k, ZoneStat.NR_WRITEBACK),
        "AnonPages": _global(k, ZoneStat.NR_ANON_PAGES),
        "Mapped": _global(k, ZoneStat.NR_FILE_MAPPED),
        "Slab": _global(k, ZoneStat.NR_SLAB_RECLAIMABLE)
        + _global(k, ZoneStat.NR_SLAB_UNRECLAIMABLE),
        "SReclaimable": _global(k, ZoneStat.NR_SLAB_RECLAIMABLE),
        "SUnreclaim": _global(k, ZoneStat.NR_SLAB_UNRECLAIMABLE),
        "PageTables": _global(k, ZoneStat.NR_PAGETABLE),
        "NFS_Unstable": _global(k, ZoneStat.NR_UNSTABLE_NFS),
        "Bounce": _global(k, ZoneStat.NR_BOUNCE),
        "WritebackTmp": _global(k, ZoneStat.NR_WRITEBACK_TEMP),
    }
    if k.profile.has("split_lru"):
        # Linux 6.1: the lists are split; Active/Inactive sum the anon and file ones.
        lists = {
            "Active(anon)": _global(k, ZoneStat.NR_ACTIVE_ANON),
            "Inactive(anon)": _global(k, ZoneStat.NR_INACTIVE_ANON),
            "Active(file)": _global(k, ZoneStat.NR_ACTIVE_FILE),
            "Inactive(file)": _global(k, ZoneStat.NR_INACTIVE_FILE),
            "Unevictable": _global(k, ZoneStat.NR_UNEVICTABLE),
            "Mlocked": _global(k, ZoneStat.NR_MLOCK),
        }
        pages["Active"] = lists["Active(anon)"] + lists["Active(file)"]
        pages["Inactive"] = lists["Inactive(anon)"] + lists["Inactive(file)"]
        pages.update(lists)
    out = {key: value * kb for key, value in pages.items()}
    out.update({"HugePages_Total": 0, "HugePages_Free": 0, "HugePages_Rsvd": 0,
                "HugePages_Surp": 0, "Hugepagesize": 2048})
    return out


MEMINFO_NOT_MODELLED_61 = MEMINFO_NOT_MODELLED | frozenset({
    "MemAvailable", "Zswap", "Zswapped", "Shmem", "KReclaimable", "KernelStack",
    "SecPageTables", "Percpu", "HardwareCorrupted", "AnonHugePages", "ShmemHugePages",
    "ShmemPmdMapped", "FileHugePages", "FilePmdMapped", "Hugetlb", "DirectMap1G",
    "VmallocChunk",
})
"""Linux 6.1: its /proc/meminfo lines with no counterpart in the model."""


def meminfo_kb(k: Kernel, key: str) -> int:
    """The value the probe's meminfo_kb() reads for ``key`` from the profile's
    /proc/meminfo: -1 when that kernel has no such line; NotModelled for a line the model
    does not keep."""
    not_kept = MEMINFO_NOT_MODELLED_61 if k.profile.has("split_lru") else MEMINFO_NOT_MODELLED
    if key in not_kept:
        raise NotModelled(f"meminfo {key}: the model keeps no such quantity")
    return meminfo_values(k).get(key, -1)


def node_meminfo_text(k: Kernel, nid: int) -> str:
    """/sys/devices/system/node/nodeN/meminfo of 2.6.27 (node_read_meminfo())."""
    kb = PAGE_SIZE // 1024
    node = k.nodes[nid]
    total = node.nr_pages
    free = _node(k, nid, ZoneStat.NR_FREE_PAGES)
    slab_r = _node(k, nid, ZoneStat.NR_SLAB_RECLAIMABLE)
    slab_u = _node(k, nid, ZoneStat.NR_SLAB_UNRECLAIMABLE)
    rows = [
        ("MemTotal", total), ("MemFree", free), ("MemUsed", total - free),
        ("Active", _node(k, nid, ZoneStat.NR_ACTIVE)),
        ("Inactive", _node(k, nid, ZoneStat.NR_INACTIVE)),
        ("Dirty", _node(k, nid, ZoneStat.NR_FILE_DIRTY)),
        ("Writeback", _node(k, nid, ZoneStat.NR_WRITEBACK)),
        ("FilePages", _node(k, nid, ZoneStat.NR_FILE_PAGES)),
        ("Mapped", _node(k, nid, ZoneStat.NR_FILE_MAPPED)),
        ("AnonPages", _node(k, nid, ZoneStat.NR_ANON_PAGES)),
        ("PageTables", _node(k, nid, ZoneStat.NR_PAGETABLE)),
        ("NFS_Unstable", _node(k, nid, ZoneStat.NR_UNSTABLE_NFS)),
        ("Bounce", _node(k, nid, ZoneStat.NR_BOUNCE)),
        ("WritebackTmp", _node(k, nid, ZoneStat.NR_WRITEBACK_TEMP)),
        ("Slab", slab_r + slab_u), ("SReclaimable", slab_r), ("SUnreclaim", slab_u),
    ]
    text = "\n" + "".join(f"Node {nid} {(name + ':'):<13} {value * kb:8d} kB\n"
                          for name, value in rows)
    text += "".join(f"Node {nid} {(name + ':'):<16} {0:5d}\n"
                    for name in ("HugePages_Total", "HugePages_Free", "HugePages_Surp"))
    return text


# -- /proc/vmstat (mm/vmstat.c) --

VMSTAT_ZONE_NAMES = {
    ZoneStat.NR_FREE_PAGES: "nr_free_pages", ZoneStat.NR_INACTIVE: "nr_inactive",
    ZoneStat.NR_ACTIVE: "nr_active", ZoneStat.NR_ANON_PAGES: "nr_anon_pages",
    ZoneStat.NR_FILE_MAPPED: "nr_mapped", ZoneStat.NR_FILE_PAGES: "nr_file_pages",
    ZoneStat.NR_FILE_DIRTY: "nr_dirty", ZoneStat.NR_WRITEBACK: "nr_writeback",
    ZoneStat.NR_SLAB_RECLAIMABLE: "nr_slab_reclaimable",
    ZoneStat.NR_SLAB_UNRECLAIMABLE: "nr_slab_unreclaimable",
    ZoneStat.NR_PAGETABLE: "nr_page_table_pages", ZoneStat.NR_UNSTABLE_NFS: "nr_unstable",
    ZoneStat.NR_BOUNCE: "nr_bounce", ZoneStat.NR_VMSCAN_WRITE: "nr_vmscan_write",
    ZoneStat.NR_WRITEBACK_TEMP: "nr_writeback_temp", ZoneStat.NUMA_HIT: "numa_hit",
    ZoneStat.NUMA_MISS: "numa_miss", ZoneStat.NUMA_FOREIGN: "numa_foreign",
    ZoneStat.NUMA_INTERLEAVE_HIT: "numa_interleave", ZoneStat.NUMA_LOCAL: "numa_local",
    ZoneStat.NUMA_OTHER: "numa_other",
}
"""2.6.27's /proc/vmstat names of the zone counters (vmstat_text[])."""

VMSTAT_NOT_COUNTED: frozenset[ZoneStat] = frozenset()  # every zone counter is kept
"""Zone counters the model has but its page allocator does not update yet."""

_ZONE_SUFFIXES = ("dma", "dma32", "normal", "movable")
VMSTAT_EVENTS = frozenset(
    ["pgpgin", "pgpgout", "pswpin", "pswpout"]
    + [f"pgalloc_{z}" for z in _ZONE_SUFFIXES]
    + ["pgfree", "pgactivate", "pgdeactivate", "pgfault", "pgmajfault"]
    + [f"{ev}_{z}" for ev in ("pgrefill", "pgsteal", "pgscan_kswapd", "pgscan_direct")
       for z in _ZONE_SUFFIXES]
    + ["pginodesteal", "slabs_scanned", "kswapd_steal", "kswapd_inodesteal", "pageoutrun",
       "allocstall", "pgrotated", "htlb_buddy_alloc_success", "htlb_buddy_alloc_fail"])
"""2.6.27's event counters (vm_event_item): the model does not count events."""

_VMSTAT_BY_NAME = {name: item for item, name in VMSTAT_ZONE_NAMES.items()}

# Linux 6.1: the names of the counters the model keeps (zone and node counters; the model
# sums both over the machine), and the event counters it does not count.
_VMSTAT_BY_NAME_61 = {
    "nr_free_pages": ZoneStat.NR_FREE_PAGES,
    "nr_zone_inactive_anon": ZoneStat.NR_INACTIVE_ANON,
    "nr_zone_active_anon": ZoneStat.NR_ACTIVE_ANON,
    "nr_zone_inactive_file": ZoneStat.NR_INACTIVE_FILE,
    "nr_zone_active_file": ZoneStat.NR_ACTIVE_FILE,
    "nr_zone_unevictable": ZoneStat.NR_UNEVICTABLE,
    "nr_mlock": ZoneStat.NR_MLOCK, "nr_bounce": ZoneStat.NR_BOUNCE,
    "numa_hit": ZoneStat.NUMA_HIT, "numa_miss": ZoneStat.NUMA_MISS,
    "numa_foreign": ZoneStat.NUMA_FOREIGN, "numa_interleave": ZoneStat.NUMA_INTERLEAVE_HIT,
    "numa_local": ZoneStat.NUMA_LOCAL, "numa_other": ZoneStat.NUMA_OTHER,
    "nr_inactive_anon": ZoneStat.NR_INACTIVE_ANON,
    "nr_active_anon": ZoneStat.NR_ACTIVE_ANON,
    "nr_inactive_file": ZoneStat.NR_INACTIVE_FILE,
    "nr_active_file": ZoneStat.NR_ACTIVE_FILE,
    "nr_unevictable": ZoneStat.NR_UNEVICTABLE,
    "nr_slab_reclaimable": ZoneStat.NR_SLAB_RECLAIMABLE,
    "nr_slab_unreclaimable": ZoneStat.NR_SLAB_UNRECLAIMABLE,
    "nr_anon_pages": ZoneStat.NR_ANON_PAGES, "nr_mapped": ZoneStat.NR_FILE_MAPPED,
    "nr_file_pages": ZoneStat.NR_FILE_PAGES, "nr_dirty": ZoneStat.NR_FILE_DIRTY,
    "nr_writeback": ZoneStat.NR_WRITEBACK, "nr_writeback_temp": ZoneStat.NR_WRITEBACK_TEMP,
    "nr_page_table_pages": ZoneStat.NR_PAGETABLE, "nr_vmscan_write": ZoneStat.NR_VMSCAN_WRITE,
}
VMSTAT_ZERO_61 = frozenset({
    # No transparent huge pages and no NUMA balancing in the model: always 0.
    "thp_migration_success", "thp_migration_fail", "thp_migration_split",
    "numa_pages_migrated",
})
VMSTAT_EVENTS_61 = frozenset(
    ["pgpgin", "pgpgout", "pswpin", "pswpout", "pgfree", "pgactivate", "pgdeactivate",
     "pglazyfree", "pgfault", "pgmajfault", "pglazyfreed", "pgrefill", "pgreuse",
     "pgsteal_kswapd", "pgsteal_direct", "pgscan_kswapd", "pgscan_direct", "pgscan_anon",
     "pgscan_file", "pgsteal_anon", "pgsteal_file", "pginodesteal", "slabs_scanned",
     "kswapd_inodesteal", "pageoutrun", "pgrotated", "compact_migrate_scanned",
     "unevictable_pgs_culled", "unevictable_pgs_scanned", "unevictable_pgs_rescued",
     "unevictable_pgs_mlocked", "unevictable_pgs_munlocked", "unevictable_pgs_cleared",
     "unevictable_pgs_stranded", "workingset_refault_anon", "workingset_refault_file",
     "workingset_activate_anon", "workingset_activate_file", "nr_shmem", "nr_unstable",
     "nr_zone_write_pending", "nr_free_cma", "nr_kernel_stack", "nr_zspages"]
    + [f"{ev}_{z}" for ev in ("pgalloc", "allocstall", "pgskip")
       for z in _ZONE_SUFFIXES])
"""Linux 6.1 counters the model does not keep (NotModelled, not -1)."""


def _nr_isolated(k: Kernel, anon: bool) -> int:
    # Linux 6.1 nr_isolated_anon/file: pages taken off the LRU onto a private list.
    from pagemig.mm.mm_types import LRU_PRIVATE
    from pagemig.mm.page_flags import F_SWAPBACKED

    p = k.pages
    isolated = p.lru == LRU_PRIVATE
    backed = (p.flags & F_SWAPBACKED) != 0
    return int((isolated & (backed if anon else ~backed)).sum())


def vmstat_value(k: Kernel, key: str) -> int:
    """The value the probe's vmstat_get() reads for ``key`` from 2.6.27's /proc/vmstat:
    -1 for a name 2.6.27 does not print (pgmigrate_*, thp_*, nr_isolated_*, nr_mlock, ...);
    NotModelled for an event counter or a zone counter the model does not update."""
    event = vm_event_value(k, key)
    if event is not None:
        return event
    if k.profile.has("split_lru"):
        # Linux 6.1's names (mm/vmstat.c vmstat_text[] of that release).
        if key in ("nr_isolated_anon", "nr_isolated_file"):
            return _nr_isolated(k, key.endswith("anon"))
        if key in VMSTAT_ZERO_61:
            return 0
        if key in VMSTAT_EVENTS_61:
            raise NotModelled(f"vmstat {key}: a counter the model does not keep")
        item61 = _VMSTAT_BY_NAME_61.get(key)
        return -1 if item61 is None else _global(k, item61)
    item = _VMSTAT_BY_NAME.get(key)
    if item is not None:
        if item in VMSTAT_NOT_COUNTED:
            raise NotModelled(f"vmstat {key}: the model's allocator does not count it")
        return _global(k, item)
    if key in VMSTAT_EVENTS:
        raise NotModelled(f"vmstat {key}: an event counter the model does not count")
    return -1


# -- the file tree --

def list_format(ids: list[int]) -> str:
    """A cpu or node list as bitmap_scnlistprintf() prints it: ``0-3,5``."""
    ids = sorted(set(ids))
    parts: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(f"{ids[i]}-{ids[j]}" if j > i else f"{ids[i]}")
        i = j + 1
    return ",".join(parts)


def _nodes_line(ids: list[int]) -> str:
    # print_nodes_state(): the list and a newline, nothing at all for an empty set.
    text = list_format(ids)
    return text + "\n" if text else ""


@dataclass(frozen=True)
class _File:
    """A regular file: how it is opened for writing and what a read returns."""

    kind: str  # "sysfs" (no store: open for write -EACCES), "proc" (read-only proc entry),
    # "sysctl" (0644, root writes), "sysfs_rw" (0644 attribute with a store)
    read: Callable[[], str]
    write: Callable[[str], int] | None = None


@dataclass(frozen=True)
class _Dir:
    """A directory; ``entries`` names its children, ``complete`` says whether that is all."""

    entries: Callable[[], dict[str, _File | _Dir]]
    complete: bool


def _not_modelled(what: str) -> Callable[[], str]:
    def read() -> str:
        raise NotModelled(what)
    return read


def _not_supported(what: str) -> Callable[[str], int]:
    def write(value: str) -> int:
        raise NotModelled(what)
    return write


def _const(text: str) -> Callable[[], str]:
    return lambda: text


def node_numastat_text(k: Kernel, nid: int) -> str:
    """/sys/devices/system/node/nodeN/numastat of 2.6.27 (node_read_numastat())."""
    items = [("numa_hit", ZoneStat.NUMA_HIT), ("numa_miss", ZoneStat.NUMA_MISS),
             ("numa_foreign", ZoneStat.NUMA_FOREIGN),
             ("interleave_hit", ZoneStat.NUMA_INTERLEAVE_HIT),
             ("local_node", ZoneStat.NUMA_LOCAL), ("other_node", ZoneStat.NUMA_OTHER)]
    zones = [z.id for z in k.nodes[nid].zones]
    return "".join(f"{name} {int(k.zone_stat[zones, item].sum())}\n" for name, item in items)


def _node_hstate_entries(k: Kernel, nid: int) -> dict[str, _File | _Dir]:
    # Linux 6.1 nodeN/hugepages/hugepages-2048kB: the node's pool (mm/hugetlb.py).
    from pagemig.mm.hugetlb import nr_huge_pages_node

    def count() -> str:
        return f"{nr_huge_pages_node(k, nid)}\n"

    return {"nr_hugepages": _File("sysfs_rw", count, lambda v: _nr_hugepages_store(k, nid, v)),
            "free_hugepages": _File("sysfs", count),
            "surplus_hugepages": _File("sysfs", _const("0\n"))}


def _nr_hugepages_store(k: Kernel, nid: int, value: str) -> int:
    # nr_hugepages_store_common(): kstrtoul() of the text, then the node's pool is resized.
    from pagemig.mm.hugetlb import set_max_huge_pages

    text = value.strip()
    if not text.isdigit():
        return -errno.EINVAL
    return set_max_huge_pages(k, int(text), nid)


def _node_dir(k: Kernel, nid: int) -> _Dir:
    node = k.nodes[nid]

    def entries() -> dict[str, _File | _Dir]:
        out: dict[str, _File | _Dir] = {
            "cpulist": _File("sysfs", lambda: list_format(node.cpus) + "\n"),
            "cpumap": _File("sysfs", _not_modelled(
                f"read node{nid}/cpumap: its width depends on NR_CPUS")),
            "meminfo": _File("sysfs", lambda: node_meminfo_text(k, nid)),
            "numastat": _File("sysfs", lambda: node_numastat_text(k, nid)),
            "distance": _File("sysfs", _not_modelled(
                f"read node{nid}/distance: the model has no node distances")),
        }
        for cpu in node.cpus:
            out[f"cpu{cpu}"] = _Dir(dict, False)
        if k.profile.has("node_hugepages") and node.has_memory:
            out["hugepages"] = _Dir(lambda: {"hugepages-2048kB": _Dir(
                lambda: _node_hstate_entries(k, nid), True)}, True)
        return out

    return _Dir(entries, True)


def _root(k: Kernel) -> _Dir:
    nodes = k.nodes

    def node_entries() -> dict[str, _File | _Dir]:
        out: dict[str, _File | _Dir] = {
            "possible": _File("sysfs", lambda: _nodes_line([n.nid for n in nodes])),
            "online": _File("sysfs", lambda: _nodes_line([n.nid for n in nodes])),
            "has_normal_memory": _File("sysfs", lambda: _nodes_line(k.nodes_with_memory())),
            "has_cpu": _File("sysfs", lambda: _nodes_line([n.nid for n in nodes if n.cpus])),
        }
        if k.profile.has("node_has_memory"):
            out["has_memory"] = _File("sysfs", lambda: _nodes_line(k.nodes_with_memory()))
        for n in nodes:
            out[f"node{n.nid}"] = _node_dir(k, n.nid)
        return out

    def hstate_entries() -> dict[str, _File | _Dir]:
        rw = _not_supported("write nr_hugepages: the model has no hugetlb pool")
        return {"nr_hugepages": _File("sysfs_rw", _const("0\n"), rw),
                "nr_overcommit_hugepages": _File("sysfs_rw", _const("0\n"), rw),
                "free_hugepages": _File("sysfs", _const("0\n")),
                "resv_hugepages": _File("sysfs", _const("0\n")),
                "surplus_hugepages": _File("sysfs", _const("0\n"))}

    hugepages = _Dir(lambda: {"hugepages-2048kB": _Dir(hstate_entries, True)}, True)

    def mm_entries() -> dict[str, _File | _Dir]:
        out: dict[str, _File | _Dir] = {"hugepages": hugepages}
        if k.profile.has("thp_sysfs"):
            out["transparent_hugepage"] = _Dir(lambda: {"enabled": _File(
                "sysfs_rw", lambda: _thp_enabled_text(k), lambda v: _thp_enabled_store(k, v))},
                False)
        return out

    sys_tree = {
        "devices": _Dir(lambda: {"system": _Dir(lambda: {
            "node": _Dir(node_entries, True)}, False)}, False),
        "kernel": _Dir(lambda: {"mm": _Dir(mm_entries, False)}, False),
        "fs": _Dir(dict, False),
    }
    cmdline = "console=ttyS0 loglevel=4 panic=-1 rdinit=/init nokaslr norandmaps\n"
    proc_tree = {
        "meminfo": _File("proc", _not_modelled(
            "read /proc/meminfo: not every line is modelled (use meminfo KEY)")),
        "vmstat": _File("proc", _not_modelled(
            "read /proc/vmstat: event counters are not modelled (use vmstat KEY)")),
        "cmdline": _File("proc", _const(cmdline)),
        "sys": _Dir(lambda: {
            "vm": _Dir(lambda: {"drop_caches": _File(
                "sysctl", _const("0\n"), lambda v: k.write_drop_caches(v))},
                False),
            "kernel": _Dir(lambda: _kernel_sysctls(k), False),
        }, False),
    }
    return _Dir(lambda: {"sys": _Dir(lambda: sys_tree, False),
                         "proc": _Dir(lambda: proc_tree, False)}, False)


THP_MODES = ("always", "madvise", "never")


def _thp_enabled_text(k: Kernel) -> str:
    # Linux 6.1 enabled_show(): the modes with the current one in brackets.
    return " ".join(f"[{m}]" if m == k.thp_enabled else m for m in THP_MODES) + "\n"


def _thp_enabled_store(k: Kernel, value: str) -> int:
    # Linux 6.1 enabled_store(): one of the mode names (a trailing newline allowed).  The
    # setting is kept; the model makes no transparent huge pages whatever it says.
    mode = value[:-1] if value.endswith("\n") else value
    if mode not in THP_MODES:
        return -errno.EINVAL
    k.thp_enabled = mode
    return 0


def _kernel_sysctls(k: Kernel) -> dict[str, _File | _Dir]:
    out: dict[str, _File | _Dir] = {"randomize_va_space": _File(
        "sysctl", _const("0\n"), _not_supported("write /proc/sys/kernel/randomize_va_space"))}
    if k.profile.has("node_has_memory"):
        # Linux 6.1 with numa_balancing=disable; the model has no NUMA balancing to enable.
        out["numa_balancing"] = _File("sysctl", _const("0\n"), _not_supported(
            "write /proc/sys/kernel/numa_balancing: NUMA balancing is not modelled"))
    return out


MISSING_IN_2_6_27 = (
    "/sys/devices/system/node/has_memory",
    "/sys/kernel/mm/ksm",
    "/sys/kernel/mm/transparent_hugepage",
    "/sys/fs/cgroup",
    "/proc/sys/kernel/numa_balancing",
)
"""Paths (and everything below them) that later kernels have and 2.6.27 does not."""

PATH_FEATURES = {
    "/sys/devices/system/node/has_memory": "node_has_memory",
    "/sys/kernel/mm/transparent_hugepage": "thp_sysfs",
    "/proc/sys/kernel/numa_balancing": "node_has_memory",
}
"""The paths of MISSING_IN_2_6_27 that a profile with the feature has (and the model)."""


def _lookup(k: Kernel, path: str) -> _File | _Dir | int:
    # Path walk: the node, -ENOENT or -ENOTDIR; NotModelled where the model cannot tell.
    if not path.startswith("/"):
        raise NotModelled(f"{path}: only absolute paths are modelled")
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = norm[1:]
    for missing in MISSING_IN_2_6_27:
        feature = PATH_FEATURES.get(missing)
        if feature is not None and k.profile.has(feature):
            continue
        if norm == missing or norm.startswith(missing + "/"):
            return -errno.ENOENT
    node: _File | _Dir = _root(k)
    walked = ""
    for part in [p for p in norm.split("/") if p]:
        if isinstance(node, _File):
            return -errno.ENOTDIR
        entries = node.entries()
        walked += "/" + part
        child = entries.get(part)
        if child is None:
            if node.complete:
                return -errno.ENOENT
            raise NotModelled(f"{walked}: not modelled")
        node = child
    if isinstance(node, _File) and path.endswith("/"):
        return -errno.ENOTDIR
    return node


def _may_open_root_file(task: Task, mode: int, write: bool) -> bool:
    # generic_permission() on a root-owned file: the owner bits for euid 0, the other bits
    # for anyone else, and CAP_DAC_OVERRIDE (or CAP_DAC_READ_SEARCH for reads) above both.
    bits = (mode >> 6) if task.euid == 0 else mode
    want = 0o2 if write else 0o4
    if bits & want:
        return True
    if task.capable(CAP_DAC_OVERRIDE):
        return True
    return not write and task.capable(CAP_DAC_READ_SEARCH)


def read_file(k: Kernel, task: Task, path: str) -> str | int:
    """open(path, O_RDONLY) and read to the end, as ``task``: the text, or -errno from open.

    A directory opens and its read() fails (-EISDIR), which a read loop sees as no data:
    the text is then "".  Every modelled file is world-readable.
    """
    node = _lookup(k, path)
    if isinstance(node, int):
        return node
    if isinstance(node, _Dir):
        return ""
    return node.read()


def write_file(k: Kernel, task: Task, path: str, value: str) -> int:
    """open(path, O_WRONLY) and write ``value`` once, as ``task``: 0 or -errno.

    A directory gives -EISDIR.  A sysfs attribute without a store method gives -EACCES at
    open (sysfs_open_file()), even for root.  A read-only /proc entry opens for a task with
    CAP_DAC_OVERRIDE and then fails the write with -EIO (proc_reg_write() finds no write
    method); without it the open gives -EACCES.  Sysctls and writable attributes are 0644
    root: another user gets -EACCES.
    """
    node = _lookup(k, path)
    if isinstance(node, int):
        return node
    if isinstance(node, _Dir):
        return -errno.EISDIR
    if node.kind == "sysfs":
        return -errno.EACCES
    if node.kind == "proc":
        return -errno.EIO if task.capable(CAP_DAC_OVERRIDE) else -errno.EACCES
    if node.kind == "sysctl":
        if task.euid != 0:  # sysctl_perm() looks at the euid, not at capabilities
            return -errno.EACCES
    elif not _may_open_root_file(task, 0o644, write=True):
        return -errno.EACCES
    assert node.write is not None
    return node.write(value)


__all__ = [
    "MISSING_IN_2_6_27",
    "NotModelled",
    "kpage_read",
    "kpageflags_word",
    "stable_page_flags",
    "list_format",
    "meminfo_kb",
    "meminfo_values",
    "node_meminfo_text",
    "pagemap_entry",
    "pagemap_open",
    "pagemap_read",
    "ptrace_may_access",
    "read_file",
    "vmstat_value",
    "write_file",
]
