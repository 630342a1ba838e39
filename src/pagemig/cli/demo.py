"""``pagemig demo``: a short, readable walk-through of one move_pages(2) call.

Two processes (the probe and a forked child) hold private, copy-on-write shared, shmem and
pinned pages; one move_pages() call asks for all of them on node 1.  The demo runs the
scenario shipped as ``pagemig/demo/demo.scn`` through the same runner as ``pagemig run``,
and prints the per-node tables before and after (numastat's layout), the status array with
the reason for each value, the engine's counters, and the script that reproduces it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from importlib import resources
from typing import Any

from pagemig.backends.model import ModelBackend
from pagemig.cli.run import model_bytes, physical_memory
from pagemig.kernel import MIN_NODE_MB, Kernel, Topology
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_flags import F_DIRTY, F_PRIVATE
from pagemig.mm.profiles import PROFILES
from pagemig.script.jsonout import UNSET_STATUS, status_name
from pagemig.script.parse import Action, ScriptError, parse_script
from pagemig.script.runner import Runner

ROWS = [("MemFree", ZoneStat.NR_FREE_PAGES), ("Active", ZoneStat.NR_ACTIVE),
        ("Inactive", ZoneStat.NR_INACTIVE), ("AnonPages", ZoneStat.NR_ANON_PAGES),
        ("FilePages", ZoneStat.NR_FILE_PAGES), ("Mapped", ZoneStat.NR_FILE_MAPPED)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``pagemig demo``."""
    p.add_argument("--mem-per-node", type=mem_per_node_mb, default=256, metavar="MB",
                   help=f"memory of each of the 2 nodes, {MIN_NODE_MB} to {DEMO_MAX_MB} "
                        "(default 256)")
    p.add_argument("--kernel", default="2.6.27", choices=sorted(PROFILES),
                   help="kernel profile (default 2.6.27)")


DEMO_MAX_MB = 1 << 20
"""Most memory per node the demo offers (the largest node a Topology has); the page frames'
columns of both nodes must also fit in this host's memory (checked when it boots)."""


