"""The runner's state and the helpers its action families share.

The runner does what the oracle's probe does in the guest: it keeps, per process, the
table of named mappings with the content every page should hold, builds the argument
arrays of each system call in the calling process's memory (ending at a PROT_NONE guard
page), makes the call through the backend and reports it with the probe's op and field
names, so that the oracle's compare.py can compare a model run with the real kernel's.

This module holds the state of a run (:class:`RunnerState`: the backend, the process table
with each process's named mappings and children, the current line, the output) and the
helpers the action families share: mapping ranges, page contents, loads and stores by the
process, argument arrays in user memory, pids, CPU pinning, /proc and /sys reads.  Each
action is a plain function of a family module (``script/actions/mappings.py``, ``numa.py``,
``procs.py``, ``files.py``, ``sysfs.py``) taking the state first, as ``mm/`` functions take
the kernel: imports point from the families to this module, never back.
``script/runner.py`` dispatches to them through the registry (``script/actions/``).

A family calls the shared helpers as methods of the state (``rs._range(proc, spec)``):
they are the runner's internals, shared within ``script/`` only.

Errors in a scenario (unknown names, bad values, an access that would kill the process)
raise ValueError or :class:`ScriptFault`, which the runner turns into
:class:`ScriptError` (``file:line: message``); nothing else is caught here.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pagemig.backends.base import Backend
from pagemig.mm.physmem import token_words
from pagemig.script.jsonout import err_fields, errname
from pagemig.script.parse import Action, Script, ScriptError
from pagemig.script.values import parse_pid, parse_range

PAGE = 4096
ST_UNTOUCHED = 0
ST_ZERO = 1
ST_UNMAPPED = 0xFFFF
SEED_SAME = 0x8000
SEED_MAX = 0x3FFF
MALLOC_MMAP_THRESHOLD = 96 * 1024  # blocks above it are mmap()ed (the heap is 132 KiB)
HEAP_SCRATCH = 2 * PAGE  # the probe's malloc arena starts after its first heap pages

FILE_TYPES = ("fileshared", "fileprivate", "blkshared", "blkprivate")

NODE_SYSFS = "/sys/devices/system/node"
MAX_PROBE_NODES = 64  # the probe looks at node0 .. node63


class ScriptFault(Exception):
    """An action fails in a way the runner reports as ``file:line: message``."""


@dataclass
class Mapping:
    """A named mapping of one process, with what each of its pages should contain."""

    name: str
    type: str
    id: int
    npages: int
    addr: int
    owner: str
    file: Any = None
    seed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint16))
    prot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    fseed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint16))
    cow: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    live: bool = True

    @property
    def is_file(self) -> bool:
        """A mapping of a file (tmpfs or block)."""
        return self.type in FILE_TYPES

    @property
    def shared_file(self) -> bool:
        """MAP_SHARED of a file."""
        return self.type in ("fileshared", "blkshared")

    @property
    def private_file(self) -> bool:
        """MAP_PRIVATE of a file."""
        return self.type in ("fileprivate", "blkprivate")


@dataclass
class Child:
    """A child of the probe: its process, pid and state (1 live, 2 zombie, 3 reaped)."""

    name: str
    proc: Proc
    pid: int
    alive: int = 1


@dataclass
class Proc:
    """One probe process: its handle and its own copy of the mapping table."""

    who: str
    handle: Any
    maps: dict[str, Mapping] = field(default_factory=dict)
    order: list[Mapping] = field(default_factory=list)
    children: dict[str, Child] = field(default_factory=dict)
    pins: list[Any] = field(default_factory=list)
    cpu_node: int | None = None

    def live_maps(self) -> list[Mapping]:
        """Live mappings in creation order."""
        return [m for m in self.order if m.live]


class RunnerState:
    """The state of one run of a :class:`Script` on a backend (the runner's core).

    `b` is the backend, `proc` the probe process (children hang off its `children`),
    `line` the scenario line being run; `emit` writes one probe object.
    """

    def __init__(self, backend: Backend, script: Script, emit: Callable[[dict[str, Any]], None],
                 after_action: Callable[[Action], None] | None = None):
        self.b = backend
        self.after_action = after_action
        self.script = script
        self.emit_fn = emit
        self.line = 0
        self.proc = Proc("parent", None)

    # -- plumbing --

    def error(self, msg: str) -> ScriptError:
        """A ScriptError at the current line."""
        return ScriptError(self.script.path, self.line, msg)

    def emit(self, op: str, who: str, fields: dict[str, Any]) -> None:
        """Emit one object with the probe's leading keys."""
        obj: dict[str, Any] = {"op": op, "line": self.line, "who": who}
        obj.update(fields)
        self.emit_fn(obj)

    def _env(self, proc: Proc) -> dict[str, Any]:
        # The probe's act_env(): uname and sysconf values, and what the /proc and /sys files
        # it reads say; a file that cannot be read leaves its key out.
        machine = self.b.env(proc.handle)
        fields = {key: machine[key] for key in ("kernel_release", "kernel_version", "machine",
                                                "uptime_s")}
        for key, name in (("nodes_possible", "possible"), ("nodes_online", "online"),
                          ("nodes_has_memory", "has_memory"), ("nodes_has_cpu", "has_cpu")):
            text = self._read_file(proc, f"{NODE_SYSFS}/{name}")
            if isinstance(text, str):
                fields[key] = text
        node_cpus = {}
        for nd in range(MAX_PROBE_NODES):
            text = self._read_file(proc, f"{NODE_SYSFS}/node{nd}/cpulist")
            if isinstance(text, str):
                node_cpus[str(nd)] = text
        fields["node_cpus"] = node_cpus
        fields["node_mem_kb"] = self._node_mem_kb(proc)
        for key, path in (("thp", "/sys/kernel/mm/transparent_hugepage/enabled"),
                          ("numa_balancing", "/proc/sys/kernel/numa_balancing"),
                          ("cmdline", "/proc/cmdline")):
            text = self._read_file(proc, path)
            if isinstance(text, str):
                fields[key] = text
        fields["page_size"] = machine["page_size"]
        fields["ncpus"] = machine["ncpus"]
        fields["ncpus_allowed"] = len(self.b.sched_getaffinity(proc.handle))
        fields["cpu_now"] = self.b.getcpu(proc.handle)
        text = self._read_file(proc, "/proc/sys/kernel/randomize_va_space")
        if isinstance(text, str):
            fields["randomize_va_space"] = text
        fields.update(self.b.creds(proc.handle))
        return fields

    # -- /proc and /sys, as the probe reads them --

    def _read_file(self, proc: Proc, path: str) -> str | int:
        """The probe's read_file(): the text without trailing newlines and spaces, or the
        negative errno of a failed open."""
        text = self.b.read_file(proc.handle, path)
        if isinstance(text, int):
            return text
        return text.rstrip("\n ")

    def _node_mem_kb(self, proc: Proc) -> dict[str, dict[str, int]]:
        # The probe's node_meminfo_json(): MemTotal and MemFree of each nodeN/meminfo.
        out: dict[str, dict[str, int]] = {}
        for nd in range(MAX_PROBE_NODES):
            text = self._read_file(proc, f"{NODE_SYSFS}/node{nd}/meminfo")
            if isinstance(text, str):
                out[str(nd)] = {"total": _atol_after(text, "MemTotal:"),
                                "free": _atol_after(text, "MemFree:")}
        return out

    def _pin_to_node(self, proc: Proc, node: int) -> tuple[int, int, list[int]]:
        """The probe's pin_to_node(): (0 or -1, errno, the affinity it had before).

        The node's cpulist comes from sysfs; an unreadable or empty one fails (an empty one
        leaves errno as it was: the model prints 0).
        """
        saved = self.b.sched_getaffinity(proc.handle)
        text = self._read_file(proc, f"{NODE_SYSFS}/node{node}/cpulist")
        if isinstance(text, int):
            return -1, -text, saved
        cpus = parse_cpulist(text)
        if not cpus:
            return -1, 0, saved
        ret = self.b.sched_setaffinity(proc.handle, cpus)
        if ret < 0:
            return -1, -ret, saved
        return 0, 0, saved

    # -- mappings and contents --

    def _range(self, proc: Proc, spec: str | None) -> tuple[Mapping, int, int]:
        if spec is None:
            raise ValueError("missing RANGE")
        rng = parse_range(spec)
        m = proc.maps.get(rng.name)
        if m is None or not m.live:
            raise ValueError(f"no such mapping: {rng.name}")
        first, count = rng.resolve(m.npages)
        return m, first, count

    def _owner(self, proc: Proc, m: Mapping) -> Mapping:
        return proc.maps[m.owner]

    def pattern_token(self, proc: Proc, m: Mapping, page: int, seed: int) -> int:
        """The first word the probe writes into page ``page`` of ``m`` with ``seed``: the
        token that stands for the whole page (word i is the token ^ 8 * i), from the seed
        and the page's place (the mapping, or the file it maps, and the page index)."""
        if seed & SEED_SAME:
            base = 0xA500000000000000 ^ ((seed & SEED_MAX) << 44) ^ 1
        else:
            mid = self._owner(proc, m).id if m.is_file else m.id
            base = 0x5A00000000000000 ^ (seed << 44) ^ (mid << 36) ^ (page << 12) ^ 1
        return base & ((1 << 64) - 1)

    def pattern_words(self, proc: Proc, m: Mapping, page: int, seed: int) -> np.ndarray:
        """The 512 words the probe writes into page ``page`` of ``m`` with ``seed``."""
        return token_words(self.pattern_token(proc, m, page, seed))

    def _fault_content(self, proc: Proc, m: Mapping, p: int) -> int:
        if m.is_file:
            owner = self._owner(proc, m)
            if p < owner.npages and owner.fseed[p] != ST_UNTOUCHED:
                return int(owner.fseed[p])
        return ST_ZERO

    def _file_page_written(self, proc: Proc, owner: Mapping, p: int, s: int) -> None:
        owner.fseed[p] = s
        for mm in proc.live_maps():
            if not mm.is_file or mm.owner != owner.name or p >= mm.npages:
                continue
            if int(mm.seed[p]) in (ST_UNTOUCHED, ST_UNMAPPED):
                continue
            if mm.private_file and mm.cow[p]:
                continue
            mm.seed[p] = s

    def _access(self, proc: Proc, addr: int, data: bytes | None) -> bytes:
        # A load of one byte (data None) or a store by the process; returns the byte loaded.
        # A fault would kill the process (SIGSEGV).
        loaded = b""
        if data is None:
            err = self.b.touch(proc.handle, addr, False)  # tells OOM from SIGSEGV
            got = self.b.read_user(proc.handle, addr, 1) if not err else b""
            err = err or (-errno.EFAULT if got is None else 0)
            loaded = got or b""
        else:
            err = self.b.write_user(proc.handle, addr, data)
        self._access_error(addr, err)
        return loaded

    def _store_page(self, proc: Proc, addr: int, token: int) -> None:
        # A store of the whole page a token stands for, by the process.
        self._access_error(addr, self.b.store_token(proc.handle, addr, token))

    @staticmethod
    def _access_error(addr: int, err: int) -> None:
        # A fault would kill the process (SIGSEGV), or an OOM kill.
        if err == -errno.ENOMEM:
            raise ScriptFault(f"out of memory at {addr:#x}: the process would be OOM-killed")
        if err:
            raise ScriptFault(f"the process would get SIGSEGV at {addr:#x}")

    def touch_pages(self, proc: Proc, m: Mapping, first: int, count: int, write: bool,
                    seed: int) -> None:
        """Write the pattern into (or read one byte of) each page, tracking expectations.

        A mapping of no file is touched with one request for the whole range (the
        machine may fault its pages in on arrays); file mappings page by page."""
        if not m.is_file and count > 0:
            self._touch_range(proc, m, first, count, write, seed)
            return
        for p in range(first, first + count):
            addr = m.addr + p * PAGE
            if write:
                self._store_page(proc, addr, self.pattern_token(proc, m, p, seed))
                m.seed[p] = seed
                if m.shared_file:
                    self._file_page_written(proc, self._owner(proc, m), p, seed)
                if m.private_file:
                    m.cow[p] = 1
            else:
                self._access(proc, addr, None)
                if m.seed[p] == ST_UNTOUCHED:
                    m.seed[p] = self._fault_content(proc, m, p)

    def _touch_range(self, proc: Proc, m: Mapping, first: int, count: int, write: bool,
                     seed: int) -> None:
        # touch_pages() of a mapping of no file: one store_tokens or touch_range request.
        # (A load of a byte of a page the touch made present changes nothing: not made.)
        addr = m.addr + first * PAGE
        if write:
            err, done = self.b.store_tokens(proc.handle, addr,
                                            self.pattern_tokens(proc, m, first, count, seed))
            m.seed[first:first + done] = seed
        else:
            err, done = self.b.touch_range(proc.handle, addr, count, False)
            part = m.seed[first:first + done]
            part[part == ST_UNTOUCHED] = ST_ZERO
        self._access_error(addr + done * PAGE, err)

    def pattern_tokens(self, proc: Proc, m: Mapping, first: int, count: int,
                       seed: int) -> np.ndarray:
        """pattern_token() of pages first .. first + count - 1 of ``m``, as uint64."""
        if seed & SEED_SAME:
            return np.full(count, self.pattern_token(proc, m, first, seed), np.uint64)
        base = np.uint64(self.pattern_token(proc, m, 0, seed))
        pages = np.arange(first, first + count, dtype=np.uint64)
        return base ^ (pages << np.uint64(12))

    def _write_seed(self, a: Action) -> int:
        seed = a.int_kv("seed", 2) & SEED_MAX
        seed = max(seed, 2)
        if a.int_kv("same", 0):
            seed |= SEED_SAME
        return seed

    def _with_cpu_node(self, proc: Proc, a: Action, fn: Callable[[], None]) -> dict[str, Any]:
        # cpu_node=N: run fn pinned to the CPUs of node N, then restore the affinity (the
        # task then moves back only if its CPU is no longer allowed).
        cpu_node = a.int_kv("cpu_node", -1)
        if cpu_node < 0:
            fn()
            return {}
        ret, _, saved = self._pin_to_node(proc, cpu_node)
        pinned = ret == 0
        try:
            fn()
        finally:
            if pinned:
                self.b.sched_setaffinity(proc.handle, saved)
        return {"cpu_node": cpu_node, "pinned": pinned}

    # -- pids --

    def _resolve_pid(self, proc: Proc, spec: str | None) -> int:
        pid = parse_pid(spec)
        if pid.value is not None:
            return pid.value
        if pid.kind == "getpid":
            return self.b.getpid(proc.handle)
        if pid.kind == "parent":
            return self.b.getppid(proc.handle)
        child = proc.children.get(pid.name or "")
        if child is None:
            raise ValueError(f"bad pid: {spec}")
        return child.pid

    # -- user memory for arguments --

    def _store(self, proc: Proc, addr: int, data: bytes) -> None:
        if data and self.b.write_user(proc.handle, addr, data):
            raise ScriptFault(f"cannot store arguments at {addr:#x}")

    def _garrays(self, proc: Proc, sizes: list[int]) -> _GuardedArrays:
        return _GuardedArrays(self.b, proc.handle, sizes)

    def _scratch(self, proc: Proc, size: int) -> _Scratch:
        return _Scratch(self.b, proc.handle, size)


def parse_cpulist(text: str) -> list[int]:
    """The probe's parse_cpulist(): "0-1,4" -> [0, 1, 4]; stops at the first token that is
    not a number or range followed by a comma."""
    cpus: list[int] = []
    pos = 0
    while pos < len(text):
        lo, end = _c_strtol(text, pos)
        if end == pos:
            break
        hi = lo
        if text[end:end + 1] == "-":
            hi, end = _c_strtol(text, end + 1)
        cpus.extend(range(lo, hi + 1))
        if text[end:end + 1] != ",":
            break
        pos = end + 1
    return cpus


def c_atoi(text: str) -> int:
    """C atoi()/atol(): the leading decimal integer, 0 if there is none."""
    return _c_strtol(text, 0)[0]


def _c_strtol(text: str, pos: int) -> tuple[int, int]:
    # strtol(text + pos, &end, 10): (value, end index); end == pos when nothing was parsed.
    i = pos
    while i < len(text) and text[i] in " \t\n\v\f\r":
        i += 1
    sign = 1
    if i < len(text) and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    j = i
    while j < len(text) and text[j] in "0123456789":
        j += 1
    if j == i:
        return 0, pos
    return sign * int(text[i:j]), j


def _atol_after(text: str, label: str) -> int:
    # The probe's atol(strstr(buf, label) + len(label)), -1 when the label is absent.
    at = text.find(label)
    return -1 if at < 0 else c_atoi(text[at + len(label):])


def syscall_fields(ret: int) -> dict[str, Any]:
    """The probe's ret/errno/err for a kernel result: syscall(2) returns -1 and sets errno."""
    return err_fields(-1 if ret < 0 else ret, -ret if ret < 0 else 0)


class _GuardedArrays:
    # The probe's garray_alloc(): each array ends exactly at a PROT_NONE guard page.
    def __init__(self, b: Backend, handle: Any, sizes: list[int]) -> None:
        self.b, self.handle, self.sizes = b, handle, sizes
        self.maps: list[tuple[int, int]] = []

    def __enter__(self) -> list[int]:
        ptrs = []
        for size in self.sizes:
            data = max(PAGE, (size + PAGE - 1) // PAGE * PAGE)
            base = self.b.mmap(self.handle, data + PAGE, 3, False, None)
            if base < 0:
                raise ScriptFault(f"mmap of an argument array failed: {errname(-base)}")
            self.b.memop(self.handle, "mprotect", base + data, PAGE, 0)
            self.maps.append((base, data + PAGE))
            ptrs.append(base + data - size)
        return ptrs

    def __exit__(self, *exc: object) -> None:
        for base, length in self.maps:
            self.b.memop(self.handle, "munmap", base, length)


class _Scratch:
    # malloc() in the probe: small blocks from the heap, large ones mmap()ed.
    def __init__(self, b: Backend, handle: Any, size: int) -> None:
        self.b, self.handle, self.size = b, handle, size
        self.mapped = 0

    def __enter__(self) -> int:
        if self.size >= MALLOC_MMAP_THRESHOLD:
            length = (self.size + PAGE - 1) // PAGE * PAGE
            addr = self.b.mmap(self.handle, length, 3, False, None)
            if addr < 0:
                raise ScriptFault(f"malloc failed: {errname(-addr)}")
            self.mapped = length
            self.addr = addr
            return addr
        self.addr = self.b.special_address(self.handle, "heap") + HEAP_SCRATCH
        return self.addr

    def __exit__(self, *exc: object) -> None:
        if self.mapped:
            self.b.memop(self.handle, "munmap", self.addr, self.mapped)
