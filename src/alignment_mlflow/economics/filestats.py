"""Delta file statistics for the files the assignments writer commits itself.

A reader skips a file by its ``minValues``/``maxValues``, so they must hold for every row of
every column a reader can filter on. delta-rs (1.6) reads a column missing from ``minValues``
while others are present as if the file held only nulls there: statistics for the numeric
columns alone made every filter on ``tier``, ``plan_run_id`` or ``currency`` match no row. So
a file states bounds for every column, or states none (then readers cannot skip it, and still
read it right).

Bounds are stated only where they are exact or safely loose:
- strings up to :data:`MAX_STRING_BOUND` characters (longer ones would need truncation rules
  that readers apply differently), dictionary columns by their dictionary (a superset of the
  values, so the bounds still hold);
- floats only when no value is NaN (NaN is outside any min/max);
- timestamps at millisecond precision, as the Delta protocol writes them, with the minimum
  rounded down and the maximum rounded up so both stay true for microseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: Longer strings make the file state no bounds at all.
MAX_STRING_BOUND = 256

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PER_MS = {"s": None, "ms": 1, "us": 1_000, "ns": 1_000_000}


class _Unbounded(Exception):
    """A column whose bounds this file cannot state truthfully."""


@dataclass
class FileStats:
    """The ``stats`` of one Delta ``add`` action, grown batch by batch."""

    rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    low: dict[str, Any] = field(default_factory=dict)
    high: dict[str, Any] = field(default_factory=dict)
    bounded: bool = True

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            self.nulls[name] = self.nulls.get(name, 0) + column.null_count
            if not self.bounded:
                continue
            try:
                bounds = _bounds(column)
            except _Unbounded:
                self.bounded = False
                continue
            if bounds is None:  # nothing but nulls in this batch
                continue
            lo, hi = bounds
            if name not in self.low or lo < self.low[name]:
                self.low[name] = lo
            if name not in self.high or hi > self.high[name]:
                self.high[name] = hi

    def to_json(self) -> str:
        stats: dict[str, Any] = {"numRecords": self.rows}
        if self.bounded and self.rows:
            stats["minValues"] = {k: _json_value(v) for k, v in self.low.items()}
            stats["maxValues"] = {k: _json_value(v, up=True) for k, v in self.high.items()}
        stats["nullCount"] = dict(self.nulls)
        return json.dumps(stats)


def _bounds(column: pa.Array) -> tuple[Any, Any] | None:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary
    kind = column.type
    if pa.types.is_floating(kind) and pc.any(pc.is_nan(column)).as_py():
        raise _Unbounded
    if pa.types.is_timestamp(kind):
        column = column.cast(pa.int64())
        low, high = _min_max(column)
        if low is None:
            return None
        return _Timestamp(low, kind.unit), _Timestamp(high, kind.unit)
    if not (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
    ):
        raise _Unbounded
    low, high = _min_max(column)
    if isinstance(high, str) and max(len(low), len(high)) > MAX_STRING_BOUND:
        raise _Unbounded
    return None if low is None else (low, high)


def _min_max(column: pa.Array) -> tuple[Any, Any]:
    got = pc.min_max(column)
    return got["min"].as_py(), got["max"].as_py()


@dataclass(frozen=True, order=True)
class _Timestamp:
    """A timestamp as an integer of its unit, compared exactly, written in milliseconds."""

    value: int
    unit: str = field(compare=False)

    def millis(self, *, up: bool) -> int:
        per = _PER_MS[self.unit]
        if per is None:
            return self.value * 1_000
        return -(-self.value // per) if up else self.value // per


def _json_value(value: Any, *, up: bool = False) -> Any:
    if isinstance(value, _Timestamp):
        ms = value.millis(up=up)
        when = _EPOCH + timedelta(milliseconds=ms)
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return value
