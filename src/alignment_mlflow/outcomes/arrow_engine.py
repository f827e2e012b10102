"""The Arrow engine: the assignments (a Delta table through delta-rs, Parquet, an Arrow table)
joined with the outcomes in process, reduced to a :class:`~.counts.Scan`.

One pass over the assignments, batch by batch: tier, arm and campaign come from Parquet as
dictionaries, so each row's (campaign, tier, arm) key is arithmetic on the dictionaries'
indices (no string is compared per row), and the counts, costs, scores and holdout fractions
are summed per key with ``bincount`` as the batches stream past. Of each row only its id and
key are kept (12 bytes) for the join (:mod:`.arrow_join`), which adds the churned customers per
key and the ids that do not pair up. The constant-per-plan strings (plan run, spec sha,
currency) are reduced per batch to their distinct combinations. The outcomes are read on a
second thread meanwhile (:class:`~.engines.ArrowEngine`), and the batches are joined with them
as they pass once their byte map is ready (:class:`~.arrow_join.StreamJoin`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from alignment_mlflow.outcomes import arrow_join, counts
from alignment_mlflow.outcomes.counts import (
    ARMS,
    ASSIGNMENT_COLUMNS,
    ArmTally,
    OutcomesError,
    Scan,
)
from alignment_mlflow.tables.delta_features import refusal, unsupported

BATCH_ROWS = 1 << 20
_PLAN_COLUMNS = ("campaign", "plan_run_id", "spec_sha256", "currency")


#: Read as dictionaries (Parquet stores them so): their distinct values come from the small
#: dictionary, and a 64-character spec sha is never materialised 20M times (6x less CPU).
DICTIONARY_COLUMNS = frozenset(
    {"tier", "arm", "campaign", "plan_run_id", "spec_sha256", "currency"}
)


def open_source(location: Any, what: str) -> tuple[ds.Dataset, str]:
    """(dataset, location as recorded): a Delta path or URI (pinned at its current version, the
    location says which), a Parquet file or folder, or an Arrow table."""
    options = ds.ParquetReadOptions(dictionary_columns=set(DICTIONARY_COLUMNS))
    if isinstance(location, pa.Table):
        return ds.dataset(location), "<arrow table>"
    where = os.fspath(location)
    if "://" not in where and not os.path.exists(where):
        raise OutcomesError(f"{what} {where} not found: pass a Delta table, Parquet file or folder")
    if "://" in where or os.path.isdir(os.path.join(where, "_delta_log")):
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            table = DeltaTable(where)
        except TableNotFoundError as exc:
            raise OutcomesError(f"{what} {where}: no Delta table there ({exc})") from exc
        found = unsupported(table)
        if found:
            raise OutcomesError(refusal(f"{what} table", where, found))
        return table.to_pyarrow_dataset(parquet_read_options=options), (
            f"{where}@v{table.version()}"
        )
    try:
        return ds.dataset(where, format=ds.ParquetFileFormat(read_options=options)), where
    except (pa.ArrowInvalid, OSError) as exc:
        raise OutcomesError(f"{what} {where} is not readable Parquet: {exc}") from exc


def require(dataset: ds.Dataset, columns: Sequence[str], what: str, where: str) -> None:
    counts.require(dataset.schema.names, columns, what, where)


class _Codes:
    """Global integer codes for the distinct values of a low-cardinality string column."""

    def __init__(self) -> None:
        self.values: list[str | None] = []
        self._index: dict[str | None, int] = {}

    def local(self, column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(each row's index in the batch's dictionary, the dictionary's global codes): Parquet
        hands the column over dictionary-encoded, so no string is compared per row."""
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        codes = [self.code(v) for v in column.dictionary.to_pylist()] + [self.code(None)]
        idx = column.indices
        if idx.null_count:
            idx = idx.fill_null(len(codes) - 1)
        return np.asarray(idx.to_numpy(zero_copy_only=False)), np.array(codes, dtype=np.int64)

    def code(self, value: Any) -> int:
        key = None if value is None else str(value)
        if key not in self._index:
            self._index[key] = len(self.values)
            self.values.append(key)
        return self._index[key]


