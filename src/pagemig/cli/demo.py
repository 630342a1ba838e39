"""``pagemig demo``: placeholder replaced below."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    """Not written yet."""
    raise NotImplementedError("pagemig demo")
