"""The Backend protocol lists every call the runner makes, and the model backend has them."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from pagemig.backends.base import Backend
from pagemig.backends.model import ModelBackend
from pagemig.kernel import Topology

SCRIPT = Path(__file__).resolve().parents[2] / "src" / "pagemig" / "script"


def backend_calls() -> set[str]:
    """The names the runner and its action families use on the backend (``rs.b.NAME``,
    ``self.b.NAME``, ``getattr(rs.b, "NAME")``)."""
    names: set[str] = set()
    for path in SCRIPT.rglob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r"\b(?:rs|self)\.b\.(\w+)", text))
        names |= set(re.findall(r'getattr\((?:rs|self)\.b, "(\w+)"', text))
    return names


def test_protocol_lists_every_call() -> None:
    """Every backend call of script/ is declared in Backend, with a docstring."""
    calls = backend_calls()
    assert {"move_pages", "pwrite", "drop_caches", "blockfs", "kernel_release"} <= calls
    declared = set(Backend.__annotations__) | {
        name for name, fn in vars(Backend).items() if inspect.isfunction(fn)}
    assert set() == calls - declared
    for name, fn in vars(Backend).items():
        if inspect.isfunction(fn) and not name.startswith("_"):
            assert fn.__doc__, name


def test_model_backend_implements_the_protocol() -> None:
    """ModelBackend has every method and attribute of the protocol, with matching
    parameter names."""
    b = ModelBackend(Topology(2, 64))
    assert None is b.blockfs
    for name in Backend.__annotations__:
        assert hasattr(b, name), name
    for name, fn in vars(Backend).items():
        if not inspect.isfunction(fn) or name.startswith("_"):
            continue
        impl = getattr(b, name)
        want = list(inspect.signature(fn).parameters)[1:]
        assert want == list(inspect.signature(impl).parameters), name
