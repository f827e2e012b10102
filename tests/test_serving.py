"""``serve``: the decisions of the serving room (pure), and the wrapper registered in a real
sqlite registry, loaded with ``mlflow.pyfunc.load_model`` and predicting; a rerun registers
nothing; bad input exits 2 with nothing written. The real `mlflow server` run is in
test_serving_server.py, the five engines in test_serving_engines.py."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _gate_model import TrainedModel, _uris, train_and_register
from _specs import make_spec
from alignment_mlflow import tagkeys
from alignment_mlflow.bands.table import BandTable, band_table
from alignment_mlflow.cli import cli
from alignment_mlflow.errors import InvalidInputError
from alignment_mlflow.serving import core
from alignment_mlflow.spec import load_spec
from conftest import TEMPLATE_SPEC

TABLE = band_table(make_spec())
JSON_KEYS = [
    "model_version",
    "registered",
    "inner_version",
    "spec_sha256",
    "sql_function",
    "timings",
]


# --------------------------------------------------------------------------- the pure core


def _with(table: BandTable, i: int, **changes: Any) -> BandTable:
    bands = list(table.bands)
    bands[i] = dataclasses.replace(bands[i], **changes)
    return BandTable(tuple(bands), table.currency)


def test_the_spec_bands_partition_zero_to_one() -> None:
    core.check_partition(TABLE)


@pytest.mark.parametrize(
    ("i", "changes", "says"),
    [
        (0, {"min_score": 0.85}, "a gap between Medium and High"),
        (0, {"min_score": 0.7}, "an overlap between Medium and High"),
        (0, {"min_inclusive": True}, "0.8 is in both of Medium and High"),
        (1, {"max_inclusive": False}, "0.8 is in neither of Medium and High"),
        (2, {"min_score": 0.1}, "does not start at 0"),
        (0, {"max_inclusive": False}, "does not end at 1"),
    ],
)
def test_bands_that_do_not_partition_are_refused(
    i: int, changes: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidInputError, match=says):
        core.check_partition(_with(TABLE, i, **changes))


def test_the_band_table_travels_exactly() -> None:
    """JSON floats round-trip: the served model's edges are the spec's, bit for bit."""
    odd = _with(_with(TABLE, 0, min_score=0.1 + 0.2), 1, max_score=0.1 + 0.2)
    config = json.loads(json.dumps(core.table_config(odd, "abc", core.ScoreOutput("proba"))))
    table, sha, score = core.table_from_config(config)
    assert table == odd
    assert (sha, score) == ("abc", core.ScoreOutput("proba"))


def _inner(**kw: Any) -> core.InnerModel:
    return core.InnerModel(**{"ref": "models:/m/1", "flavors": ("python_function",), **kw})


@pytest.mark.parametrize(
    ("inner", "explicit", "chosen"),
    [
        (_inner(classes=2, output_columns=("0",)), None, core.ScoreOutput("proba")),
        (_inner(classes=2), "prob", core.ScoreOutput("column", "prob")),
        (_inner(output_columns=("churn_probability",)), None, core.ScoreOutput("single")),
        (_inner(output_columns=("a", "prob")), "prob", core.ScoreOutput("column", "prob")),
    ],
)
def test_the_score_is_chosen_as_the_gate_chooses_metrics(
    inner: core.InnerModel, explicit: str | None, chosen: core.ScoreOutput
) -> None:
    assert core.choose_score(inner, explicit) == chosen


@pytest.mark.parametrize(
    ("inner", "explicit", "says"),
    [
        (_inner(classes=3), None, "classifier of 3 classes"),
        (_inner(output_columns=("a", "b")), None, "has 2 outputs"),
        (_inner(), None, "no usable score output"),
        (_inner(output_columns=("a", "b")), "c", "has no such output"),
    ],
)
def test_a_model_without_a_usable_score_is_refused(
    inner: core.InnerModel, explicit: str | None, says: str
) -> None:
    with pytest.raises(InvalidInputError, match=says):
        core.choose_score(inner, explicit)


@pytest.mark.parametrize("name", ["main.churn", "a.b.c.d", "main.churn.fn;", "main..fn", "x y.z"])
def test_bad_function_names_are_refused(name: str) -> None:
    if name == "main.churn":  # two parts is a schema.function, accepted
        assert str(core.parse_function_name(name)) == name
        return
    with pytest.raises(InvalidInputError, match=r"not CATALOG\.SCHEMA\.FUNCTION"):
        core.parse_function_name(name)


def test_the_sql_function_statement() -> None:
    name = core.parse_function_name("main.churn.churn_tier")
    sql = core.sql_function_statement(TABLE, name, "f" * 64)
    assert sql.startswith(
        "CREATE OR REPLACE FUNCTION `main`.`churn`.`churn_tier`(score DOUBLE) RETURNS STRING "
        "LANGUAGE SQL COMMENT 'churn tier of a score, alignment spec sha256 "
        + "f" * 64
        + "' RETURN CASE "
    )
    assert "WHEN score > 0.8E0 AND score <= 1.0E0 THEN 'High'" in sql
    assert sql.endswith("END")
    assert core.sql_text("it's a \\ tier") == "'it\\'s a \\\\ tier'"


# --------------------------------------------------------------------------- a real sqlite registry


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, TrainedModel]:
    root = tmp_path_factory.mktemp("serve-store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return uri, train_and_register(uri, name="serve_model", latency_s=0.05)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["serve", *args], catch_exceptions=False)


def _versions(uri: str, name: str) -> list[Any]:
    from mlflow import MlflowClient

    return list(MlflowClient(uri, uri).search_model_versions(f"name = '{name}'"))


def load_and_predict(uri: str, model_uri: str, rows: Any) -> Any:
    import mlflow.pyfunc

    with _uris(uri, uri):
        return mlflow.pyfunc.load_model(model_uri).predict(rows)


def test_serve_registers_a_wrapper_that_loads_and_predicts(
    store: tuple[str, TrainedModel], tmp_path: Path
) -> None:
    import numpy as np

    uri, model = store
    args = ["--spec", str(TEMPLATE_SPEC), "--model-version", model.uri, "--tracking-uri", uri]
    first = invoke(*args, "--register-as", "serve_wrapped", "--json")
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert list(out) == JSON_KEYS
    assert out["registered"] is True
    assert out["model_version"] == "models:/serve_wrapped/1"
    assert out["inner_version"] == model.uri
    assert out["spec_sha256"] == load_spec(TEMPLATE_SPEC).sha256
    assert out["sql_function"] is None

    (version,) = _versions(uri, "serve_wrapped")
    assert version.tags[core.TAG_INNER] == model.uri
    assert version.tags[core.TAG_SPEC] == out["spec_sha256"]
    assert version.tags[core.TAG_SCORE] == "predict_proba[:, 1]"
    # The wrapper's own run: in view only what it wraps (a plain spec: no alignment run).
    from mlflow import MlflowClient

    wrapper_run = MlflowClient(uri).get_run(version.run_id).data.tags
    assert tagkeys.reader_keys(wrapper_run) == ["alignment.model"]
    assert wrapper_run["alignment.model"] == model.uri
    assert wrapper_run["mlflow.alignment.spec_sha256"] == out["spec_sha256"]

    rows = np.random.default_rng(3).normal(size=(64, 8))
    served = load_and_predict(uri, "models:/serve_wrapped/1", rows)
    assert list(served.columns) == [c for c, _ in core.OUTPUT_COLUMNS]
    inner = load_and_predict(uri, model.uri, rows)  # the labels; the scores are the proba
    assert len(inner) == len(served) == 64
    table = band_table(make_spec())
    assert served["tier"].tolist() == [table.bands[table.tier_of(s)].tier for s in served["score"]]
    assert served["cost"].tolist() == [table.bands[table.tier_of(s)].cost for s in served["score"]]
    assert set(served["currency"]) == {table.currency}
    assert set(served["spec_sha256"]) == {out["spec_sha256"]}
    assert served["score"].between(0, 1).all()

    again = invoke(*args, "--register-as", "serve_wrapped", "--json")
    assert again.exit_code == 0, again.output
    rerun = json.loads(again.stdout)
    assert rerun["registered"] is False
    assert rerun["model_version"] == "models:/serve_wrapped/1"
    assert len(_versions(uri, "serve_wrapped")) == 1


def test_the_default_name_and_a_dry_run_that_writes_nothing(
    store: tuple[str, TrainedModel],
) -> None:
    uri, model = store
    result = invoke(
        "--spec", str(TEMPLATE_SPEC), "--model-version", model.uri, "--tracking-uri", uri,
        "--sql-function", "main.churn.churn_tier", "--dry-run",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "would register a new version" in result.stdout
    assert "CREATE OR REPLACE FUNCTION `main`.`churn`.`churn_tier`" in result.stdout
    assert _versions(uri, "serve_model_tiered") == []


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--model-version", "models:/serve_model/99"], "no registered model version"),
        (["--model-version", "models:/nope/1"], "no registered model version"),
        (["--model-version", "models:/serve_model@champion"], "not models:/NAME/VERSION"),
        (["--model-version", "MODEL", "--sql-function", "a.b.c.d"], "not CATALOG.SCHEMA"),
        (["--model-version", "MODEL", "--register-as", "bad name"], "not a model name"),
    ],
)
def test_bad_input_exits_2_with_nothing_written(
    store: tuple[str, TrainedModel], extra: list[str], says: str
) -> None:
    uri, model = store
    extra = [model.uri if e == "MODEL" else e for e in extra]
    result = invoke("--spec", str(TEMPLATE_SPEC), "--tracking-uri", uri, *extra, "--json")
    assert result.exit_code == 2, result.output
    assert says in json.loads(result.stdout)["error"]
    assert _versions(uri, "serve_model_tiered") == []


def _identity_wrapper(tmp_path: Path) -> Path:
    """A wrapper (built as ``serve`` builds it) around a model that returns its input column
    ``s``: the served score is whatever the test sends."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from alignment_mlflow.serving import registry

    inner = tmp_path / "inner"
    mlflow.pyfunc.save_model(
        str(inner),
        python_model=str(Path(__file__).parent / "_identity_model.py"),
        signature=ModelSignature(
            inputs=Schema([ColSpec("double", "s")]), outputs=Schema([ColSpec("double", "s")])
        ),
        pip_requirements=["mlflow"],
    )
    config = core.table_config(TABLE, "f" * 64, core.ScoreOutput("single"))
    wrapper: Path = registry.build(inner, config, tmp_path / "w")
    return wrapper


