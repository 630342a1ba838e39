"""The swap cache on the model (reached through the API: 2.6.27 has no MADV_PAGEOUT).

SPEC §1.10, §2.18, Q11, Q12, §5.12: a swap-cache anonymous page is unmapped to real swap
entries, not migration entries, so after migration the new page is in the swap cache and
unmapped until the next fault; the slot counts stay balanced throughout.
"""

from __future__ import annotations

import errno

import pytest

from pagemig.kernel import Kernel, Topology
from pagemig.mm import migrate
from pagemig.mm.mm_types import PAGE_SIZE, PageList
from pagemig.mm.page_flags import F_REFERENCED, F_SWAPCACHE
from pagemig.mm.swap import lru_add_drain_all
from pagemig.mm.swapops import is_migration_entry, is_swap_pte, pte_to_swp_entry, swp_offset
from pagemig.sched import Task
from pagemig.validate import validate


def setup(k: Kernel, p: Task, npages: int = 4) -> int:
    """A swap area and ``npages`` written private anonymous pages; their address."""
    k.swapon(64)
    a = k.mmap(p, npages * PAGE_SIZE)
    for i in range(npages):
        k.write_user(p, a + i * PAGE_SIZE, b"page %d" % i)
    return a


def test_swapped_out_page_reads_back_through_a_new_page(k: Kernel, proc: Task) -> None:
    """Swap-out leaves a swap pte (query: -ENOENT); the next access reads the slot back."""
    a = setup(k, proc)
    entry = k.swap_out(proc, a)
    pte = proc.mm.get_pte(a)  # type: ignore[union-attr]

    assert is_swap_pte(pte) and not is_migration_entry(pte_to_swp_entry(pte))
    assert (0, [-errno.ENOENT]) == k.move_pages(proc, 0, [a], None)
    assert 1 == int(k.swap_info.swap_map[swp_offset(entry)])
    validate(k)
    assert b"page 0" == k.read_user(proc, a, 6)
    assert k.page_at(proc, a) is not None


def test_mapped_swap_cache_page_migrates_and_keeps_swap_ptes(k: Kernel, proc: Task) -> None:
    """A mapped swap-cache page: try_to_unmap() installs its swap entry (count 2 -> move);
    the new page takes PG_swapcache and the entry, and stays unmapped (Q11): the pte is
    still the swap entry, the address queries -ENOENT, and the next fault maps the new page
    from the swap cache, on node 1, with the data."""
    a = setup(k, proc)
    entry = k.swap_out(proc, a + PAGE_SIZE, keep_in_cache=True)
    k.read_user(proc, a + PAGE_SIZE, 1)  # swap-in from the cache: mapped and in the cache
    old = k.page_at(proc, a + PAGE_SIZE)
    assert old is not None and bool(k.pages.flags[old] & F_SWAPCACHE)

    ret, status = k.move_pages(proc, 0, [a + PAGE_SIZE], [1])

    new = k.swapper_space.slot(swp_offset(entry))
    assert (0, [1]) == (ret, status)
    assert (1, entry) == (k.pfn_to_nid(new), int(k.pages.private[new]))
    assert bool(k.pages.flags[new] & F_SWAPCACHE)
    assert 0 == int(k.pages.mapcount[new])
    assert is_swap_pte(proc.mm.get_pte(a + PAGE_SIZE))  # type: ignore[union-attr]
    assert 0 == int(k.pages.memcg[new])  # end_migration uncharged the unmapped new page
    validate(k)
    assert b"page 1" == k.read_user(proc, a + PAGE_SIZE, 6)
    assert new == k.page_at(proc, a + PAGE_SIZE)


def test_unmapped_swap_cache_page_is_not_found_by_move_pages(k: Kernel, proc: Task) -> None:
    """A swap-cache page whose ptes are swap entries is invisible to move_pages (-ENOENT)."""
    a = setup(k, proc)
    k.swap_out(proc, a, keep_in_cache=True)

    assert (0, [-errno.ENOENT, 1]) == k.move_pages(proc, 0, [a, a + PAGE_SIZE], [1, 1])


