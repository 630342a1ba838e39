"""A script fuzzer: mutated oracle cases through ``pagemig run``, in this process.

The rule: a clean run (exit 0, nothing on stderr) or exit 2 with one ``file:line: message``
line on stderr; any exception fails, and so does a run over its time budget.  The CI run
is small (FUZZ_CI scripts); ``pytest -m fuzz`` runs PAGEMIG_FUZZ_N scripts (default 2000)
with the seed PAGEMIG_FUZZ_SEED.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from pagemig.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "examples" / "oracle-6.1" / "cases").glob("*.txt")) + sorted(
    (ROOT / "examples" / "oracle-2.6.27").glob("*.txt"))
PROFILES = ("2.6.27", "6.1")
FUZZ_CI = 60
BUDGET_S = 20  # one run; the inputs are kept small so a run takes well under a second

HUGE = ["0", "-1", "-4096", "4096", "65536", "2147483647", "2147483648", "4294967295",
        "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "18446744073709551615", "18446744073709551616", "99999999999999999999999", "0x",
        "0x7fffffffffffffff", "0xffffffffffffffff", "08", "1e9", "1.5", "nan", "-0"]
ODD = ["\u00e9", "\u200b", "\ufeff", "\u0000", "\x7f", "\ud7ff", "\U0001f600", "\u202e",
       "\u00a0", "\u3000", "\u0660", "\uff11", "\r", "\v", "\f", "=", "@", "#", "[", "]",
       ":", ",", "*", "+", "[0:", "[-1]", "a[1:0]", "@@", "#@", "#!"]


def mutate(text: str, rng: random.Random) -> str:
    """One to four random mutations of a scenario's text."""
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(11)
        i = rng.randrange(len(lines))
        toks = lines[i].split(" ")
        if kind == 0 and len(toks) > 1:  # delete a token
            del toks[rng.randrange(len(toks))]
        elif kind == 1:  # duplicate a token
            j = rng.randrange(len(toks))
            toks.insert(j, toks[j])
        elif kind == 2 and len(toks) > 1:  # swap two tokens
            j, k = rng.randrange(len(toks)), rng.randrange(len(toks))
            toks[j], toks[k] = toks[k], toks[j]
        elif kind == 3:  # a number becomes huge, negative or odd
            nums = [j for j, t in enumerate(toks) if re.search(r"\d", t)]
            if nums:
                j = rng.choice(nums)
                toks[j] = re.sub(r"-?\d+", lambda _: rng.choice(HUGE), toks[j], count=1)
        elif kind == 4:  # odd Unicode or punctuation inside a token
            j = rng.randrange(len(toks))
            p = rng.randrange(len(toks[j]) + 1)
            toks[j] = toks[j][:p] + rng.choice(ODD) + toks[j][p:]
        elif kind == 5:  # binary garbage
            junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
            toks.append(junk.decode("latin-1"))
        elif kind == 6:  # a very long line
            toks.append("x" * rng.choice([100, 8000, 8190, 8191, 20000]))
        elif kind == 7:  # many lines (comments and blank lines keep the run short)
            lines[i:i] = [rng.choice(["", "# c", "   ", "note n"])] * rng.choice([10, 1000,
                                                                               20000])
            continue
        elif kind == 8:  # duplicate a whole line
            lines.insert(i, lines[i])
            continue
        elif kind == 9:  # delete a line
            del lines[i]
            if not lines:
                lines = [""]
            continue
        else:  # move a line
            lines.insert(rng.randrange(len(lines)), lines.pop(i))
            continue
        lines[i] = " ".join(toks)
    return "\n".join(lines)


class Hang(Exception):
    """A run took longer than its budget."""


