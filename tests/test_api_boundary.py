"""The Python API refuses bad input before anything changes (issue 8, "Seen").

Each test makes one bad call, checks the exception type and that its message names the
argument, and where the call could have changed something, that the machine is as it was.
The ``k`` fixture runs ``validate()`` at the end of every test.
"""

from __future__ import annotations

import errno

import pytest

from pagemig import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, MPOL_INTERLEAVE
from pagemig.kernel import Kernel, Topology
from pagemig.mm.mmap import PROT_NONE, PROT_READ, PROT_WRITE, TASK_SIZE
from pagemig.validate import validate

from .conftest import SMALL

PAGE = 4096


def state(k: Kernel) -> tuple:
    """What a refused call must leave as it was: free pages, tasks, vmas, files, pins."""
    vmas = tuple((t.pid, tuple((v.vm_start, v.vm_end, v.vm_flags) for v in t.mm.vmas))
                 for t in k.tasks.values() if t.mm is not None)
    files = tuple((f.id, f.size_pages, f.nrpages) for f in k.address_spaces.values())
    return (k.nr_free_pages(), tuple((t.pid, t.state) for t in k.tasks.values()), vmas,
            files, dict(k.pinned), tuple((c.id, c.usage, c.limit) for c in k.memcgs.values()))


def test_spawn_on_a_cpu_the_machine_lacks_is_refused(k):
    """spawn(cpu=99) and spawn(cpu=-1) raise ValueError naming `cpu` and change nothing."""
    before = state(k)
    for cpu in (99, -1, 2):
        with pytest.raises(ValueError, match="`cpu`"):
            k.spawn(cpu=cpu)
    assert before == state(k)


def test_pwrite_at_a_negative_index_is_einval(k, proc):
    """pwrite at index -1 is OSError(EINVAL) and puts nothing in the page cache."""
    f = k.create_file("/tmp/f", 2)
    before = state(k)
    with pytest.raises(OSError) as e:
        k.pwrite(proc, f, -1, b"x")
    assert errno.EINVAL == e.value.errno
    assert before == state(k)
    assert -1 == int(f.page_tree[-1])


def test_pwrite_far_past_the_end_is_efbig_without_a_leak(k, proc):
    """pwrite at index 10**9 is OSError(EFBIG) and allocates no page."""
    for f in (k.create_file("/tmp/f", 2), k.create_blockfs_file("/mnt/f", 2)):
        before = state(k)
        with pytest.raises(OSError) as e:
            k.pwrite(proc, f, 10**9, b"x")
        assert errno.EFBIG == e.value.errno
        assert before == state(k)


def test_pread_outside_the_file(k, proc):
    """pread at -1 is OSError(EINVAL); at or past the end it reads nothing, like read(2)."""
    for f in (k.create_file("/tmp/f", 2), k.create_blockfs_file("/mnt/f", 2)):
        before = state(k)
        with pytest.raises(OSError) as e:
            k.pread(proc, f, -1)
        assert errno.EINVAL == e.value.errno
        assert b"" == k.pread(proc, f, 2)
        assert b"" == k.pread(proc, f, 10**6)
        assert before == state(k)


def test_pwrite_past_the_end_grows_the_file(k, proc):
    """A write past the end makes the file longer, as write(2) does; the page reads back."""
    for f in (k.create_file("/tmp/f", 2), k.create_blockfs_file("/mnt/f", 2)):
        k.pwrite(proc, f, 5, b"abc")
        assert 6 == f.size_pages
        assert b"abc" + bytes(PAGE - 3) == k.pread(proc, f, 5)
        assert bytes(PAGE) == k.pread(proc, f, 3)


@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
def test_mmap_with_a_bad_map_type_is_einval(profile):
    """flags -1, MAP_SHARED|MAP_PRIVATE and MAP_ANONYMOUS alone are EINVAL for anon memory."""
    k = Kernel(SMALL, profile)
    p = k.spawn()
    before = state(k)
    for flags in (-1, MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS, MAP_ANONYMOUS):
        with pytest.raises(OSError) as e:
            k.mmap(p, PAGE, flags=flags)
        assert errno.EINVAL == e.value.errno
    assert before == state(k)
    validate(k)


