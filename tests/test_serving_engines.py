"""One semantics, five engines: the same tier for the same score in the Python reference
(``BandTable.tier_of``), the Arrow engine of ``plan``, the served pyfunc on pandas input, the
Spark column (``serving.tier_column``) and the SQL function executed by Spark.

One contract (:class:`EngineContract`, as fsspec's ``tests/abstract``) that each engine
subclasses: 10^6 random scores in one batch, every band edge with its ``nextafter`` neighbours
both ways, ``float32(edge)`` (and its float32 neighbours) given to the engine *as float32*, 0, 1,
and the scores no band holds (NaN, null, outside [0, 1]): no tier in every engine; ``plan``
refuses them outright (exit 2), which its class checks instead.
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from alignment_mlflow.bands.table import band_table
from alignment_mlflow.serving import core
from alignment_mlflow.spec import load_spec
from conftest import TEMPLATE_SPEC

SPEC = load_spec(TEMPLATE_SPEC)
TABLE = band_table(SPEC)
N_RANDOM = 10**6
_EDGES = sorted({e for b in TABLE.bands for e in (b.min_score, b.max_score)})
EDGES64 = np.array(
    sorted(
        {x for e in _EDGES for x in (e, math.nextafter(e, -math.inf), math.nextafter(e, math.inf))}
    ),
    dtype=np.float64,
)
_E32 = np.array(_EDGES, dtype=np.float32)
EDGES32 = np.unique(
    np.concatenate(
        [_E32, np.nextafter(_E32, np.float32(-np.inf)), np.nextafter(_E32, np.float32(np.inf))]
    )
)
NO_BAND = np.array([math.nan, -0.1, 1.1, math.inf, -math.inf], dtype=np.float64)


def reference(values: np.ndarray, nulls: np.ndarray | None = None) -> Any:
    """The scalar reference's tier names, as an Arrow string array (null: no tier)."""
    import pyarrow as pa

    out: list[str | None] = []
    for i, x in enumerate(values.tolist()):  # tolist: float32 -> its exact Python float
        k = -1 if nulls is not None and nulls[i] else TABLE.tier_of(x)
        out.append(TABLE.bands[k].tier if k >= 0 else None)
    return pa.array(out, type=pa.string())


def assert_same(got: Any, expected: Any, values: np.ndarray) -> None:
    """Equal tier arrays; else the first few scores where the engine disagrees."""
    import pyarrow as pa
    import pyarrow.compute as pc

    got = pa.array(got).cast(pa.string()) if not isinstance(got, pa.Array) else got
    assert len(got) == len(expected)
    if got.equals(expected):
        return
    differ = pc.invert(pc.fill_null(pc.equal(got, expected), False))
    both_null = pc.and_(pc.is_null(got), pc.is_null(expected))
    where = np.flatnonzero(pc.and_not(differ, both_null).to_numpy(zero_copy_only=False))
    if len(where) == 0:
        return
    shown = [(repr(values[i]), got[i].as_py(), expected[i].as_py()) for i in where[:5]]
    raise AssertionError(
        f"{len(where)} scores tiered differently (score, engine, reference): {shown}"
    )


