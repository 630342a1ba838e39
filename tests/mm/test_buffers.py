"""Block-backed (ext2) page cache on the model: buffers, writeback and their migration paths.

Each test builds its state through the API (an ext2 file mapped MAP_SHARED by a probe-like
process, written through the mapping or with pwrite), migrates with move_pages(2), and
checks the outcome SPEC §2.14–§2.19 gives; the ``k`` fixture validates all invariants after.
"""

from __future__ import annotations

import dataclasses
import errno

from pagemig.kernel import Kernel
from pagemig.mm.buffer import BH_Dirty, page_buffers
from pagemig.mm.filemap import AddressSpace
from pagemig.mm.migrate import fail_migrate_page
from pagemig.mm.mm_types import PAGE_SIZE
from pagemig.mm.mmap import MAP_SHARED
from pagemig.mm.page_flags import F_DIRTY, F_PRIVATE, F_WRITEBACK
from pagemig.mm.swap import lru_add_drain_all
from pagemig.sched import Task


def ext2_file(k: Kernel, p: Task, npages: int = 4) -> tuple[AddressSpace, int]:
    """An ext2 file of ``npages`` pages mapped MAP_SHARED in ``p``."""
    f = k.create_blockfs_file("/blk/f", npages)
    addr = k.mmap(p, npages * PAGE_SIZE, flags=MAP_SHARED, file=f)
    return f, addr


def events(log: list, name: str) -> list[dict]:  # type: ignore[type-arg]
    """The fields of every trace event called ``name``."""
    return [fields for event, fields in log if event == name]


def test_page_with_buffers_moves_with_its_buffer_heads(k: Kernel, proc: Task) -> None:
    """A dirty page with buffers: count 3 after unmap (cache + buffers + isolation), so
    buffer_migrate_page() moves the ring: every buffer points at the new page at the same
    offset, PG_private and the ring's reference move, the dirty state moves (SPEC §2.14)."""
    f, addr = ext2_file(k, proc)
    k.pwrite(proc, f, 0, b"block data" * 100)
    k.read_user(proc, addr, 1)  # map it
    old = k.page_at(proc, addr)
    assert old is not None
    ring = page_buffers(k, old)
    offsets = [int(k.bh.b_offset[b]) for b in ring]

    ret, status = k.move_pages(proc, 0, [addr], [1])
    new = k.page_at(proc, addr)
    assert new is not None

    assert (0, [1]) == (ret, status)
    assert 1 == k.pfn_to_nid(new)
    assert ring == page_buffers(k, new)
    assert [new] * 4 == [int(k.bh.b_page[b]) for b in ring]
    assert offsets == [int(k.bh.b_offset[b]) for b in ring]
    assert (True, False) == (bool(k.pages.flags[new] & F_PRIVATE),
                             bool(k.pages.flags[old] & F_PRIVATE))
    lru_add_drain_all(k)  # the pagevec that move_to_lru() used holds a reference until then
    assert 3 == int(k.pages.count[new])  # cache slot + buffers + the pte
    assert bool(k.pages.flags[new] & F_DIRTY)
    assert b"block data" * 100 == k.read_user(proc, addr, 1000)


def test_extra_reference_breaks_the_count_3_rule(k: Kernel, proc: Task) -> None:
    """A pinned page with buffers has 4 references after unmap: -EAGAIN in all 10 passes."""
    f, addr = ext2_file(k, proc)
    k.pwrite(proc, f, 0, b"x")
    pins = k.pin(proc, addr, 1)

    ret, status = k.move_pages(proc, 0, [addr], [1])

    assert (1, [-errno.EAGAIN]) == (ret, status)
    assert 0 == k.pfn_to_nid(k.page_at(proc, addr))
    k.unpin(pins)


def without_migratepage(k: Kernel, f: AddressSpace) -> None:
    """Give ``f`` ext2's operations minus ->migratepage (the fallback path)."""
    f.a_ops = dataclasses.replace(k.ext2_aops, migratepage=None)


