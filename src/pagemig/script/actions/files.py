"""File actions: pwrite, pread, fsync, fdatasync, sync, msync, sync_file_range, fadvise
and drop_caches, on the files behind file mappings, with the oracle probe's op and field
names.  Each action is a function of the run's state (`RunnerState`), the process and the
action.

Writeback that an action starts without waiting completes when the next action begins
(the runner calls the backend's ``complete_writeback()`` first), as with one actor.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pagemig.script.core import PAGE, Mapping, Proc, RunnerState, syscall_fields
from pagemig.script.parse import Action

MS_ASYNC, MS_INVALIDATE, MS_SYNC = 1, 2, 4
FADVISE = {"normal": 0, "random": 1, "sequential": 2, "willneed": 3, "dontneed": 4,
           "noreuse": 5}
SYNC_FILE_RANGE_WAIT_BEFORE, SYNC_FILE_RANGE_WRITE, SYNC_FILE_RANGE_WAIT_AFTER = 1, 2, 4


def _file_range(rs: RunnerState, proc: Proc, a: Action, usage: str) -> tuple[Mapping, int, int]:
    m, first, count = rs._range(proc, a.pos(1))
    if not m.is_file:
        raise ValueError(usage)
    return m, first, count


def act_pwrite(rs: RunnerState, proc: Proc, a: Action) -> None:
    """pwrite RANGE [seed=S] [same=1]: write the pattern with pwrite(2)."""
    m, first, count = _file_range(rs, proc, a, "usage: pwrite RANGE (of a file mapping)")
    seed = rs._write_seed(a)
    owner = rs._owner(proc, m)
    ret = total = 0
    for p in range(first, first + count):
        data = rs.pattern_words(proc, m, p, seed).astype("<u8").tobytes()
        ret = rs.b.pwrite(proc.handle, m.file, p, data)
        if ret < 0:
            break
        total += PAGE
        rs._file_page_written(proc, owner, p, seed)
    fields: dict[str, Any] = {"range": a.pos(1)}
    fields.update(_sys(rs, ret))
    fields["bytes"] = total
    rs.emit("pwrite", proc.who, fields)


def act_pread(rs: RunnerState, proc: Proc, a: Action) -> None:
    """pread RANGE: read the file pages and compare them with the file's content."""
    m, first, count = _file_range(rs, proc, a, "usage: pread RANGE (of a file mapping)")
    owner = rs._owner(proc, m)
    ret = total = checked = bad = 0
    first_bad = -1
    for p in range(first, first + count):
        data = rs.b.pread(proc.handle, m.file, p)
        if data is None:
            ret = -12
            break
        total += PAGE
        f = int(owner.fseed[p])
        words = np.frombuffer(data, "<u8")
        ok = not words.any() if f == 0 else bool(np.array_equal(
            words, rs.pattern_words(proc, m, p, f)))
        checked += 1
        if not ok:
            first_bad = p if bad == 0 else first_bad
            bad += 1
    fields: dict[str, Any] = {"range": a.pos(1)}
    fields.update(_sys(rs, ret))
    fields.update({"bytes": total, "checked": checked, "mismatches": bad,
                   "first_bad": first_bad})
    rs.emit("pread", proc.who, fields)


def _timed(rs: RunnerState, fn: Any) -> tuple[int, float]:
    t0 = time.perf_counter()
    ret = fn()
    return ret, round(time.perf_counter() - t0, 8)


def _sync_op(rs: RunnerState, proc: Proc, a: Action, op: str) -> None:
    m, _, _ = _file_range(rs, proc, a, f"usage: {op} NAME (a file mapping)")
    ret, seconds = _timed(rs, lambda: rs.b.fsync(proc.handle, m.file))
    fields: dict[str, Any] = {"name": m.name}
    fields.update(_sys(rs, ret))
    fields["seconds"] = seconds
    rs.emit(op, proc.who, fields)


def act_fsync(rs: RunnerState, proc: Proc, a: Action) -> None:
    """fsync NAME: write the file's dirty pages and wait."""
    _sync_op(rs, proc, a, "fsync")


def act_fdatasync(rs: RunnerState, proc: Proc, a: Action) -> None:
    """fdatasync NAME (the model keeps no metadata: the same as fsync)."""
    _sync_op(rs, proc, a, "fdatasync")


def act_sync(rs: RunnerState, proc: Proc, a: Action) -> None:
    """sync: write every dirty file page and wait."""
    rs.b.sync(proc.handle)
    rs.emit("sync", proc.who, _sys(rs, 0))


def act_msync(rs: RunnerState, proc: Proc, a: Action) -> None:
    """msync RANGE [sync|async|invalidate]."""
    m, first, count = rs._range(proc, a.pos(1))
    how = a.pos(2) or "sync"
    flags = {"async": MS_ASYNC, "invalidate": MS_INVALIDATE}.get(how, MS_SYNC)
    ret, seconds = _timed(rs, lambda: rs.b.msync(
        proc.handle, m.addr + first * PAGE, count * PAGE, flags))
    fields: dict[str, Any] = {"range": a.pos(1), "arg": how}
    fields.update(_sys(rs, ret))
    fields["seconds"] = seconds
    rs.emit("msync", proc.who, fields)


def act_sync_file_range(rs: RunnerState, proc: Proc, a: Action) -> None:
    """sync_file_range RANGE [wait=1]: start writeback (and wait, with wait=1)."""
    m, first, count = _file_range(
        rs, proc, a, "usage: sync_file_range RANGE (of a file mapping)")
    flags = SYNC_FILE_RANGE_WRITE
    if a.int_kv("wait", 0):
        flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER
    ret, seconds = _timed(rs, lambda: rs.b.sync_file_range(
        proc.handle, m.file, first, count, flags))
    fields: dict[str, Any] = {"range": a.pos(1), "sfr_flags": flags}
    fields.update(_sys(rs, ret))
    fields["seconds"] = seconds
    rs.emit("sync_file_range", proc.who, fields)


def act_fadvise(rs: RunnerState, proc: Proc, a: Action) -> None:
    """fadvise RANGE ADVICE: posix_fadvise(2) on the mapping's file."""
    m, first, count = _file_range(
        rs, proc, a, "usage: fadvise RANGE ADVICE (of a file mapping)")
    adv = a.pos(2) or ""
    advice = FADVISE.get(adv, -1)
    rc = rs.b.fadvise(proc.handle, m.file, first, count, advice)
    fields: dict[str, Any] = {"range": a.pos(1), "arg": adv}
    fields.update(_sys(rs, rc))
    rs.emit("fadvise", proc.who, fields)


def act_drop_caches(rs: RunnerState, proc: Proc, a: Action) -> None:
    """drop_caches [1|2|3]: write /proc/sys/vm/drop_caches (no sync first)."""
    value = a.pos(1) or "3"
    ret, seconds = _timed(rs, lambda: rs.b.drop_caches(value))
    fields: dict[str, Any] = {"value": value}
    fields.update(_sys(rs, ret))
    fields["seconds"] = seconds
    rs.emit("drop_caches", proc.who, fields)


def _sys(rs: RunnerState, ret: int) -> dict[str, Any]:
    return syscall_fields(ret)
