"""Swap, block files and /proc/kpageflags as Linux 6.1 shows them (and 2.6.27 where the two
differ): MADV_PAGEOUT, synchronous and asynchronous swap devices, PG_anon_exclusive,
ext4's ->page_mkwrite and the kpageflags word."""

from __future__ import annotations

import errno

import pytest

from pagemig.fs import procfs
from pagemig.kernel import Kernel, Topology
from pagemig.mm.buffer import BH_Dirty, page_buffers
from pagemig.mm.madvise import MADV_PAGEOUT
from pagemig.mm.mm_types import (
    LRU_ACTIVE,
    LRU_INACTIVE,
    LRU_INACTIVE_FILE,
    LRU_UNEVICTABLE,
    PAGE_SIZE,
)
from pagemig.mm.mmap import MAP_FIXED, MAP_SHARED
from pagemig.mm.mmzone import ZoneStat
from pagemig.mm.page_flags import (
    F_ANON_EXCLUSIVE,
    F_DIRTY,
    F_MLOCKED,
    F_PRIVATE,
    F_REFERENCED,
    F_SWAPBACKED,
    F_SWAPCACHE,
    F_UNEVICTABLE,
    F_WRITEBACK,
)
from pagemig.mm.swap import lru_add_drain_all
from pagemig.mm.swapops import is_swap_pte, pte_swp_exclusive, pte_to_swp_entry, swp_offset
from pagemig.sched import Task
from pagemig.validate import InvariantError, validate


@pytest.fixture
def p61(k61: Kernel) -> Task:
    """A probe-like process on CPU 0 (node 0) of the 6.1 machine."""
    return k61.spawn()


def anon(k: Kernel, p: Task, npages: int, synchronous: bool) -> int:
    """A swap area (zram-like when ``synchronous``) and ``npages`` written anon pages."""
    k.swapon(64, synchronous=synchronous)
    a = k.mmap(p, npages * PAGE_SIZE)
    for i in range(npages):
        k.write_user(p, a + i * PAGE_SIZE, b"page %d" % i)
    return a


def test_pageout_to_zram_frees_the_page_and_leaves_an_exclusive_swap_pte(
        k61: Kernel, p61: Task) -> None:
    """MADV_PAGEOUT with a synchronous device: the write has completed when reclaim looks
    again, so the page leaves the swap cache and is freed; the pte is a swap entry that
    remembers the page was exclusive, and the slot has that one reference."""
    a = anon(k61, p61, 2, synchronous=True)
    page = k61.page_at(p61, a)
    free_before = k61.nr_free_pages()

    k61.madvise(p61, a, PAGE_SIZE, MADV_PAGEOUT)

    pte = p61.mm.get_pte(a)  # type: ignore[union-attr]
    assert is_swap_pte(pte) and pte_swp_exclusive(pte)
    assert 1 == int(k61.swap_info.swap_map[swp_offset(pte_to_swp_entry(pte))])
    assert 0 == int(k61.pages.count[page])
    assert free_before + 1 == k61.nr_free_pages()
    assert 0 == k61.swapper_space.nrpages


def test_pageout_to_disk_keeps_the_page_in_the_swap_cache(k61: Kernel, p61: Task) -> None:
    """MADV_PAGEOUT with a disk: reclaim meets the page under writeback and keeps it; it
    stays in the swap cache after the I/O, unmapped and clean, not exclusive."""
    a = anon(k61, p61, 1, synchronous=False)
    page = k61.page_at(p61, a)
    k61.hold_writeback = True

    k61.madvise(p61, a, PAGE_SIZE, MADV_PAGEOUT)
    assert bool(k61.pages.flags[page] & F_WRITEBACK)
    k61.hold_writeback = False
    k61.complete_writeback()

    flags = int(k61.pages.flags[page])
    assert (True, False, False) == (bool(flags & F_SWAPCACHE), bool(flags & F_DIRTY),
                                    bool(flags & F_ANON_EXCLUSIVE))
    assert 0 == int(k61.pages.mapcount[page])
    assert (0, [-errno.ENOENT]) == k61.move_pages(p61, 0, [a], None)


def test_pageout_is_einval_in_2_6_27(k: Kernel, proc: Task) -> None:
    """2.6.27 knows no MADV_PAGEOUT: -EINVAL once a vma is reached."""
    a = anon(k, proc, 1, synchronous=False)
    with pytest.raises(OSError) as e:
        k.madvise(proc, a, PAGE_SIZE, MADV_PAGEOUT)
    assert errno.EINVAL == e.value.errno


