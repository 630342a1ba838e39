"""``pagemig parity``: run every case of a folder on the model and compare with its recorded result.

Each ``NAME.txt`` of CASES_DIR that has a ``NAME.jsonl`` in RESULTS_DIR runs in this process,
as ``pagemig run --kernel KERNEL NAME.txt`` would, and its objects are compared with the
recorded ones by the rules of ``pagemig compare``.  One line per case, the first differences of
a case that differs, then ``N passed, M failed``.  Exit status: 0 every case equal, 1 some
case differs or fails to run, 2 a usage error or no case to run.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

import pagemig
from pagemig.cli.run import run_case
from pagemig.script.compare import Comparison, compare_objects, ignored_fields, load_objects
from pagemig.script.parse import ScriptError

# kernel profile -> (cases, results) below examples/
DEFAULT_DIRS = {"6.1": ("oracle-6.1/cases", "oracle-6.1/results"),
                "2.6.27": ("oracle-2.6.27", "oracle-2.6.27")}

USAGE = "pagemig parity [-h] [--kernel KERNEL] [--diffs N] [CASES_DIR [RESULTS_DIR]] [PATTERN]"
EPILOG = """\
Default folders: with no CASES_DIR, the cases are examples/oracle-6.1/cases with results in
examples/oracle-6.1/results (--kernel 6.1), or examples/oracle-2.6.27 for both (--kernel
2.6.27). examples/ is looked for first in the current directory, then in the source checkout
the package was installed from (pip install -e .), so from a clone both work.

RESULTS_DIR defaults to CASES_DIR when that holds NAME.jsonl beside NAME.txt (as
tests/kernel-cases/6.1 does), else to a `results` folder beside a CASES_DIR named `cases`.
PATTERN keeps the cases whose file name contains it. A case without a recorded result is
left out.

Examples:
  pagemig parity --kernel 6.1
  pagemig parity --kernel 6.1 thp
  pagemig parity --kernel 2.6.27
  pagemig parity --kernel 6.1 tests/kernel-cases/6.1
  pagemig parity examples/oracle-6.1/bench/cases examples/oracle-6.1/bench/results"""


class UsageError(Exception):
    """Arguments that name no usable folder."""


@dataclass
class CaseOutcome:
    """What one case gave: its comparison, or the error that stopped the model or the data."""

    name: str
    comparison: Comparison | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        """True when the case ran and every compared object is equal."""
        return self.error is None and self.comparison is not None and self.comparison.equal


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``pagemig parity``."""
    p.usage = USAGE
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--kernel", default="6.1",
                   help="kernel profile the model runs (default 6.1, the recorded kernel)")
    p.add_argument("--diffs", type=int, default=5, metavar="N",
                   help="differences shown for a case that differs (default 5)")
    p.add_argument("args", nargs="*", metavar="ARG",
                   help="[CASES_DIR [RESULTS_DIR]] [PATTERN], see below")


def examples_roots() -> list[Path]:
    """Where examples/ may be: the current directory, then the package's source checkout."""
    checkout = Path(pagemig.__file__).resolve().parents[2]  # src/pagemig/__init__.py
    return [Path.cwd() / "examples", checkout / "examples"]


def default_dirs(kernel: str) -> tuple[Path, Path]:
    """The example cases and results for a kernel profile."""
    if kernel not in DEFAULT_DIRS:
        raise UsageError(f"no example cases for kernel {kernel}: give CASES_DIR")
    cases, results = DEFAULT_DIRS[kernel]
    for root in examples_roots():
        if (root / cases).is_dir():
            return root / cases, root / results
    raise UsageError(f"examples/{cases} not found in the current directory nor beside the "
                     "package: run from the project's clone, or give CASES_DIR")


def results_beside(cases_dir: Path) -> Path:
    """RESULTS_DIR when only CASES_DIR is given (see the epilog)."""
    if any(p.with_suffix(".jsonl").is_file() for p in cases_dir.glob("*.txt")):
        return cases_dir
    if cases_dir.name == "cases" and (cases_dir.parent / "results").is_dir():
        return cases_dir.parent / "results"
    return cases_dir


def resolve(args: list[str], kernel: str) -> tuple[Path, Path, str]:
    """(cases dir, results dir, pattern) from the positional arguments."""
    rest = list(args)
    pattern = ""
    if rest and not Path(rest[-1]).is_dir():
        pattern = rest.pop()
    if len(rest) > 2:
        raise UsageError("too many arguments: [CASES_DIR [RESULTS_DIR]] [PATTERN]")
    for d in rest:
        if not Path(d).is_dir():
            raise UsageError(f"{d}: not a directory")
    if not rest:
        cases, results = default_dirs(kernel)
    else:
        cases = Path(rest[0])
        results = Path(rest[1]) if len(rest) == 2 else results_beside(cases)
    return cases, results, pattern


def case_pairs(cases_dir: Path, results_dir: Path, pattern: str = "") -> list[tuple[Path, Path]]:
    """(NAME.txt, NAME.jsonl) for every case whose name contains pattern and has a result."""
    pairs = []
    for case in sorted(cases_dir.glob("*.txt")):
        result = results_dir / f"{case.stem}.jsonl"
        if pattern in case.name and result.is_file():
            pairs.append((case, result))
    return pairs


def check_case(case: Path, result: Path, kernel: str) -> CaseOutcome:
    """Run one case on the model and compare its objects with the recorded ones."""
    name = case.stem
    try:
        expected = load_objects(str(result))
        text = case.read_text(encoding="utf-8", errors="replace")
    except (OSError, ScriptError) as e:
        return CaseOutcome(name, error=f"recorded data: {e}")
    try:
        actual = run_case(text, str(case), kernel)
    except ScriptError as e:
        return CaseOutcome(name, error=f"model: {e}")
    except Exception as e:  # a model failure: report it and go on with the other cases
        return CaseOutcome(name, error=f"model raised {type(e).__name__}: {e}")
    return CaseOutcome(name, compare_objects(expected, actual, ignored_fields(text)))


def run(args: argparse.Namespace) -> int:
    """Run the cases, print one line each and the totals."""
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        cases_dir, results_dir, pattern = resolve(args.args, args.kernel)
    except UsageError as e:
        err.print(f"pagemig parity: {escape(str(e))}")
        return 2
    pairs = case_pairs(cases_dir, results_dir, pattern)
    if not pairs:
        err.print(f"pagemig parity: no case{escape(f' matching {pattern!r}' if pattern else '')}"
                  f" with a result: {escape(str(cases_dir))}/*.txt, "
                  f"{escape(str(results_dir))}/*.jsonl")
        return 2
    passed = failed = 0
    for case, result in pairs:
        outcome = check_case(case, result, args.kernel)
        if outcome.passed:
            passed += 1
            assert outcome.comparison is not None
            out.print(f"[green]ok[/]   {escape(outcome.name)}: {outcome.comparison.summary()}")
            continue
        failed += 1
        if outcome.error is not None:
            out.print(f"[red]FAIL[/] {escape(outcome.name)}: {escape(outcome.error)}")
            continue
        assert outcome.comparison is not None
        out.print(f"[red]FAIL[/] {escape(outcome.name)}: {outcome.comparison.summary()}")
        for d in outcome.comparison.differences[:max(args.diffs, 0)]:
            out.print(f"       {escape(str(d))}")
    out.print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1