def test_map_shared_validate_of_a_file_differs_between_releases():
    """Type 3 on a file: 2.6.27 says EINVAL; 6.1 maps it shared (MAP_SHARED_VALIDATE)."""
    k = Kernel(SMALL)
    p = k.spawn()
    f = k.create_file("/tmp/f", 1)
    with pytest.raises(OSError) as e:
        k.mmap(p, PAGE, flags=MAP_SHARED | MAP_PRIVATE, file=f)
    assert errno.EINVAL == e.value.errno
    k61 = Kernel(SMALL, "6.1")
    p61 = k61.spawn()
    f61 = k61.create_file("/tmp/f", 1)
    a = k61.mmap(p61, PAGE, flags=MAP_SHARED | MAP_PRIVATE, file=f61)
    k61.write_user(p61, a, b"shared")
    assert b"shared" == k61.pread(p61, f61, 0)[:6]
    with pytest.raises(OSError) as e:
        k61.mmap(p61, PAGE, flags=MAP_SHARED | MAP_PRIVATE | 0x100000, file=f61)
    assert errno.EOPNOTSUPP == e.value.errno  # a flag MAP_SHARED_VALIDATE does not know
    with pytest.raises(OSError) as e:
        k61.mmap(p61, PAGE, flags=-1, file=f61)
    assert errno.EINVAL == e.value.errno  # map type 15
    validate(k)
    validate(k61)


def test_map_fixed_past_task_size_changes_nothing(k, proc):
    """MAP_FIXED over the stack's top running past TASK_SIZE is ENOMEM; the stack stays."""
    stack = proc.mm.vmas[-1]
    k.touch(proc, stack.vm_end - PAGE, True)
    before = state(k)
    for prot in (PROT_READ | PROT_WRITE, PROT_NONE):
        with pytest.raises(OSError) as e:
            k.mmap(proc, 4 * PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                   addr=TASK_SIZE - 2 * PAGE)
        assert errno.ENOMEM == e.value.errno
    assert before == state(k)


def test_map_fixed_at_addresses_out_of_range(k, proc):
    """MAP_FIXED at 2**64 is ValueError (`addr`); at -2**63 and -4096 (as unsigned) ENOMEM."""
    flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
    before = state(k)
    with pytest.raises(ValueError, match="`addr`"):
        k.mmap(proc, PAGE, flags=flags, addr=2**64)
    for addr in (-2**63, -4096):
        with pytest.raises(OSError) as e:
            k.mmap(proc, PAGE, flags=flags, addr=addr)
        assert errno.ENOMEM == e.value.errno
    assert before == state(k)


def test_memcg_limits_must_be_whole_page_counts(k):
    """Fractional, NaN and 2**64 limits are refused naming `limit_pages`; nothing changes."""
    cg = k.memcg_create(8)
    before = state(k)
    for bad in (1.5, float("nan"), "8", True):
        with pytest.raises(TypeError, match="`limit_pages`"):
            k.memcg_create(bad)
        with pytest.raises(TypeError, match="`limit_pages`"):
            k.memcg_set_limit(cg, bad)
    for bad in (2**64, -1):
        with pytest.raises(ValueError, match="`limit_pages`"):
            k.memcg_create(bad)
        with pytest.raises(ValueError, match="`limit_pages`"):
            k.memcg_set_limit(cg, bad)
    assert before == state(k)


def test_init_cannot_exit(k):
    """exit(init) raises ValueError (the kernel would panic) instead of looping."""
    k.spawn()
    before = state(k)
    with pytest.raises(ValueError, match="`task`.*init"):
        k.exit(k.init_task())
    assert before == state(k)


def test_ext2_fsync_of_a_page_written_at_the_size(k, proc):
    """pwrite at index == size then fsync writes the page to disk (no IndexError)."""
    f = k.create_blockfs_file("/mnt/f", 2)
    k.pwrite(proc, f, 2, b"tail")
    assert 0 == k.fsync(proc, f)
    assert 3 == f.size_pages
    assert bool(f.on_disk[2])
    assert b"tail" == bytes(f.disk[2][:4])


def test_ext2_fsync_writes_pages_written_far_past_the_end(k, proc):
    """pwrite at index 5 of a 2-page ext2 file grows it to 6 pages (write_end's
    i_size_write()), so fsync, which walks the pages below the size, writes page 5 to
    disk; the hole between stays unwritten."""
    f = k.create_blockfs_file("/mnt/f", 2)
    k.pwrite(proc, f, 5, b"far")
    assert 0 == k.fsync(proc, f)
    assert 6 == f.size_pages
    assert [False, False, False, False, False, True] == [bool(b) for b in f.on_disk]
    assert b"far" == bytes(f.disk[5][:3])
    assert not k.PageLocked(f.slot(5))


