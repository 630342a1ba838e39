#!/usr/bin/env python3
"""Throughput of one large move_pages(2) on the model (run by hand).

What is measured
----------------
A process spawned on node 0's CPU maps ``--pages`` (default 65,536) private anonymous pages
and write-touches every one through ``Kernel.write_user`` (so they are faulted in on node
0, each with distinct contents).  Then one move_pages(2) call moves all of them to node 1,
and a second call moves them all back to node 0.  Each call goes the normal way of
``Kernel.move_pages``: the address, node and status arrays are placed in the process's
memory with ``UserArrays`` and written with ``write_user`` (argument setup), then
``Kernel.sys_move_pages`` runs the system call (sys_move_pages -> do_move_pages ->
migrate_pages -> unmap_and_move, one page at a time), then the status array is read back.
The system call alone is timed (the headline), and the whole call including argument setup
and status read-back is reported next to it.  Rates are pages/s with time.perf_counter().

``--path`` chooses how the model moves the pages: ``reference`` (page by page, as above),
``batch`` (mm/migrate_batch.py: the whole call on arrays when it is simple) or ``auto`` (the
default: the batch path for simple calls of 64 pages or more); each move reports the path
that ran.  ``--kernel`` chooses the profile (2.6.27 or 6.1).

For scale, the same run times a numpy copy of the same bytes (pages x 4096 bytes,
``dst[:] = src`` on two uint8 arrays whose pages are committed beforehand), best of
``--reps``, and reports the ratio model/numpy (model pages/s divided by numpy pages/s).

After each move the script checks that the call returned 0, every status is the target
node, every page is mapped from a frame on the target node (``Kernel.page_at``), and the
contents of a sample of pages (``--verify-sample``; all with ``--verify-all``) read back
with ``Kernel.read_user`` are what was written.  A failed check exits with status 1.

``--profile`` runs the first move under cProfile and prints the top functions by
cumulative time (``--profile-sort``) on stderr (the timings of that run include the
profiler's overhead).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pagemig import Kernel, Topology
from pagemig.kernel import UserArrays
from pagemig.mm.mempolicy import MPOL_MF_MOVE
from pagemig.sched import Task

PAGE_SIZE = 4096
WORDS = PAGE_SIZE // 8
SALT = 0x5A5A_0000_0000_0000


def page_words(first: int, npages: int) -> np.ndarray:
    """The contents written to pages [first, first+npages): distinct nonzero 64-bit words."""
    start = first * WORDS
    return np.arange(start, start + npages * WORDS, dtype="<u8") | np.uint64(SALT)


@dataclass
class MoveResult:
    direction: str
    target_node: int
    ret: int
    syscall_s: float
    total_s: float
    pages_per_s: float
    pages_per_s_total: float
    us_per_page: float
    ratio_to_numpy: float = 0.0
    path: str = ""
    statuses_ok: bool = False
    nodes_ok: bool = False
    contents_checked: int = 0
    contents_ok: bool = False


def touch(k: Kernel, p: Task, addr: int, npages: int, chunk: int,
          log: Callable[[str], None]) -> float:
    """Write every page through the fault path, ``chunk`` pages per write_user; seconds."""
    t0 = time.perf_counter()
    for first in range(0, npages, chunk):
        n = min(chunk, npages - first)
        k.write_user(p, addr + first * PAGE_SIZE, page_words(first, n).tobytes())
        if first and first % (npages // 4 // chunk * chunk or chunk) == 0:
            log(f"touched {first}/{npages} pages, {time.perf_counter() - t0:.1f} s")
    return time.perf_counter() - t0


def nodes_of(k: Kernel, p: Task, addrs: list[int]) -> np.ndarray:
    """The node of the frame mapped at each address (-1 where nothing is mapped)."""
    out = np.full(len(addrs), -1, np.int64)
    for i, a in enumerate(addrs):
        pfn = k.page_at(p, a)
        if pfn is not None:
            out[i] = k.pfn_to_nid(pfn)
    return out


def check_contents(k: Kernel, p: Task, addr: int, idx: np.ndarray) -> bool:
    """Read pages ``idx`` back through read_user and compare with what was written."""
    for i in idx.tolist():
        got = k.read_user(p, addr + i * PAGE_SIZE, PAGE_SIZE)
        if got != page_words(i, 1).tobytes():
            return False
    return True


def move_all(k: Kernel, p: Task, addrs: list[int], target: int,
             profile: cProfile.Profile | None) -> tuple[int, list[int], float, float]:
    """One move_pages(2) of every address to ``target`` the way Kernel.move_pages makes it.

    Returns (ret, statuses, seconds in sys_move_pages, seconds for the whole call).
    """
    n = len(addrs)
    t0 = time.perf_counter()
    with UserArrays(k, p, [8 * n, 4 * n, 4 * n]) as (p_ptr, n_ptr, s_ptr):
        k.write_user(p, p_ptr, np.asarray(addrs, "<u8").tobytes())
        k.write_user(p, n_ptr, np.full(n, target, "<i4").tobytes())
        k.write_user(p, s_ptr, np.full(n, -99999, "<i4").tobytes())
        if profile is not None:
            profile.enable()
        t1 = time.perf_counter()
        ret = k.sys_move_pages(p, 0, n, p_ptr, n_ptr, s_ptr, MPOL_MF_MOVE)
        t2 = time.perf_counter()
        if profile is not None:
            profile.disable()
        status = np.frombuffer(k.read_user(p, s_ptr, 4 * n), "<i4").tolist()
    t3 = time.perf_counter()
    return ret, status, t2 - t1, t3 - t0


def numpy_copy(npages: int, reps: int) -> float:
    """Best time of ``dst[:] = src`` over ``reps`` for npages x 4096 bytes (pages committed)."""
    src = np.empty((npages, PAGE_SIZE), np.uint8)
    src.reshape(-1).view("<u8")[:] = np.arange(npages * WORDS, dtype="<u8")
    dst = np.empty_like(src)
    dst[:] = src  # commit dst's pages before timing
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        dst[:] = src
        best = min(best, time.perf_counter() - t0)
    if not np.array_equal(dst[-1], src[-1]):
        raise AssertionError("numpy copy went wrong")
    return best


def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    topo = Topology(nodes=2, mem_per_node_mb=args.mem_per_node_mb)
    t0 = time.perf_counter()
    k = Kernel(topo, args.kernel)
    k.set_migrate_path(args.path)
    log(f"booted 2 x {topo.mem_per_node_mb} MiB in {time.perf_counter() - t0:.2f} s")
    n = args.pages
    p = k.spawn(comm="mover", cpu=k.nodes[0].cpus[0])
    addr = k.mmap(p, n * PAGE_SIZE)
    addrs = [addr + i * PAGE_SIZE for i in range(n)]
    touch_s = touch(k, p, addr, n, args.chunk_pages, log)
    start_nodes = nodes_of(k, p, addrs)
    if not (start_nodes == 0).all():
        raise SystemExit(f"after touching, {(start_nodes != 0).sum()} pages are not on node 0")
    log(f"touched {n} pages on node 0 in {touch_s:.2f} s ({touch_s / n * 1e6:.1f} us/page)")

    log(f"numpy copy of {n} x 4096 bytes, best of {args.reps}")
    np_s = numpy_copy(n, args.reps)
    np_rate = n / np_s

    if args.verify_all:
        sample = np.arange(n)
    else:
        sample = np.unique(np.linspace(0, n - 1, min(n, args.verify_sample)).astype(np.int64))
    results: list[MoveResult] = []
    profile_text = ""
    for src, dst in ((0, 1), (1, 0)) * args.rounds:
        prof = cProfile.Profile() if args.profile and not results else None
        log(f"move_pages of {n} pages node {src} -> node {dst}"
            + (" (under cProfile)" if prof else ""))
        ret, status, sys_s, total_s = move_all(k, p, addrs, dst, prof)
        r = MoveResult(f"{src}->{dst}", dst, ret, sys_s, total_s, n / sys_s, n / total_s,
                       sys_s / n * 1e6, ratio_to_numpy=(n / sys_s) / np_rate,
                       path=k.move_pages_path)
        log(f"  ret {ret}, path {r.path}, {sys_s:.2f} s in sys_move_pages "
            f"({r.pages_per_s:.0f} pages/s), {total_s:.2f} s in all")
        r.statuses_ok = ret == 0 and all(s == dst for s in status)
        r.nodes_ok = bool((nodes_of(k, p, addrs) == dst).all())
        r.contents_checked = len(sample)
        r.contents_ok = check_contents(k, p, addr, sample)
        log(f"  verified: statuses {r.statuses_ok}, all pages on node {dst} {r.nodes_ok}, "
            f"contents of {len(sample)} pages {r.contents_ok}")
        results.append(r)
        if prof is not None:
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats(args.profile_sort).print_stats(
                args.profile_top)
            profile_text = buf.getvalue()
            print(profile_text, file=sys.stderr)

    return {
        "topology": {"nodes": 2, "mem_per_node_mb": topo.mem_per_node_mb},
        "kernel": args.kernel,
        "path_asked": args.path,
        "pages": n,
        "bytes": n * PAGE_SIZE,
        "touch_seconds": touch_s,
        "touch_us_per_page": touch_s / n * 1e6,
        "numpy_copy_seconds": np_s,
        "numpy_pages_per_s": np_rate,
        "numpy_gib_per_s": n * PAGE_SIZE / np_s / (1 << 30),
        "numpy_reps": args.reps,
        "profiled_first_move": bool(args.profile),
        "moves": [asdict(r) for r in results],
        "ok": all(r.statuses_ok and r.nodes_ok and r.contents_ok for r in results),
    }


def print_table(r: dict[str, Any], out: Any) -> None:
    w = out.write
    w(f"move_pages throughput: {r['pages']} pages ({r['bytes'] / (1 << 20):.0f} MiB), "
      f"machine 2 x {r['topology']['mem_per_node_mb']} MiB, Linux {r['kernel']}, "
      f"--path {r['path_asked']}\n")
    w(f"  touch (write_user, first-touch faults): {r['touch_seconds']:.2f} s, "
      f"{r['touch_us_per_page']:.1f} us/page\n\n")
    w("  direction  path       ret  syscall s   pages/s  us/page  incl. args s  "
      "pages/s incl.  model/numpy  verified\n")
    for m in r["moves"]:
        ok = "yes" if m["statuses_ok"] and m["nodes_ok"] and m["contents_ok"] else "NO"
        w(f"  {m['direction']:<9}  {m['path']:<9} {m['ret']:>4} {m['syscall_s']:>10.2f}"
          f" {m['pages_per_s']:>9.0f}"
          f" {m['us_per_page']:>8.1f} {m['total_s']:>13.2f} {m['pages_per_s_total']:>14.0f}"
          f" {m['ratio_to_numpy']:>12.3f}  {ok} ({m['contents_checked']} pages read back)\n")
    w(f"  numpy copy {r['numpy_copy_seconds'] * 1e3:>14.2f} ms {r['numpy_pages_per_s']:>9.0f} "
      f"pages/s ({r['numpy_gib_per_s']:.2f} GiB/s, best of {r['numpy_reps']})\n")
    if r["profiled_first_move"]:
        w("  (the first move ran under cProfile: its time includes the profiler's overhead)\n")
    w(f"  all checks passed: {'yes' if r['ok'] else 'NO'}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=65536, help="pages to move (default 65536)")
    ap.add_argument("--kernel", default="2.6.27", choices=("2.6.27", "6.1"),
                    help="kernel profile (default 2.6.27)")
    ap.add_argument("--path", default="auto", choices=("auto", "reference", "batch"),
                    help="how move_pages moves the pages (default auto)")
    ap.add_argument("--mem-per-node-mb", type=int, default=1024,
                    help="MiB per node of the 2-node machine (default 1024)")
    ap.add_argument("--chunk-pages", type=int, default=256,
                    help="pages written per write_user call when touching (default 256)")
    ap.add_argument("--reps", type=int, default=5, help="numpy copy repetitions (default 5)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="moves there and back (default 1); the first move into node 1 also "
                         "pays the host's first writes to frames the model never used")
    ap.add_argument("--verify-sample", type=int, default=1024,
                    help="pages whose contents are read back after each move (default 1024)")
    ap.add_argument("--verify-all", action="store_true", help="read back every page")
    ap.add_argument("--profile", action="store_true",
                    help="run the first move under cProfile; top functions on stderr")
    ap.add_argument("--profile-top", type=int, default=15,
                    help="functions listed with --profile (default 15)")
    ap.add_argument("--profile-sort", choices=("cumulative", "tottime", "ncalls"),
                    default="cumulative", help="order of the --profile listing")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = ap.parse_args(argv)
    if (args.pages < 1 or args.reps < 1 or args.chunk_pages < 1 or args.verify_sample < 1
            or args.rounds < 1):
        ap.error("--pages, --reps, --chunk-pages, --verify-sample and --rounds must be >= 1")

    def log(msg: str) -> None:
        print(f"[move_pages] {msg}", file=sys.stderr, flush=True)

    result = run(args, log)
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        print_table(result, sys.stdout)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
