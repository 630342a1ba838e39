"""Command-line strictness: option errors name the option and its range, exit status 2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pagemig.cli import run as run_module
from pagemig.cli.main import main
from pagemig.cli.run import model_bytes, physical_memory, read_lines
from pagemig.mm import physmem
from pagemig.mm.profiles import PROFILES
from pagemig.script.parse import MAX_LINE_BYTES, ScriptError


class Zeros(io.RawIOBase):
    """An endless stream of zero bytes, as /dev/zero; counts what was read."""

    def __init__(self) -> None:
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        b[:] = bytes(len(b))
        self.given += len(b)
        return len(b)


def test_endless_line_is_refused_after_the_limit() -> None:
    """An endless line (/dev/zero) is refused as line 1 after reading about one line's bytes."""
    raw = Zeros()
    with pytest.raises(ScriptError, match=rf"^z:1: line longer than {MAX_LINE_BYTES} bytes$"):
        read_lines(io.BufferedReader(raw), "z")
    assert True is (raw.given < 4 * (MAX_LINE_BYTES + 2) + 65536)


def test_dev_zero_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """pagemig run /dev/zero: one file:line: message, exit status 2."""
    assert 2 == main(["run", "/dev/zero"])
    assert f"/dev/zero:1: line longer than {MAX_LINE_BYTES} bytes\n" == capsys.readouterr().err


def test_longest_line_is_read() -> None:
    """A line of exactly MAX_LINE_BYTES bytes is kept; lines keep their order."""
    text = b"a" * MAX_LINE_BYTES + b"\nb\n"
    assert "a" * MAX_LINE_BYTES + "\nb\n" == read_lines(io.BytesIO(text), "t")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """pagemig --version prints the package version and exits 0."""
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert 0 == e.value.code
    assert capsys.readouterr().out.startswith("pagemig 0.")


def test_run_help_lists_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    """pagemig run --help lists every kernel profile."""
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for name in PROFILES:
        assert name in out


def test_run_unknown_profile_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --kernel is an argparse error naming the option and the choices."""
    with pytest.raises(SystemExit) as e:
        main(["run", "--kernel", "5.0", "x.scn"])
    assert 2 == e.value.code
    assert "argument --kernel: invalid choice: '5.0'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-5", "31", "1048577", "x"])
def test_demo_mem_per_node_out_of_range(capsys: pytest.CaptureFixture[str], value: str) -> None:
    """pagemig demo --mem-per-node outside 32..1048576 (1 TiB): exit 2 naming the option,
    no traceback."""
    with pytest.raises(SystemExit) as e:
        main(["demo", f"--mem-per-node={value}"])
    assert 2 == e.value.code
    err = capsys.readouterr().err
    assert "argument --mem-per-node:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("opts", "message"), [
    (["--mem-per-node", "5"], "invalid value for --mem-per-node: '5' (an integer from 128 to "
                              "1048576)"),
    (["--nodes", "9"], "invalid value for --nodes: '9' (an integer from 1 to 8)"),
    (["--cpus-per-node", "0"], "invalid value for --cpus-per-node: '0' (an integer from 1 to 4)"),
])
def test_run_option_names_option_and_range(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            opts: list[str], message: str) -> None:
    """A bad command-line option: 'pagemig run: ...' naming it and its range, exit 2."""
    path = tmp_path / "t.scn"
    path.write_text("map a anon 1\n")
    assert 2 == main(["run", *opts, str(path)])
    assert f"pagemig run: {message}\n" == capsys.readouterr().err


def test_script_option_names_option_and_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """#@ --swap 100000000: file:line: naming --swap and its range, exit 2."""
    path = tmp_path / "t.scn"
    path.write_text("map a anon 1\n#@ --swap 100000000\n")
    assert 2 == main(["run", "--kernel", "6.1", str(path)])
    assert (f"{path}:2: #@ options: invalid value for --swap: '100000000' (an integer from 0 "
            f"to 1048576)\n") == capsys.readouterr().err


