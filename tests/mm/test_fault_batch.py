"""The batch path of first-touch faults (mm/fault_batch.py) against the per-page path.

The contract: on the same machine and request (Kernel.store_tokens / touch_range) both
paths give the same result and leave the same machine (tests/mm/batch_view.py: every
mapped page's node, contents, flags, counts, list or pagevec slot and cgroup record, the
zone counters and LRU order, free pages per zone, pagevecs, cgroup usage, rss).  The two
properties run 40 derandomized examples each in the suite;
``PAGEMIG_BATCH_EXAMPLES=1000 python -m pytest tests/mm/test_fault_batch.py`` runs them
longer with fresh random examples.
"""

from __future__ import annotations

import errno
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagemig.kernel import Kernel, Topology
from pagemig.mm import fault_batch
from pagemig.mm.mempolicy import MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED
from pagemig.mm.mm_types import LRU_ACTIVE, LRU_PAGEVEC, PAGE_SIZE
from pagemig.mm.mmap import PROT_NONE, PROT_READ
from pagemig.mm.page_flags import F_ACTIVE, F_ANON_EXCLUSIVE, F_LRU, F_SWAPBACKED
from pagemig.mm.swap import PVEC_ACTIVE, lru_add_drain_all
from pagemig.validate import validate

from .batch_view import canonical, diff
from .test_migrate_batch import fill_node

PROFILES = ("2.6.27", "6.1")


def _tokens(n: int, salt: int = 0) -> np.ndarray:
    return (np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E37)) ^ np.uint64(salt << 40)


@pytest.mark.parametrize("profile", PROFILES)
def test_store_tokens_takes_the_batch_path(profile: str) -> None:
    """100 first touches: the batch path runs, each page holds its token, on the node."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=32), profile, contents="tag")
    t = k.spawn()
    a = k.mmap(t, 100 * PAGE_SIZE)
    rss = t.mm.anon_rss
    k.store_tokens(t, a, _tokens(100))
    assert "batch" == k.fault_path
    assert rss + 100 == t.mm.anon_rss
    for i in (0, 13, 14, 99):
        assert int(_tokens(100)[i]) == k.load_token(t, a + i * PAGE_SIZE)
        assert 0 == k.pfn_to_nid(k.page_at(t, a + i * PAGE_SIZE))
    validate(k)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_long_request_in_pieces_equals_the_reference(
        profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request longer than a piece (made 28 pages here) is faulted in piece by piece and
    leaves the machine as the per-page path does; a page that fails past the end of the
    mapping is reported by its index in the whole request, the pages before it done."""
    monkeypatch.setattr(fault_batch, "FAULT_RANGE_CHUNK", 28)
    machines = []
    for path in ("reference", "batch"):
        k = Kernel(Topology(nodes=2, mem_per_node_mb=32), profile, contents="tag")
        t = k.spawn()
        a = k.mmap(t, 200 * PAGE_SIZE)
        k.set_migrate_path(path)
        with pytest.raises(OSError) as exc:
            k.store_tokens(t, a, _tokens(230))
        assert (errno.EFAULT, hex(a + 200 * PAGE_SIZE)) == (exc.value.errno,
                                                            exc.value.filename)
        assert path == k.fault_path
        machines.append(k)
    assert [] == diff(canonical(machines[0]), canonical(machines[1]))
    validate(machines[1])


