"""The registry of actions: what each action accepts is checked once, when a script is parsed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pagemig.script.actions import ACTIONS, check_action, usage_table
from pagemig.script.parse import ScriptError, parse_script

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scripts.md"
# The options each act_ function of the oracle's probe reads (tools/probe_reads.py).
PROBE_READS = Path(__file__).resolve().parents[1] / "data" / "probe_reads.json"


def test_unknown_option_is_refused_at_parse_time() -> None:
    """A misspelt option is file:line: unknown option, naming the known ones."""
    with pytest.raises(ScriptError) as e:
        parse_script("map a anon 1\nmove pages=a nodes=1 flgas=move\n", "s.txt")
    assert ("s.txt:2: unknown option 'flgas' for move (known: pid, flags, pages, nodes, "
            "count, pages_ptr, nodes_ptr, status_ptr, full, placement)") == str(e.value)


def test_option_of_another_action_is_refused() -> None:
    """nodes= belongs to move, not to query (the probe never reads it there)."""
    with pytest.raises(ScriptError, match=r"^s.txt:1: unknown option 'nodes' for query"):
        parse_script("query a nodes=1\n", "s.txt")


def test_extra_positional_word_is_refused() -> None:
    """map takes three positional words: a fourth is refused with the usage."""
    with pytest.raises(ScriptError) as e:
        parse_script("map a anon 4 write\n", "s.txt")
    assert str(e.value).startswith("s.txt:1: unexpected argument 'write' for map "
                                   "(usage: map NAME TYPE NPAGES [node=N]")


def test_positional_word_where_none_is_taken() -> None:
    """An action without positional arguments refuses any, also in a child."""
    with pytest.raises(ScriptError, match=r"^s.txt:2: unexpected argument 'now' for sync"):
        parse_script("fork c\n@c sync now\n", "s.txt")


def test_variadic_and_optional_arguments() -> None:
    """verify/vmstat/meminfo take any number of words; mprotect one optional word."""
    text = "verify a b c d\nvmstat x y z\nmeminfo A B\nmprotect a r\nmadvise a\n"
    assert 5 == len(parse_script(text, "s.txt").actions)
    with pytest.raises(ScriptError, match="unexpected argument 'x' for mprotect"):
        parse_script("mprotect a r x\n", "s.txt")


def test_note_is_free_text() -> None:
    """note takes the rest of the line whatever it looks like."""
    a = parse_script("note a=b c d=e\n", "s.txt").actions[0]
    assert "note" == check_action(a, "s.txt").name


def test_bench_parses_with_its_options() -> None:
    """bench parses with the probe's options and refuses others."""
    a = parse_script("bench pages=8 reps=2 batches=all,4 from=0 to=1\n", "s.txt").actions[0]
    assert ("8", "all,4") == (a.get("pages"), a.get("batches"))
    with pytest.raises(ScriptError, match="unknown option 'page' for bench"):
        parse_script("bench page=8\n", "s.txt")


def test_usage_is_built_from_the_declaration() -> None:
    """The usage string lists the positional words then every option."""
    assert ("touch RANGE write|read [seed=S] [same=0|1] [cpu_node=N]"
            == ACTIONS["touch"].usage)
    assert None is ACTIONS["verify"].max_args
    assert 0 == ACTIONS["move"].max_args


def test_every_option_the_probe_reads_is_accepted() -> None:
    """Each kv()/kvl() key read in the probe's act_NAME function is declared for NAME."""
    reads = {op: set(keys) for op, keys in json.loads(PROBE_READS.read_text()).items()}
    # act_move serves move and query (query never reads nodes=); act_memop the vma ops;
    # act_fsync fsync and fdatasync.
    reads["query"] = reads["move"] - {"nodes"}
    for op in ("mlock", "munlock", "munmap", "mprotect", "madvise"):
        reads[op] = reads["memop"]
    reads["fdatasync"] = reads["fsync"]
    assert {"pages", "nodes", "flags", "count", "pid"} <= reads["move"]
    reads["map"] |= {"seed", "same"}  # through write_seed()
    reads["touch"] |= {"seed", "same"}
    reads["pwrite"] |= {"seed", "same"}
    for op, spec in ACTIONS.items():
        assert reads.get(op, set()) <= set(spec.keys), op


def test_docs_list_every_action() -> None:
    """docs/scripts.md carries the registry's table, and so every action."""
    text = DOCS.read_text()
    block = text.split("<!-- BEGIN actions -->\n", 1)[1].split("<!-- END actions -->", 1)[0]
    assert usage_table() == block
    for name in ACTIONS:
        assert f"| `{name}" in block
