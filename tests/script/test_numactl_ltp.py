"""numactl's and LTP's migration tests, as scenario scripts run on the 2.6.27 model.

The scenarios in ``tests/golden/`` take the shapes and checks of numactl's
``test/move_pages.c``, ``test/migrate_pages.c`` and ``test/mbind_mig_pages.c`` (32 pages,
page 2 never touched) and of LTP's ``migrate_pages01`` (errno checks) and
``migrate_pages02`` (moving a process's pages with and without CAP_SYS_NICE).  Next to
each ``NAME.scn`` is ``NAME.expected.jsonl``: one object per output object to check,
keyed by (line, who, op), holding only the fields worked out by hand from SPEC (2.6.27
column: §2.22-§2.26, §3.4, §4.1-§4.3, Q1, Q7): ``ret``, ``err``, ``status_names``,
``placement`` and the final ``verify`` counts.  The reasoning is in the comments of each
scenario.

Each scenario runs twice: through ``pagemig run`` (the command line's own process and
output), and through the Runner with :func:`pagemig.validate.validate` after every action.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pagemig.backends.model import ModelBackend
from pagemig.cli.main import main
from pagemig.kernel import Topology
from pagemig.script.parse import parse_script
from pagemig.script.runner import Runner
from pagemig.validate import validate

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
SCENARIOS = sorted(p.stem for p in GOLDEN.glob("*.scn"))
# Every object of these ops must have an expected entry: none goes unchecked.
CHECKED_OPS = frozenset({"query", "move_pages", "migrate_pages", "mbind", "set_mempolicy",
                         "placement", "droppriv", "dropcap", "verify"})
SMALL = Topology(nodes=2, mem_per_node_mb=64)

Objs = list[dict[str, Any]]


# -- helpers --

def expected(name: str) -> Objs:
    """The hand-worked objects of scenario ``name``."""
    text = (GOLDEN / f"{name}.expected.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_cli(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, Objs, str]:
    """``pagemig run path`` in this process: (exit status, JSON objects, stderr)."""
    rc = main(["run", str(path)])
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def run_validated(path: Path) -> Objs:
    """Run a scenario with the Runner on the machine its ``#@`` line asks for, validating
    every invariant after each action."""
    from pagemig.cli.run import machine_for

    text = path.read_text(encoding="utf-8")
    script = parse_script(text, str(path))

    class Args:
        nodes = mem_per_node = cpus_per_node = memless_nodes = None
        kernel = "2.6.27"
        seed = 0

    backend = machine_for(script, text, Args())  # type: ignore[arg-type]
    out: Objs = []
    Runner(backend, script, out.append, lambda a: validate(backend.k)).run()
    validate(backend.k)
    return out


def key(obj: dict[str, Any]) -> tuple[int, str, str]:
    """Objects are matched by (line, who, op), as the oracle's compare.py does."""
    return obj["line"], obj["who"], obj["op"]


def check(name: str, objs: Objs) -> None:
    """Every expected field matches, and every object of a checked op was expected."""
    actual = {key(o): o for o in objs if "line" in o}
    want = {key(e): e for e in expected(name)}
    for k, e in want.items():
        assert k in actual, f"{name}: no output object for {k}"
        got = {f: actual[k].get(f) for f in e if f not in ("line", "who", "op")}
        assert {f: v for f, v in e.items() if f not in ("line", "who", "op")} == got, \
            f"{name}: line {k[0]} ({k[1]} {k[2]})"
    unchecked = sorted(k for k in actual if k[2] in CHECKED_OPS and k not in want)
    assert [] == unchecked, f"{name}: objects without an expected entry"


def by_op(objs: Objs, op: str) -> Objs:
    """The objects of one op, in order."""
    return [o for o in objs if o.get("op") == op]


# == the golden scenarios ==