@contextlib.contextmanager
def budget(seconds: int) -> Iterator[None]:
    """Raise Hang in the run if it uses more than `seconds` of this process's CPU time.

    CPU time, not wall time: a run on a machine busy with other work is slower by the
    clock but not by its own work, and only a run that keeps working is a hang."""
    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"over {seconds} s of CPU time")
    old = signal.signal(signal.SIGPROF, alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def run_one(path: Path, text: str, kernel: str) -> tuple[int, str]:
    """Write `text` to `path`, run it: (exit status, stderr)."""
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), budget(BUDGET_S):
        rc = main(["run", "--kernel", kernel, "--mem-per-node", "128", str(path)])
    return rc, err.getvalue()


def check(path: Path, text: str, kernel: str) -> int:
    """The fuzzer's rule for one script; its exit status."""
    rc, err = run_one(path, text, kernel)
    if rc == 0:
        assert "" == err, text
    else:
        assert 2 == rc, (text, err)
        assert re.fullmatch(rf"{re.escape(str(path))}:\d+: [^\n]+\n", err) is not None, (
            text, err)
    return rc


def fuzz(tmp_path: Path, n: int, seed: int, keep_going: bool = False) -> Counter[str]:
    """Run `n` mutated scripts (both profiles in turn): how many ended how.

    The first failure raises, unless ``keep_going``: then every failing script is saved
    in ``tmp_path`` and counted as ``failed`` (a long run reports them all at its end).
    """
    rng = random.Random(seed)
    texts = [c.read_text() for c in CASES]
    path = tmp_path / "fuzz.scn"
    seen: Counter[str] = Counter()
    for i in range(n):
        text = mutate(rng.choice(texts), rng)
        try:
            seen[f"exit {check(path, text, PROFILES[i % 2])}"] += 1
        except Exception as e:  # noqa: BLE001 - a long run lists every failure at its end
            if not keep_going:
                raise
            seen["failed"] += 1
            name = f"failed-{i}-{PROFILES[i % 2]}"
            (tmp_path / f"{name}.scn").write_text(text, errors="surrogatepass")
            (tmp_path / f"{name}.err").write_text(f"{type(e).__name__}: {e}\n",
                                                  errors="backslashreplace")
        seen["scripts"] += 1
    return seen


def test_cases_found() -> None:
    """The fuzzer has the public cases of both profiles to mutate."""
    assert True is (len(CASES) >= 40)


def test_script_fuzz_ci(tmp_path: Path) -> None:
    """A small fuzz run: every mutated script ends cleanly or with one file:line: error."""
    assert FUZZ_CI == fuzz(tmp_path, FUZZ_CI, 8)["scripts"]


@pytest.mark.parametrize("text", [
    "\x00\x01\x02\xff",
    "map a anon 4\n" + "touch a write\n" * 3 + "\udcff\n",
    "#@ --nodes 08\n",
    "map a anon 4 touch=write\nmove pages=a nodes=" + "1," * 5000 + "\n",
    "\n" * 200000,
    "map \u0660 anon 4\n",
])
@pytest.mark.parametrize("kernel", PROFILES)
def test_script_fuzz_fixed_inputs(tmp_path: Path, text: str, kernel: str) -> None:
    """Hand-picked odd inputs follow the same rule."""
    check(tmp_path / "odd.scn", text, kernel)


@pytest.mark.fuzz
@pytest.mark.long
def test_script_fuzz_long(tmp_path: Path) -> None:
    """The long run by hand: pytest -m fuzz (PAGEMIG_FUZZ_N scripts, PAGEMIG_FUZZ_SEED)."""
    n = int(os.environ.get("PAGEMIG_FUZZ_N", "2000"))
    seed = int(os.environ.get("PAGEMIG_FUZZ_SEED", "1"))
    start = time.monotonic()
    seen = fuzz(tmp_path, n, seed, keep_going=True)
    print(f"\nscript fuzz: seed {seed}: {dict(seen)} in {time.monotonic() - start:.0f} s; "
          f"failing scripts kept in {tmp_path}")
    assert (n, 0) == (seen["scripts"], seen["failed"])


def test_the_budget_stops_a_run_that_keeps_working() -> None:
    """A run that keeps the CPU busy past its budget is stopped as a hang."""
    with pytest.raises(Hang, match="CPU time"), budget(1):
        while True:
            pass
