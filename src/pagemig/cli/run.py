"""``pagemig run SCRIPT``: run a scenario on the model, print the probe's JSON lines.

Options are read as the oracle's run.sh reads them: ``#@`` lines of the script first, then
the command line, which wins.  Exit status: 0 done, 2 a bad script, option or an action the
model does not support (``file:line: message`` on stderr).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any, BinaryIO

from pagemig.backends.model import ModelBackend
from pagemig.kernel import Topology
from pagemig.mm.physmem import host_meminfo_bytes
from pagemig.mm.profiles import PROFILES, get_profile
from pagemig.script.jsonout import dumps
from pagemig.script.parse import MAX_LINE_BYTES, Script, ScriptError, parse_script
from pagemig.script.runner import run_script


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``pagemig run``."""
    p.add_argument("script", help="scenario file (the oracle's scenario language), or - for stdin")
    p.add_argument("--kernel", default="2.6.27", choices=sorted(PROFILES),
                   help="kernel profile: %(choices)s (default 2.6.27)")
    p.add_argument("--nodes", type=int, help="NUMA nodes with memory (default 2)")
    p.add_argument("--mem-per-node", type=int, metavar="MB", help="memory per node (default 1024)")
    p.add_argument("--cpus-per-node", type=int, metavar="C", help="CPUs per node (default 1)")
    p.add_argument("--memless-nodes", type=int, metavar="K", help="nodes with a CPU and no memory")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--contents", choices=("bytes", "tag"), default="bytes",
                   help="page contents: bytes (the real 4 KiB of every page, the default) or "
                        "tag (one 64-bit token per page, for very large machines)")
    p.add_argument("--host-memory", type=int, metavar="MB",
                   help="most host memory the page contents may take (default: what the "
                        "host has available at boot, less a margin)")
    p.add_argument("--path", default="auto", choices=("auto", "reference", "batch"),
                   help="how move_pages(2) moves pages and touches fault pages in: page by "
                        "page (reference), on arrays when the call allows it (batch), or on "
                        "arrays for such calls of 64 pages or more (auto, the default)")
    p.add_argument("--trace", action="store_true",
                   help="print each engine step as a tracepoint line on stderr")


def _cmdline_tokens(args: argparse.Namespace) -> list[str]:
    tokens = []
    for opt, value in (("--nodes", args.nodes), ("--mem-per-node", args.mem_per_node),
                       ("--cpus-per-node", args.cpus_per_node),
                       ("--memless-nodes", args.memless_nodes)):
        if value is not None:
            tokens += [opt, str(value)]
    return tokens


def _option_line(text: str, option: str) -> int:
    # The line of the #@ line that names an option (for file:line: messages).
    for n, raw in enumerate(text.splitlines(), 1):
        if raw.startswith("#@") and f"--{option}" in raw.split():
            return n
    return 0


MAX_LINES = 1_000_000
"""Most lines of a scenario file read (a guard against endless input such as /dev/zero)."""


def read_lines(stream: BinaryIO, path: str) -> str:
    """The text of a scenario read line by line, each line bounded by MAX_LINE_BYTES (so an
    endless line is refused after that many bytes); ScriptError for a longer line or more
    than MAX_LINES lines."""
    lines = []
    for lineno in range(1, MAX_LINES + 2):
        raw = stream.readline(MAX_LINE_BYTES + 2)
        if not raw:
            break
        if lineno > MAX_LINES:
            raise ScriptError(path, lineno, f"more than {MAX_LINES} lines")
        body = raw[:-1] if raw.endswith(b"\n") else raw
        if len(body) > MAX_LINE_BYTES:
            raise ScriptError(path, lineno, f"line longer than {MAX_LINE_BYTES} bytes")
        lines.append(raw.decode("utf-8", errors="replace"))
    return "".join(lines)


def load(path: str) -> tuple[str, str]:
    """The text of a script file (or stdin for '-'), read by `read_lines`."""
    if path == "-":
        return read_lines(sys.stdin.buffer, "<stdin>"), "<stdin>"
    with open(path, "rb") as f:
        return read_lines(f, path), path


class OptionError(Exception):
    """A bad command-line option (``pagemig run: message``, exit status 2)."""


def physical_memory() -> int | None:
    """This machine's memory in bytes (MemTotal), or None when it cannot be read."""
    return host_meminfo_bytes("MemTotal")


def model_bytes(nodes: int, mem_per_node_mb: int, swap_mb: int) -> int:
    """About how much of this machine's memory a model of that size takes before it runs:
    every page frame's columns and the swap map.  The frames' contents are reserved as
    pages are written, so they count only once written (and a store that finds no host
    memory left ends the run with a clear error)."""
    return nodes * mem_per_node_mb * 256 * 64 + swap_mb * 256 * 16


def _too_big(what: str, need: int) -> str:
    have = physical_memory()
    return (f"{what}: the model would need about {need / 2**30:.1f} GiB of this machine's "
            f"memory" + (f", which has {have / 2**30:.1f} GiB" if have else "")
            + " for the page frames' columns alone")


