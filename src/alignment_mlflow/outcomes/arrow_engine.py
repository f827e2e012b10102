"""The Arrow engine: the assignments (a Delta table through delta-rs, Parquet, an Arrow table)
joined with the outcomes in process, reduced to a :class:`~.counts.Scan`.

Memory is what bounds it at 20M rows, so the assignments are read batch by batch and only what
the outcome needs is kept per row: the id, the score, the cost, the planned fraction and small
integer codes for the tier, the arm and the campaign. The constant-per-plan strings (plan run,
spec sha, currency; 100 bytes a row) are reduced per batch to their distinct combinations. The
join is one hash lookup (``pyarrow.compute.index_in``: each outcome's row in the assignments),
and every count is a NumPy ``bincount`` over it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from alignment_mlflow.outcomes import counts
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

    def encode(self, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        encoded = pc.dictionary_encode(column)
        chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
        out = []
        for chunk in chunks:
            local = np.array(
                [self._code(v) for v in chunk.dictionary.to_pylist()] + [self._code(None)]
            )
            idx = chunk.indices.fill_null(len(local) - 1).to_numpy(zero_copy_only=False)
            out.append(local[idx])
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def _code(self, value: Any) -> int:
        key = None if value is None else str(value)
        if key not in self._index:
            self._index[key] = len(self.values)
            self.values.append(key)
        return self._index[key]


@dataclass
class Assigned:
    """The project's assignments, kept column by column (see the module's docstring)."""

    ids: list[pa.Array] = field(default_factory=list)
    score: list[np.ndarray] = field(default_factory=list)
    cost: list[np.ndarray] = field(default_factory=list)
    fraction: list[np.ndarray] = field(default_factory=list)
    tier: list[np.ndarray] = field(default_factory=list)
    arm: list[np.ndarray] = field(default_factory=list)
    campaign: list[np.ndarray] = field(default_factory=list)
    tiers: _Codes = field(default_factory=_Codes)
    arms: _Codes = field(default_factory=_Codes)
    campaigns: _Codes = field(default_factory=_Codes)
    plans: set[tuple[str | None, ...]] = field(default_factory=set)


def read_assignments(dataset: ds.Dataset, project: str) -> Assigned:
    out = Assigned()
    columns = [c for c in ASSIGNMENT_COLUMNS if c != "project"] + ["currency"]
    columns = [c for c in dict.fromkeys(columns) if c in dataset.schema.names]
    for batch in dataset.to_batches(
        columns=columns, filter=pc.field("project") == project, batch_size=BATCH_ROWS
    ):
        if batch.num_rows == 0:
            continue
        out.ids.append(batch.column("customer_id"))
        out.score.append(_floats(batch.column("churn_score")))
        out.cost.append(_floats(batch.column("cost")))
        out.fraction.append(_floats(batch.column("holdout_fraction")))
        out.tier.append(out.tiers.encode(batch.column("tier")))
        out.arm.append(out.arms.encode(batch.column("arm")))
        out.campaign.append(out.campaigns.encode(batch.column("campaign")))
        out.plans |= _plans(batch)
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
    return np.asarray(column.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False))


def campaigns(assigned: Assigned) -> list[str | None]:
    used: Any = np.unique(np.concatenate(assigned.campaign)) if assigned.campaign else []
    return [assigned.campaigns.values[int(i)] for i in used]


def read_outcomes(dataset: ds.Dataset, id_column: str, churned_column: str) -> pa.Table:
    return dataset.to_table(columns=[id_column, churned_column])


def outcome_values(column: pa.ChunkedArray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(value 0/1 as int8, valid mask) for outcomes given as booleans, 0/1 numbers or the words
    0/1/true/false (any case, surrounding spaces ignored)."""
    t = column.type
    if pa.types.is_boolean(t):
        values = column.fill_null(False).to_numpy(zero_copy_only=False).astype(np.int8)
        return values, ~column.is_null().to_numpy(zero_copy_only=False)
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


def common_ids(assigned: pa.ChunkedArray, outcomes: pa.ChunkedArray, where: str) -> tuple[Any, Any]:
    a, o = assigned.type, outcomes.type
    if pa.types.is_integer(a) and pa.types.is_integer(o):
        return assigned.cast(pa.int64()), outcomes.cast(pa.int64())
    text = (pa.types.is_string, pa.types.is_large_string)
    if any(f(a) for f in text) and any(f(o) for f in text):
        return assigned.cast(pa.large_string()), outcomes.cast(pa.large_string())
    raise OutcomesError(
        f"customer ids are {a} in the assignments but {o} in the outcomes {where}: cast one "
        "so that they compare"
    )


