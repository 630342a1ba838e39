"""Replays the cases recorded on the real Linux 6.1 kernel (tests/kernel-cases/6.1/NAME.txt
with its raw output NAME.jsonl) through ``pagemig run --kernel 6.1`` and compares them with
the oracle's compare tool (the fields it compares)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pagemig.cli.main import main

CASES = Path(__file__).resolve().parents[1] / "kernel-cases" / "6.1"
# shared/ lies beside the checkout (as CI lays it out); /work/shared otherwise.
_BESIDE = Path(__file__).resolve().parents[2].parent / "shared"
SHARED = _BESIDE if _BESIDE.is_dir() else Path("/work/shared")
COMPARE = SHARED / "oracle" / "tools" / "compare.py"


@pytest.mark.skipif(not COMPARE.is_file(), reason="the oracle's compare tool is not here")
@pytest.mark.parametrize("case", sorted(p.stem for p in CASES.glob("*.txt")))
def test_recorded_6_1_case(case: str, capsys: pytest.CaptureFixture[str],
                           tmp_path: Path) -> None:
    """The model under 6.1 gives the recorded kernel's compared fields for the case."""
    rc = main(["run", "--kernel", "6.1", str(CASES / f"{case}.txt")])
    out = capsys.readouterr().out
    actual = tmp_path / "actual.jsonl"
    actual.write_text(out)

    cmp = subprocess.run([sys.executable, str(COMPARE), str(CASES / f"{case}.jsonl"),
                          str(actual), "--case", str(CASES / f"{case}.txt")],
                         capture_output=True, text=True, check=False)

    assert (0, 0) == (rc, cmp.returncode), cmp.stdout[-2000:]
