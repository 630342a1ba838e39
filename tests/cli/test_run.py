"""``pagemig run SCRIPT``: the command line, its error reporting and script-level move_pages.

The oracle's 2.6.27 example cases must give exactly their expected objects; a bad script
must give ``file:line: message`` on stderr and exit status 2; huge counts must not hang;
``--trace`` prints the engine's events; and the rows of SPEC §4.1 and §4.2 (2.6.27 column)
that a scenario can reach are checked through the probe's ``status_names``, ``ret`` and
``err``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pagemig.backends.model import ModelBackend
from pagemig.cli.main import main
from pagemig.kernel import Topology

ORACLE_2627 = Path(__file__).resolve().parents[2] / "examples" / "oracle-2.6.27"
CASES_2627 = ["h13_move_mode_statuses", "h14_pinned_eagain"]
HANG_TIMEOUT_S = 60

Objs = list[dict[str, Any]]


# -- helpers --

def run_cli(capsys: pytest.CaptureFixture[str], path: Path, *opts: str) -> tuple[int, Objs, str]:
    """``pagemig run [opts] path`` in this process: (exit status, JSON objects, stderr)."""
    rc = main(["run", *opts, str(path)])
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def run_text(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str,
             *opts: str) -> tuple[int, Objs, str]:
    """Write ``text`` as t.scn and run it."""
    path = tmp_path / "t.scn"
    path.write_text(text)
    return run_cli(capsys, path, *opts)


def calls(objs: Objs) -> dict[int, dict[str, Any]]:
    """The move_pages and query objects of the parent, by scenario line."""
    return {o["line"]: o for o in objs if o["op"] in ("move_pages", "query")
            and o["who"] == "parent"}


def result(o: dict[str, Any]) -> tuple[int, str, list[str]]:
    """(ret, err, status_names) of a move_pages or query object."""
    return o["ret"], o["err"], o["status_names"]


def placement(objs: Objs, line: int) -> dict[str, Any]:
    """The placement object of ``line``."""
    return next(o["placement"] for o in objs if o["op"] == "placement" and o["line"] == line)


def scenario(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str,
             *opts: str) -> Objs:
    """Run a scenario that must succeed and keep every page's contents."""
    rc, objs, err = run_text(capsys, tmp_path, text, *opts)

    assert (0, "") == (rc, err)
    verify = [o for o in objs if o["op"] == "verify"]
    assert verify and all(o["ok"] for o in verify)
    return objs


def compare_like_oracle(expected: Objs, actual: Objs) -> list[str]:
    """pagemig compare's matching by (line, who, op), but every key of the expected object."""
    by_key: dict[tuple[Any, Any, Any], Objs] = {}
    for o in actual:
        by_key.setdefault((o.get("line"), o.get("who", "parent"), o.get("op")), []).append(o)
    diffs = []
    for e in expected:
        key = (e.get("line"), e.get("who", "parent"), e.get("op"))
        cands = by_key.get(key)
        if not cands:
            diffs.append(f"{key}: missing")
            continue
        a = cands.pop(0)
        diffs += [f"{key} {k}: expected {v!r} got {a.get(k)!r}" for k, v in e.items()
                  if v != a.get(k)]
    return diffs


# -- the oracle's 2.6.27 cases --

@pytest.mark.parametrize("case", CASES_2627)
def test_oracle_2627_case_gives_the_expected_objects(capsys: pytest.CaptureFixture[str],
                                                     case: str) -> None:
    """Each 2.6.27 case gives exactly its expected objects (keys of the .jsonl)."""
    script, expected_path = ORACLE_2627 / f"{case}.txt", ORACLE_2627 / f"{case}.jsonl"
    expected = [json.loads(line) for line in expected_path.read_text().splitlines()
                if line.startswith("{")]

    rc, objs, err = run_cli(capsys, script, "--kernel", "2.6.27")

    assert (0, "") == (rc, err)
    assert [] == compare_like_oracle(expected, objs)
    assert {"op": "end", "rc": 0} == objs[-1]


# -- bad scripts: file:line: message, exit status 2 --