def _join(ids: pa.Array, out_ids: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(found: each outcome row's id is assigned, pos: its assignment row, for the found rows;
    firsts: each assignment row is its id's first). Dense integer ids (customer numbers) are
    looked up in a table indexed by the id itself, a pass of NumPy; others are hashed."""
    n = len(ids)
    if pa.types.is_integer(ids.type) and n and not ids.null_count:
        a = ids.to_numpy()
        low, high = int(a.min()), int(a.max())
        if high - low <= 4 * n + 1024:
            table = np.full(high - low + 1, -1, dtype=np.int64)
            table[a[::-1] - low] = np.arange(n - 1, -1, -1)  # the first row of an id wins
            o = out_ids.fill_null(low - 1).to_numpy()
            inside = (o >= low) & (o <= high)
            pos = np.full(len(o), -1, dtype=np.int64)
            pos[inside] = table[o[inside] - low]
            found = pos >= 0
            return found, pos[found], table[a - low] == np.arange(n)
    at = pc.index_in(out_ids, value_set=ids)
    found = ~at.is_null().to_numpy(zero_copy_only=False)
    pos = at.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)[found]
    firsts = np.ones(n, dtype=bool)
    if pc.count_distinct(ids).as_py() < n:  # index_in points at each id's first row
        firsts = pc.index_in(ids, value_set=ids).to_numpy(zero_copy_only=False) == np.arange(n)
    return found, pos, firsts


def scan(
    assigned: Assigned, outcomes: pa.Table, campaign: str | None, *, id_column: str,
    churned_column: str, where: str,
) -> Scan:  # fmt: skip
    """The campaign's assignments joined with every outcome row, counted."""
    camp = np.concatenate(assigned.campaign)
    code = assigned.campaigns.values.index(campaign)
    keep = camp == code
    whole = bool(keep.all())

    def cut(parts: list[np.ndarray]) -> np.ndarray:
        joined = np.concatenate(parts)
        return joined if whole else joined[keep]

    raw_ids = pa.chunked_array(assigned.ids)
    if not whole:
        raw_ids = raw_ids.filter(pa.array(keep))
    ids, out_ids = common_ids(raw_ids, outcomes.column(id_column), where)
    ids = ids.combine_chunks()
    values, valid = outcome_values(outcomes.column(churned_column), where)
    n = len(ids)
    found, pos_np, firsts = _join(ids, out_ids)
    distinct = int(firsts.sum())
    seen = np.bincount(pos_np, minlength=n)
    churned = np.zeros(n, dtype=np.int64)
    ok = valid[found]
    churned[pos_np[ok]] = values[found][ok]

    tier, arm = cut(assigned.tier), cut(assigned.arm)
    arm_code = np.full(len(assigned.arms.values), -1)
    for i, name in enumerate(assigned.arms.values):
        if name in ARMS:
            arm_code[i] = ARMS.index(name)
    arm_np = arm_code[arm] if n else np.zeros(0, dtype=np.int64)
    good_arm = arm_np >= 0
    key = tier * 2 + np.where(good_arm, arm_np, 0)
    size = 2 * len(assigned.tiers.values)
    count = np.bincount(key[good_arm], minlength=size)
    sums = {
        name: np.bincount(key[good_arm], weights=w[good_arm], minlength=size)
        for name, w in (
            ("churned", churned),
            ("cost", cut(assigned.cost)),
            ("score", cut(assigned.score)),
        )
    }
    tallies = tuple(
        ArmTally(str(assigned.tiers.values[k // 2]), ARMS[k % 2], int(count[k]),
                 int(sums["churned"][k]), float(sums["cost"][k]), float(sums["score"][k]))
        for k in range(size) if count[k]
    )  # fmt: skip
    frac = cut(assigned.fraction)
    fractions = []
    for i, name in enumerate(assigned.tiers.values):
        f = frac[tier == i]
        f = f[~np.isnan(f)]
        if len(f):
            low, high = float(f.min()), float(f.max())
            fractions.append((str(name), (low,) if low == high else (low, high)))
    bad_arm_values = {assigned.arms.values[int(a)] for a in np.unique(arm[~good_arm])}
    plans = [p for p in assigned.plans if p[0] == campaign]
    return Scan(
        tallies=tuple(sorted(tallies, key=lambda t: (t.tier, t.arm))),
        fractions=tuple(sorted(fractions)),
        plan_run_ids=tuple(sorted({str(p[1]) for p in plans})),
        spec_sha256s=tuple(sorted({str(p[2]) for p in plans})),
        currencies=tuple(sorted({str(p[3]) for p in plans if p[3] is not None})),
        assignments=n,
        outcomes=len(out_ids),
        not_in_outcomes=int(((seen == 0) & firsts).sum()),
        not_in_assignments=int((~found).sum()),
        duplicate_assignments=n - distinct,
        duplicate_outcomes=int(len(out_ids) - (~found).sum() - (seen > 0).sum()),
        bad_values=int((~valid).sum()),
        bad_value_examples=bad_examples(outcomes.column(churned_column), valid)
        if not valid.all()
        else (),
        bad_arms=int((~good_arm).sum()),
        bad_arm_examples=counts.examples(list(bad_arm_values)),
        bad_fractions=int((np.isnan(frac) | (frac < 0) | (frac > 1)).sum()),
    )
