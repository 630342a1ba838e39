"""Random scenarios on the model: every action keeps every invariant (validate after each).

The generator writes scripts from the supported actions with random ranges, nodes and
flags (children, pins, mprotect, munmap, mlock, migrate_pages, mbind included).  A script
may legitimately stop (a touch of an unmapped page is SIGSEGV in the probe, a child may
have exited); what must never happen is an exception other than ScriptError, or a broken
invariant after any action.
"""

from __future__ import annotations

import random

import pytest

from pagemig.backends.model import ModelBackend
from pagemig.kernel import Topology
from pagemig.script.parse import ScriptError, parse_script
from pagemig.script.runner import Runner
from pagemig.validate import validate

TYPES = ["anon", "shanon", "fileshared", "fileprivate", "blkshared", "blkprivate"]
MAP_OPTS = ["", "node=0", "node=1", "node=1 policy=preferred", "touch=write", "touch=read",
            "node=0 touch=write", "node=1 touch=write"]
EXTRA_ITEMS = ["", ",null", ",badpage", ",stack", ",heap", ",text", ",vdso", ",kernel"]
ALLOWED_STOPS = ("SIGSEGV", "bad item", "no such live child", "no such mapping")


def file_action(rng: random.Random, name: str, span: str) -> str:
    """One action on the file behind a file mapping."""
    return rng.choice([
        f"pwrite {span} seed={rng.randint(2, 9)}", f"pread {span}", f"fsync {name}",
        f"msync {span} {rng.choice(['sync', 'async'])}", f"sync_file_range {span}",
        f"fadvise {span} dontneed", "drop_caches", "sync", f"madvise {span} dontneed"])


def random_action(rng: random.Random, maps: list[tuple[str, str, int]], who: str) -> str:
    """One action on an existing mapping."""
    name, typ, n = rng.choice(maps)
    first = rng.randint(0, n - 1)
    span = f"{name}[{first}:{rng.randint(first + 1, n)}]"
    if typ.startswith(("file", "blk")) and rng.random() < 0.4:
        return who + file_action(rng, name, span)
    items = ",".join(rng.choice(maps)[0] for _ in range(rng.randint(1, 3)))
    choices = [
        f"touch {span} {rng.choice(['write', 'read'])}",
        f"move pages={items}{rng.choice(EXTRA_ITEMS)} nodes={rng.randint(0, 1)} "
        f"flags={rng.choice(['move', 'all', 'move|all', '0'])}",
        f"query {name}",
        f"mprotect {span} {rng.choice(['none', 'r', 'rw'])}",
        f"munmap {span}",
        f"mlock {span}",
        f"migrate old={rng.choice(['0', '1', '0,1'])} new={rng.randint(0, 1)}",
        f"mbind {span} mode={rng.choice(['bind', 'preferred', 'default', 'interleave'])} "
        f"nodes={rng.choice(['0', '1', '0,1'])} "
        f"flags={rng.choice(['move', 'all', 'strict', 'move|strict'])}",
        "placement",
    ]
    if not who:
        choices += [f"vmsplice {span}", "unsplice"]
    return who + rng.choice(choices)


def gen(rng: random.Random) -> str:
    """A random scenario of 5-25 actions, ending with verify."""
    lines: list[str] = []
    maps: list[tuple[str, str, int]] = []
    children: list[str] = []
    for _ in range(rng.randint(5, 25)):
        who = f"@{rng.choice(children)} " if children and rng.random() < 0.2 else ""
        roll = rng.random()
        if roll < 0.25 or not maps:
            name, typ, n = f"m{len(maps)}", rng.choice(TYPES), rng.randint(1, 6)
            opts = rng.choice(MAP_OPTS)
            files = [m for m in maps if m[1].startswith(("file", "blk"))]
            files = [m for m in files if m[1][:3] == typ[:3]]  # tmpfs with tmpfs, ext2 with ext2
            if typ.startswith(("file", "blk")) and files and rng.random() < 0.3:
                src = rng.choice(files)
                n = min(n, src[2])
                opts += f" file={src[0]}"
            lines.append(f"map {name} {typ} {n} {opts}")
            maps.append((name, typ, n))
        elif roll < 0.3 and len(children) < 3 and not who:
            children.append(f"c{len(children)}")
            lines.append(f"fork {children[-1]} mode={rng.choice(['live', 'live', 'exit'])}")
        else:
            lines.append(random_action(rng, maps, who))
    lines.append("verify")
    return "#@ --blockfs ext2\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(("profile", "seed"),
                         [("2.6.27", s) for s in range(60)] + [("6.1", s) for s in range(30)])
def test_random_scenario_keeps_invariants(profile: str, seed: int) -> None:
    """A random scenario runs with every invariant holding after every action, in both
    kernel profiles."""
    text = gen(random.Random(seed))
    b = ModelBackend(Topology(2, 128), profile)
    b.blockfs = "ext2"  # the scripts' #@ --blockfs ext2
    run_validating(b, text, f"fuzz{seed}.scn")


def run_validating(b: ModelBackend, text: str, name: str) -> None:
    """Run ``text`` on ``b``, validating the machine after every action; the script may
    only stop for one of ALLOWED_STOPS, and at least one action must have run."""
    checked: list[object] = []

    def check(action: object) -> None:
        validate(b.k)
        checked.append(action)

    try:
        Runner(b, parse_script(text, name), lambda o: None, check).run()
    except ScriptError as e:
        assert any(s in str(e) for s in ALLOWED_STOPS), str(e)
    assert checked