def test_zram_swapin_bypasses_the_swap_cache_on_the_faulting_node(
        k61: Kernel, p61: Task) -> None:
    """Swap-in from zram with one user of the slot: a new page on the faulting CPU's node,
    never in the swap cache, swap-backed and exclusive, not marked referenced; the slot
    is free again."""
    a = anon(k61, p61, 1, synchronous=True)
    assert (0, [1]) == k61.move_pages(p61, 0, [a], [1])
    k61.madvise(p61, a, PAGE_SIZE, MADV_PAGEOUT)
    entry = pte_to_swp_entry(p61.mm.get_pte(a))  # type: ignore[union-attr]

    assert b"page 0" == k61.read_user(p61, a, 6)

    page = k61.page_at(p61, a)
    assert page is not None and 0 == k61.pfn_to_nid(page)
    flags = int(k61.pages.flags[page])
    assert (False, True, True, False) == (
        bool(flags & F_SWAPCACHE), bool(flags & F_SWAPBACKED),
        bool(flags & F_ANON_EXCLUSIVE), bool(flags & F_REFERENCED))
    assert 0 == int(k61.swap_info.swap_map[swp_offset(entry)])


def test_disk_swapin_maps_the_cached_page_and_a_write_reuses_it(
        k61: Kernel, p61: Task) -> None:
    """Swap-in from a disk finds the page still in the swap cache: mapped exclusive (the
    swap pte said so), so a later write reuses it in place (6.1 do_wp_page())."""
    a = anon(k61, p61, 1, synchronous=False)
    page = k61.page_at(p61, a)
    k61.madvise(p61, a, PAGE_SIZE, MADV_PAGEOUT)
    k61.complete_writeback()

    k61.read_user(p61, a, 1)
    assert page == k61.page_at(p61, a)
    assert bool(k61.pages.flags[page] & F_ANON_EXCLUSIVE)
    assert bool(k61.pages.flags[page] & F_SWAPCACHE)
    k61.write_user(p61, a, b"PAGE 0")

    assert page == k61.page_at(p61, a)
    assert b"PAGE 0" == k61.read_user(p61, a, 6)


def test_write_after_fork_and_exit_reuses_a_non_exclusive_page(k61: Kernel, p61: Task) -> None:
    """6.1 do_wp_page(): a page shared by fork is no longer exclusive; once the child is
    gone only the parent's reference is left, so the write reuses it and makes it
    exclusive again."""
    a = anon(k61, p61, 1, synchronous=False)
    page = k61.page_at(p61, a)
    child = k61.fork(p61)
    assert not k61.pages.flags[page] & F_ANON_EXCLUSIVE
    k61.exit(child)
    k61.reap(child)

    k61.write_user(p61, a, b"PAGE 0")

    assert page == k61.page_at(p61, a)
    assert bool(k61.pages.flags[page] & F_ANON_EXCLUSIVE)


def test_write_fault_on_ext4_page_attaches_dirty_buffers(k61: Kernel, p61: Task) -> None:
    """6.1's ext4 ->page_mkwrite: a page read from a hole gets dirty buffers at the first
    write through the shared mapping; 2.6.27's ext2 has none until writeback."""
    f = k61.create_blockfs_file("/blk/f", 2)
    a = k61.mmap(p61, 2 * PAGE_SIZE, flags=MAP_SHARED, file=f)

    k61.write_user(p61, a, b"x")

    page = k61.page_at(p61, a)
    assert page is not None
    assert (True, True) == (bool(k61.pages.flags[page] & F_PRIVATE),
                            bool(k61.pages.flags[page] & F_DIRTY))
    assert [True] * 4 == [bool(k61.bh.b_state[b] & BH_Dirty) for b in page_buffers(k61, page)]


def test_write_fault_on_ext2_page_has_no_buffers_in_2_6_27(k: Kernel, proc: Task) -> None:
    """2.6.27 ext2 has no ->page_mkwrite: the written page is dirty without buffers."""
    f = k.create_blockfs_file("/blk/f", 2)
    a = k.mmap(proc, 2 * PAGE_SIZE, flags=MAP_SHARED, file=f)

    k.write_user(proc, a, b"x")

    page = k.page_at(proc, a)
    assert page is not None
    assert (False, True) == (bool(k.pages.flags[page] & F_PRIVATE),
                             bool(k.pages.flags[page] & F_DIRTY))


