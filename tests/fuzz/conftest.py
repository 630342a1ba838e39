"""Hypothesis profiles of the fuzzers, and their figures at the end of a session.

``ci`` (the default for tests/fuzz): 20 sequences of at most 30 calls, derandomized, a few
seconds.  ``long``: thousands of sequences (PAGEMIG_FUZZ_SEQUENCES, default 6000), by hand:
``pytest -m fuzz --hypothesis-profile=long tests/fuzz``.
"""

from __future__ import annotations

import os
import sys

from hypothesis import HealthCheck, Phase, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=20, stateful_step_count=30, derandomize=True,
                          deadline=None, suppress_health_check=_QUIET, print_blob=True)
settings.register_profile("long", max_examples=int(os.environ.get("PAGEMIG_FUZZ_SEQUENCES",
                                                                  "6000")),
                          stateful_step_count=50, deadline=None,
                          suppress_health_check=_QUIET, print_blob=True)
# `dev`: like `ci` but random and without shrinking, to list failures quickly.
settings.register_profile("dev", max_examples=200, stateful_step_count=30, deadline=None,
                          suppress_health_check=_QUIET, print_blob=True, database=None,
                          phases=[Phase.generate])


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """Print what the stateful fuzzer did (calls, sequences, bytes checked)."""
    for module in list(sys.modules.values()):
        stats = getattr(module, "KERNEL_FUZZ_STATS", None)
        if stats is not None:
            terminalreporter.write_line(
                f"kernel fuzz: {stats.sequences} sequences, {stats.calls} calls "
                f"({stats.refused} refused), {stats.bytes_checked} bytes checked, "
                f"{stats.garbage_calls} garbage calls, "
                f"{stats.full_node_steps} checks with a node under 5% free, "
                f"{stats.batch_moves} calls that moved pages on arrays (path batch or mixed)")
            terminalreporter.write_line(
                "  refused: " + ", ".join(f"{k} {v}" for k, v in stats.errnos.most_common()))
            return
