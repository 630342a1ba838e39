"""Replays the cases recorded on the real Linux 6.1 kernel (tests/kernel-cases/6.1/NAME.txt
with its raw output NAME.jsonl) through ``pagemig run --kernel 6.1`` and compares the
fields the oracle's compare tool compares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pagemig.cli.main import main

CASES = Path(__file__).resolve().parents[1] / "kernel-cases" / "6.1"
# Fields that depend on timing, addresses, pids or machine memory (compare.py skips them).
SKIPPED_OPS = {"env", "vm", "meminfo", "vmstat", "read", "write", "note", "sleep", "pin",
               "bench", "end"}
SKIPPED_FIELDS = {"seconds", "writeback_wait_s", "addr", "kpf", "pid", "uptime_s"}


def comparable(objs: list[dict]) -> dict[tuple, dict]:  # type: ignore[type-arg]
    """Objects by (line, who, op), without the fields that vary between runs."""
    return {(o.get("line"), o.get("who"), o["op"]):
            {key: v for key, v in o.items() if key not in SKIPPED_FIELDS}
            for o in objs if o["op"] not in SKIPPED_OPS}


@pytest.mark.parametrize("case", sorted(p.stem for p in CASES.glob("*.txt")))
def test_recorded_6_1_case(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The model under 6.1 gives the recorded kernel's objects for the case."""
    expected = [json.loads(line) for line in (CASES / f"{case}.jsonl").read_text().splitlines()
                if line.startswith("{")]

    rc = main(["run", "--kernel", "6.1", str(CASES / f"{case}.txt")])
    out = capsys.readouterr().out

    assert 0 == rc
    actual = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert comparable(expected) == comparable(actual)