@pytest.mark.parametrize("profile", PROFILES)
def test_pagevec_and_lru_after_a_batch(profile: str) -> None:
    """30 pages into an empty pagevec: two drains of 14 reach the active list in order,
    the last 2 pages wait in the pagevec with two references; 6.1 pages are swap-backed
    and exclusive, and every 14th takes a second stamp (put on the file list first)."""
    k = Kernel(Topology(nodes=1, mem_per_node_mb=32), profile)
    k.set_migrate_path("batch")
    t = k.spawn()
    a = k.mmap(t, 30 * PAGE_SIZE)
    lru_add_drain_all(k)  # the pagevecs start empty
    zone = k.nodes[0].zones[-1]
    seq0 = zone.lru_seq
    k.touch_range(t, a, 30, True)
    assert "batch" == k.fault_path
    p = k.pages
    pfns = [k.page_at(t, a + i * PAGE_SIZE) for i in range(30)]
    assert [LRU_ACTIVE] * 28 + [LRU_PAGEVEC] * 2 == [int(p.lru[x]) for x in pfns]
    assert [1] * 28 + [2] * 2 == [int(p.count[x]) for x in pfns]
    assert 2 == int(k.pvec_len[0, PVEC_ACTIVE])
    stamps = [int(p.lru_seq[x]) - seq0 for x in pfns[:28]]
    if profile == "6.1":
        expected = list(range(1, 14)) + [15] + list(range(16, 29)) + [30]
        want = F_LRU | F_ACTIVE | F_SWAPBACKED | F_ANON_EXCLUSIVE
    else:
        expected = list(range(1, 29))
        want = F_LRU | F_ACTIVE
    assert expected == stamps
    assert all(int(p.flags[x]) & want == want for x in pfns[:28])
    validate(k)


def test_reference_path_never_batches() -> None:
    """migrate_path "reference" faults page by page; "auto" only from 64 pages."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=32), "2.6.27")
    t = k.spawn()
    a = k.mmap(t, 200 * PAGE_SIZE)
    k.touch_range(t, a, 63, True)
    assert "reference" == k.fault_path
    k.set_migrate_path("reference")
    k.touch_range(t, a + 63 * PAGE_SIZE, 100, True)
    assert "reference" == k.fault_path
    k.set_migrate_path("auto")
    k.touch_range(t, a + 163 * PAGE_SIZE, 37, True)
    assert "reference" == k.fault_path  # 37 pages: under the threshold


def test_interleave_follows_the_offset() -> None:
    """An interleaved vma gets its pages from nodes 0, 1, 0, 1, ... by offset."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=32), "2.6.27")
    t = k.spawn()
    a = k.mmap(t, 64 * PAGE_SIZE)
    k.mbind(t, a, 64 * PAGE_SIZE, MPOL_INTERLEAVE, [0, 1])
    k.store_tokens(t, a, _tokens(64))
    assert "batch" == k.fault_path
    assert [i % 2 for i in range(64)] == [k.pfn_to_nid(k.page_at(t, a + i * PAGE_SIZE))
                                          for i in range(64)]
    validate(k)