def machine_for(script: Script, text: str, args: argparse.Namespace) -> ModelBackend:
    """Boot the model machine the script's options and the command line ask for."""
    cmdline = _cmdline_tokens(args)
    host_memory = getattr(args, "host_memory", None)
    if host_memory is not None and host_memory < 0:
        raise OptionError(f"--host-memory {host_memory}: must be 0 or more (MB)")
    try:
        from pagemig.script.vmopts import parse_vm_options
        parse_vm_options(cmdline)
    except ValueError as e:
        raise OptionError(str(e)) from None
    try:
        opts = script.vm_options(cmdline)
    except ValueError as e:
        named = re.search(r"--([a-z-]+)", str(e))
        line = _option_line(text, named.group(1)) if named else 0
        raise ScriptError(script.path, line, str(e)) from None
    storage = dict(opts.storage)
    try:
        profile = get_profile(args.kernel)
    except ValueError as e:
        raise ScriptError(script.path, 0, str(e)) from None
    fs = storage.get("blockfs")
    if fs is not None and fs not in ("ext2", "ext4"):
        raise ScriptError(script.path, _option_line(text, "blockfs"),
                          f"--blockfs {fs}: unknown filesystem (ext4 or ext2)")
    if fs == "ext4" and not profile.has("ext4"):
        # ext4 was still "ext4dev" (experimental) in 2.6.27
        raise ScriptError(script.path, _option_line(text, "blockfs"),
                          f"--blockfs {fs}: not in Linux {profile.name}")
    swap_dev = storage.get("swap-dev", "zram")
    if swap_dev not in ("zram", "disk"):
        raise ScriptError(script.path, _option_line(text, "swap-dev"),
                          f"--swap-dev {swap_dev}: unknown swap device (zram or disk)")
    if "swap" in storage and swap_dev == "zram" and not profile.has("zram"):
        # zram arrived in 2.6.33 (staging)
        raise ScriptError(script.path, _option_line(text, "swap"),
                          f"--swap-dev zram: not in Linux {profile.name} (use --swap-dev disk)")
    swap_mb = int(storage.get("swap", "0"))
    need = model_bytes(opts.nodes, opts.mem_per_node_mb, swap_mb)
    have = physical_memory()
    if args.mem_per_node is not None:
        big_where = f"--mem-per-node {opts.mem_per_node_mb}"
    else:
        big_where = ""
    mem_line, swap_line = _option_line(text, "mem-per-node"), _option_line(text, "swap")
    big_line = (swap_line or mem_line) if swap_mb * 256 * 16 * 2 > need else (mem_line or
                                                                             swap_line)

    def too_big() -> Exception:
        if big_where:
            return OptionError(_too_big(big_where, need))
        return ScriptError(script.path, big_line,
                           _too_big(f"{opts.nodes} nodes of {opts.mem_per_node_mb} MB"
                                    + (f", {swap_mb} MB of swap" if swap_mb else ""), need))

    if have is not None and need > have:
        raise too_big()
    topo = Topology(opts.nodes, opts.mem_per_node_mb, opts.cpus_per_node, opts.memless_nodes)
    try:
        backend = ModelBackend(topo, args.kernel, args.seed,
                               contents=getattr(args, "contents", "bytes"),
                               host_memory_mb=host_memory)
        backend.blockfs = fs
        backend.k.set_migrate_path(getattr(args, "path", "auto"))
        if swap_mb > 0:
            backend.k.swapon(swap_mb * 256, synchronous=swap_dev == "zram")
    except ValueError as e:
        raise ScriptError(script.path, 0, str(e)) from None
    except MemoryError:
        raise too_big() from None
    return backend


def run_case(text: str, path: str, kernel: str, seed: int = 0,
             contents: str = "bytes") -> list[dict[str, Any]]:
    """Run a scenario in this process as ``pagemig run --kernel KERNEL --contents CONTENTS``
    does; its objects.

    Each object goes through the same JSON text as the command prints (so tuples become
    lists); the last is ``{"op": "end", "rc": 0}``.  Raises ScriptError as the command reports.
    """
    args = argparse.Namespace(kernel=kernel, seed=seed, nodes=None, mem_per_node=None,
                              cpus_per_node=None, memless_nodes=None, trace=False,
                              host_memory=None, contents=contents, path="auto")
    objs: list[dict[str, Any]] = []
    script = parse_script(text, path)
    backend = machine_for(script, text, args)
    run_script(backend, script, lambda obj: objs.append(json.loads(dumps(obj))))
    objs.append({"op": "end", "rc": 0})
    return objs


def run(args: argparse.Namespace) -> int:
    """Run the script; print JSON lines on stdout."""
    try:
        text, path = load(args.script)
    except OSError as e:
        print(f"pagemig run: {args.script}: {e.strerror}", file=sys.stderr)
        return 2
    except ScriptError as e:
        print(str(e), file=sys.stderr)
        return 2
    out = sys.stdout

    def emit(obj: dict[str, Any]) -> None:
        out.write(dumps(obj) + "\n")

    try:
        script = parse_script(text, path)
        backend = machine_for(script, text, args)
        if args.trace:
            backend.k.trace_sink = _print_trace
        run_script(backend, script, emit)
    except ScriptError as e:
        out.flush()
        print(str(e), file=sys.stderr)
        return 2
    except OptionError as e:
        out.flush()
        print(f"pagemig run: {e}", file=sys.stderr)
        return 2
    emit({"op": "end", "rc": 0})
    return 0


def _print_trace(event: str, fields: dict[str, Any]) -> None:
    body = " ".join(f"{k}={v}" for k, v in fields.items())
    print(f"pagemig: {event}: {body}", file=sys.stderr)