def test_ext2_reads_and_faults_under_an_interleave_policy(k, proc):
    """With MPOL_INTERLEAVE, ext2 pread and shared-mapping faults allocate round-robin."""
    f = k.create_blockfs_file("/mnt/f", 4)
    k.set_mempolicy(proc, MPOL_INTERLEAVE, {0, 1})
    assert bytes(PAGE) == k.pread(proc, f, 0)
    a = k.mmap(proc, 4 * PAGE, flags=MAP_SHARED, file=f)
    for i in range(1, 4):
        k.touch(proc, a + i * PAGE, False)
    nodes = [k.pfn_to_nid(f.slot(i)) for i in range(4)]
    assert [0, 1, 0, 1] == nodes


def test_a_failed_page_cache_allocation_in_a_fault_is_oom(k, proc):
    """A page-cache page the memcg refuses in filemap_fault is ENOMEM, not SIGBUS/EFAULT."""
    f = k.create_blockfs_file("/mnt/f", 2)
    a = k.mmap(proc, 2 * PAGE, flags=MAP_SHARED, file=f)
    cg = k.memcg_create(0)
    k.memcg_move_task(proc, cg)
    with pytest.raises(OSError) as e:
        k.touch(proc, a, False)
    assert errno.ENOMEM == e.value.errno
    assert -1 == f.slot(0)


@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
def test_a_failed_page_cache_allocation_under_pin_or_pread_is_enomem(profile):
    """The same refused page-cache page under get_user_pages() (pin) and read(2).

    get_user_pages() turns the fault's VM_FAULT_OOM into -ENOMEM and VM_FAULT_SIGBUS into
    -EFAULT (2.6.27's get_user_pages(); 6.1's vm_fault_to_errno() agrees), and read(2)
    passes page_cache_read()'s -ENOMEM on: neither may look like the end of the file.
    Nothing is pinned and no page enters the cache."""
    k = Kernel(SMALL, profile)
    p = k.spawn()
    f = k.create_blockfs_file("/mnt/f", 2)
    a = k.mmap(p, 2 * PAGE, flags=MAP_SHARED, file=f)
    k.memcg_move_task(p, k.memcg_create(0))
    before = state(k)
    with pytest.raises(OSError) as e:
        k.pin(p, a, 2)
    assert errno.ENOMEM == e.value.errno
    with pytest.raises(OSError) as e:
        k.pread(p, f, 1)
    assert errno.ENOMEM == e.value.errno
    assert before == state(k)
    assert [-1, -1] == [f.slot(0), f.slot(1)]
    validate(k)


def test_reap_of_a_live_task_is_refused(k, proc):
    """reap of a task that has not exited raises ValueError and frees nothing."""
    a = k.mmap(proc, PAGE)
    k.write_user(proc, a, b"live")
    before = state(k)
    with pytest.raises(ValueError, match="`task`.*still running"):
        k.reap(proc)
    assert before == state(k)
    assert b"live" == k.read_user(proc, a, 4)


def test_fork_of_a_reaped_task_is_refused(k, proc):
    """fork of a reaped (or exited) task raises ValueError naming `parent`."""
    k.exit(proc)
    with pytest.raises(ValueError, match="`parent`.*exited"):
        k.fork(proc)
    k.reap(proc)
    before = state(k)
    with pytest.raises(ValueError, match="`parent`.*reaped"):
        k.fork(proc)
    assert before == state(k)


def test_exit_and_reap_twice_are_refused(k, proc):
    """A second exit or reap of the same task raises ValueError naming `task`."""
    k.exit(proc)
    with pytest.raises(ValueError, match="`task`.*exited"):
        k.exit(proc)
    k.reap(proc)
    before = state(k)
    with pytest.raises(ValueError, match="`task`.*reaped"):
        k.reap(proc)
    with pytest.raises(ValueError, match="`task`.*reaped"):
        k.exit(proc)
    assert before == state(k)


