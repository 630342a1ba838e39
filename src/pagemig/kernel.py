"""The model machine: a :class:`Kernel` boots a NUMA topology and owns all of its state.

Everything the model knows hangs off one Kernel object, passed explicitly as ``k`` to the
functions of :mod:`pagemig.mm`: the page arrays and frame contents, nodes and zones with
their free pages and counters, per-CPU pagevecs, address spaces, anon_vmas, memory cgroups
and tasks.  There is no module-level mutable state; a run is deterministic for a seed.

The Python API: whole-call failures raise ``OSError(errno)`` (as :mod:`os` does), per-page
results come back as data.  The ``sys_*`` methods are the raw system calls: they take user
pointers and return the kernel's value (negative errno on failure).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pagemig import binfmt, fork
from pagemig.fs.ext2 import ext2_aops, ext2_new_file
from pagemig.mm import migrate
from pagemig.mm.buffer import BufferHeads
from pagemig.mm.fault import copy_from_user, copy_to_user
from pagemig.mm.filemap import (
    SWAPPER_SPACE_ID,
    AddressSpace,
    AddressSpaceOperations,
    BackingDevInfo,
    unlock_page,
)
from pagemig.mm.filemap import __set_page_dirty_nobuffers as set_page_dirty_nobuffers
from pagemig.mm.memcontrol import ROOT_MEM_CGROUP, MemCgroup
from pagemig.mm.mm_types import (
    PAGE_SHIFT,
    PAGE_SIZE,
    AnonVma,
    MmStruct,
    PageArrays,
    mapping_id,
    mapping_is_anon,
)
from pagemig.mm.mmap import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    do_mmap,
    do_munmap,
)
from pagemig.mm.mmzone import NR_VM_ZONE_STAT_ITEMS, PgData, Zone, ZoneIndex, split_zones
from pagemig.mm.page_alloc import (
    GFP_KERNEL,
    alloc_pages_node,
    setup_free_area,
    setup_per_zone_pages_min,
)
from pagemig.mm.page_flags import F_LOCKED, F_RESERVED, F_SWAPCACHE, decode_page_flags
from pagemig.mm.page_writeback import complete_writeback, end_io
from pagemig.mm.physmem import FrameStore
from pagemig.mm.profiles import get_profile
from pagemig.mm.shmem import shmem_aops, shmem_file_setup
from pagemig.mm.swap import PAGEVEC_SIZE
from pagemig.sched import PF_KTHREAD, Task, Wait, run_one_actor
from pagemig.security import SecurityOps

MiB_PAGES = 256
RESERVED_LOW_PAGES = 256  # the first MiB: BIOS data, real-mode areas
KERNEL_START_PFN = 4096  # the kernel image is loaded at 16 MiB
KERNEL_IMAGE_PAGES = 2048  # 8 MiB of kernel text, data and bss
MIN_NODE_MB = 32


@dataclass(frozen=True)
class Topology:
    """The machine to model: nodes with memory, CPUs per node, memoryless nodes."""

    nodes: int = 2
    mem_per_node_mb: int = 1024
    cpus_per_node: int = 1
    memless_nodes: int = 0

    def validate(self) -> None:
        """Raise ValueError naming the first parameter out of range."""
        if not 1 <= self.nodes <= 8:
            raise ValueError("`nodes` must be between 1 and 8")
        if not MIN_NODE_MB <= self.mem_per_node_mb <= 1 << 20:
            raise ValueError(f"`mem_per_node_mb` must be between {MIN_NODE_MB} and 1048576")
        if not 1 <= self.cpus_per_node <= 64:
            raise ValueError("`cpus_per_node` must be between 1 and 64")
        if not 0 <= self.memless_nodes <= 8 or self.nodes + self.memless_nodes > 16:
            raise ValueError("`memless_nodes` must be between 0 and 8 (16 nodes in all)")


class Kernel:
    """A booted model machine running Linux 2.6.27's memory management.

    Parameters
    ----------
    topology : Topology
        nodes, memory per node, CPUs per node and memoryless nodes (default 2 x 1 GiB).
    profile : str
        the kernel release whose behaviour to follow ("2.6.27").
    seed : int
        seed of the machine's random generator (runs are deterministic for a seed).
    """

    def __init__(self, topology: Topology | None = None, profile: str = "2.6.27",
                 seed: int = 0) -> None:
        self.topology = topology or Topology()
        self.topology.validate()
        self.profile = get_profile(profile)
        self.rng = np.random.default_rng(seed)
        self.trace_log: list[tuple[str, dict[str, Any]]] | None = None
        self.trace_sink: Callable[[str, dict[str, Any]], None] | None = None
        self.copy_enabled = True
        self.double_unlocks: list[int] = []
        self.leaked_isolated: list[int] = []  # pages mbind() left isolated (quirk Q7)
        self.pinned: dict[int, int] = {}  # extra references held by pins (vmsplice)
        self.vm_events: dict[str, int] = {}  # event counters of /proc/vmstat (mm/vmstat.py)
        self._ids: dict[str, int] = {}
        self._build_nodes()
        self._build_cpus()
        self.memcgs = {ROOT_MEM_CGROUP: MemCgroup(ROOT_MEM_CGROUP)}
        self.address_spaces: dict[int, AddressSpace] = {}
        self.anon_vmas: dict[int, AnonVma] = {}
        self.security = SecurityOps()
        self.tasks: dict[int, Task] = {}
        self.current: Task | None = None
        self.shmem_aops = shmem_aops()
        self.ext2_aops = ext2_aops(self.profile.has("ext4"))
        self.bh = BufferHeads()
        self.writeback_inflight: list[int] = []
        self.hugetlb_pool: dict[int, list[np.ndarray]] = {}  # 6.1 per-node pools (mm/hugetlb.py)
        self.thp_enabled = "never"  # the oracle boots with transparent_hugepage=never
        self.hold_writeback = False  # keep started writeback in flight (tests look at it)
        self.swap_info: Any = None  # the swap area, after swapon()
        self.exec_files: dict[str, AddressSpace] = {}
        self._make_swapper_space()
        self._reserve_boot_memory()
        self.vdso_pfn = self._boot_alloc()
        self._next_pid = 1
        self._boot_tasks()

    # -- boot --

    def _build_nodes(self) -> None:
        topo = self.topology
        self.nodes: list[PgData] = []
        pfn = 0
        zones: list[Zone] = []
        for nid in range(topo.nodes + topo.memless_nodes):
            nr = topo.mem_per_node_mb * MiB_PAGES if nid < topo.nodes else 0
            node = PgData(nid, pfn, nr, [])
            node.zones = split_zones(nid, pfn, nr, len(zones))
            zones.extend(node.zones)
            self.nodes.append(node)
            pfn += nr
        self.zones = zones
        self.zone_index = ZoneIndex(zones)
        self.pages = PageArrays(pfn)
        self.frames = FrameStore(pfn)
        self.zone_stat = np.zeros((len(zones), NR_VM_ZONE_STAT_ITEMS), np.int64)
        self.zonelists: dict[int, list[Zone]] = {}
        self.policy_zone = max(z.zone_type for z in zones)

    def _build_cpus(self) -> None:
        cpn = self.topology.cpus_per_node
        self.cpu_node: list[int] = []
        for node in self.nodes:
            node.cpus = list(range(len(self.cpu_node), len(self.cpu_node) + cpn))
            self.cpu_node.extend([node.nid] * cpn)
        self.nr_cpus = len(self.cpu_node)
        self.pvecs = np.zeros((self.nr_cpus, 2, PAGEVEC_SIZE), np.int64)
        self.pvec_len = np.zeros((self.nr_cpus, 2), np.int64)

    def _make_swapper_space(self) -> None:
        self._ids["address_space"] = SWAPPER_SPACE_ID
        swap_aops = AddressSpaceOperations("swap_aops", migratepage=migrate.migrate_page,
                                           set_page_dirty=set_page_dirty_nobuffers)
        self.swapper_space = AddressSpace(SWAPPER_SPACE_ID, "swapper_space", swap_aops,
                                          BackingDevInfo("swap", cap_account_dirty=False))
        self.address_spaces[SWAPPER_SPACE_ID] = self.swapper_space

    def _reserve_boot_memory(self) -> None:
        # The first MiB and the kernel image are PG_reserved and never free (node 0).
        end0 = self.nodes[0].end_pfn
        low = range(0, min(RESERVED_LOW_PAGES, end0))
        image = range(KERNEL_START_PFN, min(KERNEL_START_PFN + KERNEL_IMAGE_PAGES, end0))
        reserved = set(low) | set(image)
        for pfn in reserved:
            self.pages.flags[pfn] = F_RESERVED
            self.pages.count[pfn] = 1
        for zone in self.zones:
            setup_free_area(self, zone, {p for p in reserved if zone.start_pfn <= p < zone.end_pfn})
        setup_per_zone_pages_min(self)
        # empty_zero_page lives in the kernel image's bss.
        self.zero_page_pfn = KERNEL_START_PFN + KERNEL_IMAGE_PAGES - 1

    def _boot_alloc(self) -> int:
        pfn = alloc_pages_node(self, 0, GFP_KERNEL)
        assert pfn is not None
        return pfn

    def _boot_tasks(self) -> None:
        mems = frozenset(n.nid for n in self.nodes if n.has_memory)
        init = self._new_task("init", None, mems)
        self.current = init
        init.mm = binfmt.exec_program(self, init, binfmt.INIT_PROGRAM)
        kthreadd = self._new_task("kthreadd", None, mems)
        kthreadd.flags |= PF_KTHREAD

    def _new_task(self, comm: str, parent: Task | None, mems: frozenset[int]) -> Task:
        task = Task(pid=self._next_pid, comm=comm, parent=parent, mm=None, mems_allowed=mems)
        self._next_pid += 1
        self.tasks[task.pid] = task
        if parent is not None:
            parent.children.append(task)
        return task

    # -- lookups used throughout mm/ --

    def next_id(self, kind: str) -> int:
        """A fresh id for an object of ``kind`` (address spaces, anon_vmas, mms)."""
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def page_zone(self, pfn: int) -> Zone:
        """Model of page_zone()."""
        return self.zone_index.zone_of(pfn)

    def pfn_to_nid(self, pfn: int) -> int:
        """Model of page_to_nid()."""
        return self.zone_index.zone_of(pfn).nid

    def page_mapping(self, pfn: int) -> AddressSpace | None:
        """Model of page_mapping(): swapper_space for swap cache, None for anon pages."""
        if int(self.pages.flags[pfn]) & F_SWAPCACHE:
            return self.swapper_space
        mapping = int(self.pages.mapping[pfn])
        if mapping == 0 or mapping_is_anon(mapping):
            return None
        return self.address_spaces[mapping_id(mapping)]

    def page_index(self, pfn: int) -> int:
        """Model of page_index(): the swap entry for swap-cache pages, else ``index``."""
        if int(self.pages.flags[pfn]) & F_SWAPCACHE:
            return int(self.pages.private[pfn])
        return int(self.pages.index[pfn])

    def PageLocked(self, pfn: int) -> bool:  # noqa: N802 - the kernel's name
        """Model of PageLocked()."""
        return bool(int(self.pages.flags[pfn]) & F_LOCKED)

    def current_cpu(self) -> int:
        """The CPU the current task runs on (smp_processor_id())."""
        return self.current.cpu if self.current is not None else 0

    def current_mm(self) -> MmStruct | None:
        """``current->mm``."""
        return self.current.mm if self.current is not None else None

    def cpu_to_node(self, cpu: int) -> int:
        """Model of cpu_to_node()."""
        return self.cpu_node[cpu]

    def node_state_high_memory(self, nid: int) -> bool:
        """Model of node_state(nid, N_HIGH_MEMORY): the node exists and has memory."""
        return 0 <= nid < len(self.nodes) and self.nodes[nid].has_memory

    def nodes_with_memory(self) -> list[int]:
        """The node ids in N_HIGH_MEMORY."""
        return [n.nid for n in self.nodes if n.has_memory]

    def totalram_pages(self) -> int:
        """Model of totalram_pages: every frame that is not reserved."""
        return int(self.pages.nr_pages - np.count_nonzero(self.pages.flags & F_RESERVED))

    def nr_free_pages(self) -> int:
        """Free pages in all zones."""
        return sum(z.free_top for z in self.zones)

    def vmalloc_ok(self, size: int) -> bool:
        """Would vmalloc(size) succeed?  Fails when the page round-up wraps to 0, or needs more
        pages than the machine has in all, or than are free."""
        rounded = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & ((1 << 64) - 1)
        if rounded == 0:
            return False
        needed = rounded >> PAGE_SHIFT
        return needed <= self.totalram_pages() and needed <= self.nr_free_pages()

    def find_task_by_vpid(self, pid: int) -> Task | None:
        """Model of find_task_by_vpid(): a task that still exists (zombies included)."""
        task = self.tasks.get(pid)
        return task

    def get_task_mm(self, task: Task) -> MmStruct | None:
        """Model of get_task_mm(): None for kernel threads and tasks that released their mm."""
        if task.flags & PF_KTHREAD:
            return None
        return task.mm

    def describe_page(self, pfn: int) -> str:
        """A one-line account of a page's state, for messages and debugging."""
        p = self.pages
        return (f"pfn={pfn} nid={self.pfn_to_nid(pfn)} flags={decode_page_flags(int(p.flags[pfn]))}"
                f" count={int(p.count[pfn])} mapcount={int(p.mapcount[pfn])}"
                f" mapping={int(p.mapping[pfn])} index={int(p.index[pfn])}"
                f" lru={int(p.lru[pfn])} memcg={int(p.memcg[pfn])}")

    def kpageflags(self, pfn: int) -> int:
        """The /proc/kpageflags word this profile's kernel gives for frame ``pfn``: 6.1's
        stable_page_flags(), or 2.6.27's eleven (mis-wired) bits."""
        from pagemig.fs.procfs import kpageflags_word, stable_page_flags

        if self.profile.has("kpageflags"):
            return stable_page_flags(self, pfn)
        return kpageflags_word(int(self.pages.flags[pfn]))

    # -- sleeping and tracing --

    def run(self, gen: Generator[Any, None, Any]) -> Any:
        """Drive an engine generator to completion with one actor (see pagemig.sched)."""
        return run_one_actor(gen, self._resolve_wait)

    def _resolve_wait(self, wait: Wait) -> None:
        # One actor: whoever holds the page lock or started the writeback finishes now.
        self.trace("sched_wait", what=wait.what, pfn=wait.pfn)
        if wait.what == "page_locked":
            unlock_page(self, wait.pfn)
        elif wait.what == "page_writeback":
            end_io(self, wait.pfn)
        elif wait.what == "buffer_locked":
            from pagemig.mm.buffer import BH_Lock

            self.bh.b_state[wait.pfn] &= ~BH_Lock
        else:
            raise AssertionError(f"unknown wait {wait}")

    def trace(self, event: str, **fields: Any) -> None:
        """Record an engine event (a tracepoint) when tracing is on."""
        if self.trace_log is not None:
            self.trace_log.append((event, fields))
        if self.trace_sink is not None:
            self.trace_sink(event, fields)

    def start_trace(self) -> list[tuple[str, dict[str, Any]]]:
        """Start recording events; returns the list they are appended to."""
        self.trace_log = []
        return self.trace_log

    # -- tasks --

    def init_task(self) -> Task:
        """Task 1, init."""
        return self.tasks[1]

    def spawn(self, comm: str = "probe", parent: Task | None = None, cpu: int = 0) -> Task:
        """Start a new process running the probe-like static program (fork + exec).

        The process gets the layout of the oracle's probe: text and data of a static
        program on tmpfs, bss, a heap with a touched block, mmaps below mmap_base (a
        PROT_NONE page and a read-only page first), a stack, and the vdso.
        """
        parent = parent or self.init_task()
        task = self._new_task(comm, parent, parent.mems_allowed)
        task.cpu = cpu
        saved = self.current
        self.current = task
        try:
            task.mm = binfmt.exec_program(self, task, binfmt.PROBE_PROGRAM)
        finally:
            self.current = saved
        return task

    def fork(self, parent: Task, comm: str | None = None) -> Task:
        """Model of do_fork(): a child with a copy of the parent's address space."""
        return fork.do_fork(self, parent, comm)

    def exit(self, task: Task) -> None:
        """Model of do_exit(): release the mm; the task stays a zombie until reaped."""
        fork.do_exit(self, task)

    def reap(self, task: Task) -> None:
        """Model of release_task(): the pid no longer exists."""
        fork.release_task(self, task)

    def as_task(self, task: Task) -> _AsTask:
        """Context manager: run the enclosed calls as ``task`` (``current``)."""
        return _AsTask(self, task)

    # -- memory calls of a task (the Python API) --

    def mmap(self, task: Task, length: int, prot: int = PROT_READ | PROT_WRITE,
             flags: int = MAP_PRIVATE | MAP_ANONYMOUS, file: AddressSpace | None = None,
             addr: int = 0) -> int:
        """mmap(2) in ``task``: returns the address; OSError on failure."""
        assert task.mm is not None
        with self.as_task(task):
            ret = do_mmap(self, task.mm, addr, length, prot, flags, file)
        return _check(ret)

    def munmap(self, task: Task, addr: int, length: int) -> None:
        """munmap(2) in ``task``."""
        assert task.mm is not None
        with self.as_task(task):
            _check(do_munmap(self, task.mm, addr, length))

    def mprotect(self, task: Task, addr: int, length: int, prot: int) -> None:
        """mprotect(2) in ``task``."""
        from pagemig.mm.mprotect import sys_mprotect

        assert task.mm is not None
        with self.as_task(task):
            _check(sys_mprotect(self, task.mm, addr, length, prot))

    def mlock(self, task: Task, addr: int, length: int, on: bool = True) -> None:
        """mlock(2) (or munlock(2) with ``on=False``) in ``task``."""
        from pagemig.mm.mlock import do_mlock

        assert task.mm is not None
        with self.as_task(task):
            _check(do_mlock(self, task.mm, addr, length, on))

    def create_file(self, name: str, size_pages: int) -> AddressSpace:
        """A new tmpfs file of ``size_pages`` pages (open(O_CREAT) + ftruncate())."""
        return shmem_file_setup(self, name, size_pages)

    def create_blockfs_file(self, name: str, size_pages: int) -> AddressSpace:
        """A new sparse file of ``size_pages`` pages on the ext2 filesystem."""
        return ext2_new_file(self, name, size_pages)

    def pwrite(self, task: Task, file: AddressSpace, index: int, data: bytes) -> None:
        """pwrite(2) of one whole page at page ``index`` of ``file``, as ``task``."""
        from pagemig.mm.filemap import block_write_page

        assert len(data) <= PAGE_SIZE
        with self.as_task(task):
            _check(block_write_page(self, file, index, data.ljust(PAGE_SIZE, b"\0")))

    def pread(self, task: Task, file: AddressSpace, index: int) -> bytes:
        """pread(2) of one whole page of ``file``."""
        from pagemig.mm.filemap import read_page

        with self.as_task(task):
            data = read_page(self, file, index)
        if data is None:
            raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))
        return data

    def fsync(self, task: Task, file: AddressSpace) -> int:
        """fsync(2): write every dirty page of ``file`` and wait; 0 or -EIO."""
        from pagemig.mm.page_writeback import write_cache_pages

        with self.as_task(task):
            return int(self.run(write_cache_pages(self, file, 0, file.size_pages, True)))

    def start_writeback(self, task: Task, file: AddressSpace, first: int = 0,
                        last: int | None = None) -> int:
        """sync_file_range(SYNC_FILE_RANGE_WRITE): start writing dirty pages, no wait."""
        from pagemig.mm.page_writeback import write_cache_pages

        end = file.size_pages - 1 if last is None else last
        with self.as_task(task):
            return int(self.run(write_cache_pages(self, file, first, end, False)))

    def drop_caches(self) -> int:
        """echo 1 > /proc/sys/vm/drop_caches: drop clean, unmapped page-cache pages."""
        from pagemig.mm.truncate import invalidate_mapping_pages

        return sum(invalidate_mapping_pages(self, f, 0, f.size_pages)
                   for f in list(self.address_spaces.values())
                   if f.id != SWAPPER_SPACE_ID and not f.is_shmem)

    def memcg_create(self, limit_pages: int | None = None) -> MemCgroup:
        """A new memory cgroup, limited to ``limit_pages`` pages (None: no limit)."""
        from pagemig.mm.memcontrol import mem_cgroup_create

        return mem_cgroup_create(self, limit_pages)

    def memcg_set_limit(self, memcg: MemCgroup | int, limit_pages: int) -> None:
        """Write memory.limit_in_bytes; OSError(EBUSY) below the current usage."""
        from pagemig.mm.memcontrol import mem_cgroup_resize_limit

        _check(mem_cgroup_resize_limit(self, memcg, limit_pages))

    def memcg_move_task(self, task: Task, memcg: MemCgroup | int) -> None:
        """Move ``task`` into ``memcg`` (its charges stay); OSError(ESRCH) if it exited."""
        from pagemig.mm.memcontrol import mem_cgroup_move_task

        _check(mem_cgroup_move_task(self, task, memcg))

    def madvise(self, task: Task, addr: int, length: int, advice: int) -> None:
        """madvise(2) in ``task``."""
        from pagemig.mm.madvise import sys_madvise

        assert task.mm is not None
        with self.as_task(task):
            _check(sys_madvise(self, task.mm, addr, length, advice))

    def swapon(self, nr_pages: int, synchronous: bool = False) -> None:
        """swapon(2) of a swap area of ``nr_pages`` pages (``synchronous``: zram-like)."""
        from pagemig.mm.swapfile import sys_swapon

        _check(sys_swapon(self, nr_pages, synchronous))

    def vm_swap_full(self) -> bool:
        """Model of vm_swap_full(): more than half of the swap area is in use."""
        si = self.swap_info
        if si is None:
            return False
        used = int(np.count_nonzero(si.swap_map[1:]))
        return (si.pages - 1 - used) * 2 < si.pages - 1

    def swap_out(self, task: Task, addr: int, keep_in_cache: bool = False) -> int:
        """Reclaim the anonymous page at ``addr`` to swap, as shrink_page_list() would
        (young ptes are not spared): it gets a slot and enters the swap cache, every pte
        becomes a swap entry, it is written to the slot, and unless ``keep_in_cache`` it
        leaves the swap cache and is freed.  Returns the swap entry.
        """
        from pagemig.mm.filemap import clear_page_dirty_for_io, lock_page
        from pagemig.mm.page_flags import F_DIRTY, F_SWAPCACHE
        from pagemig.mm.page_writeback import set_page_writeback
        from pagemig.mm.rmap import try_to_unmap
        from pagemig.mm.swap import get_page, lru_add_drain_all, put_page
        from pagemig.mm.swap_state import add_to_swap, delete_from_swap_cache

        page = self.page_at(task, addr)
        if page is None or not int(self.pages.mapping[page]) & 1:
            raise OSError(errno.EINVAL, "no anonymous page at that address")
        with self.as_task(task):
            lru_add_drain_all(self)  # reclaim takes pages off the LRU, never out of a pagevec
            get_page(self, page)
            self.run(lock_page(self, page))
            if not int(self.pages.flags[page]) & F_SWAPCACHE and not add_to_swap(self, page):
                unlock_page(self, page)
                put_page(self, page)
                raise OSError(errno.ENOSPC, "swap area full")
            entry = int(self.pages.private[page])
            try_to_unmap(self, page, False)
            if int(self.pages.flags[page]) & F_DIRTY and clear_page_dirty_for_io(self, page):
                set_page_writeback(self, page)  # swap_writepage(): the slot is written
                complete_writeback(self)
            if not keep_in_cache and int(self.pages.count[page]) == 2 \
                    and not int(self.pages.mapcount[page]):
                delete_from_swap_cache(self, page)
            unlock_page(self, page)
            put_page(self, page)
        return entry

    def complete_writeback(self) -> int:
        """The I/O of every page under writeback completes, unless held open."""
        if self.hold_writeback:
            return 0
        return complete_writeback(self)

    def touch(self, task: Task, addr: int, write: bool) -> None:
        """Access one byte at ``addr`` as ``task`` would: fault the page in if needed.

        Raises OSError(EFAULT) where the task would get SIGSEGV, OSError(ENOMEM) on OOM.
        """
        from pagemig.mm.fault import user_page

        assert task.mm is not None
        with self.as_task(task):
            pfn = user_page(self, task.mm, addr, write)
        if pfn < 0:
            raise OSError(-pfn, os.strerror(-pfn), hex(addr))

    def write_user(self, task: Task, addr: int, data: bytes) -> None:
        """Store ``data`` at ``addr`` in ``task`` (faulting pages in); OSError(EFAULT)."""
        with self.as_task(task):
            _check(copy_to_user(self, addr, data))

    def read_user(self, task: Task, addr: int, size: int) -> bytes:
        """Read ``size`` bytes at ``addr`` in ``task``; OSError(EFAULT) on a fault."""
        with self.as_task(task):
            data = copy_from_user(self, addr, size)
        if data is None:
            raise OSError(errno.EFAULT, os.strerror(errno.EFAULT), hex(addr))
        return data

    def page_at(self, task: Task, addr: int) -> int | None:
        """The pfn mapped at ``addr`` in ``task``, or None (no fault, no reference)."""
        from pagemig.mm.memory import follow_page

        assert task.mm is not None
        vma = task.mm.vma_containing(addr)
        if vma is None:
            return None
        pfn = follow_page(self, vma, addr, 0)
        return pfn if pfn is not None and pfn >= 0 else None

    def pin(self, task: Task, addr: int, npages: int) -> list[int]:
        """Take a reference on each page, as vmsplice() into a pipe does (get_user_pages)."""
        from pagemig.mm.memory import get_user_pages

        assert task.mm is not None
        with self.as_task(task):
            ret, pfns = get_user_pages(self, task.mm, addr, npages, False, True)
        if ret < 0:
            raise OSError(-ret, os.strerror(-ret))
        for pfn in pfns:
            self.pinned[pfn] = self.pinned.get(pfn, 0) + 1
        return pfns

    def unpin(self, pfns: list[int]) -> None:
        """Drop references taken by :meth:`pin`."""
        from pagemig.mm.swap import put_page

        for pfn in pfns:
            self.pinned[pfn] -= 1
            if not self.pinned[pfn]:
                del self.pinned[pfn]
            put_page(self, pfn)

    # -- system calls --

    def sys_move_pages(self, caller: Task, pid: int, nr_pages: int, pages: int, nodes: int,
                       status: int, flags: int) -> int:
        """move_pages(2) made by ``caller`` with user pointers; the kernel's return value."""
        with self.as_task(caller):
            return int(self.run(migrate.sys_move_pages(self, pid, nr_pages, pages, nodes,
                                                       status, flags)))

    def move_pages(self, caller: Task, pid: int, addrs: list[int], nodes: list[int] | None,
                   flags: int = 2) -> tuple[int, list[int]]:
        """move_pages(2) with its arrays placed in ``caller``'s memory, as a program would.

        Returns (the call's non-negative result, the status array); a negative result
        raises OSError(errno).  ``nodes`` None is query mode.
        """
        n = len(addrs)
        with UserArrays(self, caller, [8 * n, 4 * n, 4 * n]) as (p_ptr, n_ptr, s_ptr):
            self.write_user(caller, p_ptr, np.asarray(addrs, "<u8").tobytes())
            if nodes is not None:
                self.write_user(caller, n_ptr, np.asarray(nodes, "<i4").tobytes())
            self.write_user(caller, s_ptr, np.full(n, -99999, "<i4").tobytes())
            ret = self.sys_move_pages(caller, pid, n, p_ptr, n_ptr if nodes is not None else 0,
                                      s_ptr, flags)
            status = np.frombuffer(self.read_user(caller, s_ptr, 4 * n), "<i4").tolist()
        return _check(ret), [int(s) for s in status]


