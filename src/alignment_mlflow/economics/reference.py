"""The scalar engine: one customer at a time with :meth:`BandTable.tier_of`.

It is the oracle the vectorised engines are tested against, and what a serving path calls for a
single score. Pure: no third-party imports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from alignment_mlflow.bands.table import BandTable
from alignment_mlflow.economics.core import Tally, TopK, Validation


def tally_rows(
    table: BandTable,
    rows: Iterable[Mapping[str, Any]],
    *,
    id_column: str,
    score_column: str,
    group_columns: Sequence[str] = (),
    source: str = "rows",
) -> tuple[Tally, list[int], TopK]:
    """Validate and tally ``rows``; returns the tally, each row's band index and a ``top_k``."""
    validation = Validation(source)
    tally = Tally.empty(table, group_columns)
    seen: dict[Any, int] = {}
    dups: list[Any] = []
    assigned: list[int] = []
    scores: list[list[float]] = [[] for _ in table.bands]
    for row in rows:
        ident, score = row[id_column], row[score_column]
        if ident is None:
            validation.add(id_column, "null ids", 1, ["(row without id)"])
        elif ident in seen:
            seen[ident] += 1
            if seen[ident] == 2:
                dups.append(ident)
        else:
            seen[ident] = 1
        if score is None:
            validation.add(score_column, "null scores", 1, [ident])
            continue
        s = float(score)
        if math.isnan(s):
            validation.add(score_column, "NaN scores", 1, [ident])
            continue
        if not 0.0 <= s <= 1.0:
            validation.add(score_column, "scores outside [0, 1]", 1, [ident])
            continue
        i = table.tier_of(s)
        assigned.append(i)
        tally.add_band(i, 1, s)
        scores[i].append(s)
        for g in group_columns:
            tally.add_group(g, row[g], 1, int(table.bands[i].paid))
    extra = sum(n - 1 for n in seen.values() if n > 1)
    validation.add(id_column, "duplicate ids (rows beyond the first)", extra, dups)
    if not seen and not validation.issues:
        validation.empty()
    validation.raise_if_any()

    def top_k(i: int, k: int) -> tuple[float, float]:
        best = sorted(scores[i], reverse=True)[:k]
        return best[-1], math.fsum(best)

    return tally, assigned, top_k