@pytest.mark.parametrize(("text", "line", "message"), [
    ("map a anon 1\nfrobnicate a\n", 2, "unknown action: frobnicate"),
    ("map a anon 1 touch=write\nmove pages=a[ nodes=1\n", 2, "bad item 'a['"),
    ("map a anon 1 touch=write\nmove pages=a[5] nodes=1\n", 2, "outside mapping a"),
    ("map a anon 1 touch=write\nmove pages=b nodes=1\n", 2, "bad item 'b'"),
    ("map a anon 1 touch=write\ntouch b write\n", 2, "no such mapping: b"),
    ("map a anon 1 touch=write\nmove pages=a nodes=1 flags=bogus\n", 2, "bad flag 'bogus'"),
    ("map a anon 1 node=x\n", 1, "bad integer 'x'"),
    ("map a anon 1\nmove pages=a nodes=1 pid=nobody\n", 2, "bad pid"),
    ("map a anon 2 touch=write\nmove pages=a nodes=1,0,1\n", 2, "nodes list length"),
    ("# comment\n#@ --nodes 99\nmap a anon 1\n", 2, "invalid value for --nodes"),
    ("#@ --swap 64\nmap a anon 1\n", 1, "--swap-dev zram: not in Linux 2.6.27"),
    ("map a anon 2 touch=write\nmunmap a[1]\ntouch a[1] write\n", 3, "SIGSEGV"),
    ("map a anon 1\n@c touch a write\n", 2, "no such live child: c"),
], ids=["unknown-action", "bad-item", "range-outside", "unknown-mapping-item",
        "unknown-mapping-touch", "bad-flag", "bad-integer", "bad-pid", "nodes-length",
        "bad-vm-option", "swap", "touch-unmapped", "no-child"])
def test_bad_script_is_file_line_message_exit_2(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path, text: str, line: int,
                                                message: str) -> None:
    """One line ``file:line: message`` on stderr, exit status 2, no traceback; the objects
    printed before the error are whole JSON lines."""
    rc, objs, err = run_text(capsys, tmp_path, text)

    assert 2 == rc
    assert 1 == len(err.splitlines())
    assert err.startswith(f"{tmp_path / 't.scn'}:{line}: ")
    assert message in err
    assert "Traceback" not in err
    assert all(o["line"] < line for o in objs)


def test_missing_script_file_is_exit_2(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    """A script that cannot be opened: a message, exit status 2."""
    rc, objs, err = run_cli(capsys, tmp_path / "absent.scn")

    assert (2, []) == (rc, objs)
    assert "absent.scn" in err and "Traceback" not in err


# -- huge counts and sizes do not hang (run in a subprocess with a timeout) --

def _run_subprocess(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "t.scn"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "pagemig.cli.main", "run", str(path)],
                          capture_output=True, text=True, timeout=HANG_TIMEOUT_S, check=False)


@pytest.mark.parametrize(("count", "err"), [
    ("0xffffffffffffffff", "E2BIG"), ("0x0AAAAAAAAAAAAAA9", "E2BIG"),
    ("0x0AAAAAAAAAAAAAA8", "ENOMEM"), ("0x0AAAAAAAAAAAAA00", "ENOMEM"),
    ("1099511627776", "ENOMEM"), ("1000000", "EFAULT"),
])
def test_huge_count_returns_quickly(tmp_path: Path, count: str, err: str) -> None:
    """Huge counts fail at once (E2BIG, vmalloc's ENOMEM, or EFAULT at the guard page)."""
    proc = _run_subprocess(tmp_path, f"map a anon 1 touch=write\n"
                                     f"move pages=a nodes=1 count={count}\n")
    move = next(json.loads(x) for x in proc.stdout.splitlines() if '"move_pages"' in x)

    assert (0, "") == (proc.returncode, proc.stderr)
    assert (err, ["UNSET"]) == (move["err"], move["status_names"])


@pytest.mark.parametrize(("text", "line", "message"), [
    ("map x anon 99999999999\n", 1, "NPAGES must be between"),
    ("map a anon 1 touch=write\nmove pages=a*99999999999 nodes=1\n", 2, "too many items"),
    ("map a anon 1 touch=write\nquery a*99999999999\n", 2, "too many items"),
    ("map a anon 1 touch=write\nmove pages=a nodes=1*99999999999\n", 2, "too many nodes"),
], ids=["map", "move-repeat", "query-repeat", "nodes-repeat"])
def test_huge_sizes_are_refused_quickly(tmp_path: Path, text: str, line: int,
                                        message: str) -> None:
    """Absurd mapping sizes and repeats are script errors, not hangs."""
    proc = _run_subprocess(tmp_path, text)

    assert 2 == proc.returncode
    assert proc.stderr.startswith(f"{tmp_path / 't.scn'}:{line}: ")
    assert message in proc.stderr and "Traceback" not in proc.stderr