class _AsTask:
    def __init__(self, k: Kernel, task: Task) -> None:
        self.k, self.task, self.saved = k, task, None

    def __enter__(self) -> Task:
        self.saved = self.k.current  # type: ignore[assignment]
        self.k.current = self.task
        return self.task

    def __exit__(self, *exc: object) -> None:
        self.k.current = self.saved


class UserArrays:
    """Argument arrays in a task's memory, each ending at a PROT_NONE guard page.

    The probe's garray_alloc(): an anonymous mapping of the data pages plus one page,
    whose last page is made PROT_NONE, with the array placed to end exactly at it, so that
    a kernel reading past the end faults.  Unmapped on exit.
    """

    def __init__(self, k: Kernel, task: Task, sizes: list[int]) -> None:
        self.k, self.task, self.sizes = k, task, sizes
        self.maps: list[tuple[int, int]] = []

    def __enter__(self) -> list[int]:
        ptrs = []
        for size in self.sizes:
            data = max(PAGE_SIZE, (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
            base = self.k.mmap(self.task, data + PAGE_SIZE)
            self.k.mprotect(self.task, base + data, PAGE_SIZE, PROT_NONE)
            self.maps.append((base, data + PAGE_SIZE))
            ptrs.append(base + data - size)
        return ptrs

    def __exit__(self, *exc: object) -> None:
        for base, length in self.maps:
            self.k.munmap(self.task, base, length)


def _check(ret: int) -> int:
    # The Python API's rule: a negative kernel result becomes OSError(errno).
    if ret < 0:
        raise OSError(-ret, os.strerror(-ret))
    return ret


__all__ = ["Kernel", "Topology", "UserArrays"]