def test_every_scenario_has_its_expected_file() -> None:
    """Each .scn has a .expected.jsonl and vice versa."""
    assert {"numactl_move_pages", "numactl_migrate_pages", "numactl_mbind_mig_pages",
            "ltp_migrate_pages01", "ltp_migrate_pages01_memless",
            "ltp_migrate_pages02"} == set(SCENARIOS)
    assert SCENARIOS == sorted(p.name.removesuffix(".expected.jsonl")
                               for p in GOLDEN.glob("*.expected.jsonl"))


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_through_pagemig_run(capsys: pytest.CaptureFixture[str], name: str) -> None:
    """``pagemig run`` gives the hand-worked results and exit status 0."""
    rc, objs, err = run_cli(capsys, GOLDEN / f"{name}.scn")

    assert (0, "") == (rc, err)
    assert {"op": "end", "rc": 0} == objs[-1]
    check(name, objs)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_keeps_every_invariant(name: str) -> None:
    """The same scenario through the Runner, validated after every action, gives the same
    results."""
    check(name, run_validated(GOLDEN / f"{name}.scn"))


# == details the golden files do not spell out ==

def test_move_pages_repeat_is_q1_enoent_and_nothing_moves(
        capsys: pytest.CaptureFixture[str]) -> None:
    """numactl move_pages.c: the repeat returns -1/ENOENT (Q1), the untouched page 2 was
    ENOENT in the first call, and the placement did not change between the two calls."""
    _, objs, _ = run_cli(capsys, GOLDEN / "numactl_move_pages.scn")
    first, repeat = by_op(objs, "move_pages")
    before, after = by_op(objs, "placement")

    assert "ENOENT" == first["status_names"][2]
    assert (-1, 2, "ENOENT") == (repeat["ret"], repeat["errno"], repeat["err"])
    assert before["placement"] == after["placement"]


def test_ltp01_every_error_leaves_the_pages_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """After all of migrate_pages01's failing calls the parent's pages are still on node 0
    and intact."""
    _, objs, _ = run_cli(capsys, GOLDEN / "ltp_migrate_pages01.scn")
    errors = [o for o in by_op(objs, "migrate_pages") if o["ret"] < 0]

    assert ["ESRCH", "ESRCH", "EINVAL", "EFAULT", "EFAULT", "EFAULT", "EINVAL", "EPERM"] == [
        o["err"] for o in errors]
    assert all("placement" not in o for o in errors)
    assert by_op(objs, "verify")[0]["ok"]


def script_objs(text: str, backend: ModelBackend | None = None) -> Objs:
    """Run an inline scenario on a small 2-node machine, validating after every action."""
    b = backend or ModelBackend(SMALL)
    out: Objs = []
    Runner(b, parse_script(text, "t.scn"), out.append, lambda a: validate(b.k)).run()
    return out


def test_set_mempolicy_action_places_later_faults() -> None:
    """``set_mempolicy``: bind {1} puts new pages on node 1, interleave {0,1} alternates by
    page offset, default goes back to the local node; a bad mode gives EINVAL."""
    objs = script_objs(
        "set_mempolicy mode=bind nodes=1\nmap b anon 2 touch=write\n"
        "set_mempolicy mode=interleave nodes=0,1\nmap i anon 4 touch=write\n"
        "set_mempolicy mode=default\nmap d anon 1 touch=write\n"
        "set_mempolicy mode=bind nodes=none\nplacement\n")
    calls = by_op(objs, "set_mempolicy")
    placement = by_op(objs, "placement")[0]["placement"]
    i_addr = int(by_op(objs, "map")[1]["addr"], 16)

    assert [0, 0, 0, -1] == [c["ret"] for c in calls]
    assert "EINVAL" == calls[3]["err"]
    assert [1, 1] == placement["b"]
    assert [(i_addr // 4096 + n) % 2 for n in range(4)] == placement["i"]
    assert [0] == placement["d"]


def test_mbind_hole_leaks_pages_that_move_pages_reports_ebusy() -> None:
    """Q7 from a script: mbind(MOVE) over a range with a hole in the middle gives EFAULT;
    the page of the first vma stays isolated (EBUSY in move_pages), the other one moves."""
    b = ModelBackend(SMALL)
    objs = script_objs("map a anon 3 touch=write\nmunmap a[1]\n"
                       "mbind a mode=bind nodes=1 flags=move\n"
                       "move pages=a[0],a[2] nodes=1 flags=move\n", b)
    mb, mv = by_op(objs, "mbind")[0], by_op(objs, "move_pages")[0]

    assert (-1, "EFAULT") == (mb["ret"], mb["err"])
    assert {"a": [0, -2, 0]} == mb["placement"]
    assert (0, ["EBUSY", "1"]) == (mv["ret"], mv["status_names"])
    assert 1 == len(b.k.leaked_isolated)
