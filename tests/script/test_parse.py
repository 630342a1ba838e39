"""Tests of the scenario-language parser (pagemig.script.parse)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pagemig.script.actions import ALL_OPS
from pagemig.script.parse import (
    MAX_ITEMS,
    MAX_LINE_BYTES,
    Action,
    ScriptError,
    parse_long,
    parse_script,
    parse_ulong,
    wrap_int,
)
from pagemig.script.values import (
    ItemSpec,
    MaskSpec,
    PidSpec,
    RangeSpec,
    count_items,
    parse_count,
    parse_flags,
    parse_items,
    parse_mask,
    parse_nodes,
    parse_pid,
    parse_range,
)
from pagemig.script.vmopts import VmOptions, parse_vm_options

ROOT = Path(__file__).resolve().parents[2]
ORACLE_61 = ROOT / "examples" / "oracle-6.1"
CASE_DIRS = (ORACLE_61 / "cases", ORACLE_61 / "bench" / "cases",
             ROOT / "examples" / "oracle-2.6.27", ROOT / "tests" / "kernel-cases" / "6.1")


def _one(line: str) -> Action:
    """Parse a one-line scenario and return its only action."""
    script = parse_script(line + "\n", "t.txt")
    assert 1 == len(script.actions)
    return script.actions[0]


def _check_values(action: Action) -> None:
    """Run the value parsers the runner will use on one action's values."""
    if action.op in ("move", "query"):
        parse_items(action.get("pages") or action.pos(1) or "")
        parse_flags(action.get("flags"))
        parse_pid(action.get("pid"))
        nodes = action.get("nodes")
        if nodes is not None and nodes != "null":
            parse_nodes(nodes)
        if action.get("count") is not None:
            parse_count(action.get("count") or "")
    elif action.op == "migrate":
        parse_mask(action.get("old"))
        parse_mask(action.get("new"))
        parse_pid(action.get("pid"))
        action.int_kv("maxnode", 65)
    elif action.op in ("mbind", "set_mempolicy"):
        parse_mask(action.get("nodes"))
        parse_flags(action.get("flags"))
        if action.op == "mbind":
            parse_range(action.pos(1) or "")
    elif action.op in ("touch", "munmap", "mlock", "munlock", "mprotect", "madvise", "pageflags"):
        parse_range(action.pos(1) or "")


def test_oracle_cases_parse() -> None:
    """Every example scenario (6.1 cases and bench, 2.6.27) and every recorded kernel case
    parses, values included."""
    files = sorted(p for d in CASE_DIRS for p in d.glob("*.txt"))
    assert True is (len(files) >= 39 + 3 + 2)
    for path in files:
        script = parse_script(path.read_text(), str(path))
        assert [] != script.actions
        script.vm_options()
        for action in script.actions:
            _check_values(action)


def test_oracle_case_options_and_ignores() -> None:
    """The #@ and #! ignore: lines of the oracle cases are read."""
    case = ORACLE_61 / "cases" / "34_enomem_target_full.txt"
    script = parse_script(case.read_text(), str(case))
    assert ["--mem-per-node", "768"] == script.options
    assert {"vmstat_delta", "placement"} == script.ignores
    assert 768 == script.vm_options().mem_per_node_mb


def test_action_fields() -> None:
    """An action line is split into op, positional args and key=value pairs."""
    a = _one("  mbind mode=bind nodes=1 flags=move a  ")
    assert "mbind" == a.op
    assert ("a",) == a.args
    assert {"mode": "bind", "nodes": "1", "flags": "move"} == a.kv
    assert None is a.child
    assert "mbind mode=bind nodes=1 flags=move a" == a.text
    assert 1 == a.line


def test_kv_value_keeps_later_equals_signs() -> None:
    """A key=value token splits at its first '='; a missing key gives the default."""
    a = _one("move pages=a nodes=1=2")
    assert "a" == a.get("pages")
    assert "1=2" == a.get("nodes")
    assert "dflt" == a.get("missing", "dflt")


def test_repeated_key_is_refused() -> None:
    """A key given twice is a file:line error (the probe's kv() would silently take the first)."""
    with pytest.raises(ScriptError, match=r"^t:2: option 'flags' given twice$"):
        parse_script("map a anon 4\nmove pages=a flags=move flags=all nodes=1\n", "t")