def test_unpin_of_an_unknown_pfn_is_refused(k, proc):
    """unpin([123]) raises ValueError naming `pfns`; a list half-valid drops nothing."""
    a = k.mmap(proc, PAGE)
    pins = k.pin(proc, a, 1)
    before = state(k)
    with pytest.raises(ValueError, match="`pfns`"):
        k.unpin([123])
    with pytest.raises(ValueError, match="`pfns`"):
        k.unpin(pins + pins)
    assert before == state(k)
    k.unpin(pins)
    assert {} == k.pinned


def test_create_file_with_a_negative_size_is_refused(k):
    """create_file(name, -1) raises ValueError naming `size_pages`; no file is made."""
    before = state(k)
    with pytest.raises(ValueError, match="`size_pages`"):
        k.create_file("/tmp/f", -1)
    with pytest.raises(ValueError, match="`size_pages`"):
        k.create_blockfs_file("/mnt/f", -1)
    with pytest.raises(TypeError, match="`size_pages`"):
        k.create_file("/tmp/f", 1.0)
    assert before == state(k)


def test_calls_of_an_exited_task_are_refused(k, proc):
    """An exited caller gets ValueError naming the task argument, not AssertionError."""
    k.exit(proc)
    before = state(k)
    with pytest.raises(ValueError, match="`task`.*exited"):
        k.mmap(proc, PAGE)
    with pytest.raises(ValueError, match="`task`.*exited"):
        k.touch(proc, 0x400000, False)
    with pytest.raises(ValueError, match="`caller`.*exited"):
        k.move_pages(proc, 0, [0x400000], None)
    assert before == state(k)


def test_pwrite_of_more_than_a_page_is_refused(k, proc):
    """pwrite of 4097 bytes raises ValueError naming `data`; nothing is written."""
    f = k.create_file("/tmp/f", 1)
    before = state(k)
    with pytest.raises(ValueError, match="`data`"):
        k.pwrite(proc, f, 0, b"x" * (PAGE + 1))
    with pytest.raises(TypeError, match="`data`"):
        k.pwrite(proc, f, 0, "text")
    assert before == state(k)


@pytest.mark.parametrize("call, name", [
    (lambda k, p: k.touch(p, 1.5, False), "`addr`"),
    (lambda k, p: k.touch(p, 0x400000, object()), "`write`"),
    (lambda k, p: k.mmap(p, 4096.0), "`length`"),
    (lambda k, p: k.mmap(p, PAGE, flags=2.0), "`flags`"),
    (lambda k, p: k.move_pages(p, 0, [0x400000], ["1"]), r"`nodes\[0\]`"),
    (lambda k, p: k.move_pages(p, 0, [0x400000], [1.7]), r"`nodes\[0\]`"),
    (lambda k, p: k.move_pages(p, 1.0, [0x400000], None), "`pid`"),
    (lambda k, p: k.move_pages(p, 0, [1.5], None), r"`addrs\[0\]`"),
    (lambda k, p: k.mbind(p, 0x400000, PAGE, 1, ["1"]), r"`nodes\[0\]`"),
    (lambda k, p: k.migrate_pages(p, 0, {0}, {1.0}), r"`new_nodes\[0\]`"),
    (lambda k, p: k.spawn(cpu="0"), "`cpu`"),
    (lambda k, p: Topology(nodes="2"), "`nodes`"),
    (lambda k, p: Topology(mem_per_node_mb=64.0), "`mem_per_node_mb`"),
], ids=["touch-addr-1.5", "touch-write-object", "mmap-length-4096.0", "mmap-flags-2.0",
        "move_pages-node-str", "move_pages-node-1.7", "move_pages-pid-1.0",
        "move_pages-addr-1.5", "mbind-node-str", "migrate_pages-node-1.0", "spawn-cpu-str",
        "Topology-nodes-str", "Topology-mem_per_node_mb-float"])
def test_wrong_types_are_refused(k, proc, call, name):
    """A float, str or object where an int or bool is meant is TypeError naming it."""
    before = state(k)
    with pytest.raises(TypeError, match=name):
        call(k, proc)
    assert before == state(k)


