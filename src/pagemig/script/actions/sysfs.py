"""/proc and /sys actions and the rest: read, write, meminfo, vmstat, env, note, sleep
and ksm.

Each action is a function of the run's state (`RunnerState`), the process and the action;
files are read and written as the probe does (its read_file() and write_str()).
"""

from __future__ import annotations

import errno
import os
from typing import Any

from pagemig.script.core import Proc, RunnerState, c_atoi, syscall_fields
from pagemig.script.jsonout import err_fields
from pagemig.script.parse import Action

# The probe's default vmstat keys (none of them exists in 2.6.27: each reads as -1).
VMSTAT_DEFAULT_KEYS = ("pgmigrate_success", "pgmigrate_fail", "thp_migration_success",
                       "thp_migration_fail", "thp_migration_split", "numa_pages_migrated",
                       "nr_isolated_anon", "nr_isolated_file", "nr_mlock", "nr_unevictable")

KSM_SYSFS = "/sys/kernel/mm/ksm"


def act_meminfo(rs: RunnerState, proc: Proc, a: Action) -> None:
    """meminfo [KEY...]: per-node memory, and the named /proc/meminfo fields."""
    fields: dict[str, Any] = {"node_mem_kb": rs._node_mem_kb(proc)}
    if a.args:
        fields["kb"] = {key: rs.b.meminfo_kb(key) for key in a.args}
    rs.emit("meminfo", proc.who, fields)


def act_vmstat(rs: RunnerState, proc: Proc, a: Action) -> None:
    """vmstat [KEY...]: the named /proc/vmstat fields, or the probe's migration counters
    (-1 for a name the kernel does not print)."""
    keys = a.args or VMSTAT_DEFAULT_KEYS
    rs.emit("vmstat", proc.who, {key: rs.b.vmstat(key) for key in keys})


def act_read(rs: RunnerState, proc: Proc, a: Action) -> None:
    """read PATH: the file's text, or strerror() of the failed open."""
    path = a.pos(1)
    if path is None:
        raise ValueError("usage: read PATH")
    text = rs._read_file(proc, path)
    if isinstance(text, int):
        rs.emit("read", proc.who, {"path": path, "err": os.strerror(-text)})
    else:
        rs.emit("read", proc.who, {"path": path, "content": text})


def act_write(rs: RunnerState, proc: Proc, a: Action) -> None:
    """write PATH VALUE: one write(2), then the file read back."""
    path, value = a.pos(1), a.pos(2)
    if path is None or value is None:
        raise ValueError("usage: write PATH VALUE")
    ret = rs.b.write_file(proc.handle, path, value)
    back = rs._read_file(proc, path)
    fields: dict[str, Any] = {"path": path, "value": value}
    fields.update(syscall_fields(min(ret, 0)))
    fields["readback"] = back if isinstance(back, str) else ""
    rs.emit("write", proc.who, fields)


def act_env(rs: RunnerState, proc: Proc, a: Action) -> None:
    """env: the machine and the process, as at the start."""
    rs.emit("env", proc.who, rs._env(proc))


def act_sleep(rs: RunnerState, proc: Proc, a: Action) -> None:
    """sleep MS (or ms=MS): no output; I/O in flight completes meanwhile."""
    a.int_kv("ms", 0)
    rs.b.complete_writeback()


def _ksm_get(rs: RunnerState, proc: Proc, name: str) -> int:
    text = rs._read_file(proc, f"{KSM_SYSFS}/{name}")
    return -1 if isinstance(text, int) else c_atoi(text)


def _ksm_set(rs: RunnerState, proc: Proc, name: str, value: str) -> tuple[int, int]:
    ret = rs.b.write_file(proc.handle, f"{KSM_SYSFS}/{name}", value)
    return (-1, -ret) if ret < 0 else (0, 0)


def act_ksm(rs: RunnerState, proc: Proc, a: Action) -> None:
    """ksm on|off|unmerge|wait|stat [scans=] [merge_across_nodes=] [timeout_ms=].

    The probe's steps on /sys/kernel/mm/ksm.  Without KSM (2.6.27) every write fails
    with ENOENT and every counter reads -1; a wait times out (ETIMEDOUT), because no
    ksmd ever finishes a scan.
    """
    what = a.pos(1) or "stat"
    scans, timeout = a.int_kv("scans", 3), a.int_kv("timeout_ms", 20000)
    ret, e, step = 0, 0, "done"
    seconds = 0.0
    fs0 = _ksm_get(rs, proc, "full_scans")
    if what == "on":
        man = a.get("merge_across_nodes")
        if man is not None:
            _ksm_set(rs, proc, "run", "2")
            step = "merge_across_nodes"
            ret, e = _ksm_set(rs, proc, "merge_across_nodes", man)
        if ret == 0:
            step = "run"
            _ksm_set(rs, proc, "pages_to_scan", "1000")
            _ksm_set(rs, proc, "sleep_millisecs", "10")
            ret, e = _ksm_set(rs, proc, "run", "1")
    elif what in ("off", "unmerge"):
        step = "run"
        ret, e = _ksm_set(rs, proc, "run", "0" if what == "off" else "2")
    elif what not in ("wait", "stat"):
        raise ValueError(f"usage: ksm on|off|unmerge|wait|stat: {what}")
    if ret == 0 and what in ("on", "wait"):
        step = "wait"
        # The model has no ksmd: the scan count cannot move while the probe waits.
        if _ksm_get(rs, proc, "full_scans") < fs0 + scans:
            ret, e = -1, errno.ETIMEDOUT
            seconds = max(timeout, 0) / 1000
        else:
            step = "done"
    fields: dict[str, Any] = {"action": what}
    fields.update(err_fields(ret, e))
    fields["step"] = step
    for key in ("run", "merge_across_nodes", "pages_shared", "pages_sharing",
                "pages_unshared"):
        fields[key] = _ksm_get(rs, proc, key)
    if what in ("on", "wait"):
        fields["full_scans_waited"] = _ksm_get(rs, proc, "full_scans") - fs0
    fields["seconds"] = seconds
    rs.emit("ksm", proc.who, fields)


def act_note(rs: RunnerState, proc: Proc, a: Action) -> None:
    """note TEXT."""
    rs.emit("note", proc.who, {"text": a.text[4:].strip()})