@pytest.mark.parametrize("profile", PROFILES)
def test_error_reports_the_failing_page(profile: str) -> None:
    """A store past the end of the mapping fails at the first page outside it, with the
    pages before it stored (as page-by-page stores would)."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=32), profile, contents="tag")
    t = k.spawn()
    a = k.mmap(t, 80 * PAGE_SIZE)
    k.munmap(t, a + 70 * PAGE_SIZE, 10 * PAGE_SIZE)
    rss = t.mm.anon_rss
    with pytest.raises(OSError) as e:
        k.store_tokens(t, a, _tokens(80))
    assert (errno.EFAULT, hex(a + 70 * PAGE_SIZE)) == (e.value.errno, e.value.filename)
    assert int(_tokens(80)[69]) == k.load_token(t, a + 69 * PAGE_SIZE)
    assert rss + 70 == t.mm.anon_rss


# -- the equivalence properties --

@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    """A random machine, a mapping partly touched, and one or two touch requests."""
    nodes = draw(st.integers(1, 3))
    size = draw(st.sampled_from([40, 100, 300])) if draw(st.integers(0, 3)) \
        else draw(st.integers(20, 300))
    pre = draw(st.lists(st.tuples(st.integers(0, size - 1), st.sampled_from("wwr")),
                        max_size=12))
    swap = draw(st.lists(st.integers(0, size - 1), max_size=3))
    # read-only or PROT_NONE pages, often ones touched before (a PROT_NONE pte still maps
    # its page: fork copies it as present)
    where = st.sampled_from([i for i, _ in pre]) if pre and draw(st.booleans()) \
        else st.integers(0, size - 1)
    ro = draw(st.lists(st.tuples(where, st.sampled_from([PROT_READ, PROT_READ, PROT_NONE])),
                       max_size=2)) if draw(st.booleans()) else []
    mlock = draw(st.sampled_from([None, None, None, "all", "part"]))
    pol = draw(st.sampled_from([None, None, "bind", "preferred", "interleave", "task_bind",
                                "task_interleave"]))
    pol_nodes = draw(st.lists(st.integers(0, nodes - 1), min_size=1, max_size=nodes,
                              unique=True))
    memcg = draw(st.sampled_from([None, None, 0, 10, 60, 200, 5000]))
    fill = draw(st.one_of(st.none(), st.tuples(st.integers(0, nodes - 1),
                                               st.sampled_from([0, 5, 30, 80, 150, 400]))))
    cpu = draw(st.integers(0, nodes - 1))
    fork = draw(st.integers(0, 5)) == 0
    requests = []
    for _ in range(draw(st.integers(1, 2))):
        start = draw(st.sampled_from([0, 0, 1, 13])) if draw(st.integers(0, 3)) \
            else draw(st.integers(0, size - 1))
        start = min(start, size - 1)
        count = {"rest": size - start, "over": size + 10 - start,
                 "any": draw(st.integers(1, size + 10 - start))}[
            draw(st.sampled_from(["rest", "rest", "over", "any"]))]
        requests.append((start, count, draw(st.sampled_from("wwwr")), draw(st.integers(0, 9))))
    return {"nodes": nodes, "size": size, "pre": pre, "swap": swap, "ro": ro,
            "mlock": mlock, "pol": pol, "pol_nodes": pol_nodes, "memcg": memcg, "fill": fill,
            "cpu": cpu, "fork": fork, "requests": requests,
            "cpuset": draw(st.integers(0, 5)) == 0,
            "contents": draw(st.sampled_from(["bytes", "tag"]))}


def _build(profile: str, sc: dict) -> tuple[Kernel, Any, int]:
    k = Kernel(Topology(nodes=sc["nodes"], mem_per_node_mb=32), profile,
               contents=sc["contents"])
    t = k.spawn(cpu=k.nodes[sc["cpu"]].cpus[0])
    cg = k.memcg_create() if sc["memcg"] is not None else None
    if cg is not None:
        k.memcg_move_task(t, cg)
    a = k.mmap(t, sc["size"] * PAGE_SIZE)
    k.set_migrate_path("reference")
    for i, how in sc["pre"]:
        k.touch(t, a + i * PAGE_SIZE, how == "w")
    for i in sc["swap"]:
        if k.page_at(t, a + i * PAGE_SIZE) is None:
            continue
        if k.swap_info is None:
            k.swapon(512)
        try:
            k.swap_out(t, a + i * PAGE_SIZE)
        except (OSError, ValueError):
            pass
    for i, prot in sc["ro"]:
        k.mprotect(t, a + i * PAGE_SIZE, PAGE_SIZE, prot)
    if sc["mlock"] == "all":
        k.mlock(t, a, sc["size"] * PAGE_SIZE)
    elif sc["mlock"] == "part":
        k.mlock(t, a + sc["size"] // 3 * PAGE_SIZE, sc["size"] // 3 * PAGE_SIZE)
    mode = {"bind": MPOL_BIND, "preferred": MPOL_PREFERRED, "interleave": MPOL_INTERLEAVE,
            "task_bind": MPOL_BIND, "task_interleave": MPOL_INTERLEAVE}.get(sc["pol"] or "")
    if mode is not None and sc["pol"].startswith("task_"):
        k.set_mempolicy(t, mode, sc["pol_nodes"])
    elif mode is not None:
        k.mbind(t, a + PAGE_SIZE, (sc["size"] - 1) * PAGE_SIZE, mode, sc["pol_nodes"])
    if sc["fork"]:
        k.fork(t)
    if cg is not None:
        k.memcg_set_limit(cg, cg.usage + sc["memcg"])
    if sc["fill"] is not None:
        fill_node(k, *sc["fill"])
    if sc["cpuset"]:
        t.mems_allowed = frozenset({sc["nodes"] - 1})  # a cpuset of the last node
    return k, t, a


def _request(k: Kernel, t: Any, a: int, req: tuple, path: str) -> tuple:
    start, count, how, salt = req
    k.set_migrate_path(path)
    try:
        if how == "w":
            k.store_tokens(t, a + start * PAGE_SIZE, _tokens(count, salt))
        else:
            k.touch_range(t, a + start * PAGE_SIZE, count, False)
    except OSError as e:
        return ("error", e.errno, e.filename), k.fault_path
    return "ok", k.fault_path


TAKEN = {"batch": 0, "reference": 0}


def _check_equivalent(profile: str, sc: dict) -> None:
    ref, rt, ra = _build(profile, sc)
    bat, bt, ba = _build(profile, sc)
    assert diff(canonical(ref), canonical(bat)) == []
    for req in sc["requests"]:
        r_out, r_path = _request(ref, rt, ra, req, "reference")
        b_out, b_path = _request(bat, bt, ba, req, "batch")
        assert "reference" == r_path
        TAKEN[b_path] += 1
        assert r_out == b_out
        assert diff(canonical(ref), canonical(bat)) == []
        validate(bat)


# PAGEMIG_BATCH_EXAMPLES=1000 runs the two properties longer (by hand).
EXAMPLES = int(os.environ.get("PAGEMIG_BATCH_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 40,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(scenarios())
def test_fault_batch_equals_reference_2627(sc: dict) -> None:
    """2.6.27: random machines and touches give the same result and machine on both paths."""
    _check_equivalent("2.6.27", sc)


@SETTINGS
@given(scenarios())
def test_fault_batch_equals_reference_61(sc: dict) -> None:
    """Linux 6.1: random machines and touches give the same result and machine on both
    paths."""
    _check_equivalent("6.1", sc)


def test_the_property_takes_the_batch_path() -> None:
    """The random touches above are not all refused: some took the batch path."""
    if TAKEN["batch"] + TAKEN["reference"] == 0:
        pytest.skip("the property tests did not run in this session")
    assert TAKEN["batch"] > 0


@pytest.mark.parametrize("profile", PROFILES)
def test_full_zone_spills_or_refuses(profile: str) -> None:
    """Node 0's DMA32 zone with room for 40 pages above its low watermark: 100
    default-policy pages take 40 there and the rest from its DMA zone (the next in the
    zonelist), as page by page; then an interleave over both nodes, whose node-0 pages
    would have to leave their first zone, is refused and runs page by page."""
    out = []
    for path in ("reference", "batch"):
        k = Kernel(Topology(nodes=2, mem_per_node_mb=32), profile, contents="tag")
        t = k.spawn()
        fill_node(k, 0, 40)
        a = k.mmap(t, 100 * PAGE_SIZE)
        k.set_migrate_path(path)
        k.store_tokens(t, a, _tokens(100))
        zones = [k.page_zone(k.page_at(t, a + i * PAGE_SIZE)).name for i in range(100)]
        assert ["DMA32"] * 40 + ["DMA"] * 60 == zones
        assert path == k.fault_path
        b = k.mmap(t, 50 * PAGE_SIZE)
        k.mbind(t, b, 50 * PAGE_SIZE, MPOL_INTERLEAVE, [0, 1])
        k.store_tokens(t, b, _tokens(50))
        assert "reference" == k.fault_path
        out.append(canonical(k))
    assert diff(out[0], out[1]) == []


def test_plan_refuses_a_cgroup_near_its_limit() -> None:
    """A cgroup with room for 50 pages: a run of 60 first touches is not planned."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=32), "2.6.27")
    t = k.spawn()
    cg = k.memcg_create()
    k.memcg_move_task(t, cg)
    k.memcg_set_limit(cg, cg.usage + 50)
    a = k.mmap(t, 60 * PAGE_SIZE)
    with k.as_task(t):
        assert None is fault_batch.plan_fault_batch(k, t.mm, a, 60, True, None)
        assert None is not fault_batch.plan_fault_batch(k, t.mm, a, 50, True, None)