# -- --trace --

def test_trace_of_a_one_page_move(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``--trace`` of one anonymous page moved from node 0 to node 1 on 2.6.27 prints, in
    order (SPEC §2.22, §2.20, §2.19, checked by hand):

    1. ``mm_migrate_isolate`` -- do_move_pages() isolates the page (isolate_lru_page() 0);
    2. ``mm_migrate_pass`` -- migrate_pages() pass 0 (not forced);
    3. ``mm_migrate_new_page`` -- unmap_and_move() step 1: new_page_node() allocates on
       node 1; the page has 2 references (pte + isolation), so it was not freed under us;
       the memcg charge succeeds, the trylock succeeds, no writeback, the page has a mapping;
    4. ``mm_migrate_unmap`` -- step 8: try_to_unmap() replaces the pte with a (write)
       migration entry;
    5. ``mm_migrate_move_mapping`` -- move_to_new_page() -> migrate_page() ->
       migrate_page_move_mapping() with no mapping: count 1 expected and found, rc 0;
    6. ``mm_migrate_copy`` -- migrate_page_copy();
    7. ``mm_migrate_remap`` -- remove_migration_ptes(old, new) maps the new page;
    8. ``mm_migrate_result`` -- rc 0: the status slot gets node 1.

    retry is 0 after pass 0, so there is no second pass, and the list is empty, so
    putback_lru_pages() puts nothing back (no ``mm_migrate_putback``).
    """
    rc, objs, err = run_text(capsys, tmp_path, "map a anon 1 node=0 touch=write\n"
                                               "move pages=a nodes=1 flags=move\n",
                             "--trace", "--kernel", "2.6.27")
    events = [line.split(":")[1].strip() for line in err.splitlines()
              if line.startswith("pagemig: mm_migrate_")]

    assert 0 == rc
    assert (0, "OK", ["1"]) == result(calls(objs)[2])
    assert ["mm_migrate_isolate", "mm_migrate_pass", "mm_migrate_new_page", "mm_migrate_unmap",
            "mm_migrate_move_mapping", "mm_migrate_copy", "mm_migrate_remap",
            "mm_migrate_result"] == events


def test_no_trace_without_the_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Without ``--trace`` nothing is printed on stderr."""
    rc, _, err = run_text(capsys, tmp_path, "map a anon 1 touch=write\nmove pages=a nodes=1\n")

    assert (0, "") == (rc, err)


# -- SPEC §4.1 (per-page statuses, 2.6.27) through scenarios --

def test_41_node_id_migrated_and_already_there(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    """§4.1 node id: migrated pages and pages already on the node both report the node."""
    objs = scenario(capsys, tmp_path, "map a anon 4 node=0 touch=write\n"
                                      "move pages=a[0:2] nodes=1\n"
                                      "move pages=a nodes=1\n"
                                      "placement\n")

    assert (0, "OK", ["1", "1"]) == result(calls(objs)[2])
    assert (0, "OK", ["1", "1", "1", "1"]) == result(calls(objs)[3])
    assert {"a": [1, 1, 1, 1]} == placement(objs, 4)


def test_41_efault_no_vma_at_or_above(capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    """§4.1 -EFAULT: kernel, kernel text, non-canonical and near -1 addresses (no vma at or
    above them); the valid page still moves."""
    objs = scenario(capsys, tmp_path, "map a anon 1 node=0 touch=write\n"
                                      "move pages=kernel,ktext,noncanon,neg,a nodes=1\n")

    assert (0, "OK", ["EFAULT"] * 4 + ["1"]) == result(calls(objs)[2])


def test_41_enoent_not_present_hole_and_null(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    """§4.1 -ENOENT: an untouched anon page, an untouched tmpfs page, an untouched page of a
    PROT_NONE vma, a hole below a vma and the null address (Q3: no vm_start check)."""
    objs = scenario(capsys, tmp_path, "map a anon 1 node=0 touch=write\n"
                                      "map u anon 1\n"
                                      "map f fileshared 1\n"
                                      "map h anon 3 touch=write\n"
                                      "munmap h[1]\n"
                                      "move pages=u,f,badpage,h[1],null,a nodes=1\n"
                                      "query u,f,badpage,h[1],null,a\n")

    assert (0, "OK", ["ENOENT"] * 5 + ["1"]) == result(calls(objs)[6])
    assert (0, "OK", ["ENOENT"] * 5 + ["1"]) == result(calls(objs)[7])


def test_41_eacces_shared_after_fork(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """§4.1 -EACCES: COW-shared pages after fork without MOVE_ALL, from either process; a
    shared page already on its node reports the node; MOVE_ALL moves them."""
    objs = scenario(capsys, tmp_path, "map a anon 2 node=0 touch=write\n"
                                      "fork c\n"
                                      "map b anon 1 node=0 touch=write\n"
                                      "move pages=a[0],a[1],b nodes=0,1,1\n"
                                      "@c move pages=a nodes=1\n"
                                      "move pages=a nodes=1 flags=all\n"
                                      "@c placement\n")
    child = next(o for o in objs if o["who"] == "c" and o["op"] == "move_pages")

    assert (0, "OK", ["0", "EACCES", "1"]) == result(calls(objs)[4])
    assert (-1, "ENOENT", ["UNSET", "UNSET"]) == result(child)
    assert (0, "OK", ["1", "1"]) == result(calls(objs)[6])
    assert {"a": [1, 1]} == next(o["placement"] for o in objs if o["op"] == "placement")


def test_41_ebusy_duplicates_q14(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """§4.1 -EBUSY and Q14: a duplicate after the isolating entry is -EBUSY (a third one too);
    an isolating entry behind an "already there" entry keeps 0 while the page stays on
    node 1; a duplicate requesting the node the page is on reports that node."""
    objs = scenario(capsys, tmp_path, "map a anon 2 node=0 touch=write\n"
                                      "map d anon 1 node=1 touch=write\n"
                                      "move pages=a[0],a[0] nodes=1\n"
                                      "move pages=a[1]*3 nodes=1\n"
                                      "move pages=d[0],d[0] nodes=1,0\n"
                                      "placement\n"
                                      "move pages=d[0],d[0] nodes=0,1\n"
                                      "placement\n")
    c = calls(objs)

    assert (0, "OK", ["1", "EBUSY"]) == result(c[3])
    assert (0, "OK", ["1", "EBUSY", "EBUSY"]) == result(c[4])
    assert (0, "OK", ["1", "0"]) == result(c[5])
    assert {"a": [1, 1], "d": [1]} == placement(objs, 6)
    assert (0, "OK", ["0", "1"]) == result(c[7])
    assert {"a": [1, 1], "d": [0]} == placement(objs, 8)


def test_41_ebusy_two_mappings_of_one_tmpfs_page(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    """§4.1 -EBUSY with MOVE_ALL: two mappings of one tmpfs page resolve to one page; without
    MOVE_ALL its mapcount of 2 gives -EACCES."""
    objs = scenario(capsys, tmp_path, "map a anon 1 node=0 touch=write\n"
                                      "map f fileshared 1 node=0 touch=write\n"
                                      "map g fileshared 1 file=f\n"
                                      "touch g read\n"
                                      "move pages=f,g,a nodes=1\n"
                                      "move pages=f,g nodes=1 flags=all\n"
                                      "placement\n")

    assert (0, "OK", ["EACCES", "EACCES", "1"]) == result(calls(objs)[5])
    assert (0, "OK", ["1", "EBUSY"]) == result(calls(objs)[6])
    assert {"a": [1], "f": [1], "g": [1]} == placement(objs, 7)


def test_41_vdso_eacces_or_ebusy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """§4.1 (§2.22.5): the vdso page is ordinary: its node in query mode, -EACCES with MOVE
    (mapped by every process), -EBUSY with MOVE_ALL (on no LRU list)."""
    objs = scenario(capsys, tmp_path, "map a anon 2 node=0 touch=write\n"
                                      "query vdso\n"
                                      "move pages=vdso,a[0] nodes=1\n"
                                      "move pages=vdso,a[1] nodes=1 flags=all\n")
    c = calls(objs)

    assert (0, "OK", ["0"]) == result(c[2])
    assert (0, "OK", ["EACCES", "1"]) == result(c[3])
    assert (0, "OK", ["EBUSY", "1"]) == result(c[4])


def test_41_eagain_pinned_pages(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """§4.1 -EAGAIN (Q4): vmsplice'd pages stay busy for 10 passes; positive return, every
    status written; once unspliced they move."""
    objs = scenario(capsys, tmp_path, "map a anon 4 node=0 touch=write\n"
                                      "vmsplice a[1:3]\n"
                                      "move pages=a nodes=1\n"
                                      "unsplice\n"
                                      "move pages=a nodes=1\n")

    assert (2, "OK", ["1", "EAGAIN", "EAGAIN", "1"]) == result(calls(objs)[3])
    assert (0, "OK", ["1", "1", "1", "1"]) == result(calls(objs)[5])


def test_41_q15_populated_prot_none_page(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    """Q15: a written page made PROT_NONE is present: query gives its node, move migrates it;
    its contents survive."""
    objs = scenario(capsys, tmp_path, "map p anon 2 node=0 touch=write\n"
                                      "mprotect p none\n"
                                      "query p\n"
                                      "move pages=p nodes=1\n"
                                      "mprotect p rw\n"
                                      "placement\n"
                                      "verify\n")

    assert (0, "OK", ["0", "0"]) == result(calls(objs)[3])
    assert (0, "OK", ["1", "1"]) == result(calls(objs)[4])
    assert {"p": [1, 1]} == placement(objs, 6)


def test_41_q2_read_touched_anon_migrates(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    """Q2: read-touched private anonymous pages are ordinary pages in 2.6.27 (no zero page):
    query reports their node, move migrates them, they still read as zeroes."""
    objs = scenario(capsys, tmp_path, "map r anon 2 node=0 touch=read\n"
                                      "query r\n"
                                      "move pages=r nodes=1\n"
                                      "placement\n"
                                      "verify\n")

    assert (0, "OK", ["0", "0"]) == result(calls(objs)[2])
    assert (0, "OK", ["1", "1"]) == result(calls(objs)[3])
    assert {"r": [1, 1]} == placement(objs, 4)


def test_41_query_mode_every_kind(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """§4.1 in query mode: the node of every present page, -ENOENT for absent pages, holes
    and null, -EFAULT above the last vma."""
    objs = scenario(capsys, tmp_path,
                    "map a anon 1 node=1 touch=write\n"
                    "map r anon 1 node=0 touch=read\n"
                    "map u anon 1\n"
                    "map s shanon 1 node=1 touch=write\n"
                    "map f fileshared 2 node=0\n"
                    "touch f[0] write\n"
                    "map p fileprivate 2 file=f\n"
                    "touch p[0] read\n"
                    "map h anon 3 touch=write\n"
                    "munmap h[1]\n"
                    "query a,r,u,s,f,p,h[1],null,a[0]+123,badpage,vdso,text,heap,stack,kernel\n")

    assert (0, "OK", ["1", "0", "ENOENT", "1", "0", "ENOENT", "0", "ENOENT", "ENOENT",
                      "ENOENT", "1", "ENOENT", "0", "0", "0", "0", "EFAULT"]) == \
        result(calls(objs)[11])


def test_41_unwritten_statuses_when_nothing_isolated(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    """§4.1 unwritten (Q1): all entries already there, or all errors, or count 0: -ENOENT
    and no status written; count 0 in query mode returns 0."""
    objs = scenario(capsys, tmp_path, "map a anon 2 node=0 touch=write\n"
                                      "move pages=a nodes=0\n"
                                      "move pages=null,kernel,badpage nodes=1\n"
                                      "move pages=a nodes=1 count=0\n"
                                      "query a count=0\n")
    c = calls(objs)

    assert (-1, "ENOENT", ["UNSET"] * 2) == result(c[2])
    assert (-1, "ENOENT", ["UNSET"] * 3) == result(c[3])
    assert (-1, "ENOENT", ["UNSET"] * 2) == result(c[4])
    assert (0, "OK", ["UNSET"] * 2) == result(c[5])


# -- SPEC §4.2 (return values and errnos, 2.6.27) through scenarios --

def test_42_einval_flags_and_no_mm(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """§4.2 -EINVAL: unknown flag bits (query mode too), a zombie, kthreadd; flags=0 moves."""
    objs = scenario(capsys, tmp_path, "map a anon 2 node=0 touch=write\n"
                                      "move pages=a nodes=1 flags=strict\n"
                                      "move pages=a nodes=1 flags=8\n"
                                      "move pages=a nodes=1 flags=move|0x10\n"
                                      "move pages=a nodes=null flags=strict\n"
                                      "fork z mode=exit\n"
                                      "move pages=a nodes=1 pid=z\n"
                                      "move pages=a nodes=1 pid=kthread\n"
                                      "move pages=a nodes=1 flags=0\n")
    c = calls(objs)

    for line in (2, 3, 4, 5, 7, 8):
        assert (-1, "EINVAL") == result(c[line])[:2], line
    assert (0, "OK", ["1", "1"]) == result(c[9])


def test_42_eperm(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """§4.2 -EPERM: another user's process (uid rule; query mode too); MOVE_ALL without
    CAP_SYS_NICE.  A same-uid caller without CAP_SYS_NICE may move (the shared anonymous
    page is not mapped in the children, so plain MOVE takes it)."""
    objs = scenario(capsys, tmp_path, "map a anon 1 node=0 touch=write\n"
                                      "map s shanon 1 node=0 touch=write\n"
                                      "fork c\n"
                                      "fork d\n"
                                      "@c droppriv\n"
                                      "@c move pid=parent pages=s nodes=1\n"
                                      "@c query s pid=parent\n"
                                      "@d dropcap sys_nice\n"
                                      "@d move pid=parent pages=s nodes=1 flags=all\n"
                                      "@d move pid=parent pages=s nodes=1\n")
    child = {o["line"]: o for o in objs
             if o["op"] in ("move_pages", "query") and o["who"] != "parent"}

    assert (-1, "EPERM", ["UNSET"]) == result(child[6])
    assert (-1, "EPERM", ["UNSET"]) == result(child[7])
    assert (-1, "EPERM", ["UNSET"]) == result(child[9])
    assert (0, "OK", ["1"]) == result(child[10])


def test_42_esrch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """§4.2 -ESRCH: no such pid, and a child that was reaped."""
    objs = scenario(capsys, tmp_path, "map a anon 1 node=0 touch=write\n"
                                      "move pages=a nodes=1 pid=nonexistent\n"
                                      "fork d mode=dead\n"
                                      "move pages=a nodes=1 pid=d\n")

    assert (-1, "ESRCH", ["UNSET"]) == result(calls(objs)[2])
    assert (-1, "ESRCH", ["UNSET"]) == result(calls(objs)[4])


def test_42_e2big_and_vmalloc_enomem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """§4.2 -E2BIG at 0x0AAAAAAAAAAAAAA9; -ENOMEM one below (vmalloc)."""
    objs = scenario(capsys, tmp_path, "map a anon 1 node=0 touch=write\n"
                                      "move pages=a nodes=1 count=0x0AAAAAAAAAAAAAA9\n"
                                      "move pages=a nodes=1 count=0x0AAAAAAAAAAAAAA8\n"
                                      "query a count=0x0AAAAAAAAAAAAAA9\n")

    assert (-1, "E2BIG") == result(calls(objs)[2])[:2]
    assert (-1, "ENOMEM") == result(calls(objs)[3])[:2]
    assert (-1, "E2BIG") == result(calls(objs)[4])[:2]


def test_42_enomem_target_node_full_q10(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    """§4.2 -ENOMEM (Q10): node 1 of a 128 MiB-per-node machine filled to 8 pages above its
    low watermark (new_page_node() allocates with GFP_THISNODE: one attempt at the low
    watermark); 16 pages moved there: -ENOMEM, no status written, the first 8 moved, the
    others still on node 0, contents intact."""
    probe = ModelBackend(Topology(nodes=2, mem_per_node_mb=128))
    probe.start()
    zones = probe.k.nodes[1].zones
    assert 1 == len(zones)
    spare = 8
    fill = zones[0].free_top - zones[0].pages_low - spare
    objs = scenario(capsys, tmp_path, f"#@ --mem-per-node 128\n"
                                      f"map fill anon {fill} node=1 touch=read\n"
                                      f"map a anon 16 node=0 touch=write\n"
                                      f"move pages=a nodes=1\n"
                                      f"placement\n"
                                      f"verify a\n")

    assert (-1, "ENOMEM", ["UNSET"] * 16) == result(calls(objs)[4])
    assert [1] * spare + [0] * (16 - spare) == placement(objs, 5)["a"]


@pytest.mark.parametrize("opt", ["pages_ptr=badpage", "pages_ptr=kernel", "pages_ptr=null",
                                 "nodes_ptr=badpage", "nodes_ptr=kernel", "count=3"])
def test_42_efault_reading_arguments(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     opt: str) -> None:
    """§4.2 -EFAULT reading pages[]/nodes[] (or past their guard page): before anything
    moves."""
    objs = scenario(capsys, tmp_path, f"map a anon 2 node=0 touch=write\n"
                                      f"move pages=a nodes=1 {opt}\n"
                                      f"placement\n")

    assert (-1, "EFAULT", ["UNSET", "UNSET"]) == result(calls(objs)[2])
    assert {"a": [0, 0]} == placement(objs, 3)


@pytest.mark.parametrize("ptr", ["ro", "null", "kernel", "bad"])
def test_42_efault_writing_statuses(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                    ptr: str) -> None:
    """§4.2 -EFAULT writing status[]: after the pages moved."""
    objs = scenario(capsys, tmp_path, f"map a anon 2 node=0 touch=write\n"
                                      f"move pages=a nodes=1 status_ptr={ptr}\n"
                                      f"placement\n")

    assert (-1, "EFAULT", ["UNSET", "UNSET"]) == result(calls(objs)[2])
    assert {"a": [1, 1]} == placement(objs, 3)


@pytest.mark.parametrize("node", ["-1", "1024", "7", "2147483647"])
def test_42_enodev(capsys: pytest.CaptureFixture[str], tmp_path: Path, node: str) -> None:
    """§4.2 -ENODEV: a negative, too large or absent node (Q9), even after a valid entry."""
    objs = scenario(capsys, tmp_path, f"map a anon 2 node=0 touch=write\n"
                                      f"move pages=a nodes=1,{node}\n"
                                      f"placement\n")

    assert (-1, "ENODEV", ["UNSET", "UNSET"]) == result(calls(objs)[2])
    assert {"a": [0, 0]} == placement(objs, 3)


def test_42_enodev_memoryless_node(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """§4.2 -ENODEV: a memoryless node (a CPU, no memory) as target."""
    objs = scenario(capsys, tmp_path, "#@ --nodes 2 --memless-nodes 1\n"
                                      "map a anon 1 node=0 touch=write\n"
                                      "move pages=a nodes=2\n"
                                      "move pages=a nodes=1\n")

    assert (-1, "ENODEV", ["UNSET"]) == result(calls(objs)[3])
    assert (0, "OK", ["1"]) == result(calls(objs)[4])


def test_42_positive_and_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """§4.2 positive n (pages not migrated) and 0 (all moved; query)."""
    objs = scenario(capsys, tmp_path, "map a anon 3 node=0 touch=write\n"
                                      "vmsplice a[0]\n"
                                      "move pages=a nodes=1\n"
                                      "query a\n")

    assert (1, "OK", ["EAGAIN", "1", "1"]) == result(calls(objs)[3])
    assert (0, "OK", ["0", "1", "1"]) == result(calls(objs)[4])


@pytest.mark.parametrize("kernel", ["2.6.27", "6.1"])
@pytest.mark.parametrize(("opt", "paths"), [
    ((), ["batch", "reference"]), (("--path", "auto"), ["batch", "reference"]),
    (("--path", "reference"), ["reference", "reference"]),
    (("--path", "batch"), ["batch", "batch"]),
])
def test_path_option_and_field(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                               kernel: str, opt: tuple[str, ...], paths: list[str]) -> None:
    """--path chooses how move_pages moves pages; each move_pages object says which ran."""
    script = tmp_path / "p.txt"
    script.write_text("map a anon 100 touch=write\nmove pages=a nodes=1\n"
                      "move pages=a[0:10] nodes=0\nquery a\n")
    rc, objs, err = run_cli(capsys, script, "--kernel", kernel, *opt)
    moves = [o for o in objs if o["op"] == "move_pages"]
    assert (rc, err) == (0, "")
    assert [m["path"] for m in moves] == paths
    assert [m["status_hist"] for m in moves] == [{"1": 100}, {"0": 10}]
    assert all("path" not in o for o in objs if o["op"] == "query")
