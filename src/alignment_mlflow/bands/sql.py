"""The band table compiled to a SQL expression, for readers that only speak SQL (a dashboard, a
serving view, an outcomes query over the assignments table): the same comparisons as
:meth:`Band.contains`, bounds written as exact DOUBLE literals so a boundary score lands in the
same tier as in the engines. Pure: it builds text, it runs nothing."""

from __future__ import annotations

import math
import re

from alignment_mlflow.bands.table import Band, BandTable

_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def double(value: float) -> str:
    """``0.7`` -> ``0.7E0``: the shortest text that reads back as the same double; with an
    exponent, Spark SQL reads it as DOUBLE (``0.7`` alone would be a DECIMAL)."""
    if not math.isfinite(value):
        raise ValueError(f"band bound {value!r} is not a finite number")
    text = repr(float(value))
    return text if "e" in text else f"{text}E0"


def band_condition(band: Band, column: str) -> str:
    lo = ">=" if band.min_inclusive else ">"
    hi = "<=" if band.max_inclusive else "<"
    return f"{column} {lo} {double(band.min_score)} AND {column} {hi} {double(band.max_score)}"


def band_index_sql(table: BandTable, column: str) -> str:
    """``CASE WHEN ... THEN 0 ... END``: the band index of ``column`` (NULL when no band holds
    it), the first band winning as in :meth:`BandTable.tier_of`. ``column`` must be a plain
    (optionally qualified) identifier: it is written into the SQL as is."""
    if not _COLUMN.fullmatch(column):
        raise ValueError(f"column {column!r} is not a plain identifier")
    whens = " ".join(
        f"WHEN {band_condition(b, column)} THEN {i}" for i, b in enumerate(table.bands)
    )
    return f"CASE {whens} END"
