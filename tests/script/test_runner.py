"""The scenario runner on the model: contents checks and the runner's own bookkeeping."""

from __future__ import annotations

from typing import Any

import pytest

from pagemig.backends.model import ModelBackend
from pagemig.kernel import Topology
from pagemig.script.parse import ScriptError, parse_script
from pagemig.script.runner import Runner
from pagemig.validate import validate

SMALL = Topology(nodes=2, mem_per_node_mb=64)


def run(text: str, backend: ModelBackend | None = None) -> list[dict[str, Any]]:
    """Run a scenario on a small machine, validating after every action."""
    b = backend or ModelBackend(SMALL)
    out: list[dict[str, Any]] = []
    Runner(b, parse_script(text, "t.scn"), out.append, lambda a: validate(b.k)).run()
    return out


def by_op(objs: list[dict[str, Any]], op: str) -> list[dict[str, Any]]:
    """The objects of one op, in order."""
    return [o for o in objs if o["op"] == op]


def test_verify_passes_after_moves() -> None:
    """Written anon, shmem and tmpfs pages keep their contents across moves there and back."""
    objs = run("map a anon 4 node=0 touch=write\nmap s shanon 2 node=0 touch=write\n"
               "map f fileshared 2 node=0 touch=write\n"
               "move pages=a,s,f nodes=1 flags=move\nmove pages=a,s,f nodes=0 flags=move\n"
               "verify\n")

    assert [0, 0] == [m["ret"] for m in by_op(objs, "move_pages")]
    assert {"checked": 8, "mismatches": 0, "ok": True} == {
        key: by_op(objs, "verify")[0][key] for key in ("checked", "mismatches", "ok")}


def test_migration_without_copy_is_caught_by_verify() -> None:
    """With migrate_page_copy()'s copy disabled, every moved page reads back wrong."""
    b = ModelBackend(SMALL)
    b.k.copy_enabled = False
    objs = run("map a anon 4 node=0 touch=write\nmove pages=a[0:3] nodes=1 flags=move\nverify\n",
               b)

    verify = by_op(objs, "verify")[0]
    assert (3, 0, False) == (verify["mismatches"], verify["maps"]["a"]["first_bad"],
                             verify["ok"])


def test_shared_file_writes_are_seen_by_other_mappings() -> None:
    """A write through one MAP_SHARED mapping of a file is what another mapping reads."""
    objs = run("map f fileshared 2 node=0\nmap g fileshared 2 file=f\ntouch g read\n"
               "touch f write seed=5\nverify g\n")

    assert (2, 0) == (by_op(objs, "verify")[0]["checked"], by_op(objs, "verify")[0]["mismatches"])


def test_touch_of_unmapped_page_is_a_script_error() -> None:
    """Touching a page that was unmapped would kill the probe: file:line error."""
    with pytest.raises(ScriptError, match=r"t.scn:3: .*SIGSEGV"):
        run("map a anon 2 touch=write\nmunmap a[1]\ntouch a[1] write\n")


def test_child_keeps_its_own_mapping_table() -> None:
    """After fork the child verifies its own copy; a mapping made later is the parent's only."""
    objs = run("map a anon 2 node=0 touch=write\nfork c\nmap b anon 1 touch=write\n"
               "@c touch a[0] write seed=7\n@c verify\nverify\n")

    child, parent = by_op(objs, "verify")[:2]
    assert ("c", ["a"], 0) == (child["who"], list(child["maps"]), child["mismatches"])
    assert (["a", "b"], 0) == (list(parent["maps"]), parent["mismatches"])


def test_child_writes_to_a_shared_file_reach_the_parents_file() -> None:
    """A file written by a child (pwrite) is the parent's file too: the parent reads the
    child's data, which its own table does not expect (the probe does not track a child's
    writes), so one mismatch; a copied file would read zeroes and match (regression, found
    by fuzzing)."""
    b = ModelBackend(SMALL)
    b.blockfs = "ext2"
    objs = run("map f blkshared 3\nfork c\n@c pwrite f[2:3] seed=6\npread f[2:3]\n", b)

    assert (0, 1, 1) == (by_op(objs, "pread")[0]["ret"], by_op(objs, "pread")[0]["checked"],
                         by_op(objs, "pread")[0]["mismatches"])


def test_fsync_of_a_tmpfs_file_writes_nothing() -> None:
    """fsync on tmpfs succeeds at once: tmpfs has no writeback (simple_sync_file())."""
    objs = run("map f fileshared 2 touch=write\nfsync f\nverify\n")

    assert (0, True) == (by_op(objs, "fsync")[0]["ret"], by_op(objs, "verify")[0]["ok"])