def _split(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = (values >= 0) & (values <= 1)
    return values[inside], values[~inside]


@pytest.fixture(scope="module")
def random_scores() -> tuple[np.ndarray, Any]:
    scores = np.random.default_rng(25).random(N_RANDOM)
    return scores, reference(scores)


class EngineContract:
    """What every engine must do; a subclass implements :meth:`tiers` (an Arrow string array,
    null where there is no tier), and :meth:`assert_refused` when it refuses invalid scores."""

    refuses_invalid: ClassVar[bool] = False

    def tiers(self, values: np.ndarray, nulls: np.ndarray | None = None) -> Any:
        raise NotImplementedError

    def assert_refused(self, values: np.ndarray, nulls: np.ndarray) -> None:
        raise NotImplementedError

    def check(self, values: np.ndarray, nulls: np.ndarray | None = None) -> None:
        if nulls is None:
            values, outside = _split(values)
            if len(outside):
                self.check_no_band(outside)
        assert_same(self.tiers(values, nulls), reference(values, nulls), values)

    def check_no_band(self, values: np.ndarray, nulls: np.ndarray | None = None) -> None:
        nulls = np.zeros(len(values), dtype=bool) if nulls is None else nulls
        assert reference(values, nulls).null_count == len(values)
        if self.refuses_invalid:
            self.assert_refused(values, nulls)
        else:
            assert self.tiers(values, nulls).null_count == len(values)

    def test_random_scores(self, random_scores: tuple[np.ndarray, Any]) -> None:
        scores, expected = random_scores
        assert_same(self.tiers(scores), expected, scores)

    def test_band_edges_and_their_neighbours(self) -> None:
        assert set(_EDGES) <= set(EDGES64.tolist())
        self.check(EDGES64)
        assert self.tiers(np.array([0.8])).to_pylist() == ["Medium"]  # the spec's 0.8...

    def test_float32_edges_compare_as_their_exact_value(self) -> None:
        self.check(EDGES32)
        # ...but a float32 0.8 is 0.800000011920929: High, in every engine.
        assert self.tiers(np.array([0.8], dtype=np.float32)).to_pylist() == ["High"]

    def test_zero_and_one(self) -> None:
        for dtype in (np.float64, np.float32):
            self.check(np.array([0.0, 1.0, -0.0], dtype=dtype))

    def test_scores_no_band_holds(self) -> None:
        """NaN, infinities, outside [0, 1], and a null score: no tier (plan: refused)."""
        values = np.concatenate([NO_BAND, [0.5]])
        nulls = np.zeros(len(values), dtype=bool)
        nulls[-1] = True
        self.check_no_band(values, nulls)


class TestReference(EngineContract):
    def tiers(self, values: np.ndarray, nulls: np.ndarray | None = None) -> Any:
        return reference(values, nulls)


class TestArrowEngine(EngineContract):
    """``plan``'s local engine, on an Arrow table whose score column keeps the input's type:
    its assignments stream (the tier column it writes) and its validation (which refuses what no
    band holds before anything is tiered)."""

    refuses_invalid = True

    @staticmethod
    def _table(values: np.ndarray, nulls: np.ndarray | None = None) -> Any:
        import pyarrow as pa

        return pa.table(
            {
                "customer_id": pa.array(np.arange(len(values), dtype=np.int64)),
                "churn_score": pa.array(values, mask=nulls),
            }
        )

    def tiers(self, values: np.ndarray, nulls: np.ndarray | None = None) -> Any:
        from datetime import datetime, timezone

        from alignment_mlflow.economics import arrow_engine, assignments

        scores = self._table(values, nulls)
        constants = {
            "project": "churn",
            "currency": TABLE.currency,
            "spec_sha256": SPEC.sha256,
            "plan_run_id": "a" * 32,
            "scored_at": datetime(2026, 12, 1, tzinfo=timezone.utc),
        }
        reader = arrow_engine.assignment_batches(
            arrow_engine.open_scores(scores), TABLE, id_column="customer_id",
            score_column="churn_score", constants=constants,
            schema=assignments.arrow_schema(scores.schema.field("customer_id").type),
        )  # fmt: skip
        import pyarrow as pa

        return reader.read_all().column("tier").combine_chunks().cast(pa.string())

    def assert_refused(self, values: np.ndarray, nulls: np.ndarray) -> None:
        from alignment_mlflow.economics import arrow_engine
        from alignment_mlflow.economics.core import ScoresError

        scores = arrow_engine.open_scores(self._table(values, nulls))
        with pytest.raises(ScoresError) as err:
            arrow_engine.tally(scores, TABLE, id_column="customer_id", score_column="churn_score")
        nan = np.isnan(values) & ~nulls
        kinds = {
            "null scores": int(nulls.sum()),
            "NaN scores": int(nan.sum()),
            "scores outside [0, 1]": int((~nulls & ~nan).sum()),
        }
        for kind, n in kinds.items():
            assert (f"{n} {kind}" in str(err.value)) == (n > 0), (kind, str(err.value))


@pytest.fixture(scope="module")
def served_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The wrapper ``serve`` registers, built around an inner model that returns its input: any
    score, NaN and out-of-range ones included, reaches the tiering."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from alignment_mlflow.serving import registry

    root = tmp_path_factory.mktemp("served")
    mlflow.pyfunc.save_model(
        str(root / "inner"),
        python_model=str(Path(__file__).parent / "_identity_model.py"),
        signature=ModelSignature(
            inputs=Schema([ColSpec("double", "s")]), outputs=Schema([ColSpec("double", "s")])
        ),
        pip_requirements=["mlflow"],
    )
    config = core.table_config(TABLE, SPEC.sha256, core.ScoreOutput("single"))
    return mlflow.pyfunc.load_model(str(registry.build(root / "inner", config, root / "w")))


class TestServedPyfunc(EngineContract):
    """The served model on pandas input, through MLflow's signature enforcement (a float32
    column is widened to the signature's double, exactly)."""

    @pytest.fixture(autouse=True)
    def _model(self, served_model: Any) -> None:
        self.model = served_model

    def tiers(self, values: np.ndarray, nulls: np.ndarray | None = None) -> Any:
        import pandas as pd

        column = pd.Series(values)
        if nulls is not None:
            column = column.astype(object).where(~nulls, None).astype(values.dtype)
        import pyarrow as pa

        out = self.model.predict(pd.DataFrame({"s": column}))
        return pa.array(out["tier"], type=pa.string(), from_pandas=True)


class SparkEngine(EngineContract):
    @pytest.fixture(autouse=True)
    def _spark(self, classic_spark: Any, tmp_path: Path) -> None:
        self.spark = classic_spark
        self.tmp = tmp_path

    def frame(self, values: np.ndarray, nulls: np.ndarray | None = None) -> Any:
        """One DataFrame, the score column FLOAT or DOUBLE as the input; through a Parquet file,
        which the JVM reads in a second (createDataFrame from Python took a minute at 10^6)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"i": pa.array(np.arange(len(values))), "s": pa.array(values, mask=nulls)})
        path = self.tmp / f"scores-{uuid.uuid4().hex[:8]}.parquet"
        pq.write_table(table, path)
        return self.spark.read.parquet(str(path))

    def collect(self, df: Any) -> Any:
        return df.toArrow().sort_by("i").column("tier").combine_chunks()


@pytest.mark.spark
class TestSparkColumn(SparkEngine):
    def tiers(self, values: np.ndarray, nulls: np.ndarray | None = None) -> Any:
        from alignment_mlflow.serving import tier_column

        df = self.frame(values, nulls)
        return self.collect(df.select("i", tier_column(df, SPEC, "s").alias("tier")))


@pytest.fixture(scope="module")
def sql_function(classic_spark: Any) -> str:
    """The statement ``serve --sql-function`` prints and runs, created once with a 3-part name
    in the local session's catalog."""
    name = core.parse_function_name(f"spark_catalog.default.churn_tier_{uuid.uuid4().hex[:8]}")
    classic_spark.sql(core.sql_function_statement(TABLE, name, SPEC.sha256))
    return str(name)


@pytest.mark.spark
class TestSqlFunction(SparkEngine):
    @pytest.fixture(autouse=True)
    def _function(self, sql_function: str) -> None:
        self.function = sql_function

    def tiers(self, values: np.ndarray, nulls: np.ndarray | None = None) -> Any:
        df = self.frame(values, nulls)
        return self.collect(df.selectExpr("i", f"{self.function}(s) AS tier"))

    def test_the_function_carries_the_spec_sha(self) -> None:
        rows = self.spark.sql(f"DESCRIBE FUNCTION EXTENDED {self.function}").collect()
        text = "\n".join(str(r[0]) for r in rows)
        assert SPEC.sha256 in text
