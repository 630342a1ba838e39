"""The Python examples of README.md and docs/api.md run as written."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest

from pagemig.kernel import Kernel, Topology

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


@pytest.mark.parametrize("doc", ["README.md", "docs/api.md"])
def test_examples_run(doc: str) -> None:
    """Every ```python block of the document runs without an exception (its asserts hold)."""
    blocks = python_blocks(ROOT / doc)
    assert blocks
    for block in blocks:
        exec(compile(block, doc, "exec"), {})  # noqa: S102 - the project's own docs


def test_move_pages_that_isolates_nothing_says_so() -> None:
    """2.6.27: a move_pages that isolates no page raises ENOENT with a message saying so."""
    k = Kernel(Topology(nodes=2, mem_per_node_mb=64))
    p = k.spawn()
    a = k.mmap(p, 4096)  # never touched: nothing to isolate
    with pytest.raises(OSError) as e:
        k.move_pages(p, 0, [a], [1])
    assert errno.ENOENT == e.value.errno
    assert "no page could be isolated" in str(e.value)
