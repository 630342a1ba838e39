"""The system-call surface of Kernel: the raw methods (the kernel's return value) in both
profiles, and the model backend driving nothing else."""

from __future__ import annotations

import ast
import errno
from collections.abc import Iterator
from pathlib import Path

import pytest

from pagemig import cred
from pagemig.kernel import Kernel, NotModelled, Topology
from pagemig.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE
from pagemig.sched import CAP_SYS_NICE, CAP_SYS_PTRACE, Task
from pagemig.validate import validate

PAGE = 4096
RW = PROT_READ | PROT_WRITE
BACKENDS = Path(__file__).resolve().parents[1] / "src" / "pagemig" / "backends"
MODEL_INTERNALS = ("pagemig.mm", "pagemig.fs", "pagemig.cpuset", "pagemig.binfmt")


@pytest.fixture(params=["2.6.27", "6.1"])
def kp(request: pytest.FixtureRequest) -> Iterator[Kernel]:
    """A small 2-node machine in each profile, validated at the end of the test."""
    kernel = Kernel(Topology(nodes=2, mem_per_node_mb=64), request.param)
    yield kernel
    validate(kernel)


def _runtime_imports(tree: ast.Module) -> list[str]:
    # Modules imported outside `if TYPE_CHECKING:` blocks (annotations only are allowed).
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
                and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found.extend(f"{node.module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_backends_import_nothing_from_the_model_internals() -> None:
    """No backend module imports from pagemig.mm, .fs, .cpuset or .binfmt (at run time)."""
    files = sorted(BACKENDS.glob("*.py"))
    assert len(files) >= 3
    bad = {}
    for f in files:
        names = _runtime_imports(ast.parse(f.read_text(), str(f)))
        hits = [n for n in names if any(n == m or n.startswith(m + ".") for m in MODEL_INTERNALS)]
        if hits:
            bad[f.name] = hits
    assert {} == bad


def test_import_check_sees_a_forbidden_import() -> None:
    """The import check finds a module import and a name import, but not a TYPE_CHECKING one."""
    src = ("from pagemig.fs import procfs\nimport pagemig.mm.mmap\n"
           "if TYPE_CHECKING:\n    from pagemig.mm.filemap import AddressSpace\n")
    names = _runtime_imports(ast.parse(src))
    assert ["pagemig.fs", "pagemig.fs.procfs", "pagemig.mm.mmap"] == names


# -- memory --

def test_raw_memory_calls_return_the_kernel_value(kp: Kernel) -> None:
    """sys_mmap gives an address; the others 0 or the errno: unaligned munmap -EINVAL,
    mprotect of an unmapped range -ENOMEM, mlock/munlock 0."""
    t = kp.spawn()
    addr = kp.sys_mmap(t, 0, 4 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    assert 0 == addr % PAGE and addr > 0
    assert -errno.EINVAL == kp.sys_munmap(t, addr + 1, PAGE)
    assert 0 == kp.sys_mlock(t, addr, 2 * PAGE)
    assert 0 == kp.sys_munlock(t, addr, 2 * PAGE)
    assert 0 == kp.sys_munmap(t, addr + 3 * PAGE, PAGE)
    assert -errno.ENOMEM == kp.sys_mprotect(t, addr, 4 * PAGE, PROT_READ)
    assert -errno.EINVAL == kp.sys_madvise(t, addr, PAGE, 12345)


def test_copy_to_and_from_user(kp: Kernel) -> None:
    """A store then a load give the bytes back; at an unmapped address the store is -EFAULT
    and the load None."""
    t = kp.spawn()
    addr = kp.sys_mmap(t, 0, 2 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    assert 0 == kp.copy_to_user(t, addr + PAGE - 2, b"abcd")
    assert b"abcd" == kp.copy_from_user(t, addr + PAGE - 2, 4)
    assert 0 == kp.sys_munmap(t, addr, 2 * PAGE)
    assert -errno.EFAULT == kp.copy_to_user(t, addr, b"x")
    assert None is kp.copy_from_user(t, addr, 1)


def test_sys_msync_errnos(kp: Kernel) -> None:
    """msync: unaligned start, unknown flag, MS_ASYNC|MS_SYNC are -EINVAL; a hole -ENOMEM;
    MS_INVALIDATE of mlocked memory -EBUSY; MS_ASYNC and a zero length 0."""
    t = kp.spawn()
    addr = kp.sys_mmap(t, 0, 4 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    assert -errno.EINVAL == kp.sys_msync(t, addr + 8, PAGE, 4)
    assert -errno.EINVAL == kp.sys_msync(t, addr, PAGE, 8)
    assert -errno.EINVAL == kp.sys_msync(t, addr, PAGE, 1 | 4)
    assert 0 == kp.sys_msync(t, addr, 4 * PAGE, 1)
    assert 0 == kp.sys_msync(t, addr + 4 * PAGE * 1000, 0, 4)
    assert 0 == kp.sys_mlock(t, addr, PAGE)
    assert -errno.EBUSY == kp.sys_msync(t, addr, PAGE, 2)
    assert 0 == kp.sys_msync(t, addr + PAGE, PAGE, 2)
    assert 0 == kp.sys_munmap(t, addr + PAGE, PAGE)
    assert -errno.ENOMEM == kp.sys_msync(t, addr, 4 * PAGE, 4)


def test_sys_msync_sync_writes_a_shared_file_back(kp: Kernel) -> None:
    """MS_SYNC of a shared mapping of an ext2 file cleans the page dirtied through it;
    MS_ASYNC leaves it dirty."""
    from pagemig.mm.page_flags import F_DIRTY

    t = kp.spawn()
    f = kp.create_blockfs_file("/blk/f", 2)
    addr = kp.sys_mmap(t, 0, 2 * PAGE, RW, MAP_SHARED, f)
    assert 0 == kp.copy_to_user(t, addr, b"data")
    page = kp.page_at(t, addr)
    assert page is not None
    assert 0 == kp.sys_msync(t, addr, 2 * PAGE, 1)
    assert F_DIRTY == int(kp.pages.flags[page]) & F_DIRTY
    assert 0 == kp.sys_msync(t, addr, 2 * PAGE, 4)
    assert 0 == int(kp.pages.flags[page]) & F_DIRTY


# -- files --

def test_sys_fadvise_errnos(kp: Kernel) -> None:
    """posix_fadvise: advice 0..5 are 0; 6, -1 and a negative length are -EINVAL."""
    t = kp.spawn()
    f = kp.create_file("/tmp/f", 2)
    assert [0, 0, 0, 0, 0, 0] == [kp.sys_fadvise(t, f, 0, 2, a) for a in range(6)]
    assert -errno.EINVAL == kp.sys_fadvise(t, f, 0, 2, 6)
    assert -errno.EINVAL == kp.sys_fadvise(t, f, 0, 2, -1)
    assert -errno.EINVAL == kp.sys_fadvise(t, f, 0, -1, 4)


def test_sys_fadvise_dontneed_drops_clean_pages(kp: Kernel) -> None:
    """DONTNEED of two written and fsynced ext2 pages drops both from the page cache (8 kB
    less Cached); of a dirty page it starts writeback and keeps the page."""
    t = kp.spawn()
    f = kp.create_blockfs_file("/blk/g", 3)
    for i in range(3):
        assert 0 == kp.sys_pwrite(t, f, i, b"x" * 10)
    assert 0 == kp.sys_fsync(t, f)
    before = kp.meminfo_kb("Cached")
    assert 0 == kp.sys_fadvise(t, f, 0, 2, 4)
    assert before - 8 == kp.meminfo_kb("Cached")
    assert b"x" * 10 + b"\0" * (PAGE - 10) == kp.sys_pread(t, f, 2)


def test_sys_sync_file_range_errnos(kp: Kernel) -> None:
    """sync_file_range: an unknown flag and a negative start or count are -EINVAL; WRITE
    and WRITE with both waits are 0."""
    t = kp.spawn()
    f = kp.create_blockfs_file("/blk/h", 2)
    assert 0 == kp.sys_pwrite(t, f, 0, b"y")
    assert -errno.EINVAL == kp.sys_sync_file_range(t, f, 0, 1, 8)
    assert -errno.EINVAL == kp.sys_sync_file_range(t, f, -1, 1, 2)
    assert -errno.EINVAL == kp.sys_sync_file_range(t, f, 0, -1, 2)
    assert 0 == kp.sys_sync_file_range(t, f, 0, 1, 2)
    assert 0 == kp.sys_sync_file_range(t, f, 0, 1, 1 | 2 | 4)
    assert 0 == kp.sys_sync(t)


def test_write_drop_caches(kp: Kernel) -> None:
    """drop_caches takes 1 to 4; 6.1 refuses 0, 5 and text with -EINVAL, where 2.6.27
    takes any int and ignores text (tests/fs/test_drop_caches.py has the details)."""
    assert [0, 0, 0, 0] == [kp.write_drop_caches(v) for v in ("1", "2", "3", "4")]
    bad = -errno.EINVAL if kp.profile.has("drop_caches_bounds") else 0
    assert [bad, bad, bad] == [kp.write_drop_caches(v) for v in ("0", "5", "x")]


# -- credentials --

def test_sys_setresuid_drops_every_capability(kp: Kernel) -> None:
    """Root becoming 65534 loses all capabilities; a second drop fails with -EPERM (no
    CAP_SETGID for setgroups) and changes nothing."""
    t = kp.spawn()
    assert 0 == kp.sys_setresuid(t, 65534, 65534)
    assert (65534, 65534, 65534, 65534) == (t.uid, t.euid, t.suid, t.gid)
    assert (frozenset(), frozenset()) == kp.sys_capget(t)
    assert -errno.EPERM == kp.sys_setresuid(t, 1000, 1000)
    assert (65534, 65534) == (t.uid, t.gid)


def test_setresuid_without_cap_setuid() -> None:
    """Without CAP_SETUID, setresuid may only pick among the real, effective and saved uids."""
    t = Task(pid=5, comm="t", parent=None, mm=None, uid=1000, euid=1001, suid=1002, gid=1000,
             cap_effective=frozenset(), cap_permitted=frozenset())
    assert -errno.EPERM == cred.sys_setresuid(t, 0, -1, -1)
    assert 0 == cred.sys_setresuid(t, 1002, 1000, -1)
    assert (1002, 1000, 1002) == (t.uid, t.euid, t.suid)
    assert -errno.EPERM == cred.sys_setresgid(t, 5, 5, 5)
    assert -errno.EPERM == cred.sys_setgroups(t, 0)


def test_setresuid_keeps_capabilities_while_a_uid_is_zero() -> None:
    """Root setting only the effective uid keeps its permitted set (saved uid still 0) and
    gets the effective set back when it returns to euid 0."""
    t = Task(pid=5, comm="t", parent=None, mm=None)
    full = t.cap_permitted
    assert 0 == cred.sys_setresuid(t, -1, 1000, -1)
    assert (frozenset(), full) == cred.sys_capget(t)
    assert 0 == cred.sys_setresuid(t, -1, 0, -1)
    assert (full, full) == cred.sys_capget(t)


def test_sys_capset(kp: Kernel) -> None:
    """Dropping CAP_SYS_NICE leaves the others; adding it back is -EPERM; an effective set
    beyond the permitted one is -EPERM."""
    t = kp.spawn()
    kp.drop_capability(t, CAP_SYS_NICE)
    eff, perm = kp.sys_capget(t)
    assert CAP_SYS_NICE not in eff and CAP_SYS_NICE not in perm and CAP_SYS_PTRACE in eff
    assert -errno.EPERM == kp.sys_capset(t, eff, perm | {CAP_SYS_NICE})
    assert -errno.EPERM == kp.sys_capset(t, eff | {CAP_SYS_NICE}, perm)
    assert 0 == kp.sys_capset(t, eff - {CAP_SYS_PTRACE}, perm)
    assert not t.capable(CAP_SYS_PTRACE)


# -- /proc, /sys and cgroup files --

def test_read_file_of_unknown_paths() -> None:
    """A cgroup v2 file is -ENOENT in 2.6.27 and readable in 6.1; an unknown node file is
    -ENOENT in both; a /proc file the model does not know raises NotModelled."""
    answers = {}
    for profile in ("2.6.27", "6.1"):
        k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile)
        t = k.spawn()
        answers[profile] = (k.read_file(t, "/sys/fs/cgroup/cgroup.subtree_control"),
                            k.read_file(t, "/sys/devices/system/node/nosuch"),
                            k.mkdir(t, "/sys/fs/cgroup/a"))
        with pytest.raises(NotModelled):
            k.read_file(t, "/proc/nosuch")
    assert (-errno.ENOENT, -errno.ENOENT, -errno.ENOENT) == answers["2.6.27"]
    assert ("\n", -errno.ENOENT, 0) == answers["6.1"]


def test_node_meminfo_kb(kp: Kernel) -> None:
    """Each 64 MiB node has MemTotal 65536 kB; node 1 (no boot allocations) is all free."""
    info = kp.node_meminfo_kb()
    assert [0, 1] == sorted(info)
    assert (65536, 65536) == info[1]
    assert 65536 == info[0][0] and info[0][1] < 65536


# -- scheduling --

def test_sched_affinity_is_kept_by_the_kernel_and_inherited() -> None:
    """On 2 nodes x 2 CPUs: a mask of CPUs 2 and 9 keeps CPU 2 and moves the task there;
    only offline CPUs is -EINVAL and changes nothing; a forked child inherits the mask."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64, cpus_per_node=2))
    t = k.spawn(cpu=0)
    assert [0, 1, 2, 3] == k.sched_getaffinity(t)
    assert 0 == k.sys_sched_setaffinity(t, [2, 9])
    assert ([2], 2) == (k.sched_getaffinity(t), t.cpu)
    assert -errno.EINVAL == k.sys_sched_setaffinity(t, [4, 5])
    assert [2] == k.sched_getaffinity(t)
    child = k.fork(t)
    assert ([2], 2) == (k.sched_getaffinity(child), child.cpu)
    validate(k)
