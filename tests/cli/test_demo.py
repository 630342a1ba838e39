"""``pagemig demo``: the walk-through runs and explains each status it shows."""

from __future__ import annotations

import pytest

from pagemig.cli.main import main
from pagemig.cli.run import physical_memory


def test_demo_explains_each_status(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's one call returns 2 (the pinned pages) and gives a reason per status."""
    assert 0 == main(["demo", "--mem-per-node", "128"])
    out = capsys.readouterr().out

    assert "returned 2 (2 pages not migrated)" in out
    assert 4 == out.count("copied to node 1, remapped") - 2  # priv (4) and shm (2)
    assert 2 == out.count("EACCES   mapped by 2 processes")
    assert 2 == out.count("in all 10 passes")
    assert 1 == out.count("dirty ext2 page with buffers")
    assert 1 == out.count("clean ext2 page with buffers")
    assert "contents verified: 12 pages, 0 mismatches" in out
    assert "#@ --blockfs ext2" in out


def test_demo_under_61_shows_the_unwritten_batch(capsys: pytest.CaptureFixture[str]) -> None:
    """Under 6.1 the same call moves the run shm..blk as one batch; two pinned pages fail
    it, so it returns 2 and leaves the six statuses of that run unwritten (explained)."""
    assert 0 == main(["demo", "--mem-per-node", "128", "--kernel", "6.1"])
    out = capsys.readouterr().out

    assert "returned 2 (2 pages not migrated)" in out
    assert 6 == out.count("UNSET   not written: Linux 6.1")
    assert 4 == out.count("copied to node 1, remapped")
    assert "contents verified: 12 pages, 0 mismatches" in out


def test_demo_refuses_an_unknown_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown profile is a usage error (exit 2), not a traceback."""
    with pytest.raises(SystemExit) as e:
        main(["demo", "--kernel", "5.4"])
    assert 2 == e.value.code
    assert "invalid choice" in capsys.readouterr().err


def test_demo_on_nodes_bigger_than_the_host(capsys: pytest.CaptureFixture[str]) -> None:
    """2 x 32 GiB: page contents are reserved as they are written, so the demo runs."""
    assert 0 == main(["demo", "--mem-per-node", "32768"])
    assert "contents verified: 12 pages, 0 mismatches" in capsys.readouterr().out


@pytest.mark.skipif((physical_memory() or 0) > 30 * 2**30, reason="a machine with 32 GiB")
def test_demo_refuses_nodes_whose_columns_do_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    """2 x 1 TiB: the frames' columns alone need 32 GiB: one line, exit 2."""
    assert 2 == main(["demo", "--mem-per-node", "1048576"])
    err = capsys.readouterr().err
    assert err.startswith("pagemig demo: --mem-per-node 1048576: the model would need about "
                          "32.0 GiB") and err.count("\n") == 1
