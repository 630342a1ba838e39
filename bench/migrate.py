#!/usr/bin/env python3
"""Migration speed and memory of the model at real machine sizes (run by hand, not in CI).

    python bench/migrate.py [--quick] [--only MEASURE ...] [--out bench/results]

Every measurement runs in a fresh Python process of its own (so that peak RSS belongs to
that model alone) and prints one JSON object; this script collects them into
``OUT/migrate-<host>-<date>.json`` and draws ``.png`` beside it.  Speeds are pages per
second and, for the moves, a ratio against a numpy copy of the same bytes made in the same
process just before (``np.copyto`` into a destination written beforehand): this machine's
copy rate, which shared, noisy machines make the only stable yardstick.

1. ``move``: move_pages(2) of 262,144 and 1,048,576 private anonymous pages from node 0 to
   node 1 and back, in ``bytes`` and ``tag`` contents, on each migration path the model
   has (``reference``; ``batch`` once it exists), timing the system call alone.
   ``mixed``: the same with 16 of 1,048,576 pages pinned (they cannot move), in
   ``bytes``: the other pages move in runs on arrays, the pinned ones page by page.
2. the copy of the same bytes, and the ratio of (1) to it (in each ``move`` row).
3. ``boot``: bytes per page frame (peak RSS above a tiny model's, over the frames) and boot
   time for two-node ``tag`` models of 1 GiB, 64 GiB and 1 TiB, with 64 pages, half and
   95 % of the pages touched (the 1 TiB model with 64 pages only).
4. ``scale``: moving 65,536 pages on a 1 GiB, a 256 GiB and a 1 TiB model (the median of
   five round trips, so that one-time costs of the first call do not count as size).
5. ``process``: migrate_pages(2) of a whole 1,048,576-page process (its program image,
   file pages, page by page; the rest in runs on arrays), and fork() of it;
   ``anon_migrate``: migrate_pages(2) of a process whose 1,048,576 anonymous pages alone
   are on the source node (the case its whole-pair batch takes).
6. ``touch``: the first touch of 65,536 and 1,048,576 pages (a token page stored in each,
   Kernel.store_tokens) page by page (``reference``) and on arrays (``batch``), in both
   contents, with the ratio to the copy of the same bytes.
7. ``fork``: fork() of a 1,048,576-page process, ptes copied one by one (``reference``)
   and on arrays (``batch``).

``--quick`` divides the page counts by 16 and the model sizes by 64, to try the script.
A measurement that fails (for instance a model that does not fit) is recorded with its
error instead of stopping the run.
"""

from __future__ import annotations

import argparse
import inspect
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

PAGE = 4096
PATTERN = 0xABCD000000000000
TOUCH_PIECE = 1 << 18  # pages a store_tokens() request of the bench covers
SCALE_ROUNDS = 5  # round trips of (4); the median one is reported


# -- one measurement, in its own process ------------------------------------------------

def _kernel(mem_per_node_mb: int, profile: str, contents: str):  # noqa: ANN202
    from pagemig import Kernel, Topology

    return Kernel(Topology(nodes=2, mem_per_node_mb=mem_per_node_mb), profile,
                  contents=contents)


def _touch(k, task, addr: int, npages: int) -> float:  # noqa: ANN001
    """Store a distinct token page in each page (the fault path); seconds."""
    t0 = time.perf_counter()
    if hasattr(k, "store_tokens"):  # requests of many pages (faulted in on arrays)
        for lo in range(0, npages, TOUCH_PIECE):  # the tokens made a piece at a time, so
            hi = min(npages, lo + TOUCH_PIECE)    # that they do not count as the model's
            k.store_tokens(task, addr + lo * PAGE,
                           np.uint64(PATTERN) ^ np.arange(lo, hi, dtype=np.uint64))
    else:
        for i in range(npages):
            k.store_token(task, addr + i * PAGE, PATTERN ^ i)
    return time.perf_counter() - t0


