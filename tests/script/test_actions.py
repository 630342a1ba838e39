"""Script actions beyond move_pages, as Linux 2.6.27 answers them (the probe's fields).

pageflags, vmstat, meminfo, read, write, ksm, map thp=1, cpuset, madvise, pageout, swapin,
pin, sleep and env run through the runner on a small two-node machine, with every invariant
validated after each action.
"""

from __future__ import annotations

from typing import Any

import pytest

from pagemig.backends.model import ModelBackend
from pagemig.fs.procfs import kpageflags_word
from pagemig.kernel import Topology
from pagemig.mm.madvise import MADV_DONTFORK, MADV_REMOVE
from pagemig.mm.mm_types import VM_DONTCOPY
from pagemig.mm.page_flags import F_DIRTY, PG
from pagemig.script.actions.mappings import page_flag_names
from pagemig.script.core import HEAP_SCRATCH, parse_cpulist
from pagemig.script.parse import Action, ScriptError, parse_script
from pagemig.script.runner import Runner
from pagemig.validate import validate

SMALL = Topology(nodes=2, mem_per_node_mb=64)
Objs = list[dict[str, Any]]


def run(text: str, backend: ModelBackend | None = None,
        hook: Any = None) -> tuple[Objs, ModelBackend]:
    """Run a scenario on a small machine, validating after every action (after ``hook``,
    called as hook(backend, action, objects so far)); returns (objects, backend)."""
    b = backend or ModelBackend(SMALL)
    out: Objs = []

    def after(action: Action) -> None:
        if hook is not None:
            hook(b, action, out)
        validate(b.k)

    Runner(b, parse_script(text, "t.scn"), out.append, after).run()
    return out, b


def op(objs: Objs, name: str, line: int | None = None) -> dict[str, Any]:
    """The object of op ``name`` (at ``line``, or the first one)."""
    return next(o for o in objs if o["op"] == name and (line is None or o["line"] == line))


