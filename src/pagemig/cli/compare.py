"""``pagemig compare EXPECTED ACTUAL``: compare two JSON-lines outputs of one scenario.

EXPECTED is typically a kernel's recorded result (``examples/oracle-6.1/results/NAME.jsonl``),
ACTUAL the model's run of the same case (``pagemig run --kernel 6.1 CASE > ACTUAL``).  The
rules are in `pagemig.script.compare`.  Prints one line per difference and ``N/M objects
equal``.  Exit status: 0 equal, 1 some differ, 2 a usage error or a file that cannot be read or
is not JSON lines (``file:line: message`` on stderr).
"""

from __future__ import annotations

import argparse
import sys

from pagemig.script.compare import compare_objects, ignored_fields, load_objects
from pagemig.script.parse import ScriptError

EPILOG = """\
Objects are matched by (line, who, op); only fields that do not depend on timing, addresses,
pids or machine memory are compared, and only where EXPECTED has them. Ops that report the
environment (env, vm, meminfo, vmstat, read, write, note, sleep, pin, bench, end) are skipped,
and so is migrate_pages' vmstat_delta. With --case, the case's `#! ignore: FIELD ...` lines
leave those fields out. Exit status: 0 equal, 1 differ, 2 usage or parse error."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``pagemig compare``."""
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("expected", help="the expected JSON lines (e.g. a recorded kernel result)")
    p.add_argument("actual", help="the JSON lines to check (e.g. pagemig run's output)")
    p.add_argument("--case", metavar="CASE.txt",
                   help="the scenario, for its `#! ignore:` lines")
    p.add_argument("--quiet", action="store_true",
                   help="print only the summary line, not each difference")


def run(args: argparse.Namespace) -> int:
    """Compare; print the differences and the summary."""
    try:
        expected = load_objects(args.expected)
        actual = load_objects(args.actual)
        ignored: set[str] = set()
        if args.case is not None:
            with open(args.case, encoding="utf-8", errors="replace") as f:
                ignored = ignored_fields(f.read())
    except ScriptError as e:
        print(str(e), file=sys.stderr)
        return 2
    except OSError as e:
        print(f"pagemig compare: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    result = compare_objects(expected, actual, ignored)
    if not args.quiet:
        for d in result.differences:
            print(d)
    print(result.summary())
    return 0 if result.equal else 1
