"""Comparing two JSON-lines outputs of one scenario: what a kernel answered and what the model did.

The rules are the oracle's: objects are matched by ``(line, who, op)`` (``who`` defaults to
``parent``), in order when a key repeats.  Only the fields in `KEYS` are compared, those that
do not depend on timing, addresses, pids or the machine's memory; ops that only report the
environment (`SKIP_OPS`) are not compared at all; and per op, `OP_SKIP_KEYS` leaves out fields
that describe the probe program rather than the kernel (a whole-process migrate_pages also
moves the probe's own text, data, heap and stack, so its ``vmstat_delta`` depends on the
binary).  A field is compared only where the expected object has it, so an expectation may
hold fewer keys than a recorded run.  A case file's ``#! ignore: FIELD ...`` lines leave
fields out for the whole case.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pagemig.script.parse import ScriptError

Obj = dict[str, Any]
Key = tuple[Any, Any, Any]

SKIP_OPS = frozenset({"env", "vm", "meminfo", "vmstat", "read", "write", "note", "sleep", "pin",
                      "bench", "end"})
OP_SKIP_KEYS: dict[str, frozenset[str]] = {"migrate_pages": frozenset({"vmstat_delta"})}
KEYS = ("ret", "errno", "err", "count", "flags", "nodes_null", "items", "nodes",
        "status", "status_names", "status_hist", "vmstat_delta", "placement", "mismatches", "ok",
        "maps", "mbind_ret", "mbind_err", "touch", "npages", "type", "name",
        # per-page state (pageflags, pageout) and KSM counters (ksm)
        "pte", "mapcount", "page_flags", "swapped", "present", "pages_shared", "pages_sharing")
MISSING = "missing in actual"


@dataclass(frozen=True)
class Difference:
    """One disagreement: a field of an expected object, or a whole object not found."""

    key: Key
    field: str                # a key name, or MISSING
    expected: Any = None
    actual: Any = None

    def __str__(self) -> str:
        line, who, op = self.key
        where = f"line {line} {who} {op}"
        if self.field == MISSING:
            return f"{where}: {MISSING}"
        return (f"{where}: {self.field}: expected {json.dumps(self.expected)[:300]}"
                f" got {json.dumps(self.actual)[:300]}")


@dataclass
class Comparison:
    """The outcome: how many expected objects were compared, how many agree, the differences."""

    total: int = 0
    differing: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """True when every compared object agrees."""
        return not self.differences

    def summary(self) -> str:
        """``N/M objects equal``."""
        return f"{self.total - self.differing}/{self.total} objects equal"


def parse_objects(text: str, path: str) -> list[Obj]:
    """The JSON objects of a JSON-lines text; lines not starting with ``{`` are skipped.

    A line that starts with ``{`` but is not JSON raises
    ``ScriptError(path, line, ...)``.
    """
    objs = []
    for n, raw in enumerate(text.splitlines(), 1):
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ScriptError(path, n, f"not JSON: {e.msg} (column {e.colno})") from None
        objs.append(obj)
    return objs


def load_objects(path: str) -> list[Obj]:
    """The JSON objects of a JSON-lines file (see `parse_objects`); OSError if unreadable."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse_objects(f.read(), path)


def ignored_fields(case_text: str) -> set[str]:
    """The field names of a case's ``#! ignore:`` lines."""
    ignored: set[str] = set()
    for raw in case_text.splitlines():
        if raw.startswith("#! ignore:"):
            ignored.update(raw.split(":", 1)[1].split())
    return ignored


def object_key(obj: Obj) -> Key:
    """What matches an expected object to an actual one: (line, who, op)."""
    return obj.get("line"), obj.get("who", "parent"), obj.get("op")


def compare_objects(expected: Iterable[Obj], actual: Iterable[Obj],
                    ignored: Iterable[str] = ()) -> Comparison:
    """Compare the expected objects with the actual ones under the rules above."""
    ignored = set(ignored)
    by_key: dict[Key, list[Obj]] = {}
    for o in actual:
        by_key.setdefault(object_key(o), []).append(o)
    result = Comparison()
    for e in expected:
        op = e.get("op")
        if op in SKIP_OPS:
            continue
        result.total += 1
        key = object_key(e)
        candidates = by_key.get(key)
        if not candidates:
            result.differing += 1
            result.differences.append(Difference(key, MISSING))
            continue
        a = candidates.pop(0)
        skipped = ignored | OP_SKIP_KEYS.get(op, frozenset())
        diffs = [Difference(key, k, e[k], a.get(k)) for k in KEYS
                 if k in e and k not in skipped and e[k] != a.get(k)]
        if diffs:
            result.differing += 1
            result.differences += diffs
    return result
