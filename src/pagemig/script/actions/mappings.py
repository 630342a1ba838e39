"""Actions on mappings and their pages: map, touch, verify, munmap, mlock, munlock,
mprotect, madvise, vmsplice, unsplice, pageout, swapin and pageflags.

Each action is a function of the run's state (`RunnerState`), the process and the action,
with the probe's op and field names; the state keeps what every page should hold.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pagemig.script.core import (
    FILE_TYPES,
    PAGE,
    ST_UNMAPPED,
    ST_UNTOUCHED,
    ST_ZERO,
    Mapping,
    Proc,
    RunnerState,
    ScriptFault,
    syscall_fields,
)
from pagemig.script.jsonout import err_fields, errname
from pagemig.script.parse import Action, parse_long, wrap_int

TYPES = ("anon", "shanon", "fileshared", "fileprivate", "blkshared", "blkprivate")
MAXMAPS = 64
MAX_MAP_PAGES = 1 << 26  # 256 GiB: larger mappings are refused (the model keeps a table per page)

# madvise() advice as the probe passes it (values of a current <sys/mman.h>; 2.6.27 knows
# only 0-4 and 9-11 of them, and answers the others with EINVAL).
MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED = 0, 1, 2, 3, 4
MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE = 12, 13, 14, 15
MADV_COLD, MADV_PAGEOUT = 20, 21
MADV_BY_NAME = {
    "dontneed": MADV_DONTNEED, "hugepage": MADV_HUGEPAGE, "nohugepage": MADV_NOHUGEPAGE,
    "pageout": MADV_PAGEOUT, "cold": MADV_COLD, "mergeable": MADV_MERGEABLE,
    "unmergeable": MADV_UNMERGEABLE, "willneed": MADV_WILLNEED, "normal": MADV_NORMAL,
    "random": MADV_RANDOM, "sequential": MADV_SEQUENTIAL,
}
THP_SIZE = 2 << 20  # the probe's thp=1 mappings start at a 2 MiB boundary

# /proc/PID/pagemap bits (the probe's PM_* masks).
PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
PM_PFN_MASK = (1 << 55) - 1

# /proc/kpageflags bits the probe names in page_flags (its kpf_stable[] table).  Bit 34 is
# called "exclusive" on anonymous pages; "dirty" is left out on anonymous pages that are not
# in the swap cache.
KPF_NAMES = ((4, "dirty"), (8, "writeback"), (11, "mmap"), (12, "anon"), (13, "swapcache"),
             (14, "swapbacked"), (17, "huge"), (18, "unevictable"), (21, "ksm"), (22, "thp"),
             (24, "zero_page"), (33, "mlocked"), (34, "mappedtodisk"), (35, "private"))
KPF_ANON, KPF_SWAPCACHE, KPF_DIRTY, KPF_MAPPEDTODISK = 12, 13, 4, 34


def _pagemap(rs: RunnerState, proc: Proc, pid: int, addr: int,
             count: int) -> tuple[list[int], int, int]:
    """The probe's pagemap_read() into a calloc()ed buffer: (entries, 0 or -1, errno).

    A short read fails with whatever errno held before (the model prints 0).
    """
    with rs._scratch(proc, 8 * max(count, 1)) as buf:
        got = rs.b.pagemap_read(proc.handle, pid, buf, addr, count)
        if got < 0:
            return [0] * count, -1, -got
        if got != 8 * count:
            return [0] * count, -1, 0
        raw = rs.b.read_user(proc.handle, buf, 8 * count) if count else b""
    if raw is None:
        raise ScriptFault(f"the process would get SIGSEGV at {buf:#x}")
    return [int(v) for v in np.frombuffer(raw, "<u8")], 0, 0


def act_map(rs: RunnerState, proc: Proc, a: Action) -> None:
    """map NAME TYPE NPAGES [node= policy= touch= seed= same= align= file= cpu_node= thp=]."""
    name, typ, np_ = a.pos(1), a.pos(2), a.pos(3)
    if not name or not typ or not np_:
        raise ValueError("usage: map NAME TYPE NPAGES")
    thp = a.int_kv("thp", 0)
    if typ not in TYPES:
        raise ValueError(f"unknown mapping type: {typ}")
    blk = typ.startswith("blk")
    if blk and not getattr(rs.b, "blockfs", None):
        raise ValueError(f"file create failed (is the VM run with --blockfs?): {typ}")
    if name in proc.maps:
        # The probe would append a second entry its name lookups never find: refused.
        raise ValueError(f"map: a mapping named '{name}' exists already")
    if len(proc.order) >= MAXMAPS:
        raise ValueError("too many mappings")
    npages = parse_long(np_)
    if not 0 < npages <= MAX_MAP_PAGES:
        raise ValueError(f"map: NPAGES must be between 1 and {MAX_MAP_PAGES}")
    align = a.int_kv("align", 0)
    if align < 0 or align & (align - 1):
        raise ValueError("align= must be a power of two (pages)")
    m = Mapping(name, typ, len(proc.order) + 1, npages, 0, name)
    shared = typ in ("shanon", "fileshared")
    file = None
    other = a.get("file")
    if typ in FILE_TYPES:
        if other is not None:
            o = proc.maps.get(other)
            if o is None or not o.live or not o.is_file:
                raise ValueError(f"file=: no such file mapping: {other}")
            owner = rs._owner(proc, o)
            if npages > owner.npages:
                raise ValueError(f"file=: mapping larger than the file: {other}")
            m.owner, file = owner.name, owner.file
        else:
            path = f"/blk/oracle-{name}" if blk else f"/tmp/oracle-{name}"
            file = rs.b.create_file(proc.handle, path, npages, blk)
        addr = rs.b.mmap(proc.handle, npages * PAGE, 3, shared or typ == "blkshared",
                         file, align)
    elif thp:
        addr = _mmap_thp(rs, proc, npages * PAGE, shared)
    else:
        addr = rs.b.mmap(proc.handle, npages * PAGE, 3, shared, None, align)
    if addr < 0:
        raise ValueError(f"mmap failed: {errname(-addr)}")
    m.addr, m.file = addr, file
    m.seed = np.zeros(npages, np.uint16)
    m.prot = np.full(npages, 3, np.uint8)
    m.fseed = np.zeros(npages, np.uint16)
    m.cow = np.zeros(npages, np.uint8)
    if name in proc.maps:
        proc.maps[name].live = False
    proc.maps[name] = m
    proc.order.append(m)
    # The probe advises every mapping; 2.6.27 knows neither advice: EINVAL, ignored.
    rs.b.madvise(proc.handle, addr, npages * PAGE, MADV_HUGEPAGE if thp else MADV_NOHUGEPAGE)
    fields: dict[str, Any] = {"name": name, "type": typ, "npages": npages,
                              "addr": f"0x{addr:x}"}
    node = a.get("node")
    if node is not None:
        mode = {"preferred": 1, "interleave": 3}.get(a.get("policy") or "", 2)
        nid = wrap_int(parse_long(node))
        r = _mbind_one(rs, proc, m.addr, npages * PAGE, mode, nid)
        fields.update({"mbind_node": nid, "mbind_ret": -1 if r < 0 else r,
                       "mbind_err": errname(-r) if r < 0 else "OK"})
    touch = a.get("touch")

    def do_touch() -> None:
        if touch in ("write", "read"):
            rs.touch_pages(proc, m, 0, npages, touch == "write", rs._write_seed(a))

    pinned = rs._with_cpu_node(proc, a, do_touch)
    if touch is not None:
        fields["touch"] = touch
    fields.update(pinned)
    rs.emit("map", proc.who, fields)


def _mmap_thp(rs: RunnerState, proc: Proc, length: int, shared: bool) -> int:
    # The probe's thp=1 path: map 2 MiB more, keep the 2 MiB aligned part.
    raw = rs.b.mmap(proc.handle, length + THP_SIZE, 3, shared, None)
    if raw < 0:
        return raw
    al = (raw + THP_SIZE - 1) & ~(THP_SIZE - 1)
    if al > raw:
        rs.b.memop(proc.handle, "munmap", raw, al - raw)
    rs.b.memop(proc.handle, "munmap", al + length, raw + length + THP_SIZE - (al + length))
    return al


def _mbind_one(rs: RunnerState, proc: Proc, addr: int, length: int, mode: int, node: int) -> int:
    # The probe's apply_bind(): a 16-long mask with one bit, maxnode 16*64+1, flags 0.
    mask = np.zeros(16, "<u8")
    if 0 <= node < 16 * 64:
        mask[node // 64] = np.uint64(1 << (node % 64))
    with rs._scratch(proc, 16 * 8) as ptr:
        rs._store(proc, ptr, mask.tobytes())
        return rs.b.mbind(proc.handle, addr, length, mode, ptr, 16 * 64 + 1, 0)


def act_touch(rs: RunnerState, proc: Proc, a: Action) -> None:
    """touch RANGE write|read [seed= same= cpu_node=]."""
    spec, mode = a.pos(1), a.pos(2)
    m, first, count = rs._range(proc, spec)
    if mode not in ("write", "read"):
        raise ValueError("usage: touch RANGE write|read")
    seed = rs._write_seed(a)
    extra = rs._with_cpu_node(
        proc, a, lambda: rs.touch_pages(proc, m, first, count, mode == "write", seed))
    fields: dict[str, Any] = {"range": spec, "mode": mode, "pages": count}
    fields.update(extra)
    rs.emit("touch", proc.who, fields)


def act_verify(rs: RunnerState, proc: Proc, a: Action) -> None:
    """verify [RANGE...]: compare every page of known content with what it should hold."""
    ranges: dict[str, tuple[int, int]] = {}
    for spec in a.args:
        m, first, count = rs._range(proc, spec)
        ranges[m.name] = (first, count)
    maps: dict[str, Any] = {}
    tot_checked = tot_bad = 0
    for m in proc.live_maps():
        if a.args and m.name not in ranges:
            continue
        first, count = ranges.get(m.name, (0, m.npages))
        checked, bad, first_bad = _verify_map(rs, proc, m, first, count)
        tot_checked += checked
        tot_bad += bad
        maps[m.name] = {"checked": checked, "mismatch": bad, "first_bad": first_bad}
    rs.emit("verify", proc.who, {"maps": maps, "checked": tot_checked,
                                 "mismatches": tot_bad, "ok": tot_bad == 0})


def _verify_map(rs: RunnerState, proc: Proc, m: Mapping, first: int,
                count: int) -> tuple[int, int, int]:
    # The pages of known contents, loaded in order (the readable ones at once).
    pages = [p for p in range(first, first + count)
             if int(m.seed[p]) not in (ST_UNTOUCHED, ST_UNMAPPED) and m.prot[p] & 1]
    err, failed, tokens = rs.b.load_tokens(proc.handle, [m.addr + p * PAGE for p in pages])
    if err:
        raise ScriptFault(f"the process would get SIGSEGV at {m.addr + pages[failed] * PAGE:#x}")
    bad = 0
    first_bad = -1
    for p, token in zip(pages, tokens, strict=True):
        s = int(m.seed[p])
        # A page of zeros is token 0; a page the probe wrote is its pattern's token.
        if token != (0 if s == ST_ZERO else rs.pattern_token(proc, m, p, s)):
            if bad == 0:
                first_bad = p
            bad += 1
    return len(pages), bad, first_bad


def _memop(rs: RunnerState, proc: Proc, a: Action, op: str, arg: int = 0) -> None:
    spec = a.pos(1)
    m, first, count = rs._range(proc, spec)
    ret = rs.b.memop(proc.handle, op, m.addr + first * PAGE, count * PAGE, arg)
    if ret == 0:
        sl = slice(first, first + count)
        if op == "mlock":
            for p in range(first, first + count):
                if m.seed[p] == ST_UNTOUCHED:
                    m.seed[p] = rs._fault_content(proc, m, p)
        elif op == "munmap":
            m.seed[sl] = ST_UNMAPPED
        elif op == "mprotect":
            m.prot[sl] = arg_to_pv(arg)
    fields: dict[str, Any] = {"range": spec}
    if a.pos(2) is not None:
        fields["arg"] = a.pos(2)
    fields.update(syscall_fields(ret))
    rs.emit(op, proc.who, fields)


def act_munmap(rs: RunnerState, proc: Proc, a: Action) -> None:
    """munmap RANGE."""
    _memop(rs, proc, a, "munmap")


def act_mlock(rs: RunnerState, proc: Proc, a: Action) -> None:
    """mlock RANGE."""
    _memop(rs, proc, a, "mlock")


def act_munlock(rs: RunnerState, proc: Proc, a: Action) -> None:
    """munlock RANGE."""
    _memop(rs, proc, a, "munlock")


def act_mprotect(rs: RunnerState, proc: Proc, a: Action) -> None:
    """mprotect RANGE none|r|rw."""
    pr = a.pos(2) or "rw"
    prot = {"none": 0, "r": 1}.get(pr, 3)
    _memop(rs, proc, a, "mprotect", prot)


def act_vmsplice(rs: RunnerState, proc: Proc, a: Action) -> None:
    """vmsplice RANGE: the pipe holds a reference on each page until unsplice."""
    spec = a.pos(1)
    m, first, count = rs._range(proc, spec)
    limit = rs.b.pipe_max_pages()
    if count > limit:
        raise ValueError(f"vmsplice of {count} pages would block "
                         f"(a pipe holds {limit} pages in {rs.b.kernel_release})")
    ret, handle = rs.b.pin_pages(proc.handle, m.addr + first * PAGE, count)
    proc.pins.append(handle)
    for p in range(first, first + count):
        if m.seed[p] == ST_UNTOUCHED:
            m.seed[p] = rs._fault_content(proc, m, p)
    fields: dict[str, Any] = {"range": spec}
    fields.update(syscall_fields(ret))
    fields["bytes"] = 0 if ret < 0 else count * PAGE
    rs.emit("vmsplice", proc.who, fields)


def act_unsplice(rs: RunnerState, proc: Proc, a: Action) -> None:
    """unsplice: close every pipe."""
    for handle in proc.pins:
        rs.b.unpin_pages(handle)
    rs.emit("unsplice", proc.who, {"pipes_closed": len(proc.pins)})
    proc.pins = []


def act_madvise(rs: RunnerState, proc: Proc, a: Action) -> None:
    """madvise RANGE ADVICE: madvise(2), with the probe's bookkeeping for dontneed."""
    spec = a.pos(1)
    m, first, count = rs._range(proc, spec)
    advice = MADV_BY_NAME.get(a.pos(2) or "", -1)
    ret = rs.b.madvise(proc.handle, m.addr + first * PAGE, count * PAGE, advice)
    if ret == 0 and advice == MADV_DONTNEED:
        sl = slice(first, first + count)
        if m.private_file:
            m.seed[sl] = ST_UNTOUCHED
            m.cow[sl] = 0
        elif not m.shared_file:
            seeds = m.seed[sl]
            seeds[seeds != ST_UNMAPPED] = ST_UNTOUCHED
    fields: dict[str, Any] = {"range": spec}
    if a.pos(2) is not None:
        fields["arg"] = a.pos(2)
    fields.update(syscall_fields(ret))
    rs.emit("madvise", proc.who, fields)