def test_a_served_row_without_a_band_has_no_tier(tmp_path: Path) -> None:
    """The served model on NaN and out-of-range scores: no tier, no intervention, NaN cost (the
    inner model is bypassed by serving from a score column)."""
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd

    wrapper = _identity_wrapper(tmp_path)
    served = mlflow.pyfunc.load_model(str(wrapper)).predict(
        pd.DataFrame({"s": [math.nan, -0.5, 1.5, 0.9]})
    )
    # A missing string is None in pandas 2 and NaN in pandas 3's string dtype.
    assert served["tier"].isna().tolist() == [True, True, True, False]
    assert served["tier"][3] == "High"
    assert served["intervention"].isna().tolist() == [True, True, True, False]
    assert np.isnan(served["cost"][:3]).all()


def test_the_served_strings_are_looked_up_without_a_call_into_arrow(tmp_path: Path) -> None:
    """The string columns keep pandas' string typing, but on Python storage: on Arrow storage
    each of the four lookups a request makes was a pyarrow compute call (37 us against 1.6 us
    for one row; bench/serving.py)."""
    import mlflow.pyfunc
    import pandas as pd

    served = mlflow.pyfunc.load_model(str(_identity_wrapper(tmp_path))).predict(
        pd.DataFrame({"s": [0.9, 0.1]})
    )
    assert served["tier"].tolist() == ["High", "Low"]
    for name in ("tier", "intervention", "currency", "spec_sha256"):
        dtype = served[name].dtype
        assert dtype.kind == "O" or isinstance(dtype, pd.StringDtype), (name, dtype)
        assert getattr(dtype, "storage", "python") == "python", (name, dtype)


