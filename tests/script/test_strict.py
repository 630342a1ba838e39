"""The scenario language is strict: each mistake is one ``file:line: message`` and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from pagemig.cli.main import main


def run_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
            *opts: str) -> tuple[int, str]:
    """Run ``pagemig run [opts] t.scn`` in this process: (exit status, stderr)."""
    path = tmp_path / "t.scn"
    path.write_text(text)
    rc = main(["run", *opts, str(path)])
    return rc, capsys.readouterr().err


REFUSED = [
    ("map a anon 4\nmprotect a rwx\n", 2, "mprotect: 'rwx' is not one of none|r|rw"),
    ("map a anon 4\nmove pages=a flags=move flags=all nodes=1\n", 2,
     "option 'flags' given twice"),
    ("map a anon 4\nmove pages=a flgas=all nodes=1\n", 2, "unknown option 'flgas' for move"),
    ("map a anon 4 write\n", 1, "unexpected argument 'write' for map"),
    ("map a anon 4\nmap a anon 4\n", 2, "map: a mapping named 'a' exists already"),
    ("fork c\nfork c\n", 2, "fork: a child named 'c' exists already"),
    ("fork c mode=dead\nfork c\n", 2, "fork: a child named 'c' exists already"),
    ("fork c\nkill c\nkill c\n", 3, "kill: child 'c' was reaped already"),
    ("droppriv uid=-1\n", 1, "droppriv: uid=-1: must be between 0 and 4294967294"),
    ("droppriv gid=4294967295\n", 1, "droppriv: gid=4294967295: must be between"),
    ("droppriv uid=4294967296\n", 1, "droppriv: uid=4294967296: must be between"),
    ("fork c mode=zombie\n", 1, "fork: mode=zombie: not one of live|exit|dead"),
    ("map a anon 4\npageout a wait=7\n", 2, "pageout: wait=7: not one of 0|1"),
    ("map a anon 4 touch=wrtie\n", 1, "map: touch=wrtie: not one of write|read"),
    ("map a anon 4 node=1 policy=bnid\n", 1, "policy=bnid: not one of bind|preferred|interleave"),
    ("map a anon 4\nmbind a mode=strict nodes=1\n", 2, "mbind: mode=strict: not one of"),
    ("map a anon 4\ntouch a wirte\n", 2, "touch: 'wirte' is not one of write|read"),
    ("map a anon 4\nmsync a flush\n", 2, "msync: 'flush' is not one of sync|async|invalidate"),
    ("drop_caches 4\n", 1, "drop_caches: '4' is not one of 1|2|3"),
    ("dropcap sys_admin\n", 1, "dropcap: 'sys_admin' is not one of sys_nice|sys_ptrace"),
    ("pin some\n", 1, "pin: 'some' is not one of all"),
    ("map a anon 4 same=2\n", 1, "map: same=2: not one of 0|1"),
    ("map a anon 67108864\nquery a\n", 2, "too many items"),
]


@pytest.mark.parametrize(("text", "line", "message"), REFUSED)
def test_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int,
                 message: str) -> None:
    """Each mistake ends the run with exit status 2 and one file:line: message on stderr."""
    rc, err = run_cli(tmp_path, capsys, text)
    assert 2 == rc
    assert [f"{tmp_path / 't.scn'}:{line}: "] == [err[:len(str(tmp_path / 't.scn')) + 3
                                                      + len(str(line))]]
    assert message in err
    assert 1 == err.count("\n")


ACCEPTED = [
    "map a anon 4\nmprotect a none\nmprotect a r\nmprotect a rw\nmprotect a\n",
    "map a anon 4 same=0 touch=write\nmap b anon 4 same=1 touch=write\n",
    "map a anon 4 same=0x1 touch=write\n",
    "fork c\nkill c\nfork d mode=exit\nkill d\n",
    "droppriv uid=0 gid=0\n",
    "droppriv uid=4294967294 gid=65534\n",
    "map a anon 4 touch=write\nmunmap a\nquery a\n",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    """The valid forms next to each refusal still run cleanly."""
    rc, err = run_cli(tmp_path, capsys, text)
    assert "" == err
    assert 0 == rc


def test_pageout_wait_switch_on_61(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pageout wait=0 and wait=1 both run on 6.1 (the switch the probe reads)."""
    rc, err = run_cli(tmp_path, capsys, "#@ --swap 16\nmap a anon 4 touch=write\n"
                      "pageout a wait=0\npageout a wait=1\n", "--kernel", "6.1")
    assert "" == err
    assert 0 == rc
