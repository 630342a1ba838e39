"""The model backend: scenario system calls run on an in-process :class:`pagemig.Kernel`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pagemig.backends.base import Unsupported
from pagemig.backends.model_files import FileOpsMixin
from pagemig.kernel import Kernel, NotModelled, Topology
from pagemig.sched import CAP_SYS_NICE, Task

# The probe's constants (<sys/mman.h>, <unistd.h>).
PAGE_SIZE = 4096
PROT_NONE = 0
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
PAGE_KB = PAGE_SIZE // 1024
PIPE_BUFFERS = 16  # include/linux/pipe_fs_i.h: the pages of a pipe that cannot be resized


class ModelBackend(FileOpsMixin):
    """Runs a scenario's processes and system calls on a kernel model."""

    def __init__(self, topology: Topology, profile: str = "2.6.27", seed: int = 0,
                 contents: str = "bytes", host_memory_mb: int | None = None) -> None:
        self.k = Kernel(topology, profile, seed, contents=contents,
                        host_memory_mb=host_memory_mb)
        self.kernel_release = self.k.profile.release
        self.blockfs: str | None = None  # run.sh's --blockfs (set from the scenario)

    # -- processes --

    def start(self) -> Task:
        """The probe, started by init and pinned to CPU 0."""
        task = self.k.spawn("probe", cpu=0)
        self.k.sys_sched_setaffinity(task, [0])
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
        return self.k.fork(proc)

    def after_fork(self, proc: Task, live: bool) -> None:
        """The stack writes (and for a live probe child, code and heap use) after fork."""
        self.k.touch_after_fork(proc, live)

    def exit(self, proc: Task) -> None:
        """_exit(2)."""
        self.k.exit(proc)

    def reap(self, proc: Task) -> None:
        """waitpid(2)."""
        self.k.reap(proc)

    # -- CPU affinity --

    def sched_getaffinity(self, proc: Task) -> list[int]:
        """The CPUs ``proc`` may run on (the probe starts pinned to CPU 0)."""
        return self.k.sched_getaffinity(proc)

    def sched_setaffinity(self, proc: Task, cpus: Iterable[int]) -> int:
        """sched_setaffinity(2) (see Kernel.sys_sched_setaffinity)."""
        return self.k.sys_sched_setaffinity(proc, cpus)

    def getcpu(self, proc: Task) -> int:
        """sched_getcpu()."""
        return proc.cpu

    def nprocessors_conf(self) -> int:
        """sysconf(_SC_NPROCESSORS_CONF): every CPU of the machine."""
        return self.k.nr_cpus

    # -- memory --

    def mmap(self, proc: Task, length: int, prot: int, shared: bool, file: Any | None,
             align_pages: int = 0) -> int:
        """mmap(2), optionally at an aligned address (the probe's mmap_aligned(): a larger
        PROT_NONE mapping, the aligned part mapped over it with MAP_FIXED, the rest unmapped)."""
        k = self.k
        flags = (MAP_SHARED if shared else MAP_PRIVATE) | (0 if file is not None else MAP_ANONYMOUS)
        if not align_pages:
            return k.sys_mmap(proc, 0, length, prot, flags, file)
        align = align_pages * PAGE_SIZE
        raw = k.sys_mmap(proc, 0, length + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS)
        if raw < 0:
            return raw
        al = (raw + align - 1) & ~(align - 1)
        addr = k.sys_mmap(proc, al, length, prot, flags | MAP_FIXED, file)
        if al > raw:
            k.sys_munmap(proc, raw, al - raw)
        if raw + length + align > al + length:
            k.sys_munmap(proc, al + length, raw + length + align - (al + length))
        return addr

    def create_file(self, proc: Task, path: str, npages: int, blockfs: bool = False) -> Any:
        """A file of ``npages`` pages on tmpfs, or on the ext2 filesystem."""
        with self.k.as_task(proc):
            if blockfs:
                return self.k.create_blockfs_file(path, npages)
            return self.k.create_file(path, npages)

    def memop(self, proc: Task, op: str, addr: int, length: int, arg: int = 0) -> int:
        """munmap / mprotect / mlock / munlock."""
        if op == "munmap":
            return self.k.sys_munmap(proc, addr, length)
        if op == "mprotect":
            return self.k.sys_mprotect(proc, addr, length, arg)
        if op == "mlock":
            return self.k.sys_mlock(proc, addr, length)
        if op == "munlock":
            return self.k.sys_munlock(proc, addr, length)
        raise ValueError(f"unknown memory operation {op}")

    def madvise(self, proc: Task, addr: int, length: int, advice: int) -> int:
        """madvise(2)."""
        return self.k.sys_madvise(proc, addr, length, advice)

    def mbind(self, proc: Task, addr: int, length: int, mode: int, mask_ptr: int, maxnode: int,
              flags: int) -> int:
        """mbind(2)."""
        return self.k.sys_mbind(proc, addr, length, mode, mask_ptr, maxnode, flags)

    def migrate_pages(self, proc: Task, pid: int, maxnode: int, old_ptr: int,
                      new_ptr: int) -> int:
        """migrate_pages(2)."""
        return self.k.sys_migrate_pages(proc, pid, maxnode, old_ptr, new_ptr)

    def set_mempolicy(self, proc: Task, mode: int, mask_ptr: int, maxnode: int) -> int:
        """set_mempolicy(2)."""
        return self.k.sys_set_mempolicy(proc, mode, mask_ptr, maxnode)

    def write_user(self, proc: Task, addr: int, data: bytes) -> int:
        """A store by the process (its argument arrays: real bytes in either contents
        mode)."""
        return self.k._copy_to_user(proc, addr, data)

    def read_user(self, proc: Task, addr: int, size: int) -> bytes | None:
        """A load by the process."""
        return self.k._copy_from_user(proc, addr, size)

    def store_token(self, proc: Task, addr: int, token: int) -> int:
        """A store of the page ``token`` stands for: 0 or -errno."""
        try:
            self.k.store_token(proc, addr, token)
        except OSError as e:
            return -e.errno
        return 0

    def load_token(self, proc: Task, addr: int) -> tuple[int, int | None]:
        """A load of a page: (0 or -errno, its token or None)."""
        try:
            return 0, self.k.load_token(proc, addr)
        except OSError as e:
            return -e.errno, None

    def load_tokens(self, proc: Task, addrs: list[int]) -> tuple[int, int, list[int | None]]:
        """load_token() of many pages (Kernel.load_tokens: the readable ones at once)."""
        try:
            return 0, len(addrs), self.k.load_tokens(proc, addrs)
        except OSError as e:
            i = e.index  # type: ignore[attr-defined]
            return -e.errno, i, []

    def touch(self, proc: Task, addr: int, write: bool) -> int:
        """An access of one byte by the process (a fault if needed): 0 or -errno."""
        try:
            self.k.touch(proc, addr, write)
        except OSError as e:
            return -e.errno
        return 0

    def store_tokens(self, proc: Task, addr: int, tokens: Any) -> tuple[int, int]:
        """Stores of many token pages, in order (first touches on arrays when they can)."""
        return self.k._store_tokens(proc, addr, tokens)

    def touch_range(self, proc: Task, addr: int, npages: int, write: bool) -> tuple[int, int]:
        """One-byte accesses of many pages, in order (first touches on arrays)."""
        return self.k._touch_range(proc, addr, npages, write)

    def move_pages(self, proc: Task, pid: int, count: int, pages: int, nodes: int, status: int,
                   flags: int) -> int:
        """move_pages(2)."""
        return self.k.sys_move_pages(proc, pid, count, pages, nodes, status, flags)

    def move_pages_path(self) -> str | None:
        """How the last move_pages(2) moved its pages: "batch" or "reference"."""
        return self.k.move_pages_path

    def mbind_path(self) -> str | None:
        """How the last mbind(2) moved its pages: "batch" or "reference"."""
        return self.k.mbind_path

    def migrate_pages_path(self) -> str | None:
        """How the last migrate_pages(2) moved its pages: "batch" (a pair of nodes on the
        batch path) or "reference"."""
        return self.k.migrate_pages_path

    def special_address(self, proc: Task, name: str) -> int:
        """Addresses of the process image (2.6.27 has no [vvar] mapping: 0)."""
        assert proc.mm is not None
        layout = proc.mm.layout  # type: ignore[attr-defined]
        table = {"text": layout.text, "heap": layout.heap, "stack": layout.stack,
                 "vdso": layout.vdso, "vvar": layout.vvar, "badpage": layout.bad_page,
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
        """The probe's droppriv: setgroups, setresgid and setresuid to ``uid``:``gid``."""
        return self.k.sys_setresuid(proc, uid, gid)

    def set_dumpable(self, proc: Task, value: int) -> int:
        """prctl(PR_SET_DUMPABLE, value)."""
        return self.k.sys_prctl_set_dumpable(proc, value)

    def drop_cap(self, proc: Task, cap: int) -> int:
        """The probe's dropcap: capget(2), then capset(2) without ``cap``."""
        effective, permitted = self.k.sys_capget(proc)
        return self.k.sys_capset(proc, effective - {cap}, permitted - {cap})

    def creds(self, proc: Task) -> dict[str, Any]:
        """The probe's jcaps() fields."""
        effective, _ = self.k.sys_capget(proc)
        word = sum(1 << c for c in effective)
        return {"cap_eff": f"0x{word:016x}", "cap_sys_nice": CAP_SYS_NICE in effective,
                "uid": proc.uid, "euid": proc.euid}

    # -- /proc and /sys --

    def node_meminfo_kb(self) -> dict[int, tuple[int, int]]:
        """Per node (MemTotal, MemFree) in kB, as /sys/devices/system/node/nodeN/meminfo."""
        return self.k.node_meminfo_kb()

    def meminfo_kb(self, key: str) -> int:
        """A /proc/meminfo field in kB; -1 for fields the release does not have."""
        return _answer(self.k.meminfo_kb, key)

    def vmstat(self, key: str) -> int:
        """A /proc/vmstat field; -1 for fields the release does not have."""
        return _answer(self.k.vmstat, key)

    def read_file(self, proc: Task, path: str) -> str | int:
        """Read a /proc, /sys or cgroup v2 file (see Kernel.read_file)."""
        return _answer(self.k.read_file, proc, path)

    def write_file(self, proc: Task, path: str, value: str) -> int:
        """Write a /proc, /sys or cgroup v2 file (see Kernel.write_file)."""
        return _answer(self.k.write_file, proc, path, value)

    def mkdir(self, proc: Task, path: str) -> int:
        """mkdir(2): only cgroup v2 directories can be made (see Kernel.mkdir)."""
        return self.k.mkdir(proc, path)

    def pagemap_read(self, proc: Task, pid: int, buf: int, addr: int, count: int) -> int:
        """open() and pread() of /proc/PID/pagemap (pid 0: /proc/self) into ``buf``."""
        return self.k.pagemap_read(proc, pid, buf, addr, count)

    def kpage_read(self, proc: Task, path: str, pfn: int) -> int | None:
        """One u64 of /proc/kpagecount or /proc/kpageflags."""
        return self.k.kpage_read(proc, path, pfn)

    def complete_writeback(self) -> int:
        """Time passes: writeback in flight completes (unless a test holds it open); returns
        the pages whose writeback ended."""
        return int(self.k.complete_writeback())


def _answer(fn: Callable[..., Any], *args: Any) -> Any:
    # A kernel answer, with "the model cannot tell" turned into the backend's Unsupported.
    try:
        return fn(*args)
    except NotModelled as e:
        raise Unsupported(str(e)) from None
