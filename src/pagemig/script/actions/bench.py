"""The bench action: move_pages(2), migrate_pages(2) and memcpy throughput, as the probe's
act_bench() measures them on a real kernel.

``bench pages=N [reps=R] [batches=all,4096,...] [from=0] [to=1] [migrate=1] [memcpy=1]``
maps N private anonymous pages bound to node ``from`` while they are first touched, writes
one distinct word at the start of each, then moves them to ``to`` and back with move_pages
(one run per batch size; ``all`` is one call), then migrate_pages(2) of the whole process
there and back, checks every word, and times a copy of the same number of bytes.  Each
measurement is one ``bench`` object with the probe's fields (``seconds`` of every repeat,
sorted; ``median_s``, ``pages_per_s_median``, ``GBps_median``, ``errors``, ...).

The system calls run on the backend exactly as the probe makes them, with their arguments
in the process's memory; only the system call itself is timed.  The ``memcpy`` rows are the
host's reference for this machine: ``np.copyto`` of the same number of bytes into a
destination written beforehand (the probe copies within the guest; a model has no
"remote" memory, so its two rows measure the same copy), and ``memcpy_per_page`` copies
page by page.  On a terminal, a progress bar on stderr follows the calls; JSON output is
never touched by it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from pagemig.script.core import PAGE, Proc, RunnerState, ScriptFault, _c_strtol
from pagemig.script.parse import Action

MPOL_DEFAULT, MPOL_BIND = 0, 2
MPOL_MF_MOVE = 1 << 1
MAXNODE = 16 * 64 + 1  # the probe's masks: 16 words, maxnode 1025
MAX_REPS = 64
PATTERN = 0xABCD000000000000


def _mask(node: int) -> bytes:
    """The probe's node_mask1(): 16 words with only ``node``'s bit set."""
    words = np.zeros(16, "<u8")
    if 0 <= node < 16 * 64:
        words[node // 64] = np.uint64(1 << (node % 64))
    return words.tobytes()


@contextlib.contextmanager
def _progress(total: int, what: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal; yields ``advance(n)``."""
    if not sys.stderr.isatty() or os.environ.get("PAGEMIG_NO_PROGRESS"):
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n: bar.advance(task, n)


