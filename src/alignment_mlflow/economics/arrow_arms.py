"""The holdout on the Arrow engine: who is held out, counted per tier, and each row's arm.

The draw is ``outcomes/arms.py``'s Spark-compatible ``xxhash64`` of (campaign key, id) in NumPy:
integer ids are hashed as a ``bigint`` (as Spark hashes ``CAST(id AS BIGINT)``), string ids as
UTF-8. A held-out customer is counted apart (no cost, no expected save) and, in a paid tier,
taken out of the paid customers of its fairness groups.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alignment_mlflow.bands.arrays import band_index
from alignment_mlflow.bands.table import BandTable
from alignment_mlflow.economics.core import ScoresError, Tally, TopK
from alignment_mlflow.economics.holdout import Holdout
from alignment_mlflow.economics.scores import ArrowScores, score_array
from alignment_mlflow.outcomes import arms

BATCH_ROWS = 1 << 20


def check_id_type(kind: pa.DataType, id_column: str) -> None:
    """Ids the keyed hash is defined for, the same in Spark: integers up to 64 signed bits and
    strings. Raised before anything is written."""
    integer = pa.types.is_integer(kind) and not pa.types.is_uint64(kind)
    if not (integer or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise ScoresError(
            f"id column {id_column!r} is {kind}: --holdout draws the arms from integer or string "
            "customer ids; cast the ids or pass another --id-column; nothing was written"
        )


def hashes(ids: pa.Array, key: int) -> np.ndarray:
    if pa.types.is_integer(ids.type):
        return arms.hash_ids(ids.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), key)
    return arms.hash_ids(ids.to_pylist(), key)


def held_out(ids: pa.Array, idx: np.ndarray, holdout: Holdout) -> np.ndarray:
    """True where the row (its tier ``idx``) is held out."""
    fractions = np.asarray(holdout.fractions, dtype=np.float64)
    return arms.held_out(hashes(ids, holdout.key), fractions[idx])


def tally_held_out(
    scores: ArrowScores,
    table: BandTable,
    tally: Tally,
    holdout: Holdout,
    *,
    id_column: str,
    score_column: str,
    group_columns: Sequence[str] = (),
) -> TopK:
    """Adds the held out to ``tally`` (per band, and out of the paid per group) in one pass over
    the validated scores; returns a ``top_k`` over the treated customers of a band."""
    check_id_type(scores.dataset.schema.field(id_column).type, id_column)
    k = len(table)
    paid = np.array([b.paid for b in table.bands])
    for i in range(k):
        tally.add_held_out(i, 0, 0.0)
    for batch in scores.batches([id_column, score_column, *group_columns], BATCH_ROWS):
        if batch.num_rows == 0:
            continue
        vals = score_array(batch, score_column).to_numpy(zero_copy_only=False)
        idx = band_index(table, vals)
        held = held_out(batch.column(id_column), idx, holdout)
        counts = np.bincount(idx[held], minlength=k)
        sums = np.bincount(idx[held], weights=vals[held], minlength=k)
        for i in range(k):
            tally.add_held_out(i, int(counts[i]), float(sums[i]))
        if group_columns:
            paid_held = pa.array(held & paid[idx])
            for g in group_columns:
                vc = pc.value_counts(pc.filter(batch.column(g), paid_held))
                for label, c in zip(
                    vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True
                ):
                    tally.add_group(g, label, 0, -int(c))

    def top_k(i: int, want: int) -> tuple[float, float]:
        """The band's treated scores, partially sorted (only runs over budget)."""
        parts = []
        for batch in scores.batches([id_column, score_column], BATCH_ROWS):
            vals = score_array(batch, score_column).to_numpy(zero_copy_only=False)
            rows = table.bands[i].contains(vals)
            ids = pc.filter(batch.column(id_column), pa.array(rows))
            held = held_out(ids, np.full(len(ids), i, dtype=np.int64), holdout)
            parts.append(vals[rows][~held])
        band_scores = np.concatenate(parts) if parts else np.zeros(0)
        top = np.partition(band_scores, len(band_scores) - want)[len(band_scores) - want :]
        return float(top.min()), float(top.sum())

    return top_k
