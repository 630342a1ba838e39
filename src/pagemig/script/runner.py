"""Run a scenario on a backend and produce the oracle probe's JSON objects.

The runner does what the oracle's probe does in the guest: it keeps, per process, the
table of named mappings with the content every page should hold, builds the argument
arrays of each system call in the calling process's memory (ending at a PROT_NONE guard
page), makes the call through the backend and reports it with the probe's op and field
names, so that the oracle's compare.py can compare a model run with the real kernel's.

Errors in a scenario (unknown names, bad values, an action or option the model does not
support yet, an access that would kill the process) raise :class:`ScriptError`
(``file:line: message``); nothing else is caught here.
"""

from __future__ import annotations

import copy
import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pagemig.backends.base import Backend, Unsupported
from pagemig.script.fileops import FileActions
from pagemig.script.jsonout import err_fields, errname, placement_value, status_fields
from pagemig.script.parse import (
    Action,
    ItemSpec,
    Script,
    ScriptError,
    parse_count,
    parse_flags,
    parse_items,
    parse_long,
    parse_mask,
    parse_nodes,
    parse_pid,
    parse_range,
    wrap_int,
)

PAGE = 4096
UNSET_STATUS = -99999
ST_UNTOUCHED = 0
ST_ZERO = 1
ST_UNMAPPED = 0xFFFF
SEED_SAME = 0x8000
SEED_MAX = 0x3FFF
MAXMAPS = 64
MAXCHILD = 8
MAX_MAP_PAGES = 1 << 26  # 256 GiB: larger mappings are refused (the model keeps a table per page)
KERNEL_ADDR = 0xFFFF888000100000
MASK_BYTES = 8192  # the probe's node masks: room for PAGE_SIZE * 8 bits
MALLOC_MMAP_THRESHOLD = 96 * 1024  # blocks above it are mmap()ed (the heap is 132 KiB)
HEAP_SCRATCH = 2 * PAGE  # the probe's malloc arena starts after its first heap pages

TYPES = ("anon", "shanon", "fileshared", "fileprivate", "blkshared", "blkprivate")
FILE_TYPES = ("fileshared", "fileprivate", "blkshared", "blkprivate")
MPOL = {"default": 0, "preferred": 1, "bind": 2, "interleave": 3, "local": 4}

SUPPORTED_OPS = frozenset({
    "map", "touch", "verify", "move", "query", "placement", "fork", "kill", "droppriv",
    "dropcap", "munmap", "mprotect", "mlock", "munlock", "madvise", "vmsplice", "unsplice",
    "meminfo", "vmstat", "read", "write", "env", "note", "sleep", "pin", "cpuset", "ksm",
    "pageflags", "pageout", "swapin", "migrate", "mbind", "set_mempolicy",
    "pwrite", "pread", "fsync", "fdatasync", "sync", "msync", "sync_file_range", "fadvise",
    "drop_caches",
})
SUPPORTED_MAP_OPTS = frozenset({"node", "policy", "touch", "seed", "same", "align", "file",
                                "cpu_node", "thp"})
SUPPORTED_VM_OPTIONS = frozenset()  # storage options: none yet

# madvise() advice as the probe passes it (values of a current <sys/mman.h>; 2.6.27 knows
# only 0-4 and 9-11 of them, and answers the others with EINVAL).
MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED = 0, 1, 2, 3, 4
MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE = 12, 13, 14, 15
MADV_COLD, MADV_PAGEOUT = 20, 21
MADV_BY_NAME = {
    "dontneed": MADV_DONTNEED, "hugepage": MADV_HUGEPAGE, "nohugepage": MADV_NOHUGEPAGE,
    "pageout": MADV_PAGEOUT, "cold": MADV_COLD, "mergeable": MADV_MERGEABLE,
    "unmergeable": MADV_UNMERGEABLE, "willneed": MADV_WILLNEED, "normal": MADV_NORMAL,
    "random": MADV_RANDOM, "sequential": MADV_SEQUENTIAL,
}
THP_SIZE = 2 << 20  # the probe's thp=1 mappings start at a 2 MiB boundary

# /proc/PID/pagemap bits (the probe's PM_* masks).
PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
PM_PFN_MASK = (1 << 55) - 1

# /proc/kpageflags bits the probe names in page_flags (its kpf_stable[] table).  Bit 34 is
# called "exclusive" on anonymous pages; "dirty" is left out on anonymous pages that are not
# in the swap cache.
KPF_NAMES = ((4, "dirty"), (8, "writeback"), (11, "mmap"), (12, "anon"), (13, "swapcache"),
             (14, "swapbacked"), (17, "huge"), (18, "unevictable"), (21, "ksm"), (22, "thp"),
             (24, "zero_page"), (33, "mlocked"), (34, "mappedtodisk"), (35, "private"))
KPF_ANON, KPF_SWAPCACHE, KPF_DIRTY, KPF_MAPPEDTODISK = 12, 13, 4, 34

# The probe's default vmstat keys (none of them exists in 2.6.27: each reads as -1).
VMSTAT_DEFAULT_KEYS = ("pgmigrate_success", "pgmigrate_fail", "thp_migration_success",
                       "thp_migration_fail", "thp_migration_split", "numa_pages_migrated",
                       "nr_isolated_anon", "nr_isolated_file", "nr_mlock", "nr_unevictable")

NODE_SYSFS = "/sys/devices/system/node"
KSM_SYSFS = "/sys/kernel/mm/ksm"
CGROUP_ROOT = "/sys/fs/cgroup"
MAX_PROBE_NODES = 64  # the probe looks at node0 .. node63
CPU_SETSIZE = 1024


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


