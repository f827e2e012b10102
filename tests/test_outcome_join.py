"""The Arrow engine's join: a table indexed by the id for dense integer ids, a hash otherwise;
both against a dict, with duplicates, ids on one side only and sparse ids."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from alignment_mlflow.outcomes.arrow_join import (
    Joined,
    OutcomeSide,
    StreamJoin,
    join,
    outcome_map,
    positions,
)


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
    id_batches = [pa.array(ids[i : i + step], typ) for i in cuts]
    key_batches = [np.array(keys[i : i + step], dtype=np.int32) for i in cuts]
    out_ids = pa.chunked_array([pa.array(outs[:5], typ), pa.array(outs[5:], typ)], typ)
    values = np.array(churned, dtype=np.int8)
    expected = reference_counts(ids, keys, outs, churned, 4)
    after = join(id_batches, key_batches, 4, out_ids, values)
    assert counted(after) == expected

    # The same while the batches stream, the outcomes' map ready after the first batch.
    ready: Future[OutcomeSide] = Future()
    stream = StreamJoin(ready)
    side = OutcomeSide(pa.table({}), values, values >= 0, outcome_map(out_ids, values))
    for n, (i, k) in enumerate(zip(id_batches, key_batches, strict=True)):
        stream.offer(i, k)
        if n == 0:
            ready.set_result(side)
    if not ready.done():
        ready.set_result(side)
    streamed = stream.finish(4, out_ids)
    present = [o for o in outs if o is not None]
    # The stream gives way unless: integer ids, each assigned once, the outcomes' ids in a span
    # of at most 4 per outcome row (+1024), every assigned id inside it.
    span = (min(present), max(present)) if present and kind != "string" else None
    usual = (
        span is not None
        and span[1] - span[0] <= 4 * len(outs) + 1024  # type: ignore[operator]
        and len(set(ids)) == len(ids)
        and all(span[0] <= v <= span[1] for v in ids)  # type: ignore[operator]
    )
    assert (streamed is not None) == usual  # it gives way exactly where it should
    if streamed is not None:
        assert counted(streamed) == expected


def counted(joined: Joined) -> tuple[list[int], int, int, int, int]:
    assert joined.assignments >= 0
    return (joined.churned.tolist(), joined.not_in_outcomes, joined.not_in_assignments,
            joined.duplicate_assignments, joined.duplicate_outcomes)  # fmt: skip