def fields(o: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The named fields of an object."""
    return {key: o[key] for key in keys}


def pfn_of(b: ModelBackend, addr: int) -> int:
    """The pfn the probe maps at ``addr``."""
    task = next(t for t in b.k.tasks.values() if t.comm == "probe" and t.mm is not None)
    pfn = b.k.page_at(task, addr)
    assert pfn is not None
    return pfn


# -- pageflags --

def test_pageflags_reports_pte_mapcount_and_2627_flags() -> None:
    """Present, untouched and written file pages: pte, kpagecount, 2.6.27 kpageflags words."""
    objs, _ = run("map a anon 2 touch=write\nmap f fileshared 3\ntouch f[0] write\n"
                  "touch f[1] read\npageflags a\npageflags f\n")

    assert {"range": "a", "pid": 0, "ret": 0, "errno": 0, "err": "OK",
            "pte": ["present", "present"], "mapcount": [1, 1], "page_flags": ["", ""],
            "kpf": ["0x8", "0x8"], "kpageflags_readable": True} == fields(
        op(objs, "pageflags", 5), "range", "pid", "ret", "errno", "err", "pte", "mapcount",
        "page_flags", "kpf", "kpageflags_readable")
    f = op(objs, "pageflags", 6)
    assert (["present", "present", "none"], [1, 1, -1], ["dirty", "", "-"],
            ["0x3c", "0x2c", "0x0"]) == (f["pte"], f["mapcount"], f["page_flags"], f["kpf"])


def test_pageflags_shows_dirty_on_migrated_anonymous_pages() -> None:
    """try_to_unmap() moves the pte dirty bit into PG_dirty; 2.6.27 has no anon bit to hide it."""
    objs, _ = run("map a anon 2 touch=write\nmove pages=a nodes=1 flags=move\npageflags a\n")

    assert (["dirty", "dirty"], ["0x18", "0x18"]) == (
        op(objs, "pageflags")["page_flags"], op(objs, "pageflags")["kpf"])


def test_kpageflags_word_has_the_2627_bit_copy_mixup() -> None:
    """Bits 1-7 are copied as they are; checked, arch_1 and reserved land at 12, 17 and 18;
    locked, writeback, reclaim and buddy never show."""
    one = {bit: kpageflags_word(1 << bit) for bit in PG}

    assert {PG.PG_error: 1 << 1, PG.PG_referenced: 1 << 2, PG.PG_uptodate: 1 << 3,
            PG.PG_dirty: 1 << 4, PG.PG_lru: 1 << 5, PG.PG_active: 1 << 6, PG.PG_slab: 1 << 7,
            PG.PG_owner_priv_1: 1 << 12, PG.PG_arch_1: 1 << 17, PG.PG_reserved: 1 << 18} == {
        bit: word for bit, word in one.items() if word}


def test_page_flag_names_follow_the_probe_table() -> None:
    """Bit 12 makes a page "anon" for the probe: dirty is hidden, bit 34 is "exclusive"."""
    assert ("dirty", "anon", "mappedtodisk,private", "anon,exclusive", "dirty,anon,swapcache",
            "writeback,unevictable") == (
        page_flag_names(1 << 4), page_flag_names(1 << 4 | 1 << 12),
        page_flag_names(1 << 34 | 1 << 35), page_flag_names(1 << 12 | 1 << 34),
        page_flag_names(1 << 4 | 1 << 12 | 1 << 13), page_flag_names(1 << 8 | 1 << 18))


def test_pageflags_of_a_checked_page_reads_as_anon() -> None:
    """A PG_checked page shows kpageflags bit 12, which the probe names "anon" (so "dirty"
    is hidden)."""
    def mark_checked(b: ModelBackend, action: Action, out: Objs) -> None:
        if action.line == 1:
            b.k.pages.flags[pfn_of(b, int(op(out, "map")["addr"], 16))] |= 1 << PG.PG_owner_priv_1

    objs, _ = run("map f fileshared 1 touch=write\npageflags f\n", hook=mark_checked)

    assert (["anon"], ["0x101c"]) == (op(objs, "pageflags")["page_flags"],
                                      op(objs, "pageflags")["kpf"])


def test_pageflags_of_other_processes() -> None:
    """A child's COW pages (mapcount 2), a zombie (short read), no such pid (ENOENT),
    a kernel thread (short read)."""
    objs, _ = run("map a anon 1 touch=write\nfork c\npageflags a pid=c\nfork z mode=exit\n"
                  "pageflags a pid=z\npageflags a pid=nonexistent\npageflags a pid=kthread\n")

    keys = ("ret", "errno", "err", "pte", "mapcount")
    assert [{"ret": 0, "errno": 0, "err": "OK", "pte": ["present"], "mapcount": [2]},
            {"ret": -1, "errno": 0, "err": "OK", "pte": [], "mapcount": []},
            {"ret": -1, "errno": 2, "err": "ENOENT", "pte": [], "mapcount": []},
            {"ret": -1, "errno": 0, "err": "OK", "pte": [], "mapcount": []}] == [
        fields(op(objs, "pageflags", line), *keys) for line in (3, 5, 6, 7)]


def test_pageflags_permissions() -> None:
    """Without CAP_SYS_PTRACE another task's pagemap is EACCES; an unprivileged user reads
    its own ptes but not /proc/kpageflags or /proc/kpagecount."""
    objs, _ = run("map a anon 1 touch=write\nfork c\ndropcap sys_ptrace\npageflags a pid=c\n"
                  "droppriv\npageflags a\n")

    assert {"ret": -1, "errno": 13, "err": "EACCES", "pte": []} == fields(
        op(objs, "pageflags", 4), "ret", "errno", "err", "pte")
    assert {"ret": 0, "pte": ["present"], "mapcount": [-1], "page_flags": [""],
            "kpf": ["0x0"], "kpageflags_readable": False} == fields(
        op(objs, "pageflags", 6), "ret", "pte", "mapcount", "page_flags", "kpf",
        "kpageflags_readable")


# -- vmstat, meminfo, read, write --

def test_vmstat_default_keys_are_missing_in_2627() -> None:
    """None of the probe's migration counters exists in 2.6.27: each prints -1."""
    objs, _ = run("vmstat\n")

    assert {"pgmigrate_success": -1, "pgmigrate_fail": -1, "thp_migration_success": -1,
            "thp_migration_fail": -1, "thp_migration_split": -1, "numa_pages_migrated": -1,
            "nr_isolated_anon": -1, "nr_isolated_file": -1, "nr_mlock": -1,
            "nr_unevictable": -1} == {k: v for k, v in op(objs, "vmstat").items()
                                      if k not in ("op", "line", "who")}


def test_vmstat_keys_use_2627_names_of_the_zone_counters() -> None:
    """nr_mapped, nr_dirty, nr_page_table_pages, numa_interleave: the vmstat_text[] names."""
    objs, b = run("map f fileshared 2 touch=write\n"
                  "vmstat nr_free_pages nr_mapped nr_dirty nr_file_pages nr_page_table_pages "
                  "numa_interleave nr_file_mapped\n")
    stat = b.k.zone_stat.sum(axis=0)

    from pagemig.mm.mmzone import ZoneStat
    assert {"nr_free_pages": int(stat[ZoneStat.NR_FREE_PAGES]),
            "nr_mapped": int(stat[ZoneStat.NR_FILE_MAPPED]),
            "nr_dirty": 0, "nr_file_pages": int(stat[ZoneStat.NR_FILE_PAGES]),
            "nr_page_table_pages": 0, "numa_interleave": 0, "nr_file_mapped": -1} == {
        k: v for k, v in op(objs, "vmstat").items() if k not in ("op", "line", "who")}


def test_vmstat_event_counter_is_not_modelled() -> None:
    """pgfault is a 2.6.27 event counter the model does not count: file:line error."""
    with pytest.raises(ScriptError, match=r"t.scn:1: not supported yet: vmstat pgfault"):
        run("vmstat pgfault\n")


def test_meminfo_keys_use_2627_names() -> None:
    """meminfo KEY: the model's counters in kB, -1 for a line 2.6.27 does not print."""
    objs, b = run("map a anon 3 touch=write\nmap f fileshared 2 touch=read\n"
                  "meminfo MemFree AnonPages Mapped Cached SwapCached Hugepagesize MemAvailable\n")
    k = b.k

    from pagemig.mm.mmzone import ZoneStat
    stat = k.zone_stat.sum(axis=0)
    assert {"MemFree": int(stat[ZoneStat.NR_FREE_PAGES]) * 4,
            "AnonPages": int(stat[ZoneStat.NR_ANON_PAGES]) * 4,
            "Mapped": int(stat[ZoneStat.NR_FILE_MAPPED]) * 4,
            "Cached": int(stat[ZoneStat.NR_FILE_PAGES]) * 4, "SwapCached": 0,
            "Hugepagesize": 2048, "MemAvailable": -1} == op(objs, "meminfo")["kb"]
    assert {str(n.nid): {"total": n.nr_pages * 4, "free": sum(
        int(k.zone_stat[z.id, ZoneStat.NR_FREE_PAGES]) for z in n.zones) * 4}
        for n in k.nodes} == op(objs, "meminfo")["node_mem_kb"]


def test_meminfo_line_without_model_counterpart_is_an_error() -> None:
    """Committed_AS has no counterpart in the model: file:line error."""
    with pytest.raises(ScriptError, match=r"t.scn:1: not supported yet: meminfo Committed_AS"):
        run("meminfo Committed_AS\n")


def test_read_of_node_files() -> None:
    """Node lists, a cpulist, a directory (no data) and the files 2.6.27 lacks (ENOENT)."""
    paths = ["/sys/devices/system/node/online", "/sys/devices/system/node/possible",
             "/sys/devices/system/node/has_normal_memory",
             "/sys/devices/system/node/has_cpu", "/sys/devices/system/node/node1/cpulist",
             "/sys/devices/system/node", "/sys/devices/system/node/has_memory",
             "/sys/devices/system/node/node0/hugepages", "/sys/devices/system/node/node2",
             "/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/ksm/run",
             "/sys/fs/cgroup/cgroup.controllers", "/proc/sys/kernel/numa_balancing",
             "/sys/devices/system/node/online/x", "/proc/sys/vm/drop_caches"]
    objs, _ = run("".join(f"read {p}\n" for p in paths))

    enoent = {"err": "No such file or directory"}
    assert [{"content": "0-1"}, {"content": "0-1"}, {"content": "0-1"}, {"content": "0-1"},
            {"content": "1"}, {"content": ""}, enoent, enoent, enoent, enoent, enoent, enoent,
            enoent, {"err": "Not a directory"}, {"content": "0"}] == [
        {k: v for k, v in o.items() if k in ("content", "err")}
        for o in objs if o["op"] == "read"]
    assert paths == [o["path"] for o in objs if o["op"] == "read"]


def test_read_of_node_meminfo() -> None:
    """nodeN/meminfo has 2.6.27's lines; the probe's text loses only the last newline."""
    objs, b = run("read /sys/devices/system/node/node1/meminfo\n")
    text = op(objs, "read")["content"]

    assert text.startswith("\nNode 1 MemTotal:        65536 kB\nNode 1 MemFree:  ")
    assert ["MemTotal", "MemFree", "MemUsed", "Active", "Inactive", "Dirty", "Writeback",
            "FilePages", "Mapped", "AnonPages", "PageTables", "NFS_Unstable", "Bounce",
            "WritebackTmp", "Slab", "SReclaimable", "SUnreclaim", "HugePages_Total",
            "HugePages_Free", "HugePages_Surp"] == [
        line.split()[2].rstrip(":") for line in text.splitlines()[1:]]
    assert text.endswith("Node 1 HugePages_Surp:      0")


def test_write_errors_are_the_vfs_ones() -> None:
    """A missing path ENOENT, a read-only sysfs file EACCES, a directory EISDIR; readback is
    what a read then gives."""
    objs, _ = run("write /sys/kernel/mm/transparent_hugepage/enabled always\n"
                  "write /sys/devices/system/node/node1/hugepages/hugepages-2048kB/"
                  "nr_hugepages 100\n"
                  "write /sys/devices/system/node/online 0\n"
                  "write /sys/devices/system/node 1\n")

    keys = ("ret", "errno", "err", "readback")
    assert [{"ret": -1, "errno": 2, "err": "ENOENT", "readback": ""},
            {"ret": -1, "errno": 2, "err": "ENOENT", "readback": ""},
            {"ret": -1, "errno": 13, "err": "EACCES", "readback": "0-1"},
            {"ret": -1, "errno": 21, "err": "E?", "readback": ""}] == [
        fields(o, *keys) for o in objs if o["op"] == "write"]


def test_write_of_meminfo_is_eio_then_its_read_is_not_modelled() -> None:
    """write /proc/meminfo fails with EIO; the readback of /proc/meminfo is not modelled."""
    with pytest.raises(ScriptError, match=r"t.scn:1: not supported yet: read /proc/meminfo"):
        run("write /proc/meminfo 1\n")


def test_write_of_drop_caches_drops_clean_unmapped_page_cache() -> None:
    """Writing 1 to /proc/sys/vm/drop_caches drops a clean tmpfs page nobody maps; a written
    (dirty) one stays."""
    objs, _ = run("map f fileshared 2 touch=read\nmap g fileshared 1 touch=write\n"
                  "munmap f\nmunmap g\nwrite /proc/sys/vm/drop_caches 1\nplacement\n")

    assert 0 == op(objs, "write")["ret"]


def test_write_of_a_sysctl_as_a_user_is_eacces() -> None:
    """Sysctls are 0644 root: an unprivileged user's open for writing fails."""
    objs, _ = run("droppriv\nwrite /proc/sys/vm/drop_caches 1\n")

    assert {"ret": -1, "errno": 13, "err": "EACCES", "readback": "0"} == fields(
        op(objs, "write"), "ret", "errno", "err", "readback")


# -- ksm, thp, cpuset --

def test_ksm_without_ksm() -> None:
    """2.6.27 has no /sys/kernel/mm/ksm: writes ENOENT, counters -1, a wait times out."""
    objs, _ = run("ksm on\nksm on merge_across_nodes=0\nksm off\nksm unmerge\nksm stat\n"
                  "ksm wait timeout_ms=500\nksm wait scans=0\n")
    keys = ("action", "ret", "errno", "err", "step", "run", "merge_across_nodes",
            "pages_shared", "pages_sharing", "pages_unshared")
    counters = {"run": -1, "merge_across_nodes": -1, "pages_shared": -1, "pages_sharing": -1,
                "pages_unshared": -1}
    enoent = {"ret": -1, "errno": 2, "err": "ENOENT"}
    ok = {"ret": 0, "errno": 0, "err": "OK"}

    assert [{"action": "on", **enoent, "step": "run", **counters},
            {"action": "on", **enoent, "step": "merge_across_nodes", **counters},
            {"action": "off", **enoent, "step": "run", **counters},
            {"action": "unmerge", **enoent, "step": "run", **counters},
            {"action": "stat", **ok, "step": "done", **counters},
            {"action": "wait", "ret": -1, "errno": 110, "err": "ETIMEDOUT", "step": "wait",
             **counters},
            {"action": "wait", **ok, "step": "done", **counters}] == [
        fields(o, *keys) for o in objs if o["op"] == "ksm"]
    assert [0, 0, 0, 0] == [o["full_scans_waited"] for o in objs
                            if o["op"] == "ksm" and o["action"] in ("on", "wait")]
    assert 0.5 == op(objs, "ksm", 6)["seconds"]


def test_ksm_bad_action_is_a_usage_error() -> None:
    """ksm with an unknown action: file:line usage message."""
    with pytest.raises(ScriptError, match=r"t.scn:1: ksm: 'merge' is not one of on\|off"):
        run("ksm merge\n")


def test_map_thp_gives_aligned_ordinary_pages() -> None:
    """thp=1 maps at a 2 MiB boundary; MADV_HUGEPAGE is EINVAL in 2.6.27, so each page is a
    4 KiB page that moves alone."""
    objs, b = run("map t anon 16 thp=1 touch=write\nmove pages=t[3] nodes=1 flags=move\n"
                  "placement\npageflags t[0:2]\n")
    addr = int(op(objs, "map")["addr"], 16)

    assert 0 == addr % (2 << 20)
    assert [0, 0, 0, 1] + [0] * 12 == op(objs, "placement")["placement"]["t"]
    assert ["", ""] == op(objs, "pageflags")["page_flags"]
    task = next(t for t in b.k.tasks.values() if t.comm == "probe")
    vma = task.mm.vma_containing(addr)
    assert (addr, addr + 16 * 4096) == (vma.vm_start, vma.vm_end)


def test_map_thp_shared_anonymous() -> None:
    """thp=1 on shanon: the aligned part of a larger shared mapping, pages faulted by offset."""
    objs, _ = run("map s shanon 4 thp=1 touch=write\nverify\nplacement\n")

    assert 0 == int(op(objs, "map")["addr"], 16) % (2 << 20)
    assert (4, True) == (op(objs, "verify", 2)["checked"], op(objs, "verify", 2)["ok"])


def test_cpuset_without_cgroup_v2() -> None:
    """The first cgroup v2 write fails with ENOENT: no effective mems, placement unchanged."""
    objs, b = run("map a anon 2 touch=write\ncpuset lim mems=1\n")
    pid = next(t.pid for t in b.k.tasks.values() if t.comm == "probe")

    assert {"cgroup": "lim", "mems": "1", "mems_effective": "", "pid": pid,
            "step": "subtree_control", "ret": -1, "errno": 2, "err": "ENOENT",
            "placement": {"a": [0, 0]}} == fields(
        op(objs, "cpuset"), "cgroup", "mems", "mems_effective", "pid", "step", "ret",
        "errno", "err", "placement")


# -- madvise, pageout, swapin --

def test_madvise_dontneed_zaps_anonymous_pages() -> None:
    """dontneed frees the pages (pte none, AnonPages down); a read then sees zeroes."""
    objs, _ = run("map a anon 4 touch=write\nmeminfo AnonPages\nmadvise a[1:3] dontneed\n"
                  "meminfo AnonPages\npageflags a\ntouch a[1] read\nverify\n")

    assert {"range": "a[1:3]", "arg": "dontneed", "ret": 0, "errno": 0, "err": "OK"} == fields(
        op(objs, "madvise"), "range", "arg", "ret", "errno", "err")
    assert 8 == op(objs, "meminfo", 2)["kb"]["AnonPages"] - op(objs, "meminfo", 4)["kb"][
        "AnonPages"]
    assert ["present", "none", "none", "present"] == op(objs, "pageflags")["pte"]
    assert (3, True) == (op(objs, "verify", 7)["checked"], op(objs, "verify", 7)["ok"])


def test_madvise_dontneed_on_a_private_file_mapping_drops_the_copies() -> None:
    """The COW copies go; the probe then expects the file's content again after a read."""
    objs, _ = run("map f fileshared 2 touch=write seed=3\nmap p fileprivate 2 file=f\n"
                  "touch p write seed=5\nmadvise p dontneed\npageflags p\ntouch p read\n"
                  "verify p\n")

    assert (0, ["none", "none"]) == (op(objs, "madvise")["ret"], op(objs, "pageflags")["pte"])
    assert (2, 0) == (op(objs, "verify", 7)["checked"], op(objs, "verify", 7)["mismatches"])


def test_madvise_dontneed_on_shared_memory_keeps_the_page_cache() -> None:
    """shanon: the ptes go, the shmem pages stay (Cached unchanged); the probe's bookkeeping
    forgets the pattern, so a later read is expected to see zeroes and does not."""
    objs, _ = run("map s shanon 2 touch=write\nmeminfo Cached\nmadvise s dontneed\n"
                  "meminfo Cached\npageflags s\ntouch s read\nverify s\n")

    assert op(objs, "meminfo", 2)["kb"] == op(objs, "meminfo", 4)["kb"]
    assert ["none", "none"] == op(objs, "pageflags")["pte"]
    assert (2, 2) == (op(objs, "verify", 7)["checked"], op(objs, "verify", 7)["mismatches"])


def test_madvise_errors() -> None:
    """Locked vma EINVAL; willneed on anonymous memory EBADF; unmapped range ENOMEM; advice
    2.6.27 lacks EINVAL; an empty range 0."""
    objs, _ = run("map a anon 2 touch=write\nmlock a\nmadvise a dontneed\nmunlock a\n"
                  "madvise a willneed\nmunmap a\nmadvise a hugepage\nmap b anon 2\n"
                  "madvise b[1:1] bogus\n")

    assert [(-1, 22, "EINVAL"), (-1, 9, "E?"), (-1, 12, "ENOMEM"), (0, 0, "OK")] == [
        (o["ret"], o["errno"], o["err"]) for o in objs if o["op"] == "madvise"]


@pytest.mark.parametrize("advice", ["pageout", "cold", "mergeable", "unmergeable", "hugepage",
                                    "nohugepage", "remove"])
def test_madvise_advice_2627_lacks_is_einval(advice: str) -> None:
    """Advice that appeared after 2.6.27 (or that the probe cannot name) is EINVAL."""
    objs, _ = run(f"map a anon 2 touch=write\nmadvise a {advice}\npageflags a\n")

    assert ((-1, 22, "EINVAL"), ["present", "present"]) == (
        (op(objs, "madvise")["ret"], op(objs, "madvise")["errno"], op(objs, "madvise")["err"]),
        op(objs, "pageflags")["pte"])


@pytest.mark.parametrize("advice", ["normal", "random", "sequential"])
def test_madvise_read_ahead_hints_are_accepted(advice: str) -> None:
    """normal, random and sequential return 0 and leave the pages alone."""
    objs, _ = run(f"map a anon 4 touch=write\nmadvise a[1:3] {advice}\npageflags a\n")

    assert (0, ["present"] * 4) == (op(objs, "madvise")["ret"], op(objs, "pageflags")["pte"])


def test_madvise_sequential_splits_and_normal_merges_back() -> None:
    """The hint is a vm_flags bit: the vma splits around the range and merges back."""
    vmas: list[int] = []

    def count(b: ModelBackend, action: Action, out: Objs) -> None:
        task = next(t for t in b.k.tasks.values() if t.comm == "probe")
        vmas.append(len(task.mm.vmas))

    run("map a anon 4 touch=write\nmadvise a[1:3] sequential\nmadvise a normal\n", hook=count)

    assert [vmas[0] + 2, vmas[0]] == vmas[1:]


def test_madvise_willneed_reads_tmpfs_holes_into_the_cache() -> None:
    """willneed on a sparse tmpfs file fills the holes with cached pages, mapped nowhere."""
    objs, _ = run("map f fileshared 4\nmeminfo Cached\nmadvise f[1:3] willneed\n"
                  "meminfo Cached\npageflags f\nmadvise f willneed\nmeminfo Cached\n")

    cached = [op(objs, "meminfo", line)["kb"]["Cached"] for line in (2, 4, 7)]
    assert [8, 16] == [cached[1] - cached[0], cached[2] - cached[0]]
    assert ["none"] * 4 == op(objs, "pageflags")["pte"]


def test_madvise_remove_punches_a_hole_in_tmpfs() -> None:
    """MADV_REMOVE (API only): the pages leave the cache and every mapping, COW copies too."""
    b = ModelBackend(SMALL)
    task = b.start()
    f = b.create_file(task, "/tmp/x", 4)
    shared = b.mmap(task, 4 * 4096, 3, True, f)
    private = b.mmap(task, 4 * 4096, 3, False, f)
    b.write_user(task, shared, b"s" * 4 * 4096)
    b.write_user(task, private + 4096, b"p")

    assert 0 == b.madvise(task, shared + 4096, 2 * 4096, MADV_REMOVE)
    validate(b.k)
    assert (2, b"\0\0", b"s", b"\0") == (f.nrpages, b.read_user(task, shared + 4096, 2),
                                         b.read_user(task, shared, 1),
                                         b.read_user(task, private + 4096, 1))
    assert (-13, -22) == (b.madvise(task, private, 4096, MADV_REMOVE),
                          b.madvise(task, b.mmap(task, 4096, 3, False, None), 4096,
                                    MADV_REMOVE))
    validate(b.k)


def test_madvise_dontfork_is_a_vma_flag() -> None:
    """MADV_DONTFORK (API only) sets VM_DONTCOPY on exactly the range."""
    b = ModelBackend(SMALL)
    task = b.start()
    addr = b.mmap(task, 4 * 4096, 3, False, None)

    assert 0 == b.madvise(task, addr + 4096, 4096, MADV_DONTFORK)
    assert [0, VM_DONTCOPY, 0] == [task.mm.vma_containing(addr + i * 4096).vm_flags & VM_DONTCOPY
                                   for i in range(3)]
    validate(b.k)


def test_pageout_is_einval_and_reports_the_ptes() -> None:
    """2.6.27 has no MADV_PAGEOUT: EINVAL, nothing swapped, every pte still present."""
    objs, _ = run("map a anon 4 touch=write\npageout a[0:3]\n")

    assert {"range": "a[0:3]", "ret": -1, "errno": 22, "err": "EINVAL",
            "writeback_wait_s": 0.0, "swapped": 0, "present": 3,
            "pte": ["present"] * 3} == fields(
        op(objs, "pageout"), "range", "ret", "errno", "err", "writeback_wait_s", "swapped",
        "present", "pte")


def test_swapin_touches_without_changing_contents() -> None:
    """swapin read faults untouched pages in (zeroes); write rewrites the byte; COW on
    private file pages; cpu_node allocates there."""
    objs, _ = run("map a anon 2\nswapin a read\nmap f fileshared 1 touch=write\n"
                  "map p fileprivate 1 file=f\nswapin p write\nmap c anon 1\n"
                  "swapin c write cpu_node=1\nplacement\nverify\n")

    assert [{"range": "a", "mode": "read", "pages": 2}, {"range": "p", "mode": "write",
                                                         "pages": 1},
            {"range": "c", "mode": "write", "pages": 1}] == [
        fields(o, "range", "mode", "pages") for o in objs if o["op"] == "swapin"]
    assert {"a": [0, 0], "f": [0], "p": [0], "c": [1]} == op(objs, "placement")["placement"]
    assert (5, True) == (op(objs, "verify", 9)["checked"], op(objs, "verify", 9)["ok"])


# -- pin, sleep, env --

def test_pin_sets_the_cpu() -> None:
    """pin cpu_node=1 moves the probe to CPU 1; pin all allows every CPU and stays there;
    a node that does not exist fails with ENOENT from sysfs."""
    objs, _ = run("pin cpu_node=1\npin all\npin cpu_node=5\n")

    assert [{"ret": 0, "errno": 0, "err": "OK", "ncpus_allowed": 1, "cpu_now": 1},
            {"ret": 0, "errno": 0, "err": "OK", "ncpus_allowed": 2, "cpu_now": 1},
            {"ret": -1, "errno": 2, "err": "ENOENT", "ncpus_allowed": 2, "cpu_now": 1}] == [
        {k: v for k, v in o.items() if k not in ("op", "line", "who")}
        for o in objs if o["op"] == "pin"]


def test_cpu_node_option_restores_the_affinity() -> None:
    """touch cpu_node=1 allocates on node 1, then the probe is back on CPU 0; after pin all,
    the probe stays on CPU 1 (still allowed)."""
    objs, _ = run("map a anon 2\ntouch a[0] write cpu_node=1\nenv\npin all\n"
                  "touch a[1] write cpu_node=1\nenv\nplacement\n")

    assert [(1, 0), (2, 1)] == [(o["ncpus_allowed"], o["cpu_now"]) for o in objs
                                if o["op"] == "env" and o["line"] > 0]
    assert {"cpu_node": 1, "pinned": True} == fields(op(objs, "touch", 2), "cpu_node",
                                                     "pinned")
    assert {"a": [1, 1]} == op(objs, "placement")["placement"]


def test_sleep_prints_nothing() -> None:
    """sleep MS and sleep ms=N are accepted without output."""
    objs, _ = run("sleep 10\nsleep ms=5\nnote done\n")

    assert ["env", "note", "verify"] == [o["op"] for o in objs]


def test_env_has_what_2627_can_read() -> None:
    """env: no has_memory, thp or numa_balancing file in 2.6.27, so those keys are absent."""
    objs, _ = run("env\n")
    env = op(objs, "env", 1)

    assert ["kernel_release", "kernel_version", "machine", "uptime_s", "nodes_possible",
            "nodes_online", "nodes_has_cpu", "node_cpus", "node_mem_kb", "cmdline",
            "page_size", "ncpus", "ncpus_allowed", "cpu_now", "randomize_va_space", "cap_eff",
            "cap_sys_nice", "uid", "euid"] == [k for k in env if k not in ("op", "line", "who")]
    assert ("2.6.27", "0-1", {"0": "0", "1": "1"}, 1, 0) == (
        env["kernel_release"], env["nodes_possible"], env["node_cpus"], env["ncpus_allowed"],
        env["cpu_now"])
    assert op(objs, "env", 0) == {**env, "line": 0}


def test_parse_cpulist_like_the_probe() -> None:
    """Ranges and lists; parsing stops at the first malformed token."""
    assert ([0, 1, 4], [3], [], [0, 1]) == (parse_cpulist("0-1,4"), parse_cpulist("3"),
                                            parse_cpulist(""), parse_cpulist("0-1x,3"))


def test_unmodelled_path_is_an_error() -> None:
    """A path the model cannot answer for is file:line: not supported yet."""
    with pytest.raises(ScriptError, match=r"t.scn:1: not supported yet: /proc/sys/vm/swappiness"):
        run("read /proc/sys/vm/swappiness\n")


def test_child_runs_the_new_actions() -> None:
    """@NAME pageflags and madvise work on the child's own table and pages."""
    objs, _ = run("map a anon 2 touch=write\nfork c\n@c madvise a[0] dontneed\n"
                  "@c pageflags a\npageflags a\n")

    child = next(o for o in objs if o["op"] == "pageflags" and o["who"] == "c")
    parent = next(o for o in objs if o["op"] == "pageflags" and o["who"] == "parent")
    assert (["none", "present"], [-1, 2]) == (child["pte"], child["mapcount"])
    assert (["present", "present"], [1, 2]) == (parent["pte"], parent["mapcount"])


def test_pagemap_buffer_is_in_the_probe_and_made_dirty() -> None:
    """pagemap_read() pins the probe's buffer for writing and marks its page PG_dirty."""
    dirty: list[bool | None] = []

    def look(b: ModelBackend, action: Action, out: Objs) -> None:
        task = next(t for t in b.k.tasks.values() if t.comm == "probe")
        pfn = b.k.page_at(task, b.special_address(task, "heap") + HEAP_SCRATCH)
        dirty.append(None if pfn is None else bool(int(b.k.pages.flags[pfn]) & F_DIRTY))

    objs, _ = run("map a anon 1 touch=write\npageflags a\n", hook=look)

    assert ([None, True], ["present"]) == (dirty, op(objs, "pageflags")["pte"])


def test_vmstat_numa_counters_follow_zone_statistics() -> None:
    """numa_hit/numa_local count pages on the preferred, local node; a bind to node 1 from
    CPU 0 is a hit (node 1 is the first allowed zone) but not local (2.6.27 zone_statistics)."""
    # The first mbind faults in the heap page its mask is built in; the counting starts after.
    objs, _ = run("map b anon 1 node=0\nvmstat numa_hit numa_local numa_other\n"
                  "map a anon 4 node=1 touch=write\nvmstat numa_hit numa_local numa_other\n")
    before, after = [o for o in objs if o["op"] == "vmstat"]

    assert (4, 0, 4) == (after["numa_hit"] - before["numa_hit"],
                         after["numa_local"] - before["numa_local"],
                         after["numa_other"] - before["numa_other"])


def test_read_node_numastat() -> None:
    """nodeN/numastat prints 2.6.27's six counters; pages bound to node 1 from CPU 0 are
    hits and other_node there."""
    objs, _ = run("map a anon 4 node=1 touch=write\nread /sys/devices/system/node/node1/numastat\n")
    text = op(objs, "read")["content"]

    assert ["numa_hit", "numa_miss", "numa_foreign", "interleave_hit", "local_node",
            "other_node"] == [line.split()[0] for line in text.splitlines()]
    assert {"numa_hit": 4, "other_node": 4, "local_node": 0} == {
        line.split()[0]: int(line.split()[1]) for line in text.splitlines()
        if line.split()[0] in ("numa_hit", "other_node", "local_node")}