def test_pos_is_one_based() -> None:
    """pos(i) counts positional tokens from 1 and skips key=value tokens."""
    a = _one("map a\tanon node=0 8")
    assert "a" == a.pos(1)
    assert "anon" == a.pos(2)
    assert "8" == a.pos(3)
    assert None is a.pos(4)
    assert None is a.pos(0)


def test_int_kv() -> None:
    """int_kv parses like strtol base 0 and rejects garbage."""
    kv = {"old": "0", "new": "1", "maxnode": "0x41", "full": "010", "neg": "-3", "bad": "12x"}
    a = Action(1, "migrate", (), kv, None, "migrate")
    assert 65 == a.int_kv("maxnode", 0)
    assert 8 == a.int_kv("full", 0)
    assert -3 == a.int_kv("neg", 0)
    assert 7 == a.int_kv("absent", 7)
    with pytest.raises(ValueError, match="bad=12x"):
        a.int_kv("bad", 0)


def test_line_numbers_comments_and_blanks() -> None:
    """Comments and blank lines are skipped; actions keep their file line numbers."""
    script = parse_script("# c\n\n   \nmap a anon 4\n  # indented\nplacement\n", "t.txt")
    assert [4, 6] == [a.line for a in script.actions]
    assert ["map", "placement"] == [a.op for a in script.actions]


def test_child_line() -> None:
    """@NAME ACTION runs ACTION in child NAME; text has no @NAME prefix."""
    a = _one("@c \t move pages=a nodes=1 pid=parent")
    assert "c" == a.child
    assert "move" == a.op
    assert "move pages=a nodes=1 pid=parent" == a.text
    assert "parent" == a.get("pid")


def test_child_without_command() -> None:
    """@NAME with nothing after it is an error."""
    with pytest.raises(ScriptError) as e:
        parse_script("map a anon 1\n@c   \n", "x.txt")
    assert 2 == e.value.line
    assert "x.txt" == e.value.path


def test_child_unknown_action() -> None:
    """An unknown action after @NAME is reported like any unknown action."""
    with pytest.raises(ScriptError) as e:
        parse_script("@c frobnicate\n", "x.txt")
    assert "x.txt:1: unknown action: frobnicate" == str(e.value)


def test_unknown_op() -> None:
    """An unknown action name raises ScriptError with the line."""
    with pytest.raises(ScriptError) as e:
        parse_script("map a anon 1\n\nfrobnicate a\n", "s.txt")
    assert "s.txt:3: unknown action: frobnicate" == str(e.value)
    assert ("s.txt", 3, "unknown action: frobnicate") == (e.value.path, e.value.line, e.value.msg)


def test_script_error_format() -> None:
    """str(ScriptError) is path:line: msg."""
    e = ScriptError("cases/x.txt", 12, "bad thing")
    assert "cases/x.txt:12: bad thing" == str(e)
    assert ("cases/x.txt", 12, "bad thing") == (e.path, e.line, e.msg)


def test_all_ops() -> None:
    """ALL_OPS has the oracle's 43 action names and each parses."""
    assert 43 == len(ALL_OPS)
    for op in sorted(ALL_OPS):
        assert op == _one(op).op


def test_line_too_long() -> None:
    """A line longer than the probe's buffer is an error."""
    ok = "note " + "x" * (MAX_LINE_BYTES - 5)
    assert MAX_LINE_BYTES == len(_one(ok).text)
    with pytest.raises(ScriptError) as e:
        parse_script("note ok\n" + ok + "x\n", "l.txt")
    assert 2 == e.value.line


def test_too_many_tokens() -> None:
    """More than 64 tokens on a line is an error; 64 are fine."""
    assert 63 == len(_one("note" + " w" * 63).args)
    with pytest.raises(ScriptError, match="too many tokens"):
        parse_script("note" + " w" * 64, "t.txt")


def test_note_text() -> None:
    """The action text keeps everything after the op, = signs included."""
    a = _one("note a=b c  d")
    assert "note a=b c  d" == a.text
    assert ("c", "d") == a.args


def test_option_lines() -> None:
    """#@ lines give shell-split VM options in file order."""
    text = "#@ --nodes 4 --append 'a b'\n# not #@\n  #@ --nodes 3\n#@ --swap 64\nplacement\n"
    script = parse_script(text, "o.txt")
    assert ["--nodes", "4", "--append", "a b", "--swap", "64"] == script.options
    assert 1 == len(script.actions)
    assert VmOptions(nodes=4, storage={"swap": "64"}) == script.vm_options()


