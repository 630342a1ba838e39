"""Page contents (mm/physmem.py): the bytes store reserves host memory as frames are
written and stops at its budget with a clear error, leaving the machine consistent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pagemig.cli.main import main
from pagemig.kernel import Kernel, Topology
from pagemig.mm.physmem import FrameStore, HostMemoryExhausted
from pagemig.validate import validate

SMALL = Topology(nodes=2, mem_per_node_mb=64)


def test_model_bigger_than_its_budget_boots() -> None:
    """2 x 1 GiB with 4 MiB of host memory boots: only the boot's own pages are written."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=1024), host_memory_mb=4)

    assert (1024, 2 * 1024 * 256) == (k.frames.budget_frames, len(k.frames.data))
    assert k.frames.frames_held < 1024
    validate(k)


def test_store_past_the_budget_raises_and_leaves_the_machine_valid() -> None:
    """Stores stop at the budget: the page that would go past it is mapped, not written."""
    k = Kernel(SMALL, host_memory_mb=4)
    p = k.spawn("p")
    room = k.frames.budget_frames - k.frames.frames_held
    a = k.mmap(p, 2 * room * 4096)
    for i in range(room):
        k.write_user(p, a + i * 4096, b"x")

    with pytest.raises(HostMemoryExhausted, match=r"would need 1025 frames \(4.0 MiB\) of "
                       r"this host's memory and it has room for 1024 \(4.0 MiB"):
        k.write_user(p, a + room * 4096, b"y")
    assert k.frames.frames_held == 1024
    assert b"\0" == k.read_user(p, a + room * 4096, 1)  # faulted in, not written
    validate(k)


def test_zeros_need_no_host_memory() -> None:
    """Writing zeros to an unwritten frame, or zeroing a written one, takes nothing."""
    k = Kernel(SMALL)
    p = k.spawn("p")
    a = k.mmap(p, 2 * 4096)
    held = k.frames.frames_held
    k.write_user(p, a, bytes(4096))
    assert held == k.frames.frames_held
    k.write_user(p, a + 4096, b"z")
    assert held + 1 == k.frames.frames_held
    validate(k)


def test_clear_highpage_gives_the_memory_back() -> None:
    """Zeroing a written frame (a freed page allocated again) releases its host memory."""
    f = FrameStore(4)
    f.write(3, 100, b"data")
    assert (1, True) == (f.frames_held, f.is_held(3))
    f.zero(3)
    assert (0, False, bytes(4096)) == (f.frames_held, f.is_held(3), f.read(3, 0, 4096))


def test_copy_of_an_unwritten_frame_releases_the_target() -> None:
    """copy_highpage() of a never-written frame leaves the target zero and unheld."""
    f = FrameStore(4)
    f.write(1, 0, b"data")
    f.copy(2, 1)
    assert (2, b"data") == (f.frames_held, f.read(2, 0, 4))
    f.copy(2, 0)
    assert (1, bytes(8)) == (f.frames_held, f.read(2, 0, 8))


def test_kernel_copies_use_the_slack() -> None:
    """A migration's copies may go past the budget, up to the slack, and no further."""
    f = FrameStore(64)
    f.set_budget(4 * 4096)  # slack: 16 frames
    for pfn in range(4):
        f.write(pfn, 0, b"u", user=True)
    with pytest.raises(HostMemoryExhausted):
        f.write(4, 0, b"u", user=True)
    for pfn in range(16):
        f.copy(4 + pfn, pfn % 4)
    with pytest.raises(HostMemoryExhausted):
        f.copy(20, 0)
    assert 20 == f.frames_held
    assert np.array_equal(f.data[19], f.data[3])


def test_host_memory_must_be_a_size() -> None:
    """host_memory_mb is an int of 0 or more (TypeError, ValueError)."""
    with pytest.raises(ValueError, match="host_memory_mb"):
        Kernel(SMALL, host_memory_mb=-1)
    with pytest.raises(TypeError, match="host_memory_mb"):
        Kernel(SMALL, host_memory_mb="1")


def test_cli_store_past_the_budget_is_file_line_exit_2(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """pagemig run --host-memory 4: the touch that needs more is file:line, exit 2."""
    path = tmp_path / "big.scn"
    path.write_text("map a anon 100 touch=write\nmap b anon 2000\ntouch b write\n")
    assert 2 == main(["run", "--host-memory", "4", str(path)])
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:3: host memory exhausted: the pages the model has written "
                          "would need 1025 frames")
    assert "Traceback" not in err and err.count("\n") == 1


def test_cli_refuses_a_negative_host_memory(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """--host-memory -1: one line naming the option, exit 2."""
    path = tmp_path / "t.scn"
    path.write_text("map a anon 1\n")
    assert 2 == main(["run", "--host-memory", "-1", str(path)])
    assert "pagemig run: --host-memory -1: must be 0 or more (MB)\n" == capsys.readouterr().err
