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

import contextlib
import errno
import os
from bisect import bisect_right
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pagemig import argcheck, binfmt, fork
from pagemig.cpuset import CgroupRoot
from pagemig.fs.ext2 import ext2_aops, ext2_new_file
from pagemig.fs.procfs import NotModelled
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
    PAGE_MAPPING_ANON,
    PAGE_SHIFT,
    PAGE_SIZE,
    AnonVma,
    MmStruct,
    PageArrays,
    mapping_id,
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
from pagemig.mm.page_writeback import WritebackQueue, complete_writeback, end_io
from pagemig.mm.physmem import CONTENTS_MODES, ContentsModeError, MiB, make_frame_store
from pagemig.mm.profiles import get_profile
from pagemig.mm.shmem import shmem_aops, shmem_file_setup
from pagemig.mm.swap import PAGEVEC_SIZE
from pagemig.sched import PF_KTHREAD, TASK_RUNNING, Task, Wait, run_one_actor
from pagemig.security import SecurityOps

MiB_PAGES = 256
RESERVED_LOW_PAGES = 256  # the first MiB: BIOS data, real-mode areas
KERNEL_START_PFN = 4096  # the kernel image is loaded at 16 MiB
KERNEL_IMAGE_PAGES = 2048  # 8 MiB of kernel text, data and bss
MIN_NODE_MB = 32
MAX_SWAP_PAGES = 1 << 20  # the model's largest swap area (4 GiB)
MAX_USER_COPY = (1 << 64) - 1  # copies are bounded by access_ok() (TASK_SIZE)