def test_kpageflags_word_of_an_anon_page_in_6_1(k61: Kernel, p61: Task) -> None:
    """6.1 stable_page_flags() of a written anon page on the LRU: uptodate (3), lru (5),
    mmap (11), anon (12), swapbacked (14), mappedtodisk = anon exclusive (34)."""
    a = anon(k61, p61, 1, synchronous=False)
    page = k61.page_at(p61, a)
    lru_add_drain_all(k61)
    word = k61.kpageflags(page)

    assert 1 << 3 | 1 << 5 | 1 << 11 | 1 << 12 | 1 << 14 | 1 << 34 == word & ~(1 << 4 | 1 << 6)


def test_kpageflags_word_of_a_swap_cache_page_in_6_1(k61: Kernel, p61: Task) -> None:
    """A mapped swap-cache page also shows swapcache (13) and owner_private (37), as 6.1
    keeps PG_swapcache in PG_owner_priv_1; a free page shows buddy (10)."""
    a = anon(k61, p61, 1, synchronous=False)
    page = k61.page_at(p61, a)
    k61.madvise(p61, a, PAGE_SIZE, MADV_PAGEOUT)
    k61.complete_writeback()
    k61.read_user(p61, a, 1)

    word = k61.kpageflags(page)

    assert (1, 1, 1) == (word >> 13 & 1, word >> 37 & 1, word >> 11 & 1)
    free = int(k61.zones[0].free_stack[int(k61.zones[0].free_top) - 1])
    assert 1 << 10 == k61.kpageflags(free)


def test_kpageflags_word_in_2_6_27_is_the_miswired_one(k: Kernel, proc: Task) -> None:
    """2.6.27's word: only bits 1-7 come through at their own numbers, so a mapped anon page
    on the LRU shows uptodate (3) and lru (5) and nothing about mmap or anon."""
    a = anon(k, proc, 1, synchronous=False)
    page = k.page_at(proc, a)
    lru_add_drain_all(k)

    word = k.kpageflags(page)

    assert 1 << 3 | 1 << 5 == word & ~(1 << 2 | 1 << 4 | 1 << 6)
    assert procfs.kpageflags_word(int(k.pages.flags[page])) == word


def test_mlock_puts_pages_on_the_unevictable_list_and_munlock_back(
        k61: Kernel, p61: Task) -> None:
    """6.1 mlock(): present pages become PG_mlocked and PG_unevictable on the unevictable
    list (NR_MLOCK, NR_UNEVICTABLE count them); munlock() returns them to the inactive anon
    list."""
    a = anon(k61, p61, 2, synchronous=False)
    pages = [k61.page_at(p61, a + i * PAGE_SIZE) for i in range(2)]

    k61.mlock(p61, a, 2 * PAGE_SIZE)

    assert [LRU_UNEVICTABLE] * 2 == [int(k61.pages.lru[p]) for p in pages]
    assert [F_MLOCKED | F_UNEVICTABLE] * 2 == [
        int(k61.pages.flags[p]) & (F_MLOCKED | F_UNEVICTABLE) for p in pages]
    assert (2, 2) == (int(k61.zone_stat[:, ZoneStat.NR_MLOCK].sum()),
                      int(k61.zone_stat[:, ZoneStat.NR_UNEVICTABLE].sum()))
    k61.mlock(p61, a, 2 * PAGE_SIZE, on=False)
    assert [LRU_INACTIVE] * 2 == [int(k61.pages.lru[p]) for p in pages]
    assert [0, 0] == [int(k61.pages.flags[p]) & (F_MLOCKED | F_UNEVICTABLE) for p in pages]


def test_migrated_mlocked_page_stays_mlocked(k61: Kernel, p61: Task) -> None:
    """6.1: the new page of a migration is mapped in the locked vma again, so it is mlocked
    and unevictable on node 1; the old page was freed clean."""
    a = anon(k61, p61, 1, synchronous=False)
    k61.mlock(p61, a, PAGE_SIZE)
    old = k61.page_at(p61, a)

    assert (0, [1]) == k61.move_pages(p61, 0, [a], [1])
    lru_add_drain_all(k61)

    new = k61.page_at(p61, a)
    assert new != old and 0 == int(k61.pages.count[old])
    assert (F_MLOCKED | F_UNEVICTABLE, LRU_UNEVICTABLE) == (
        int(k61.pages.flags[new]) & (F_MLOCKED | F_UNEVICTABLE), int(k61.pages.lru[new]))