def test_option_line_unknown_option() -> None:
    """An unknown option in a #@ line is a ScriptError naming it."""
    with pytest.raises(ScriptError) as e:
        parse_script("placement\n#@ --nodes 2 --bogus 1\n", "o.txt")
    assert 2 == e.value.line
    assert "--bogus" in e.value.msg


def test_vm_tokens_precedence() -> None:
    """As in run.sh, the first #@ line wins over later ones and the command line over all."""
    script = parse_script("#@ --nodes 4\n#@ --nodes 3 --mem-per-node 512\n", "p.txt")
    assert 4 == script.vm_options().nodes
    assert 512 == script.vm_options().mem_per_node_mb
    assert 2 == script.vm_options(["--nodes", "2"]).nodes


def test_ignore_lines() -> None:
    """#! ignore: lines at column 0 collect field names."""
    script = parse_script("#! ignore: a b\n#! ignore: c\n #! ignore: d\n", "i.txt")
    assert {"a", "b", "c"} == script.ignores
    assert [] == script.actions


def test_vm_options_defaults_and_values() -> None:
    """parse_vm_options reads run.sh's options and ignores VM-only ones."""
    assert VmOptions() == parse_vm_options([])
    opts = parse_vm_options(
        "--nodes 3 --mem-per-node 768 --cpus-per-node 2 --memless-nodes 1 --accel tcg "
        "--timeout 600 --keep --kernel /boot/x --blockfs ext4 --blockfs-mb 64 "
        "--mount-opts data=journal --blk-throttle 100 --swap 64 --swap-dev disk".split()
    )
    expected = VmOptions(
        nodes=3,
        mem_per_node_mb=768,
        cpus_per_node=2,
        memless_nodes=1,
        storage={
            "blockfs": "ext4",
            "blockfs-mb": "64",
            "mount-opts": "data=journal",
            "blk-throttle": "100",
            "swap": "64",
            "swap-dev": "disk",
        },
    )
    assert expected == opts
    assert {} == parse_vm_options(["--blockfs", "ext2", "--blockfs", "none"]).storage


@pytest.mark.parametrize(
    ("tokens", "named"),
    [
        (["--bogus"], "--bogus"),
        (["--nodes"], "--nodes"),
        (["--nodes", "9"], "--nodes"),
        (["--nodes", "x"], "--nodes"),
        (["--mem-per-node", "64"], "--mem-per-node"),
        (["--cpus-per-node", "5"], "--cpus-per-node"),
        (["--memless-nodes", "5"], "--memless-nodes"),
        (["--accel", "hvf"], "--accel"),
        (["--swap-dev", "nvme"], "--swap-dev"),
        (["--blockfs", "xfs"], "--blockfs"),
        (["--blockfs-mb", "4"], "--blockfs-mb"),
        (["--mount-opts", "a b"], "--mount-opts"),
        (["scenario.txt"], "scenario.txt"),
    ],
)
def test_vm_options_errors(tokens: list[str], named: str) -> None:
    """Unknown options and missing or invalid values raise ValueError naming the option."""
    with pytest.raises(ValueError) as e:
        parse_vm_options(tokens)
    assert True is (named in str(e.value))


def test_items_query_mode_case() -> None:
    """The item list of case 02 parses into ranges, a special and an offset page."""
    expected = [
        ItemSpec("range", "a", range=RangeSpec("a")),
        ItemSpec("range", "z", range=RangeSpec("z")),
        ItemSpec("range", "u", range=RangeSpec("u")),
        ItemSpec("range", "f", range=RangeSpec("f")),
        ItemSpec("range", "s", range=RangeSpec("s")),
        ItemSpec("range", "h", range=RangeSpec("h")),
        ItemSpec("special", "null", value=0),
        ItemSpec("range", "a[0]+123", range=RangeSpec("a", 0, 1), offset=123),
    ]
    items = parse_items("a,z,u,f,s,h,null,a[0]+123")
    assert expected == items
    assert "a[0]+123" == items[-1].page_label(0)
    assert "a[3]" == items[0].page_label(3)


def test_items_repeat() -> None:
    """NAME[i]*K repeats one page K times."""
    assert [ItemSpec("range", "a[2]", range=RangeSpec("a", 2, 3), repeat=3)] == parse_items(
        "a[2]*3"
    )