def act_pageflags(rs: RunnerState, proc: Proc, a: Action) -> None:
    """pageflags RANGE [pid=P]: pte state, mapcount and kpageflags of each page."""
    spec = a.pos(1)
    m, first, count = rs._range(proc, spec)
    pid = rs._resolve_pid(proc, a.get("pid"))
    pm, ret, e = _pagemap(rs, proc, pid, m.addr + first * PAGE, count)
    mapcount = [-1] * count
    kpf = [0] * count
    readable = True
    for i in range(count if ret == 0 else 0):
        if not pm[i] & PM_PRESENT:
            continue
        pfn = pm[i] & PM_PFN_MASK
        if not pfn:
            readable = False
            continue
        value = rs.b.kpage_read(proc.handle, "/proc/kpagecount", pfn)
        if value is not None:
            mapcount[i] = value
        value = rs.b.kpage_read(proc.handle, "/proc/kpageflags", pfn)
        if value is not None:
            kpf[i] = value
        else:
            readable = False
    n = count if ret == 0 else 0
    fields: dict[str, Any] = {"range": spec, "pid": pid}
    fields.update(err_fields(ret, e))
    fields["pte"] = [pte_state(v) for v in pm[:n]]
    fields["mapcount"] = mapcount[:n]
    fields["page_flags"] = [page_flag_names(kpf[i]) if pm[i] & PM_PRESENT else "-"
                            for i in range(n)]
    fields["kpf"] = [f"0x{v:x}" for v in kpf[:n]]
    fields["kpageflags_readable"] = readable
    rs.emit("pageflags", proc.who, fields)