def test_tmpfs_and_ext4_pages_are_on_their_lists_in_6_1(k61: Kernel, p61: Task) -> None:
    """6.1: a tmpfs page is swap-backed (anon lists), an ext4 page is not (file lists)."""
    t = k61.create_file("/tmp/t", 1)
    b = k61.create_blockfs_file("/blk/b", 1)
    at = k61.mmap(p61, PAGE_SIZE, flags=MAP_SHARED, file=t)
    ab = k61.mmap(p61, PAGE_SIZE, flags=MAP_SHARED, file=b)
    k61.read_user(p61, at, 1)
    k61.read_user(p61, ab, 1)
    lru_add_drain_all(k61)

    pt, pb = k61.page_at(p61, at), k61.page_at(p61, ab)
    assert (LRU_INACTIVE, LRU_INACTIVE_FILE) == (int(k61.pages.lru[pt]), int(k61.pages.lru[pb]))
    assert (True, False) == (bool(k61.pages.flags[pt] & F_SWAPBACKED),
                             bool(k61.pages.flags[pb] & F_SWAPBACKED))


def test_mlock_changes_no_list_in_2_6_27(k: Kernel, proc: Task) -> None:
    """2.6.27 has no unevictable list: an mlocked page stays on the active list."""
    a = anon(k, proc, 1, synchronous=False)
    k.mlock(proc, a, PAGE_SIZE)
    lru_add_drain_all(k)

    page = k.page_at(proc, a)
    assert (LRU_ACTIVE, 0) == (int(k.pages.lru[page]),
                               int(k.pages.flags[page]) & (F_MLOCKED | F_UNEVICTABLE))


@pytest.mark.parametrize("poke", ["unevictable_flag", "swapbacked_flag", "nr_unevictable"])
def test_validate_catches_a_broken_6_1_list(poke: str) -> None:
    """validate() of a 6.1 machine fires when PG_unevictable or PG_swapbacked disagrees with
    the page's list, or a list counter is off."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), "6.1")
    p = k.spawn()
    a = anon(k, p, 1, synchronous=False)
    lru_add_drain_all(k)
    page = k.page_at(p, a)
    validate(k)
    if poke == "unevictable_flag":
        k.pages.flags[page] |= F_UNEVICTABLE
        expect = "PG_unevictable disagrees"
    elif poke == "swapbacked_flag":
        k.pages.flags[page] &= ~F_SWAPBACKED
        expect = "PG_swapbacked disagrees"
    else:
        k.zone_stat[k.page_zone(page).id, ZoneStat.NR_UNEVICTABLE] += 1
        expect = "NR_UNEVICTABLE"
    with pytest.raises(InvariantError, match=expect):
        validate(k)


def test_node_hugepages_do_not_exist_in_2_6_27(k: Kernel, proc: Task) -> None:
    """2.6.27 has no per-node hugepages directory."""
    path = "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"
    assert -errno.ENOENT == procfs.write_file(k, proc, path, "2")


def test_pagemap_entries_of_6_1(k61: Kernel, p61: Task) -> None:
    """6.1 pagemap: soft-dirty (55) in every vma, exclusive (56) for a page mapped once,
    file (61) for a page-cache page, the pfn of a present page; 0 outside every vma; a
    swap pte gives PM_SWAP; after fork the anon page is mapped twice: not exclusive."""
    a = anon(k61, p61, 1, synchronous=True)
    f = k61.create_file("/tmp/t", 1)
    af = k61.mmap(p61, PAGE_SIZE, flags=MAP_SHARED, file=f)
    k61.read_user(p61, af, 1)
    mm = p61.mm
    assert mm is not None
    page = k61.page_at(p61, a)

    assert 1 << 63 | 1 << 56 | 1 << 55 | page == procfs.pagemap_entry(k61, mm, a)
    assert 1 << 63 | 1 << 61 | 1 << 56 | 1 << 55 | k61.page_at(p61, af) == \
        procfs.pagemap_entry(k61, mm, af)
    assert 0 == procfs.pagemap_entry(k61, mm, 0x1000)
    child = k61.fork(p61)
    assert 1 << 63 | 1 << 55 | page == procfs.pagemap_entry(k61, mm, a)
    k61.exit(child)
    k61.reap(child)
    k61.madvise(p61, a, PAGE_SIZE, MADV_PAGEOUT)
    assert (1, 0) == (procfs.pagemap_entry(k61, mm, a) >> 62 & 1,
                      procfs.pagemap_entry(k61, mm, a) >> 63 & 1)


def test_pagemap_hides_frames_from_users_without_cap_sys_admin(k61: Kernel, p61: Task) -> None:
    """6.1: a reader without CAP_SYS_ADMIN reads present entries with frame 0."""
    a = anon(k61, p61, 1, synchronous=True)
    buf = k61.mmap(p61, PAGE_SIZE)
    p61.cap_effective = frozenset(p61.cap_effective - {21})

    assert 8 == procfs.pagemap_read(k61, p61, p61, buf, a, 1)

    entry = int.from_bytes(k61.read_user(p61, buf, 8), "little")
    assert (1, 0) == (entry >> 63, entry & ((1 << 55) - 1))


@pytest.mark.parametrize(("profile", "expected"), [("2.6.27", -errno.ENOMEM),
                                                    ("6.1", -errno.EFAULT)])
def test_pagemap_read_into_a_buffer_no_memory_can_back(profile: str, expected: int) -> None:
    """A reader whose buffer page cannot be faulted in (its cgroup is at its limit):
    2.6.27 pins the buffer with get_user_pages() first and returns its -ENOMEM; 6.1 copies
    the entries out with copy_to_user(), whose fault is -EFAULT."""
    from pagemig.mm.memcontrol import mem_cgroup_create, mem_cgroup_move_task

    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile)
    p = k.spawn()
    a = anon(k, p, 1, synchronous=True)
    buf = k.mmap(p, PAGE_SIZE)  # never touched
    assert 0 == mem_cgroup_move_task(k, p, mem_cgroup_create(k, 0))

    assert expected == procfs.pagemap_read(k, p, p, buf, a, 1)
    assert k.page_at(p, buf) is None
    validate(k)


@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
def test_fork_child_does_not_inherit_vm_locked(profile: str) -> None:
    """dup_mmap() clears VM_LOCKED in the child's copy of a locked vma (both releases); in
    6.1 the parent's shared pages stay mlocked when the child breaks COW."""
    from pagemig.mm.mm_types import VM_LOCKED

    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile)
    p = k.spawn()
    a = anon(k, p, 1, synchronous=False)
    k.mlock(p, a, PAGE_SIZE)
    child = k.fork(p)
    page = k.page_at(p, a)

    k.write_user(child, a, b"child")

    assert (VM_LOCKED, 0) == (p.mm.vma_containing(a).vm_flags & VM_LOCKED,  # type: ignore[union-attr]
                              child.mm.vma_containing(a).vm_flags & VM_LOCKED)  # type: ignore[union-attr]
    mlocked = F_MLOCKED if profile == "6.1" else 0
    assert mlocked == int(k.pages.flags[page]) & F_MLOCKED
    assert 0 == int(k.pages.flags[k.page_at(child, a)]) & F_MLOCKED
    validate(k)


