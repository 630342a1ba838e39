"""NUMA actions: move and query (move_pages(2)), placement, migrate (migrate_pages(2)),
mbind, set_mempolicy, cpuset and pin.

Each action is a function of the run's state (`RunnerState`), the process and the action.
The system call arguments are built in the calling process's memory, as the probe does.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pagemig.script.core import (
    PAGE,
    Proc,
    RunnerState,
    c_atoi,
    syscall_fields,
)
from pagemig.script.jsonout import err_fields, placement_value, status_fields
from pagemig.script.parse import Action
from pagemig.script.values import (
    ItemSpec,
    count_items,
    parse_count,
    parse_flags,
    parse_items,
    parse_mask,
    parse_nodes,
)

UNSET_STATUS = -99999
KERNEL_ADDR = 0xFFFF888000100000
MASK_BYTES = 8192  # the probe's node masks: room for PAGE_SIZE * 8 bits
MPOL = {"default": 0, "preferred": 1, "bind": 2, "interleave": 3, "local": 4}
CGROUP_ROOT = "/sys/fs/cgroup"
CPU_SETSIZE = 1024


def _items(rs: RunnerState, proc: Proc, spec: str) -> tuple[list[int], list[str]]:
    addrs: list[int] = []
    labels: list[str] = []
    items = parse_items(spec)

    def npages_of(name: str) -> int:
        m = proc.maps.get(name)
        if m is None or not m.live:
            raise ValueError(f"bad item '{name}'")
        return m.npages

    count_items(items, npages_of)  # "too many items" before the list is built
    for item in items:
        _expand_item(rs, proc, item, addrs, labels)
    return addrs, labels


def _expand_item(rs: RunnerState, proc: Proc, item: ItemSpec, addrs: list[int],
                 labels: list[str]) -> None:
    if item.kind == "addr" or (item.kind == "special" and item.value is not None):
        assert item.value is not None
        addrs.extend([item.value] * item.repeat)
        labels.extend([item.label] * item.repeat)
        return
    if item.kind == "special":
        addr = rs.b.special_address(proc.handle, item.label)
        addrs.extend([addr] * item.repeat)
        labels.extend([item.label] * item.repeat)
        return
    assert item.range is not None
    m = proc.maps.get(item.range.name)
    if m is None or not m.live:
        raise ValueError(f"bad item '{item.label}'")
    first, count = item.range.resolve(m.npages)
    for _ in range(item.repeat):
        for i in range(first, first + count):
            addrs.append((m.addr + i * PAGE + item.offset) & ((1 << 64) - 1))
            labels.append(item.page_label(i))


def _pointer(rs: RunnerState, proc: Proc, value: str | None, default: int, ro_ok: bool) -> int:
    if value is None:
        return default
    if value == "null":
        return 0
    if value == "kernel":
        return KERNEL_ADDR
    if value == "ro" and ro_ok:
        return rs.b.special_address(proc.handle, "ro_page")
    return rs.b.special_address(proc.handle, "badpage")


def act_query(rs: RunnerState, proc: Proc, a: Action) -> None:
    """query ITEMS [pid=P]: move_pages(2) with nodes NULL."""
    _move(rs, proc, a, True)


def act_move(rs: RunnerState, proc: Proc, a: Action) -> None:
    """move [pid=] [flags=] pages=ITEMS nodes=LIST|null [count=] [*_ptr=] [placement=]."""
    _move(rs, proc, a, False)


def _move(rs: RunnerState, proc: Proc, a: Action, query_only: bool) -> None:
    pspec = a.get("pages")
    if pspec is None and query_only:
        pspec = a.pos(1)
    if pspec is None:
        raise ValueError("move needs pages=")
    addrs, labels = _items(rs, proc, pspec)
    pidspec = a.get("pid")
    pid = rs._resolve_pid(proc, pidspec)
    nspec = "null" if query_only else (a.get("nodes") or "null")
    query = nspec == "null"
    flags = parse_flags(a.get("flags"))
    n = len(addrs)
    count = parse_count(a.get("count")) if a.get("count") is not None else n
    nodes: list[int] = []
    if not query:
        nodes = parse_nodes(nspec)
        if len(nodes) == 1 and n > 1:
            nodes = nodes * n
        if len(nodes) != n:
            raise ValueError(f"nodes list length differs from pages: {nspec}")
    cap = max(n, 1)
    with rs._garrays(proc, [cap * 8, cap * 4, cap * 4]) as (pp, np_ptr, sp):  # noqa: SIM117
        rs._store(proc, pp, np.asarray(addrs, "<u8").tobytes())
        rs._store(proc, sp, np.full(n, UNSET_STATUS, "<i4").tobytes())
        if not query:
            rs._store(proc, np_ptr, np.asarray(nodes, "<i8").astype("<i4").tobytes())
        pages_arg = _pointer(rs, proc, a.get("pages_ptr"), pp, False)
        nodes_arg = _pointer(rs, proc, a.get("nodes_ptr"), 0 if query else np_ptr, False)
        status_arg = _pointer(rs, proc, a.get("status_ptr"), sp, True)
        before = _vmsnap(rs)
        t0 = time.perf_counter()
        ret = rs.b.move_pages(proc.handle, pid, count, pages_arg, nodes_arg, status_arg,
                              flags)
        seconds = time.perf_counter() - t0
        raw = rs.b.read_user(proc.handle, sp, 4 * n) if n else b""
        status = np.frombuffer(raw or b"", "<i4").tolist()
    full = bool(a.int_kv("full", 1 if n <= 512 else 0))
    fields: dict[str, Any] = {
        "pid_spec": pidspec or "self", "pid": pid,
        "count": count - (1 << 64) if count >= 1 << 63 else count,  # the probe's (long long)
        "flags": flags,
        "nodes_null": nodes_arg == 0}
    fields.update(syscall_fields(ret))
    fields["seconds"] = round(seconds, 8)
    path = rs.b.move_pages_path() if not query else None
    if path is not None:
        fields["path"] = path  # which path of the model moved the pages
    if full:
        fields["items"] = labels
        if not query:
            fields["nodes"] = nodes
    fields.update(status_fields(status, full))
    fields["vmstat_delta"] = _vmstat_delta(rs, before)
    if a.int_kv("placement", 0):
        fields["placement"] = _placement(rs, proc, pid)
    rs.emit("query" if query_only else "move_pages", proc.who, fields)


def _vmsnap(rs: RunnerState) -> tuple[int, int]:
    # The probe's vmsnap(): the counters as /proc/vmstat shows them (-1 when absent).
    return rs.b.vmstat("pgmigrate_success"), rs.b.vmstat("pgmigrate_fail")


def _vmstat_delta(rs: RunnerState, before: tuple[int, int]) -> dict[str, int]:
    succ, fail = _vmsnap(rs)
    return {"pgmigrate_success": succ - before[0], "pgmigrate_fail": fail - before[1]}


def act_placement(rs: RunnerState, proc: Proc, a: Action) -> None:
    """placement [pid=P]: the node of every page of every live mapping."""
    pid = rs._resolve_pid(proc, a.get("pid"))
    rs.emit("placement", proc.who, {"pid": pid, "placement": _placement(rs, proc, pid)})


def _placement(rs: RunnerState, proc: Proc, pid: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in proc.live_maps():
        n = m.npages
        addrs = (m.addr + PAGE * np.arange(n, dtype=np.uint64)).astype("<u8")
        with rs._scratch(proc, 12 * n) as pp:
            sp = pp + 8 * n
            rs._store(proc, pp, addrs.tobytes())
            rs._store(proc, sp, np.full(n, UNSET_STATUS, "<i4").tobytes())
            ret = rs.b.move_pages(proc.handle, pid, n, pp, 0, sp, 0)
            if ret < 0:
                st = [ret - 100000] * n
            else:
                raw = rs.b.read_user(proc.handle, sp, 4 * n) or b""
                st = np.frombuffer(raw, "<i4").tolist()
        out[m.name] = placement_value(st)
    return out


def _mask_bytes(rs: RunnerState, spec: str | None) -> bytes:
    # The probe's build_mask(): MASK_BYTES (8192) of node bits.
    mask = parse_mask(spec)
    words = np.zeros(MASK_BYTES // 8, "<u8")
    for i, w in enumerate(mask.words[: len(words)]):
        words[i] = np.uint64(w & ((1 << 64) - 1))
    return words.tobytes()


def act_migrate(rs: RunnerState, proc: Proc, a: Action) -> None:
    """migrate [pid=] [maxnode=N] old=MASK new=MASK [old_ptr=] [new_ptr=] [placement=0]."""
    pidspec = a.get("pid")
    pid = rs._resolve_pid(proc, pidspec)
    maxnode = parse_count(a.get("maxnode") or "65")
    with rs._scratch(proc, 2 * MASK_BYTES) as base:
        rs._store(proc, base, _mask_bytes(rs, a.get("old")))
        rs._store(proc, base + MASK_BYTES, _mask_bytes(rs, a.get("new")))
        old_ptr = _pointer(rs, proc, a.get("old_ptr"), base, False)
        new_ptr = _pointer(rs, proc, a.get("new_ptr"), base + MASK_BYTES, False)
        before = _vmsnap(rs)
        t0 = time.perf_counter()
        ret = rs.b.migrate_pages(proc.handle, pid, maxnode, old_ptr, new_ptr)
        seconds = time.perf_counter() - t0
    fields: dict[str, Any] = {"pid_spec": pidspec or "self", "pid": pid, "maxnode": maxnode,
                              "old": a.get("old") or "none", "new": a.get("new") or "none"}
    fields.update(syscall_fields(ret))
    fields["seconds"] = round(seconds, 8)
    path = rs.b.migrate_pages_path()
    if path is not None:
        fields["path"] = path  # which path of the model moved the pages
    fields["vmstat_delta"] = _vmstat_delta(rs, before)
    if a.int_kv("placement", 1):
        fields["placement"] = _placement(rs, proc, pid)
    rs.emit("migrate_pages", proc.who, fields)


def act_mbind(rs: RunnerState, proc: Proc, a: Action) -> None:
    """mbind RANGE mode=bind|preferred|interleave|default|local nodes=LIST [flags=]."""
    spec = a.pos(1)
    m, first, count = rs._range(proc, spec)
    mode = MPOL.get(a.get("mode") or "bind", 2)
    flags = parse_flags(a.get("flags"))
    maxnode = parse_count(a.get("maxnode") or "1025")
    with rs._scratch(proc, MASK_BYTES) as mask_ptr:
        rs._store(proc, mask_ptr, _mask_bytes(rs, a.get("nodes")))
        ptr = 0 if mode in (0, 4) else mask_ptr
        before = _vmsnap(rs)
        t0 = time.perf_counter()
        ret = rs.b.mbind(proc.handle, m.addr + first * PAGE, count * PAGE, mode, ptr,
                         maxnode, flags)
        seconds = time.perf_counter() - t0
    fields: dict[str, Any] = {"range": spec, "mode": mode, "flags": flags}
    fields.update(syscall_fields(ret))
    fields["seconds"] = round(seconds, 8)  # the system call alone (the probe does not time it)
    path = rs.b.mbind_path()
    if path is not None:
        fields["path"] = path  # which path of the model moved the pages
    fields["vmstat_delta"] = _vmstat_delta(rs, before)
    fields["placement"] = _placement(rs, proc, 0)
    rs.emit("mbind", proc.who, fields)


def act_set_mempolicy(rs: RunnerState, proc: Proc, a: Action) -> None:
    """set_mempolicy mode=... nodes=LIST."""
    mode = MPOL.get(a.get("mode") or "default", 0)
    with rs._scratch(proc, MASK_BYTES) as mask_ptr:
        rs._store(proc, mask_ptr, _mask_bytes(rs, a.get("nodes")))
        ptr = 0 if mode in (0, 4) else mask_ptr
        ret = rs.b.set_mempolicy(proc.handle, mode, ptr, 1025)
    fields: dict[str, Any] = {"mode": mode}
    fields.update(syscall_fields(ret))
    rs.emit("set_mempolicy", proc.who, fields)


def act_pin(rs: RunnerState, proc: Proc, a: Action) -> None:
    """pin cpu_node=N | pin all: set the process's CPU affinity."""
    node = a.get("cpu_node")
    if node is not None:
        ret, e, _ = rs._pin_to_node(proc, c_atoi(node))
    else:
        r = rs.b.sched_setaffinity(
            proc.handle, range(min(CPU_SETSIZE, rs.b.nprocessors_conf())))
        ret, e = (-1, -r) if r < 0 else (0, 0)
    fields = err_fields(ret, e)
    fields["ncpus_allowed"] = len(rs.b.sched_getaffinity(proc.handle))
    fields["cpu_now"] = rs.b.getcpu(proc.handle)
    rs.emit("pin", proc.who, fields)