@dataclass
class Assigned:
    """The project's assignments, reduced per (campaign, tier, arm) key while they stream past:
    counts, sums and the holdout fractions' range; of each row only the id and its key are kept
    for the join (12 bytes a row; see the module's docstring)."""

    ids: list[pa.Array] = field(default_factory=list)
    keys: list[np.ndarray] = field(default_factory=list)
    tiers: _Codes = field(default_factory=_Codes)
    arms: _Codes = field(default_factory=_Codes)
    campaigns: _Codes = field(default_factory=_Codes)
    combos: list[tuple[int, int, int]] = field(default_factory=list)  # key -> (c, t, a) codes
    index: dict[tuple[int, int, int], int] = field(default_factory=dict)
    count: list[int] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)  # holdout_fraction's min, NaN ignored
    high: list[float] = field(default_factory=list)
    bad_fractions: list[int] = field(default_factory=list)
    plans: set[tuple[str | None, ...]] = field(default_factory=set)
    stream: arrow_join.StreamJoin | None = None

    def key(self, combo: tuple[int, int, int]) -> int:
        if combo not in self.index:
            self.index[combo] = len(self.combos)
            self.combos.append(combo)
            self.count.append(0)
            self.cost.append(0.0)
            self.score.append(0.0)
            self.low.append(np.inf)
            self.high.append(-np.inf)
            self.bad_fractions.append(0)
        return self.index[combo]

    def add(self, batch: pa.RecordBatch) -> None:
        """One batch: its keys from the dictionaries' indices, then one ``bincount`` per sum."""
        (ci, cl), (ti, tl), (ai, al) = (
            codes.local(batch.column(name))
            for codes, name in ((self.campaigns, "campaign"), (self.tiers, "tier"),
                                (self.arms, "arm"))
        )  # fmt: skip
        nt, na = len(tl), len(al)
        local = ci.astype(np.intp)  # what bincount takes without a copy
        local *= nt
        local += ti
        local *= na
        local += ai
        size = len(cl) * nt * na
        if size > 1 << 20:  # dictionaries too large for a slot per combination
            found, local = np.unique(local, return_inverse=True)
        else:
            found = np.arange(size)
        count = np.bincount(local, minlength=len(found))
        present = np.flatnonzero(count)
        lut = np.zeros(len(found), dtype=np.int32)  # local slot -> global key
        for p in present:
            c, rest = divmod(int(found[p]), nt * na)
            lut[p] = self.key((int(cl[c]), int(tl[rest // na]), int(al[rest % na])))
        cost = np.bincount(local, weights=_floats(batch.column("cost")), minlength=len(found))
        score = np.bincount(local, _floats(batch.column("churn_score")), minlength=len(found))
        frac = _floats(batch.column("holdout_fraction"))
        low, high, wrong = _fractions(local, frac, count)
        for p in present:
            k = int(lut[p])
            self.count[k] += int(count[p])
            self.cost[k] += float(cost[p])
            self.score[k] += float(score[p])
            self.low[k] = min(self.low[k], float(low[p]))
            self.high[k] = max(self.high[k], float(high[p]))
            self.bad_fractions[k] += int(wrong[p])
        self.ids.append(batch.column("customer_id"))
        self.keys.append(lut.astype(np.uint8 if len(self.combos) < 256 else np.int32)[local])
        if self.stream is not None:
            self.stream.offer(self.ids[-1], self.keys[-1])
        self.plans |= _plans(batch)


def _fractions(
    local: np.ndarray, values: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each key's (min, max) of ``values``, NaN ignored (none: inf, -inf), and how many are not
    in [0, 1] (NaN, null included). A plan writes one fraction per tier, so one value of each
    key is checked against all first (a scatter and a compare, 4x faster than the ufuncs'
    ``at`` that handle the general case, and the range check is then one per key)."""
    some = np.full(len(count), np.nan)
    some[local] = values
    if bool((values == some[local]).all()):  # NaN never equals: the general case below
        return some, some, np.where((some >= 0) & (some <= 1), 0, count)
    low, high = np.full(len(count), np.inf), np.full(len(count), -np.inf)
    np.fmin.at(low, local, values)
    np.fmax.at(high, local, values)
    bad = ~((values >= 0) & (values <= 1))  # NaN fails both
    return low, high, np.bincount(local[bad], minlength=len(count))


def read_assignments(
    dataset: ds.Dataset, project: str, outcomes: Future[arrow_join.OutcomeSide] | None = None
) -> Assigned:
    """The project's assignments reduced (:class:`Assigned`); joined with the ``outcomes`` as
    they stream where those are being read meanwhile (:class:`~.arrow_join.StreamJoin`)."""
    out = Assigned(stream=arrow_join.StreamJoin(outcomes) if outcomes is not None else None)
    columns = [c for c in ASSIGNMENT_COLUMNS if c != "project"] + ["currency"]
    columns = [c for c in dict.fromkeys(columns) if c in dataset.schema.names]
    for batch in dataset.to_batches(
        columns=columns, filter=pc.field("project") == project, **_scan_options(dataset)
    ):
        if batch.num_rows:
            out.add(batch)
    return out


def _plans(batch: pa.RecordBatch) -> set[tuple[str | None, ...]]:
    """The batch's distinct (campaign, plan run, spec, currency): from the dictionaries when
    each holds one value (a plan's constants, the usual case), else grouped."""
    present = [c for c in _PLAN_COLUMNS if c in batch.schema.names]
    columns = [batch.column(c) for c in present]
    if all(pa.types.is_dictionary(c.type) and len(c.dictionary) == 1 and not c.null_count
           for c in columns):  # fmt: skip
        values = dict(zip(present, (c.dictionary[0].as_py() for c in columns), strict=True))
        return {tuple(values.get(c) for c in _PLAN_COLUMNS)}
    plain = pa.table(
        [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in columns],
        names=present,
    )
    combos = plain.group_by(present).aggregate([])
    return {tuple(row.get(c) for c in _PLAN_COLUMNS) for row in combos.to_pylist()}


def _floats(column: pa.Array) -> np.ndarray:
    if pa.types.is_float64(column.type) and not column.null_count:
        return np.asarray(column.to_numpy())
    return np.asarray(column.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False))


def campaigns(assigned: Assigned) -> list[str | None]:
    used = sorted({c for c, _, _ in assigned.combos})
    return [assigned.campaigns.values[i] for i in used]


def _scan_options(dataset: ds.Dataset) -> dict[str, Any]:
    """As ``plan`` reads its scores (economics.scores): one file at a time, two batches ahead,
    no pre-buffering. The scanner's defaults (4 files, 16 batches ahead) hold 1.4 GB at 20M
    assignments and cost 3x the CPU (page faults), for no gain in time on two cores."""
    options: dict[str, Any] = {
        "batch_size": BATCH_ROWS, "batch_readahead": 2, "fragment_readahead": 1,
        "memory_pool": _pool(),
    }  # fmt: skip
    if isinstance(dataset, ds.FileSystemDataset) and isinstance(
        dataset.format, ds.ParquetFileFormat
    ):
        options["fragment_scan_options"] = ds.ParquetFragmentScanOptions(pre_buffer=False)
    return options


def _pool() -> pa.MemoryPool | None:
    """jemalloc where pyarrow has it: with pyarrow's default (mimalloc) a fresh process's scan
    of ten columns costs up to 2x the CPU (20M assignments: 3.2 s against 1.9 s)."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return None  # the user's choice
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return None


def read_outcomes(
    dataset: ds.Dataset, id_column: str, churned_column: str, where: str
) -> arrow_join.OutcomeSide:
    """The outcomes, their values checked and, for compact integer ids, their byte map."""
    table = dataset.to_table(columns=[id_column, churned_column], **_scan_options(dataset))
    values, valid = outcome_values(table.column(churned_column), where)
    mapped = arrow_join.outcome_map(table.column(id_column), values)
    return arrow_join.OutcomeSide(table, values, valid, mapped)


def outcome_values(column: pa.ChunkedArray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(value 0/1 as int8, valid mask) for outcomes given as booleans, 0/1 numbers or the words
    0/1/true/false (any case, surrounding spaces ignored)."""
    t = column.type
    if pa.types.is_boolean(t):
        values = column.fill_null(False).to_numpy(zero_copy_only=False).astype(np.int8)
        return values, ~column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_integer(t) and not column.null_count:  # no float copy of 20M codes
        raw = column.to_numpy()
        one = raw == 1
        return one.astype(np.int8), one | (raw == 0)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        raw = column.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        valid = (raw == 0) | (raw == 1)
        return np.where(valid, raw, 0).astype(np.int8), valid
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        words = pc.utf8_lower(pc.utf8_trim_whitespace(column))
        one = pc.is_in(words, value_set=pa.array(["1", "true"])).fill_null(False)
        zero = pc.is_in(words, value_set=pa.array(["0", "false"])).fill_null(False)
        one_np = one.to_numpy(zero_copy_only=False)
        return one_np.astype(np.int8), one_np | zero.to_numpy(zero_copy_only=False)
    raise OutcomesError(f"outcomes {where}: the churned column is {t}; give 0/1 or true/false")


def bad_examples(column: pa.ChunkedArray, valid: np.ndarray) -> tuple[str, ...]:
    """A few of the refused outcome values (codes, not customer data), nulls as ``null``."""
    return counts.examples(pc.unique(column.filter(pa.array(~valid))).to_pylist())


def common_ids(assigned: pa.DataType, outcomes: pa.DataType, where: str) -> pa.DataType:
    """The type both sides' ids are compared in: int64 or large_string."""
    if pa.types.is_integer(assigned) and pa.types.is_integer(outcomes):
        return pa.int64()
    text = (pa.types.is_string, pa.types.is_large_string)
    if any(f(assigned) for f in text) and any(f(outcomes) for f in text):
        return pa.large_string()
    raise OutcomesError(
        f"customer ids are {assigned} in the assignments but {outcomes} in the outcomes {where}: "
        "cast one so that they compare"
    )


def _join(
    assigned: Assigned, chosen: np.ndarray, out_column: pa.ChunkedArray, values: np.ndarray,
    where: str,
) -> arrow_join.Joined:  # fmt: skip
    """The chosen keys' rows joined after the stream (:func:`~.arrow_join.join`)."""
    ids, keys = assigned.ids, assigned.keys
    if not chosen.all():
        masks = [chosen[k] for k in keys]
        ids = [a.filter(pa.array(m)) for a, m in zip(ids, masks, strict=True)]
        keys = [k[m] for k, m in zip(keys, masks, strict=True)]
    if ids:
        common = common_ids(ids[0].type, out_column.type, where)
        ids = [a.cast(common) for a in ids]
        out_column = out_column.cast(common)
    return arrow_join.join(ids, keys, len(assigned.combos), out_column, values)


def scan(
    assigned: Assigned, side: arrow_join.OutcomeSide, campaign: str | None, *, id_column: str,
    churned_column: str, where: str,
) -> Scan:  # fmt: skip
    """The campaign's assignments joined with every outcome row, counted."""
    code = assigned.campaigns.values.index(campaign)
    chosen = np.array([c == code for c, _, _ in assigned.combos], dtype=bool)
    outcomes, values, valid = side.table, side.values, side.valid
    joined = None
    if assigned.stream is not None and chosen.all():  # the stream's counts are of every row
        joined = assigned.stream.finish(len(assigned.combos), outcomes.column(id_column))
    if joined is None:
        joined = _join(assigned, chosen, outcomes.column(id_column), values, where)

    tallies: list[ArmTally] = []
    fractions: dict[str, tuple[float, float]] = {}
    bad_arm_values: set[str | None] = set()
    bad_arms = bad_fractions = 0
    for k in np.flatnonzero(chosen):
        _, t, a = assigned.combos[k]
        tier, arm = str(assigned.tiers.values[t]), assigned.arms.values[a]
        bad_fractions += assigned.bad_fractions[k]
        if assigned.low[k] <= assigned.high[k]:
            low, high = fractions.get(tier, (np.inf, -np.inf))
            fractions[tier] = (min(low, assigned.low[k]), max(high, assigned.high[k]))
        if arm not in ARMS:
            bad_arms += assigned.count[k]
            bad_arm_values.add(arm)
            continue
        tallies.append(
            ArmTally(tier, arm, assigned.count[k], int(joined.churned[k]), assigned.cost[k],
                     assigned.score[k])
        )  # fmt: skip
    plans = [p for p in assigned.plans if p[0] == campaign]
    return Scan(
        tallies=tuple(sorted(tallies, key=lambda t: (t.tier, t.arm))),
        fractions=tuple(
            sorted((t, (lo,) if lo == hi else (lo, hi)) for t, (lo, hi) in fractions.items())
        ),
        plan_run_ids=tuple(sorted({str(p[1]) for p in plans})),
        spec_sha256s=tuple(sorted({str(p[2]) for p in plans})),
        currencies=tuple(sorted({str(p[3]) for p in plans if p[3] is not None})),
        assignments=joined.assignments,
        outcomes=len(outcomes),
        not_in_outcomes=joined.not_in_outcomes,
        not_in_assignments=joined.not_in_assignments,
        duplicate_assignments=joined.duplicate_assignments,
        duplicate_outcomes=joined.duplicate_outcomes,
        bad_values=int((~valid).sum()),
        bad_value_examples=bad_examples(outcomes.column(churned_column), valid)
        if not valid.all()
        else (),
        bad_arms=bad_arms,
        bad_arm_examples=counts.examples(list(bad_arm_values)),
        bad_fractions=bad_fractions,
    )
