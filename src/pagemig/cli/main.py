"""Entry point of the ``pagemig`` command: a registry of subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pagemig.cli import compare, demo, parity, run

# (name, module, help): one module per subcommand, each with add_arguments() and run().
COMMANDS = [
    ("run", run, "run a scenario script on the model and print JSON lines"),
    ("compare", compare, "compare two JSON-lines outputs of one scenario (e.g. kernel vs model)"),
    ("parity", parity, "run the example cases on the model and compare with recorded results"),
    ("demo", demo, "a short walk-through of page migration on a small machine"),
]


def _version() -> str:
    """The installed package's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pagemig")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="pagemig", description="An executable model of Linux page migration (2.6.27).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("pagemig: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