def test_dirty_page_without_migratepage_is_written_out_and_retried(k: Kernel, proc: Task) -> None:
    """Fallback on a dirty page: writeout() cleans it and starts writeback (-EAGAIN); passes
    1-2 skip it under writeback; pass 3 waits for the I/O, then releases the now clean
    buffers and migrates it (SPEC §2.15, §2.16, §2.20)."""
    f, addr = ext2_file(k, proc)
    without_migratepage(k, f)
    k.write_user(proc, addr, b"written through the mapping")
    log = k.start_trace()

    ret, status = k.move_pages(proc, 0, [addr], [1])

    results = [e["rc"] for e in events(log, "mm_migrate_result")]
    assert (0, [1]) == (ret, status)
    assert [-errno.EAGAIN] * 3 + [0] == results
    assert 1 == len(events(log, "mm_migrate_writeout"))
    assert ["page_writeback"] == [e["what"] for e in events(log, "sched_wait")]
    new = k.page_at(proc, addr)
    assert (1, False) == (k.pfn_to_nid(new), bool(k.pages.flags[new] & F_PRIVATE))
    assert b"written through the mapping" == bytes(f.disk[0, :27])
    assert b"written through the mapping" == k.read_user(proc, addr, 27)


def test_writepage_io_error_gives_eio_and_keeps_the_page(k: Kernel, proc: Task) -> None:
    """writepage() failing: writeout() returns -EIO without relocking (Q6), unmap_and_move()
    unlocks again (recorded as a double unlock), the page stays mapped on its node with its
    contents, and the failure is permanent: status -EIO, the call returns 1."""
    f, addr = ext2_file(k, proc)
    without_migratepage(k, f)
    f.io_error = True
    k.write_user(proc, addr, b"precious")
    old = k.page_at(proc, addr)

    ret, status = k.move_pages(proc, 0, [addr], [1])

    assert (1, [-errno.EIO]) == (ret, status)
    assert old == k.page_at(proc, addr)
    assert [old] == k.double_unlocks
    assert b"precious" == k.read_user(proc, addr, 8)
    assert bool(k.pages.flags[old] & F_DIRTY)


def test_writeback_is_skipped_in_passes_0_to_2_and_waited_for_from_pass_3(
        k: Kernel, proc: Task) -> None:
    """A page under writeback: not forced (passes 0-2) gives -EAGAIN, forced (pass 3) waits
    for the writeback to end, then buffer_migrate_page() moves it (SPEC §2.19 step 5)."""
    f, addr = ext2_file(k, proc)
    k.pwrite(proc, f, 0, b"under writeback")
    k.read_user(proc, addr, 1)
    k.hold_writeback = True
    k.start_writeback(proc, f)
    k.hold_writeback = False
    page = k.page_at(proc, addr)
    assert bool(k.pages.flags[page] & F_WRITEBACK)
    log = k.start_trace()

    ret, status = k.move_pages(proc, 0, [addr], [1])

    assert (0, [1]) == (ret, status)
    assert [-errno.EAGAIN] * 3 + [0] == [e["rc"] for e in events(log, "mm_migrate_result")]
    assert ["page_writeback"] == [e["what"] for e in events(log, "sched_wait")]
    assert b"under writeback" == bytes(f.disk[0, :15])


def test_fail_migrate_page_is_a_permanent_failure(k: Kernel, proc: Task) -> None:
    """A mapping whose method is fail_migrate_page: -EIO, the page stays (SPEC §2.12)."""
    f, addr = ext2_file(k, proc)
    f.a_ops = dataclasses.replace(k.ext2_aops, migratepage=fail_migrate_page)
    k.write_user(proc, addr, b"stays")

    ret, status = k.move_pages(proc, 0, [addr], [1])

    assert (1, [-errno.EIO]) == (ret, status)
    assert 0 == k.pfn_to_nid(k.page_at(proc, addr))


def test_fsync_writes_back_and_leaves_clean_buffers(k: Kernel, proc: Task) -> None:
    """fsync() writes every dirty page: clean afterwards, buffers attached and clean, data on
    disk; a clean page with buffers then migrates by buffer_migrate_page()."""
    f, addr = ext2_file(k, proc)
    k.write_user(proc, addr, b"synced")
    assert 0 == k.fsync(proc, f)
    page = k.page_at(proc, addr)

    assert (False, True) == (bool(k.pages.flags[page] & F_DIRTY),
                             bool(k.pages.flags[page] & F_PRIVATE))
    assert not any(int(k.bh.b_state[b]) & BH_Dirty for b in page_buffers(k, page))
    assert b"synced" == bytes(f.disk[0, :6])
    assert (0, [1]) == k.move_pages(proc, 0, [addr], [1])