def test_items_kernel_addresses() -> None:
    """Fixed specials carry the probe's addresses; runtime specials only their name."""
    expected = [
        ItemSpec("special", "kernel", value=0xFFFF888000100000),
        ItemSpec("special", "ktext", value=0xFFFFFFFF81000000),
        ItemSpec("special", "noncanon", value=0x0000800000000000),
        ItemSpec("special", "null", value=0),
        ItemSpec("special", "neg", value=2**64 - 4096),
        ItemSpec("special", "badpage"),
        ItemSpec("range", "a[0]", range=RangeSpec("a", 0, 1)),
    ]
    assert expected == parse_items("kernel,ktext,noncanon,null,neg,badpage,a[0]")


def test_items_runtime_specials() -> None:
    """stack, heap, text, vdso and vvar are left to the runner."""
    names = ["stack", "heap", "text", "vdso", "vvar"]
    assert [ItemSpec("special", n) for n in names] == parse_items(",".join(names))


def test_items_raw_addresses() -> None:
    """Raw addresses are unsigned longs (base 0), labelled by their text."""
    expected = [
        ItemSpec("addr", "0x1000", value=0x1000, repeat=2),
        ItemSpec("addr", "4096", value=4096),
        ItemSpec("addr", "010", value=8),
        ItemSpec("addr", "0xffffffffffffffffff", value=2**64 - 1),
    ]
    assert expected == parse_items("0x1000*2,,4096,010,0xffffffffffffffffff")


def test_items_slices() -> None:
    """Open and empty slices parse; the offset applies to every page of a range."""
    items = parse_items("a[1:],a[:2],a[3:3],b+8")
    assert RangeSpec("a", 1, None) == items[0].range
    assert RangeSpec("a", 0, 2) == items[1].range
    assert RangeSpec("a", 3, 3) == items[2].range
    assert (8, "b[5]+8") == (items[3].offset, items[3].page_label(5))


@pytest.mark.parametrize("spec", ["a[", "a[x]", "a[1]x", "a[2:1]", "a[-1]", "0x1g", "a*x", "+3"])
def test_items_bad(spec: str) -> None:
    """Malformed elements raise ValueError naming the element."""
    with pytest.raises(ValueError) as e:
        parse_items("b," + spec)
    assert True is (spec in str(e.value))


def test_items_repeat_guard_is_fast() -> None:
    """An absurd repeat raises 'too many items' without expanding anything."""
    t0 = time.perf_counter()
    for spec in ("a*99999999999", "kernel*1048577", "a[0:1000]*20000", "0x0*0x7fffffffffffffff"):
        with pytest.raises(ValueError, match="too many items"):
            parse_items(spec)
    assert True is (time.perf_counter() - t0 < 1.0)
    assert MAX_ITEMS == parse_items("kernel*1048576")[0].repeat


def test_items_zero_and_negative_repeat() -> None:
    """A repeat of 0 or less gives no entries."""
    assert [0, 0] == [i.repeat for i in parse_items("a*0,kernel*-2")]


def test_count_items() -> None:
    """count_items expands ranges against mapping sizes and applies the guard."""
    sizes = {"a": 8, "b": 4}.__getitem__
    assert 8 + 3 + 1 + 4 == count_items(parse_items("a,a[2]*3,null,b[0:4]"), sizes)
    with pytest.raises(ValueError, match="too many items"):
        count_items(parse_items("a*200000"), sizes)
    with pytest.raises(ValueError, match=r"b\[0:5\]"):
        count_items(parse_items("b[0:5]"), sizes)


def test_range_resolve() -> None:
    """RangeSpec.resolve gives (first, count) and rejects ranges past the mapping."""
    assert (0, 8) == parse_range("a").resolve(8)
    assert (3, 1) == parse_range("a[3]").resolve(8)
    assert (2, 4) == parse_range("a[2:6]").resolve(8)
    assert (5, 3) == parse_range("a[5:]").resolve(8)
    assert (8, 0) == parse_range("a[8:]").resolve(8)
    assert (0x10, 0) == parse_range("a[0x10:0x10]").resolve(16)
    for spec in ("a[8]", "a[9:]", "a[2:9]"):
        with pytest.raises(ValueError):
            parse_range(spec).resolve(8)


def test_range_bad() -> None:
    """Empty, over-long or malformed range specs raise ValueError."""
    for spec in ("", "[1]", "a[1:2:3]", "a]", "n" * 64):
        with pytest.raises(ValueError):
            parse_range(spec)
    assert RangeSpec("n" * 63) == parse_range("n" * 63)