class Runner(FileActions):
    """Executes a parsed :class:`Script` on a backend, emitting one dict per probe object."""

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

    def run(self) -> None:
        """Run the whole scenario: env, every action, the final verify."""
        self.proc.handle = self.b.start()
        self.line = 0
        self.emit("env", "parent", self._env(self.proc))
        for action in self.script.actions:
            self.line = action.line
            # One actor: writeback an earlier action started without waiting is done by now.
            self.b.complete_writeback()
            self._dispatch(action)
            if self.after_action is not None:
                self.after_action(action)
        self.line = -1
        self.act_verify(self.proc, Action(-1, "verify", (), {}, None, "verify"))

    def _dispatch(self, action: Action) -> None:
        proc = self.proc
        if action.child is not None:
            child = proc.children.get(action.child)
            if child is None or child.alive != 1:
                raise self.error(f"no such live child: {action.child}")
            proc = child.proc
        if action.op not in SUPPORTED_OPS:
            raise self.error(f"not supported yet: {action.op}")
        handler = getattr(self, "act_" + action.op)
        try:
            handler(proc, action)
        except ValueError as e:
            raise self.error(str(e)) from None
        except ScriptFault as e:
            raise self.error(str(e)) from None
        except Unsupported as e:
            raise self.error(f"not supported yet: {e}") from None

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

    def _pagemap(self, proc: Proc, pid: int, addr: int, count: int) -> tuple[list[int], int,
                                                                               int]:
        """The probe's pagemap_read() into a calloc()ed buffer: (entries, 0 or -1, errno).

        A short read fails with whatever errno held before (the model prints 0).
        """
        with self._scratch(proc, 8 * max(count, 1)) as buf:
            got = self.b.pagemap_read(proc.handle, pid, buf, addr, count)
            if got < 0:
                return [0] * count, -1, -got
            if got != 8 * count:
                return [0] * count, -1, 0
            raw = self.b.read_user(proc.handle, buf, 8 * count) if count else b""
        if raw is None:
            raise ScriptFault(f"the process would get SIGSEGV at {buf:#x}")
        return [int(v) for v in np.frombuffer(raw, "<u8")], 0, 0

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

    def pattern_words(self, proc: Proc, m: Mapping, page: int, seed: int) -> np.ndarray:
        """The 512 words the probe writes into page ``page`` of ``m`` with ``seed``."""
        w = np.arange(512, dtype=np.uint64) * np.uint64(8)
        if seed & SEED_SAME:
            base = 0xA500000000000000 ^ ((seed & SEED_MAX) << 44) ^ 1
        else:
            mid = self._owner(proc, m).id if m.is_file else m.id
            base = 0x5A00000000000000 ^ (seed << 44) ^ (mid << 36) ^ (page << 12) ^ 1
        return w ^ np.uint64(base & ((1 << 64) - 1))

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
            got = self.b.read_user(proc.handle, addr, 1)
            err = -errno.EFAULT if got is None else 0
            loaded = got or b""
        else:
            err = self.b.write_user(proc.handle, addr, data)
        if err == -errno.ENOMEM:
            raise ScriptFault(f"out of memory at {addr:#x}: the process would be OOM-killed")
        if err:
            raise ScriptFault(f"the process would get SIGSEGV at {addr:#x}")
        return loaded

    def touch_pages(self, proc: Proc, m: Mapping, first: int, count: int, write: bool,
                    seed: int) -> None:
        """Write the pattern into (or read one byte of) each page, tracking expectations."""
        for p in range(first, first + count):
            addr = m.addr + p * PAGE
            if write:
                self._access(proc, addr, self.pattern_words(proc, m, p, seed).astype("<u8")
                             .tobytes())
                m.seed[p] = seed
                if m.shared_file:
                    self._file_page_written(proc, self._owner(proc, m), p, seed)
                if m.private_file:
                    m.cow[p] = 1
            else:
                self._access(proc, addr, None)
                if m.seed[p] == ST_UNTOUCHED:
                    m.seed[p] = self._fault_content(proc, m, p)

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

    # -- actions --

    def act_map(self, proc: Proc, a: Action) -> None:
        """map NAME TYPE NPAGES [node= policy= touch= seed= same= align= file= cpu_node= thp=]."""
        name, typ, np_ = a.pos(1), a.pos(2), a.pos(3)
        if not name or not typ or not np_:
            raise ValueError("usage: map NAME TYPE NPAGES")
        for key in a.kv:
            if key not in SUPPORTED_MAP_OPTS:
                raise ValueError(f"unknown map option: {key}=")
        thp = a.int_kv("thp", 0)
        if typ not in TYPES:
            raise ValueError(f"unknown mapping type: {typ}")
        blk = typ.startswith("blk")
        if blk and not getattr(self.b, "blockfs", None):
            raise ValueError(f"file create failed (is the VM run with --blockfs?): {typ}")
        if len(proc.order) >= MAXMAPS:
            raise ValueError("too many mappings")
        npages = parse_long(np_)
        if not 0 < npages <= MAX_MAP_PAGES:
            raise ValueError(f"map: NPAGES must be between 1 and {MAX_MAP_PAGES}")
        align = a.int_kv("align", 0)
        if align < 0 or align & (align - 1):
            raise ValueError("align= must be a power of two (pages)")
        m = Mapping(name, typ, len(proc.order) + 1, npages, 0, name)
        shared = typ in ("shanon", "fileshared")
        file = None
        other = a.get("file")
        if typ in FILE_TYPES:
            if other is not None:
                o = proc.maps.get(other)
                if o is None or not o.live or not o.is_file:
                    raise ValueError(f"file=: no such file mapping: {other}")
                owner = self._owner(proc, o)
                if npages > owner.npages:
                    raise ValueError(f"file=: mapping larger than the file: {other}")
                m.owner, file = owner.name, owner.file
            else:
                path = f"/blk/oracle-{name}" if blk else f"/tmp/oracle-{name}"
                file = self.b.create_file(proc.handle, path, npages, blk)
            addr = self.b.mmap(proc.handle, npages * PAGE, 3, shared or typ == "blkshared",
                               file, align)
        elif thp:
            addr = self._mmap_thp(proc, npages * PAGE, shared)
        else:
            addr = self.b.mmap(proc.handle, npages * PAGE, 3, shared, None, align)
        if addr < 0:
            raise ValueError(f"mmap failed: {errname(-addr)}")
        m.addr, m.file = addr, file
        m.seed = np.zeros(npages, np.uint16)
        m.prot = np.full(npages, 3, np.uint8)
        m.fseed = np.zeros(npages, np.uint16)
        m.cow = np.zeros(npages, np.uint8)
        if name in proc.maps:
            proc.maps[name].live = False
        proc.maps[name] = m
        proc.order.append(m)
        # The probe advises every mapping; 2.6.27 knows neither advice: EINVAL, ignored.
        self.b.madvise(proc.handle, addr, npages * PAGE, MADV_HUGEPAGE if thp else MADV_NOHUGEPAGE)
        fields: dict[str, Any] = {"name": name, "type": typ, "npages": npages,
                                  "addr": f"0x{addr:x}"}
        node = a.get("node")
        if node is not None:
            mode = {"preferred": 1, "interleave": 3}.get(a.get("policy") or "", 2)
            nid = wrap_int(parse_long(node))
            r = self._mbind_one(proc, m.addr, npages * PAGE, mode, nid)
            fields.update({"mbind_node": nid, "mbind_ret": -1 if r < 0 else r,
                           "mbind_err": errname(-r) if r < 0 else "OK"})
        touch = a.get("touch")

        def do_touch() -> None:
            if touch in ("write", "read"):
                self.touch_pages(proc, m, 0, npages, touch == "write", self._write_seed(a))

        pinned = self._with_cpu_node(proc, a, do_touch)
        if touch is not None:
            fields["touch"] = touch
        fields.update(pinned)
        self.emit("map", proc.who, fields)

    def _mmap_thp(self, proc: Proc, length: int, shared: bool) -> int:
        # The probe's thp=1 path: map 2 MiB more, keep the 2 MiB aligned part.
        raw = self.b.mmap(proc.handle, length + THP_SIZE, 3, shared, None)
        if raw < 0:
            return raw
        al = (raw + THP_SIZE - 1) & ~(THP_SIZE - 1)
        if al > raw:
            self.b.memop(proc.handle, "munmap", raw, al - raw)
        self.b.memop(proc.handle, "munmap", al + length, raw + length + THP_SIZE - (al + length))
        return al

    def _mbind_one(self, proc: Proc, addr: int, length: int, mode: int, node: int) -> int:
        # The probe's apply_bind(): a 16-long mask with one bit, maxnode 16*64+1, flags 0.
        mask = np.zeros(16, "<u8")
        if 0 <= node < 16 * 64:
            mask[node // 64] = np.uint64(1 << (node % 64))
        with self._scratch(proc, 16 * 8) as ptr:
            self._store(proc, ptr, mask.tobytes())
            return self.b.mbind(proc.handle, addr, length, mode, ptr, 16 * 64 + 1, 0)

    def act_touch(self, proc: Proc, a: Action) -> None:
        """touch RANGE write|read [seed= same= cpu_node=]."""
        spec, mode = a.pos(1), a.pos(2)
        m, first, count = self._range(proc, spec)
        if mode not in ("write", "read"):
            raise ValueError("usage: touch RANGE write|read")
        seed = self._write_seed(a)
        extra = self._with_cpu_node(
            proc, a, lambda: self.touch_pages(proc, m, first, count, mode == "write", seed))
        fields: dict[str, Any] = {"range": spec, "mode": mode, "pages": count}
        fields.update(extra)
        self.emit("touch", proc.who, fields)

    def act_verify(self, proc: Proc, a: Action) -> None:
        """verify [RANGE...]: compare every page of known content with what it should hold."""
        ranges: dict[str, tuple[int, int]] = {}
        for spec in a.args:
            m, first, count = self._range(proc, spec)
            ranges[m.name] = (first, count)
        maps: dict[str, Any] = {}
        tot_checked = tot_bad = 0
        for m in proc.live_maps():
            if a.args and m.name not in ranges:
                continue
            first, count = ranges.get(m.name, (0, m.npages))
            checked, bad, first_bad = self._verify_map(proc, m, first, count)
            tot_checked += checked
            tot_bad += bad
            maps[m.name] = {"checked": checked, "mismatch": bad, "first_bad": first_bad}
        self.emit("verify", proc.who, {"maps": maps, "checked": tot_checked,
                                       "mismatches": tot_bad, "ok": tot_bad == 0})

    def _verify_map(self, proc: Proc, m: Mapping, first: int, count: int) -> tuple[int, int, int]:
        checked = bad = 0
        first_bad = -1
        for p in range(first, first + count):
            s = int(m.seed[p])
            if s in (ST_UNTOUCHED, ST_UNMAPPED) or not m.prot[p] & 1:
                continue
            data = self.b.read_user(proc.handle, m.addr + p * PAGE, PAGE)
            if data is None:
                raise ScriptFault(f"the process would get SIGSEGV at {m.addr + p * PAGE:#x}")
            words = np.frombuffer(data, "<u8")
            if s == ST_ZERO:
                ok = not words.any()
            else:
                ok = bool(np.array_equal(words, self.pattern_words(proc, m, p, s)))
            checked += 1
            if not ok:
                if bad == 0:
                    first_bad = p
                bad += 1
        return checked, bad, first_bad

    # -- move_pages --

    def _items(self, proc: Proc, spec: str) -> tuple[list[int], list[str]]:
        addrs: list[int] = []
        labels: list[str] = []
        for item in parse_items(spec):
            self._expand_item(proc, item, addrs, labels)
        return addrs, labels

    def _expand_item(self, proc: Proc, item: ItemSpec, addrs: list[int],
                     labels: list[str]) -> None:
        if item.kind == "addr" or (item.kind == "special" and item.value is not None):
            assert item.value is not None
            addrs.extend([item.value] * item.repeat)
            labels.extend([item.label] * item.repeat)
            return
        if item.kind == "special":
            addr = self.b.special_address(proc.handle, item.label)
            addrs.extend([addr] * item.repeat)
            labels.extend([item.label] * item.repeat)
            return
        assert item.range is not None
        m = proc.maps.get(item.range.name)
        if m is None or not m.live:
            raise ValueError(f"bad item '{item.label}'")
        first, count = item.range.resolve(m.npages)
        for _ in range(item.repeat):
            for i in range(first, first + count):
                addrs.append((m.addr + i * PAGE + item.offset) & ((1 << 64) - 1))
                labels.append(item.page_label(i))

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

    def _pointer(self, proc: Proc, value: str | None, default: int, ro_ok: bool) -> int:
        if value is None:
            return default
        if value == "null":
            return 0
        if value == "kernel":
            return KERNEL_ADDR
        if value == "ro" and ro_ok:
            return self.b.special_address(proc.handle, "ro_page")
        return self.b.special_address(proc.handle, "badpage")

    def act_query(self, proc: Proc, a: Action) -> None:
        """query ITEMS [pid=P]: move_pages(2) with nodes NULL."""
        self._move(proc, a, True)

    def act_move(self, proc: Proc, a: Action) -> None:
        """move [pid=] [flags=] pages=ITEMS nodes=LIST|null [count=] [*_ptr=] [placement=]."""
        self._move(proc, a, False)

    def _move(self, proc: Proc, a: Action, query_only: bool) -> None:
        pspec = a.get("pages")
        if pspec is None and query_only:
            pspec = a.pos(1)
        if pspec is None:
            raise ValueError("move needs pages=")
        addrs, labels = self._items(proc, pspec)
        pidspec = a.get("pid")
        pid = self._resolve_pid(proc, pidspec)
        nspec = "null" if query_only else (a.get("nodes") or "null")
        query = nspec == "null"
        flags = parse_flags(a.get("flags"))
        n = len(addrs)
        count = parse_count(a.get("count")) if a.get("count") is not None else n
        nodes: list[int] = []
        if not query:
            nodes = parse_nodes(nspec)
            if len(nodes) == 1 and n > 1:
                nodes = nodes * n
            if len(nodes) != n:
                raise ValueError(f"nodes list length differs from pages: {nspec}")
        cap = max(n, 1)
        with self._garrays(proc, [cap * 8, cap * 4, cap * 4]) as (pp, np_ptr, sp):  # noqa: SIM117
            self._store(proc, pp, np.asarray(addrs, "<u8").tobytes())
            self._store(proc, sp, np.full(n, UNSET_STATUS, "<i4").tobytes())
            if not query:
                self._store(proc, np_ptr, np.asarray(nodes, "<i8").astype("<i4").tobytes())
            pages_arg = self._pointer(proc, a.get("pages_ptr"), pp, False)
            nodes_arg = self._pointer(proc, a.get("nodes_ptr"), 0 if query else np_ptr, False)
            status_arg = self._pointer(proc, a.get("status_ptr"), sp, True)
            before = self._vmsnap()
            t0 = time.perf_counter()
            ret = self.b.move_pages(proc.handle, pid, count, pages_arg, nodes_arg, status_arg,
                                    flags)
            seconds = time.perf_counter() - t0
            raw = self.b.read_user(proc.handle, sp, 4 * n) if n else b""
            status = np.frombuffer(raw or b"", "<i4").tolist()
        full = bool(a.int_kv("full", 1 if n <= 512 else 0))
        fields: dict[str, Any] = {
            "pid_spec": pidspec or "self", "pid": pid, "count": count, "flags": flags,
            "nodes_null": nodes_arg == 0}
        fields.update(syscall_fields(ret))
        fields["seconds"] = round(seconds, 8)
        if full:
            fields["items"] = labels
            if not query:
                fields["nodes"] = nodes
        fields.update(status_fields(status, full))
        fields["vmstat_delta"] = self._vmstat_delta(before)
        if a.int_kv("placement", 0):
            fields["placement"] = self._placement(proc, pid)
        self.emit("query" if query_only else "move_pages", proc.who, fields)

    def _vmsnap(self) -> tuple[int, int]:
        # The probe's vmsnap(): the counters as /proc/vmstat shows them (-1 when absent).
        return self.b.vmstat("pgmigrate_success"), self.b.vmstat("pgmigrate_fail")

    def _vmstat_delta(self, before: tuple[int, int]) -> dict[str, int]:
        succ, fail = self._vmsnap()
        return {"pgmigrate_success": succ - before[0], "pgmigrate_fail": fail - before[1]}

    def act_placement(self, proc: Proc, a: Action) -> None:
        """placement [pid=P]: the node of every page of every live mapping."""
        pid = self._resolve_pid(proc, a.get("pid"))
        self.emit("placement", proc.who, {"pid": pid, "placement": self._placement(proc, pid)})

    def _placement(self, proc: Proc, pid: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for m in proc.live_maps():
            n = m.npages
            addrs = (m.addr + PAGE * np.arange(n, dtype=np.uint64)).astype("<u8")
            with self._scratch(proc, 12 * n) as pp:
                sp = pp + 8 * n
                self._store(proc, pp, addrs.tobytes())
                self._store(proc, sp, np.full(n, UNSET_STATUS, "<i4").tobytes())
                ret = self.b.move_pages(proc.handle, pid, n, pp, 0, sp, 0)
                if ret < 0:
                    st = [ret - 100000] * n
                else:
                    raw = self.b.read_user(proc.handle, sp, 4 * n) or b""
                    st = np.frombuffer(raw, "<i4").tolist()
            out[m.name] = placement_value(st)
        return out

    # -- user memory for arguments --

    def _store(self, proc: Proc, addr: int, data: bytes) -> None:
        if data and self.b.write_user(proc.handle, addr, data):
            raise ScriptFault(f"cannot store arguments at {addr:#x}")

    def _garrays(self, proc: Proc, sizes: list[int]) -> _GuardedArrays:
        return _GuardedArrays(self.b, proc.handle, sizes)

    def _scratch(self, proc: Proc, size: int) -> _Scratch:
        return _Scratch(self.b, proc.handle, size)

    # -- memory policies and migrate_pages(2) --

    def _mask_bytes(self, spec: str | None) -> bytes:
        # The probe's build_mask(): MASK_BYTES (8192) of node bits.
        mask = parse_mask(spec)
        words = np.zeros(MASK_BYTES // 8, "<u8")
        for i, w in enumerate(mask.words[: len(words)]):
            words[i] = np.uint64(w & ((1 << 64) - 1))
        return words.tobytes()

    def act_migrate(self, proc: Proc, a: Action) -> None:
        """migrate [pid=] [maxnode=N] old=MASK new=MASK [old_ptr=] [new_ptr=] [placement=0]."""
        pidspec = a.get("pid")
        pid = self._resolve_pid(proc, pidspec)
        maxnode = parse_count(a.get("maxnode") or "65")
        with self._scratch(proc, 2 * MASK_BYTES) as base:
            self._store(proc, base, self._mask_bytes(a.get("old")))
            self._store(proc, base + MASK_BYTES, self._mask_bytes(a.get("new")))
            old_ptr = self._pointer(proc, a.get("old_ptr"), base, False)
            new_ptr = self._pointer(proc, a.get("new_ptr"), base + MASK_BYTES, False)
            before = self._vmsnap()
            t0 = time.perf_counter()
            ret = self.b.migrate_pages(proc.handle, pid, maxnode, old_ptr, new_ptr)
            seconds = time.perf_counter() - t0
        fields: dict[str, Any] = {"pid_spec": pidspec or "self", "pid": pid, "maxnode": maxnode,
                                  "old": a.get("old") or "none", "new": a.get("new") or "none"}
        fields.update(syscall_fields(ret))
        fields["seconds"] = round(seconds, 8)
        fields["vmstat_delta"] = self._vmstat_delta(before)
        if a.int_kv("placement", 1):
            fields["placement"] = self._placement(proc, pid)
        self.emit("migrate_pages", proc.who, fields)

    def act_mbind(self, proc: Proc, a: Action) -> None:
        """mbind RANGE mode=bind|preferred|interleave|default|local nodes=LIST [flags=]."""
        spec = a.pos(1)
        m, first, count = self._range(proc, spec)
        mode = MPOL.get(a.get("mode") or "bind", 2)
        flags = parse_flags(a.get("flags"))
        maxnode = parse_count(a.get("maxnode") or "1025")
        with self._scratch(proc, MASK_BYTES) as mask_ptr:
            self._store(proc, mask_ptr, self._mask_bytes(a.get("nodes")))
            ptr = 0 if mode in (0, 4) else mask_ptr
            before = self._vmsnap()
            ret = self.b.mbind(proc.handle, m.addr + first * PAGE, count * PAGE, mode, ptr,
                               maxnode, flags)
        fields: dict[str, Any] = {"range": spec, "mode": mode, "flags": flags}
        fields.update(syscall_fields(ret))
        fields["vmstat_delta"] = self._vmstat_delta(before)
        fields["placement"] = self._placement(proc, 0)
        self.emit("mbind", proc.who, fields)

    def act_set_mempolicy(self, proc: Proc, a: Action) -> None:
        """set_mempolicy mode=... nodes=LIST."""
        mode = MPOL.get(a.get("mode") or "default", 0)
        with self._scratch(proc, MASK_BYTES) as mask_ptr:
            self._store(proc, mask_ptr, self._mask_bytes(a.get("nodes")))
            ptr = 0 if mode in (0, 4) else mask_ptr
            ret = self.b.set_mempolicy(proc.handle, mode, ptr, 1025)
        fields: dict[str, Any] = {"mode": mode}
        fields.update(syscall_fields(ret))
        self.emit("set_mempolicy", proc.who, fields)

    # -- processes --

    def act_fork(self, proc: Proc, a: Action) -> None:
        """fork NAME [mode=live|exit|dead]."""
        name = a.pos(1)
        mode = a.get("mode") or "live"
        if not name or len(proc.children) >= MAXCHILD:
            raise ValueError("usage: fork NAME (at most 8 children)")
        if mode not in ("live", "exit", "dead"):
            raise ValueError(f"fork: unknown mode {mode}")
        handle = self.b.fork(proc.handle)
        # The child's copy of the table; the files themselves are shared, not copied.
        memo: dict[int, Any] = {id(m.file): m.file for m in proc.order if m.file is not None}
        maps, order = copy.deepcopy((proc.maps, proc.order), memo)
        child_proc = Proc(name, handle, maps, order, {}, [])
        self.b.after_fork(proc.handle, False)
        child = Child(name, child_proc, self.b.getpid(handle))
        if mode == "live":
            self.b.after_fork(handle, True)
        else:
            self.b.exit(handle)
            child.alive = 2
            if mode == "dead":
                self.b.reap(handle)
                child.alive = 3
        proc.children[name] = child
        self.emit("fork", proc.who, {"name": name, "mode": mode, "pid": child.pid})

    def act_kill(self, proc: Proc, a: Action) -> None:
        """kill NAME: end a live child and reap it."""
        child = proc.children.get(a.pos(1) or "")
        if child is None:
            raise ValueError(f"no such child: {a.pos(1)}")
        if child.alive == 1:
            for pin in child.proc.pins:
                self.b.unpin_pages(pin)
            child.proc.pins = []
            self.b.exit(child.proc.handle)
        if child.alive != 3:
            self.b.reap(child.proc.handle)
        child.alive = 3
        self.emit("kill", proc.who, {"name": child.name, "pid": child.pid})

    def act_droppriv(self, proc: Proc, a: Action) -> None:
        """droppriv [uid=65534] [gid=65534]."""
        ret = self.b.setresuid(proc.handle, a.int_kv("uid", 65534), a.int_kv("gid", 65534))
        fields = err_fields(-1 if ret < 0 else 0, -ret)
        fields.update(self.b.creds(proc.handle))
        self.emit("droppriv", proc.who, fields)

    def act_dropcap(self, proc: Proc, a: Action) -> None:
        """dropcap [sys_nice|sys_ptrace]."""
        cap = a.pos(1) or "sys_nice"
        ret = self.b.drop_cap(proc.handle, 19 if cap == "sys_ptrace" else 23)
        fields: dict[str, Any] = {"cap": cap}
        fields.update(syscall_fields(ret))
        fields.update(self.b.creds(proc.handle))
        self.emit("dropcap", proc.who, fields)

    # -- vma operations --

    def _memop(self, proc: Proc, a: Action, op: str, arg: int = 0) -> None:
        spec = a.pos(1)
        m, first, count = self._range(proc, spec)
        ret = self.b.memop(proc.handle, op, m.addr + first * PAGE, count * PAGE, arg)
        if ret == 0:
            sl = slice(first, first + count)
            if op == "mlock":
                for p in range(first, first + count):
                    if m.seed[p] == ST_UNTOUCHED:
                        m.seed[p] = self._fault_content(proc, m, p)
            elif op == "munmap":
                m.seed[sl] = ST_UNMAPPED
            elif op == "mprotect":
                m.prot[sl] = arg_to_pv(arg)
        fields: dict[str, Any] = {"range": spec}
        if a.pos(2) is not None:
            fields["arg"] = a.pos(2)
        fields.update(syscall_fields(ret))
        self.emit(op, proc.who, fields)

    def act_munmap(self, proc: Proc, a: Action) -> None:
        """munmap RANGE."""
        self._memop(proc, a, "munmap")

    def act_mlock(self, proc: Proc, a: Action) -> None:
        """mlock RANGE."""
        self._memop(proc, a, "mlock")

    def act_munlock(self, proc: Proc, a: Action) -> None:
        """munlock RANGE."""
        self._memop(proc, a, "munlock")

    def act_mprotect(self, proc: Proc, a: Action) -> None:
        """mprotect RANGE none|r|rw."""
        pr = a.pos(2) or "rw"
        prot = {"none": 0, "r": 1}.get(pr, 3)
        self._memop(proc, a, "mprotect", prot)

    def act_vmsplice(self, proc: Proc, a: Action) -> None:
        """vmsplice RANGE: the pipe holds a reference on each page until unsplice."""
        spec = a.pos(1)
        m, first, count = self._range(proc, spec)
        limit = self.b.pipe_max_pages()
        if count > limit:
            raise ValueError(f"vmsplice of {count} pages would block "
                             f"(a pipe holds {limit} pages in {self.b.kernel_release})")
        ret, handle = self.b.pin_pages(proc.handle, m.addr + first * PAGE, count)
        proc.pins.append(handle)
        for p in range(first, first + count):
            if m.seed[p] == ST_UNTOUCHED:
                m.seed[p] = self._fault_content(proc, m, p)
        fields: dict[str, Any] = {"range": spec}
        fields.update(syscall_fields(ret))
        fields["bytes"] = 0 if ret < 0 else count * PAGE
        self.emit("vmsplice", proc.who, fields)

    def act_unsplice(self, proc: Proc, a: Action) -> None:
        """unsplice: close every pipe."""
        for handle in proc.pins:
            self.b.unpin_pages(handle)
        self.emit("unsplice", proc.who, {"pipes_closed": len(proc.pins)})
        proc.pins = []

    # -- reports --

    def act_meminfo(self, proc: Proc, a: Action) -> None:
        """meminfo [KEY...]: per-node memory, and the named /proc/meminfo fields."""
        fields: dict[str, Any] = {"node_mem_kb": self._node_mem_kb(proc)}
        if a.args:
            fields["kb"] = {key: self.b.meminfo_kb(key) for key in a.args}
        self.emit("meminfo", proc.who, fields)

    def act_vmstat(self, proc: Proc, a: Action) -> None:
        """vmstat [KEY...]: the named /proc/vmstat fields, or the probe's migration counters
        (-1 for a name the kernel does not print)."""
        keys = a.args or VMSTAT_DEFAULT_KEYS
        self.emit("vmstat", proc.who, {key: self.b.vmstat(key) for key in keys})

    def act_read(self, proc: Proc, a: Action) -> None:
        """read PATH: the file's text, or strerror() of the failed open."""
        path = a.pos(1)
        if path is None:
            raise ValueError("usage: read PATH")
        text = self._read_file(proc, path)
        if isinstance(text, int):
            self.emit("read", proc.who, {"path": path, "err": os.strerror(-text)})
        else:
            self.emit("read", proc.who, {"path": path, "content": text})

    def act_write(self, proc: Proc, a: Action) -> None:
        """write PATH VALUE: one write(2), then the file read back."""
        path, value = a.pos(1), a.pos(2)
        if path is None or value is None:
            raise ValueError("usage: write PATH VALUE")
        ret = self.b.write_file(proc.handle, path, value)
        back = self._read_file(proc, path)
        fields: dict[str, Any] = {"path": path, "value": value}
        fields.update(syscall_fields(min(ret, 0)))
        fields["readback"] = back if isinstance(back, str) else ""
        self.emit("write", proc.who, fields)

    def act_env(self, proc: Proc, a: Action) -> None:
        """env: the machine and the process, as at the start."""
        self.emit("env", proc.who, self._env(proc))

    def act_sleep(self, proc: Proc, a: Action) -> None:
        """sleep MS (or ms=MS): no output; I/O in flight completes meanwhile."""
        a.int_kv("ms", 0)
        self.b.complete_writeback()

    def act_pin(self, proc: Proc, a: Action) -> None:
        """pin cpu_node=N | pin all: set the process's CPU affinity."""
        node = a.get("cpu_node")
        if node is not None:
            ret, e, _ = self._pin_to_node(proc, c_atoi(node))
        else:
            r = self.b.sched_setaffinity(
                proc.handle, range(min(CPU_SETSIZE, self.b.nprocessors_conf())))
            ret, e = (-1, -r) if r < 0 else (0, 0)
        fields = err_fields(ret, e)
        fields["ncpus_allowed"] = len(self.b.sched_getaffinity(proc.handle))
        fields["cpu_now"] = self.b.getcpu(proc.handle)
        self.emit("pin", proc.who, fields)

    def act_cpuset(self, proc: Proc, a: Action) -> None:
        """cpuset NAME mems=LIST [pid=P]: the probe's cgroup v2 steps (2.6.27 has no cgroup v2
        at /sys/fs/cgroup: the first write fails with ENOENT)."""
        name = a.pos(1) or "lim"
        mems = a.get("mems", "0")
        pid = self._resolve_pid(proc, a.get("pid"))
        getpid = self.b.getpid(proc.handle)
        if pid == 0:
            pid = getpid
        step = "subtree_control"
        ret = self.b.write_file(proc.handle, f"{CGROUP_ROOT}/cgroup.subtree_control", "+cpuset")
        if ret == 0:
            raise Unsupported("cpuset: cgroup v2 cpusets are not modelled")
        eff = self._read_file(proc, f"{CGROUP_ROOT}/{name}/cpuset.mems.effective")
        fields: dict[str, Any] = {"cgroup": name, "mems": mems,
                                  "mems_effective": eff if isinstance(eff, str) else "",
                                  "pid": pid, "step": step}
        fields.update(syscall_fields(ret))
        fields["placement"] = self._placement(proc, 0 if pid == getpid else pid)
        self.emit("cpuset", proc.who, fields)

    def _ksm_get(self, proc: Proc, name: str) -> int:
        text = self._read_file(proc, f"{KSM_SYSFS}/{name}")
        return -1 if isinstance(text, int) else c_atoi(text)

    def _ksm_set(self, proc: Proc, name: str, value: str) -> tuple[int, int]:
        ret = self.b.write_file(proc.handle, f"{KSM_SYSFS}/{name}", value)
        return (-1, -ret) if ret < 0 else (0, 0)

    def act_ksm(self, proc: Proc, a: Action) -> None:
        """ksm on|off|unmerge|wait|stat [scans=] [merge_across_nodes=] [timeout_ms=].

        The probe's steps on /sys/kernel/mm/ksm.  Without KSM (2.6.27) every write fails
        with ENOENT and every counter reads -1; a wait times out (ETIMEDOUT), because no
        ksmd ever finishes a scan.
        """
        what = a.pos(1) or "stat"
        scans, timeout = a.int_kv("scans", 3), a.int_kv("timeout_ms", 20000)
        ret, e, step = 0, 0, "done"
        seconds = 0.0
        fs0 = self._ksm_get(proc, "full_scans")
        if what == "on":
            man = a.get("merge_across_nodes")
            if man is not None:
                self._ksm_set(proc, "run", "2")
                step = "merge_across_nodes"
                ret, e = self._ksm_set(proc, "merge_across_nodes", man)
            if ret == 0:
                step = "run"
                self._ksm_set(proc, "pages_to_scan", "1000")
                self._ksm_set(proc, "sleep_millisecs", "10")
                ret, e = self._ksm_set(proc, "run", "1")
        elif what in ("off", "unmerge"):
            step = "run"
            ret, e = self._ksm_set(proc, "run", "0" if what == "off" else "2")
        elif what not in ("wait", "stat"):
            raise ValueError(f"usage: ksm on|off|unmerge|wait|stat: {what}")
        if ret == 0 and what in ("on", "wait"):
            step = "wait"
            # The model has no ksmd: the scan count cannot move while the probe waits.
            if self._ksm_get(proc, "full_scans") < fs0 + scans:
                ret, e = -1, errno.ETIMEDOUT
                seconds = max(timeout, 0) / 1000
            else:
                step = "done"
        fields: dict[str, Any] = {"action": what}
        fields.update(err_fields(ret, e))
        fields["step"] = step
        for key in ("run", "merge_across_nodes", "pages_shared", "pages_sharing",
                    "pages_unshared"):
            fields[key] = self._ksm_get(proc, key)
        if what in ("on", "wait"):
            fields["full_scans_waited"] = self._ksm_get(proc, "full_scans") - fs0
        fields["seconds"] = seconds
        self.emit("ksm", proc.who, fields)

    # -- madvise and per-page state --

    def act_madvise(self, proc: Proc, a: Action) -> None:
        """madvise RANGE ADVICE: madvise(2), with the probe's bookkeeping for dontneed."""
        spec = a.pos(1)
        m, first, count = self._range(proc, spec)
        advice = MADV_BY_NAME.get(a.pos(2) or "", -1)
        ret = self.b.madvise(proc.handle, m.addr + first * PAGE, count * PAGE, advice)
        if ret == 0 and advice == MADV_DONTNEED:
            sl = slice(first, first + count)
            if m.private_file:
                m.seed[sl] = ST_UNTOUCHED
                m.cow[sl] = 0
            elif not m.shared_file:
                seeds = m.seed[sl]
                seeds[seeds != ST_UNMAPPED] = ST_UNTOUCHED
        fields: dict[str, Any] = {"range": spec}
        if a.pos(2) is not None:
            fields["arg"] = a.pos(2)
        fields.update(syscall_fields(ret))
        self.emit("madvise", proc.who, fields)

    def act_pageflags(self, proc: Proc, a: Action) -> None:
        """pageflags RANGE [pid=P]: pte state, mapcount and kpageflags of each page."""
        spec = a.pos(1)
        m, first, count = self._range(proc, spec)
        pid = self._resolve_pid(proc, a.get("pid"))
        pm, ret, e = self._pagemap(proc, pid, m.addr + first * PAGE, count)
        mapcount = [-1] * count
        kpf = [0] * count
        readable = True
        for i in range(count if ret == 0 else 0):
            if not pm[i] & PM_PRESENT:
                continue
            pfn = pm[i] & PM_PFN_MASK
            if not pfn:
                readable = False
                continue
            value = self.b.kpage_read(proc.handle, "/proc/kpagecount", pfn)
            if value is not None:
                mapcount[i] = value
            value = self.b.kpage_read(proc.handle, "/proc/kpageflags", pfn)
            if value is not None:
                kpf[i] = value
            else:
                readable = False
        n = count if ret == 0 else 0
        fields: dict[str, Any] = {"range": spec, "pid": pid}
        fields.update(err_fields(ret, e))
        fields["pte"] = [pte_state(v) for v in pm[:n]]
        fields["mapcount"] = mapcount[:n]
        fields["page_flags"] = [page_flag_names(kpf[i]) if pm[i] & PM_PRESENT else "-"
                                for i in range(n)]
        fields["kpf"] = [f"0x{v:x}" for v in kpf[:n]]
        fields["kpageflags_readable"] = readable
        self.emit("pageflags", proc.who, fields)

    def act_pageout(self, proc: Proc, a: Action) -> None:
        """pageout RANGE [wait=1]: madvise(MADV_PAGEOUT) (EINVAL in 2.6.27), then the ptes."""
        spec = a.pos(1)
        m, first, count = self._range(proc, spec)
        addr = m.addr + first * PAGE
        t0 = time.perf_counter()
        ret = self.b.madvise(proc.handle, addr, count * PAGE, MADV_PAGEOUT)
        seconds = time.perf_counter() - t0
        if a.int_kv("wait", 1):
            self.b.complete_writeback()
        pm, pmret, _ = self._pagemap(proc, 0, addr, count)
        fields: dict[str, Any] = {"range": spec}
        fields.update(syscall_fields(ret))
        fields["seconds"] = round(seconds, 8)
        fields["writeback_wait_s"] = 0.0
        if pmret == 0:
            fields["swapped"] = sum(1 for v in pm if v & PM_SWAP and not v & PM_PRESENT)
            fields["present"] = sum(1 for v in pm if v & PM_PRESENT)
            if count <= 512:
                fields["pte"] = [pte_state(v) for v in pm]
        self.emit("pageout", proc.who, fields)

    def act_swapin(self, proc: Proc, a: Action) -> None:
        """swapin RANGE [read|write] [cpu_node=N]: fault the pages in, contents unchanged."""
        spec = a.pos(1)
        m, first, count = self._range(proc, spec)
        mode = a.pos(2) or "read"
        write = mode == "write"

        def body() -> None:
            for p in range(first, first + count):
                addr = m.addr + p * PAGE
                byte = self._access(proc, addr, None)
                if write:
                    self._access(proc, addr, byte)
                if m.seed[p] == ST_UNTOUCHED:
                    m.seed[p] = self._fault_content(proc, m, p)
                if write and m.private_file:
                    m.cow[p] = 1

        t0 = time.perf_counter()
        self._with_cpu_node(proc, a, body)
        seconds = time.perf_counter() - t0
        self.emit("swapin", proc.who, {"range": spec, "mode": mode, "pages": count,
                                       "seconds": round(seconds, 8)})

    def act_note(self, proc: Proc, a: Action) -> None:
        """note TEXT."""
        self.emit("note", proc.who, {"text": a.text[4:].strip()})


def pte_state(pm: int) -> str:
    """The probe's pte_state(): present, swap or none, from a pagemap entry."""
    return "present" if pm & PM_PRESENT else "swap" if pm & PM_SWAP else "none"


def page_flag_names(kpf: int) -> str:
    """The probe's page_flags string for a /proc/kpageflags word (its kpf_stable[] names)."""
    anon = bool(kpf >> KPF_ANON & 1)
    anon_noswap = anon and not kpf >> KPF_SWAPCACHE & 1
    names = []
    for bit, name in KPF_NAMES:
        if not kpf >> bit & 1 or (bit == KPF_DIRTY and anon_noswap):
            continue
        names.append("exclusive" if bit == KPF_MAPPEDTODISK and anon else name)
    return ",".join(names)


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


def arg_to_pv(prot: int) -> int:
    """The probe's per-page protection code: bit 0 read, bit 1 write."""
    return prot & 3


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


def run_script(backend: Backend, script: Script, emit: Callable[[dict[str, Any]], None]) -> None:
    """Run ``script`` on ``backend``; ScriptError for a bad scenario."""
    Runner(backend, script, emit).run()


__all__ = ["Runner", "ScriptError", "ScriptFault", "errno", "run_script"]
