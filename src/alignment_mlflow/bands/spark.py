"""The band table compiled to a Spark ``Column``: :func:`band_masks` (the very code the NumPy
compilation and the scalar reference run) applied to a column, so a boundary score lands in the
same tier on a cluster as on a laptop. pyspark loads only when a column is built."""

from __future__ import annotations

from typing import Any

from alignment_mlflow.bands.table import BandTable, band_masks


def band_index_column(table: BandTable, score: Any) -> Any:
    """The band index of ``score`` (a Column), null when no band holds it."""
    from pyspark.sql import functions as F

    masks = band_masks(table, score)
    expr = F.when(masks[0], F.lit(0))
    for i, mask in enumerate(masks[1:], start=1):
        expr = expr.when(mask, F.lit(i))
    return expr
