"""A stateful fuzzer of the Python API that tracks every byte it writes.

A Hypothesis ``RuleBasedStateMachine`` boots a small random machine (2-3 nodes of 32-48 MiB,
so that nodes fill up; the profile is chosen per run) and drives random sequences of the
public :class:`~pagemig.kernel.Kernel` calls: spawn, fork, exit, reap, mmap (anonymous
private/shared, tmpfs file shared/private), munmap, mprotect, mlock, write_user/read_user,
file I/O, swap, memory cgroups, pin/unpin, move_pages, migrate_pages, mbind and
set_mempolicy.

The test keeps a shadow copy of every page it wrote, per page of every live mapping: an
anonymous private page belongs to its task (a fork child gets a copy), an anonymous shared
page to its shmem object (a fork child shares it), a file page to its file, and a private
file page follows the file until the task writes it.  After every rule it runs
:func:`pagemig.validate.validate` and reads back every tracked page through every readable
live mapping of every live task, comparing it with the shadow.

A call with valid arguments may fail only with ``OSError`` (ENOMEM when a node or cgroup is
full, EFAULT, EACCES, ...), and then the shadow is unchanged.  Garbage arguments (wrong
types, negative or huge values) must raise TypeError, ValueError or OSError and change
nothing (``GARBAGE_RETURNS`` lists the few the kernel answers instead, such as a read far
past the end of a file); they are mixed into every sequence.

CI runs the ``ci`` Hypothesis profile (small, derandomized); by hand:
``pytest -m fuzz --hypothesis-profile=long tests/fuzz``.
"""

from __future__ import annotations

import errno
import os
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from pagemig import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_INTERLEAVE,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Kernel,
    Topology,
)
from pagemig.validate import validate

PAGE = 4096
ALLOWED_GARBAGE_ERRORS = (TypeError, ValueError, OSError)
REFUSED = object()  # what KernelMachine.call() returns for a call the kernel refused


# Shadow kinds of a mapped page.
ANON_PRIVATE, ANON_SHARED, FILE_SHARED, FILE_PRIVATE = "anon_private", "anon_shared", \
    "file_shared", "file_private"


@dataclass
class MappedPage:
    """One page of a live mapping of a task, as the shadow sees it.

    ``obj`` is the key of the shadow object the page's bytes live in (``pages[obj][idx]``);
    for FILE_PRIVATE it is the task's private copy (None entries follow ``file``).
    """

    kind: str
    obj: int
    idx: int
    prot: int
    file: int = -1


@dataclass
class Stats:
    """What the fuzzer did, summed over the runs of one process (tests/fuzz/conftest.py
    prints it at the end of the session)."""

    sequences: int = 0
    calls: int = 0
    refused: int = 0
    bytes_checked: int = 0
    garbage_calls: int = 0
    full_node_steps: int = 0  # checks made while some node had less than 5% free
    batch_moves: int = 0  # move_pages, migrate_pages and mbind calls that moved pages on arrays
    errnos: Counter[str] = field(default_factory=Counter)  # refusals by errno name


KERNEL_FUZZ_STATS = STATS = Stats()