def test_vmstat_and_meminfo_names_of_6_1(k61: Kernel, p61: Task) -> None:
    """6.1 names: nr_mlock/nr_unevictable and Mlocked/Unevictable count two mlocked pages,
    nr_inactive_anon is the anon list (nr_inactive does not exist: -1), Active is the sum
    of the anon and file lists; 2.6.27 prints none of the new names."""
    a = anon(k61, p61, 2, synchronous=False)
    k61.mlock(p61, a, 2 * PAGE_SIZE)

    assert (2, 2, -1) == (procfs.vmstat_value(k61, "nr_mlock"),
                          procfs.vmstat_value(k61, "nr_unevictable"),
                          procfs.vmstat_value(k61, "nr_inactive"))
    assert (8, 8) == (procfs.meminfo_kb(k61, "Mlocked"), procfs.meminfo_kb(k61, "Unevictable"))
    assert procfs.meminfo_kb(k61, "Active") == (procfs.meminfo_kb(k61, "Active(anon)")
                                                + procfs.meminfo_kb(k61, "Active(file)"))
    assert 0 == procfs.vmstat_value(k61, "nr_isolated_anon")


def test_vmstat_names_of_2_6_27(k: Kernel) -> None:
    """2.6.27 prints nr_inactive, not the split names or nr_mlock."""
    assert (-1, -1) == (procfs.vmstat_value(k, "nr_mlock"),
                        procfs.vmstat_value(k, "nr_inactive_anon"))
    assert -1 == procfs.meminfo_kb(k, "Mlocked")
    assert procfs.vmstat_value(k, "nr_inactive") >= 0