# -- fork: copy_page_range() on arrays (mm/fork_batch.py) --

def _fork(k: Kernel, t: Any, path: str) -> tuple:
    k.set_migrate_path(path)
    child = k.fork(t)
    swap = k.swap_info.swap_map.tolist() if k.swap_info is not None else None
    return child.pid, k.fork_path, swap


FORKS = {"batch": 0, "reference": 0}


@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
def test_fork_copies_prot_none_ptes_as_present(profile: str) -> None:
    """A PROT_NONE pte maps its page (pte_present()): fork copies it as a present pte on
    both paths (it is no swap entry), and both machines end alike."""
    out = []
    for path in ("reference", "batch"):
        k = Kernel(Topology(nodes=2, mem_per_node_mb=32), profile, contents="tag")
        t = k.spawn()
        a = k.mmap(t, 100 * PAGE_SIZE)
        k.store_tokens(t, a, _tokens(100))
        k.mprotect(t, a + 10 * PAGE_SIZE, 5 * PAGE_SIZE, 0)
        _fork(k, t, path)
        assert path == k.fork_path
        out.append(canonical(k))
        validate(k)
    assert diff(out[0], out[1]) == []


def _check_fork(profile: str, sc: dict) -> None:
    ref, rt, ra = _build(profile, sc)
    bat, bt, ba = _build(profile, sc)
    for req in sc["requests"][:1]:  # a request first, so that the process has pages
        _request(ref, rt, ra, req, "reference")
        _request(bat, bt, ba, req, "reference")
    r_pid, r_path, r_swap = _fork(ref, rt, "reference")
    b_pid, b_path, b_swap = _fork(bat, bt, "batch")
    assert "reference" == r_path
    FORKS[b_path] += 1
    assert (r_pid, r_swap) == (b_pid, b_swap)
    assert diff(canonical(ref), canonical(bat)) == []
    validate(bat)
    # the parent then writes everywhere: copy-on-write on both machines alike
    start, count, _, salt = sc["requests"][-1]
    for k, t, a in ((ref, rt, ra), (bat, bt, ba)):
        _request(k, t, a, (start, count, "w", salt), "reference")
    assert diff(canonical(ref), canonical(bat)) == []