class KernelMachine(RuleBasedStateMachine):
    """Random sequences of Kernel calls with a byte-exact shadow of user memory."""

    def __init__(self) -> None:
        super().__init__()
        self.k: Kernel | None = None
        self.maps: dict[int, dict[int, MappedPage]] = {}  # pid -> page address -> page
        self.regions: dict[int, list[tuple[int, int]]] = {}  # pid -> (addr, npages) mmapped
        self.objs: dict[int, list[bytearray | None]] = {}  # shadow objects (None: zeros)
        self.files: dict[int, tuple[object, int]] = {}  # obj -> (AddressSpace, size)
        self.zombies: list[int] = []
        self.pins: list[list[int]] = []
        self.memcgs: list[object] = []
        self.next_obj = 0
        self.nr_files = 0
        STATS.sequences += 1

    # -- helpers --

    def new_obj(self, npages: int) -> int:
        self.next_obj += 1
        self.objs[self.next_obj] = [None] * npages
        return self.next_obj

    def task(self, pid: int):
        assert self.k is not None
        return self.k.tasks[pid]

    def live(self) -> list[int]:
        return sorted(self.maps)

    def expected(self, mp: MappedPage) -> bytes | None:
        """The bytes the page must hold, or None when the test never wrote them."""
        page = self.objs[mp.obj][mp.idx]
        if page is None and mp.kind == FILE_PRIVATE:
            page = self.objs[mp.file][mp.idx]
        return None if page is None else bytes(page)

    def pick_page(self, data, writable: bool | None = None) -> tuple[int, int, MappedPage]:
        pid = data.draw(st.sampled_from([p for p in self.live() if self.maps[p]]))
        addrs = sorted(self.maps[pid])
        if writable is not None:
            addrs = [a for a in addrs if bool(self.maps[pid][a].prot & PROT_WRITE) == writable]
        if not addrs:
            return pid, -1, None  # type: ignore[return-value]
        addr = data.draw(st.sampled_from(addrs))
        return pid, addr, self.maps[pid][addr]

    def pick_range(self, data) -> tuple[int, int, int]:
        """A task and a run of mapped pages inside one of its mmap()ed regions."""
        pid = data.draw(st.sampled_from([p for p in self.live() if self.regions[p]]))
        base, n = data.draw(st.sampled_from(self.regions[pid]))
        first = data.draw(st.integers(0, n - 1))
        count = data.draw(st.integers(1, n - first))
        return pid, base + first * PAGE, count

    def mapped_run(self, pid: int, addr: int, count: int) -> bool:
        return all(addr + i * PAGE in self.maps[pid] for i in range(count))

    def call(self, fn, *args, **kw):
        """A call with valid arguments: its result, or REFUSED when it raised OSError."""
        STATS.calls += 1
        try:
            return fn(*args, **kw)
        except OSError as e:
            STATS.refused += 1
            STATS.errnos[f"{fn.__name__}:{errno.errorcode.get(e.errno or 0, e.errno)}"] += 1
            return REFUSED

    def has_tasks(self) -> bool:
        return self.k is not None and bool(self.maps)

    def has_maps(self) -> bool:
        return self.has_tasks() and any(self.maps.values())

    def has_regions(self) -> bool:
        return self.has_tasks() and any(self.regions[p] for p in self.maps)

    # -- setup --

    @initialize(nodes=st.integers(2, 3), mb=st.sampled_from([32, 32, 48]),
                cpus=st.integers(1, 2), profile=st.sampled_from(["2.6.27", "6.1"]),
                seed=st.integers(0, 3))
    def boot(self, nodes: int, mb: int, cpus: int, profile: str, seed: int) -> None:
        self.k = Kernel(Topology(nodes=nodes, mem_per_node_mb=mb, cpus_per_node=cpus),
                        profile, seed=seed)
        t = self.k.spawn()
        self.maps[t.pid] = {}
        self.regions[t.pid] = []

    # -- tasks --

    @precondition(lambda self: self.k is not None and len(self.maps) < 6)
    @rule(data=st.data())
    def spawn(self, data) -> None:
        assert self.k is not None
        cpu = data.draw(st.integers(0, self.k.nr_cpus - 1))
        t = self.call(self.k.spawn, cpu=cpu)
        if t is not REFUSED:
            self.maps[t.pid] = {}
            self.regions[t.pid] = []

    @precondition(lambda self: self.has_tasks() and len(self.maps) < 6)
    @rule(data=st.data())
    def fork(self, data) -> None:
        assert self.k is not None
        pid = data.draw(st.sampled_from(self.live()))
        child = self.call(self.k.fork, self.task(pid))
        if child is REFUSED:
            return
        copies: dict[int, int] = {}
        pages = {}
        for addr, mp in self.maps[pid].items():
            new = MappedPage(mp.kind, mp.obj, mp.idx, mp.prot, mp.file)
            if mp.kind in (ANON_PRIVATE, FILE_PRIVATE):  # copy-on-write: the child's own
                if mp.obj not in copies:
                    copies[mp.obj] = self.next_obj + 1
                    self.next_obj += 1
                    self.objs[copies[mp.obj]] = [None if p is None else bytearray(p)
                                                 for p in self.objs[mp.obj]]
                new.obj = copies[mp.obj]
            pages[addr] = new
        self.maps[child.pid] = pages
        self.regions[child.pid] = list(self.regions[pid])

    @precondition(lambda self: self.has_tasks())
    @rule(data=st.data())
    def exit(self, data) -> None:
        assert self.k is not None
        pid = data.draw(st.sampled_from(self.live()))
        self.call(self.k.exit, self.task(pid))
        del self.maps[pid], self.regions[pid]
        self.zombies.append(pid)

    @precondition(lambda self: self.k is not None and bool(self.zombies))
    @rule(data=st.data())
    def reap(self, data) -> None:
        assert self.k is not None
        pid = data.draw(st.sampled_from(self.zombies))
        self.call(self.k.reap, self.task(pid))
        self.zombies.remove(pid)

    # -- mappings --

    @precondition(lambda self: self.has_tasks())
    @rule(data=st.data(), kind=st.sampled_from([ANON_PRIVATE, ANON_SHARED, FILE_SHARED,
                                                FILE_PRIVATE]),
          prot=st.sampled_from([PROT_READ | PROT_WRITE] * 3 + [PROT_READ, PROT_NONE]),
          big=st.integers(0, 5))
    def mmap(self, data, kind: str, prot: int, big: int) -> None:
        assert self.k is not None
        pid = data.draw(st.sampled_from(self.live()))
        files = [o for o in self.files]
        if kind in (FILE_SHARED, FILE_PRIVATE) and not files:
            kind = ANON_PRIVATE
        if kind in (FILE_SHARED, FILE_PRIVATE):
            fobj = data.draw(st.sampled_from(files))
            file, size = self.files[fobj]
            npages = data.draw(st.integers(1, size))
            flags = MAP_SHARED if kind == FILE_SHARED else MAP_PRIVATE
            addr = self.call(self.k.mmap, self.task(pid), npages * PAGE, prot, flags, file)
        else:
            npages = data.draw(st.integers(1, 8)) if big else data.draw(st.integers(256, 3000))
            flags = (MAP_SHARED if kind == ANON_SHARED else MAP_PRIVATE) | MAP_ANONYMOUS
            addr = self.call(self.k.mmap, self.task(pid), npages * PAGE, prot, flags)
        if addr is REFUSED:
            return
        if kind in (ANON_PRIVATE, ANON_SHARED, FILE_PRIVATE):
            obj = self.new_obj(npages if kind != FILE_PRIVATE else self.files[fobj][1])
        else:
            obj = fobj
        for i in range(npages):
            self.maps[pid][addr + i * PAGE] = MappedPage(
                kind, obj, i, prot, fobj if kind == FILE_PRIVATE else -1)
        self.regions[pid].append((addr, npages))

    @precondition(lambda self: self.has_tasks())
    @rule(data=st.data(), npages=st.integers(512, 4096), shared=st.booleans())
    def fill(self, data, npages: int, shared: bool) -> None:
        """mmap() a big anonymous region and mlock() it, so that nodes fill up."""
        assert self.k is not None
        pid = data.draw(st.sampled_from(self.live()))
        flags = (MAP_SHARED if shared else MAP_PRIVATE) | MAP_ANONYMOUS
        addr = self.call(self.k.mmap, self.task(pid), npages * PAGE,
                         PROT_READ | PROT_WRITE, flags)
        if addr is REFUSED:
            return
        obj = self.new_obj(npages)
        kind = ANON_SHARED if shared else ANON_PRIVATE
        for i in range(npages):
            self.maps[pid][addr + i * PAGE] = MappedPage(kind, obj, i, PROT_READ | PROT_WRITE)
        self.regions[pid].append((addr, npages))
        self.call(self.k.mlock, self.task(pid), addr, npages * PAGE)

    @precondition(lambda self: self.has_regions())
    @rule(data=st.data())
    def munmap(self, data) -> None:
        assert self.k is not None
        pid, addr, count = self.pick_range(data)
        if self.call(self.k.munmap, self.task(pid), addr, count * PAGE) is REFUSED:
            return
        for i in range(count):
            self.maps[pid].pop(addr + i * PAGE, None)

    @precondition(lambda self: self.has_regions())
    @rule(data=st.data(), prot=st.sampled_from([PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE]))
    def mprotect(self, data, prot: int) -> None:
        assert self.k is not None
        pid, addr, count = self.pick_range(data)
        if not self.mapped_run(pid, addr, count):
            return
        if self.call(self.k.mprotect, self.task(pid), addr, count * PAGE, prot) is REFUSED:
            return
        for i in range(count):
            self.maps[pid][addr + i * PAGE].prot = prot

    @precondition(lambda self: self.has_regions())
    @rule(data=st.data(), on=st.booleans())
    def mlock(self, data, on: bool) -> None:
        assert self.k is not None
        pid, addr, count = self.pick_range(data)
        if on and data.draw(st.booleans()):  # often all of the region: nodes fill up
            base, n = next(r for r in self.regions[pid] if r[0] <= addr < r[0] + r[1] * PAGE)
            addr, count = base, n
        if not self.mapped_run(pid, addr, count):
            return
        self.call(self.k.mlock, self.task(pid), addr, count * PAGE, on)

    # -- user memory --

    @precondition(lambda self: self.has_maps())
    @rule(data=st.data(), payload=st.binary(min_size=1, max_size=64), whole=st.booleans())
    def write_user(self, data, payload: bytes, whole: bool) -> None:
        assert self.k is not None
        pid, addr, mp = self.pick_page(data)
        if mp is None:
            return
        if whole:
            payload = (payload * (PAGE // len(payload) + 1))[:PAGE]
        off = data.draw(st.integers(0, PAGE - len(payload)))
        self.store(pid, addr, off, payload, mp)

    def store(self, pid: int, addr: int, off: int, payload: bytes, mp: MappedPage) -> bool:
        """write_user() of ``payload`` at ``off`` in the page at ``addr``, kept in the
        shadow; whether it was stored."""
        assert self.k is not None
        STATS.calls += 1
        try:
            self.k.write_user(self.task(pid), addr + off, payload)
        except OSError as e:
            STATS.refused += 1
            # A store to a page without PROT_WRITE faults; otherwise only memory can run out.
            assert e.errno == (errno.EFAULT if not mp.prot & PROT_WRITE else errno.ENOMEM), e
            return False
        assert mp.prot & PROT_WRITE, "a store to a read-only mapping succeeded"
        old = self.expected(mp)
        page = bytearray(old if old is not None else bytes(PAGE))
        page[off:off + len(payload)] = payload
        self.objs[mp.obj][mp.idx] = page  # the object, or the private copy of a file page
        return True

    @precondition(lambda self: self.has_maps())
    @rule(data=st.data())
    def read_user(self, data) -> None:
        assert self.k is not None
        pid, addr, mp = self.pick_page(data)
        want = self.expected(mp)
        if want is None:
            return
        got = self.call(self.k.read_user, self.task(pid), addr, PAGE)
        if got is not REFUSED:
            assert mp.prot & PROT_READ, "a load from a PROT_NONE mapping succeeded"
            assert want == got, f"pid {pid} {hex(addr)} {mp}"
            STATS.bytes_checked += PAGE

    # -- files --

    @precondition(lambda self: self.k is not None and len(self.files) < 4)
    @rule(size=st.integers(1, 8))
    def create_file(self, size: int) -> None:
        assert self.k is not None
        self.nr_files += 1
        f = self.call(self.k.create_file, f"fuzz{self.nr_files}", size)
        if f is not REFUSED:
            obj = self.new_obj(size)
            self.files[obj] = (f, size)

    @precondition(lambda self: self.has_tasks() and bool(self.files))
    @rule(data=st.data(), payload=st.binary(min_size=0, max_size=PAGE))
    def pwrite(self, data, payload: bytes) -> None:
        assert self.k is not None
        pid = data.draw(st.sampled_from(self.live()))
        obj = data.draw(st.sampled_from(sorted(self.files)))
        f, size = self.files[obj]
        idx = data.draw(st.integers(0, size - 1))
        if self.call(self.k.pwrite, self.task(pid), f, idx, payload) is not REFUSED:
            self.objs[obj][idx] = bytearray(payload.ljust(PAGE, b"\0"))

    @precondition(lambda self: self.has_tasks() and bool(self.files))
    @rule(data=st.data())
    def pread(self, data) -> None:
        assert self.k is not None
        pid = data.draw(st.sampled_from(self.live()))
        obj = data.draw(st.sampled_from(sorted(self.files)))
        f, size = self.files[obj]
        idx = data.draw(st.integers(0, size - 1))
        got = self.call(self.k.pread, self.task(pid), f, idx)
        want = self.objs[obj][idx]
        if got is not REFUSED:
            assert (bytes(PAGE) if want is None else bytes(want)) == got
            STATS.bytes_checked += PAGE

    @precondition(lambda self: self.has_tasks() and bool(self.files))
    @rule(data=st.data())
    def fsync(self, data) -> None:
        assert self.k is not None
        pid = data.draw(st.sampled_from(self.live()))
        obj = data.draw(st.sampled_from(sorted(self.files)))
        STATS.calls += 1
        assert 0 == self.k.fsync(self.task(pid), self.files[obj][0])

    # -- swap --

    @precondition(lambda self: self.k is not None and self.k.swap_info is None)
    @rule(nr=st.integers(2, 64), sync=st.booleans())
    def swapon(self, nr: int, sync: bool) -> None:
        assert self.k is not None
        self.call(self.k.swapon, nr, sync)

    @precondition(lambda self: self.has_maps())
    @rule(data=st.data(), keep=st.booleans())
    def swap_out(self, data, keep: bool) -> None:
        assert self.k is not None
        pid, addr, mp = self.pick_page(data)
        self.call(self.k.swap_out, self.task(pid), addr, keep)

    # -- memory cgroups --

    @precondition(lambda self: self.k is not None and len(self.memcgs) < 3)
    @rule(limit=st.one_of(st.none(), st.integers(0, 4000)))
    def memcg_create(self, limit: int | None) -> None:
        assert self.k is not None
        cg = self.call(self.k.memcg_create, limit)
        if cg is not REFUSED:
            self.memcgs.append(cg)

    @precondition(lambda self: self.k is not None and bool(self.memcgs))
    @rule(data=st.data(), limit=st.integers(0, 8000))
    def memcg_set_limit(self, data, limit: int) -> None:
        assert self.k is not None
        cg = data.draw(st.sampled_from(self.memcgs))
        self.call(self.k.memcg_set_limit, cg, limit)

    @precondition(lambda self: self.has_tasks() and bool(self.memcgs))
    @rule(data=st.data())
    def memcg_move_task(self, data) -> None:
        assert self.k is not None
        cg = data.draw(st.sampled_from(self.memcgs))
        pid = data.draw(st.sampled_from(self.live()))
        self.call(self.k.memcg_move_task, self.task(pid), cg)

    # -- pins --

    @precondition(lambda self: self.has_regions())
    @rule(data=st.data())
    def pin(self, data) -> None:
        assert self.k is not None
        pid, addr, count = self.pick_range(data)
        if not self.mapped_run(pid, addr, count):
            return
        pfns = self.call(self.k.pin, self.task(pid), addr, min(count, 16))
        if pfns is not REFUSED:
            self.pins.append(pfns)

    @precondition(lambda self: self.k is not None and bool(self.pins))
    @rule(data=st.data())
    def unpin(self, data) -> None:
        assert self.k is not None
        i = data.draw(st.integers(0, len(self.pins) - 1))
        STATS.calls += 1
        self.k.unpin(self.pins.pop(i))

    # -- NUMA --

    def nodes(self, data, min_size: int = 0) -> list[int]:
        assert self.k is not None
        n = len(self.k.nodes)
        return data.draw(st.lists(st.integers(0, n - 1), min_size=min_size, max_size=n,
                                  unique=True))

    @precondition(lambda self: self.has_maps())
    @rule(data=st.data(), flags=st.sampled_from([MPOL_MF_MOVE, MPOL_MF_MOVE_ALL]))
    def move_pages(self, data, flags: int) -> None:
        assert self.k is not None
        pid = data.draw(st.sampled_from([p for p in self.live() if self.maps[p]]))
        addrs = data.draw(st.lists(st.sampled_from(sorted(self.maps[pid])), min_size=1,
                                   max_size=8))
        n = len(self.k.nodes)
        query = data.draw(st.integers(0, 4)) == 0
        nodes = None if query else data.draw(st.lists(st.integers(0, n - 1),
                                                      min_size=len(addrs),
                                                      max_size=len(addrs)))
        caller = data.draw(st.sampled_from(self.live()))
        target = 0 if caller == pid else pid
        self.call(self.k.move_pages, self.task(caller), target, addrs, nodes, flags)

    @precondition(lambda self: self.has_regions())
    @rule(data=st.data(), flags=st.sampled_from([MPOL_MF_MOVE, MPOL_MF_MOVE_ALL]),
          path=st.sampled_from(["auto", "batch", "reference"]))
    def move_region(self, data, flags: int, path: str) -> None:
        """move_pages(2) of a run of a region's pages (up to thousands, so the batch path
        takes the calls it can), each to one node or spread over the nodes."""
        assert self.k is not None
        pid, addr, count = self.pick_range(data)
        n = len(self.k.nodes)
        if data.draw(st.booleans()) and self.mapped_run(pid, addr, count):
            # Most big regions are mlocked (fill); unlocked pages are the batch's kind.
            self.call(self.k.mlock, self.task(pid), addr, count * PAGE, False)
        # Write the first pages of the run, so that there is something to move.
        for i in range(data.draw(st.integers(0, min(count, 300)))):
            mp = self.maps[pid].get(addr + i * PAGE)
            if mp is None or not mp.prot & PROT_WRITE:
                break
            if not self.store(pid, addr + i * PAGE, 8 * (i % 500), i.to_bytes(8, "little"), mp):
                break
        if data.draw(st.booleans()):
            nodes = [data.draw(st.integers(0, n - 1))] * count
        else:
            nodes = [i % n for i in range(count)]
        caller = data.draw(st.sampled_from(self.live()))
        target = 0 if caller == pid else pid
        self.call(self.k.move_pages, self.task(caller), target,
                  [addr + i * PAGE for i in range(count)], nodes, flags, path=path)
        STATS.batch_moves += self.k.move_pages_path in ("batch", "mixed")

    @precondition(lambda self: self.has_tasks())
    @rule(data=st.data(), path=st.sampled_from(["auto", "batch", "reference"]))
    def migrate_pages(self, data, path: str) -> None:
        assert self.k is not None
        caller = data.draw(st.sampled_from(self.live()))
        pid = data.draw(st.sampled_from(self.live()))
        self.call(self.k.migrate_pages, self.task(caller), 0 if pid == caller else pid,
                  self.nodes(data, 1), self.nodes(data, 1), path=path)
        STATS.batch_moves += self.k.migrate_pages_path in ("batch", "mixed")

    @precondition(lambda self: self.has_regions())
    @rule(data=st.data(), mode=st.sampled_from([MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND,
                                                 MPOL_INTERLEAVE]),
          flags=st.sampled_from([0, MPOL_MF_MOVE, MPOL_MF_MOVE | MPOL_MF_STRICT,
                                 MPOL_MF_MOVE_ALL, MPOL_MF_STRICT]))
    def mbind(self, data, mode: int, flags: int) -> None:
        assert self.k is not None
        pid, addr, count = self.pick_range(data)
        nodes = [] if mode == MPOL_DEFAULT else self.nodes(data, 1)
        path = data.draw(st.sampled_from(["auto", "batch", "reference"]))
        self.call(self.k.mbind, self.task(pid), addr, count * PAGE, mode, nodes, flags,
                  path=path)
        STATS.batch_moves += self.k.mbind_path in ("batch", "mixed")

    @precondition(lambda self: self.has_tasks())
    @rule(data=st.data(), mode=st.sampled_from([MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND,
                                                 MPOL_INTERLEAVE]))
    def set_mempolicy(self, data, mode: int) -> None:
        assert self.k is not None
        pid = data.draw(st.sampled_from(self.live()))
        nodes = [] if mode == MPOL_DEFAULT else self.nodes(data, 1)
        self.call(self.k.set_mempolicy, self.task(pid), mode, nodes)

    # -- garbage --

    def fingerprint(self, loose: bool = False) -> tuple:
        """A digest of the machine's state that a refused call must leave as it was.

        ``loose`` leaves out the page arrays and page tables: a call whose arguments are
        placed in the caller's memory (the mempolicy calls, move_pages) maps, touches and
        unmaps them even when the kernel then refuses the call.
        """
        assert self.k is not None
        tasks = tuple((pid, t.state, repr(t.mempolicy), t.mem_cgroup,
                       None if t.mm is None else tuple(
                           (v.vm_start, v.vm_end, v.vm_flags, repr(v.policy))
                           for v in t.mm.vmas))
                      for pid, t in sorted(self.k.tasks.items()))
        common = (tasks, len(self.k.address_spaces), len(self.k.memcgs),
                  sorted(self.k.pinned.items()), self.k.swap_info is None)
        if loose:
            return common
        p = self.k.pages
        cols = (p.flags, p.count, p.mapcount, p.mapping, p.index, p.private, p.lru, p.memcg)
        ptes = tuple((pid, tuple((a, hash(pt.tobytes()))
                                 for a, pt in sorted(t.mm.pgtables.items())))
                     for pid, t in sorted(self.k.tasks.items()) if t.mm is not None)
        return (common, tuple(hash(c.tobytes()) for c in cols),
                hash(self.k.zone_stat.tobytes()), ptes)

    GARBAGE_CALLS = [
        "mmap_negative", "mmap_huge", "mmap_str", "mmap_float", "munmap_negative",
        "munmap_str", "mprotect_bad_prot", "mlock_negative", "write_user_negative",
        "write_user_str", "read_user_negative", "read_user_huge", "create_file_negative",
        "create_file_str", "pwrite_negative_index", "pwrite_past_end", "pwrite_two_pages",
        "pwrite_str", "pread_negative", "pread_huge", "swapon_negative", "swapon_str",
        "memcg_create_negative", "memcg_set_limit_negative", "memcg_move_unknown",
        "pin_negative", "pin_huge", "move_pages_bad_node", "move_pages_str_addr",
        "migrate_pages_bad_node", "mbind_bad_mode", "mbind_negative_len",
        "set_mempolicy_bad_mode", "set_mempolicy_bad_node", "spawn_bad_cpu", "fork_none",
        "exit_none", "reap_live", "swap_out_unmapped",
    ]

    # Odd calls the kernel answers instead of refusing: read(2) at or past the end of a
    # file returns nothing.
    GARBAGE_RETURNS = {"pread_huge": b""}

    def garbage_call(self, name: str, pid: int, data) -> None:
        """Make the garbage call ``name`` as task ``pid``."""
        assert self.k is not None
        k, t = self.k, self.task(pid)
        anyaddr = sorted(self.maps[pid])[0] if self.maps[pid] else 0x10000
        f = self.files[sorted(self.files)[0]][0] if self.files else None
        table = {
            "mmap_negative": lambda: k.mmap(t, -PAGE),
            "mmap_huge": lambda: k.mmap(t, 1 << 70),
            "mmap_str": lambda: k.mmap(t, "4096"),
            "mmap_float": lambda: k.mmap(t, 4096.0),
            "munmap_negative": lambda: k.munmap(t, anyaddr, -PAGE),
            "munmap_str": lambda: k.munmap(t, str(anyaddr), PAGE),
            "mprotect_bad_prot": lambda: k.mprotect(t, anyaddr, PAGE, 1 << 20),
            "mlock_negative": lambda: k.mlock(t, anyaddr, -PAGE),
            "write_user_negative": lambda: k.write_user(t, -PAGE, b"x"),
            "write_user_str": lambda: k.write_user(t, anyaddr, "text"),
            "read_user_negative": lambda: k.read_user(t, anyaddr, -5),
            "read_user_huge": lambda: k.read_user(t, anyaddr, 1 << 40),
            "create_file_negative": lambda: k.create_file("bad", -3),
            "create_file_str": lambda: k.create_file("bad", "3"),
            "pwrite_negative_index": lambda: k.pwrite(t, f, -1, b"x"),
            "pwrite_past_end": lambda: k.pwrite(t, f, 1 << 40, b"x"),
            "pwrite_two_pages": lambda: k.pwrite(t, f, 0, b"x" * (2 * PAGE)),
            "pwrite_str": lambda: k.pwrite(t, f, 0, "x"),
            "pread_negative": lambda: k.pread(t, f, -1),
            "pread_huge": lambda: k.pread(t, f, 1 << 40),
            "swapon_negative": lambda: k.swapon(-5),
            "swapon_str": lambda: k.swapon("8"),
            "memcg_create_negative": lambda: k.memcg_create(-1),
            "memcg_set_limit_negative": lambda: k.memcg_set_limit(self.memcgs[0] if
                                                                  self.memcgs else 0, -1),
            "memcg_move_unknown": lambda: k.memcg_move_task(t, 9999),
            "pin_negative": lambda: k.pin(t, anyaddr, -1),
            "pin_huge": lambda: k.pin(t, anyaddr, 1 << 40),
            "move_pages_bad_node": lambda: k.move_pages(t, 0, [anyaddr], [1 << 31 - 1]),
            "move_pages_str_addr": lambda: k.move_pages(t, 0, ["x"], [0]),
            "migrate_pages_bad_node": lambda: k.migrate_pages(t, 0, [0], [-1]),
            "mbind_bad_mode": lambda: k.mbind(t, anyaddr, PAGE, 77, [0]),
            "mbind_negative_len": lambda: k.mbind(t, anyaddr, -PAGE, MPOL_BIND, [0]),
            "set_mempolicy_bad_mode": lambda: k.set_mempolicy(t, -3, [0]),
            "set_mempolicy_bad_node": lambda: k.set_mempolicy(t, MPOL_BIND, [1000]),
            "spawn_bad_cpu": lambda: k.spawn(cpu=99),
            "fork_none": lambda: k.fork(None),
            "exit_none": lambda: k.exit(None),
            "reap_live": lambda: k.reap(t),
            "swap_out_unmapped": lambda: k.swap_out(t, 0x1000),
        }
        if f is None and name.startswith(("pwrite", "pread")):
            name = "mmap_negative"
        loose = name.startswith(("move_pages", "migrate_pages", "mbind", "set_mempolicy"))
        before = self.fingerprint(loose)
        STATS.garbage_calls += 1
        try:
            got = table[name]()
        except ALLOWED_GARBAGE_ERRORS:
            assert name not in self.GARBAGE_RETURNS, f"garbage call {name} raised"
        else:
            assert name in self.GARBAGE_RETURNS, f"garbage call {name} did not raise"
            assert got == self.GARBAGE_RETURNS[name], (name, got)
        assert before == self.fingerprint(loose), f"garbage call {name} changed the state"

    @precondition(lambda self: self.has_tasks())
    @rule(data=st.data(), name=st.sampled_from(GARBAGE_CALLS))
    def garbage(self, data, name: str) -> None:
        pid = data.draw(st.sampled_from(self.live()))
        self.garbage_call(name, pid, data)

    def teardown(self) -> None:
        # A long run by hand can follow its figures in the file PAGEMIG_FUZZ_STATS names.
        path = os.environ.get("PAGEMIG_FUZZ_STATS")
        if path and STATS.sequences % 50 == 0:
            with open(path, "w") as out:
                out.write(f"{STATS}\n")

    # -- the checks after every rule --

    @invariant()
    def machine_is_valid(self) -> None:
        if self.k is not None:
            validate(self.k)
            if any(free * 20 < total for total, free in self.k.node_meminfo_kb().values()):
                STATS.full_node_steps += 1

    @invariant()
    def every_tracked_byte_reads_back(self) -> None:
        if self.k is None:
            return
        for pid in self.live():
            task = self.task(pid)
            for addr, mp in sorted(self.maps[pid].items()):
                if not mp.prot & PROT_READ:
                    continue
                want = self.expected(mp)
                if want is None:
                    continue
                try:
                    got = self.k.read_user(task, addr, PAGE)
                except OSError as e:  # reading in a swapped-out page may find no memory
                    assert e.errno == errno.ENOMEM, (pid, hex(addr), mp, e)
                    continue
                assert want == got, f"pid {pid} {hex(addr)} {mp}: bytes differ at " \
                    f"{next(i for i in range(PAGE) if want[i] != got[i])}"
                STATS.bytes_checked += PAGE


# The `ci` profile unless another one (`long`) was asked for on the command line.
_PROFILE = settings.get_current_profile_name()
KernelMachine.TestCase.settings = settings.get_profile("ci" if _PROFILE == "default"
                                                       else _PROFILE)
TestKernelFuzz = pytest.mark.fuzz(KernelMachine.TestCase)


# Garbage calls the API does not refuse yet (issue 8, open): each is a strict xfail, so the
# test fails as soon as one is refused and its name must come out of this set.
NOT_REFUSED_YET: dict[str, str] = {}


def _garbage_params() -> list[object]:
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=NOT_REFUSED_YET[name]))
            if name in NOT_REFUSED_YET else name for name in KernelMachine.GARBAGE_CALLS]


@pytest.mark.fuzz
@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
@pytest.mark.parametrize("name", _garbage_params())
def test_garbage_call_is_refused(name: str, profile: str) -> None:
    """Each garbage call raises TypeError/ValueError/OSError and leaves the state as it was."""
    m = KernelMachine()
    m.boot(nodes=2, mb=32, cpus=1, profile=profile, seed=0)
    pid = m.live()[0]
    m.create_file(4)
    m.call(m.k.memcg_create, None)
    addr = m.k.mmap(m.task(pid), 4 * PAGE)
    m.k.write_user(m.task(pid), addr, b"shadow")
    m.maps[pid][addr] = MappedPage(ANON_PRIVATE, m.new_obj(4), 0, PROT_READ | PROT_WRITE)
    m.objs[m.maps[pid][addr].obj][0] = bytearray(b"shadow".ljust(PAGE, b"\0"))
    m.garbage_call(name, pid, None)
    m.machine_is_valid()
    m.every_tracked_byte_reads_back()