def test_values_past_the_c_types_are_refused(k, proc):
    """An address past 2**64 or a node past a C int is ValueError, not numpy's OverflowError."""
    a = k.mmap(proc, PAGE)
    before = state(k)
    with pytest.raises(ValueError, match=r"`addrs\[0\]`"):
        k.move_pages(proc, 0, [2**64], [0])
    with pytest.raises(ValueError, match=r"`nodes\[0\]`"):
        k.move_pages(proc, 0, [a], [2**32])
    with pytest.raises(ValueError, match="`addr`"):
        k.touch(proc, 2**64 + a, False)
    with pytest.raises(ValueError, match=r"`nodes\[0\]`"):
        k.set_mempolicy(proc, MPOL_INTERLEAVE, [2**32])
    assert before == state(k)
    with pytest.raises(OSError) as e:  # a mask longer than get_nodes() reads: EINVAL
        k.set_mempolicy(proc, MPOL_INTERLEAVE, [2**31 - 1])
    assert errno.EINVAL == e.value.errno
    assert proc.mempolicy is None


def test_a_task_passed_as_a_pid_is_refused(k, proc):
    """A Task where a pid is meant is TypeError naming `pid` (not ESRCH)."""
    other = k.spawn()
    with pytest.raises(TypeError, match="`pid`"):
        k.move_pages(proc, other, [0x400000], None)
    with pytest.raises(TypeError, match="`pid`"):
        k.migrate_pages(proc, other, {0}, {1})


def test_nodes_shorter_than_addrs_is_refused(k, proc):
    """A `nodes` list shorter than `addrs` raises ValueError instead of padding with node 0."""
    a = k.mmap(proc, 2 * PAGE)
    k.write_user(proc, a, bytes(2 * PAGE))
    before = state(k)
    with pytest.raises(ValueError, match="`nodes`"):
        k.move_pages(proc, 0, [a, a + PAGE], [1])
    assert before == state(k)
    assert [0, 0] == [k.pfn_to_nid(k.page_at(proc, a + i * PAGE)) for i in range(2)]


def test_mprotect_with_unknown_prot_bits(k, proc):
    """mprotect prot -1 is EINVAL (2.6.27's sys_mprotect), 2**64 ValueError; nothing changes."""
    a = k.mmap(proc, PAGE)
    before = state(k)
    with pytest.raises(OSError) as e:
        k.mprotect(proc, a, PAGE, -1)
    assert errno.EINVAL == e.value.errno
    with pytest.raises(ValueError, match="`prot`"):
        k.mprotect(proc, a, PAGE, 2**64)
    assert -errno.EINVAL == k.sys_mprotect(proc, a, PAGE, 0x10)
    assert before == state(k)


def test_negative_sizes_and_counts_in_helpers(k, proc):
    """read_user(size=-1) and pin(npages <= 0) raise ValueError naming the argument."""
    a = k.mmap(proc, PAGE)
    before = state(k)
    with pytest.raises(ValueError, match="`size`"):
        k.read_user(proc, a, -1)
    for n in (0, -1):
        with pytest.raises(ValueError, match="`npages`"):
            k.pin(proc, a, n)
    assert before == state(k)


def test_sys_move_pages_truncates_pid_and_flags_as_c_does(k, proc):
    """sys_move_pages with pid 2**32 acts on the caller (pid 0) and flags 2**32+2 is 2."""
    a = k.mmap(proc, PAGE)
    k.write_user(proc, a, b"x")
    ptrs = k.mmap(proc, PAGE)
    k.write_user(proc, ptrs, a.to_bytes(8, "little") + (1).to_bytes(4, "little"))
    status = ptrs + 16
    ret = k.sys_move_pages(proc, 2**32, 1, ptrs, ptrs + 8, status, 2**32 + 2)
    assert 0 == ret
    assert 1 == k.pfn_to_nid(k.page_at(proc, a))
    assert 1 == int.from_bytes(k.read_user(proc, status, 4), "little", signed=True)


def test_the_61_profile_refuses_the_same_calls(k61):
    """On 6.1 the same bad calls are refused the same way and change nothing."""
    p = k61.spawn()
    a = k61.mmap(p, PAGE)
    f = k61.create_blockfs_file("/mnt/f", 2)
    before = state(k61)
    with pytest.raises(ValueError, match="`cpu`"):
        k61.spawn(cpu=99)
    with pytest.raises(OSError) as e:
        k61.pwrite(p, f, -1, b"x")
    assert errno.EINVAL == e.value.errno
    with pytest.raises(OSError) as e:
        k61.mprotect(p, a, PAGE, -1)
    assert errno.EINVAL == e.value.errno
    with pytest.raises(OSError) as e:
        k61.mmap(p, PAGE, flags=MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, addr=-4096)
    assert errno.ENOMEM == e.value.errno
    with pytest.raises(ValueError, match="`task`.*init"):
        k61.exit(k61.init_task())
    with pytest.raises(TypeError, match="`limit_pages`"):
        k61.memcg_create(1.5)
    assert before == state(k61)
    assert b"" == k61.pread(p, f, 2)