def mem_per_node_mb(text: str) -> int:
    """The --mem-per-node value; argparse reports a bad one naming the option (exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if not MIN_NODE_MB <= value <= DEMO_MAX_MB:
        raise argparse.ArgumentTypeError(
            f"{value}: must be between {MIN_NODE_MB} and {DEMO_MAX_MB} (MB)")
    return value


def node_table(k: Kernel) -> dict[str, list[int]]:
    """Per-node values of the rows (pages), numastat -m style, plus a total column."""
    table = {}
    for name, item in ROWS:
        per_node = [int(sum(k.zone_stat[z.id, item] for z in node.zones)) for node in k.nodes]
        table[name] = per_node + [sum(per_node)]
    return table


def format_tables(before: dict[str, list[int]], after: dict[str, list[int]], nodes: int) -> str:
    """The before/after tables side by side, in pages of 4 KiB."""
    head = "".join(f"{'Node ' + str(n):>10}" for n in range(nodes)) + f"{'Total':>10}"
    lines = [f"{'(pages)':<12}{'--- before ---':>{10 * (nodes + 1)}}   "
             f"{'--- after ---':>{10 * (nodes + 1)}}",
             f"{'':<12}{head}   {head}"]
    for name, _ in ROWS:
        b = "".join(f"{v:>10}" for v in before[name])
        a = "".join(f"{v:>10}" for v in after[name])
        lines.append(f"{name:<12}{b}   {a}")
    return "\n".join(lines)


def reasons(move: dict[str, Any], events: list[tuple[str, dict[str, Any]]],
            pfn_of: dict[str, int], flags_of: dict[str, int]) -> list[str]:
    """Why each entry of the status array came out as it did."""
    isolated = {f["pfn"] for e, f in events if e == "mm_migrate_isolate" and f["ret"] == 0}
    results: dict[int, list[int]] = {}
    for e, f in events:
        if e == "mm_migrate_result":
            results.setdefault(f["pfn"], []).append(f["rc"])
    out = []
    for label, st in zip(move["items"], move["status"], strict=True):
        pfn = pfn_of.get(label, -1)
        rcs = results.get(pfn, [])
        if st == -13:
            why = "mapped by 2 processes (copy-on-write after fork); MPOL_MF_MOVE moves only " \
                  "pages mapped once (MPOL_MF_MOVE_ALL would move it)"
        elif st == -11:
            why = (f"the pipe's extra reference failed the count check of "
                   f"migrate_page_move_mapping() in all {len(rcs)} passes")
        elif st == -16:
            why = "isolate_lru_page() failed: the page is not on an LRU list"
        elif st == -2:
            why = "no page is present at that address"
        elif st == -14:
            why = "no vma at or above that address (or not migratable)"
        elif st >= 0 and pfn in isolated and flags_of.get(label, 0) & F_PRIVATE:
            dirty = "dirty" if flags_of[label] & F_DIRTY else "clean"
            why = (f"{dirty} ext2 page with buffers: 3 references after unmap (cache, buffers, "
                   f"isolation), buffer_migrate_page() moved the buffer heads to node {st}")
        elif st >= 0 and pfn in isolated:
            why = f"isolated, unmapped to migration entries, copied to node {st}, remapped"
        elif st >= 0:
            why = f"already on node {st}"
        elif st == UNSET_STATUS:
            why = ("not written: Linux 6.1 migrates runs of entries with the same target "
                   "together and, when a run fails, stops there and leaves its statuses "
                   "and those of later entries unwritten (the return value counts them)")
        else:
            why = "see SPEC §4.1"
        out.append(f"  {label:<10}{status_name(st):>8}   {why}")
    return out


def run(args: argparse.Namespace) -> int:
    """Run the demo scenario and explain it."""
    text = resources.files("pagemig").joinpath("demo/demo.scn").read_text()
    script = parse_script(text, "demo.scn")
    need, have = model_bytes(2, args.mem_per_node, 0), physical_memory()
    too_big = (f"pagemig demo: --mem-per-node {args.mem_per_node}: the model would need "
               f"about {need / 2**30:.1f} GiB of this machine's memory for the page frames' "
               "columns alone" + (f", which has {have / 2**30:.1f} GiB" if have else ""))
    if have is not None and need > have:
        print(too_big, file=sys.stderr)
        return 2
    try:
        return _run(args, text, script)
    except ScriptError as e:  # the host had no memory left for a page the scenario writes
        print(f"pagemig demo: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print(too_big, file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, text: str, script: Any) -> int:
    backend = ModelBackend(Topology(nodes=2, mem_per_node_mb=args.mem_per_node), args.kernel)
    backend.blockfs = "ext2"  # the scenario's #@ --blockfs ext2
    k = backend.k
    objs: list[dict[str, Any]] = []
    snap: dict[str, Any] = {}

    def before_move(action: Action) -> None:
        # Called after each action: keep the state just before the move_pages call.
        if "after" in snap:
            return
        if action.op != "move":
            snap["before"] = node_table(k)
            snap["log"] = k.start_trace()
            probe = runner.proc
            snap["pfns"] = {f"{m.name}[{i}]": k.page_at(probe.handle, m.addr + i * 4096)
                            for m in probe.live_maps() for i in range(m.npages)}
            snap["flags"] = {label: int(k.pages.flags[pfn]) for label, pfn in
                             snap["pfns"].items() if pfn is not None}
        else:
            snap["after"] = node_table(k)
            snap["events"] = list(k.trace_log or [])
            k.trace_log = None

    runner = Runner(backend, script, objs.append, before_move)
    runner.run()
    move = next(o for o in objs if o["op"] == "move_pages")
    placements = [o for o in objs if o["op"] == "placement"]
    events = snap["events"]
    counts = Counter(e for e, _ in events)
    passes = counts["mm_migrate_pass"]
    moved = sum(1 for e, f in events if e == "mm_migrate_result" and f["rc"] == 0)
    w = sys.stdout.write
    w("pagemig demo: one move_pages(2) call on a model of Linux 2.6.27\n")
    w(f"machine: 2 nodes x {args.mem_per_node} MiB, 1 CPU each; the probe runs on CPU 0 "
      "(node 0)\n\n")
    w("The scenario (the oracle's language; `pagemig run` prints its JSON lines):\n")
    w("".join(f"  {line}\n" for line in text.splitlines()
              if line and (line.startswith("#@") or not line.startswith("#"))))
    w("\nPages: priv (4, private), cow (2, shared copy-on-write with the child), shm (2,\n"
      "shared memory on tmpfs, not yet touched by the child), pin (2, spliced into a pipe,\n"
      "which holds an extra reference on each page), blk (2, an ext2 file: page 0 dirty\n"
      "from pwrite, page 1 written back by fsync; both carry buffer heads).\n\n")
    w(f"move_pages(pid=0, count={move['count']}, nodes=1, flags=MPOL_MF_MOVE) returned "
      f"{move['ret']} ({move['ret']} pages not migrated)\n")
    w("\n".join(reasons(move, events, snap["pfns"], snap["flags"])) + "\n\n")
    w("Per-node counters just before and just after the call (numastat's layout):\n")
    w(format_tables(snap["before"], snap["after"], len(k.nodes)) + "\n")
    w("(Pages put back go through a per-CPU pagevec of 14 entries: until it drains they are\n"
      " on no LRU list, and an old page whose last reference it holds is not yet free.)\n\n")
    w(f"engine: {counts['mm_migrate_isolate']} isolation attempts, {passes} passes of "
      f"migrate_pages(), {counts['mm_migrate_new_page']} target pages allocated, "
      f"{counts['mm_migrate_unmap']} ptes turned into migration entries, "
      f"{counts['mm_migrate_remap']} restored, {moved} pages moved\n")
    for p in placements:
        w(f"placement ({p['who']}): " + ", ".join(
            f"{name}={vals}" for name, vals in p["placement"].items()) + "\n")
    verify = [o for o in objs if o["op"] == "verify"]
    w(f"contents verified: {verify[0]['checked']} pages, {verify[0]['mismatches']} "
      "mismatches\n")
    w("\nRun it yourself: pagemig run --trace $(python -c \"import pagemig, os; "
      "print(os.path.join(os.path.dirname(pagemig.__file__), 'demo', 'demo.scn'))\")\n")
    return 0