def act_cpuset(rs: RunnerState, proc: Proc, a: Action) -> None:
    """cpuset NAME mems=LIST [pid=P]: the probe's cgroup v2 steps (2.6.27 has no cgroup v2
    at /sys/fs/cgroup: the first write fails with ENOENT)."""
    name = a.pos(1) or "lim"
    mems = a.get("mems", "0")
    pid = rs._resolve_pid(proc, a.get("pid"))
    getpid = rs.b.getpid(proc.handle)
    if pid == 0:
        pid = getpid
    step = "subtree_control"
    ret = rs.b.write_file(proc.handle, f"{CGROUP_ROOT}/cgroup.subtree_control", "+cpuset")
    if ret == 0:
        rs.b.mkdir(proc.handle, f"{CGROUP_ROOT}/{name}")
        step = "cpuset.mems"
        ret = rs.b.write_file(proc.handle, f"{CGROUP_ROOT}/{name}/cpuset.mems", mems)
    if ret == 0:
        step = "cgroup.procs"
        ret = rs.b.write_file(proc.handle, f"{CGROUP_ROOT}/{name}/cgroup.procs", str(pid))
    if ret == 0:
        step = "done"
    eff = rs._read_file(proc, f"{CGROUP_ROOT}/{name}/cpuset.mems.effective")
    fields: dict[str, Any] = {"cgroup": name, "mems": mems,
                              "mems_effective": eff if isinstance(eff, str) else "",
                              "pid": pid, "step": step}
    fields.update(syscall_fields(ret))
    fields["placement"] = _placement(rs, proc, 0 if pid == getpid else pid)
    rs.emit("cpuset", proc.who, fields)
