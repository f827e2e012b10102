"""The Arrow engine's join: a table indexed by the id for dense integer ids, a hash otherwise;
both against a dict, with duplicates, ids on one side only and sparse ids."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from alignment_mlflow.outcomes.arrow_engine import _join


def reference(ids: list[object], out: list[object]) -> tuple[list[bool], list[int], list[bool]]:
    first: dict[object, int] = {}
    for i, v in enumerate(ids):
        first.setdefault(v, i)
    found = [v in first for v in out]
    return found, [first[v] for v in out if v in first], [first[v] == i for i, v in enumerate(ids)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-50, 50), min_size=1, max_size=60),
    st.lists(st.integers(-80, 80), max_size=60),
    st.sampled_from(["dense", "sparse", "string"]),
)
def test_the_join_finds_each_outcomes_first_assignment_row(
    ids: list[int], out: list[int], kind: str
) -> None:
    if kind == "sparse":  # beyond the direct table's 4x span: the hash path
        ids, out = [v * 10**9 for v in ids], [v * 10**9 for v in out]
    values: list[object] = [f"c{v}" for v in ids] if kind == "string" else list(ids)
    outs: list[object] = [f"c{v}" for v in out] if kind == "string" else list(out)
    typ = pa.large_string() if kind == "string" else pa.int64()
    found, pos, firsts = _join(pa.array(values, typ), pa.chunked_array([pa.array(outs, typ)], typ))
    want = reference(values, outs)
    assert found.tolist() == want[0]
    assert pos.tolist() == want[1]
    assert firsts.tolist() == want[2]
    assert isinstance(firsts, np.ndarray)
