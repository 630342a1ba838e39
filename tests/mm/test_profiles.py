"""Kernel profiles: a release is the set of features it has (src/pagemig/mm/profiles.py)."""

from __future__ import annotations

import pytest

from pagemig.kernel import Kernel, Topology
from pagemig.mm.profiles import FEATURES, PROFILES, get_profile, make_profile, parse_release
from pagemig.mm.vmstat import PGMIGRATE_SUCCESS, count_vm_events, vm_event_value
from pagemig.validate import validate


def test_2627_has_no_later_feature() -> None:
    """2.6.27 predates every feature in the table (each came after the seed's release)."""
    assert set() == set(get_profile("2.6.27").features)


def test_61_has_every_feature_up_to_its_release() -> None:
    """6.1 has exactly the features whose release is 6.1 or earlier."""
    expected = {f.name for f in FEATURES.values() if f.since <= (6, 1)}
    assert expected == set(get_profile("6.1").features)


def test_feature_release_boundary() -> None:
    """A release has a feature from the release that brought it on, not before."""
    assert make_profile("2.6.28", "x").has("split_lru")
    assert not make_profile("2.6.27", "x").has("split_lru")
    assert make_profile("3.8", "x").has("pgmigrate_vmstat")
    assert not make_profile("3.7", "x").has("pgmigrate_vmstat")


def test_unknown_feature_is_refused() -> None:
    """Asking for a feature the table does not know is an error, not a silent False."""
    with pytest.raises(KeyError, match="unknown kernel feature"):
        get_profile("6.1").has("pgmigrate_vmstats")


def test_unknown_profile_is_refused() -> None:
    """An unknown profile name is a ValueError naming the known ones."""
    with pytest.raises(ValueError, match="2.6.27, 6.1"):
        get_profile("5.4")


def test_parse_release() -> None:
    """Release strings become comparable tuples."""
    assert (2, 6, 27) == parse_release("2.6.27")
    assert parse_release("2.6.28") < parse_release("3.8") < parse_release("6.1")


def test_uname_release_of_each_profile() -> None:
    """2.6.27 reports its release as is; later releases get a model suffix."""
    assert "2.6.27" == PROFILES["2.6.27"].release
    assert PROFILES["6.1"].release.startswith("6.1.0")


@pytest.mark.parametrize(("profile", "expected"), [("2.6.27", None), ("6.1", 3)])
def test_pgmigrate_counter_exists_by_release(profile: str, expected: int | None) -> None:
    """pgmigrate_success is counted and shown from 3.8 on; 2.6.27 has no such line."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile)
    count_vm_events(k, PGMIGRATE_SUCCESS, 3)
    assert expected == vm_event_value(k, PGMIGRATE_SUCCESS)
    validate(k)


@pytest.mark.parametrize(("profile", "expected"), [("2.6.27", 0), ("6.1", 2)])
def test_moved_pages_are_counted(profile: str, expected: int) -> None:
    """A move of two pages adds 2 to pgmigrate_success where the release counts it."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile)
    p = k.spawn()
    a = k.mmap(p, 2 * 4096)
    k.write_user(p, a, b"x")
    k.write_user(p, a + 4096, b"y")
    ret, status = k.move_pages(p, 0, [a, a + 4096], [1, 1])
    assert (0, [1, 1]) == (ret, status)
    assert expected == k.vm_events.get(PGMIGRATE_SUCCESS, 0)
    validate(k)
