"""Process actions: fork, kill, droppriv and dropcap.

Each action is a function of the run's state (`RunnerState`), the process and the action.
A child gets its own copy of the mapping table; ``@NAME ACTION`` runs in it.
"""

from __future__ import annotations

import copy
from typing import Any

from pagemig.script.core import Child, Proc, RunnerState, syscall_fields
from pagemig.script.jsonout import err_fields
from pagemig.script.parse import Action

MAXCHILD = 8


def act_fork(rs: RunnerState, proc: Proc, a: Action) -> None:
    """fork NAME [mode=live|exit|dead]."""
    name = a.pos(1)
    mode = a.get("mode") or "live"
    if not name or len(proc.children) >= MAXCHILD:
        raise ValueError("usage: fork NAME (at most 8 children)")
    if mode not in ("live", "exit", "dead"):
        raise ValueError(f"fork: unknown mode {mode}")
    if name in proc.children:
        # The probe would add a second child its name lookups never find: refused.
        raise ValueError(f"fork: a child named '{name}' exists already")
    handle = rs.b.fork(proc.handle)
    # The child's copy of the table; the files themselves are shared, not copied.
    memo: dict[int, Any] = {id(m.file): m.file for m in proc.order if m.file is not None}
    maps, order = copy.deepcopy((proc.maps, proc.order), memo)
    child_proc = Proc(name, handle, maps, order, {}, [])
    rs.b.after_fork(proc.handle, False)
    child = Child(name, child_proc, rs.b.getpid(handle))
    if mode == "live":
        rs.b.after_fork(handle, True)
    else:
        rs.b.exit(handle)
        child.alive = 2
        if mode == "dead":
            rs.b.reap(handle)
            child.alive = 3
    proc.children[name] = child
    rs.emit("fork", proc.who, {"name": name, "mode": mode, "pid": child.pid})


def act_kill(rs: RunnerState, proc: Proc, a: Action) -> None:
    """kill NAME: end a live child and reap it."""
    child = proc.children.get(a.pos(1) or "")
    if child is None:
        raise ValueError(f"no such child: {a.pos(1)}")
    if child.alive == 3:
        raise ValueError(f"kill: child '{child.name}' was reaped already")
    if child.alive == 1:
        for pin in child.proc.pins:
            rs.b.unpin_pages(pin)
        child.proc.pins = []
        rs.b.exit(child.proc.handle)
    if child.alive != 3:
        rs.b.reap(child.proc.handle)
    child.alive = 3
    rs.emit("kill", proc.who, {"name": child.name, "pid": child.pid})


def act_droppriv(rs: RunnerState, proc: Proc, a: Action) -> None:
    """droppriv [uid=65534] [gid=65534] [dumpable=1]: then prctl(PR_SET_DUMPABLE, 1) unless
    dumpable=0 (changing ids leaves the process non-dumpable, which the ptrace rule sees)."""
    ids = {key: a.int_kv(key, 65534) for key in ("uid", "gid")}
    for key, value in ids.items():
        # The probe passes (int)value: -1 (or 2**32-1) is setresuid()'s "leave unchanged",
        # so the process would stay root with every capability: refused, as is a value the
        # cast would truncate.
        if not 0 <= value <= 2**32 - 2:
            raise ValueError(f"droppriv: {key}={value}: must be between 0 and {2**32 - 2} "
                             f"(-1 would leave the {key} unchanged)")
    ret = rs.b.setresuid(proc.handle, ids["uid"], ids["gid"])
    if a.int_kv("dumpable", 1):
        rs.b.set_dumpable(proc.handle, 1)
    fields = err_fields(-1 if ret < 0 else 0, -ret)
    fields.update(rs.b.creds(proc.handle))
    rs.emit("droppriv", proc.who, fields)


def act_dropcap(rs: RunnerState, proc: Proc, a: Action) -> None:
    """dropcap [sys_nice|sys_ptrace]."""
    cap = a.pos(1) or "sys_nice"
    ret = rs.b.drop_cap(proc.handle, 19 if cap == "sys_ptrace" else 23)
    fields: dict[str, Any] = {"cap": cap}
    fields.update(syscall_fields(ret))
    fields.update(rs.b.creds(proc.handle))
    rs.emit("dropcap", proc.who, fields)