class _Bench:
    """One run of the bench action in process ``proc``."""

    def __init__(self, rs: RunnerState, proc: Proc, a: Action) -> None:
        self.rs, self.proc, self.h = rs, proc, proc.handle
        self.n = a.int_kv("pages", 65536)
        self.reps = min(max(a.int_kv("reps", 3), 1), MAX_REPS)
        self.src, self.dst = a.int_kv("from", 0), a.int_kv("to", 1)
        self.batches = a.get("batches") or "all"
        self.migrate, self.memcpy = a.int_kv("migrate", 1), a.int_kv("memcpy", 1)

    # -- memory --

    def alloc_on_node(self, node: int) -> int:
        """The probe's alloc_on_node() followed by its pattern: map, bind to ``node``, store
        each page, unbind; the address or -errno.

        The probe touches a byte of each page, then writes one distinct word at its start.
        Here each page is stored whole as the token page whose first word is that word
        (``PATTERN ^ i``), which a machine keeping tokens (``contents="tag"``) holds
        without bytes; the check reads the first word back, as the probe's does."""
        b, length = self.rs.b, self.n * PAGE
        if self.n <= 0:  # mmap() of 0 bytes, or of a size_t that wraps to an enormous one
            return -(errno.EINVAL if self.n == 0 else errno.ENOMEM)
        addr = b.mmap(self.h, length, 3, False, None)
        if addr < 0:
            return addr
        with self.rs._scratch(self.proc, len(_mask(node))) as mask:
            self.rs._store(self.proc, mask, _mask(node))
            b.mbind(self.h, addr, length, MPOL_BIND, mask, MAXNODE, 0)
        tokens = np.uint64(PATTERN) ^ np.arange(self.n, dtype=np.uint64)
        with _progress(self.n, "bench: first touch") as advance:
            err, i = b.store_tokens(self.h, addr, tokens)  # one request: may be batched
            if err:
                # The probe would be killed here (out of memory, or SIGSEGV).
                raise ScriptFault(f"bench: the first touch of page {i} of {self.n} "
                                  "failed (the machine has too little memory)")
            advance(self.n)
        b.mbind(self.h, addr, length, MPOL_DEFAULT, 0, 0, 0)
        return addr

    def words(self, buf: int) -> np.ndarray:
        """The first word of every page of the buffer (all ones for a page that is no
        token's page or cannot be read)."""
        out = np.full(self.n, ~np.uint64(0), np.uint64)
        for i in range(self.n):
            ret, token = self.rs.b.load_token(self.h, buf + i * PAGE)
            if ret == 0 and token is not None:
                out[i] = token
        return out

    # -- the measurements --

    def emit(self, what: str, direction: str | None, batch: int, times: list[float],
             errors: int, calls: int) -> None:
        """The probe's emit_bench(): one bench object."""
        t = sorted(times)
        best, med = t[0], t[len(t) // 2]
        nbytes = self.n * PAGE
        fields: dict[str, Any] = {"what": what}
        if direction is not None:
            fields["dir"] = direction
        if batch >= 0:
            fields["batch"] = batch
        fields.update({"pages": self.n, "reps": self.reps})
        if calls >= 0:
            fields["calls_per_rep"] = calls
        fields["seconds"] = [round(x, 6) for x in t]
        fields.update({"best_s": best, "median_s": med,
                       "pages_per_s_best": self.n / best, "pages_per_s_median": self.n / med,
                       "GBps_best": nbytes / best / 1e9, "GBps_median": nbytes / med / 1e9})
        if calls > 0:
            fields["us_per_call_median"] = med / calls * 1e6
        if errors >= 0:
            fields["errors"] = errors
        self.rs.emit("bench", self.proc.who, fields)

    def query(self, pages: int, status: int) -> np.ndarray:
        """move_pages(2) with no nodes: the node of every page."""
        self.rs.b.move_pages(self.h, 0, self.n, pages, 0, status, 0)
        return np.frombuffer(self.rs.b.read_user(self.h, status, 4 * self.n) or b"", "<i4")

    def move_runs(self, pages: int, to_ptr: int, from_ptr: int, status: int) -> None:
        """move_pages there and back, ``reps`` times, for each batch size."""
        b = self.rs.b
        for token in self.batches.split(","):
            batch = self.n if token == "all" else _strtol(token)
            if batch <= 0 or batch > self.n:
                batch = self.n
            calls, errors = -(-self.n // batch), 0
            times: list[list[float]] = [[], []]
            with _progress(2 * self.reps * calls, f"bench: move_pages, batch {batch}") as adv:
                for _ in range(self.reps):
                    for back, (nodes, target) in enumerate(((to_ptr, self.dst),
                                                            (from_ptr, self.src))):
                        spent = 0.0
                        for i in range(0, self.n, batch):
                            c = min(batch, self.n - i)
                            t0 = time.perf_counter()
                            ret = b.move_pages(self.h, 0, c, pages + 8 * i, nodes + 4 * i,
                                               status + 4 * i, MPOL_MF_MOVE)
                            spent += time.perf_counter() - t0
                            if ret != 0:
                                errors += c if ret < 0 else ret
                            adv(1)
                        got = np.frombuffer(b.read_user(self.h, status, 4 * self.n) or b"",
                                            "<i4")
                        errors += int(np.count_nonzero(got != target))
                        times[back].append(spent)
            self.emit("move_pages", f"{self.src}->{self.dst}", batch, times[0], errors, calls)
            self.emit("move_pages", f"{self.dst}->{self.src}", batch, times[1], errors, calls)

    def migrate_runs(self, masks: int) -> None:
        """migrate_pages(2) of the whole process there and back, ``reps`` times, with the
        two node masks at ``masks``."""
        b, errors = self.rs.b, 0
        times: list[list[float]] = [[], []]
        with _progress(2 * self.reps, "bench: migrate_pages") as adv:
            for _ in range(self.reps):
                for back, (old, new) in enumerate(((self.src, self.dst),
                                                    (self.dst, self.src))):
                    self.rs._store(self.proc, masks, _mask(old) + _mask(new))
                    t0 = time.perf_counter()
                    ret = b.migrate_pages(self.h, 0, MAXNODE, masks, masks + 128)
                    times[back].append(time.perf_counter() - t0)
                    errors += ret != 0
                    adv(1)
        self.emit("migrate_pages", "there", -1, times[0], errors, 1)
        self.emit("migrate_pages", "back", -1, times[1], errors, 1)

    def memcpy_runs(self) -> None:
        """The host's copy of the same bytes: whole, twice (the probe's remote and local
        rows), then page by page."""
        nbytes = self.n * PAGE
        src = np.arange(nbytes // 8, dtype=np.uint64).view(np.uint8)
        for direction in (f"{self.src}->{self.dst}", f"{self.src}->{self.src}"):
            dst = np.ones(nbytes, np.uint8)  # written beforehand, as the probe's destination
            times = []
            for _ in range(self.reps):
                t0 = time.perf_counter()
                np.copyto(dst, src)
                times.append(time.perf_counter() - t0)
            self.emit("memcpy", direction, -1, times, int(not np.array_equal(dst, src)), -1)
        dst = np.ones(nbytes, np.uint8)
        times = []
        for _ in range(self.reps):
            t0 = time.perf_counter()
            for off in range(0, nbytes, PAGE):
                np.copyto(dst[off:off + PAGE], src[off:off + PAGE])
            times.append(time.perf_counter() - t0)
        self.emit("memcpy_per_page", f"{self.src}->{self.dst}", -1, times, -1, -1)

    def run(self) -> None:
        """The probe's act_bench(), step by step."""
        rs, b = self.rs, self.rs.b
        buf = self.alloc_on_node(self.src)
        if buf < 0:
            rs.emit("error", self.proc.who, {"msg": "bench mmap failed",
                                             "detail": os.strerror(-buf)})
            return
        n = self.n
        # One block holds every argument (the heap scratch is one place): pages (8 bytes
        # each), the two node arrays and the status array (4 bytes each), two node masks.
        with rs._scratch(self.proc, 20 * n + 256) as args:
            pages, to_ptr, from_ptr, status = args, args + 8 * n, args + 12 * n, args + 16 * n
            rs._store(self.proc, pages, (buf + PAGE * np.arange(n, dtype=np.uint64))
                      .astype("<u8").tobytes())
            rs._store(self.proc, to_ptr, np.full(n, self.dst, "<i4").tobytes())
            rs._store(self.proc, from_ptr, np.full(n, self.src, "<i4").tobytes())
            rs._store(self.proc, status, np.zeros(n, "<i4").tobytes())
            on_from = int(np.count_nonzero(self.query(pages, status) == self.src))
            rs.emit("bench_setup", self.proc.who, {"pages": n, "on_from_node": on_from,
                                                   "node_mem_kb": rs._node_mem_kb(self.proc)})
            self.move_runs(pages, to_ptr, from_ptr, status)
            if self.migrate:
                self.migrate_runs(args + 20 * n)
            expected = PATTERN ^ np.arange(n, dtype=np.uint64)
            bad = int(np.count_nonzero(self.words(buf) != expected))
            on_from = int(np.count_nonzero(self.query(pages, status) == self.src))
            rs.emit("bench_check", self.proc.who, {"content_mismatches": bad,
                                                   "on_from_node": on_from})
        if self.memcpy:
            self.memcpy_runs()
        b.memop(self.h, "munmap", buf, n * PAGE)


def _strtol(text: str) -> int:
    """strtol(text, NULL, 0) as the probe reads a batch size: the leading number, else 0."""
    value, end = _c_strtol(text, 0)
    return value if end else 0


def act_bench(rs: RunnerState, proc: Proc, a: Action) -> None:
    """bench pages=N [reps=R] [batches=LIST] [from=N] [to=N] [migrate=0|1] [memcpy=0|1]."""
    _Bench(rs, proc, a).run()