def _copy_rate(npages: int) -> float:
    """Pages per second of np.copyto of ``npages`` pages into a destination written before."""
    src = np.arange(npages * PAGE // 8, dtype=np.uint64)
    dst = np.ones_like(src)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return npages / best


def _paths() -> list[str]:
    """The migration paths this model has (``path=`` of Kernel.move_pages)."""
    from pagemig import Kernel

    return ["reference", "batch"] if "path" in inspect.signature(Kernel.move_pages).parameters \
        else ["reference"]


def _move_once(k, task, addrs: np.ndarray, node: int, path: str) -> tuple[int, float]:  # noqa: ANN001
    """One move_pages(2) of ``addrs`` to ``node``, arrays placed in the task's memory as a
    program would: (return value, seconds of the system call alone)."""
    from pagemig.kernel import UserArrays
    from pagemig.mm.mempolicy import MPOL_MF_MOVE

    n = len(addrs)
    if hasattr(k, "set_migrate_path"):
        k.set_migrate_path(path)
    with UserArrays(k, task, [8 * n, 4 * n, 4 * n]) as (pp, np_, sp):
        # The kernel's own stores of argument arrays work with either contents; the status
        # array is written too, as a program sets it up (the probe zeroes it).
        k._write_user(task, pp, addrs.astype("<u8").tobytes())
        k._write_user(task, np_, np.full(n, node, "<i4").tobytes())
        k._write_user(task, sp, np.zeros(n, "<i4").tobytes())
        t0 = time.perf_counter()
        ret = k.sys_move_pages(task, 0, n, pp, np_, sp, MPOL_MF_MOVE)
        seconds = time.perf_counter() - t0
        taken = getattr(k, "move_pages_path", "reference")
        if taken != path and path != "auto":
            raise RuntimeError(f"asked for the {path} path, the call took {taken}")
        return ret, seconds


def measure_mixed(npages: int, profile: str, contents: str = "bytes",
                  pinned: int = 16) -> dict[str, Any]:
    """(1, mixed calls): move_pages(2) of ``npages`` pages there and back, ``pinned`` of
    them (spread evenly) pinned so that they cannot move: the others move in runs on
    arrays, the pinned ones page by page (path "mixed")."""
    mb = max(256, npages * PAGE * 5 // 4 // 2**20 + 256)
    k = _kernel(mb, profile, contents)
    task = k.spawn()
    addr = k.mmap(task, npages * PAGE)
    _touch(k, task, addr, npages)
    step = npages // pinned
    for i in range(pinned):
        k.pin(task, addr + (i * step + step // 2) * PAGE, 1)
    addrs = addr + PAGE * np.arange(npages, dtype=np.uint64)
    row: dict[str, Any] = {"pages": npages, "profile": profile, "contents": contents,
                           "pinned": pinned}
    # There (into fresh frames), back (the pinned pages are home: a simple call), and
    # there again (into frames used before).
    for label, node in (("0->1", 1), ("1->0", 0), ("0->1 again", 1)):
        copy = _copy_rate(npages)
        ret, seconds = _move_once(k, task, addrs, node, "auto")
        row[label] = {"ret": ret, "ran": getattr(k, "move_pages_path", "reference"),
                      "seconds": seconds, "pages_per_s": npages / seconds,
                      "copy_pages_per_s": copy, "ratio_to_copy": npages / seconds / copy}
    return row


def measure_move(npages: int, contents: str, path: str, profile: str) -> dict[str, Any]:
    """(1) and (2): one move there and one back, on a model with room for the pages."""
    mb = max(256, npages * PAGE * 5 // 4 // 2**20 + 256)
    k = _kernel(mb, profile, contents)
    task = k.spawn()
    addr = k.mmap(task, npages * PAGE)
    touch_s = _touch(k, task, addr, npages)
    addrs = addr + PAGE * np.arange(npages, dtype=np.uint64)
    row: dict[str, Any] = {"pages": npages, "contents": contents, "path": path,
                           "profile": profile, "touch_s": touch_s}
    for direction, node in (("0->1", 1), ("1->0", 0)):
        # The copy is timed just before each move, so that both see the same machine load.
        copy = _copy_rate(npages)
        ret, sec = _move_once(k, task, addrs, node, path)
        row[direction] = {"ret": ret, "seconds": sec, "pages_per_s": npages / sec,
                          "copy_pages_per_s": copy, "ratio_to_copy": npages / sec / copy}
    bad = sum(k.load_token(task, addr + i * PAGE) != PATTERN ^ i
              for i in range(0, npages, max(1, npages // 4096)))
    row["content_mismatches_in_sample"] = int(bad)
    return row


def measure_boot(mem_per_node_mb: int, share: float) -> dict[str, Any]:
    """(3): boot time and peak RSS per frame of a two-node tag model, some pages touched."""
    t0 = time.perf_counter()
    k = _kernel(mem_per_node_mb, "2.6.27", "tag")
    boot_s = time.perf_counter() - t0
    frames = 2 * mem_per_node_mb * 2**20 // PAGE
    npages = 64 if share == 0 else int(frames * share)
    task = k.spawn()
    addr = k.mmap(task, npages * PAGE)
    touch_s = _touch(k, task, addr, npages)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"mem_per_node_mb": mem_per_node_mb, "frames": frames, "touched": npages,
            "boot_s": boot_s, "touch_s": touch_s, "peak_rss": rss, **_held_bytes(k)}


def _held_bytes(k) -> dict[str, int]:  # noqa: ANN001
    """The model's own arrays: page metadata (struct page columns and the free stacks),
    page contents (tokens) and page tables, in bytes."""
    meta = k.pages.nbytes() + sum(z.free_stack.nbytes for z in k.zones)
    tables = sum(t.nbytes for task in k.tasks.values() if task.mm is not None
                 for t in task.mm.pgtables.values())
    return {"metadata_bytes": int(meta), "contents_bytes": int(getattr(k.frames, "tokens",
            np.zeros(0)).nbytes), "pgtable_bytes": int(tables)}


def measure_bytes_model(mem_per_node_mb: int, npages: int) -> dict[str, Any]:
    """A ``bytes`` model larger than this host with ``npages`` pages touched: boot, touch,
    move every page to node 1 and back, check every page's contents."""
    t0 = time.perf_counter()
    k = _kernel(mem_per_node_mb, "2.6.27", "bytes")
    boot_s = time.perf_counter() - t0
    task = k.spawn()
    addr = k.mmap(task, npages * PAGE)
    touch_s = _touch(k, task, addr, npages)
    addrs = addr + PAGE * np.arange(npages, dtype=np.uint64)
    moves = [_move_once(k, task, addrs, node, "auto") for node in (1, 0)]
    bad = sum(k.load_token(task, addr + i * PAGE) != PATTERN ^ i for i in range(npages))
    return {"mem_per_node_mb": mem_per_node_mb, "pages": npages, "boot_s": boot_s,
            "touch_s": touch_s, "rets": [r for r, _ in moves],
            "move_s": [sec for _, sec in moves], "content_mismatches": int(bad),
            "total_s": time.perf_counter() - t0,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def measure_scale(mem_per_node_mb: int, npages: int) -> dict[str, Any]:
    """(4): ``npages`` pages moved there and back on a model of that size; with the boot
    time, the time of the whole measurement and the peak RSS (the 1 TiB target)."""
    t0 = time.perf_counter()
    k = _kernel(mem_per_node_mb, "2.6.27", "tag")
    boot_s = time.perf_counter() - t0
    task = k.spawn()
    addr = k.mmap(task, npages * PAGE)
    _touch(k, task, addr, npages)
    addrs = addr + PAGE * np.arange(npages, dtype=np.uint64)
    path = _paths()[-1]
    there, back = [], []
    for _ in range(SCALE_ROUNDS):
        there.append(_move_once(k, task, addrs, 1, path)[1])
        back.append(_move_once(k, task, addrs, 0, path)[1])
    median = statistics.median(t + b for t, b in zip(there, back, strict=True))
    return {"mem_per_node_mb": mem_per_node_mb, "pages": npages, "path": path,
            "there_s": there, "back_s": back, "pages_per_s": 2 * npages / median,
            "boot_s": boot_s, "total_s": time.perf_counter() - t0,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def measure_process(npages: int) -> dict[str, Any]:
    """(5): migrate_pages(2) of a whole process of ``npages`` pages there and back; fork."""
    mb = max(256, npages * PAGE * 5 // 4 // 2**20 + 256)
    k = _kernel(mb, "2.6.27", "tag")
    task = k.spawn()
    addr = k.mmap(task, npages * PAGE)
    _touch(k, task, addr, npages)
    t0 = time.perf_counter()
    ret_there = k.migrate_pages(task, 0, [0], [1])
    there = time.perf_counter() - t0
    ran = [getattr(k, "migrate_pages_path", "reference")]
    ret_back = k.migrate_pages(task, 0, [1], [0])
    back = time.perf_counter() - t0 - there
    ran.append(getattr(k, "migrate_pages_path", "reference"))
    t1 = time.perf_counter()
    k.fork(task)
    fork_s = time.perf_counter() - t1
    return {"pages": npages, "ret": [ret_there, ret_back], "ran": ran, "there_s": there,
            "back_s": back,
            "migrate_pages_per_s": 2 * npages / (there + back), "fork_s": fork_s,
            "fork_pages_per_s": npages / fork_s}


def measure_touch(npages: int, contents: str, path: str, profile: str) -> dict[str, Any]:
    """(6): the first touch of ``npages`` pages (_touch: a token page stored in each) on
    a migration path ("reference" faults page by page), and the copy of the same bytes."""
    mb = max(256, npages * PAGE * 5 // 4 // 2**20 + 256)
    k = _kernel(mb, profile, contents)
    if hasattr(k, "set_migrate_path"):
        k.set_migrate_path(path)
    task = k.spawn()
    addr = k.mmap(task, npages * PAGE)
    touch_s = _touch(k, task, addr, npages)
    copy = _copy_rate(npages)
    bad = sum(k.load_token(task, addr + i * PAGE) != PATTERN ^ i
              for i in range(0, npages, max(1, npages // 4096)))
    return {"pages": npages, "contents": contents, "path": path, "profile": profile,
            "ran": getattr(k, "fault_path", "reference"), "touch_s": touch_s,
            "pages_per_s": npages / touch_s, "copy_pages_per_s": copy,
            "ratio_to_copy": npages / touch_s / copy, "content_mismatches_in_sample": bad}


def measure_fork(npages: int, path: str, profile: str) -> dict[str, Any]:
    """(7): fork() of a process of ``npages`` written pages on a migration path
    ("reference" copies the ptes one by one), and the copy of the same bytes."""
    mb = max(256, npages * PAGE * 5 // 4 // 2**20 + 256)
    k = _kernel(mb, profile, "tag")
    task = k.spawn()
    addr = k.mmap(task, npages * PAGE)
    _touch(k, task, addr, npages)
    if hasattr(k, "set_migrate_path"):
        k.set_migrate_path(path)
    t0 = time.perf_counter()
    k.fork(task)
    fork_s = time.perf_counter() - t0
    copy = _copy_rate(npages)
    return {"pages": npages, "path": path, "profile": profile,
            "ran": getattr(k, "fork_path", "reference"), "fork_s": fork_s,
            "pages_per_s": npages / fork_s, "copy_pages_per_s": copy,
            "ratio_to_copy": npages / fork_s / copy}


def measure_anon_migrate(npages: int, profile: str = "2.6.27") -> dict[str, Any]:
    """(5, the batch path): migrate_pages(2) of a process whose anonymous pages alone are
    on the source node (moved there by move_pages first; its program image stays)."""
    mb = max(256, npages * PAGE * 5 // 4 // 2**20 + 256)
    k = _kernel(mb, profile, "tag")
    task = k.spawn()
    addr = k.mmap(task, npages * PAGE)
    _touch(k, task, addr, npages)
    addrs = addr + PAGE * np.arange(npages, dtype=np.uint64)
    seconds, paths = [], []
    for _ in range(2):
        _move_once(k, task, addrs, 1, "auto")
        t0 = time.perf_counter()
        ret = k.migrate_pages(task, 0, [1], [0])
        seconds.append(time.perf_counter() - t0)
        paths.append(getattr(k, "migrate_pages_path", "reference"))
        assert ret == 0
    best = min(seconds)
    copy = _copy_rate(npages)
    return {"pages": npages, "profile": profile, "seconds": seconds, "ran": paths,
            "pages_per_s": npages / best, "copy_pages_per_s": copy,
            "ratio_to_copy": npages / best / copy}


MEASURES = {"move": measure_move, "boot": measure_boot, "scale": measure_scale,
            "bytes_model": measure_bytes_model, "process": measure_process,
            "touch": measure_touch, "fork": measure_fork, "anon_migrate": measure_anon_migrate,
            "mixed": measure_mixed,
            "paths": lambda: {"paths": _paths()}}


# -- the run ------------------------------------------------------------------------------

def run_one(name: str, **kw: Any) -> dict[str, Any]:
    """Run one measurement in a fresh process; its JSON object, or its error."""
    cmd = [sys.executable, __file__, "--one", name, "--kw", json.dumps(kw)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    row = {"measure": name, **kw, "wall_s": time.perf_counter() - t0}
    if proc.returncode:
        row["error"] = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return row
    row.update(json.loads(proc.stdout))
    return row


def plan(quick: bool) -> list[tuple[str, dict[str, Any]]]:
    """Every measurement of the run, in order."""
    div, mdiv = (16, 64) if quick else (1, 1)
    steps: list[tuple[str, dict[str, Any]]] = []
    for path in run_one("paths")["paths"]:
        for contents in ("bytes", "tag"):
            for npages in (262144 // div, 1048576 // div):
                for profile in ("2.6.27", "6.1"):
                    steps.append(("move", {"npages": npages, "contents": contents,
                                           "path": path, "profile": profile}))
    tiny = ("boot", {"mem_per_node_mb": 128, "share": 0.0})
    steps.append(tiny)
    for gib, shares in ((1, (0.0, 0.5, 0.95)), (64, (0.0, 0.5, 0.95)), (1024, (0.0,))):
        for share in shares:
            steps.append(("boot", {"mem_per_node_mb": max(128, gib * 512 // mdiv),
                                   "share": share}))
    for gib in (1, 256, 1024):
        steps.append(("scale", {"mem_per_node_mb": max(128, gib * 512 // mdiv),
                                "npages": 65536 // div}))
    steps.append(("bytes_model", {"mem_per_node_mb": 128 * 1024 // mdiv,
                                  "npages": 262144 // div}))
    for profile in ("2.6.27", "6.1"):
        steps.append(("mixed", {"npages": 1048576 // div, "profile": profile}))
    steps.append(("process", {"npages": 1048576 // div}))
    for profile in ("2.6.27", "6.1"):
        steps.append(("anon_migrate", {"npages": 1048576 // div, "profile": profile}))
    for path in ("reference", "batch"):
        for contents in ("bytes", "tag"):
            for npages in (65536 // div, 1048576 // div):
                steps.append(("touch", {"npages": npages, "contents": contents,
                                        "path": path, "profile": "2.6.27"}))
        steps.append(("fork", {"npages": 1048576 // div, "path": path, "profile": "2.6.27"}))
    return steps


def _size(mem_per_node_mb: int) -> str:
    """A two-node model's size for people."""
    mb = 2 * mem_per_node_mb
    return f"{mb // 1024} GiB" if mb >= 1024 else f"{mb} MiB"


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, bool | None]]:
    """The issue's targets against the rows: (target, measured, goal, met or None)."""
    ok = [r for r in rows if "error" not in r]
    out: list[tuple[str, str, str, bool | None]] = []

    def ratios(path: str, contents: str) -> list[float]:
        return [r[d]["ratio_to_copy"] for r in ok if r["measure"] == "move"
                and r["path"] == path and r["contents"] == contents for d in ("0->1", "1->0")]

    for label, path, goal in (("batch move_pages, bytes", "batch", 0.3),
                              ("per-page move_pages, bytes", "reference", 0.02)):
        got = ratios(path, "bytes")
        if got:
            out.append((label, f"{min(got):.3f}-{max(got):.3f} x copy", f">= {goal} x copy",
                        min(got) >= goal))
    boots = [r for r in ok if r["measure"] == "boot" and "metadata_bytes" in r]
    if boots:
        base = min(boots, key=lambda r: r["frames"])
        meta = max(r["metadata_bytes"] / r["frames"] for r in boots)
        out.append(("metadata per frame", f"{meta:.1f} B", "<= 48 B", meta <= 48))
        for r in boots:
            if r["touched"] >= 0.9 * r["frames"] and r["frames"] > base["frames"]:
                told = (r["peak_rss"] - base["peak_rss"]) / r["frames"]
                out.append((f"all told, {_size(r['mem_per_node_mb'])} 95 % touched",
                            f"{told:.1f} B/frame", "<= 64 B", told <= 64))
    scale = {r["mem_per_node_mb"]: r for r in ok if r["measure"] == "scale"}
    sizes = sorted(scale)  # 1 GiB, 256 GiB, 1 TiB (each / 64 with --quick)
    if len(sizes) >= 2:
        small, big = sizes[0], sizes[1]
        ratio = scale[small]["pages_per_s"] / scale[big]["pages_per_s"]
        out.append((f"cost, {_size(big)} / {_size(small)} model",
                    f"{ratio:.2f}", "<= 1.2", ratio <= 1.2))
        tib = scale[sizes[-1]]
        out.append((f"{_size(sizes[-1])} tag: boot, touch, 10 moves",
                    f"{tib['total_s']:.1f} s, {tib['peak_rss'] / 2**30:.1f} GiB",
                    "< 30 s, < 16 GiB", tib["total_s"] < 30 and tib["peak_rss"] < 16 * 2**30))
    for r in ok:
        if r["measure"] == "bytes_model":
            out.append((f"{_size(r['mem_per_node_mb'])} bytes, "
                        f"{r['pages'] * PAGE // 2**20} MiB touched, every page moved",
                        f"rets {r['rets']}, {r['content_mismatches']} bad pages",
                        "0, 0 bad", r["rets"] == [0, 0] and r["content_mismatches"] == 0))
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Pages per second of each move row, and bytes per frame of each boot row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    moves = [r for r in rows if r["measure"] == "move" and "error" not in r]
    labels = [f"{r['npages'] // 1024}K {r['contents']}\n{r['path']} {r['profile']}"
              for r in moves]
    x = np.arange(len(moves))
    left.bar(x - 0.2, [r["0->1"]["pages_per_s"] for r in moves], 0.4,
             label="node 0 to 1 (first move: fresh frames)")
    left.bar(x + 0.2, [r["1->0"]["pages_per_s"] for r in moves], 0.4, label="node 1 to 0")
    left.set_xticks(x, labels, fontsize=6, rotation=90)
    left.set_ylabel("move_pages, pages/s")
    left.set_yscale("log")
    left.legend(fontsize=7)
    boots = [r for r in rows if r["measure"] == "boot" and "error" not in r]
    base = min((r["peak_rss"] for r in boots), default=0)
    right.bar(range(len(boots)), [(r["peak_rss"] - base) / r["frames"] for r in boots])
    right.set_xticks(range(len(boots)), [f"{_size(r['mem_per_node_mb'])}\n"
                                         f"{r['touched']} touched" for r in boots],
                     fontsize=6, rotation=90)
    right.set_ylabel("bytes per frame (peak RSS above the smallest model)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def show_targets(rows: list[tuple[str, str, str, bool | None]]) -> None:
    """The targets as a table on standard error."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="issue targets")
    for col in ("target", "measured", "goal", "met"):
        table.add_column(col)
    for name, got, goal, met in rows:
        table.add_row(name, got, goal, {True: "yes", False: "NO", None: "-"}[met])
    Console(stderr=True).print(table)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1/16 of the pages, 1/64 of the sizes")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--only", action="append", choices=sorted(set(MEASURES) - {"paths"}),
                    help="run only these measurements (repeatable; default: all)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--kw", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(MEASURES[args.one](**json.loads(args.kw))))
        return 0
    from rich.progress import Progress

    rows = []
    steps = [(name, kw) for name, kw in plan(args.quick)
             if not args.only or name in args.only]
    with Progress(transient=True) as bar:
        task = bar.add_task("measuring", total=len(steps))
        for name, kw in steps:
            bar.update(task, description=f"{name} {kw}")
            rows.append(run_one(name, **kw))
            bar.advance(task)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / (f"migrate-{platform.node()}-{date.today()}"
                       f"{'-quick' if args.quick else ''}"
                       f"{''.join('-' + name for name in sorted(args.only or []))}")
    stem.with_suffix(".json").write_text(json.dumps(
        {"rows": rows, "targets": targets(rows)}, indent=1) + "\n")
    plot(rows, stem.with_suffix(".png"))
    for r in rows:
        print(json.dumps(r))
    show_targets(targets(rows))
    print(f"written: {stem}.json and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
