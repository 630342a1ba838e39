"""The runner's file actions: pwrite, pread, fsync, fdatasync, sync, msync,
sync_file_range, fadvise and drop_caches, with the oracle probe's op and field names.

Writeback that an action starts without waiting completes when the next action begins
(the runner calls the backend's ``complete_writeback()`` first), as with one actor.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pagemig.script.core import Mapping, Proc
    from pagemig.script.parse import Action

PAGE = 4096
MS_ASYNC, MS_INVALIDATE, MS_SYNC = 1, 2, 4
FADVISE = {"normal": 0, "random": 1, "sequential": 2, "willneed": 3, "dontneed": 4,
           "noreuse": 5}
SYNC_FILE_RANGE_WAIT_BEFORE, SYNC_FILE_RANGE_WRITE, SYNC_FILE_RANGE_WAIT_AFTER = 1, 2, 4


class FileActions:
    """Mixed into the Runner: scenario actions on the files behind file mappings."""

    def _file_range(self, proc: Proc, a: Action, usage: str) -> tuple[Mapping, int, int]:
        m, first, count = self._range(proc, a.pos(1))  # type: ignore[attr-defined]
        if not m.is_file:
            raise ValueError(usage)
        return m, first, count

    def act_pwrite(self, proc: Proc, a: Action) -> None:
        """pwrite RANGE [seed=S] [same=1]: write the pattern with pwrite(2)."""
        m, first, count = self._file_range(proc, a, "usage: pwrite RANGE (of a file mapping)")
        seed = self._write_seed(a)  # type: ignore[attr-defined]
        owner = self._owner(proc, m)  # type: ignore[attr-defined]
        ret = total = 0
        for p in range(first, first + count):
            data = self.pattern_words(proc, m, p, seed).astype("<u8").tobytes()  # type: ignore[attr-defined]
            ret = self.b.pwrite(proc.handle, m.file, p, data)  # type: ignore[attr-defined]
            if ret < 0:
                break
            total += PAGE
            self._file_page_written(proc, owner, p, seed)  # type: ignore[attr-defined]
        fields: dict[str, Any] = {"range": a.pos(1)}
        fields.update(self._sys(ret))
        fields["bytes"] = total
        self.emit("pwrite", proc.who, fields)  # type: ignore[attr-defined]

    def act_pread(self, proc: Proc, a: Action) -> None:
        """pread RANGE: read the file pages and compare them with the file's content."""
        m, first, count = self._file_range(proc, a, "usage: pread RANGE (of a file mapping)")
        owner = self._owner(proc, m)  # type: ignore[attr-defined]
        ret = total = checked = bad = 0
        first_bad = -1
        for p in range(first, first + count):
            data = self.b.pread(proc.handle, m.file, p)  # type: ignore[attr-defined]
            if data is None:
                ret = -12
                break
            total += PAGE
            f = int(owner.fseed[p])
            words = np.frombuffer(data, "<u8")
            ok = not words.any() if f == 0 else bool(np.array_equal(
                words, self.pattern_words(proc, m, p, f)))  # type: ignore[attr-defined]
            checked += 1
            if not ok:
                first_bad = p if bad == 0 else first_bad
                bad += 1
        fields: dict[str, Any] = {"range": a.pos(1)}
        fields.update(self._sys(ret))
        fields.update({"bytes": total, "checked": checked, "mismatches": bad,
                       "first_bad": first_bad})
        self.emit("pread", proc.who, fields)  # type: ignore[attr-defined]

    def _timed(self, fn: Any) -> tuple[int, float]:
        t0 = time.perf_counter()
        ret = fn()
        return ret, round(time.perf_counter() - t0, 8)

    def _sync_op(self, proc: Proc, a: Action, op: str) -> None:
        m, _, _ = self._file_range(proc, a, f"usage: {op} NAME (a file mapping)")
        ret, seconds = self._timed(lambda: self.b.fsync(proc.handle, m.file))  # type: ignore[attr-defined]
        fields: dict[str, Any] = {"name": m.name}
        fields.update(self._sys(ret))
        fields["seconds"] = seconds
        self.emit(op, proc.who, fields)  # type: ignore[attr-defined]

    def act_fsync(self, proc: Proc, a: Action) -> None:
        """fsync NAME: write the file's dirty pages and wait."""
        self._sync_op(proc, a, "fsync")

    def act_fdatasync(self, proc: Proc, a: Action) -> None:
        """fdatasync NAME (the model keeps no metadata: the same as fsync)."""
        self._sync_op(proc, a, "fdatasync")

    def act_sync(self, proc: Proc, a: Action) -> None:
        """sync: write every dirty file page and wait."""
        self.b.sync(proc.handle)  # type: ignore[attr-defined]
        self.emit("sync", proc.who, self._sys(0))  # type: ignore[attr-defined]

    def act_msync(self, proc: Proc, a: Action) -> None:
        """msync RANGE [sync|async|invalidate]."""
        m, first, count = self._range(proc, a.pos(1))  # type: ignore[attr-defined]
        how = a.pos(2) or "sync"
        flags = {"async": MS_ASYNC, "invalidate": MS_INVALIDATE}.get(how, MS_SYNC)
        ret, seconds = self._timed(lambda: self.b.msync(  # type: ignore[attr-defined]
            proc.handle, m.addr + first * PAGE, count * PAGE, flags))
        fields: dict[str, Any] = {"range": a.pos(1), "arg": how}
        fields.update(self._sys(ret))
        fields["seconds"] = seconds
        self.emit("msync", proc.who, fields)  # type: ignore[attr-defined]

    def act_sync_file_range(self, proc: Proc, a: Action) -> None:
        """sync_file_range RANGE [wait=1]: start writeback (and wait, with wait=1)."""
        m, first, count = self._file_range(
            proc, a, "usage: sync_file_range RANGE (of a file mapping)")
        flags = SYNC_FILE_RANGE_WRITE
        if a.int_kv("wait", 0):
            flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER
        ret, seconds = self._timed(lambda: self.b.sync_file_range(  # type: ignore[attr-defined]
            proc.handle, m.file, first, count, flags))
        fields: dict[str, Any] = {"range": a.pos(1), "sfr_flags": flags}
        fields.update(self._sys(ret))
        fields["seconds"] = seconds
        self.emit("sync_file_range", proc.who, fields)  # type: ignore[attr-defined]

    def act_fadvise(self, proc: Proc, a: Action) -> None:
        """fadvise RANGE ADVICE: posix_fadvise(2) on the mapping's file."""
        m, first, count = self._file_range(
            proc, a, "usage: fadvise RANGE ADVICE (of a file mapping)")
        adv = a.pos(2) or ""
        advice = FADVISE.get(adv, -1)
        rc = self.b.fadvise(proc.handle, m.file, first, count, advice)  # type: ignore[attr-defined]
        fields: dict[str, Any] = {"range": a.pos(1), "arg": adv}
        fields.update(self._sys(rc))
        self.emit("fadvise", proc.who, fields)  # type: ignore[attr-defined]

    def act_drop_caches(self, proc: Proc, a: Action) -> None:
        """drop_caches [1|2|3]: write /proc/sys/vm/drop_caches (no sync first)."""
        value = a.pos(1) or "3"
        ret, seconds = self._timed(lambda: self.b.drop_caches(value))  # type: ignore[attr-defined]
        fields: dict[str, Any] = {"value": value}
        fields.update(self._sys(ret))
        fields["seconds"] = seconds
        self.emit("drop_caches", proc.who, fields)  # type: ignore[attr-defined]

    def _sys(self, ret: int) -> dict[str, Any]:
        from pagemig.script.core import syscall_fields

        return syscall_fields(ret)