@dataclass(frozen=True)
class Topology:
    """The machine to model: nodes with memory, CPUs per node, memoryless nodes."""

    nodes: int = 2
    mem_per_node_mb: int = 1024
    cpus_per_node: int = 1
    memless_nodes: int = 0

    def __post_init__(self) -> None:
        self.validate()  # a Topology that exists is one a Kernel can boot

    def validate(self) -> None:
        """Raise TypeError or ValueError naming the first parameter of a wrong type or out
        of range."""
        for name in ("nodes", "mem_per_node_mb", "cpus_per_node", "memless_nodes"):
            argcheck.as_int(name, getattr(self, name))
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
    contents : str
        how page contents are kept: "bytes" (the real 4096 bytes of every page, the
        default) or "tag" (one 64-bit token per page, for very large machines: the calls
        that take or return the bytes of user memory raise ContentsModeError, and
        :meth:`store_token`/:meth:`load_token` take their place; docs/api.md).
    host_memory_mb : int or None
        the most host memory (MiB) the page contents may take; by default the host's
        MemAvailable once the machine has booted, less a margin.  A store past it raises
        ``pagemig.mm.physmem.HostMemoryExhausted`` (a MemoryError).
    """

    def __init__(self, topology: Topology | None = None, profile: str = "2.6.27",
                 seed: int = 0, contents: str = "bytes",
                 host_memory_mb: int | None = None) -> None:
        self.topology = Topology() if topology is None else topology
        if not isinstance(self.topology, Topology):
            raise TypeError(f"`topology` must be a Topology, not {type(topology).__name__}")
        self.topology.validate()
        if not isinstance(profile, str):
            raise TypeError(f"`profile` must be a str, not {type(profile).__name__}")
        seed = argcheck.as_int("seed", seed)
        if host_memory_mb is not None:
            host_memory_mb = argcheck.in_range("host_memory_mb", host_memory_mb, 0, 1 << 40)
        if not isinstance(contents, str):
            raise TypeError(f"`contents` must be a str, not {type(contents).__name__}")
        if contents not in CONTENTS_MODES:
            raise ValueError(f"`contents` must be 'bytes' or 'tag', not {contents!r}")
        self.contents = contents
        self.profile = get_profile(profile)
        self.rng = np.random.default_rng(seed)
        # Setting either of these keeps ``tracing`` up to date (see the properties below).
        self._trace_log: list[tuple[str, dict[str, Any]]] | None = None
        self._trace_sink: Callable[[str, dict[str, Any]], None] | None = None
        self.tracing = False  # is anything recording events?  Callers test it before trace()
        self.copy_enabled = True
        # move_pages(2): "auto" (the batch path for simple calls of 64 entries or more),
        # "reference" (page by page) or "batch" (mm/migrate_batch.py); which one ran last.
        self.migrate_path = "auto"
        self.move_pages_path = "reference"
        # Faulting many pages in (store_tokens, touch_range) follows migrate_path too
        # (mm/fault_batch.py); whether the last such request used the batch path.
        self.fault_path = "reference"
        self.fork_path = "reference"  # whether the last fork copied ptes on arrays
        self.migrate_pages_path = "reference"  # how the last migrate_pages(2) moved pages
        self.mbind_path = "reference"  # how the last mbind(2) moved pages
        # Pages migrated on arrays (a whole call or a run of a list, mm/migrate_runs.py)
        # and pages given to unmap_and_move(), counted during a call to name its path.
        self.pages_moved_on_arrays = 0
        self.pages_moved_one_by_one = 0
        self.sysctl_drop_caches = 0  # the last value written to /proc/sys/vm/drop_caches
        self.double_unlocks: list[int] = []
        self.leaked_isolated: list[int] = []  # pages mbind() left isolated (quirk Q7)
        self.pinned: dict[int, int] = {}  # extra references held by pins (vmsplice)
        self.hugetlb_pool: dict[int, list[list[int]]] = {}  # node -> frames of each huge page
        self.vm_events: dict[str, int] = {}  # event counters of /proc/vmstat (mm/vmstat.py)
        self._ids: dict[str, int] = {}
        self._build_nodes()
        self._build_cpus()
        self.memcgs = {ROOT_MEM_CGROUP: MemCgroup(ROOT_MEM_CGROUP)}
        # Mapped anon pages left without a charge by remove_migration_pte(), whose
        # GFP_ATOMIC charge may fail and is ignored (validate() excuses these alone).
        self.memcg_uncharged_remaps: set[int] = set()
        self.address_spaces: dict[int, AddressSpace] = {}
        self.anon_vmas: dict[int, AnonVma] = {}
        self.security = SecurityOps()
        self.tasks: dict[int, Task] = {}
        self.cgroups = CgroupRoot()  # the cgroup v2 cpusets (pagemig.cpuset)
        self.current: Task | None = None
        self.shmem_aops = shmem_aops()
        self.ext2_aops = ext2_aops(self.profile.has("ext4"))
        self.bh = BufferHeads()
        self.writeback_inflight = WritebackQueue()
        self.hugetlb_pool: dict[int, list[np.ndarray]] = {}  # 6.1 per-node pools (mm/hugetlb.py)
        self.thp_enabled = "never"  # the oracle boots with transparent_hugepage=never
        self.hold_writeback = False  # keep started writeback in flight (tests look at it)
        self.swap_info: Any = None  # the swap area, after swapon()
        self.exec_files: dict[str, AddressSpace] = {}
        self._make_swapper_space()
        self._reserve_boot_memory()
        # The vdso image's pages (one in 2.6.27, two in 6.1) and the vvar data page, which
        # lives in the kernel image and is mapped as a raw pfn.
        vdso_pages = 2 if self.profile.has("vvar_mapping") else 1
        self.vdso_pages = tuple(self._boot_alloc() for _ in range(vdso_pages))
        self.vdso_pfn = self.vdso_pages[0]
        self.vvar_pfn = KERNEL_START_PFN + KERNEL_IMAGE_PAGES - 2
        self._next_pid = 1
        self._boot_tasks()
        # Booted: from now on the page contents may take only what the host can give.
        self.frames.set_budget(None if host_memory_mb is None else host_memory_mb * MiB)

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
        self.frames = make_frame_store(self.contents, pfn)
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
        self.lru_disable_count = 0  # lru_cache_disable() nesting (Linux 6.1)

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
        # totalram_pages: PG_reserved is set here only and no reserved frame is ever freed
        # (free_hot_cold_page() refuses one), so the count is fixed from boot on (huge
        # pages stay counted, as in the kernel); validate() checks it.
        self._totalram_pages = int(self.pages.nr_pages - len(reserved))
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
        zi = self.zone_index  # ZoneIndex.zone_of(), inline: it is called a few times a page
        return zi.zones[bisect_right(zi.starts, pfn) - 1]

    def pfn_to_nid(self, pfn: int) -> int:
        """Model of page_to_nid()."""
        zi = self.zone_index
        return zi.zones[bisect_right(zi.starts, pfn) - 1].nid

    def page_mapping(self, pfn: int) -> AddressSpace | None:
        """Model of page_mapping(): swapper_space for swap cache, None for anon pages."""
        if self.pages.flags.item(pfn) & F_SWAPCACHE:
            return self.swapper_space
        mapping = self.pages.mapping.item(pfn)
        if mapping == 0 or mapping & PAGE_MAPPING_ANON:
            return None
        return self.address_spaces[mapping_id(mapping)]

    def page_index(self, pfn: int) -> int:
        """Model of page_index(): the swap entry for swap-cache pages, else ``index``."""
        if self.pages.flags.item(pfn) & F_SWAPCACHE:
            return self.pages.private.item(pfn)
        return self.pages.index.item(pfn)

    def PageLocked(self, pfn: int) -> bool:  # noqa: N802 - the kernel's name
        """Model of PageLocked()."""
        return bool(self.pages.flags.item(pfn) & F_LOCKED)

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
        """Model of totalram_pages: every frame that is not reserved (counted at boot)."""
        return self._totalram_pages

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

        pfn = argcheck.in_range("pfn", pfn, 0, len(self.pages.flags) - 1)
        if self.profile.has("kpageflags"):
            return stable_page_flags(self, pfn)
        return kpageflags_word(int(self.pages.flags[pfn]))

    # -- sleeping and tracing --

    def run(self, gen: Generator[Any, None, Any]) -> Any:
        """Drive an engine generator to completion with one actor (see pagemig.sched)."""
        return run_one_actor(gen, self._resolve_wait)

    def _resolve_wait(self, wait: Wait) -> None:
        # One actor: whoever holds the page lock or started the writeback finishes now.
        if self.tracing:
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

    @property
    def trace_log(self) -> list[tuple[str, dict[str, Any]]] | None:
        """The list events are appended to, or None."""
        return self._trace_log

    @trace_log.setter
    def trace_log(self, log: list[tuple[str, dict[str, Any]]] | None) -> None:
        self._trace_log = log
        self.tracing = log is not None or self._trace_sink is not None

    @property
    def trace_sink(self) -> Callable[[str, dict[str, Any]], None] | None:
        """A function called with each event, or None."""
        return self._trace_sink

    @trace_sink.setter
    def trace_sink(self, sink: Callable[[str, dict[str, Any]], None] | None) -> None:
        self._trace_sink = sink
        self.tracing = self._trace_log is not None or sink is not None

    def trace(self, event: str, **fields: Any) -> None:
        """Record an engine event (a tracepoint) when tracing is on.

        Hot paths call it only ``if k.tracing:``, so that the event's fields are not even
        built when nothing records them.
        """
        if self._trace_log is not None:
            self._trace_log.append((event, fields))
        if self._trace_sink is not None:
            self._trace_sink(event, fields)

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
        if not isinstance(comm, str):
            raise TypeError(f"`comm` must be a str, not {type(comm).__name__}")
        parent = self.init_task() if parent is None else argcheck.task_arg(self, "parent",
                                                                            parent)
        cpu = argcheck.in_range("cpu", cpu, 0, self.nr_cpus - 1)
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
        """Model of do_fork(): a child with a copy of the parent's address space.

        ValueError if ``parent`` has exited or been reaped."""
        argcheck.task_arg(self, "parent", parent)
        if comm is not None and not isinstance(comm, str):
            raise TypeError(f"`comm` must be a str, not {type(comm).__name__}")
        return fork.do_fork(self, parent, comm)

    def exit(self, task: Task) -> None:
        """Model of do_exit(): release the mm; the task stays a zombie until reaped.

        ValueError for a task that has already exited, for init (pid 1: the kernel would
        panic) and for kernel threads."""
        argcheck.task_arg(self, "task", task)
        if task is self.init_task():
            raise ValueError("`task` is init (pid 1), which cannot exit")
        if task.flags & PF_KTHREAD:
            raise ValueError(f"`task` (pid {task.pid}) is a kernel thread")
        fork.do_exit(self, task)

    def reap(self, task: Task) -> None:
        """Model of release_task(): the pid no longer exists.

        ValueError for a task that has not exited (call :meth:`exit` first) or was reaped."""
        argcheck.task_arg(self, "task", task, alive=False)
        if task.state == TASK_RUNNING:
            raise ValueError(f"`task` (pid {task.pid}) is still running: exit it first")
        fork.release_task(self, task)

    def as_task(self, task: Task) -> _AsTask:
        """Context manager: run the enclosed calls as ``task`` (``current``)."""
        return _AsTask(self, task)

    # -- memory calls of a task (the Python API) --

    def mmap(self, task: Task, length: int, prot: int = PROT_READ | PROT_WRITE,
             flags: int = MAP_PRIVATE | MAP_ANONYMOUS, file: AddressSpace | None = None,
             addr: int = 0) -> int:
        """mmap(2) in ``task``: returns the address; OSError on failure."""
        length = argcheck.ulong_arg("length", length)
        addr = argcheck.ulong_arg("addr", addr)
        prot = argcheck.int_arg("prot", prot)
        flags = argcheck.int_arg("flags", flags)
        return _check(self.sys_mmap(task, addr, length, prot, flags, file))

    def munmap(self, task: Task, addr: int, length: int) -> None:
        """munmap(2) in ``task``."""
        _check(self.sys_munmap(task, argcheck.ulong_arg("addr", addr),
                               argcheck.ulong_arg("length", length)))

    def mprotect(self, task: Task, addr: int, length: int, prot: int) -> None:
        """mprotect(2) in ``task``; OSError(EINVAL) for unknown ``prot`` bits."""
        _check(self.sys_mprotect(task, argcheck.ulong_arg("addr", addr),
                                 argcheck.ulong_arg("length", length),
                                 argcheck.int_arg("prot", prot)))

    def mlock(self, task: Task, addr: int, length: int, on: bool = True) -> None:
        """mlock(2) (or munlock(2) with ``on=False``) in ``task``."""
        addr = argcheck.ulong_arg("addr", addr)
        length = argcheck.ulong_arg("length", length)
        on = argcheck.as_bool("on", on)
        _check(self.sys_mlock(task, addr, length) if on
               else self.sys_munlock(task, addr, length))

    def create_file(self, name: str, size_pages: int) -> AddressSpace:
        """A new tmpfs file of ``size_pages`` pages (open(O_CREAT) + ftruncate()).

        ValueError for a negative size or one past the model's largest file
        (``pagemig.mm.filemap.MAX_FILE_PAGES``)."""
        return shmem_file_setup(self, _name_arg(name), _file_size_arg(size_pages, True))

    def create_blockfs_file(self, name: str, size_pages: int) -> AddressSpace:
        """A new sparse file of ``size_pages`` pages on the ext2 filesystem (ValueError for
        a negative size or one past ``pagemig.fs.ext2.EXT2_MAX_FILE_PAGES``)."""
        return ext2_new_file(self, _name_arg(name), _file_size_arg(size_pages, False))

    def pwrite(self, task: Task, file: AddressSpace, index: int, data: bytes) -> None:
        """pwrite(2) of one whole page at page ``index`` of ``file``, as ``task``: a write
        past the end grows the file.  ``data`` is at most one page (ValueError);
        OSError(EINVAL) for a negative index, EFBIG past the largest file, ENOMEM."""
        _check(self.sys_pwrite(task, file, index, data))

    def pread(self, task: Task, file: AddressSpace, index: int) -> bytes:
        """pread(2) of one whole page of ``file``: b"" at or past the end of the file (as
        read(2) returns nothing there); OSError(EINVAL) for a negative index, ENOMEM."""
        data = self.sys_pread(task, file, index)
        if isinstance(data, int):
            raise OSError(-data, os.strerror(-data))
        return data

    def fsync(self, task: Task, file: AddressSpace) -> int:
        """fsync(2): write every dirty page of ``file`` and wait; 0 or -EIO."""
        return self.sys_fsync(task, file)

    def start_writeback(self, task: Task, file: AddressSpace, first: int = 0,
                        last: int | None = None) -> int:
        """sync_file_range(SYNC_FILE_RANGE_WRITE): start writing dirty pages, no wait."""
        from pagemig.mm.page_writeback import write_cache_pages

        argcheck.task_arg(self, "task", task)
        argcheck.file_arg(self, "file", file)
        first = argcheck.size_arg("first", first)
        end = file.size_pages - 1 if last is None else argcheck.as_int("last", last)
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
        from pagemig.mm.memcontrol import RES_COUNTER_MAX, mem_cgroup_create

        if limit_pages is not None:
            limit_pages = argcheck.size_arg("limit_pages", limit_pages, RES_COUNTER_MAX)
        return mem_cgroup_create(self, limit_pages)

    def memcg_set_limit(self, memcg: MemCgroup | int, limit_pages: int) -> None:
        """Write memory.limit_in_bytes; OSError(EBUSY) below the current usage."""
        from pagemig.mm.memcontrol import RES_COUNTER_MAX, mem_cgroup_resize_limit

        memcg = self._memcg_arg(memcg)
        limit_pages = argcheck.size_arg("limit_pages", limit_pages, RES_COUNTER_MAX)
        _check(mem_cgroup_resize_limit(self, memcg, limit_pages))

    def memcg_move_task(self, task: Task, memcg: MemCgroup | int) -> None:
        """Move ``task`` into ``memcg`` (its charges stay); OSError(ESRCH) if it exited."""
        from pagemig.mm.memcontrol import mem_cgroup_move_task

        argcheck.task_arg(self, "task", task, alive=False)
        _check(mem_cgroup_move_task(self, task, self._memcg_arg(memcg)))

    def _memcg_arg(self, memcg: Any) -> MemCgroup:
        # A memory cgroup of this machine, or its id.
        if isinstance(memcg, MemCgroup):
            cg_id = memcg.id
        else:
            try:
                cg_id = argcheck.as_int("memcg", memcg)
            except TypeError:
                raise TypeError("`memcg` must be a MemCgroup or its id, not "
                                f"{type(memcg).__name__}") from None
        cg = self.memcgs.get(cg_id)
        if cg is None or (isinstance(memcg, MemCgroup) and cg is not memcg):
            raise ValueError(f"`memcg` ({cg_id}) is not a memory cgroup of this machine")
        return cg

    def madvise(self, task: Task, addr: int, length: int, advice: int) -> None:
        """madvise(2) in ``task``."""
        _check(self.sys_madvise(task, argcheck.ulong_arg("addr", addr),
                                argcheck.ulong_arg("length", length),
                                argcheck.int_arg("advice", advice)))

    def swapon(self, nr_pages: int, synchronous: bool = False) -> None:
        """swapon(2) of a swap area of ``nr_pages`` pages (``synchronous``: zram-like)."""
        from pagemig.mm.swapfile import sys_swapon

        nr_pages = argcheck.size_arg("nr_pages", nr_pages, MAX_SWAP_PAGES)
        _check(sys_swapon(self, nr_pages, argcheck.as_bool("synchronous", synchronous)))

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

        argcheck.user_task_arg(self, "task", task)
        addr = argcheck.ulong_arg("addr", addr)
        keep_in_cache = argcheck.as_bool("keep_in_cache", keep_in_cache)
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

        argcheck.user_task_arg(self, "task", task)
        addr = argcheck.ulong_arg("addr", addr)
        write = argcheck.as_bool("write", write)
        with self.as_task(task):
            pfn = user_page(self, task.mm, addr, write)
        if pfn < 0:
            raise OSError(-pfn, os.strerror(-pfn), hex(addr))

    def write_user(self, task: Task, addr: int, data: bytes) -> None:
        """Store ``data`` at ``addr`` in ``task`` (faulting pages in); OSError(EFAULT).
        ContentsModeError on a machine that keeps tokens (contents "tag")."""
        self._needs_bytes("write_user")
        self._write_user(task, addr, data)

    def read_user(self, task: Task, addr: int, size: int) -> bytes:
        """Read ``size`` bytes at ``addr`` in ``task``; OSError(EFAULT) on a fault.
        ContentsModeError on a machine that keeps tokens (contents "tag")."""
        self._needs_bytes("read_user")
        return self._read_user(task, addr, size)

    def _write_user(self, task: Task, addr: int, data: bytes) -> None:
        # write_user() in either mode: the argument arrays the API places itself.
        _check(self._copy_to_user(task, argcheck.ulong_arg("addr", addr), data))

    def _read_user(self, task: Task, addr: int, size: int) -> bytes:
        data = self._copy_from_user(task, argcheck.ulong_arg("addr", addr),
                                    argcheck.size_arg("size", size, MAX_USER_COPY))
        if data is None:
            raise OSError(errno.EFAULT, os.strerror(errno.EFAULT), hex(addr))
        return data

    def _needs_bytes(self, call: str) -> None:
        if self.contents != "bytes":
            raise ContentsModeError(
                f"{call}() takes or returns the bytes of user memory, which a machine with "
                f"contents={self.contents!r} does not keep (one token per page); use "
                "store_token()/load_token(), or boot the machine with contents='bytes'")

    def store_token(self, task: Task, addr: int, token: int) -> None:
        """Store the page ``token`` stands for at the page-aligned ``addr`` in ``task``, as
        a store of its 4096 bytes would (faulting the page in for a write).  Token 0 is a
        page of zeros; a token ``t`` stands for the 512 little-endian words ``t ^ (8 * i)``.
        Works with either ``contents``; OSError(EFAULT) where the task would get SIGSEGV,
        OSError(ENOMEM) when the fault finds no memory."""
        from pagemig.mm.fault import access_ok, user_page
        from pagemig.mm.physmem import _check_token

        argcheck.user_task_arg(self, "task", task)
        addr, token = self._page_addr(addr), _check_token(token)
        with self.as_task(task):
            pfn = user_page(self, task.mm, addr, True) if access_ok(addr, PAGE_SIZE) \
                else -errno.EFAULT
            if pfn >= 0:
                self.frames.store_token(pfn, token)
        if pfn < 0:
            raise OSError(-pfn, os.strerror(-pfn), hex(addr))

    def store_tokens(self, task: Task, addr: int, tokens: Any) -> None:
        """store_token() of ``tokens[i]`` at ``addr + i * PAGE_SIZE`` for every i, in
        order (the same result; first touches of private anonymous memory are faulted in
        on arrays, see mm/fault_batch.py and ``migrate_path``).  OSError as store_token()
        for the first page that fails, the pages before it stored."""
        err, i = self._store_tokens(task, addr, tokens)
        if err:
            raise OSError(-err, os.strerror(-err), hex(addr + i * PAGE_SIZE))

    def touch_range(self, task: Task, addr: int, npages: int, write: bool) -> None:
        """touch() of one byte of each of the ``npages`` pages from the page-aligned
        ``addr``, in order (the same result; first touches of private anonymous memory
        are faulted in on arrays, see mm/fault_batch.py).  OSError as touch() for the
        first page that fails, the pages before it touched."""
        err, i = self._touch_range(task, addr, npages, write)
        if err:
            raise OSError(-err, os.strerror(-err), hex(addr + i * PAGE_SIZE))

    def _store_tokens(self, task: Task, addr: int, tokens: Any) -> tuple[int, int]:
        # store_tokens(): (0, n) or (-errno, the index of the page that failed).
        from pagemig.mm.physmem import _check_token

        argcheck.user_task_arg(self, "task", task)
        addr = self._page_addr(addr)
        if isinstance(tokens, np.ndarray) and tokens.dtype == np.uint64:
            toks = tokens.ravel()
        else:
            toks = np.array([_check_token(t) for t in tokens], np.uint64)
        return self._fault_range(task, addr, len(toks), True, toks)

    def _touch_range(self, task: Task, addr: int, npages: int,
                     write: bool) -> tuple[int, int]:
        # touch_range(): (0, npages) or (-errno, the index of the page that failed).
        argcheck.user_task_arg(self, "task", task)
        addr = self._page_addr(addr)
        npages = argcheck.size_arg("npages", npages, 1 << 40)
        return self._fault_range(task, addr, npages, argcheck.as_bool("write", write), None)

    def _fault_range(self, task: Task, addr: int, n: int, write: bool,
                     tokens: np.ndarray | None) -> tuple[int, int]:
        from pagemig.mm.fault_batch import FAULT_RANGE_CHUNK, fault_in_range

        with self.as_task(task):
            assert task.mm is not None
            # In pieces, in order (the same result as one range): the arrays a piece
            # needs stay small next to the model's own, however many pages are touched.
            batched = False
            try:
                for lo in range(0, n, FAULT_RANGE_CHUNK):
                    hi = min(n, lo + FAULT_RANGE_CHUNK)
                    err, i = fault_in_range(self, task.mm, addr + lo * PAGE_SIZE, hi - lo,
                                            write, None if tokens is None else tokens[lo:hi])
                    batched = batched or self.fault_path == "batch"
                    if err:
                        return err, lo + i
                return 0, n
            finally:
                self.fault_path = "batch" if batched else "reference"

    def load_token(self, task: Task, addr: int) -> int | None:
        """The token that stands for the page at the page-aligned ``addr`` in ``task`` (a
        load of it, faulting it in), or None when its bytes are no token's page.  Works
        with either ``contents``; OSError(EFAULT) where the task would fault."""
        from pagemig.mm.fault import access_ok, user_page

        argcheck.user_task_arg(self, "task", task)
        addr = self._page_addr(addr)
        with self.as_task(task):
            pfn = user_page(self, task.mm, addr, False) if access_ok(addr, PAGE_SIZE) \
                else -errno.EFAULT
            if pfn >= 0:
                return self.frames.load_token(pfn)
        raise OSError(-pfn, os.strerror(-pfn), hex(addr))

    def load_tokens(self, task: Task, addrs: Any) -> list[int | None]:
        """load_token() of many page-aligned addresses, in order, with the same results:
        the pages whose pte allows a read (which changes nothing) are read at once, the
        others faulted in one by one in their place.  OSError as load_token() for the
        first address that fails (its ``index`` attribute says which)."""
        from pagemig.mm.fault import TASK_SIZE
        from pagemig.mm.swapops import _PAGE_PRESENT, _PAGE_PROTNONE, PTE_PFN_MASK

        argcheck.user_task_arg(self, "task", task)
        addrs = argcheck.ulong_list("addrs", addrs)
        if any(a & (PAGE_SIZE - 1) for a in addrs):
            bad = next(a for a in addrs if a & (PAGE_SIZE - 1))
            raise ValueError(f"`addrs` holds {bad:#x}, which is not page-aligned")
        from pagemig.mm.migrate_batch import ptes_at, vma_index

        at = np.array(addrs, np.uint64)
        mm = task.mm
        # fast: below TASK_SIZE, in a vma, a present pte that allows a read, a frame
        fast = (at <= np.uint64(TASK_SIZE - PAGE_SIZE)) & vma_index(mm, at)[1]
        where = np.flatnonzero(fast)
        ptes = ptes_at(mm, at[where])
        pfns = ((ptes & np.uint64(PTE_PFN_MASK)) >> np.uint64(PAGE_SHIFT)).astype(np.int64)
        readable = (((ptes & np.uint64(_PAGE_PRESENT)) != 0)
                    & ((ptes & np.uint64(_PAGE_PROTNONE)) == 0) & (pfns < self.pages.nr_pages))
        fast[where[~readable]] = False
        pfns = pfns[readable]
        tokens, known = self.frames.load_tokens(pfns)
        out: list[int | None] = [None] * len(addrs)
        for i, t, k in zip(np.flatnonzero(fast).tolist(), tokens.tolist(), known.tolist(),
                           strict=True):
            out[i] = t if k else None
        for i in np.flatnonzero(~fast).tolist():
            try:
                out[i] = self.load_token(task, addrs[i])
            except OSError as e:
                e.index = i  # type: ignore[attr-defined]  (the first address that failed)
                raise
        return out

    @staticmethod
    def _page_addr(addr: Any) -> int:
        addr = argcheck.ulong_arg("addr", addr)
        if addr & (PAGE_SIZE - 1):
            raise ValueError(f"`addr` {addr:#x} is not page-aligned")
        return addr

    def page_at(self, task: Task, addr: int) -> int | None:
        """The pfn mapped at ``addr`` in ``task``, or None (no fault, no reference)."""
        from pagemig.mm.memory import FOLL_FORCE, follow_page

        argcheck.user_task_arg(self, "task", task)
        addr = argcheck.ulong_arg("addr", addr)
        vma = task.mm.vma_containing(addr)
        if vma is None:
            return None
        pfn = follow_page(self, vma, addr, FOLL_FORCE)
        return pfn if pfn is not None and pfn >= 0 else None

    def pin(self, task: Task, addr: int, npages: int) -> list[int]:
        """Take a reference on each page, as vmsplice() into a pipe does (get_user_pages).

        ValueError unless 1 <= ``npages`` <= 2**31 - 1 (get_user_pages() counts in a C
        ``int``); OSError(EFAULT) when not even the first page can be pinned, OSError(ENOMEM)
        when its fault found no memory (fewer pfns come back when a later one cannot)."""
        from pagemig.mm.memory import get_user_pages

        argcheck.user_task_arg(self, "task", task)
        addr = argcheck.ulong_arg("addr", addr)
        npages = argcheck.in_range("npages", npages, 1, -argcheck.INT_MIN - 1)
        with self.as_task(task):
            ret, pfns = get_user_pages(self, task.mm, addr, npages, False, True)
        if ret < 0:
            raise OSError(-ret, os.strerror(-ret))
        for pfn in pfns:
            self.pinned[pfn] = self.pinned.get(pfn, 0) + 1
        return pfns

    def unpin(self, pfns: list[int]) -> None:
        """Drop references taken by :meth:`pin`; ValueError (nothing dropped) when ``pfns``
        holds a pfn more times than it is pinned."""
        from collections import Counter

        from pagemig.mm.swap import put_page

        if isinstance(pfns, (str, bytes)) or not hasattr(pfns, "__iter__"):
            raise TypeError(f"`pfns` must be a list of pfns, not {type(pfns).__name__}")
        pfns = [argcheck.as_int(f"pfns[{i}]", p) for i, p in enumerate(pfns)]
        for pfn, n in Counter(pfns).items():
            if self.pinned.get(pfn, 0) < n:
                raise ValueError(f"`pfns`: pfn {pfn} is pinned {self.pinned.get(pfn, 0)} "
                                 f"times, not {n}")
        for pfn in pfns:
            self.pinned[pfn] -= 1
            if not self.pinned[pfn]:
                del self.pinned[pfn]
            put_page(self, pfn)

    # -- system calls --

    def sys_move_pages(self, caller: Task, pid: int, nr_pages: int, pages: int, nodes: int,
                       status: int, flags: int) -> int:
        """move_pages(2) made by ``caller`` with user pointers; the kernel's return value.

        As in C, ``pid`` and ``flags`` are cut to 32 bits (int: ``pid`` 2**32 is 0, the
        caller) and ``nr_pages`` and the pointers to 64 (unsigned long)."""
        argcheck.user_task_arg(self, "caller", caller)
        pid, flags = argcheck.c_int("pid", pid), argcheck.c_int("flags", flags)
        nr_pages = argcheck.c_ulong("nr_pages", nr_pages)
        pages, nodes = argcheck.c_ulong("pages", pages), argcheck.c_ulong("nodes", nodes)
        status = argcheck.c_ulong("status", status)
        with self.as_task(caller), self._counting_path("move_pages_path"):
            return int(self.run(migrate.sys_move_pages(self, pid, nr_pages, pages, nodes,
                                                       status, flags)))

    def move_pages(self, caller: Task, pid: int, addrs: list[int], nodes: list[int] | None,
                   flags: int = 2, path: str | None = None) -> tuple[int, list[int]]:
        """move_pages(2) with its arrays placed in ``caller``'s memory, as a program would.

        Returns (the call's non-negative result, the status array); a negative result
        raises OSError(errno).  ``nodes`` None is query mode.  ``pid`` and ``flags`` must fit
        a C int, each address an unsigned long (a negative one is taken as in C), each node
        an int, and ``nodes`` must have one entry per address (ValueError).  ``path``
        ("auto", "reference" or "batch"; None: ``self.migrate_path``) chooses how the
        pages are moved for this call; ``self.move_pages_path`` says which path ran.
        """
        if path is not None:
            with self._path_for_call(path):
                return self.move_pages(caller, pid, addrs, nodes, flags)
        argcheck.user_task_arg(self, "caller", caller)
        pid = argcheck.pid_arg("pid", pid)
        flags = argcheck.int_arg("flags", flags)
        if isinstance(addrs, (str, bytes)) or not hasattr(addrs, "__iter__"):
            raise TypeError(f"`addrs` must be a list of addresses, not {type(addrs).__name__}")
        addrs = argcheck.ulong_list("addrs", addrs)
        if nodes is not None:
            nodes = argcheck.node_list("nodes", nodes)
            if len(nodes) != len(addrs):
                raise ValueError(f"`nodes` has {len(nodes)} entries for {len(addrs)} addresses")
        n = len(addrs)
        with UserArrays(self, caller, [8 * n, 4 * n, 4 * n]) as (p_ptr, n_ptr, s_ptr):
            self._write_user(caller, p_ptr, np.asarray(addrs, "<u8").tobytes())
            if nodes is not None:
                self._write_user(caller, n_ptr, np.asarray(nodes, "<i4").tobytes())
            self._write_user(caller, s_ptr, np.full(n, -99999, "<i4").tobytes())
            ret = self.sys_move_pages(caller, pid, n, p_ptr, n_ptr if nodes is not None else 0,
                                      s_ptr, flags)
            status = np.frombuffer(self._read_user(caller, s_ptr, 4 * n), "<i4").tolist()
        nothing_isolated = ret == -errno.ENOENT and nodes is not None
        if nothing_isolated and not self.profile.has("move_pages_batched"):
            # 2.6.27 (quirk Q1): when no page could be isolated the call fails with -ENOENT
            # and writes no status at all, not even the per-page reasons.
            raise OSError(errno.ENOENT, "no page could be isolated (Linux 2.6.27's move_pages "
                          "then fails with ENOENT and writes no status)")
        return _check(ret), [int(s) for s in status]


    @contextlib.contextmanager
    def _counting_path(self, attr: str) -> Iterator[None]:
        # Sets ``attr`` after the call: "batch" (every page migrated on arrays), "mixed"
        # (some on arrays, some page by page) or "reference" (none on arrays).
        self.pages_moved_on_arrays = self.pages_moved_one_by_one = 0
        try:
            yield
        finally:
            arrays, one_by_one = self.pages_moved_on_arrays, self.pages_moved_one_by_one
            setattr(self, attr, "reference" if not arrays
                    else "mixed" if one_by_one else "batch")

    @staticmethod
    def _path_arg(path: object) -> str:
        from pagemig.mm.migrate_batch import PATHS

        if not isinstance(path, str):
            raise TypeError(f"`path` must be a str, not {type(path).__name__}")
        if path not in PATHS:
            raise ValueError(f"`path` must be one of {', '.join(PATHS)}, not {path!r}")
        return path

    def set_migrate_path(self, path: str) -> None:
        """Choose how move_pages(2), migrate_pages(2), mbind(2), first touches and fork
        handle pages from now on: "auto", "reference", "batch"."""
        self.migrate_path = self._path_arg(path)

    @contextlib.contextmanager
    def _path_for_call(self, path: str) -> Iterator[None]:
        # ``path`` for the one call made inside (the ``path=`` argument of the API).
        saved, self.migrate_path = self.migrate_path, self._path_arg(path)
        try:
            yield
        finally:
            self.migrate_path = saved

    def sys_mbind(self, task: Task, start: int, length: int, mode: int, nmask: int,
                  maxnode: int, flags: int) -> int:
        """mbind(2) made by ``task`` with a user mask pointer; the kernel's return value
        (``start``, ``length``, ``mode``, ``nmask`` and ``maxnode`` cut to 64 bits, unsigned
        long, and ``flags`` to 32, unsigned, as in C)."""
        from pagemig.mm.mempolicy import sys_mbind

        argcheck.user_task_arg(self, "task", task)
        start, length = argcheck.c_ulong("start", start), argcheck.c_ulong("length", length)
        mode, nmask = argcheck.c_ulong("mode", mode), argcheck.c_ulong("nmask", nmask)
        maxnode = argcheck.c_ulong("maxnode", maxnode)
        flags = argcheck.c_int("flags", flags) & argcheck.UINT_MAX

        with self.as_task(task), self._counting_path("mbind_path"):
            return int(self.run(sys_mbind(self, start, length, mode, nmask, maxnode, flags)))

    def mbind(self, task: Task, addr: int, length: int, mode: int,
              nodes: Iterable[int] | None, flags: int = 0, path: str | None = None) -> None:
        """mbind(2) in ``task`` with the node mask placed in its memory (``nodes`` None: a
        NULL mask pointer); OSError for a negative result.  ``path`` as for move_pages();
        ``self.mbind_path`` says whether the pages moved on the batch path."""
        if path is not None:
            with self._path_for_call(path):
                return self.mbind(task, addr, length, mode, nodes, flags)
        argcheck.user_task_arg(self, "task", task)
        addr, length = argcheck.ulong_arg("addr", addr), argcheck.ulong_arg("length", length)
        mode, flags = argcheck.int_arg("mode", mode), argcheck.int_arg("flags", flags)
        with _NodeMask(self, task, nodes) as (ptr, maxnode):
            _check(self.sys_mbind(task, addr, length, mode, ptr, maxnode, flags))

    def sys_set_mempolicy(self, task: Task, mode: int, nmask: int, maxnode: int) -> int:
        """set_mempolicy(2) made by ``task`` with a user mask pointer; the kernel's value
        (``mode`` cut to 32 bits, int, ``nmask`` and ``maxnode`` to 64, as in C)."""
        from pagemig.mm.mempolicy import sys_set_mempolicy

        argcheck.user_task_arg(self, "task", task)
        mode, nmask = argcheck.c_int("mode", mode), argcheck.c_ulong("nmask", nmask)
        maxnode = argcheck.c_ulong("maxnode", maxnode)

        with self.as_task(task):
            return int(sys_set_mempolicy(self, mode, nmask, maxnode))

    def set_mempolicy(self, task: Task, mode: int, nodes: Iterable[int] | None) -> None:
        """set_mempolicy(2): ``task``'s own policy, the mask placed in its memory (``nodes``
        None: a NULL pointer); OSError for a negative result."""
        argcheck.user_task_arg(self, "task", task)
        mode = argcheck.int_arg("mode", mode)
        with _NodeMask(self, task, nodes) as (ptr, maxnode):
            _check(self.sys_set_mempolicy(task, mode, ptr, maxnode))

    def sys_migrate_pages(self, caller: Task, pid: int, maxnode: int, old_nodes: int,
                          new_nodes: int) -> int:
        """migrate_pages(2) made by ``caller`` with user mask pointers; the kernel's return
        value (the number of pages not moved, or a negative errno).  ``pid`` is cut to 32
        bits (int), ``maxnode`` and the pointers to 64, as in C."""
        from pagemig.mm.mempolicy import sys_migrate_pages

        argcheck.user_task_arg(self, "caller", caller)
        pid, maxnode = argcheck.c_int("pid", pid), argcheck.c_ulong("maxnode", maxnode)
        old_nodes = argcheck.c_ulong("old_nodes", old_nodes)
        new_nodes = argcheck.c_ulong("new_nodes", new_nodes)

        with self.as_task(caller), self._counting_path("migrate_pages_path"):
            return int(self.run(sys_migrate_pages(self, pid, maxnode, old_nodes, new_nodes)))

    def migrate_pages(self, caller: Task, pid: int, old_nodes: Iterable[int] | None,
                      new_nodes: Iterable[int] | None, path: str | None = None) -> int:
        """migrate_pages(2): move the pages of ``pid`` (0: the caller) from ``old_nodes`` to
        ``new_nodes``, both masks placed in the caller's memory (None: a NULL pointer).

        Returns the number of pages not moved; OSError for a negative result.  ``path`` as
        for move_pages(); ``self.migrate_pages_path`` says whether a (source, destination)
        pair of the call moved on the batch path.
        """
        if path is not None:
            with self._path_for_call(path):
                return self.migrate_pages(caller, pid, old_nodes, new_nodes)
        argcheck.user_task_arg(self, "caller", caller)
        pid = argcheck.pid_arg("pid", pid)
        old = None if old_nodes is None else sorted(argcheck.node_list("old_nodes", old_nodes))
        new = None if new_nodes is None else sorted(argcheck.node_list("new_nodes", new_nodes))
        nlongs = _mask_longs((old or []) + (new or []))
        with _NodeMask(self, caller, old, nlongs) as (old_ptr, maxnode), \
                _NodeMask(self, caller, new, nlongs) as (new_ptr, _):
            return _check(self.sys_migrate_pages(caller, pid, maxnode, old_ptr, new_ptr))

    # == The system-call surface ==================================================
    #
    # Every call a scenario makes is one of the methods below (or the mempolicy and
    # move_pages calls above).  Each raw method runs as ``task`` (``current``) and
    # returns what the kernel returns: 0, an address or a count, or a negative errno.
    # The kernel logic is in the module named after the kernel file; these stay thin.
    # docs/api.md lists them all with their convenient twins.

    # -- system calls: memory --

    def sys_mmap(self, task: Task, addr: int, length: int, prot: int, flags: int,
                 file: AddressSpace | None = None) -> int:
        """mmap(2) (do_mmap(), mm/mmap.c) in ``task``: the address, or -errno (-EBADF
        without MAP_ANONYMOUS and without a file; with MAP_ANONYMOUS ``file`` is ignored).

        As in C, ``addr`` and ``length`` are cut to 64 bits (unsigned long), ``prot`` and
        ``flags`` to 32 (int)."""
        argcheck.user_task_arg(self, "task", task)
        addr, length = argcheck.c_ulong("addr", addr), argcheck.c_ulong("length", length)
        prot, flags = argcheck.c_int("prot", prot), argcheck.c_int("flags", flags)
        if file is not None:
            argcheck.file_arg(self, "file", file)
        # sys_mmap(): MAP_ANONYMOUS ignores the file; without it there must be one (EBADF).
        if flags & MAP_ANONYMOUS:
            file = None
        elif file is None:
            return -errno.EBADF
        assert task.mm is not None
        with self.as_task(task):
            return int(do_mmap(self, task.mm, addr, length, prot, flags, file))

    def sys_munmap(self, task: Task, addr: int, length: int) -> int:
        """munmap(2) (do_munmap(), mm/mmap.c) in ``task``: 0 or -EINVAL (``addr`` and
        ``length`` cut to 64 bits, as in C)."""
        argcheck.user_task_arg(self, "task", task)
        addr, length = argcheck.c_ulong("addr", addr), argcheck.c_ulong("length", length)
        assert task.mm is not None
        with self.as_task(task):
            return int(do_munmap(self, task.mm, addr, length))

    def sys_mprotect(self, task: Task, addr: int, length: int, prot: int) -> int:
        """mprotect(2) (mm/mprotect.c) in ``task``: 0 or -errno (``addr`` and ``length``
        cut to 64 bits, ``prot`` to 32, as in C)."""
        from pagemig.mm.mprotect import sys_mprotect

        argcheck.user_task_arg(self, "task", task)
        addr, length = argcheck.c_ulong("addr", addr), argcheck.c_ulong("length", length)
        prot = argcheck.c_int("prot", prot)
        assert task.mm is not None
        with self.as_task(task):
            return int(sys_mprotect(self, task.mm, addr, length, prot))

    def sys_mlock(self, task: Task, addr: int, length: int) -> int:
        """mlock(2) (do_mlock(), mm/mlock.c) in ``task``: 0, -EINVAL or -ENOMEM (``addr``
        and ``length`` cut to 64 bits, as in C)."""
        from pagemig.mm.mlock import do_mlock

        argcheck.user_task_arg(self, "task", task)
        addr, length = argcheck.c_ulong("addr", addr), argcheck.c_ulong("length", length)
        assert task.mm is not None
        with self.as_task(task):
            return int(do_mlock(self, task.mm, addr, length, True))

    def sys_munlock(self, task: Task, addr: int, length: int) -> int:
        """munlock(2) (do_mlock(), mm/mlock.c) in ``task``: 0, -EINVAL or -ENOMEM (``addr``
        and ``length`` cut to 64 bits, as in C)."""
        from pagemig.mm.mlock import do_mlock

        argcheck.user_task_arg(self, "task", task)
        addr, length = argcheck.c_ulong("addr", addr), argcheck.c_ulong("length", length)
        assert task.mm is not None
        with self.as_task(task):
            return int(do_mlock(self, task.mm, addr, length, False))

    def sys_madvise(self, task: Task, addr: int, length: int, advice: int) -> int:
        """madvise(2) (mm/madvise.c) in ``task``: 0 or -errno (``addr`` and ``length`` cut
        to 64 bits, ``advice`` to 32, as in C)."""
        from pagemig.mm.madvise import sys_madvise

        argcheck.user_task_arg(self, "task", task)
        addr, length = argcheck.c_ulong("addr", addr), argcheck.c_ulong("length", length)
        advice = argcheck.c_int("advice", advice)
        assert task.mm is not None
        with self.as_task(task):
            return int(sys_madvise(self, task.mm, addr, length, advice))

    def copy_to_user(self, task: Task, addr: int, data: bytes) -> int:
        """A store of ``data`` at ``addr`` by ``task`` (copy_to_user(), faulting pages in):
        0, -EFAULT where the task would fault, or -ENOMEM when the fault found no memory.
        The bytes before the faulting page are written.  ContentsModeError on a machine
        that keeps tokens (contents "tag")."""
        self._needs_bytes("copy_to_user")
        return self._copy_to_user(task, addr, data)

    def _copy_to_user(self, task: Task, addr: int, data: bytes) -> int:
        argcheck.user_task_arg(self, "task", task)
        addr, data = argcheck.c_ulong("addr", addr), argcheck.as_bytes("data", data)
        with self.as_task(task):
            return int(copy_to_user(self, addr, data))

    def copy_from_user(self, task: Task, addr: int, size: int) -> bytes | None:
        """A load of ``size`` bytes at ``addr`` by ``task`` (copy_from_user()): the bytes,
        or None where the task would fault.  ContentsModeError on a machine that keeps
        tokens (contents "tag")."""
        self._needs_bytes("copy_from_user")
        return self._copy_from_user(task, addr, size)

    def _copy_from_user(self, task: Task, addr: int, size: int) -> bytes | None:
        argcheck.user_task_arg(self, "task", task)
        addr, size = argcheck.c_ulong("addr", addr), argcheck.c_ulong("size", size)
        with self.as_task(task):
            return copy_from_user(self, addr, size)

    def touch_after_fork(self, task: Task, live: bool) -> None:
        """What a child does as fork() returns in it: it writes its stack; a live probe child
        also runs the probe's code and allocates from its heap (pagemig.binfmt)."""
        argcheck.user_task_arg(self, "task", task)
        live = argcheck.as_bool("live", live)
        binfmt.touch_after_fork(self, task, live)

    # -- system calls: scheduling --

    def sys_sched_setaffinity(self, task: Task, cpus: Iterable[int]) -> int:
        """sched_setaffinity(2) of ``task`` (kernel/sched.c): 0, or -EINVAL when no CPU of
        ``cpus`` is online; the task moves off a CPU it may no longer use."""
        from pagemig.sched import sched_setaffinity

        argcheck.task_arg(self, "task", task)
        cpus = argcheck.node_list("cpus", cpus)
        return sched_setaffinity(task, cpus, self.nr_cpus)

    def sched_getaffinity(self, task: Task) -> list[int]:
        """sched_getaffinity(2) of ``task``: the CPUs it may run on, in order."""
        from pagemig.sched import sched_getaffinity

        argcheck.task_arg(self, "task", task, alive=False)
        return sched_getaffinity(task, self.nr_cpus)

    # -- system calls: files (ranges in pages) --

    def sys_pwrite(self, task: Task, file: AddressSpace, index: int, data: bytes) -> int:
        """pwrite(2) of one whole page (``data`` padded with zeros) at page ``index`` of
        ``file``, as ``task``: 0, -EINVAL (a negative index), -EFBIG (past the model's
        largest file) or -ENOMEM.  A write past the end grows the file.  ``data`` is at most
        one page (ValueError)."""
        from pagemig.mm.filemap import block_write_page

        argcheck.task_arg(self, "task", task)
        argcheck.file_arg(self, "file", file)
        index = argcheck.as_int("index", index)
        data = argcheck.as_bytes("data", data)
        if len(data) > PAGE_SIZE:
            raise ValueError(f"`data` is {len(data)} bytes, more than one page ({PAGE_SIZE})")
        with self.as_task(task):
            return int(block_write_page(self, file, index, data.ljust(PAGE_SIZE, b"\0")))

    def sys_pread(self, task: Task, file: AddressSpace, index: int) -> bytes | int:
        """pread(2) of page ``index`` of ``file`` as ``task``: its bytes, b"" at or past the
        end of the file, or -EINVAL (a negative index) or -ENOMEM."""
        from pagemig.mm.filemap import read_page

        argcheck.task_arg(self, "task", task)
        argcheck.file_arg(self, "file", file)
        index = argcheck.as_int("index", index)
        if index < 0:
            return -errno.EINVAL
        if index >= file.size_pages:
            return b""
        with self.as_task(task):
            data = read_page(self, file, index)
        return -errno.ENOMEM if data is None else data

    def sys_fsync(self, task: Task, file: AddressSpace) -> int:
        """fsync(2) (do_fsync(), fs/sync.c): write every dirty page of ``file`` and wait;
        0 or -EIO."""
        from pagemig.fs.sync import do_fsync

        argcheck.task_arg(self, "task", task)
        argcheck.file_arg(self, "file", file)
        with self.as_task(task):
            return do_fsync(self, file)

    def sys_sync(self, task: Task) -> int:
        """sync(2) (fs/sync.c): write back every block filesystem file and wait; 0."""
        from pagemig.fs.sync import sys_sync

        argcheck.task_arg(self, "task", task)
        with self.as_task(task):
            return sys_sync(self)

    def sys_msync(self, task: Task, addr: int, length: int, flags: int) -> int:
        """msync(2) (mm/msync.c) with MS_ASYNC 1, MS_INVALIDATE 2, MS_SYNC 4: 0, -EINVAL,
        -ENOMEM (part of the range unmapped), -EBUSY (MS_INVALIDATE of mlocked memory)."""
        from pagemig.mm.msync import sys_msync

        argcheck.user_task_arg(self, "task", task)
        addr, length = argcheck.c_ulong("addr", addr), argcheck.c_ulong("length", length)
        flags = argcheck.c_int("flags", flags)
        assert task.mm is not None
        with self.as_task(task):
            return sys_msync(self, task.mm, addr, length, flags)

    def sys_sync_file_range(self, task: Task, file: AddressSpace, first: int, count: int,
                            flags: int) -> int:
        """sync_file_range(2) (fs/sync.c) of pages ``first`` .. ``first + count - 1`` with
        SYNC_FILE_RANGE_WAIT_BEFORE 1, WRITE 2, WAIT_AFTER 4: 0 or -EINVAL.  Writeback it
        starts without waiting completes at :meth:`complete_writeback`."""
        from pagemig.fs.sync import sys_sync_file_range

        argcheck.task_arg(self, "task", task)
        argcheck.file_arg(self, "file", file)
        first, count = argcheck.as_int("first", first), argcheck.as_int("count", count)
        flags = argcheck.c_int("flags", flags) & argcheck.UINT_MAX
        with self.as_task(task):
            return sys_sync_file_range(self, file, first, count, flags)

    def sys_fadvise(self, task: Task, file: AddressSpace, first: int, count: int,
                    advice: int) -> int:
        """posix_fadvise(2) (mm/fadvise.c) of pages ``first`` .. ``first + count - 1``:
        0 or -EINVAL; POSIX_FADV_DONTNEED (4) starts writeback and drops the clean,
        unmapped pages."""
        from pagemig.mm.fadvise import sys_fadvise64_64

        argcheck.task_arg(self, "task", task)
        argcheck.file_arg(self, "file", file)
        first, count = argcheck.as_int("first", first), argcheck.as_int("count", count)
        advice = argcheck.c_int("advice", advice)
        with self.as_task(task):
            return sys_fadvise64_64(self, file, first, count, advice)

    def write_drop_caches(self, value: str) -> int:
        """A write of ``value`` to /proc/sys/vm/drop_caches (fs/drop_caches.c): 0 or (6.1,
        outside 1..4 or not a number) -EINVAL; a value with bit 1 set drops the clean,
        unmapped page-cache pages.  2.6.27 takes any int and, for text that is not a
        number, acts on the value written before (see ``pagemig.fs.drop_caches``)."""
        from pagemig.fs.drop_caches import drop_caches_sysctl_handler

        if not isinstance(value, str):
            raise TypeError(f"`value` must be a str, not {type(value).__name__}")
        return drop_caches_sysctl_handler(self, value)

    # -- system calls: credentials --

    def sys_setresuid(self, task: Task, uid: int, gid: int) -> int:
        """``task`` becomes the user ``uid``:``gid`` as a program drops privileges:
        setgroups(0, NULL), setresgid(gid, gid, gid), then setresuid(uid, uid, uid)
        (pagemig.cred), stopping at the first failure: 0 or -EPERM.  Leaving uid 0 takes
        every capability away.  ``uid`` and ``gid`` are cut to 32 bits as in C (uid_t:
        2**32 - 1 is -1, "unchanged")."""
        from pagemig import cred

        argcheck.task_arg(self, "task", task)
        uid, gid = argcheck.c_int("uid", uid), argcheck.c_int("gid", gid)
        ret = cred.sys_setgroups(task, 0)
        if ret == 0:
            ret = cred.sys_setresgid(task, gid, gid, gid)
        if ret == 0:
            ret = cred.sys_setresuid(task, uid, uid, uid)
        return ret

    def sys_prctl_set_dumpable(self, task: Task, value: int) -> int:
        """prctl(PR_SET_DUMPABLE, ``value``) of ``task``: 0 or -EINVAL (pagemig.cred)."""
        from pagemig.cred import sys_prctl_set_dumpable

        argcheck.task_arg(self, "task", task)
        value = argcheck.c_int("value", value)
        return sys_prctl_set_dumpable(task, value)

    def sys_capget(self, task: Task) -> tuple[frozenset[int], frozenset[int]]:
        """capget(2) of ``task`` itself: its (effective, permitted) capability sets."""
        from pagemig.cred import sys_capget

        argcheck.task_arg(self, "task", task)
        return sys_capget(task)

    def sys_capset(self, task: Task, effective: Iterable[int], permitted: Iterable[int]) -> int:
        """capset(2) of ``task`` itself: 0, or -EPERM when ``permitted`` is not within the
        old permitted set or ``effective`` not within ``permitted``."""
        from pagemig.cred import sys_capset

        argcheck.task_arg(self, "task", task)
        effective = argcheck.node_list("effective", effective)
        permitted = argcheck.node_list("permitted", permitted)
        return sys_capset(task, frozenset(effective), frozenset(permitted))

    def drop_capability(self, task: Task, cap: int) -> None:
        """capget(2) then capset(2) without ``cap`` in every set; OSError on failure."""
        cap = argcheck.as_int("cap", cap)
        effective, permitted = self.sys_capget(task)
        _check(self.sys_capset(task, effective - {cap}, permitted - {cap}))

    # -- /proc, /sys and cgroup files --
    #
    # A file whose answer the model does not know raises NotModelled.

    def read_file(self, task: Task, path: str) -> str | int:
        """open(``path``, O_RDONLY) and read to the end as ``task``: the text, or -errno from
        open ("" for a directory, whose read fails).  /proc and /sys as pagemig.fs.procfs
        models them; cgroup v2 files where the release has them (pagemig.cpuset)."""
        from pagemig import cpuset
        from pagemig.fs import procfs

        argcheck.task_arg(self, "task", task)
        _path_arg(path)
        if self.profile.has("cgroup2_cpuset"):
            text = cpuset.cgroup_read(self, path)
            if text is not None:
                return text
        return procfs.read_file(self, task, path)

    def write_file(self, task: Task, path: str, value: str) -> int:
        """open(``path``, O_WRONLY) and one write() of ``value`` as ``task``: 0 or -errno
        (the files of :meth:`read_file`)."""
        from pagemig import cpuset
        from pagemig.fs import procfs

        argcheck.task_arg(self, "task", task)
        _path_arg(path)
        if not isinstance(value, str):
            raise TypeError(f"`value` must be a str, not {type(value).__name__}")
        if self.profile.has("cgroup2_cpuset"):
            with self.as_task(task):
                ret = cpuset.cgroup_write(self, task, path, value)
            if ret is not None:
                return ret
        return procfs.write_file(self, task, path, value)

    def mkdir(self, task: Task, path: str) -> int:
        """mkdir(2) as ``task``: only cgroup v2 directories (below /sys/fs/cgroup) can be
        made; -ENOENT elsewhere, and everywhere in a release without cgroup v2 cpusets."""
        from pagemig import cpuset

        argcheck.task_arg(self, "task", task)
        _path_arg(path)
        if not self.profile.has("cgroup2_cpuset"):
            return -errno.ENOENT
        return cpuset.cgroup_mkdir(self, task, path)

    def pagemap_read(self, task: Task, pid: int, buf: int, addr: int, count: int) -> int:
        """open() of /proc/PID/pagemap (``pid`` 0: /proc/self) and pread() of ``count``
        entries from the one of ``addr`` into ``task``'s buffer ``buf``, as ``task``: the
        bytes read, or -errno."""
        from pagemig.fs import procfs

        argcheck.user_task_arg(self, "task", task)
        pid = argcheck.c_int("pid", pid)
        buf, addr = argcheck.c_ulong("buf", buf), argcheck.c_ulong("addr", addr)
        count = argcheck.c_ulong("count", count)
        target = procfs.pagemap_open(self, task, pid if pid > 0 else task.pid)
        if isinstance(target, int):
            return target
        return procfs.pagemap_read(self, task, target, buf, addr, count)

    def kpage_read(self, task: Task, path: str, pfn: int) -> int | None:
        """The u64 of ``pfn`` in /proc/kpagecount or /proc/kpageflags (``path``) read by
        ``task``; None if the open or the read fails."""
        from pagemig.fs import procfs

        argcheck.task_arg(self, "task", task)
        _path_arg(path)
        return procfs.kpage_read(self, task, path, argcheck.as_int("pfn", pfn))

    def meminfo_kb(self, key: str) -> int:
        """A /proc/meminfo field in kB; -1 for a field the release does not have."""
        from pagemig.fs import procfs

        return procfs.meminfo_kb(self, key)

    def vmstat(self, key: str) -> int:
        """A /proc/vmstat field; -1 for a field the release does not have."""
        from pagemig.fs import procfs

        return procfs.vmstat_value(self, key)

    def node_meminfo_kb(self) -> dict[int, tuple[int, int]]:
        """Per node, (MemTotal, MemFree) in kB of /sys/devices/system/node/nodeN/meminfo."""
        from pagemig.mm.mmzone import ZoneStat

        kb = PAGE_SIZE // 1024
        out = {}
        for node in self.nodes:
            free = sum(int(self.zone_stat[z.id, ZoneStat.NR_FREE_PAGES]) for z in node.zones)
            out[node.nid] = (node.nr_pages * kb, free * kb)
        return out


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
        try:
            for size in self.sizes:
                data = max(PAGE_SIZE, (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
                base = self.k.mmap(self.task, data + PAGE_SIZE)
                self.maps.append((base, data + PAGE_SIZE))
                self.k.mprotect(self.task, base + data, PAGE_SIZE, PROT_NONE)
                ptrs.append(base + data - size)
        except BaseException:
            self.__exit__()  # a failed setup leaves no mapping behind
            raise
        return ptrs

    def __exit__(self, *exc: object) -> None:
        maps, self.maps = self.maps, []
        for base, length in maps:
            self.k.munmap(self.task, base, length)


def _mask_longs(nodes: Iterable[int]) -> int:
    # How many longs a user node mask needs to hold these nodes (at least one).
    return max([n // 64 + 1 for n in nodes if n >= 0] + [1])


class _NodeMask:
    """A node mask in a task's memory, as a program passes one to the mempolicy calls: an
    array of longs ending at a guard page, and maxnode = its bits + 1 (get_nodes() keeps
    the bits below maxnode - 1).  ``nodes`` None gives a NULL pointer."""

    def __init__(self, k: Kernel, task: Task, nodes: Iterable[int] | None,
                 nlongs: int | None = None) -> None:
        self.k, self.task = k, task
        self.nodes = None if nodes is None else argcheck.node_list("nodes", nodes)
        for n in self.nodes or []:
            if n < 0:
                raise ValueError(f"`nodes`: node {n} cannot be put in a mask")
        self.nlongs = nlongs or _mask_longs(self.nodes or [])
        self.arrays: UserArrays | None = None

    def __enter__(self) -> tuple[int, int]:
        maxnode = self.nlongs * 64 + 1
        if self.nodes is None:
            return 0, maxnode
        for n in self.nodes:
            if not 0 <= n < self.nlongs * 64:
                raise ValueError(f"`nodes`: node {n} cannot be put in a mask")
        # A mask longer than any the kernel reads (get_nodes() refuses more than a page of
        # bits before reading) is not written out: one long is placed, with that maxnode.
        placed = 1 if maxnode - 1 > PAGE_SIZE * 8 else self.nlongs
        words = np.zeros(placed, "<u8")
        for n in self.nodes:
            if n < placed * 64:
                words[n // 64] |= np.uint64(1 << (n % 64))
        self.arrays = UserArrays(self.k, self.task, [8 * placed])
        (ptr,) = self.arrays.__enter__()
        try:
            self.k._write_user(self.task, ptr, words.tobytes())
        except BaseException:
            # The store can fail (no memory for the page): the call is not made, and the
            # mask's mapping goes, as it does after a call.
            self.arrays.__exit__()
            raise
        return ptr, maxnode

    def __exit__(self, *exc: object) -> None:
        if self.arrays is not None:
            self.arrays.__exit__(*exc)


def _path_arg(path: Any) -> str:
    if not isinstance(path, str):
        raise TypeError(f"`path` must be a str, not {type(path).__name__}")
    return path


def _name_arg(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a str, not {type(name).__name__}")
    return name


def _file_size_arg(size_pages: Any, tmpfs: bool) -> int:
    from pagemig.fs.ext2 import EXT2_MAX_FILE_PAGES
    from pagemig.mm.filemap import MAX_FILE_PAGES

    return argcheck.size_arg("size_pages", size_pages,
                             MAX_FILE_PAGES if tmpfs else EXT2_MAX_FILE_PAGES)


def _check(ret: int) -> int:
    # The Python API's rule: a negative kernel result becomes OSError(errno).
    if ret < 0:
        raise OSError(-ret, os.strerror(-ret))
    return ret


__all__ = ["Kernel", "NotModelled", "Topology", "UserArrays"]
