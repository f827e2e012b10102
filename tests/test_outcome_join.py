"""The Arrow engine's join: a table indexed by the id for dense integer ids, a hash otherwise;
both against a dict, with duplicates, ids on one side only and sparse ids."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from alignment_mlflow.outcomes.arrow_join import join, positions


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
    found, pos, firsts = positions(
        pa.array(values, typ), pa.chunked_array([pa.array(outs, typ)], typ)
    )
    want = reference(values, outs)
    assert found.tolist() == want[0]
    assert pos.tolist() == want[1]
    assert firsts.tolist() == want[2]
    assert isinstance(firsts, np.ndarray)


def reference_counts(
    ids: list[object], keys: list[int], out: list[object], churned: list[int], nkeys: int
) -> tuple[list[int], int, int, int, int]:
    """(churned per key over each id's first assignment row, not in outcomes, not in
    assignments, duplicate assignments, duplicate outcomes), with dicts."""
    first: dict[object, int] = {}
    for i, v in enumerate(ids):
        first.setdefault(v, i)
    value: dict[object, int] = {}
    found = 0
    for v, c in zip(out, churned, strict=True):
        if v is not None and v in first:
            found += 1
            value[v] = c
    per_key = [0] * nkeys
    for v, i in first.items():
        per_key[keys[i]] += value.get(v, 0)
    return (per_key, len(first) - len(value), len(out) - found, len(ids) - len(first),
            found - len(value))  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-20, 40), st.integers(0, 3)), max_size=60),
    st.lists(st.tuples(st.one_of(st.none(), st.integers(-30, 50)), st.integers(0, 1)),
             max_size=60),
    st.sampled_from(["dense", "from zero", "sparse", "string"]),
    st.integers(1, 3),
)  # fmt: skip
# Every outcome of an assigned customer, all in range: the byte map's shortcuts.
@example([(5, 0), (6, 1), (7, 2), (8, 1)], [(6, 1), (5, 0), (8, 1), (7, 1), (6, 1)], "dense", 2)
@example([(5, 0), (6, 1), (7, 2), (8, 1)], [(6, 1), (5, 0), (8, 1), (7, 1)], "from zero", 1)
def test_the_joins_counts_match_dicts(
    assigned: list[tuple[int, int]], out: list[tuple[int | None, int]], kind: str, batches: int
) -> None:
    """Both ways (the byte map for dense integers, the hash otherwise), ids in batches."""

    def shape(v: int | None) -> object:
        if v is None:
            return None
        return {"dense": v, "from zero": v + 20, "sparse": v * 10**9, "string": f"c{v}"}[kind]

    ids = [shape(v) for v, _ in assigned]
    keys = [k for _, k in assigned]
    outs = [shape(v) for v, _ in out]
    churned = [c for _, c in out]
    typ = pa.large_string() if kind == "string" else pa.int64()
    step = max(1, -(-len(ids) // batches))
    cuts = range(0, len(ids), step)
    joined = join(
        [pa.array(ids[i : i + step], typ) for i in cuts],
        [np.array(keys[i : i + step], dtype=np.int32) for i in cuts],
        4,
        pa.chunked_array([pa.array(outs[:5], typ), pa.array(outs[5:], typ)], typ),
        np.array(churned, dtype=np.int8),
    )
    per_key, missing, unknown, dup_a, dup_o = reference_counts(ids, keys, outs, churned, 4)
    assert joined.churned.tolist() == per_key
    assert joined.assignments == len(ids)
    assert (joined.not_in_outcomes, joined.not_in_assignments) == (missing, unknown)
    assert (joined.duplicate_assignments, joined.duplicate_outcomes) == (dup_a, dup_o)