@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
def test_read_fault_maps_the_cached_pages_of_its_block_in_6_1(profile: str) -> None:
    """A read fault on page 1 of a tmpfs file whose pages 0-5 and 17 are cached: 6.1's
    fault-around maps 0-5 (the 16-page block of the fault, cached pages only; 17 is in the
    next block); 2.6.27 maps page 1 alone."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile)
    p = k.spawn()
    f = k.create_file("/tmp/f", 20)
    for i in [*range(6), 17]:
        k.pwrite(p, f, i, b"x")
    a = k.mmap(p, 32 * PAGE_SIZE)  # find a 64 KiB aligned place for the file mapping
    k.munmap(p, a, 32 * PAGE_SIZE)
    aligned = (a + 16 * PAGE_SIZE - 1) & ~(16 * PAGE_SIZE - 1)
    m = k.mmap(p, 20 * PAGE_SIZE, flags=MAP_SHARED | MAP_FIXED, file=f, addr=aligned)

    k.read_user(p, m + PAGE_SIZE, 1)

    mapped = [i for i in range(20) if k.page_at(p, m + i * PAGE_SIZE) is not None]
    assert ([0, 1, 2, 3, 4, 5] if profile == "6.1" else [1]) == mapped


def test_read_fault_on_a_block_file_reads_around_and_skips_the_readahead_mark(
        k61: Kernel, p61: Task) -> None:
    """6.1: a read fault on page 20 of an uncached 40-page ext4 file reads pages 4-35
    (read-around), marks page 28 PG_readahead, and fault-around maps 16-31 but 28."""
    from pagemig.mm.page_flags import F_READAHEAD

    f = k61.create_blockfs_file("/blk/f", 40)
    for i in range(40):
        k61.pwrite(p61, f, i, b"y")
    k61.fsync(p61, f)
    k61.drop_caches()
    assert 0 == f.nrpages
    a = k61.mmap(p61, 64 * PAGE_SIZE)
    k61.munmap(p61, a, 64 * PAGE_SIZE)
    aligned = (a + 16 * PAGE_SIZE - 1) & ~(16 * PAGE_SIZE - 1)
    m = k61.mmap(p61, 40 * PAGE_SIZE, flags=MAP_SHARED | MAP_FIXED, file=f, addr=aligned)

    k61.read_user(p61, m + 20 * PAGE_SIZE, 1)

    assert list(range(4, 36)) == [i for i in range(40) if f.slot(i) >= 0]
    assert F_READAHEAD == int(k61.pages.flags[f.slot(28)]) & F_READAHEAD
    mapped = [i for i in range(40) if k61.page_at(p61, m + i * PAGE_SIZE) is not None]
    assert [i for i in range(16, 32) if i != 28] == mapped


def test_sequential_reads_grow_the_readahead_window(k61: Kernel, p61: Task) -> None:
    """6.1 read(2) of an uncached ext4 file: the read at 0 reads 4 pages and marks page 1;
    the read of page 1 hits the mark and reads the next 8 pages (4-11), marking page 4; a
    read far away (20) reads just that page."""
    from pagemig.mm.page_flags import F_READAHEAD

    f = k61.create_blockfs_file("/blk/f", 40)
    for i in range(40):
        k61.pwrite(p61, f, i, b"z")
    k61.fsync(p61, f)
    k61.drop_caches()

    k61.pread(p61, f, 0)
    assert (list(range(4)), F_READAHEAD) == ([i for i in range(40) if f.slot(i) >= 0],
                                             int(k61.pages.flags[f.slot(1)]) & F_READAHEAD)
    k61.pread(p61, f, 1)
    assert list(range(12)) == [i for i in range(40) if f.slot(i) >= 0]
    assert [4] == [i for i in range(12) if int(k61.pages.flags[f.slot(i)]) & F_READAHEAD]
    k61.pread(p61, f, 20)
    assert [*range(12), 20] == [i for i in range(40) if f.slot(i) >= 0]


def test_read_ahead_window_cut_at_the_end_of_the_file_has_no_mark(k61: Kernel,
                                                                   p61: Task) -> None:
    """6.1: a read-around window cut short by the end of the file marks no page when what
    is left is shorter than the look-ahead (4 pages of a 4-page file: window 0-31, 8 of
    them asynchronous, cut to 4: no PG_readahead)."""
    from pagemig.mm.page_flags import F_READAHEAD

    f = k61.create_blockfs_file("/blk/g", 4)
    a = k61.mmap(p61, 4 * PAGE_SIZE, flags=MAP_SHARED, file=f)

    k61.read_user(p61, a, 1)

    assert [0, 0, 0, 0] == [int(k61.pages.flags[f.slot(i)]) & F_READAHEAD for i in range(4)]
