"""Tracepoints: ``Kernel.tracing`` says whether anything records events, and the engine
builds an event only then."""

from __future__ import annotations

from typing import Any

from pagemig.kernel import Kernel

PAGE = 4096


def _move_one_page(k: Kernel) -> None:
    p = k.spawn()
    addr = k.mmap(p, PAGE)
    k.write_user(p, addr, b"x")
    assert k.move_pages(p, 0, [addr], [1]) == (0, [1])


def test_tracing_follows_the_log_and_the_sink(k: Kernel) -> None:
    """Off at boot; on while a log or a sink is set; off again once both are None."""
    def sink(event: str, fields: dict[str, Any]) -> None:
        pass

    assert not k.tracing
    k.start_trace()
    assert k.tracing
    k.trace_sink = sink
    k.trace_log = None
    assert k.tracing
    k.trace_sink = None
    assert not k.tracing


def test_events_reach_log_and_sink_alike(k: Kernel) -> None:
    """With a log and a sink, a one-page move gives both the same events (8 migrate events,
    as the --trace test of the CLI lists them, among the others)."""
    seen: list[tuple[str, dict[str, Any]]] = []
    log = k.start_trace()
    k.trace_sink = lambda event, fields: seen.append((event, fields))
    _move_one_page(k)

    assert log == seen
    assert [e for e, _ in log if e.startswith("mm_migrate_")] == [
        "mm_migrate_isolate", "mm_migrate_pass", "mm_migrate_new_page", "mm_migrate_unmap",
        "mm_migrate_move_mapping", "mm_migrate_copy", "mm_migrate_remap", "mm_migrate_result"]


def test_no_event_is_built_when_nothing_records(k: Kernel, monkeypatch: Any) -> None:
    """With neither a log nor a sink, trace() is never called during a move."""
    calls: list[str] = []
    monkeypatch.setattr(k, "trace", lambda event, **fields: calls.append(event))
    _move_one_page(k)

    assert calls == []
