"""JSON output helpers that reproduce the oracle probe's output byte for byte.

The probe writes one compact JSON object per line, keys in insertion order,
doubles with ``%.6g`` and strings escaped by its own rules (``"``, ``\\``,
``\\n``, ``\\t`` escaped by name, other control characters as ``\\u00XX``,
everything else raw).  `dumps` follows these rules; the caller appends the
newline.
"""

from __future__ import annotations

import errno
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = [
    "ERRNO_NAMES",
    "HIST_MAX_VALUES",
    "PLACEMENT_RLE_MIN",
    "UNSET_STATUS",
    "RawJSON",
    "dumps",
    "err_fields",
    "errname",
    "placement_value",
    "status_fields",
    "status_hist",
    "status_name",
]

UNSET_STATUS = -99999
"""Sentinel the probe fills the status array with; printed as ``UNSET``."""

HIST_MAX_VALUES = 64
"""The probe's status histogram keeps at most this many distinct values."""

PLACEMENT_RLE_MIN = 257
"""Mappings of at least this many pages are run-length encoded in placements."""

_EHWPOISON = getattr(errno, "EHWPOISON", 133)  # missing from Python 3.11's errno module

ERRNO_NAMES: Mapping[int, str] = MappingProxyType(
    {
        0: "OK",
        errno.EPERM: "EPERM",
        errno.ENOENT: "ENOENT",
        errno.ESRCH: "ESRCH",
        errno.EINTR: "EINTR",
        errno.EIO: "EIO",
        errno.E2BIG: "E2BIG",
        errno.EAGAIN: "EAGAIN",
        errno.ENOMEM: "ENOMEM",
        errno.EACCES: "EACCES",
        errno.EFAULT: "EFAULT",
        errno.EBUSY: "EBUSY",
        errno.EEXIST: "EEXIST",
        errno.EXDEV: "EXDEV",
        errno.ENODEV: "ENODEV",
        errno.EINVAL: "EINVAL",
        errno.ENOSPC: "ENOSPC",
        errno.ENOSYS: "ENOSYS",
        _EHWPOISON: "EHWPOISON",
        errno.ENOTSUP: "ENOTSUP",
        errno.ETIMEDOUT: "ETIMEDOUT",
        errno.EROFS: "EROFS",
        errno.ENOTDIR: "ENOTDIR",
    }
)
"""The probe's errno table (errname()); any other value is ``E?``."""


def errname(e: int) -> str:
    """Symbolic name of errno `e` as the probe prints it: 0 -> ``OK``, unknown -> ``E?``."""
    return ERRNO_NAMES.get(int(e), "E?")


def status_name(s: int) -> str:
    """Name of a move_pages status: ``UNSET``, the node number, or the errno name of -s."""
    s = int(s)
    if s == UNSET_STATUS:
        return "UNSET"
    if s >= 0:
        return str(s)
    return errname(-s)


def err_fields(ret: int, e: int) -> dict[str, Any]:
    """The probe's ``ret``/``errno``/``err`` fields for a call returning `ret` with errno `e`."""
    failed = ret < 0
    return {
        "ret": int(ret),
        "errno": int(e) if failed else 0,
        "err": errname(e) if failed else "OK",
    }


