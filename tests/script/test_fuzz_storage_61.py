"""Random 6.1 scenarios with swap, a block filesystem, pageout/swapin, mlock and pageflags:
every action keeps every invariant of the 6.1 profile (validate after each)."""

from __future__ import annotations

import random

import pytest

from pagemig.backends.model import ModelBackend
from pagemig.kernel import Topology
from tests.script.test_fuzz import gen, run_validating


def storage_action(rng: random.Random, name: str, n: int) -> str:
    """One swap, mlock or page-flag action on a mapping."""
    first = rng.randint(0, n - 1)
    span = f"{name}[{first}:{rng.randint(first + 1, n)}]"
    return rng.choice([
        f"pageout {span}", f"pageout {span} wait=0",
        f"swapin {span} {rng.choice(['read', 'write'])} cpu_node={rng.randint(0, 1)}",
        f"pageflags {span}", f"mlock {span}", f"munlock {span}",
        f"madvise {span} {rng.choice(['willneed', 'cold', 'pageout', 'dontneed'])}"])


def gen61(rng: random.Random) -> str:
    """The generic random scenario with storage actions mixed in after each mapping."""
    lines = gen(rng).splitlines()[1:]
    out: list[str] = []
    maps: list[tuple[str, int]] = []
    for line in lines:
        out.append(line)
        parts = line.split()
        if parts[0] == "map":
            maps.append((parts[1], int(parts[3])))
        if maps and not line.startswith("@") and rng.random() < 0.5:
            out.append(storage_action(rng, *rng.choice(maps)))
    dev = rng.choice(["zram", "disk"])
    return f"#@ --blockfs ext4 --swap 8 --swap-dev {dev}\n" + "\n".join(out) + "\n"


@pytest.mark.parametrize("seed", range(40))
def test_random_6_1_storage_scenario_keeps_invariants(seed: int) -> None:
    """A random 6.1 scenario with swap and ext4 runs with every invariant holding."""
    rng = random.Random(1000 + seed)
    text = gen61(rng)
    b = ModelBackend(Topology(2, 128), "6.1")
    b.blockfs = "ext4"
    b.k.swapon(8 * 256, synchronous="zram" in text.splitlines()[0])
    run_validating(b, text, f"fuzz61-{seed}.scn")
