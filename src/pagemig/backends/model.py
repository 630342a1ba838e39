"""The model backend: scenario system calls run on an in-process :class:`pagemig.Kernel`."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable
from typing import Any

from pagemig.backends.base import Unsupported
from pagemig.backends.model_files import FileOpsMixin
from pagemig.fs import procfs
from pagemig.kernel import Kernel, Topology
from pagemig.mm.fault import copy_from_user, copy_to_user
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.mm.mmap import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_NONE,
    do_mmap,
    do_munmap,
)
from pagemig.mm.mmzone import ZoneStat
from pagemig.sched import CAP_SYS_NICE, Task

PAGE_KB = PAGE_SIZE // 1024
PIPE_BUFFERS = 16  # include/linux/pipe_fs_i.h: the pages of a pipe that cannot be resized


class ModelBackend(FileOpsMixin):
    """Runs a scenario's processes and system calls on a kernel model."""

    def __init__(self, topology: Topology, profile: str = "2.6.27", seed: int = 0) -> None:
        self.k = Kernel(topology, profile, seed)
        self.kernel_release = self.k.profile.release
        self._affinity: dict[Task, frozenset[int]] = {}

    # -- processes --

    def start(self) -> Task:
        """The probe, started by init and pinned to CPU 0."""
        task = self.k.spawn("probe", cpu=0)
        self._affinity[task] = frozenset({0})
        return task

    def env(self, proc: Task) -> dict[str, Any]:
        """uname(2), /proc/uptime and sysconf() fields of the probe's ``env`` object."""
        k = self.k
        return {
            "kernel_release": k.profile.release,
            "kernel_version": k.profile.version,
            "machine": "x86_64",
            "uptime_s": 1.0,
            "page_size": PAGE_SIZE,
            "ncpus": k.nr_cpus,
        }

    def getpid(self, proc: Task) -> int:
        """The pid."""
        return proc.pid

    def getppid(self, proc: Task) -> int:
        """The parent's pid."""
        return proc.parent.pid if proc.parent is not None else 0

    def fork(self, proc: Task) -> Task:
        """fork(2): the child inherits the CPU affinity."""
        child = self.k.fork(proc)
        self._affinity[child] = self.sched_getaffinity(proc)
        return child

    def after_fork(self, proc: Task, live: bool) -> None:
        """The stack writes (and for a live probe child, code and heap use) after fork."""
        from pagemig.binfmt import touch_after_fork

        touch_after_fork(self.k, proc, live)

    def exit(self, proc: Task) -> None:
        """_exit(2)."""
        self.k.exit(proc)

    def reap(self, proc: Task) -> None:
        """waitpid(2)."""
        self.k.reap(proc)

    # -- CPU affinity --

    def sched_getaffinity(self, proc: Task) -> list[int]:
        """The CPUs ``proc`` may run on (the probe starts pinned to CPU 0)."""
        return sorted(self._affinity.get(proc, range(self.k.nr_cpus)))

    def sched_setaffinity(self, proc: Task, cpus: Iterable[int]) -> int:
        """sched_setaffinity(2): the mask is cut to the online CPUs (all are, and the root
        cpuset has them all); -EINVAL if none is left.  A task whose CPU is no longer allowed
        moves to the first allowed one (set_cpus_allowed_ptr())."""
        mask = frozenset(c for c in cpus if 0 <= c < self.k.nr_cpus)
        if not mask:
            return -errno.EINVAL
        self._affinity[proc] = mask
        if proc.cpu not in mask:
            proc.cpu = min(mask)
        return 0

    def getcpu(self, proc: Task) -> int:
        """sched_getcpu()."""
        return proc.cpu

    def nprocessors_conf(self) -> int:
        """sysconf(_SC_NPROCESSORS_CONF): every CPU of the machine."""
        return self.k.nr_cpus

    # -- memory --

    def mmap(self, proc: Task, length: int, prot: int, shared: bool, file: Any | None,
             align_pages: int = 0) -> int:
        """mmap(2), optionally at an aligned address (the probe's mmap_aligned())."""
        assert proc.mm is not None
        flags = (MAP_SHARED if shared else MAP_PRIVATE) | (0 if file is not None else MAP_ANONYMOUS)
        with self.k.as_task(proc):
            if not align_pages:
                return do_mmap(self.k, proc.mm, 0, length, prot, flags, file)
            align = align_pages * PAGE_SIZE
            raw = do_mmap(self.k, proc.mm, 0, length + align, PROT_NONE,
                          MAP_PRIVATE | MAP_ANONYMOUS)
            if raw < 0:
                return raw
            al = (raw + align - 1) & ~(align - 1)
            addr = do_mmap(self.k, proc.mm, al, length, prot, flags | MAP_FIXED, file)
            if al > raw:
                do_munmap(self.k, proc.mm, raw, al - raw)
            if raw + length + align > al + length:
                do_munmap(self.k, proc.mm, al + length, raw + length + align - (al + length))
            return addr

    def create_file(self, proc: Task, path: str, npages: int, blockfs: bool = False) -> Any:
        """A file of ``npages`` pages on tmpfs, or on the ext2 filesystem."""
        with self.k.as_task(proc):
            if blockfs:
                return self.k.create_blockfs_file(path, npages)
            return self.k.create_file(path, npages)

    def memop(self, proc: Task, op: str, addr: int, length: int, arg: int = 0) -> int:
        """munmap / mprotect / mlock / munlock."""
        from pagemig.mm.mlock import do_mlock
        from pagemig.mm.mprotect import sys_mprotect

        mm = proc.mm
        assert mm is not None
        with self.k.as_task(proc):
            if op == "munmap":
                return do_munmap(self.k, mm, addr, length)
            if op == "mprotect":
                return sys_mprotect(self.k, mm, addr, length, arg)
            if op in ("mlock", "munlock"):
                return do_mlock(self.k, mm, addr, length, op == "mlock")
        raise ValueError(f"unknown memory operation {op}")

    def madvise(self, proc: Task, addr: int, length: int, advice: int) -> int:
        """madvise(2)."""
        from pagemig.mm.madvise import sys_madvise

        assert proc.mm is not None
        with self.k.as_task(proc):
            return sys_madvise(self.k, proc.mm, addr, length, advice)

    def mbind(self, proc: Task, addr: int, length: int, mode: int, mask_ptr: int, maxnode: int,
              flags: int) -> int:
        """mbind(2)."""
        from pagemig.mm.mempolicy import sys_mbind

        with self.k.as_task(proc):
            return int(self.k.run(sys_mbind(self.k, addr, length, mode, mask_ptr, maxnode,
                                            flags)))

    def migrate_pages(self, proc: Task, pid: int, maxnode: int, old_ptr: int,
                      new_ptr: int) -> int:
        """migrate_pages(2)."""
        from pagemig.mm.mempolicy import sys_migrate_pages

        with self.k.as_task(proc):
            return int(self.k.run(sys_migrate_pages(self.k, pid, maxnode, old_ptr, new_ptr)))

    def set_mempolicy(self, proc: Task, mode: int, mask_ptr: int, maxnode: int) -> int:
        """set_mempolicy(2)."""
        from pagemig.mm.mempolicy import sys_set_mempolicy

        with self.k.as_task(proc):
            return sys_set_mempolicy(self.k, mode, mask_ptr, maxnode)

    def write_user(self, proc: Task, addr: int, data: bytes) -> int:
        """A store by the process."""
        with self.k.as_task(proc):
            return copy_to_user(self.k, addr, data)

    def read_user(self, proc: Task, addr: int, size: int) -> bytes | None:
        """A load by the process."""
        with self.k.as_task(proc):
            return copy_from_user(self.k, addr, size)

    def move_pages(self, proc: Task, pid: int, count: int, pages: int, nodes: int, status: int,
                   flags: int) -> int:
        """move_pages(2)."""
        return self.k.sys_move_pages(proc, pid, count, pages, nodes, status, flags)

    def special_address(self, proc: Task, name: str) -> int:
        """Addresses of the process image (2.6.27 has no [vvar] mapping: 0)."""
        assert proc.mm is not None
        layout = proc.mm.layout  # type: ignore[attr-defined]
        table = {"text": layout.text, "heap": layout.heap, "stack": layout.stack,
                 "vdso": layout.vdso, "vvar": 0, "badpage": layout.bad_page,
                 "ro_page": layout.ro_page}
        return int(table[name])

    def pin_pages(self, proc: Task, addr: int, npages: int) -> tuple[int, Any]:
        """vmsplice(2): get_user_pages() takes a reference per page."""
        try:
            return 0, self.k.pin(proc, addr, npages)
        except OSError as e:
            return -e.errno, []

    def unpin_pages(self, handle: Any) -> None:
        """Closing the pipe drops the references."""
        self.k.unpin(handle)

    def pipe_max_pages(self) -> int:
        """PIPE_BUFFERS (16) where pipes cannot be resized (the probe's F_SETPIPE_SZ fails
        with -EINVAL), else the 1 MiB the probe asks for, which is pipe-max-size: 256."""
        if self.k.profile.has("pipe_resize"):
            return (1 << 20) // PAGE_SIZE
        return PIPE_BUFFERS

    # -- credentials --

    def setresuid(self, proc: Task, uid: int, gid: int) -> int:
        """A root process becoming ``uid``: every capability goes (2.6.27 setresuid rules)."""
        if not proc.capable(21) and proc.euid != 0:  # CAP_SETUID
            return -errno.EPERM
        proc.uid = proc.euid = proc.suid = uid
        proc.gid = gid
        if uid != 0:
            proc.cap_effective = frozenset()
            proc.cap_permitted = frozenset()
        return 0

    def drop_cap(self, proc: Task, cap: int) -> int:
        """capset(2) without ``cap``."""
        proc.cap_effective = proc.cap_effective - {cap}
        proc.cap_permitted = proc.cap_permitted - {cap}
        return 0

    def creds(self, proc: Task) -> dict[str, Any]:
        """The probe's jcaps() fields."""
        word = sum(1 << c for c in proc.cap_effective)
        return {"cap_eff": f"0x{word:016x}", "cap_sys_nice": proc.capable(CAP_SYS_NICE),
                "uid": proc.uid, "euid": proc.euid}

    # -- /proc and /sys --

    def node_meminfo_kb(self) -> dict[int, tuple[int, int]]:
        """Per node (MemTotal, MemFree) in kB, as /sys/devices/system/node/nodeN/meminfo."""
        out = {}
        for node in self.k.nodes:
            free = sum(int(self.k.zone_stat[z.id, ZoneStat.NR_FREE_PAGES]) for z in node.zones)
            out[node.nid] = (node.nr_pages * PAGE_KB, free * PAGE_KB)
        return out

    def meminfo_kb(self, key: str) -> int:
        """A /proc/meminfo field of 2.6.27, in kB; -1 for fields 2.6.27 did not have."""
        return _answer(procfs.meminfo_kb, self.k, key)

    def vmstat(self, key: str) -> int:
        """A /proc/vmstat field of 2.6.27 (no pgmigrate_* counters: -1)."""
        return _answer(procfs.vmstat_value, self.k, key)

    def read_file(self, proc: Task, path: str) -> str | int:
        """Read a /proc or /sys file of 2.6.27 (see pagemig.fs.procfs)."""
        return _answer(procfs.read_file, self.k, proc, path)

    def write_file(self, proc: Task, path: str, value: str) -> int:
        """Write a /proc or /sys file of 2.6.27 (see pagemig.fs.procfs)."""
        return _answer(procfs.write_file, self.k, proc, path, value)

    def pagemap_read(self, proc: Task, pid: int, buf: int, addr: int, count: int) -> int:
        """open() and pread() of /proc/PID/pagemap (pid 0: /proc/self) into ``buf``."""
        target = procfs.pagemap_open(self.k, proc, pid if pid > 0 else proc.pid)
        if isinstance(target, int):
            return target
        return procfs.pagemap_read(self.k, proc, target, buf, addr, count)

    def kpage_read(self, proc: Task, path: str, pfn: int) -> int | None:
        """One u64 of /proc/kpagecount or /proc/kpageflags."""
        return procfs.kpage_read(self.k, proc, path, pfn)

    def complete_writeback(self) -> int:
        """Time passes: writeback in flight completes (unless a test holds it open); returns
        the pages whose writeback ended."""
        return int(self.k.complete_writeback())


def _answer(fn: Callable[..., Any], *args: Any) -> Any:
    # A procfs answer, with "the model cannot tell" turned into the backend's Unsupported.
    try:
        return fn(*args)
    except procfs.NotModelled as e:
        raise Unsupported(str(e)) from None
