"""Shared fixtures: small model machines that are validated after every test.

The ``k`` fixture yields a freshly booted 2-node machine (64 MiB per node) and runs
:func:`pagemig.validate.validate` on it when the test ends, so every state-changing test
also checks every invariant.  Tests that break invariants on purpose use ``raw_k``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pagemig.kernel import Kernel, Topology
from pagemig.sched import Task
from pagemig.validate import validate

SMALL = Topology(nodes=2, mem_per_node_mb=64)


@pytest.fixture
def k() -> Iterator[Kernel]:
    """A small 2-node machine, validated at the end of the test."""
    kernel = Kernel(SMALL)
    yield kernel
    validate(kernel)


@pytest.fixture
def k61() -> Iterator[Kernel]:
    """A small 2-node machine running the Linux 6.1 profile, validated at the end."""
    kernel = Kernel(SMALL, "6.1")
    yield kernel
    validate(kernel)


@pytest.fixture
def raw_k() -> Kernel:
    """A small 2-node machine that is not validated afterwards."""
    return Kernel(SMALL)


@pytest.fixture
def proc(k: Kernel) -> Task:
    """A probe-like process on CPU 0 (node 0) of ``k``."""
    return k.spawn()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long runs (marker ``long``) are deselected unless asked for with ``-m fuzz`` or
    ``-m long``; the fuzzers' small CI budgets (marker ``fuzz`` alone) always run."""
    expr = config.getoption("markexpr") or ""
    if "fuzz" in expr or "long" in expr:
        return
    keep = [item for item in items if item.get_closest_marker("long") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
