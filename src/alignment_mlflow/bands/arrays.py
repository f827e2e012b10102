"""The band table compiled for NumPy arrays (the Arrow engine works on zero-copy views of Arrow
buffers, the served model on a pandas column): the shared predicates of :func:`band_masks`, turned
into one band index per score. Scores are widened to float64 first, the exact-value rule of
:mod:`alignment_mlflow.bands.table`: NumPy 2 would compare a float32 array with the bound 0.8 in
float32 and put a float32 0.8 in the band below it, where Spark and the reference put it above."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alignment_mlflow.bands.table import BandTable, band_masks

NO_BAND = -1
"""What :func:`tier_index` says for a score no band holds (NaN, null, outside [0, 1])."""


def exact(scores: Any) -> np.ndarray:
    """The scores as float64 (no copy when they already are): the exact-value rule."""
    return np.asarray(scores, dtype=np.float64)


def band_index(table: BandTable, scores: np.ndarray) -> np.ndarray:
    """Each score's band index (uint8), from the shared predicates; scores must be valid (the
    plan has refused NaN, null and out-of-range scores before it tiers)."""
    return _index(band_masks(table, exact(scores)))


def tier_index(table: BandTable, scores: Any) -> np.ndarray:
    """Each score's band index (int8), :data:`NO_BAND` where no band holds it: any scores."""
    masks = band_masks(table, exact(scores))
    idx = _index(masks).astype(np.int8)
    held = masks[0].copy()
    for mask in masks[1:]:
        held |= mask
    idx[~held] = NO_BAND
    return idx


def _index(masks: Sequence[np.ndarray]) -> np.ndarray:
    idx = np.zeros(len(masks[0]), dtype=np.uint8)
    for i, mask in enumerate(masks):
        if i:
            idx += mask.view(np.uint8) * np.uint8(i)
    return idx
