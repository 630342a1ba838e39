"""Scenario actions whose answer depends on the kernel profile: the vmsplice pipe limit,
the storage options (--swap-dev, --blockfs), pageout/swapin and pageflags under 6.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pagemig.cli.main import main

Objs = list[dict[str, Any]]


def run_text(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str,
             *opts: str) -> tuple[int, Objs, str]:
    """Write ``text`` as t.scn, run it with ``opts``: (exit status, objects, stderr)."""
    path = tmp_path / "t.scn"
    path.write_text(text)
    rc = main(["run", *opts, str(path)])
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def by_line(objs: Objs, op: str) -> dict[int, dict[str, Any]]:
    """The parent's objects of ``op`` by scenario line."""
    return {o["line"]: o for o in objs if o["op"] == op and o["who"] == "parent"}


def test_vmsplice_of_17_pages_would_block_in_2_6_27(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    """A 2.6.27 pipe holds 16 pages (F_SETPIPE_SZ does not exist): the 17th would block."""
    rc, _, err = run_text(capsys, tmp_path, "map a anon 17 touch=write\nvmsplice a\n")

    assert 2 == rc
    assert "t.scn:2: vmsplice of 17 pages would block" in err


def test_vmsplice_of_256_pages_fits_a_resized_pipe_in_6_1(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """6.1: the probe's pipe is resized to 1 MiB, 256 pages; a 257th would block."""
    rc, objs, _ = run_text(capsys, tmp_path, "map a anon 257 touch=write\nvmsplice a[0:256]\n"
                           "unsplice\nvmsplice a\n", "--kernel", "6.1")

    assert 2 == rc
    assert (0, 256 * 4096) == (by_line(objs, "vmsplice")[2]["ret"],
                               by_line(objs, "vmsplice")[2]["bytes"])


def test_zram_and_ext4_are_refused_in_2_6_27(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    """--swap-dev zram and --blockfs ext4 do not exist in 2.6.27 (exit 2, the #@ line)."""
    rc, _, err = run_text(capsys, tmp_path, "#@ --swap 8\nmap a anon 1\n")
    assert (2, True) == (rc, "t.scn:1: --swap-dev zram: not in Linux 2.6.27" in err)
    rc, _, err = run_text(capsys, tmp_path, "#@ --blockfs ext4\nmap a anon 1\n")
    assert (2, True) == (rc, "t.scn:1: --blockfs ext4: not in Linux 2.6.27" in err)


def test_pageout_swapin_and_pageflags_in_6_1(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    """6.1 with zram: pageout swaps both pages out (swap ptes, no page flags), a swap-in
    maps a fresh exclusive page; 2.6.27 refuses MADV_PAGEOUT with EINVAL."""
    text = ("#@ --swap 8\nmap a anon 2 touch=write\npageout a\npageflags a\n"
            "swapin a[0]\npageflags a\n")
    rc, objs, _ = run_text(capsys, tmp_path, text, "--kernel", "6.1")

    assert 0 == rc
    out = by_line(objs, "pageout")[3]
    assert (0, 2, 0, ["swap", "swap"]) == (out["ret"], out["swapped"], out["present"],
                                           out["pte"])
    assert ["-", "-"] == by_line(objs, "pageflags")[4]["page_flags"]
    flags = by_line(objs, "pageflags")[6]
    assert (["present", "swap"], [1, -1]) == (flags["pte"], flags["mapcount"])
    assert "mmap,anon,swapbacked,exclusive" == flags["page_flags"][0]

    rc, objs, _ = run_text(capsys, tmp_path, "#@ --swap 8 --swap-dev disk\n"
                           "map a anon 1 touch=write\npageout a\n")
    assert ("EINVAL", 1) == (by_line(objs, "pageout")[3]["err"],
                             by_line(objs, "pageout")[3]["present"])


def test_sysfs_paths_of_6_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """6.1 has node/has_memory and transparent_hugepage/enabled (a write of a mode shows in
    brackets, an unknown mode is EINVAL); 2.6.27 has neither (ENOENT)."""
    text = ("read /sys/devices/system/node/has_memory\n"
            "write /sys/kernel/mm/transparent_hugepage/enabled always\n"
            "write /sys/kernel/mm/transparent_hugepage/enabled sometimes\n")
    rc, objs, _ = run_text(capsys, tmp_path, text, "--kernel", "6.1")
    assert 0 == rc
    assert "0-1" == by_line(objs, "read")[1]["content"]  # the probe strips the newline
    writes = by_line(objs, "write")
    assert ("OK", "[always] madvise never") == (writes[2]["err"], writes[2]["readback"])
    assert ("EINVAL", "[always] madvise never") == (writes[3]["err"], writes[3]["readback"])

    rc, objs, _ = run_text(capsys, tmp_path, text)
    assert "No such file or directory" == by_line(objs, "read")[1]["err"]
    assert ["ENOENT", "ENOENT"] == [by_line(objs, "write")[n]["err"] for n in (2, 3)]