def test_nodes() -> None:
    """Node lists: single values, comma lists and V*K repeats."""
    assert [1] == parse_nodes("1")
    assert [1, 0, 1] == parse_nodes("1,0,1")
    assert [1, 1, 1, 0, 0] == parse_nodes("1*3,0*2")
    assert [0, 1, -5, 0] == parse_nodes("0,1,-5,0")
    assert [2147483647, 1, -1] == parse_nodes("2147483647,4294967297,99999999999999999999")
    assert [] == parse_nodes("5*0")


def test_nodes_errors() -> None:
    """Garbage and absurd repeats in node lists raise ValueError."""
    with pytest.raises(ValueError, match="1x"):
        parse_nodes("0,1x")
    with pytest.raises(ValueError, match="too many"):
        parse_nodes("1*99999999999")


def test_flags() -> None:
    """Flags: names, numbers (base 0, negative) and | combinations, as a C int."""
    assert 0 == parse_flags(None)
    assert 6 == parse_flags("move|all")
    assert 1 == parse_flags("strict")
    assert 3 == parse_flags("move|strict")
    assert 16 == parse_flags("0x10")
    assert -1 == parse_flags("-1")
    assert 0 == parse_flags("0")
    assert 10 == parse_flags("8|move")
    assert -2147483648 == parse_flags("0x80000000")
    with pytest.raises(ValueError, match="bogus"):
        parse_flags("move|bogus")


def test_masks() -> None:
    """Masks: none/empty/all, raw first word and node lists."""
    assert MaskSpec((0,)) == parse_mask(None)
    assert MaskSpec((0,)) == parse_mask("none")
    assert MaskSpec((0,)) == parse_mask("empty")
    assert MaskSpec((2**64 - 1,)) == parse_mask("all")
    assert MaskSpec((3,)) == parse_mask("0x3")
    assert MaskSpec((1,)) == parse_mask("0")
    assert MaskSpec((3, 1)) == parse_mask("0,1,64")
    assert [0, 1, 64] == parse_mask("0,1,64").nodes()
    assert [1] == parse_mask("1,-1,65536").nodes()
    assert list(range(64)) == parse_mask("all").nodes()
    assert 1024 == len(parse_mask("65535").words)
    assert (1 << 65535) == parse_mask("65535").bits()
    with pytest.raises(ValueError, match="x1"):
        parse_mask("0,x1")


def test_counts() -> None:
    """Counts are unsigned longs: 0xffffffffffffffff allowed, negatives wrap."""
    assert 2**64 - 1 == parse_count("0xffffffffffffffff")
    assert 0x7FFFFFFF == parse_count("0x7fffffff")
    assert 0 == parse_count("0")
    assert 2**64 - 1 == parse_count("-1")
    with pytest.raises(ValueError, match="12q"):
        parse_count("12q")


def test_c_integers() -> None:
    """parse_long/parse_ulong follow strtol/strtoul base 0, wrap_int a C int cast."""
    assert (8, -16, 10, 0) == (
        parse_long("010"),
        parse_long("-0x10"),
        parse_long("+10"),
        parse_long("0"),
    )
    assert 2**63 - 1 == parse_long("99999999999999999999")
    assert -(2**63) == parse_long("-99999999999999999999")
    assert 2**64 - 5 == parse_ulong("-5")
    assert (-1, 1, 2**31 - 1) == (wrap_int(2**32 - 1), wrap_int(2**32 + 1), wrap_int(2**31 - 1))
    for bad in ("", "0x", "08", "1.5", "1 ", "abc", "--1"):
        with pytest.raises(ValueError):
            parse_long(bad)


def test_pids() -> None:
    """Pid specs: self, named pids, numbers and child names."""
    assert PidSpec("self", 0) == parse_pid(None)
    assert PidSpec("self", 0) == parse_pid("0")
    assert PidSpec("getpid") == parse_pid("getpid")
    assert PidSpec("parent") == parse_pid("parent")
    assert PidSpec("init", 1) == parse_pid("init")
    assert PidSpec("kthread", 2) == parse_pid("kthread")
    assert PidSpec("nonexistent", 4000000) == parse_pid("nonexistent")
    assert PidSpec("number", -1) == parse_pid("-1")
    assert PidSpec("number", 123) == parse_pid("123")
    assert PidSpec("child", name="c") == parse_pid("c")
    with pytest.raises(ValueError, match="12ab"):
        parse_pid("12ab")