def act_pageout(rs: RunnerState, proc: Proc, a: Action) -> None:
    """pageout RANGE [wait=1]: madvise(MADV_PAGEOUT) (EINVAL in 2.6.27), then the ptes."""
    spec = a.pos(1)
    m, first, count = rs._range(proc, spec)
    addr = m.addr + first * PAGE
    t0 = time.perf_counter()
    ret = rs.b.madvise(proc.handle, addr, count * PAGE, MADV_PAGEOUT)
    seconds = time.perf_counter() - t0
    if a.int_kv("wait", 1):
        rs.b.complete_writeback()
    pm, pmret, _ = _pagemap(rs, proc, 0, addr, count)
    fields: dict[str, Any] = {"range": spec}
    fields.update(syscall_fields(ret))
    fields["seconds"] = round(seconds, 8)
    fields["writeback_wait_s"] = 0.0
    if pmret == 0:
        fields["swapped"] = sum(1 for v in pm if v & PM_SWAP and not v & PM_PRESENT)
        fields["present"] = sum(1 for v in pm if v & PM_PRESENT)
        if count <= 512:
            fields["pte"] = [pte_state(v) for v in pm]
    rs.emit("pageout", proc.who, fields)


def act_swapin(rs: RunnerState, proc: Proc, a: Action) -> None:
    """swapin RANGE [read|write] [cpu_node=N]: fault the pages in, contents unchanged."""
    spec = a.pos(1)
    m, first, count = rs._range(proc, spec)
    mode = a.pos(2) or "read"
    write = mode == "write"

    def body() -> None:
        for p in range(first, first + count):
            addr = m.addr + p * PAGE
            byte = rs._access(proc, addr, None)
            if write:
                rs._access(proc, addr, byte)
            if m.seed[p] == ST_UNTOUCHED:
                m.seed[p] = rs._fault_content(proc, m, p)
            if write and m.private_file:
                m.cow[p] = 1

    t0 = time.perf_counter()
    rs._with_cpu_node(proc, a, body)
    seconds = time.perf_counter() - t0
    rs.emit("swapin", proc.who, {"range": spec, "mode": mode, "pages": count,
                                 "seconds": round(seconds, 8)})


def pte_state(pm: int) -> str:
    """The probe's pte_state(): present, swap or none, from a pagemap entry."""
    return "present" if pm & PM_PRESENT else "swap" if pm & PM_SWAP else "none"


def page_flag_names(kpf: int) -> str:
    """The probe's page_flags string for a /proc/kpageflags word (its kpf_stable[] names)."""
    anon = bool(kpf >> KPF_ANON & 1)
    anon_noswap = anon and not kpf >> KPF_SWAPCACHE & 1
    names = []
    for bit, name in KPF_NAMES:
        if not kpf >> bit & 1 or (bit == KPF_DIRTY and anon_noswap):
            continue
        names.append("exclusive" if bit == KPF_MAPPEDTODISK and anon else name)
    return ",".join(names)


def arg_to_pv(prot: int) -> int:
    """The probe's per-page protection code: bit 0 read, bit 1 write."""
    return prot & 3
