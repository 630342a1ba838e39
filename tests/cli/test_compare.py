"""``pagemig compare`` and ``pagemig.script.compare``: the oracle's comparison rules.

Objects are matched by (line, who, op); only the compared keys count, where the expected
object has them; environment ops are skipped, and so is migrate_pages' vmstat_delta; a case's
``#! ignore:`` lines leave fields out.  Exit status 0 equal, 1 differ, 2 usage or parse error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pagemig.cli.main import main
from pagemig.script.compare import (
    MISSING,
    Difference,
    compare_objects,
    ignored_fields,
    parse_objects,
)
from pagemig.script.parse import ScriptError

MOVE = {"op": "move_pages", "line": 4, "who": "parent", "ret": 0, "err": "OK",
        "status": [1, 1], "status_names": ["1", "1"], "seconds": 0.02, "pid": 0}


def write_lines(path: Path, objs: list[dict[str, Any]], extra: str = "") -> Path:
    """Write objects as JSON lines (plus any raw text) and return the path."""
    path.write_text("".join(json.dumps(o) + "\n" for o in objs) + extra)
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``pagemig compare argv`` in this process: (exit status, stdout, stderr)."""
    rc = main(["compare", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_equal_outputs_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Equal compared fields: exit 0; timing, pid and address fields do not count."""
    exp = write_lines(tmp_path / "e.jsonl", [MOVE])
    act = write_lines(tmp_path / "a.jsonl", [dict(MOVE, seconds=9.5, pid=1234)],
                      '{"op":"end","rc":0}\n')

    assert (0, "1/1 objects equal\n", "") == cli(capsys, str(exp), str(act))


def test_differing_field_exit_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A differing status: exit 1, one line per differing field, then the summary."""
    exp = write_lines(tmp_path / "e.jsonl", [MOVE, {"op": "placement", "line": 5,
                                                    "placement": {"a": [1, 1]}}])
    act = write_lines(tmp_path / "a.jsonl", [dict(MOVE, status=[1, -16],
                                                  status_names=["1", "EBUSY"]),
                                             {"op": "placement", "line": 5, "who": "parent",
                                              "placement": {"a": [1, 1]}}])

    rc, out, _ = cli(capsys, str(exp), str(act))

    assert 1 == rc
    assert ['line 4 parent move_pages: status: expected [1, 1] got [1, -16]',
            'line 4 parent move_pages: status_names: expected ["1", "1"] got ["1", "EBUSY"]',
            "1/2 objects equal"] == out.splitlines()


def test_quiet_prints_only_the_summary(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    """--quiet leaves out the difference lines but keeps the exit status."""
    exp = write_lines(tmp_path / "e.jsonl", [MOVE])
    act = write_lines(tmp_path / "a.jsonl", [dict(MOVE, ret=1)])

    assert (1, "0/1 objects equal\n", "") == cli(capsys, str(exp), str(act), "--quiet")


def test_missing_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An expected object with no (line, who, op) match is reported missing: exit 1."""
    child = dict(MOVE, who="c")
    exp = write_lines(tmp_path / "e.jsonl", [MOVE, child])
    act = write_lines(tmp_path / "a.jsonl", [MOVE, dict(MOVE, line=5, who="c")])

    rc, out, _ = cli(capsys, str(exp), str(act))

    assert (1, ["line 4 c move_pages: missing in actual", "1/2 objects equal"]) == \
        (rc, out.splitlines())


def test_repeated_keys_are_matched_in_order() -> None:
    """Two objects with one (line, who, op) (a loop's calls) pair up first with first."""
    first, second = dict(MOVE, ret=0), dict(MOVE, ret=2)

    assert compare_objects([first, second], [first, second]).equal
    result = compare_objects([first, second], [second, first])
    assert [Difference((4, "parent", "move_pages"), "ret", 0, 2),
            Difference((4, "parent", "move_pages"), "ret", 2, 0)] == result.differences
    assert (2, 2) == (result.total, result.differing)


def test_only_keys_of_the_expected_object_are_compared() -> None:
    """An expectation with fewer keys (as the 2.6.27 cases have) checks only those."""
    expected = {"op": "move_pages", "line": 4, "ret": 0, "status_names": ["1", "1"]}

    assert compare_objects([expected], [dict(MOVE, status=[7, 7], count=2)]).equal
    assert not compare_objects([expected], [dict(MOVE, ret=3)]).equal


def test_ignore_line_of_the_case(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--case reads `#! ignore:` lines: those fields are left out (exit 0 instead of 1)."""
    exp = write_lines(tmp_path / "e.jsonl", [dict(MOVE, placement={"a": [1, 1]}),
                                             {"op": "placement", "line": 5,
                                              "placement": {"a": [1, 1]}}])
    act = write_lines(tmp_path / "a.jsonl", [dict(MOVE, ret=-1, placement={"a": [0, 0]}),
                                             {"op": "placement", "line": 5,
                                              "placement": {"a": [0, 0]}}])
    case = tmp_path / "c.txt"
    case.write_text("# a case\n#! ignore: placement ret\nmap a anon 2\n")

    assert 1 == cli(capsys, str(exp), str(act))[0]
    assert (0, "2/2 objects equal\n", "") == cli(capsys, str(exp), str(act), "--case", str(case))


def test_ignored_fields_reads_every_ignore_line() -> None:
    """Each `#! ignore:` line adds its names; other comments do not."""
    text = "#! ignore: vmstat_delta placement\n# ignore: ret\n#! ignore: status\nmove a\n"

    assert {"vmstat_delta", "placement", "status"} == ignored_fields(text)


def test_skipped_ops_and_keys() -> None:
    """env/vm/meminfo/vmstat/bench/... are not compared; neither is migrate_pages'
    vmstat_delta, while move_pages' is."""
    skipped = [{"op": op, "line": 3, "value": 1} for op in
               ("env", "vm", "meminfo", "vmstat", "read", "write", "note", "sleep", "pin",
                "bench", "end")]
    migrate = {"op": "migrate_pages", "line": 6, "ret": 0,
               "vmstat_delta": {"pgmigrate_success": 300, "pgmigrate_fail": 0}}
    move = dict(MOVE, vmstat_delta={"pgmigrate_success": 2, "pgmigrate_fail": 0})

    result = compare_objects(skipped + [migrate, move],
                             [dict(migrate, vmstat_delta={"pgmigrate_success": 12,
                                                          "pgmigrate_fail": 0}),
                              dict(move, vmstat_delta={"pgmigrate_success": 0,
                                                       "pgmigrate_fail": 0})])

    assert 2 == result.total
    assert [Difference((4, "parent", "move_pages"), "vmstat_delta",
                       {"pgmigrate_success": 2, "pgmigrate_fail": 0},
                       {"pgmigrate_success": 0, "pgmigrate_fail": 0})] == result.differences


def test_bad_json_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A line starting with `{` that is not JSON: `file:line:` on stderr, exit 2."""
    exp = write_lines(tmp_path / "e.jsonl", [MOVE], '{"op": "placement", "line": \n')
    act = write_lines(tmp_path / "a.jsonl", [MOVE])

    rc, out, err = cli(capsys, str(exp), str(act))

    assert (2, "") == (rc, out)
    assert err.startswith(f"{exp}:2: not JSON: ")
    assert "Traceback" not in err


def test_only_object_lines_are_read() -> None:
    """Lines not starting with `{` (notes, a JSON list) are skipped; a bad object line is a
    ScriptError at its line."""
    assert [{"a": 1}] == parse_objects('note\n[1, 2]\n{"a": 1}\n', "x.jsonl")
    with pytest.raises(ScriptError) as e:
        parse_objects('{"a": 1}\n{"a": 1}}\n', "x.jsonl")
    assert str(e.value).startswith("x.jsonl:2: not JSON: ")


def test_missing_file_and_usage_exit_2(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    """An unreadable file: a one-line message, exit 2; a missing argument: usage, exit 2."""
    act = write_lines(tmp_path / "a.jsonl", [MOVE])

    rc, _, err = cli(capsys, str(tmp_path / "nope.jsonl"), str(act))
    assert (2, f"pagemig compare: {tmp_path / 'nope.jsonl'}: No such file or directory\n") == \
        (rc, err)
    with pytest.raises(SystemExit) as e:
        main(["compare", str(act)])
    assert 2 == e.value.code


def test_missing_is_a_difference_of_its_own() -> None:
    """A missing object gives one Difference whose field is MISSING."""
    result = compare_objects([MOVE], [])

    assert [Difference((4, "parent", "move_pages"), MISSING)] == result.differences
    assert "0/1 objects equal" == result.summary()