def _first_values(statuses: Iterable[int] | np.ndarray) -> list[tuple[int, int]]:
    """(value, count) of the first HIST_MAX_VALUES distinct values, in order of first appearance."""
    if isinstance(statuses, np.ndarray):
        values, first, counts = np.unique(statuses.ravel(), return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")[:HIST_MAX_VALUES]
        return [(int(values[i]), int(counts[i])) for i in order]
    counts_by_value: dict[int, int] = {}
    for s in statuses:
        v = int(s)
        if v in counts_by_value:
            counts_by_value[v] += 1
        elif len(counts_by_value) < HIST_MAX_VALUES:
            counts_by_value[v] = 1
    return list(counts_by_value.items())


def status_hist(statuses: Iterable[int] | np.ndarray) -> dict[str, int]:
    """The probe's ``status_hist``: status name -> count, in order of first appearance.

    Only the first HIST_MAX_VALUES distinct values are counted (later new values
    are dropped, as in the probe).  Distinct values with the same name (two
    unknown errnos, both ``E?``) are merged, where the probe would print the key
    twice.
    """
    hist: dict[str, int] = {}
    for value, count in _first_values(statuses):
        name = status_name(value)
        hist[name] = hist.get(name, 0) + count
    return hist


def status_fields(statuses: Sequence[int] | np.ndarray, full: bool) -> dict[str, Any]:
    """The probe's jstatus(): ``status`` and ``status_names`` when `full`, then ``status_hist``."""
    out: dict[str, Any] = {}
    if full:
        values = [int(s) for s in statuses]
        out["status"] = values
        out["status_names"] = [status_name(s) for s in values]
    out["status_hist"] = status_hist(statuses)
    return out


def placement_value(statuses: Sequence[int] | np.ndarray) -> list[int] | dict[str, list[list[int]]]:
    """One mapping's entry of a ``placement`` object.

    A list of the values for up to 256 pages, else ``{"rle": [[value, count], ...]}``
    with runs of equal values in page order.
    """
    arr = np.asarray(statuses, dtype=np.int64).ravel()
    if arr.size < PLACEMENT_RLE_MIN:
        return [int(v) for v in arr]
    starts = np.concatenate(([0], np.flatnonzero(arr[1:] != arr[:-1]) + 1))
    lengths = np.diff(np.concatenate((starts, [arr.size])))
    return {"rle": [[int(arr[s]), int(n)] for s, n in zip(starts, lengths, strict=True)]}


# ---- serialization ----------------------------------------------------------------------------


class RawJSON(str):
    """JSON text that `dumps` inserts verbatim (for example the bench's ``%.6f`` seconds)."""

    __slots__ = ()


_ESCAPE_RE = re.compile(r'["\\\x00-\x1f]')
_NAMED_ESCAPES = MappingProxyType({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"})


def _escape_char(m: re.Match[str]) -> str:
    """Escape of one character as the probe's jstrval writes it."""
    c = m.group(0)
    return _NAMED_ESCAPES.get(c) or f"\\u{ord(c):04x}"


def _encode_str(s: str) -> str:
    """A JSON string literal with the probe's escaping."""
    return '"' + _ESCAPE_RE.sub(_escape_char, s) + '"'


def _encode(obj: Any, out: list[str]) -> None:
    """Append the JSON text of `obj` to `out`."""
    if isinstance(obj, RawJSON):
        out.append(str(obj))
    elif isinstance(obj, str):
        out.append(_encode_str(obj))
    elif obj is None:
        out.append("null")
    elif isinstance(obj, bool | np.bool_):
        out.append("true" if obj else "false")
    elif isinstance(obj, numbers.Integral):
        out.append(str(int(obj)))
    elif isinstance(obj, numbers.Real):
        out.append(f"{float(obj):.6g}")
    elif isinstance(obj, Mapping):
        _encode_mapping(obj, out)
    elif isinstance(obj, list | tuple | np.ndarray):
        _encode_array(obj, out)
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def _encode_mapping(obj: Mapping[Any, Any], out: list[str]) -> None:
    """Append a JSON object (string keys, insertion order) to `out`."""
    out.append("{")
    for i, (key, value) in enumerate(obj.items()):
        if not isinstance(key, str):
            raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
        if i:
            out.append(",")
        out.append(_encode_str(key))
        out.append(":")
        _encode(value, out)
    out.append("}")


def _encode_array(obj: Iterable[Any], out: list[str]) -> None:
    """Append a JSON array to `out`."""
    out.append("[")
    for i, value in enumerate(obj):
        if i:
            out.append(",")
        _encode(value, out)
    out.append("]")


def dumps(obj: Any) -> str:
    """Compact JSON of `obj` as the probe prints it (no trailing newline).

    Supports dicts (str keys, order kept), lists, tuples, numpy arrays, str,
    bool, None, integers (numpy included), floats (``%.6g``, like the
    probe's doubles) and `RawJSON` (inserted as is).  Raises TypeError for
    anything else.
    """
    out: list[str] = []
    _encode(obj, out)
    return "".join(out)