def test_drop_caches_then_read_back_from_disk(k: Kernel, proc: Task) -> None:
    """After fsync and munmap, drop_caches empties the cache; reading again gets the data
    from disk in a page marked mapped-to-disk."""
    f, addr = ext2_file(k, proc)
    k.write_user(proc, addr, b"on disk")
    k.fsync(proc, f)
    k.munmap(proc, addr, 4 * PAGE_SIZE)
    lru_add_drain_all(k)

    assert 1 == k.drop_caches()
    assert -1 == f.slot(0)
    assert b"on disk" == k.pread(proc, f, 0)[:7]


def test_orphan_with_buffers_loses_them_then_is_freed_under_us(k: Kernel, proc: Task) -> None:
    """A page truncated while isolated, whose buffers stayed: unmap_and_move() finds no
    mapping, frees the buffers directly (-EAGAIN); the next pass finds only the isolation
    reference left and reports the page freed under us (SPEC §2.19 steps 2 and 7)."""
    from pagemig.mm import migrate
    from pagemig.mm.memcontrol import mem_cgroup_uncharge_cache_page
    from pagemig.mm.mm_types import PageList
    from pagemig.mm.mmzone import ZoneStat

    f, addr = ext2_file(k, proc)
    k.pwrite(proc, f, 2, b"orphan")
    k.fsync(proc, f)
    lru_add_drain_all(k)
    page = f.slot(2)
    pl = PageList(k.pages)
    assert 0 == migrate.isolate_lru_page(k, page, pl)
    # truncate_complete_page() minus the buffer release: out of the cache, mapping NULL.
    f.page_tree[2] = -1
    f.nrpages -= 1
    k.pages.mapping[page] = 0
    k.zone_stat[k.page_zone(page).id, ZoneStat.NR_FILE_PAGES] -= 1
    mem_cgroup_uncharge_cache_page(k, page)
    k.pages.count[page] -= 1
    pm = migrate.PageToNode(1)
    pm.page[0], pm.node[0] = page, 1
    log = k.start_trace()

    ret = k.run(migrate.migrate_pages(k, pl, migrate.new_page_node, pm))

    results = [(e["rc"], e["why"]) for e in events(log, "mm_migrate_result")]
    assert 0 == ret
    assert [(-errno.EAGAIN, "no mapping"), (0, "freed under us")] == results
    assert 1 == int(pm.status[0])
    lru_add_drain_all(k)
    assert 0 == int(k.pages.count[page])  # freed when putback's pagevec drains


def test_dirty_page_without_writepage_is_einval(k: Kernel, proc: Task) -> None:
    """Fallback on a dirty page of a mapping with neither ->migratepage nor ->writepage:
    writeout() returns -EINVAL, a permanent failure (SPEC §2.15 step 1, §4.1)."""
    f, addr = ext2_file(k, proc)
    f.a_ops = dataclasses.replace(k.ext2_aops, migratepage=None, writepage=None)
    k.write_user(proc, addr, b"cannot be written")

    ret, status = k.move_pages(proc, 0, [addr], [1])

    assert (1, [-errno.EINVAL]) == (ret, status)
    assert b"cannot be written" == k.read_user(proc, addr, 17)


def test_busy_buffers_cannot_be_released(k: Kernel, proc: Task) -> None:
    """Fallback on a clean page whose buffers are in use: try_to_release_page() fails, so
    -EAGAIN in every pass; the page and its buffers stay (SPEC §2.16 step 2)."""
    f, addr = ext2_file(k, proc)
    without_migratepage(k, f)
    k.pwrite(proc, f, 0, b"busy")
    k.fsync(proc, f)
    k.read_user(proc, addr, 1)
    page = k.page_at(proc, addr)
    head = page_buffers(k, page)[0]
    k.bh.b_count[head] += 1  # someone holds the buffer (get_bh())

    ret, status = k.move_pages(proc, 0, [addr], [1])

    assert (1, [-errno.EAGAIN]) == (ret, status)
    assert (page, True) == (k.page_at(proc, addr), bool(k.pages.flags[page] & F_PRIVATE))
    k.bh.b_count[head] -= 1
