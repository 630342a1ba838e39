#!/usr/bin/env python3
"""Bytes of metadata per page frame of the pagemig model (run by hand, not by pytest).

What is measured
----------------
metadata bytes/frame = (peak RSS - bytes of page contents held - baseline RSS) / frames

- *baseline RSS*: ``VmRSS`` of this process after importing numpy, pagemig and everything
  this script uses, before the Kernel is built.
- *peak RSS*: ``VmHWM`` (the high-water mark of RSS) at the end of the run, read from
  /proc/self/status.  The final ``VmRSS`` is shown too.
- *frames*: ``k.pages.nr_pages``, every frame the model has a ``struct page`` for.
- *bytes of page contents held*: the memory the OS committed for the frame store
  (``k.frames.data``, an anonymous MAP_NORESERVE mapping of ``nr_pages x 4096`` bytes that
  the OS commits as frames are written; the store counts them in ``k.frames.frames_held``
  and gives a frame's memory back when it is zeroed, so the derivations below are upper
  bounds).  Two derivations are reported:

  1. **by reasoning** (no mincore): a frame's contents are written only when it is
     allocated (anonymous faults allocate with __GFP_ZERO and clear the frame, page-cache
     pages are filled, migration targets receive a copy), and a freed frame stays
     committed; so *frames ever written = frames allocated at any time*, boot included.
     The script counts them with a ``Kernel`` subclass whose ``trace()`` override sets a
     bit per ``mm_page_alloc`` event (the override only observes; the bitmap, nr_pages/8
     bytes, is subtracted from RSS as instrument overhead).  Held bytes = frames x 4096.
  2. **measured** with mincore(2) over the frame store's address range: the 4 KiB OS
     pages resident there, x 4096.  This is what RSS actually contains.

  The two agree only if the OS commits memory 4 KiB at a time.  numpy madvise()s large
  arrays MADV_HUGEPAGE, so with transparent hugepages in "madvise" or "always" mode one
  written frame commits a whole 2 MiB huge page; the slack is then counted as contents
  by (2) and as metadata by (1).  The headline figure uses (2), the definition ("frames
  whose content the OS committed"); (1) is printed next to it.  ``--thp off`` turns
  numpy's hugepage madvise off before the Kernel is built, to show the difference.

How pages are touched
---------------------
One spawned process per memory node, each running on that node's first CPU, maps one
large private anonymous region and writes every page of it through ``Kernel.write_user``
(the model's real fault path: do_page_fault -> do_anonymous_page -> alloc_page_vma), a
chunk of whole pages per call.  Nothing is poked into the model's arrays.  The first 4096
pages are timed and the total time extrapolated (printed on stderr) before the rest runs.

The breakdown lists, with virtual size and resident size (mincore) where the object is a
large numpy array: the frame store, the PageArrays columns (``k.pages.nbytes()``), the
zones' free-list stacks, the page tables of every mm (``mm.pgtables``: data + numpy object
overhead + dict), other known arrays (pagevecs, zone counters, page-cache slot arrays) and
the rest (Python objects, allocator slack) as "other".
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import pagemig
from pagemig import Kernel, Topology

PAGE_SIZE = 4096
MIB = 1 << 20
OS_PAGE = os.sysconf("SC_PAGE_SIZE")


# -- process memory --------------------------------------------------------------------------

def proc_status_kib(field_name: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM, ...), in KiB."""
    with open("/proc/self/status") as f:
        m = re.search(rf"^{field_name}:\s+(\d+) kB", f.read(), re.M)
    if m is None:
        raise RuntimeError(f"{field_name} not in /proc/self/status")
    return int(m.group(1))


def anon_huge_kib() -> int | None:
    """AnonHugePages of the whole process (/proc/self/smaps_rollup), or None."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            m = re.search(r"^AnonHugePages:\s+(\d+) kB", f.read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    libc.mincore.restype = ctypes.c_int
    return libc


def resident_bytes(libc: ctypes.CDLL, addr: int, nbytes: int) -> int:
    """Bytes of the OS pages covering [addr, addr+nbytes) that are resident (mincore(2))."""
    if nbytes <= 0:
        return 0
    start = addr & ~(OS_PAGE - 1)
    end = (addr + nbytes + OS_PAGE - 1) & ~(OS_PAGE - 1)
    n = (end - start) // OS_PAGE
    vec = np.zeros(n, np.uint8)
    if libc.mincore(start, end - start, vec.ctypes.data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), "mincore")
    return int(np.count_nonzero(vec & 1)) * OS_PAGE


def array_resident(libc: ctypes.CDLL, a: np.ndarray) -> int:
    """Resident bytes of a (large, contiguous) numpy array's buffer."""
    return resident_bytes(libc, a.ctypes.data, a.nbytes)


