"""The batch paths of migrate_pages(2) (migrate_to_node_batch()) and of mbind(2) with
MPOL_MF_MOVE (plan_mbind_batch()) in mm/migrate_batch.py against the per-page path.

The same contract as move_pages' batch path: on the same machine and call both paths give
the same return value and leave the same machine (tests/mm/batch_view.py), frame numbers
aside.  A (source, destination) pair whose queued pages are not all simple runs page by
page on both.  The machines are those of tests/mm/test_migrate_batch.py (pinned, mlocked,
swapped, swap-cache, writeback, forked and copy-on-write pages, read-only ptes, cgroup
limits, nearly full nodes, another process as the caller).  ``PAGEMIG_BATCH_EXAMPLES=1000``
runs the properties longer.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pagemig.kernel import Kernel, Topology
from pagemig.mm.mempolicy import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_INTERLEAVE,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
)
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.mm.mmap import PROT_NONE
from pagemig.validate import validate

from .batch_view import canonical, diff
from .test_migrate_batch import PROFILES, SETTINGS, compare_paths, scenarios


@st.composite
def calls(draw: st.DrawFn) -> dict:
    """A machine of test_migrate_batch and two migrate_pages(2) calls against it."""
    sc = draw(scenarios())
    nodes = st.lists(st.integers(0, sc["nodes"] - 1), min_size=1, max_size=sc["nodes"],
                     unique=True)
    sc["calls"] = [(draw(nodes), draw(nodes)) for _ in range(2)]
    return sc


def _migrate(k: Kernel, who: tuple, old: list[int], new: list[int], path: str) -> tuple:
    caller, pid = who
    try:
        out: object = k.migrate_pages(caller, pid, old, new, path=path)
    except OSError as e:
        out = ("error", e.errno)
    return out, k.migrate_pages_path


TAKEN = {"batch": 0, "mixed": 0, "reference": 0}


def _check_equivalent(profile: str, sc: dict) -> None:
    compare_paths(profile, sc, sc["calls"],
                  lambda k, who, _pages, c, path: _migrate(k, who, *c, path), TAKEN)


@SETTINGS
@given(calls())
def test_migrate_pages_batch_equals_reference_2627(sc: dict) -> None:
    """2.6.27: random machines and migrate_pages(2) calls, batch path against per page."""
    _check_equivalent("2.6.27", sc)


@SETTINGS
@given(calls())
def test_migrate_pages_batch_equals_reference_61(sc: dict) -> None:
    """6.1: random machines and migrate_pages(2) calls, batch path against per page."""
    _check_equivalent("6.1", sc)


def test_the_property_takes_the_batch_path() -> None:
    """The properties above exercise both paths (run after them in this module)."""
    print(TAKEN)
    assert TAKEN["batch"] > 0 and TAKEN["reference"] > 0


def _moved_away(profile: str, n: int = 300) -> tuple[Kernel, object, int]:
    # A process whose n anonymous pages alone are on node 1 (its image stays on node 0).
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile, contents="tag")
    t = k.spawn()
    a = k.mmap(t, n * PAGE_SIZE)
    k.store_tokens(t, a, np.arange(1, n + 1, dtype=np.uint64))
    assert 0 == k.move_pages(t, 0, [a + i * PAGE_SIZE for i in range(n)], [1] * n)[0]
    return k, t, a


@pytest.mark.parametrize("profile", PROFILES)
def test_pages_alone_on_the_source_node_move_on_the_batch_path(profile: str) -> None:
    """migrate_pages(2) from node 1, where only 300 simple anonymous pages are: the batch
    path moves every one to node 0 with its contents; the call returns 0."""
    k, t, a = _moved_away(profile)

    assert 0 == k.migrate_pages(t, 0, [1], [0])

    assert "batch" == k.migrate_pages_path
    for i in (0, 13, 14, 299):
        assert 0 == k.pfn_to_nid(k.page_at(t, a + i * PAGE_SIZE))
        assert i + 1 == k.load_token(t, a + i * PAGE_SIZE)
    validate(k)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_page_the_batch_cannot_take_goes_page_by_page_alone(profile: str) -> None:
    """One pinned page among those on the source node: that page goes page by page (it
    stays and counts as not moved), the runs before and after it move on arrays (the
    call's path is "mixed"), and the machine ends as on the per-page path."""
    k, t, a = _moved_away(profile)
    ref, rt, _ = _moved_away(profile)
    for kk, tt, path in ((k, t, "batch"), (ref, rt, "reference")):
        pins = kk.pin(tt, a + 7 * PAGE_SIZE, 1)
        try:
            assert 1 == kk.migrate_pages(tt, 0, [1], [0], path=path)
        finally:
            kk.unpin(pins)

    assert ("mixed", "reference") == (k.migrate_pages_path, ref.migrate_pages_path)
    assert 1 == k.pfn_to_nid(k.page_at(t, a + 7 * PAGE_SIZE))
    assert 0 == k.pfn_to_nid(k.page_at(t, a + 8 * PAGE_SIZE))
    assert [] == diff(canonical(ref), canonical(k))
    validate(k)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_prot_none_page_is_selected_and_moves(profile: str) -> None:
    """A PROT_NONE page on the source node is present to the walk (pte_present()): it
    moves on both paths, as the per-page walk queues it."""
    k, t, a = _moved_away(profile)
    ref, rt, _ = _moved_away(profile)
    for kk, tt, path in ((k, t, "batch"), (ref, rt, "reference")):
        kk.mprotect(tt, a + 5 * PAGE_SIZE, PAGE_SIZE, PROT_NONE)
        assert 0 == kk.migrate_pages(tt, 0, [1], [0], path=path)
        assert 0 == kk.pfn_to_nid(kk.page_at(tt, a + 5 * PAGE_SIZE))
    assert [] == diff(canonical(ref), canonical(k))


def test_the_runner_says_which_path_moved_the_pages() -> None:
    """The migrate_pages object of a scenario carries "path"."""
    from pagemig.backends.model import ModelBackend
    from pagemig.script.parse import parse_script
    from pagemig.script.runner import Runner

    text = ("map a anon 200 touch=write\n"
            "move pages=a nodes=1 flags=move\n"
            "migrate old=1 new=0\n")
    b = ModelBackend(Topology(nodes=2, mem_per_node_mb=64), "2.6.27")
    out: list[dict] = []
    Runner(b, parse_script(text, "t.scn"), out.append).run()
    (obj,) = [o for o in out if o.get("op") == "migrate_pages"]
    assert ("batch", 0) == (obj["path"], obj["ret"])


@pytest.mark.parametrize("profile", PROFILES)
def test_a_whole_process_moves_mixed_in_a_scenario(profile: str) -> None:
    """migrate_pages(2) of a whole process from the node it started on: its program image
    (file pages) goes page by page, its anonymous pages in runs on arrays; the object
    says "mixed", and verify finds every page's contents."""
    from pagemig.backends.model import ModelBackend
    from pagemig.script.parse import parse_script
    from pagemig.script.runner import Runner

    text = ("map a anon 300 node=0 touch=write\n"
            "migrate old=0 new=1\n"
            "placement\n"
            "verify\n")
    b = ModelBackend(Topology(nodes=2, mem_per_node_mb=64), profile)
    out: list[dict] = []
    Runner(b, parse_script(text, "t.scn"), out.append).run()
    (obj,) = [o for o in out if o.get("op") == "migrate_pages"]
    assert ("mixed", 0) == (obj["path"], obj["ret"])
    verify = [o for o in out if o.get("op") == "verify"]
    assert verify and all(o["ok"] and o["checked"] >= 300 for o in verify)
    (placed,) = [o for o in out if o.get("op") == "placement"]
    assert [[1, 300]] == placed["placement"]["a"]["rle"]


# == mbind(2) with MPOL_MF_MOVE ==

@st.composite
def mbinds(draw: st.DrawFn) -> dict:
    """A machine of test_migrate_batch and two mbind(2) calls on ranges of its pages."""
    sc = draw(scenarios())
    total = sum(sc["regions"])
    nodes = st.lists(st.integers(0, sc["nodes"] - 1), min_size=1, max_size=sc["nodes"],
                     unique=True)
    sc["mbinds"] = []
    for _ in range(2):
        first = draw(st.integers(0, total - 1))
        count = draw(st.integers(1, total - first))
        mode = draw(st.sampled_from([MPOL_BIND, MPOL_BIND, MPOL_PREFERRED, MPOL_INTERLEAVE,
                                     MPOL_DEFAULT]))
        flags = draw(st.sampled_from([MPOL_MF_MOVE, MPOL_MF_MOVE, MPOL_MF_MOVE | MPOL_MF_STRICT,
                                      MPOL_MF_MOVE_ALL, MPOL_MF_STRICT]))
        sc["mbinds"].append((first, count, mode, [] if mode == MPOL_DEFAULT else draw(nodes),
                             flags))
    return sc


MBIND_TAKEN = {"batch": 0, "mixed": 0, "reference": 0}


def _mbind(k: Kernel, who: tuple, pages: list[int], call: tuple, path: str) -> tuple:
    first, count, mode, nodes, flags = call
    task = who[0] if who[1] == 0 else k.tasks[who[1]]  # mbind() acts on the caller's mm
    try:
        # The pages of one region lie in a row; a range across regions meets their gaps.
        k.mbind(task, pages[first], count * PAGE_SIZE, mode, nodes, flags, path=path)
        out: object = 0
    except OSError as e:
        out = ("error", e.errno)
    return out, k.mbind_path


def _check_mbind(profile: str, sc: dict) -> None:
    compare_paths(profile, sc, sc["mbinds"], _mbind, MBIND_TAKEN)


@SETTINGS
@given(mbinds())
def test_mbind_batch_equals_reference_2627(sc: dict) -> None:
    """2.6.27: random machines and mbind(2) calls, batch path against per page."""
    _check_mbind("2.6.27", sc)


@SETTINGS
@given(mbinds())
def test_mbind_batch_equals_reference_61(sc: dict) -> None:
    """6.1: random machines and mbind(2) calls, batch path against per page."""
    _check_mbind("6.1", sc)


def test_the_mbind_properties_take_the_batch_path() -> None:
    """The mbind properties above exercise both paths (run after them in this module)."""
    print(MBIND_TAKEN)
    assert MBIND_TAKEN["batch"] > 0 and MBIND_TAKEN["reference"] > 0


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("mode", [MPOL_BIND, MPOL_PREFERRED])
def test_mbind_moves_a_region_on_the_batch_path(profile: str, mode: int) -> None:
    """mbind(MPOL_MF_MOVE) of 300 written pages to node 1, bind or preferred: the batch
    path moves every one with its contents, and the range's policy is set."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile, contents="tag")
    t = k.spawn()
    a = k.mmap(t, 300 * PAGE_SIZE)
    k.store_tokens(t, a, np.arange(1, 301, dtype=np.uint64))

    k.mbind(t, a, 300 * PAGE_SIZE, mode, [1], MPOL_MF_MOVE | MPOL_MF_STRICT)

    assert "batch" == k.mbind_path
    for i in (0, 13, 14, 299):
        assert 1 == k.pfn_to_nid(k.page_at(t, a + i * PAGE_SIZE))
        assert i + 1 == k.load_token(t, a + i * PAGE_SIZE)
    vma = t.mm.find_vma(a)
    assert (mode, frozenset({1})) == (vma.policy.mode, vma.policy.nodes)
    validate(k)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("mode, nodes", [(MPOL_INTERLEAVE, [1, 2]), (MPOL_BIND, [1, 2]),
                                         (MPOL_DEFAULT, [])])
def test_mbind_interleave_and_several_nodes_move_on_arrays(profile: str, mode: int,
                                                           nodes: list[int]) -> None:
    """mbind(MPOL_MF_MOVE) of pages on node 0 by a task running on node 2 of three:
    interleave over nodes 1 and 2, bind to both (the local node 2 first) or the default
    policy (local).  The pages move on arrays (runs of the list, each page to its
    policy's node, interleave hits counted) and the machine ends as on the per-page path."""
    machines = []
    for path in ("batch", "reference"):
        k = Kernel(Topology(nodes=3, mem_per_node_mb=32), profile, contents="tag")
        t = k.spawn(cpu=2)
        a = k.mmap(t, 300 * PAGE_SIZE)
        k.set_mempolicy(t, MPOL_BIND, [0])
        k.store_tokens(t, a, np.arange(1, 301, dtype=np.uint64))
        k.set_mempolicy(t, MPOL_DEFAULT, None)
        k.mbind(t, a + 3 * PAGE_SIZE, 290 * PAGE_SIZE, mode, nodes, MPOL_MF_MOVE, path=path)
        machines.append((k, t, a))
    (k, t, a), (ref, _, _) = machines
    assert ("batch", "reference") == (k.mbind_path, ref.mbind_path)
    assert [] == diff(canonical(ref), canonical(k))
    placed = [k.pfn_to_nid(k.page_at(t, a + i * PAGE_SIZE)) for i in range(300)]
    assert {0} == set(placed[:3] + placed[293:])
    assert set(placed[3:293]) == ({1, 2} if mode == MPOL_INTERLEAVE else {2})
    for i in (3, 4, 150, 292):
        assert i + 1 == k.load_token(t, a + i * PAGE_SIZE)
    validate(k)


def test_a_caller_confined_to_other_nodes_allocates_there_2627() -> None:
    """2.6.27 new_node_page() allocates without __GFP_THISNODE, inside the caller's
    cpuset: a caller allowed nodes 0 and 1 moving another process's pages from node 1 to
    node 2 puts them on node 0, on arrays as page by page."""
    machines = []
    for path in ("batch", "reference"):
        k = Kernel(Topology(nodes=3, mem_per_node_mb=32), "2.6.27", contents="tag")
        t = k.spawn()
        a = k.mmap(t, 300 * PAGE_SIZE)
        k.store_tokens(t, a, np.arange(1, 301, dtype=np.uint64))
        k.move_pages(t, 0, [a + i * PAGE_SIZE for i in range(300)], [1] * 300)
        caller = k.spawn()
        caller.mems_allowed = frozenset({0, 1})
        assert 0 == k.migrate_pages(caller, t.pid, [1], [2], path=path)
        machines.append((k, t, a))
    (k, t, a), (ref, _, _) = machines
    assert ("batch", "reference") == (k.migrate_pages_path, ref.migrate_pages_path)
    assert [] == diff(canonical(ref), canonical(k))
    assert {0} == {k.pfn_to_nid(k.page_at(t, a + i * PAGE_SIZE)) for i in range(300)}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("path", ["reference", "batch"])
def test_lru_caches_are_off_while_61_moves(profile: str, path: str) -> None:
    """Linux 5.13 on, migrate_pages(2) and mbind(MPOL_MF_MOVE) disable the per-CPU LRU add
    caches for the call: every page reaches its list at once, so no pagevec holds a page
    afterwards.  2.6.27 drains once first and leaves the last pages in the pagevecs."""
    k, t, a = _moved_away(profile)
    assert 0 == k.migrate_pages(t, 0, [1], [0], path=path)
    held_after_migrate = int(k.pvec_len.sum())
    k.mbind(t, a, 300 * PAGE_SIZE, MPOL_BIND, [1], MPOL_MF_MOVE, path=path)
    held_after_mbind = int(k.pvec_len.sum())
    if profile == "6.1":
        assert (0, 0) == (held_after_migrate, held_after_mbind)
        assert 0 == k.lru_disable_count  # enabled again after each call
    else:
        assert held_after_migrate > 0 and held_after_mbind > 0
    validate(k)
