"""The registry of scenario actions: one declaration per action of the oracle's language.

A declaration (:class:`ActionSpec`) gives the action's name, its positional arguments, the
``key=value`` options it accepts (the keys the oracle's probe reads for it with ``kv()``,
the words it reads with ``pos()``), a one-line description and the function that runs it
(``run(state, proc, action)``, from the action's family module), or None for an action
the probe knows and the model does not run yet (``file:line: not supported yet: NAME``).

The parser checks every action against its declaration (`check_action`): an unknown
action, an unknown option or a positional word beyond the declared ones is refused there,
before anything runs.  The runner dispatches through the same table.  Values are checked
by the action when it runs, as the probe reads them (strtol and friends).

To add an action: write its function in the family module, declare it here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from pagemig.script.actions import bench, files, mappings, numa, procs, sysfs
from pagemig.script.core import Proc, RunnerState
from pagemig.script.parse import Action, ScriptError, parse_long

__all__ = ["ACTIONS", "ALL_OPS", "ActionSpec", "Option", "check_action", "usage_table"]

RunFn = Callable[[RunnerState, Proc, Action], None]


@dataclass(frozen=True)
class Option:
    """A ``key=value`` option: its key and the value as the usage shows it (its kind:
    ``N`` an integer read with strtol, ``0|1`` a switch, ``a|b`` one of some words,
    ``LIST``/``MASK``/``ITEMS``/``F``/``P``/``PTR`` as the language defines them)."""

    key: str
    value: str

    def __str__(self) -> str:
        return f"[{self.key}={self.value}]"


@dataclass(frozen=True)
class ActionSpec:
    """The declaration of one action.

    `args` are the positional words in order: ``NAME`` is required (the action reports a
    missing one when it runs), ``[NAME]`` optional, ``[NAME...]`` any number of them.
    `options` are the ``key=value`` options; `free_text` actions (``note``) take the rest
    of the line as it is.  `run` is None for an action the model does not run yet.
    """

    name: str
    run: RunFn | None
    args: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    about: str = ""
    free_text: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        """The option keys, in declaration order."""
        return tuple(o.key for o in self.options)

    @property
    def max_args(self) -> int | None:
        """Most positional words the action takes (None: any number)."""
        if any(arg.endswith("...]") for arg in self.args):
            return None
        return len(self.args)

    @property
    def usage(self) -> str:
        """``NAME ARGS [key=VALUE]...`` as the oracle's README writes it."""
        return " ".join([self.name, *self.args, *map(str, self.options)])


def _spec(name: str, run: RunFn | None, args: str = "", options: str = "", about: str = "",
          free_text: bool = False) -> ActionSpec:
    # args: "RANGE [ADVICE]"; options: "key=VALUE key=VALUE".
    opts = tuple(Option(*tok.split("=", 1)) for tok in options.split())
    return ActionSpec(name, run, tuple(args.split()), opts, about, free_text)


_PTRS = "pages_ptr=PTR nodes_ptr=PTR status_ptr=PTR full=0|1 placement=0|1"

