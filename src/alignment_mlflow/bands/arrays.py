"""The band table compiled for NumPy arrays (the Arrow engine works on zero-copy views of Arrow
buffers): the shared predicates of :func:`band_masks`, turned into one band index per score."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alignment_mlflow.bands.table import BandTable, band_masks


def band_index(table: BandTable, scores: np.ndarray) -> np.ndarray:
    """Each score's band index (uint8), from the shared predicates; scores must be valid."""
    return _index(band_masks(table, scores))


def _index(masks: Sequence[np.ndarray]) -> np.ndarray:
    idx = np.zeros(len(masks[0]), dtype=np.uint8)
    for i, mask in enumerate(masks):
        if i:
            idx += mask.view(np.uint8) * np.uint8(i)
    return idx