def test_model_bytes() -> None:
    """What a model needs before it runs: 64 bytes of columns per page frame, 16 per swap
    slot (the frames' contents are reserved as they are written)."""
    assert 2 * 256 * 256 * 64 + 64 * 256 * 16 == model_bytes(2, 256, 64)


def test_model_bigger_than_the_machine_runs(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """2 x 32 GiB boots and runs a scenario that touches a few pages, whatever the host."""
    path = tmp_path / "t.scn"
    path.write_text("map a anon 4 touch=write\nmove pages=a nodes=1 flags=move\n")
    assert 0 == main(["run", "--mem-per-node", "32768", str(path)])
    out = capsys.readouterr().out
    assert '"op":"verify"' in out.replace(" ", "") and '"ok":true' in out.replace(" ", "")


@pytest.mark.skipif((physical_memory() or 0) > 120 * 2**30, reason="a machine with 128 GiB")
def test_model_bigger_than_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """8 nodes of 1 TiB: the frames' columns alone do not fit: a clear error, exit 2."""
    path = tmp_path / "t.scn"
    path.write_text("map a anon 1\n")
    assert 2 == main(["run", "--nodes", "8", "--mem-per-node", "1048576", str(path)])
    err = capsys.readouterr().err
    assert err.startswith("pagemig run: --mem-per-node 1048576: the model would need about "
                          "128.0 GiB of this machine's memory")
    assert "for the page frames' columns alone" in err
    path.write_text("#@ --nodes 8\n#@ --mem-per-node 1048576\nmap a anon 1\n")
    assert 2 == main(["run", str(path)])
    assert capsys.readouterr().err.startswith(f"{path}:2: 8 nodes of 1048576 MB: the model would")


def test_model_bigger_than_machine_is_refused_before_booting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A model bigger than this machine's memory is refused from /proc/meminfo's MemTotal
    before any array is made: exit 2 naming the option, whatever the machine."""
    monkeypatch.setattr(run_module, "physical_memory", lambda: 2**30)
    monkeypatch.setattr(run_module, "ModelBackend", _must_not_boot)
    path = tmp_path / "t.scn"
    path.write_text("map a anon 1\n")
    assert 2 == main(["run", "--mem-per-node", "65536", str(path)])
    assert capsys.readouterr().err.startswith(
        "pagemig run: --mem-per-node 65536: the model would need about 2.0 GiB of this "
        "machine's memory, which has 1.0 GiB")
    path.write_text("map a anon 1\n#@ --swap 1048576 --swap-dev disk\n")
    assert 2 == main(["run", str(path)])
    assert capsys.readouterr().err.startswith(f"{path}:2: 2 nodes of 1024 MB, 1048576 MB of "
                                              "swap: the model would need about")


def test_memory_error_while_booting_is_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """When the machine's memory is unknown and numpy cannot make the page arrays
    (MemoryError), the run ends with exit 2 and one file:line: message, no traceback."""
    monkeypatch.setattr(run_module, "physical_memory", lambda: None)
    monkeypatch.setattr(physmem.FrameStore, "__init__", _no_memory)
    path = tmp_path / "t.scn"
    path.write_text("#@ --mem-per-node 4096\nmap a anon 1\n")
    assert 2 == main(["run", str(path)])
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:1: 2 nodes of 4096 MB: the model would need about 0.1 GiB")
    assert 1 == err.count("\n")
    assert "Traceback" not in err


def _must_not_boot(*args: object, **kwargs: object) -> None:
    raise AssertionError("the model was booted")


def _no_memory(self: object, nr_pages: int) -> None:
    raise MemoryError


def test_read_fault_out_of_memory_is_reported_as_oom(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A read fault that finds no memory (2.6.27 allocates on a read of anonymous memory)
    ends as an OOM kill, not as SIGSEGV: exit 2 with file:line."""
    script = tmp_path / "oom.scn"
    script.write_text("#@ --mem-per-node 128\nmap a anon 40000 node=1 touch=read\n")
    assert 2 == main(["run", str(script)])
    err = capsys.readouterr().err
    assert f"{script}:2: out of memory at " in err
    assert "OOM-killed" in err and "SIGSEGV" not in err