_SPECS = (
    # -- mappings and their pages (actions/mappings.py) --
    _spec("map", mappings.act_map, "NAME TYPE NPAGES",
          "node=N policy=bind|preferred|interleave touch=write|read seed=S same=0|1 cpu_node=N "
          "thp=0|1 align=PAGES file=OTHER",
          "mmap a new mapping (mbind it, touch it)"),
    _spec("touch", mappings.act_touch, "RANGE write|read", "seed=S same=0|1 cpu_node=N",
          "fault pages in (write the pattern, or read one byte)"),
    _spec("verify", mappings.act_verify, "[RANGE...]", "",
          "check every page of known content"),
    _spec("munmap", mappings.act_munmap, "RANGE [ARG]", "", "munmap(2)"),
    _spec("mlock", mappings.act_mlock, "RANGE [ARG]", "", "mlock(2)"),
    _spec("munlock", mappings.act_munlock, "RANGE [ARG]", "", "munlock(2)"),
    _spec("mprotect", mappings.act_mprotect, "RANGE [none|r|rw]", "", "mprotect(2)"),
    _spec("madvise", mappings.act_madvise, "RANGE [ADVICE]", "", "madvise(2)"),
    _spec("vmsplice", mappings.act_vmsplice, "RANGE", "", "splice the pages into a pipe"),
    _spec("unsplice", mappings.act_unsplice, "", "", "close every pipe"),
    _spec("pageout", mappings.act_pageout, "RANGE", "wait=0|1",
          "madvise(MADV_PAGEOUT), then the ptes"),
    _spec("swapin", mappings.act_swapin, "RANGE [read|write]", "cpu_node=N",
          "fault the pages in again, contents unchanged"),
    _spec("pageflags", mappings.act_pageflags, "RANGE", "pid=P",
          "pte state, mapcount and kpageflags of each page"),
    # -- NUMA: move_pages, migrate_pages, policies, CPUs (actions/numa.py) --
    _spec("move", numa.act_move, "",
          f"pid=P flags=F pages=ITEMS nodes=LIST|null count=N {_PTRS}",
          "one move_pages(2) call"),
    _spec("query", numa.act_query, "[ITEMS]", f"pid=P flags=F pages=ITEMS count=N {_PTRS}",
          "move_pages(2) with nodes NULL"),
    _spec("placement", numa.act_placement, "", "pid=P",
          "the node of every page of every mapping"),
    _spec("migrate", numa.act_migrate, "",
          "pid=P maxnode=N old=MASK new=MASK old_ptr=PTR new_ptr=PTR placement=0|1",
          "one migrate_pages(2) call"),
    _spec("mbind", numa.act_mbind, "RANGE",
          "mode=bind|preferred|interleave|default|local nodes=MASK flags=F maxnode=N",
          "mbind(2)"),
    _spec("set_mempolicy", numa.act_set_mempolicy, "",
          "mode=bind|preferred|interleave|default|local nodes=MASK", "set_mempolicy(2)"),
    _spec("cpuset", numa.act_cpuset, "[NAME]", "mems=LIST pid=P",
          "a cgroup v2 cpuset with these mems, P moved into it"),
    _spec("pin", numa.act_pin, "[all]", "cpu_node=N", "CPU affinity: a node's CPUs, or all"),
    # -- processes (actions/procs.py) --
    _spec("fork", procs.act_fork, "NAME", "mode=live|exit|dead", "fork a child"),
    _spec("kill", procs.act_kill, "NAME", "", "end and reap a child"),
    _spec("droppriv", procs.act_droppriv, "", "uid=N gid=N dumpable=0|1",
          "become an unprivileged user"),
    _spec("dropcap", procs.act_dropcap, "[sys_nice|sys_ptrace]", "",
          "drop one capability from all sets"),
    # -- files (actions/files.py) --
    _spec("pwrite", files.act_pwrite, "RANGE", "seed=S same=0|1",
          "write the pattern into the file with pwrite(2)"),
    _spec("pread", files.act_pread, "RANGE", "", "read the file pages with pread(2) and check"),
    _spec("fsync", files.act_fsync, "NAME", "", "fsync(2) of a mapping's file"),
    _spec("fdatasync", files.act_fdatasync, "NAME", "", "fdatasync(2) of a mapping's file"),
    _spec("sync", files.act_sync, "", "", "sync(2)"),
    _spec("msync", files.act_msync, "RANGE [sync|async|invalidate]", "", "msync(2)"),
    _spec("sync_file_range", files.act_sync_file_range, "RANGE", "wait=0|1",
          "sync_file_range(2): start writeback (and wait)"),
    _spec("fadvise", files.act_fadvise, "RANGE [ADVICE]", "", "posix_fadvise(2)"),
    _spec("drop_caches", files.act_drop_caches, "[1|2|3]", "",
          "write /proc/sys/vm/drop_caches"),
    # -- /proc, /sys and the rest (actions/sysfs.py) --
    _spec("read", sysfs.act_read, "PATH", "", "read a file"),
    _spec("write", sysfs.act_write, "PATH VALUE", "", "write a file, read it back"),
    _spec("meminfo", sysfs.act_meminfo, "[KEY...]", "",
          "per-node memory and /proc/meminfo fields"),
    _spec("vmstat", sysfs.act_vmstat, "[KEY...]", "", "/proc/vmstat fields"),
    _spec("env", sysfs.act_env, "", "", "the machine and the process"),
    _spec("note", sysfs.act_note, "TEXT", "", "print the text", free_text=True),
    _spec("sleep", sysfs.act_sleep, "[MS]", "ms=MS", "let time pass"),
    _spec("ksm", sysfs.act_ksm, "[on|off|unmerge|wait|stat]",
          "scans=N merge_across_nodes=0|1 timeout_ms=MS", "KSM controls and counters"),
    _spec("bench", bench.act_bench, "",
          "pages=N reps=N batches=LIST from=NODE to=NODE migrate=0|1 memcpy=0|1",
          "move_pages/migrate_pages/memcpy throughput"),
)

