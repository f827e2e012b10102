"""The Arrow and Spark engines find the same thing: one class of tests (``EngineParity``) run on
a classic session and on Spark Connect, over generated campaigns (good and broken), and on
Delta tables by name."""

from __future__ import annotations

import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import _campaign
from alignment_mlflow.outcomes import report
from alignment_mlflow.outcomes.api import evaluate
from alignment_mlflow.outcomes.counts import OutcomesError, Scan
from alignment_mlflow.spec import load_spec
from conftest import TEMPLATE_SPEC

pytestmark = pytest.mark.spark
SPEC = load_spec(TEMPLATE_SPEC)


def assert_same(arrow: Scan, spark: Scan) -> None:
    """Counts exactly; sums of costs and scores to rounding (the engines add in other orders)."""
    a, s = asdict(arrow), asdict(spark)
    tallies_a, tallies_s = a.pop("tallies"), s.pop("tallies")
    assert a == s
    assert len(tallies_a) == len(tallies_s)
    for x, y in zip(tallies_a, tallies_s, strict=True):
        assert {k: x[k] for k in ("tier", "arm", "customers", "churned")} == {
            k: y[k] for k in ("tier", "arm", "customers", "churned")
        }
        assert x["cost"] == pytest.approx(y["cost"], rel=1e-12, abs=1e-9)
        assert x["score_sum"] == pytest.approx(y["score_sum"], rel=1e-12, abs=1e-9)


def broken(c: _campaign.Campaign, how: str, rng: np.random.Generator) -> pa.Table:
    """The campaign's outcomes, damaged in one of the ways the command refuses."""
    o = c.outcomes
    n = len(o)
    if how == "missing":
        return o.slice(int(rng.integers(1, 5)))
    if how == "unknown":
        ids = o["customer_id"].to_pylist()
        extra = [f"x-{i}" if isinstance(ids[0], str) else 10**9 + i for i in range(3)]
        more = pa.table({"customer_id": pa.array(extra, o.schema[0].type),
                         "churned": pa.array([1, 0, 1])})  # fmt: skip
        return pa.concat_tables([o, more])
    if how == "duplicate":
        return pa.concat_tables([o, o.slice(0, 2)])
    values = ["0", "1", "yes", None, " TRUE "]
    words = pa.array([values[i % len(values)] for i in range(n)])
    return o.set_column(1, "churned", words)


class EngineParity:
    """A subclass provides ``spark`` (the session under test)."""

    @settings(
        max_examples=4, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )  # fmt: skip
    @given(
        seed=st.integers(0, 10_000),
        sizes=st.tuples(*(st.integers(0, 300) for _ in range(3))),
        fractions=st.tuples(*(st.sampled_from([0.0, 0.1, 0.5, 1.0]) for _ in range(3))),
        string_ids=st.booleans(),
        how=st.sampled_from(["good", "good", "missing", "unknown", "duplicate", "values"]),
    )
    def test_both_engines_scan_a_campaign_alike(
        self, spark: Any, tmp_path_factory: pytest.TempPathFactory, seed: int,
        sizes: tuple[int, int, int], fractions: tuple[float, float, float], string_ids: bool,
        how: str,
    ) -> None:  # fmt: skip
        tiers = tuple(
            replace(t, customers=n, fraction=f)
            for t, n, f in zip(_campaign.TIERS, sizes, fractions, strict=True)
        )
        if sum(sizes) == 0:
            tiers = (replace(tiers[0], customers=1), *tiers[1:])
        c = _campaign.make(seed, tiers=tiers, spec_sha256=SPEC.sha256, string_ids=string_ids)
        outcomes = c.outcomes if how == "good" else broken(c, how, np.random.default_rng(seed))
        folder = tmp_path_factory.mktemp("parity")
        pq.write_table(c.assignments, folder / "a.parquet")
        pq.write_table(outcomes, folder / "o.parquet")
        results = []
        for engine in ("arrow", "spark"):
            try:
                judged, _, found = evaluate(
                    str(folder / "a.parquet"), str(folder / "o.parquet"), SPEC, spark=spark,
                    engine=engine,
                )  # fmt: skip
            except OutcomesError as exc:
                results.append(("refused", str(exc), None))
                continue
            results.append(("judged", report.to_json(judged, run_id=None, timings={}), found))
        (kind_a, body_a, scan_a), (kind_s, body_s, scan_s) = results
        assert kind_a == kind_s
        if how != "good":
            assert kind_a == "refused"
            assert body_a == body_s  # the same refusal, counted alike
            return
        assert scan_a is not None
        assert scan_s is not None
        assert_same(scan_a, scan_s)
        assert body_a["verdict"] == body_s["verdict"]
        assert [t["verdict"] for t in body_a["tiers"]] == [t["verdict"] for t in body_s["tiers"]]
        assert body_a["srm_p"] == pytest.approx(body_s["srm_p"], rel=1e-12, abs=1e-15)

    def test_delta_tables_by_name_are_read_at_one_version(self, spark: Any, tmp_path: Path) -> None:
        schema = f"spark_catalog.outcomes_{uuid.uuid4().hex[:8]}"
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        c = _campaign.make(21, spec_sha256=SPEC.sha256, string_ids=True)
        pq.write_table(c.assignments, tmp_path / "a.parquet")
        pq.write_table(c.outcomes, tmp_path / "o.parquet")
        for name, path in (("assignments", "a.parquet"), ("outcomes", "o.parquet")):
            frame = spark.read.parquet(str(tmp_path / path))
            frame.write.format("delta").saveAsTable(f"{schema}.{name}")
        by_name, reader, scan = evaluate(f"{schema}.assignments", f"{schema}.outcomes", SPEC,
                                         spark=spark)  # fmt: skip
        assert reader.name == "spark"
        assert reader.assignments_location == f"{schema}.assignments@v0"
        local, _, local_scan = evaluate(c.assignments, c.outcomes, SPEC)
        assert_same(local_scan, scan)
        assert by_name.outcome.verdict == local.outcome.verdict
        with pytest.raises(OutcomesError, match="does not exist"):
            evaluate(f"{schema}.nope", f"{schema}.outcomes", SPEC, spark=spark)


class TestClassic(EngineParity):
    @pytest.fixture
    def spark(self, classic_spark: Any, classic_mode: None) -> Any:
        return classic_spark


class TestConnect(EngineParity):
    @pytest.fixture
    def spark(self, connect_spark: Any, connect_mode: None) -> Any:
        return connect_spark