def test_an_aligned_findings_file_tags_the_wrapper_with_its_alignment_run(
    store: tuple[str, TrainedModel], tmp_path: Path
) -> None:
    import shutil

    from alignment_mlflow import align
    from alignment_mlflow.serving import serve
    from conftest import FINDINGS_FIXTURES

    uri, model = store
    src = FINDINGS_FIXTURES / "subscription_clean_408768_findings.yaml"
    findings = tmp_path / src.name
    shutil.copy2(src, findings)
    aligned = align(findings, TEMPLATE_SPEC, tracking_uri=uri, tiers_table=str(tmp_path / "tiers"))
    result = serve(findings, model_version=model.uri, tracking_uri=uri, register_as="from_findings")
    assert result.registered
    (version,) = _versions(uri, "from_findings")
    assert version.tags[core.TAG_RUN] == aligned.run_id
    assert version.tags[core.TAG_SPEC] == result.spec_sha256 == load_spec(TEMPLATE_SPEC).sha256


@pytest.mark.parametrize(("setting", "frozen"), [(None, True), ("0", False)])
def test_loading_the_served_model_freezes_the_loaded_heap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, frozen: bool
) -> None:
    """What loading leaves alive is out of every later collection (the served p99 was the
    cyclic GC's full collections over it, bench/serving.py), unless the variable says not to."""
    import gc

    import mlflow.pyfunc

    wrapper = _identity_wrapper(tmp_path)
    if setting is None:
        monkeypatch.delenv("ALIGNMENT_MLFLOW_SERVING_GC_FREEZE", raising=False)
    else:
        monkeypatch.setenv("ALIGNMENT_MLFLOW_SERVING_GC_FREEZE", setting)
    gc.unfreeze()
    try:
        mlflow.pyfunc.load_model(str(wrapper))
        assert (gc.get_freeze_count() > 10_000) is frozen
    finally:
        gc.unfreeze()  # this process is a test worker, not a server