def test_mmap_without_anonymous_needs_a_file(k, proc):
    """Without MAP_ANONYMOUS and without a file mmap is EBADF (no fd), as sys_mmap() says."""
    before = state(k)
    for flags in (MAP_PRIVATE, MAP_SHARED):
        with pytest.raises(OSError) as e:
            k.mmap(proc, PAGE, flags=flags)
        assert errno.EBADF == e.value.errno
    assert before == state(k)


@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
def test_mlock_with_a_negative_length_wraps_to_einval(profile):
    """mlock(addr, -4096): the length is a size_t, so the end wraps below the start and
    do_mlock() says -EINVAL before it locks anything (it used to lock up to the next hole,
    then say -ENOMEM)."""
    k = Kernel(SMALL, profile)
    p = k.spawn()
    a = k.mmap(p, 4 * PAGE)
    k.write_user(p, a, b"x")
    before = state(k)
    with pytest.raises(OSError) as e:
        k.mlock(p, a, -PAGE)
    assert errno.EINVAL == e.value.errno
    assert -errno.EINVAL == k.sys_mlock(p, a, 2**64 - PAGE)
    assert before == state(k)
    # A length that wraps to exactly 2**64 is 0 once aligned: nothing to do, as in C.
    assert 0 == k.sys_mlock(p, a + 1, 2**64 - 1)
    assert before == state(k)
    validate(k)


def test_pin_counts_in_a_c_int(k, proc):
    """pin() counts pages in get_user_pages()'s int: 2**31 pages and more are a ValueError
    naming `npages`; a count that runs past the mapping pins what is there."""
    a = k.mmap(proc, 3 * PAGE)
    k.munmap(proc, a + 2 * PAGE, PAGE)  # a hole after two pages
    k.write_user(proc, a, b"x")
    k.write_user(proc, a + PAGE, b"y")
    before = state(k)
    for n in (2**31, 2**40):
        with pytest.raises(ValueError, match="`npages`"):
            k.pin(proc, a, n)
    assert before == state(k)
    pfns = k.pin(proc, a, 2**31 - 1)
    assert [k.page_at(proc, a), k.page_at(proc, a + PAGE)] == pfns
    k.unpin(pfns)


@pytest.mark.parametrize("kw, name", [
    ({"nodes": 0}, "`nodes`"), ({"nodes": 9}, "`nodes`"),
    ({"mem_per_node_mb": 0}, "`mem_per_node_mb`"),
    ({"cpus_per_node": 0}, "`cpus_per_node`"), ({"memless_nodes": -1}, "`memless_nodes`"),
])
def test_a_topology_out_of_range_is_refused_when_made(kw, name):
    """Topology checks its fields when it is made, not only when a Kernel boots it."""
    with pytest.raises(ValueError, match=name):
        Topology(**kw)


@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
def test_a_call_whose_arguments_cannot_be_stored_leaves_no_mapping(profile):
    """Found by the API fuzzer: a task in a memory cgroup at its limit cannot fault in the
    page that holds an mbind or set_mempolicy node mask; the call fails with ENOMEM before
    the kernel is entered, and the mask's mapping goes as it does after a call (it used to
    stay, so a refused call changed the task's vmas)."""
    k = Kernel(SMALL, profile)
    p = k.spawn()
    a = k.mmap(p, 8 * PAGE)
    cg = k.memcg_create(None)
    k.memcg_move_task(p, cg)
    for i in range(8):
        k.write_user(p, a + i * PAGE, b"x")
    k.memcg_set_limit(cg, cg.usage)
    before = state(k)
    for call in (lambda: k.mbind(p, a, PAGE, 77, [0]),
                 lambda: k.set_mempolicy(p, MPOL_INTERLEAVE, [0, 1]),
                 lambda: k.move_pages(p, 0, [a], [1])):
        with pytest.raises(OSError) as e:
            call()
        assert errno.ENOMEM == e.value.errno
        assert before == state(k)
    validate(k)
