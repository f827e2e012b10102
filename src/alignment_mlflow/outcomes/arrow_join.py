"""The Arrow engine's join of one campaign's assignments with the outcomes, reduced to what the
outcome needs: the churned customers per (tier, arm) key and the four counts of ids that do not
pair up (outcomes of customers not assigned, assigned customers without an outcome, duplicates
on either side).

Customer ids are usually integers in a compact range. Then the join is the byte-per-id trick
``plan``'s duplicate check uses (economics.arrow_engine): one byte per id of the assignments'
range, marked by the assignments (1), then by the outcomes of those customers (2 + churned), so
every count is a pass of NumPy over each side and no id is hashed, sorted or copied. Anything
else (string ids, sparse integers, null ids, customers assigned twice, whose first row alone
is counted) goes through :func:`positions`, a hash lookup, with the same results.

Usually the join is done before the assignments have finished streaming (:class:`StreamJoin`):
the outcomes' thread builds the same kind of byte map over the outcomes' ids, and each
assignment batch looks its ids up in it as it arrives. :func:`join` runs after the stream only
where that gives way.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Joined:
    churned: np.ndarray  # churned customers per key (int64, one slot per key)
    assignments: int
    not_in_outcomes: int
    not_in_assignments: int
    duplicate_assignments: int
    duplicate_outcomes: int


def join(
    ids: Sequence[pa.Array], keys: Sequence[np.ndarray], nkeys: int, out_ids: pa.ChunkedArray,
    churned: np.ndarray,
) -> Joined:  # fmt: skip
    """``ids``/``keys``: the assignments' ids and keys, batch by batch (integer ids cast to
    int64, strings to large_string, as ``out_ids``); ``churned``: each outcome row's value, 0
    where the value is refused."""
    dense = _dense(ids, keys, nkeys, out_ids, churned)
    if dense is not None:
        return dense
    flat = pa.chunked_array(list(ids), type=out_ids.type).combine_chunks()
    key = np.concatenate(list(keys)) if keys else np.zeros(0, dtype=np.int32)
    n, m = len(flat), len(out_ids)
    found, pos, firsts = positions(flat, out_ids)
    seen = np.bincount(pos, minlength=n)
    per_row = np.zeros(n, dtype=np.int8)
    per_row[pos] = churned[found]
    return Joined(
        churned=np.bincount(key[per_row == 1], minlength=nkeys),
        assignments=n,
        not_in_outcomes=int(((seen == 0) & firsts).sum()),
        not_in_assignments=int(m - found.sum()),
        duplicate_assignments=n - int(firsts.sum()),
        duplicate_outcomes=int(found.sum() - (seen > 0).sum()),
    )


def _dense(
    ids: Sequence[pa.Array], keys: Sequence[np.ndarray], nkeys: int, out_ids: pa.ChunkedArray,
    churned: np.ndarray,
) -> Joined | None:  # fmt: skip
    """The byte map (see the module's docstring); None when the ids do not suit it."""
    n = sum(len(a) for a in ids)
    if not n or not pa.types.is_int64(out_ids.type) or any(a.null_count for a in ids):
        return None
    bounds = [pc.min_max(a) for a in ids if len(a)]
    low = min(b["min"].as_py() for b in bounds)
    high = max(b["max"].as_py() for b in bounds)
    limit = 4 * n + 1024
    if high - low > limit:
        return None
    base = 0 if low >= 0 and high < limit else low  # from 0: no subtraction per id
    marks = np.zeros(high - base + 1, dtype=np.uint8)
    views = [a.to_numpy() if base == 0 else a.to_numpy() - base for a in ids]
    for v in views:
        marks[v] = 1
    distinct = int(np.count_nonzero(marks))
    if distinct < n:  # a customer assigned twice: only its first row may count
        return None
    found, start = 0, 0
    for chunk in out_ids.chunks:
        value = churned[start : start + len(chunk)]
        start += len(chunk)
        if not len(chunk):
            continue
        o = chunk.fill_null(low - 1).to_numpy() if chunk.null_count else chunk.to_numpy()
        span = pc.min_max(chunk)
        if not chunk.null_count and low <= span["min"].as_py() and span["max"].as_py() <= high:
            at = o - base if base else o  # the usual case: no id outside the range
        else:
            inside = (o >= low) & (o <= high)
            at, value = (o - base)[inside] if base else o[inside], value[inside]
        hit = marks[at] != 0
        hits = int(np.count_nonzero(hit))
        found += hits
        if hits == len(hit):  # the usual case: every outcome is of an assigned customer
            marks[at] = 2 + value
        else:
            marks[at[hit]] = 2 + value[hit]
    matched = distinct - int(np.count_nonzero(marks == 1))
    per_key = np.zeros(nkeys, dtype=np.int64)
    for v, k in zip(views, keys, strict=True):
        per_key += np.bincount(k[marks[v] == 3], minlength=nkeys)
    return Joined(
        churned=per_key,
        assignments=n,
        not_in_outcomes=distinct - matched,
        not_in_assignments=len(out_ids) - found,
        duplicate_assignments=0,
        duplicate_outcomes=found - matched,
    )


def positions(ids: pa.Array, out_ids: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(found: each outcome row's id is assigned, pos: its assignment row, for the found rows;
    firsts: each assignment row is its id's first), by a hash lookup."""
    n = len(ids)
    at = pc.index_in(out_ids, value_set=ids)
    found = ~at.is_null().to_numpy(zero_copy_only=False)
    pos = at.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)[found]
    firsts = np.ones(n, dtype=bool)
    if pc.count_distinct(ids).as_py() < n:  # index_in points at each id's first row
        firsts = pc.index_in(ids, value_set=ids).to_numpy(zero_copy_only=False) == np.arange(n)
    return found, pos, firsts


@dataclass(frozen=True)
class OutcomeSide:
    """The outcomes as the join takes them (read on their own thread): the rows, each row's
    value (0 where refused) and whether it was valid, and their byte map where ids suit one."""

    table: pa.Table
    values: np.ndarray
    valid: np.ndarray
    map: OutcomeMap | None


@dataclass
class OutcomeMap:
    """The outcomes by id, a byte per id of their range (read on the outcomes' thread):
    0 no outcome, 1 an outcome (not churned, or a refused value), 2 churned; the stream's
    lookups add 4 to each assigned id's byte."""

    marks: np.ndarray
    base: int  # id of marks[0] when not 0 (ids from 0 are indexed as they are)
    low: int
    high: int
    rows: int  # outcome rows, null ids included
    distinct: bool  # no id twice among the outcomes


def outcome_map(out_ids: pa.ChunkedArray, churned: np.ndarray) -> OutcomeMap | None:
    """The byte map of integer outcome ids in a compact range; None otherwise."""
    m = len(out_ids)
    if not pa.types.is_integer(out_ids.type) or out_ids.null_count == m:
        return None
    out_ids = out_ids.cast(pa.int64())
    span = pc.min_max(out_ids)
    low, high = span["min"].as_py(), span["max"].as_py()
    limit = 4 * m + 1024
    if high - low > limit:
        return None
    base = 0 if low >= 0 and high < limit else low
    marks = np.zeros(high - base + 1, dtype=np.uint8)
    start = 0
    for chunk in out_ids.chunks:
        value = churned[start : start + len(chunk)]
        start += len(chunk)
        if chunk.null_count:
            value = value[chunk.is_valid().to_numpy(zero_copy_only=False)]
            chunk = chunk.drop_null()
        o = chunk.to_numpy()
        marks[o - base if base else o] = 1 + value
    distinct = int(np.count_nonzero(marks)) == m - out_ids.null_count
    return OutcomeMap(marks, base, low, high, m, distinct)


class StreamJoin:
    """The join done while the assignments stream, batch by batch, once the outcomes' map is
    ready (it is built on the outcomes' thread): each batch's ids look up their outcome bytes
    and mark them, so after the last batch only a count of the marks is left. It gives way
    (``finish`` returns None, and :func:`join` runs as before) for anything but the usual
    case: integer ids, each assigned once, all within the outcomes' compact range."""

    def __init__(self, ready: Future[OutcomeSide]) -> None:
        self._ready = ready
        self._pending: list[tuple[pa.Array, np.ndarray]] = []
        self._per_batch: list[np.ndarray] = []
        self._ok = True
        self.rows = self.matched = 0

    def offer(self, ids: pa.Array, keys: np.ndarray) -> None:
        if self._ok:
            self._pending.append((ids, keys))
            if self._ready.done():
                self._drain(self._map())

    def _map(self) -> OutcomeMap | None:
        """The map, once read (None where the outcomes' read failed: scan raises that)."""
        return None if self._ready.exception() is not None else self._ready.result().map

    def _drain(self, omap: OutcomeMap | None) -> None:
        pending, self._pending = self._pending, []
        for ids, keys in pending:
            if not self._ok or omap is None or not self._look_up(omap, ids, keys):
                self._ok = False
                return

    def _look_up(self, omap: OutcomeMap, ids: pa.Array, keys: np.ndarray) -> bool:
        if not pa.types.is_integer(ids.type) or ids.null_count:
            return False
        if not len(ids):
            return True
        v = np.asarray(ids.cast(pa.int64()).to_numpy())
        if int(v.min()) < omap.low or int(v.max()) > omap.high:
            return False
        at = v - omap.base if omap.base else v
        got = omap.marks[at]
        omap.marks[at] = got | 4
        got &= 3
        self.rows += len(v)
        self.matched += int(np.count_nonzero(got))
        self._per_batch.append(np.bincount(keys[got == 2]))
        return True

    def finish(self, nkeys: int, out_ids: pa.ChunkedArray) -> Joined | None:
        """The join's counts (see :func:`join`), or None where the stream gave way."""
        if not self._ok:
            return None
        omap = self._map()
        self._drain(omap)
        if not self._ok or omap is None:
            return None
        if int(np.count_nonzero(omap.marks & 4)) != self.rows:  # an id assigned twice
            return None
        found = self.matched
        if not omap.distinct:  # outcome rows of the same assigned customer count each
            found = 0
            for chunk in out_ids.cast(pa.int64()).chunks:
                o = chunk.drop_null().to_numpy() if chunk.null_count else chunk.to_numpy()
                found += int(np.count_nonzero(omap.marks[o - omap.base if omap.base else o] & 4))
        churned = np.zeros(nkeys, dtype=np.int64)
        for counts in self._per_batch:
            churned[: len(counts)] += counts
        return Joined(
            churned=churned,
            assignments=self.rows,
            not_in_outcomes=self.rows - self.matched,
            not_in_assignments=omap.rows - found,
            duplicate_assignments=0,
            duplicate_outcomes=found - self.matched,
        )
