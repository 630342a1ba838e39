"""Writes to /proc/sys/vm/drop_caches, through the API and through the procfs file.

Both ways in share fs/drop_caches.c's handler: 6.1 refuses anything but 1 to 4 with -EINVAL
and drops nothing; 2.6.27 takes any int and, for text that is not a number, acts on the
value written before.
"""

from __future__ import annotations

import errno

import pytest

from pagemig.fs.drop_caches import proc_int
from pagemig.kernel import Kernel, Topology
from pagemig.mm.swap import lru_add_drain_all

SMALL = Topology(nodes=2, mem_per_node_mb=64)

PAGE = 4096


def cached_clean_page(k: Kernel) -> tuple:
    """A file with one clean page in the page cache that nobody maps."""
    p = k.spawn()
    f = k.create_blockfs_file("/mnt/f", 1)
    k.pwrite(p, f, 0, b"kept")
    k.fsync(p, f)
    lru_add_drain_all(k)
    assert 0 <= f.slot(0)
    return p, f


@pytest.mark.parametrize("text, number", [
    ("1", 1), (" 3\n", 3), ("-1", -1), ("0x3", 3), ("010", 8), ("0", 0),
    ("2147483647", 2**31 - 1), ("2147483648", None), ("abc", None), ("1abc", None),
    ("", None), ("-", None), ("0x", None), ("0X1f", 31), ("0x1g", None), ("-010", -8),
    ("\u0661", None), ("09", None),
])
def test_the_value_is_read_as_a_c_int(text, number):
    """proc_dointvec's reading: blanks around, a sign, 0x hex, leading-0 octal, int range."""
    assert number == proc_int(text)


@pytest.mark.parametrize("value", ["0", "5", "-1", "abc", "1 2x", "99999999999"])
def test_61_refuses_values_outside_1_to_4_and_drops_nothing(value):
    """Through the API and through a write of the procfs file alike."""
    k = Kernel(SMALL, "6.1")
    p, f = cached_clean_page(k)
    assert -errno.EINVAL == k.write_drop_caches(value)
    assert -errno.EINVAL == k.write_file(p, "/proc/sys/vm/drop_caches", value)
    assert 0 <= f.slot(0)


@pytest.mark.parametrize("profile", ["2.6.27", "6.1"])
@pytest.mark.parametrize("value", ["1", "3", " 1\n"])
@pytest.mark.parametrize("procfs", [False, True])
def test_an_odd_value_drops_the_clean_page(profile, value, procfs):
    """Bit 1 set: the clean page nobody maps leaves the page cache."""
    k = Kernel(SMALL, profile)
    p, f = cached_clean_page(k)
    assert 0 == (k.write_file(p, "/proc/sys/vm/drop_caches", value) if procfs
                 else k.write_drop_caches(value))
    assert -1 == f.slot(0)


def test_2627_takes_any_int_and_a_bad_write_repeats_the_last_value():
    """2.6.27: 2 keeps the page cache; "abc" then succeeds and acts on 2 (nothing); after 5
    (bit 1 set) a later "abc" drops again, as the handler ignores the parse error."""
    k = Kernel(SMALL)
    p, f = cached_clean_page(k)
    assert 0 == k.write_drop_caches("2")
    assert 0 == k.write_drop_caches("abc")
    assert 0 <= f.slot(0)
    assert 0 == k.write_drop_caches("-7")  # no bounds: bit 1 of -7 is set
    assert -1 == f.slot(0)
    assert b"kept" == k.pread(p, f, 0)[:4]
    lru_add_drain_all(k)
    assert 0 == k.write_drop_caches("not a number")
    assert -1 == f.slot(0)