ACTIONS: MappingProxyType[str, ActionSpec] = MappingProxyType({s.name: s for s in _SPECS})
"""Every action of the oracle's scenario language, by name."""

ALL_OPS = frozenset(ACTIONS)
"""Every action name of the oracle's scenario language."""


def check_action(a: Action, path: str) -> ActionSpec:
    """The declaration of `a`; ScriptError (``path:line: ...``) for an unknown action, an
    option it does not take or a positional word beyond its arguments."""
    spec = ACTIONS.get(a.op)
    if spec is None:
        raise ScriptError(path, a.line, f"unknown action: {a.op}")
    if spec.free_text:
        return spec
    for key in a.kv:
        if key not in spec.keys:
            known = ", ".join(spec.keys) or "none"
            raise ScriptError(path, a.line,
                              f"unknown option '{key}' for {a.op} (known: {known})")
    limit = spec.max_args
    if limit is not None and len(a.args) > limit:
        raise ScriptError(path, a.line, f"unexpected argument '{a.args[limit]}' for {a.op} "
                                        f"(usage: {spec.usage})")
    for decl, word in zip(spec.args, a.args, strict=False):
        choices = _choices(decl.strip("[]"))
        if choices is not None and not _one_of(word, choices):
            raise ScriptError(path, a.line, f"{a.op}: '{word}' is not one of "
                                            f"{'|'.join(choices)} (usage: {spec.usage})")
    for opt in spec.options:
        value = a.kv.get(opt.key)
        choices = _choices(opt.value)
        if value is not None and choices is not None and not _one_of(value, choices):
            raise ScriptError(path, a.line, f"{a.op}: {opt.key}={value}: not one of "
                                            f"{'|'.join(choices)}")
    return spec


_WORDS_RE = re.compile(r"[a-z0-9_]+(\|[a-z0-9_]+)*")


def _choices(decl: str) -> tuple[str, ...] | None:
    """The words a declared value may be (``a|b``, or one literal word like ``all``), or None
    for a kind the action checks itself (upper case: ``N``, ``LIST|null``, ``RANGE``...)."""
    if _WORDS_RE.fullmatch(decl) is None:
        return None
    return tuple(decl.split("|"))


def _one_of(word: str, choices: tuple[str, ...]) -> bool:
    """Whether `word` is one of `choices`; a switch (``0|1``) takes any C integer of value
    0 or 1, as the probe reads it with strtol."""
    if word in choices:
        return True
    if all(c.isdigit() for c in choices):
        try:
            return str(parse_long(word)) in choices
        except ValueError:
            return False
    return False


def usage_table() -> str:
    """The Markdown table of every action (usage, meaning, whether the model runs it), as
    docs/scripts.md includes it."""
    rows = ["| action | meaning |", "|---|---|"]
    for spec in _SPECS:
        usage = spec.usage.replace("|", "\\|")
        about = spec.about + ("" if spec.run is not None else " (not supported yet)")
        rows.append(f"| `{usage}` | {about} |")
    return "\n".join(rows) + "\n"