def numpy_hugepage(enable: bool | None) -> bool | None:
    """Query (enable None) or set numpy's MADV_HUGEPAGE switch; returns the value in force."""
    try:
        from numpy._core import multiarray as ma  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray as ma  # type: ignore[no-redef]
    setter = getattr(ma, "_set_madvise_hugepage", None)
    if setter is None:
        return None
    prev = bool(setter(True))
    setter(prev if enable is None else enable)
    return prev if enable is None else enable


def thp_mode() -> str:
    """The system's transparent hugepage mode, e.g. 'madvise'."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            m = re.search(r"\[(\w+)\]", f.read())
        return m.group(1) if m else "?"
    except OSError:
        return "n/a"


# -- the model with an allocation observer ---------------------------------------------------

class AllocTrackingKernel(Kernel):
    """A Kernel that records, in a bitmap, every frame ever allocated (mm_page_alloc).

    It changes no behaviour: ``trace()`` is the engine's tracepoint hook and is called on
    every allocation whether or not tracing is on; the override observes and delegates.
    """

    def __init__(self, topology: Topology) -> None:
        self.alloc_bits: bytearray | None = None
        super().__init__(topology)

    def trace(self, event: str, **fields: Any) -> None:
        if event == "mm_page_alloc":
            bits = self.alloc_bits
            if bits is None:
                bits = self.alloc_bits = bytearray((self.pages.nr_pages + 7) // 8)
            pfn = fields["pfn"]
            bits[pfn >> 3] |= 1 << (pfn & 7)
        super().trace(event, **fields)

    def frames_ever_allocated(self) -> int:
        """How many distinct frames were allocated at least once since boot."""
        if self.alloc_bits is None:
            return 0
        return int.from_bytes(self.alloc_bits, "little").bit_count()


# -- touching pages --------------------------------------------------------------------------

def chunk_data(first_page: int, npages: int) -> bytes:
    """Contents for ``npages`` whole pages: 64-bit words numbering themselves (nonzero)."""
    start = first_page * (PAGE_SIZE // 8) + 1
    return np.arange(start, start + npages * (PAGE_SIZE // 8), dtype="<u8").tobytes()


@dataclass
class TouchStats:
    pages: int = 0
    seconds: float = 0.0
    estimate_s: float = 0.0
    per_process: list[int] = field(default_factory=list)


def touch_pages(k: Kernel, total: int, chunk: int, log: Any) -> TouchStats:
    """Write ``total`` anonymous pages through the fault path, split over one process per
    memory node (each on that node's first CPU)."""
    nodes = [n for n in k.nodes if n.has_memory]
    share = [total // len(nodes) + (1 if i < total % len(nodes) else 0)
             for i in range(len(nodes))]
    stats = TouchStats(per_process=share)
    procs = []
    for node, npages in zip(nodes, share, strict=True):
        p = k.spawn(comm=f"toucher{node.nid}", cpu=node.cpus[0] if node.cpus else 0)
        addr = k.mmap(p, npages * PAGE_SIZE) if npages else 0
        procs.append((p, addr, npages))
    t0 = time.perf_counter()
    done = 0
    next_report = 0.0
    for p, addr, npages in procs:
        for first in range(0, npages, chunk):
            n = min(chunk, npages - first)
            k.write_user(p, addr + first * PAGE_SIZE, chunk_data(done, n))
            done += n
            elapsed = time.perf_counter() - t0
            if stats.estimate_s == 0.0 and (done >= min(total, 4096) or done == total):
                stats.estimate_s = elapsed / done * total
                log(f"first {done} pages in {elapsed:.3f} s ({elapsed / done * 1e6:.1f} us/page)"
                    f"; extrapolated time for {total} pages: {stats.estimate_s:.0f} s")
            if done / total >= next_report:
                log(f"touched {done}/{total} pages ({100 * done / total:.0f}%), "
                    f"{elapsed:.1f} s, VmRSS {proc_status_kib('VmRSS') // 1024} MiB")
                next_report += 0.1
    stats.pages = done
    stats.seconds = time.perf_counter() - t0
    return stats


# -- accounting ------------------------------------------------------------------------------

@dataclass
class Component:
    name: str
    virtual: int
    resident: int


def page_table_bytes(k: Kernel) -> tuple[int, int, int]:
    """(tables, data bytes, bytes incl. ndarray objects and dicts) over every distinct mm."""
    seen: set[int] = set()
    tables = data = total = 0
    for task in k.tasks.values():
        mm = task.mm
        if mm is None or id(mm) in seen:
            continue
        seen.add(id(mm))
        tables += len(mm.pgtables)
        total += sys.getsizeof(mm.pgtables)
        for t in mm.pgtables.values():
            data += t.nbytes
            total += sys.getsizeof(t)  # object header + owned buffer
    return tables, data, total


def breakdown(k: Kernel, libc: ctypes.CDLL) -> list[Component]:
    """Where the model's memory is: virtual and resident bytes of its big parts."""
    p = k.pages
    cols: list[np.ndarray] = [p.flags, p.count, p.mapcount, p.mapping, p.index, p.private,
                              p.lru, p.lru_seq, p.memcg]
    comps = [Component("frame store (contents)", k.frames.data.nbytes,
                       array_resident(libc, k.frames.data)),
             Component("PageArrays columns", p.nbytes(),
                       sum(array_resident(libc, c) for c in cols))]
    stacks = [z.free_stack for z in k.zones]
    comps.append(Component("free-list stacks", sum(s.nbytes for s in stacks),
                           sum(array_resident(libc, s) for s in stacks)))
    _, _, pt_total = page_table_bytes(k)
    comps.append(Component("page tables (mm.pgtables)", pt_total, pt_total))
    known = k.pvecs.nbytes + k.pvec_len.nbytes + k.zone_stat.nbytes
    for space in k.address_spaces.values():
        for name in ("page_tree", "tag_dirty", "tag_writeback"):
            a = getattr(space, name, None)
            if isinstance(a, np.ndarray):
                known += a.nbytes
    comps.append(Component("pagevecs, zone counters, page-cache slots", known, known))
    return comps


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("pagemig")
    except Exception:  # noqa: BLE001 - a version string is informative only
        return getattr(pagemig, "__version__", "?")


# -- the run ---------------------------------------------------------------------------------

def run(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    libc = _libc()
    baseline_rss = proc_status_kib("VmRSS") * 1024
    baseline_hwm = proc_status_kib("VmHWM") * 1024
    log(f"baseline after imports: VmRSS {baseline_rss / MIB:.1f} MiB, "
        f"VmHWM {baseline_hwm / MIB:.1f} MiB")
    if args.thp == "off":
        numpy_hugepage(False)
    hugepage = numpy_hugepage(None)

    topo = Topology(nodes=args.nodes, mem_per_node_mb=args.mem_per_node_mb)
    t0 = time.perf_counter()
    k = AllocTrackingKernel(topo)
    boot_s = time.perf_counter() - t0
    nr = k.pages.nr_pages
    boot_rss = proc_status_kib("VmRSS") * 1024
    log(f"booted {topo.nodes} x {topo.mem_per_node_mb} MiB ({nr} frames) in {boot_s:.2f} s; "
        f"VmRSS {boot_rss / MIB:.1f} MiB")

    to_touch = int(round(nr * args.touch_fraction))
    touch = touch_pages(k, to_touch, args.chunk_pages, log)
    log(f"touched {touch.pages} pages in {touch.seconds:.1f} s "
        f"({touch.seconds / max(1, touch.pages) * 1e6:.1f} us/page)")

    peak = proc_status_kib("VmHWM") * 1024
    final_rss = proc_status_kib("VmRSS") * 1024
    comps = breakdown(k, libc)
    ever = k.frames_ever_allocated()
    in_use = nr - k.nr_free_pages()
    instrument = len(k.alloc_bits or b"")
    frame_resident = comps[0].resident
    held_measured = frame_resident
    held_reasoned = ever * PAGE_SIZE

    def per_frame(held: int, rss: int) -> float:
        return (rss - held - baseline_rss - instrument) / nr

    accounted = sum(c.resident for c in comps)
    other = peak - baseline_rss - instrument - accounted
    tables, pt_data, _ = page_table_bytes(k)
    result: dict[str, Any] = {
        "pagemig": _version(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "thp_mode": thp_mode(),
        "numpy_madvise_hugepage": hugepage,
        "topology": {"nodes": topo.nodes, "mem_per_node_mb": topo.mem_per_node_mb},
        "frames": nr,
        "pages_touched_by_user": touch.pages,
        "touch_fraction": touch.pages / nr,
        "frames_in_use_now": in_use,
        "frames_ever_allocated": ever,
        "boot_seconds": boot_s,
        "touch_seconds": touch.seconds,
        "touch_us_per_page": touch.seconds / max(1, touch.pages) * 1e6,
        "touch_estimate_seconds": touch.estimate_s,
        "baseline_rss": baseline_rss,
        "rss_after_boot": boot_rss,
        "peak_rss": peak,
        "final_rss": final_rss,
        "instrument_bytes": instrument,
        "anon_huge_pages": (anon_huge_kib() or 0) * 1024,
        "contents_held_measured": held_measured,
        "contents_held_reasoned": held_reasoned,
        "metadata_bytes_per_frame": per_frame(held_measured, peak),
        "metadata_bytes_per_frame_reasoned": per_frame(held_reasoned, peak),
        "metadata_bytes_per_frame_final_rss": per_frame(held_measured, final_rss),
        "target_bytes_per_frame": 48,
        "page_tables": {"tables": tables, "data_bytes": pt_data},
        "breakdown": [asdict(c) for c in comps]
        + [{"name": "other (Python objects, allocator, transients)", "virtual": None,
            "resident": other}],
    }
    return result


def print_table(r: dict[str, Any], out: Any) -> None:
    nr = r["frames"]
    topo = r["topology"]
    w = out.write
    w(f"pagemig metadata per page frame: {topo['nodes']} x {topo['mem_per_node_mb']} MiB, "
      f"{nr} frames\n")
    w(f"  python {r['python']}, numpy {r['numpy']}, THP {r['thp_mode']}, numpy MADV_HUGEPAGE "
      f"{r['numpy_madvise_hugepage']}\n")
    w(f"  pages touched by user writes: {r['pages_touched_by_user']} "
      f"({100 * r['touch_fraction']:.1f}% of frames) in {r['touch_seconds']:.1f} s "
      f"({r['touch_us_per_page']:.1f} us/page; first-chunk estimate "
      f"{r['touch_estimate_seconds']:.0f} s)\n")
    w(f"  frames not free now (reserved included) {r['frames_in_use_now']}, "
      f"frames ever allocated {r['frames_ever_allocated']}\n\n")
    rows = [("baseline VmRSS (numpy + pagemig imported)", r["baseline_rss"]),
            ("VmRSS after boot", r["rss_after_boot"]),
            ("peak VmHWM", r["peak_rss"]),
            ("final VmRSS", r["final_rss"]),
            ("AnonHugePages (whole process)", r["anon_huge_pages"]),
            ("contents held, measured (mincore of frame store)", r["contents_held_measured"]),
            ("contents held, reasoned (frames ever allocated x 4096)",
             r["contents_held_reasoned"]),
            ("instrument (allocation bitmap), subtracted", r["instrument_bytes"])]
    for name, v in rows:
        w(f"  {name:<58} {v / MIB:>10.1f} MiB\n")
    w("\n  breakdown                                         virtual MiB  resident MiB"
      "  resident B/frame\n")
    for c in r["breakdown"]:
        virt = "" if c["virtual"] is None else f"{c['virtual'] / MIB:.1f}"
        w(f"  {c['name']:<48} {virt:>12} {c['resident'] / MIB:>13.1f} "
          f"{c['resident'] / nr:>17.2f}\n")
    w("\n")
    w(f"  METADATA BYTES PER FRAME (peak, contents measured): "
      f"{r['metadata_bytes_per_frame']:.2f}   (target <= {r['target_bytes_per_frame']})\n")
    w(f"  same with contents reasoned (ever allocated):        "
      f"{r['metadata_bytes_per_frame_reasoned']:.2f}\n")
    w(f"  same at final VmRSS, contents measured:              "
      f"{r['metadata_bytes_per_frame_final_rss']:.2f}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=2, help="memory nodes (default 2)")
    ap.add_argument("--mem-per-node-mb", type=int, default=4096,
                    help="MiB per node (default 4096)")
    ap.add_argument("--touch-fraction", type=float, default=0.5,
                    help="fraction of all frames to write-touch from user space (default 0.5)")
    ap.add_argument("--chunk-pages", type=int, default=256,
                    help="pages written per write_user call (default 256)")
    ap.add_argument("--thp", choices=("default", "off"), default="default",
                    help="'off': disable numpy's MADV_HUGEPAGE before the Kernel is built")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = ap.parse_args(argv)
    if not 0 < args.touch_fraction <= 0.95:
        ap.error("--touch-fraction must be in (0, 0.95]")
    if args.chunk_pages < 1:
        ap.error("--chunk-pages must be >= 1")

    def log(msg: str) -> None:
        print(f"[metadata] {msg}", file=sys.stderr, flush=True)

    result = run(args, log)
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        print_table(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