@SETTINGS
@given(scenarios())
def test_fork_batch_equals_reference_2627(sc: dict) -> None:
    """2.6.27: fork of random processes leaves the same machine on both paths."""
    _check_fork("2.6.27", sc)


@SETTINGS
@given(scenarios())
def test_fork_batch_equals_reference_61(sc: dict) -> None:
    """Linux 6.1: fork of random processes leaves the same machine on both paths."""
    _check_fork("6.1", sc)


def test_the_fork_property_takes_the_batch_path() -> None:
    """The random forks above are not all refused: some copied ptes on arrays."""
    if FORKS["batch"] + FORKS["reference"] == 0:
        pytest.skip("the fork properties did not run in this session")
    assert FORKS["batch"] > 0


@pytest.mark.parametrize("profile", PROFILES)
def test_fork_batch_shares_pages_copy_on_write(profile: str) -> None:
    """After a batch fork of 100 written pages, each page has two references and two
    mapcounts, both ptes are read-only, and (6.1) no page stays exclusive."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=32), profile, contents="tag")
    t = k.spawn()
    a = k.mmap(t, 100 * PAGE_SIZE)
    k.store_tokens(t, a, _tokens(100))
    from pagemig.mm.swap import lru_add_drain_all as drain

    drain(k)
    child = k.fork(t)
    assert "batch" == k.fork_path
    for i in (0, 50, 99):
        addr = a + i * PAGE_SIZE
        pfn = k.page_at(t, addr)
        assert pfn == k.page_at(child, addr)
        assert (2, 2) == (int(k.pages.count[pfn]), int(k.pages.mapcount[pfn]))
        assert 0 == int(k.pages.flags[pfn]) & F_ANON_EXCLUSIVE
        assert 0 == t.mm.get_pte(addr) & 2 == child.mm.get_pte(addr) & 2
    validate(k)
