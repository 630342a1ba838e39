"""Tests of the probe-compatible JSON output helpers (pagemig.script.jsonout)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pagemig.script.jsonout import (
    ERRNO_NAMES,
    UNSET_STATUS,
    RawJSON,
    dumps,
    err_fields,
    errname,
    placement_value,
    status_fields,
    status_hist,
    status_name,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# The probe's errname() table with Linux x86-64 errno values.
LINUX_ERRNOS = {
    0: "OK",
    1: "EPERM",
    2: "ENOENT",
    3: "ESRCH",
    4: "EINTR",
    5: "EIO",
    7: "E2BIG",
    11: "EAGAIN",
    12: "ENOMEM",
    13: "EACCES",
    14: "EFAULT",
    16: "EBUSY",
    17: "EEXIST",
    18: "EXDEV",
    19: "ENODEV",
    22: "EINVAL",
    28: "ENOSPC",
    38: "ENOSYS",
    133: "EHWPOISON",
    95: "ENOTSUP",
    110: "ETIMEDOUT",
    30: "EROFS",
    20: "ENOTDIR",
}


def test_errno_table() -> None:
    """ERRNO_NAMES is exactly the probe's table (Linux values)."""
    assert LINUX_ERRNOS == dict(ERRNO_NAMES)


def test_errname() -> None:
    """errname: 0 is OK, known values by name, anything else E?."""
    assert "OK" == errname(0)
    assert "EFAULT" == errname(14)
    assert "ENOENT" == errname(2)
    assert "E?" == errname(6)
    assert "E?" == errname(-14)


def test_status_name() -> None:
    """status_name: UNSET sentinel, node numbers, negative errnos."""
    assert "UNSET" == status_name(UNSET_STATUS)
    assert "UNSET" == status_name(-99999)
    assert "0" == status_name(0)
    assert "1" == status_name(1)
    assert "EFAULT" == status_name(-14)
    assert "EACCES" == status_name(-13)
    assert "E?" == status_name(-100014)


def test_status_hist_order() -> None:
    """status_hist counts by name in order of first appearance."""
    statuses = [1, -14, 1, UNSET_STATUS, -14, 0, 1]
    expected = {"1": 3, "EFAULT": 2, "UNSET": 1, "0": 1}
    assert expected == status_hist(statuses)
    assert list(expected) == list(status_hist(statuses))
    assert list(expected.items()) == list(status_hist(np.array(statuses, dtype=np.int32)).items())
    assert {} == status_hist([])


def test_status_hist_cap() -> None:
    """Only the first 64 distinct values are counted, as in the probe."""
    statuses = list(range(70)) + [0, 65]
    hist = status_hist(statuses)
    assert 64 == len(hist)
    assert 2 == hist["0"]
    assert "64" not in hist
    assert hist == status_hist(np.array(statuses))


def test_status_fields() -> None:
    """status_fields gives status, status_names and status_hist like jstatus."""
    expected = {
        "status": [1, -14, UNSET_STATUS],
        "status_names": ["1", "EFAULT", "UNSET"],
        "status_hist": {"1": 1, "EFAULT": 1, "UNSET": 1},
    }
    assert expected == status_fields([1, -14, UNSET_STATUS], full=True)
    assert {"status_hist": {"1": 2}} == status_fields(np.array([1, 1]), full=False)


def test_err_fields() -> None:
    """err_fields mirrors jerr: errno and err only when ret < 0."""
    assert {"ret": 0, "errno": 0, "err": "OK"} == err_fields(0, 14)
    assert {"ret": 3, "errno": 0, "err": "OK"} == err_fields(3, 0)
    assert {"ret": -1, "errno": 19, "err": "ENODEV"} == err_fields(-1, 19)


def test_placement_value_list() -> None:
    """Up to 256 pages the placement is a plain list."""
    assert [0, 1, -14] == placement_value([0, 1, -14])
    assert [1] * 256 == placement_value(np.ones(256, dtype=np.int32))
    assert [] == placement_value([])


def test_placement_value_rle() -> None:
    """More than 256 pages are run-length encoded in page order."""
    values = [0] * 200 + [1] * 50 + [-14] + [0] * 6
    assert {"rle": [[0, 200], [1, 50], [-14, 1], [0, 6]]} == placement_value(values)
    assert {"rle": [[1, 257]]} == placement_value([1] * 257)


def test_dumps_compact_and_ordered() -> None:
    """dumps writes compact JSON with keys in insertion order."""
    obj = {"op": "placement", "line": 3, "who": "parent", "pid": 0, "placement": {"a": [0, 1]}}
    expected = '{"op":"placement","line":3,"who":"parent","pid":0,"placement":{"a":[0,1]}}'
    assert expected == dumps(obj)


def test_dumps_scalars() -> None:
    """Booleans, null, numpy numbers and %.6g floats."""
    obj = {
        "t": True,
        "f": np.bool_(False),
        "n": None,
        "i": np.int64(-5),
        "s": 0.000123456789,
        "big": 1234567.0,
        "arr": np.array([1, 2], dtype=np.int32),
        "tup": (1, "x"),
        "raw": RawJSON("[0.100000]"),
    }
    expected = (
        '{"t":true,"f":false,"n":null,"i":-5,"s":0.000123457,"big":1.23457e+06,'
        '"arr":[1,2],"tup":[1,"x"],"raw":[0.100000]}'
    )
    assert expected == dumps(obj)


def test_dumps_string_escapes() -> None:
    """Strings are escaped like the probe's jstrval (\\r, \\b, \\f as \\u00XX)."""
    assert '"a\\"b\\\\c\\nd\\te\\u000df\\u0008\\u000c\\u001fé"' == dumps('a"b\\c\nd\te\rf\b\f\x1fé')


def test_dumps_rejects_unknown_types() -> None:
    """Objects that are not JSON values and non-str keys raise TypeError."""
    with pytest.raises(TypeError):
        dumps({"x": object()})
    with pytest.raises(TypeError):
        dumps({1: 2})


def test_dumps_round_trips_oracle_results() -> None:
    """Every non-bench line of the recorded results in examples/ is reproduced byte for byte."""
    files = [p for pattern in ("oracle-6.1/results/*.jsonl", "oracle-6.1/bench/results/*.jsonl",
                               "oracle-2.6.27/*.jsonl") for p in sorted(EXAMPLES.glob(pattern))]
    assert 39 + 3 + 2 == len(files)
    checked = 0
    for path in files:
        for raw in path.read_text(encoding="utf-8").splitlines():
            if not raw.startswith("{"):
                continue
            obj = json.loads(raw)
            if obj.get("op") == "bench":  # seconds arrays use %.6f (see RawJSON)
                continue
            assert raw == dumps(obj)
            checked += 1
    assert True is (checked > 100)
