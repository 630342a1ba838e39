"""``pagemig parity``: every case of a folder run in-process and compared; exit 0 only when all
are equal, 1 when one differs or fails to run, 2 for a usage error or nothing to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pagemig.cli.main import main
from pagemig.cli.parity import results_beside

# Two private pages written on node 0, moved to node 1: both statuses are 1, ret 0.
MOVE_CASE = ("# two pages to node 1\nmap a anon 2 node=0 touch=write\n"
             "move pages=a nodes=1 flags=move\n")
MOVED = '{"op":"move_pages","line":3,"who":"parent","ret":0,"err":"OK","status_names":["1","1"]}\n'
NOT_MOVED = ('{"op":"move_pages","line":3,"who":"parent","ret":0,"err":"OK",'
             '"status_names":["0","0"]}\n')


def parity(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """``pagemig parity argv`` in this process: (exit status, stdout lines, stderr)."""
    rc = main(["parity", *argv])
    out, err = capsys.readouterr()
    return rc, out.splitlines(), err


def make_cases(d: Path, cases: dict[str, tuple[str, str]]) -> Path:
    """NAME.txt and NAME.jsonl in one folder, from {NAME: (case text, expected lines)}."""
    d.mkdir(parents=True, exist_ok=True)
    for name, (text, expected) in cases.items():
        (d / f"{name}.txt").write_text(text)
        (d / f"{name}.jsonl").write_text(expected)
    return d


def test_2627_examples_pass_from_any_directory(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """--kernel 2.6.27 finds examples/oracle-2.6.27 beside the package: both equal, exit 0."""
    monkeypatch.chdir(tmp_path)

    assert (0, ["ok   h13_move_mode_statuses: 4/4 objects equal",
                "ok   h14_pinned_eagain: 7/7 objects equal",
                "2 passed, 0 failed"], "") == parity(capsys, "--kernel", "2.6.27")


def test_a_differing_case_fails_with_exit_1(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    """One equal and one differing case: its first difference is shown, exit 1."""
    d = make_cases(tmp_path / "c", {"a_good": (MOVE_CASE, MOVED), "b_bad": (MOVE_CASE, NOT_MOVED)})

    rc, out, err = parity(capsys, "--kernel", "6.1", str(d))

    assert (1, "") == (rc, err)
    assert ["ok   a_good: 1/1 objects equal",
            "FAIL b_bad: 0/1 objects equal",
            '       line 3 parent move_pages: status_names: expected ["0", "0"] got ["1", "1"]',
            "1 passed, 1 failed"] == out


def test_pattern_selects_cases(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """PATTERN keeps the cases whose name contains it: only the equal one runs, exit 0."""
    d = make_cases(tmp_path / "c", {"a_good": (MOVE_CASE, MOVED), "b_bad": (MOVE_CASE, NOT_MOVED)})

    assert (0, ["ok   a_good: 1/1 objects equal", "1 passed, 0 failed"], "") == \
        parity(capsys, str(d), "good")


def test_a_case_the_model_rejects_fails(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    """A script error is that case's failure (file:line: message), and exit 1."""
    d = make_cases(tmp_path / "c", {"x": ("map a anon 1\nfrobnicate a\n", MOVED)})

    rc, out, _ = parity(capsys, str(d))

    assert (1, [f"FAIL x: model: {d / 'x.txt'}:2: unknown action: frobnicate",
                "0 passed, 1 failed"]) == (rc, out)


def test_separate_results_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """CASES_DIR RESULTS_DIR; and a `cases` folder finds its sibling `results` alone."""
    cases, results = tmp_path / "cases", tmp_path / "results"
    cases.mkdir()
    results.mkdir()
    (cases / "m.txt").write_text(MOVE_CASE)
    (results / "m.jsonl").write_text(MOVED)

    assert 0 == parity(capsys, str(cases), str(results))[0]
    assert results == results_beside(cases)
    assert (0, ["ok   m: 1/1 objects equal", "1 passed, 0 failed"], "") == \
        parity(capsys, str(cases))


@pytest.mark.parametrize(("argv", "message"), [
    (["DIR", "nomatch"], "pagemig parity: no case matching 'nomatch' with a result"),
    (["DIR", "DIR", "DIR", "x"], "pagemig parity: too many arguments"),
    (["DIR", "nowhere/", "x"], "pagemig parity: nowhere/: not a directory"),
    (["--kernel", "3.0"], "pagemig parity: no example cases for kernel 3.0: give CASES_DIR"),
])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                             argv: list[str], message: str) -> None:
    """No case to run, too many arguments, a missing folder, no default folder: exit 2."""
    d = make_cases(tmp_path / "c", {"a_good": (MOVE_CASE, MOVED)})

    rc, out, err = parity(capsys, *[str(d) if a == "DIR" else a for a in argv])

    assert (2, []) == (rc, out)
    assert err.startswith(message)
