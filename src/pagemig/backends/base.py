"""The backend interface the scenario runner drives.

A backend runs processes and their system calls.  Processes are opaque handles.  Calls
that the kernel answers with a return value return it as the kernel does (a negative
errno on failure), so the runner can print ``ret``/``errno`` exactly as the oracle's probe
does; user memory is read and written through the backend, so argument arrays really
live in the calling process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class Unsupported(Exception):
    """The backend cannot answer a request the way the kernel would (the message says
    what); the runner reports it as ``file:line: not supported yet: ...``."""


class Backend(Protocol):
    """What the scenario runner needs from a machine: every call the runner and its action
    families (``pagemig.script``) make on a backend.  ``proc`` is a process handle from
    `start` or `fork`; ``file`` a file handle from `create_file`."""

    kernel_release: str
    """The kernel release the machine runs (``uname -r``), e.g. ``2.6.27``."""

    blockfs: str | None
    """The block filesystem mounted at ``/blk`` (``ext2``, ...), or None without one: the
    ``blkshared`` and ``blkprivate`` mapping types need it (run.sh's ``--blockfs``)."""

    def start(self) -> Any:
        """Start the probe process; returns its handle."""

    def env(self, proc: Any) -> dict[str, Any]:
        """The machine fields of the probe's ``env`` object that come from uname(2),
        /proc/uptime and sysconf(): kernel_release, kernel_version, machine, uptime_s,
        page_size and ncpus (the runner reads the /proc and /sys files itself)."""

    def getpid(self, proc: Any) -> int:
        """The process's pid."""

    def getppid(self, proc: Any) -> int:
        """The pid of its parent."""

    def fork(self, proc: Any) -> Any:
        """fork(2); returns the child's handle."""

    def exit(self, proc: Any) -> None:
        """The process exits (becomes a zombie)."""

    def reap(self, proc: Any) -> None:
        """waitpid(2) on a zombie: its pid disappears."""

    def after_fork(self, proc: Any, live: bool) -> None:
        """What a process touches right after fork returns in it."""

    def mmap(self, proc: Any, length: int, prot: int, shared: bool, file: Any | None,
             align_pages: int = 0) -> int:
        """mmap(2); returns the address or a negative errno."""

    def create_file(self, proc: Any, path: str, npages: int, blockfs: bool = False) -> Any:
        """open(O_CREAT|O_TRUNC) + ftruncate() of ``npages`` pages, on tmpfs or (``blockfs``)
        on the block filesystem; returns a file handle."""

    def memop(self, proc: Any, op: str, addr: int, length: int, arg: int = 0) -> int:
        """munmap, mprotect (arg = prot), mlock, munlock: 0 or a negative errno."""

    def mbind(self, proc: Any, addr: int, length: int, mode: int, mask_ptr: int, maxnode: int,
              flags: int) -> int:
        """mbind(2) with a user mask pointer."""

    def migrate_pages(self, proc: Any, pid: int, maxnode: int, old_ptr: int,
                      new_ptr: int) -> int:
        """migrate_pages(2) with user mask pointers."""

    def set_mempolicy(self, proc: Any, mode: int, mask_ptr: int, maxnode: int) -> int:
        """set_mempolicy(2) with a user mask pointer."""

    def write_user(self, proc: Any, addr: int, data: bytes) -> int:
        """Store bytes as the process would (faulting pages in): 0 or -EFAULT."""

    def read_user(self, proc: Any, addr: int, size: int) -> bytes | None:
        """Load bytes as the process would; None if it would fault."""

    def store_token(self, proc: Any, addr: int, token: int) -> int:
        """Store the page a token stands for (the runner's pattern page whose first word
        is ``token``) at the page-aligned ``addr``: 0, -EFAULT or -ENOMEM."""

    def load_token(self, proc: Any, addr: int) -> tuple[int, int | None]:
        """Load the page at ``addr``: (0 or -errno, the token that stands for it, None
        when none does; 0 for a page of zeros)."""

    def load_tokens(self, proc: Any, addrs: list[int]) -> tuple[int, int, list[int | None]]:
        """load_token() of each page-aligned address, in order: (0, len(addrs), the tokens)
        or (-errno, the index of the first that failed, the tokens before it)."""

    def touch(self, proc: Any, addr: int, write: bool) -> int:
        """An access of one byte by the process: 0, -EFAULT where it would get SIGSEGV,
        -ENOMEM where the fault finds no memory (the process would be OOM-killed)."""

    def store_tokens(self, proc: Any, addr: int, tokens: Any) -> tuple[int, int]:
        """store_token() of ``tokens[i]`` (a uint64 array) at ``addr + i * 4096`` for
        every i, in order: (0, len(tokens)), or (-errno, the index of the page that failed;
        the pages before it are stored)."""

    def touch_range(self, proc: Any, addr: int, npages: int, write: bool) -> tuple[int, int]:
        """touch() of each of the ``npages`` pages from the page-aligned ``addr``, in
        order: (0, npages), or (-errno, the index of the page that failed)."""

    def move_pages(self, proc: Any, pid: int, count: int, pages: int, nodes: int, status: int,
                   flags: int) -> int:
        """move_pages(2) with user pointers; the kernel's return value."""

    def move_pages_path(self) -> str | None:
        """How the last move_pages(2) moved its pages ("batch" or "reference"), or None
        when the machine cannot say (a real kernel)."""

    def mbind_path(self) -> str | None:
        """How the last mbind(2) moved its pages ("batch" or "reference"), or None when
        the machine cannot say (a real kernel)."""

    def migrate_pages_path(self) -> str | None:
        """How the last migrate_pages(2) moved its pages ("batch" or "reference"), or None
        when the machine cannot say (a real kernel)."""

    def special_address(self, proc: Any, name: str) -> int:
        """Address of text, heap, stack, vdso, vvar, badpage or ro_page in the process."""

    def pin_pages(self, proc: Any, addr: int, npages: int) -> tuple[int, Any]:
        """vmsplice(2) of the pages into a pipe: (0 or -errno, a handle for unpin)."""

    def unpin_pages(self, handle: Any) -> None:
        """Close the pipe: drop the references."""

    def pipe_max_pages(self) -> int:
        """Pages one of the probe's pipes holds (after its fcntl(F_SETPIPE_SZ, 1 MiB)); one
        more vmsplice() of a page would block."""

    def setresuid(self, proc: Any, uid: int, gid: int) -> int:
        """setgroups/setresgid/setresuid to an unprivileged user."""

    def set_dumpable(self, proc: Any, value: int) -> int:
        """prctl(PR_SET_DUMPABLE, value): 0 or a negative errno."""

    def drop_cap(self, proc: Any, cap: int) -> int:
        """Remove one capability from all sets."""

    def creds(self, proc: Any) -> dict[str, Any]:
        """cap_eff, cap_sys_nice, uid, euid (the probe's jcaps())."""

    def node_meminfo_kb(self) -> dict[int, tuple[int, int]]:
        """Per node (MemTotal, MemFree) in kB."""

    def meminfo_kb(self, key: str) -> int:
        """A /proc/meminfo field in kB, or -1 when the kernel has no such field."""

    def vmstat(self, key: str) -> int:
        """A /proc/vmstat field, or -1 when the kernel has no such field."""

    def madvise(self, proc: Any, addr: int, length: int, advice: int) -> int:
        """madvise(2): 0 or a negative errno."""

    def read_file(self, proc: Any, path: str) -> str | int:
        """open(O_RDONLY) and read to the end: the text read, or a negative errno from open.

        A file that opens but cannot be read (a directory) gives "", as a read loop sees it.
        """

    def write_file(self, proc: Any, path: str, value: str) -> int:
        """open(O_WRONLY) and one write(): 0 or a negative errno."""

    def mkdir(self, proc: Any, path: str) -> int:
        """mkdir(2): 0 or a negative errno (the probe makes cgroup directories)."""

    def pagemap_read(self, proc: Any, pid: int, buf: int, addr: int, count: int) -> int:
        """pread() of ``count`` entries of /proc/PID/pagemap (pid 0: /proc/self) from the
        entry of ``addr`` into the process's buffer ``buf``: bytes read or a negative errno."""

    def kpage_read(self, proc: Any, path: str, pfn: int) -> int | None:
        """The u64 of ``pfn`` in /proc/kpagecount or /proc/kpageflags; None if the open or the
        read fails."""

    def sched_getaffinity(self, proc: Any) -> list[int]:
        """The CPUs the process may run on."""

    def sched_setaffinity(self, proc: Any, cpus: Iterable[int]) -> int:
        """sched_setaffinity(2) of the process itself: 0 or a negative errno."""

    def getcpu(self, proc: Any) -> int:
        """sched_getcpu(): the CPU the process runs on."""

    def nprocessors_conf(self) -> int:
        """sysconf(_SC_NPROCESSORS_CONF)."""

    def complete_writeback(self) -> int:
        """Let time pass: writeback in flight completes (before each action, at sleep, when
        waiting for writeback); returns the pages whose writeback ended."""

    # -- files (the file behind a file mapping) --

    def pwrite(self, proc: Any, file: Any, index: int, data: bytes) -> int:
        """pwrite(2) of one whole page ``data`` at page ``index`` of the file: 0 or a negative
        errno."""

    def pread(self, proc: Any, file: Any, index: int) -> bytes | None:
        """pread(2) of page ``index`` of the file: its bytes, or None if the read fails."""

    def fsync(self, proc: Any, file: Any) -> int:
        """fsync(2) (and fdatasync(2)) of the file: write its dirty pages and wait; 0 or a
        negative errno."""

    def sync(self, proc: Any) -> None:
        """sync(2): write every dirty file page and wait."""

    def msync(self, proc: Any, addr: int, length: int, flags: int) -> int:
        """msync(2) of the range with MS_ASYNC (1), MS_INVALIDATE (2) or MS_SYNC (4): 0 or a
        negative errno."""

    def sync_file_range(self, proc: Any, file: Any, first: int, count: int, flags: int) -> int:
        """sync_file_range(2) of pages ``first`` .. ``first + count - 1`` with the
        SYNC_FILE_RANGE_* ``flags`` (WAIT_BEFORE 1, WRITE 2, WAIT_AFTER 4): 0 or a negative
        errno.  Writeback it starts without waiting completes at `complete_writeback`."""

    def fadvise(self, proc: Any, file: Any, first: int, count: int, advice: int) -> int:
        """posix_fadvise(2) of pages ``first`` .. ``first + count - 1`` with ``advice``
        (POSIX_FADV_NORMAL 0 .. NOREUSE 5; anything else is EINVAL): 0 or a negative errno."""

    def drop_caches(self, value: str) -> int:
        """Write ``value`` to /proc/sys/vm/drop_caches (no sync first): 0 or a negative
        errno."""