def test_swap_cache_page_without_rmap_never_migrates(k: Kernel, proc: Task) -> None:
    """A page in the swap cache with no mapping yet (read ahead, never mapped): every pass
    finds ``mapping`` NULL and gives -EAGAIN (Q12); the call reports 1 not migrated."""
    a = setup(k, proc)
    entry = k.swap_out(proc, a, keep_in_cache=True)
    page = k.swapper_space.slot(swp_offset(entry))
    k.pages.mapping[page] = 0  # as read_swap_cache_async() leaves a page before any fault
    lru_add_drain_all(k)
    pl = PageList(k.pages)
    assert 0 == migrate.isolate_lru_page(k, page, pl)
    pm = migrate.PageToNode(1)
    pm.page[0], pm.node[0] = page, 1

    ret = k.run(migrate.migrate_pages(k, pl, migrate.new_page_node, pm))

    assert (1, -errno.EAGAIN) == (ret, int(pm.status[0]))
    assert page == k.swapper_space.slot(swp_offset(entry))
    k.pages.mapping[page] = int(k.pages.mapping[page])  # unchanged, for the record
    validate(k)


def test_fork_duplicates_swap_entries_and_exit_frees_them(k: Kernel, proc: Task) -> None:
    """fork() copies a swap pte (slot count +1); exit of both drops the slot to free."""
    a = setup(k, proc)
    entry = k.swap_out(proc, a)
    child = k.fork(proc)
    off = swp_offset(entry)

    assert 2 == int(k.swap_info.swap_map[off])
    validate(k)
    k.exit(child)
    k.reap(child)
    assert 1 == int(k.swap_info.swap_map[off])
    assert b"page 0" == k.read_user(proc, a, 6)


def test_write_after_swapin_reuses_the_swap_cache_page(k: Kernel, proc: Task) -> None:
    """2.6.27 do_wp_page(): a swap-cache page mapped once with no other swap pte passes
    can_share_swap_page(), so a write after a read swap-in writes it in place: the page
    migrated to node 1 stays there (and in the swap cache), no copy on the policy node."""
    a = setup(k, proc)
    k.swap_out(proc, a, keep_in_cache=True)
    k.read_user(proc, a, 1)  # mapped from the swap cache
    assert (0, [1]) == k.move_pages(proc, 0, [a], [1])
    k.read_user(proc, a, 1)  # the new page, still in the cache, is mapped again (read-only)
    page = k.page_at(proc, a)
    assert page is not None and 1 == k.pfn_to_nid(page)

    k.write_user(proc, a, b"PAGE 0")

    assert page == k.page_at(proc, a)
    assert (1, True) == (k.pfn_to_nid(page), bool(k.pages.flags[page] & F_SWAPCACHE))
    assert b"PAGE 0" == k.read_user(proc, a, 6)


def test_write_copies_a_swap_cache_page_whose_slot_is_shared(k: Kernel, proc: Task) -> None:
    """2.6.27: after fork the slot has a second swap pte (the child's), so
    can_share_swap_page() fails and the parent's write copies the page."""
    a = setup(k, proc)
    k.swap_out(proc, a, keep_in_cache=True)
    child = k.fork(proc)
    k.read_user(proc, a, 1)
    page = k.page_at(proc, a)

    k.write_user(proc, a, b"PAGE 0")

    assert page != k.page_at(proc, a)
    assert b"page 0" == k.read_user(child, a, 6)


def test_swapin_marks_the_page_referenced_in_2_6_27(k: Kernel, proc: Task) -> None:
    """2.6.27 do_swap_page() calls mark_page_accessed(): the page gets PG_referenced."""
    a = setup(k, proc)
    k.swap_out(proc, a)

    k.read_user(proc, a, 1)

    page = k.page_at(proc, a)
    assert page is not None and bool(k.pages.flags[page] & F_REFERENCED)


@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
def test_exit_frees_an_unmapped_swap_cache_page_after_unlocking_it(profile: str) -> None:
    """fork, swap out, the parent swaps in and copies on write: the old page stays in the
    swap cache, unmapped, for the child's swap pte.  The child's exit drops the last pte:
    free_swap_and_cache() takes the page out of the cache under its lock and the lookup's
    reference, dropped after the unlock, frees it (no page freed while locked)."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64), profile)
    p = k.spawn()
    a = setup(k, p, 1)
    child = k.fork(p)
    entry = k.swap_out(p, a, keep_in_cache=True)
    k.read_user(p, a, 1)
    old = k.page_at(p, a)
    k.write_user(p, a, b"PAGE 0")
    assert old != k.page_at(p, a)
    assert old == k.swapper_space.slot(swp_offset(entry))

    k.exit(child)
    k.reap(child)

    assert (-1, 0) == (k.swapper_space.slot(swp_offset(entry)), int(k.pages.count[old]))
    assert 0 == int(k.swap_info.swap_map[swp_offset(entry)])
    validate(k)
