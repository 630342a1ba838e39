"""The bench action: the probe's act_bench() on the model, with the probe's fields."""

from __future__ import annotations

from typing import Any

import pytest

from pagemig.backends.model import ModelBackend
from pagemig.kernel import Topology
from pagemig.script.parse import parse_script
from pagemig.script.runner import Runner
from pagemig.validate import validate

SMALL = Topology(nodes=2, mem_per_node_mb=64)


def run(text: str, profile: str, contents: str = "bytes",
        topology: Topology = SMALL) -> list[dict[str, Any]]:
    """The objects of a scenario run on a small machine, validated at its end."""
    b = ModelBackend(topology, profile, contents=contents)
    out: list[dict[str, Any]] = []
    Runner(b, parse_script(text, "t.scn"), out.append).run()
    validate(b.k)
    return out


def rows(objs: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["op"] == "bench" and o["what"] == what]


@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
def test_bench_moves_every_page_there_and_back_and_reports_the_probes_fields(profile):
    """256 pages on node 0: one row per batch size and direction (a batch larger than the
    buffer is the whole buffer), migrate_pages there and back, contents intact, every page
    back on node 0, and the host copy rows."""
    objs = run("bench pages=256 reps=3 batches=all,64,100000\n", profile)
    setup = next(o for o in objs if o["op"] == "bench_setup")
    assert (256, 256) == (setup["pages"], setup["on_from_node"])
    moves = rows(objs, "move_pages")
    assert [("0->1", 256, 1), ("1->0", 256, 1), ("0->1", 64, 4), ("1->0", 64, 4),
            ("0->1", 256, 1), ("1->0", 256, 1)] == [
        (o["dir"], o["batch"], o["calls_per_rep"]) for o in moves]
    for o in moves + rows(objs, "migrate_pages"):
        assert 0 == o["errors"]
        assert 3 == o["reps"] == len(o["seconds"])
        assert sorted(o["seconds"]) == o["seconds"]
        assert o["median_s"] == pytest.approx(o["seconds"][1], abs=1e-6)
        assert o["pages_per_s_median"] == pytest.approx(256 / o["median_s"], rel=1e-3)
    assert ["there", "back"] == [o["dir"] for o in rows(objs, "migrate_pages")]
    check = next(o for o in objs if o["op"] == "bench_check")
    assert (0, 256) == (check["content_mismatches"], check["on_from_node"])
    assert [("0->1", 0), ("0->0", 0)] == [(o["dir"], o["errors"]) for o in rows(objs, "memcpy")]
    assert 1 == len(rows(objs, "memcpy_per_page"))
    assert "errors" not in rows(objs, "memcpy_per_page")[0]


def test_bench_without_migrate_or_memcpy_and_with_one_rep():
    """migrate=0 memcpy=0 leave their rows out; reps=0 is taken as 1, as the probe does."""
    objs = run("bench pages=32 reps=0 migrate=0 memcpy=0\n", "6.1")
    assert ["bench_setup", "bench", "bench", "bench_check"] == [
        o["op"] for o in objs if o["op"].startswith("bench")]
    assert [1, 1] == [o["reps"] for o in rows(objs, "move_pages")]


@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
def test_a_move_to_a_node_the_machine_lacks_counts_errors(profile):
    """to=5 on a two-node machine: no page moves, and every call's failure is an error."""
    objs = run("bench pages=16 reps=1 batches=all,8 migrate=0 memcpy=0\n".replace(
        "reps=1", "reps=1 to=5"), profile)
    assert all(o["errors"] > 0 for o in rows(objs, "move_pages"))
    check = next(o for o in objs if o["op"] == "bench_check")
    assert (0, 16) == (check["content_mismatches"], check["on_from_node"])


@pytest.mark.parametrize("pages, err", [("0", "Invalid argument"),
                                         ("-1", "Cannot allocate memory")])
def test_bench_that_cannot_map_its_buffer_says_so_as_the_probe_does(pages, err):
    """pages=0 (mmap of 0 bytes) or a negative count (a size_t that wraps): the probe's
    error object, and the run goes on."""
    objs = run(f"bench pages={pages}\nnote after\n", "6.1")
    assert {"op": "error", "line": 1, "who": "parent", "msg": "bench mmap failed",
            "detail": err} in objs
    assert any(o["op"] == "note" for o in objs)


def test_bench_larger_than_memory_is_a_script_error():
    """More pages than the machine has: the first touch fails, reported at the line."""
    from pagemig.script.parse import ScriptError

    with pytest.raises(ScriptError, match="first touch"):
        run("bench pages=40000\n", "6.1")


def test_bench_runs_on_a_machine_that_keeps_tokens():
    """contents="tag": the pages are token pages, so 20,000 of them need no bytes (more than
    the machine's overlay of real pages holds) and the check still finds every word."""
    objs = run("bench pages=20000 reps=1 batches=all migrate=0 memcpy=0\n", "6.1", "tag",
               Topology(nodes=2, mem_per_node_mb=128))
    check = next(o for o in objs if o["op"] == "bench_check")
    assert (0, 20000) == (check["content_mismatches"], check["on_from_node"])
    assert [0, 0] == [o["errors"] for o in rows(objs, "move_pages")]
