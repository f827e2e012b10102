"""The gate's pure core: operators, units, qualifiers, statuses, the overall verdict, the tags."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _specs import make_spec, spec_data
from alignment_mlflow import tagkeys
from alignment_mlflow.errors import InvalidInputError, SpecError
from alignment_mlflow.gating import parsing as gp
from alignment_mlflow.gating import verdict as vd
from alignment_mlflow.gating.result import GateResult
from alignment_mlflow.spec import load_spec, render_summary, spec_to_dict
from conftest import TEMPLATE_SPEC

D = Decimal
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
# Values as people write them: up to 6 integer and 4 decimal digits.
WRITTEN = st.decimals(min_value=D("-100000"), max_value=D("100000"), places=4)

TEMPLATE_LOGGED = {
    "roc_auc": 0.84,
    "precision_at_20pct": 0.61,
    "latency_p99_s": 0.085,
    "demographic_parity_ratio": 0.9,
}


def metrics(*entries: dict[str, Any]) -> dict[str, Any]:
    data = spec_data()
    data["success_metrics"] = list(entries)
    return data


def one(target: str, priority: str = "High", **extra: str) -> Any:
    return load_spec(metrics({"metric": "X", "target": target, "priority": priority, **extra}))


# --------------------------------------------------------------------------- operators


@given(FINITE)
def test_strict_operators_exclude_the_boundary_and_inclusive_ones_include_it(x: float) -> None:
    d = gp.decimal(x)
    assert not vd.compare(d, "<", d)
    assert not vd.compare(d, ">", d)
    assert vd.compare(d, "<=", d)
    assert vd.compare(d, ">=", d)
    assert vd.compare(d, "==", d)


@given(FINITE, FINITE)
def test_operators_agree_with_the_order_of_the_values(a: float, b: float) -> None:
    da, db = gp.decimal(a), gp.decimal(b)
    assert vd.compare(da, "<", db) == (a < b)
    assert vd.compare(da, ">=", db) == (a >= b)
    assert vd.compare(da, "<", db) != vd.compare(da, ">=", db)
    assert vd.compare(da, ">", db) != vd.compare(da, "<=", db)


@given(WRITTEN)
def test_equality_tolerates_float_noise_but_not_a_real_difference(t: Decimal) -> None:
    target = D(repr(float(t)))
    noisy = target * (1 + D("1e-12")) if target else D("1e-13")
    assert vd.compare(noisy, "==", target)
    real = target + abs(target) * D("1e-6") + D("1e-6")  # a millionth apart is a real difference
    assert not vd.compare(real, "==", target)


def test_nan_is_never_met() -> None:
    for op in (">=", ">", "<=", "<", "=="):
        assert not vd.compare(D("NaN"), op, D("0.8"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- units


@given(WRITTEN.filter(lambda v: v > 0))
def test_seconds_at_a_millisecond_boundary_are_exactly_at_it(ms: Decimal) -> None:
    seconds = float(ms / 1000)  # logged by the training code
    observed = gp.convert(seconds, "s", "ms")
    target = gp.decimal(float(ms))
    assert observed == target
    assert not vd.compare(observed, "<", target)
    assert vd.compare(observed, "<=", target)


@given(WRITTEN.filter(lambda v: v > 0), st.sampled_from(["s", "ms"]))
def test_conversion_is_a_round_trip_between_units(value: Decimal, unit: str) -> None:
    other = "ms" if unit == "s" else "s"
    there = gp.convert(float(value), unit, other)
    back = gp.convert(float(there), other, unit)
    assert back == gp.decimal(float(value))


@pytest.mark.parametrize(
    ("target", "key", "value", "status"),
    [
        ("< 100ms", "latency_p99_s", 0.085, "met"),
        ("< 100ms", "latency_p99_s", 0.1, "unmet"),  # strict: exactly 100 ms is not < 100 ms
        ("<= 100ms", "latency_p99_s", 0.1, "met"),
        ("< 100ms", "latency_p99_ms", 85.0, "met"),
        ("< 0.1s", "latency_p99_ms", 100.0, "unmet"),
        ("< 100ms", "latency:s", 0.07, "met"),
        ("<= 70ms", "latency_s", 0.07, "met"),  # 0.07 * 1000 is 70, not 70.00000000000001
        (">= 60%", "precision", 0.6, "met"),  # a fraction by default
        (">= 60%", "precision:%", 59.9, "unmet"),
        (">= 60%", "precision:%", 60.0, "met"),
        ("Ratio >= 0.8", "dp_ratio", 0.8, "met"),
        ("== 0.3", "x", 0.1 + 0.2, "met"),
    ],
)
def test_units_and_operators_in_a_verdict(target: str, key: str, value: float, status: str) -> None:
    spec = one(target, mlflow_metric=key)
    got = vd.judge(spec, {gp.parse_metric_key(key).key: value})
    assert got.metrics[0].status == status
    assert got.verdict == ("passed" if status == "met" else "failed")


@pytest.mark.parametrize(
    ("target", "key", "message"),
    [
        ("< 100ms", "latency_p99", "cannot tell whether 'latency_p99' is in seconds"),
        ("< 100ms", "latency:%", "is a percentage but the target is in ms"),
        (">= 60%", "precision:s", "is a time but the target is a percentage"),
        (">= 0.8", "auc:s", "the target has none"),
        (
            "< 100ms p99",
            "latency_p50_ms",
            r"the target is p99 \('< 100ms p99'\) but 'latency_p50_ms' is p50",
        ),
    ],
)
def test_values_that_cannot_be_compared_are_invalid_input(
    target: str, key: str, message: str
) -> None:
    spec = one(target, mlflow_metric=key)
    with pytest.raises(InvalidInputError, match=message):
        vd.judge(spec, {gp.parse_metric_key(key).key: 1.0})


def test_a_qualifier_is_matched_to_the_mapped_key() -> None:
    spec = one("< 100ms p99", mlflow_metric="latency_p99_ms")
    assert vd.judge(spec, {"latency_p99_ms": 99.0}).metrics[0].status == "met"
    spec = one("< 100ms p99", mlflow_metric="latency_ms")
    r = vd.judge(spec, {"latency_ms": 99.0}).metrics[0]
    assert r.status == "met"
    assert "read as the target's p99" in r.note


def test_key_suffixes_and_percentiles() -> None:
    assert gp.key_unit("latency_p99_s") == "s"
    assert gp.key_unit("latency_seconds") == "s"
    assert gp.key_unit("serving.latency_ms") == "ms"
    assert gp.key_unit("precision_at_20pct") is None
    assert gp.percentile("latency_p99_s") == "p99"
    assert gp.percentile("p95_latency") == "p95"
    assert gp.percentile("precision") is None
    assert gp.parse_metric_key("a:b") == gp.MetricKey("a:b")  # colons are legal in MLflow keys
    assert gp.parse_metric_key("lat:ms") == gp.MetricKey("lat", "ms")


# --------------------------------------------------------------------------- arguments


def test_arguments_are_read_or_refused_with_the_form_expected() -> None:
    assert gp.parse_metric_option("model_latency=lat:s") == (
        "model_latency",
        gp.MetricKey("lat", "s"),
    )
    assert gp.parse_model_version("models:/main.churn.model/12") == ("main.churn.model", "12")
    assert gp.check_alias("champion") == "champion"
    for bad in ("model_auc", "=roc_auc", "model_auc="):
        with pytest.raises(ValueError, match="is not SLUG=KEY"):
            gp.parse_metric_option(bad)
    for bad in ("models:/m", "runs:/abc/model", "models:/m/latest"):
        with pytest.raises(ValueError, match="is not models:/NAME/VERSION"):
            gp.parse_model_version(bad)
    with pytest.raises(ValueError, match="an alias names"):
        gp.parse_model_version("models:/m@champion")
    for bad in ("latest", "v3", "has space", "", "champion\n", "champion\r\n", "a" * 256):
        with pytest.raises(ValueError, match="not a usable alias"):
            gp.check_alias(bad)


# --------------------------------------------------------------------------- statuses and verdicts


def test_the_template_spec_judged_against_a_good_model_passes() -> None:
    got = vd.judge(load_spec(TEMPLATE_SPEC), TEMPLATE_LOGGED)
    assert got.verdict == "passed"
    assert {m.slug: m.status for m in got.metrics} == {
        "model_auc": "met",
        "precision_at_20pct": "met",
        "churn_rate_reduction": "deferred",
        "model_latency": "met",
        "fairness_demographic_parity": "met",
    }
    latency = next(m for m in got.metrics if m.slug == "model_latency")
    assert latency.compared == "85 ms < 100 ms"
    assert latency.value == 0.085


def test_any_unmet_fails_even_a_medium_one() -> None:
    got = vd.judge(load_spec(TEMPLATE_SPEC), {**TEMPLATE_LOGGED, "latency_p99_s": 0.2})
    assert got.verdict == "failed"


def test_a_missing_high_metric_is_incomplete_a_missing_medium_one_is_not() -> None:
    logged = dict(TEMPLATE_LOGGED)
    del logged["demographic_parity_ratio"]  # Medium
    got = vd.judge(load_spec(TEMPLATE_SPEC), logged)
    assert got.verdict == "passed"
    fair = next(m for m in got.metrics if m.slug == "fairness_demographic_parity")
    assert fair.status == "not_measured"
    assert "'demographic_parity_ratio', 'fairness_demographic_parity'" in fair.note
    assert "--metric fairness_demographic_parity=KEY" in fair.note
    del logged["roc_auc"]  # High
    assert vd.judge(load_spec(TEMPLATE_SPEC), logged).verdict == "incomplete"
    # ...but an unmet metric still fails it.
    assert vd.judge(load_spec(TEMPLATE_SPEC), {**logged, "latency_p99_s": 1.0}).verdict == "failed"


def test_value_lookup_order_option_then_mlflow_metric_then_slug() -> None:
    spec = load_spec(TEMPLATE_SPEC)
    logged = {**TEMPLATE_LOGGED, "model_auc": 0.5, "val_auc": 0.9}
    auc = vd.judge(spec, logged).metrics[0]
    assert (auc.metric_key, auc.status) == ("roc_auc", "met")
    mapped = vd.judge(spec, logged, {"model_auc": gp.MetricKey("val_auc")}).metrics[0]
    assert (mapped.metric_key, mapped.value) == ("val_auc", 0.9)
    del logged["roc_auc"]
    fallback = vd.judge(spec, logged).metrics[0]
    assert (fallback.metric_key, fallback.status) == ("model_auc", "unmet")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"model_acu": gp.MetricKey("roc_auc")},
            "no success metric 'model_acu'; did you mean 'model_auc'",
        ),
        ({"model_auc": gp.MetricKey("val_auc")}, "the model logged no metric 'val_auc'"),
        ({"churn_rate_reduction": gp.MetricKey("roc_auc")}, "is measured_on business"),
    ],
)
def test_bad_mappings_are_invalid_input(mapping: dict[str, gp.MetricKey], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        vd.judge(load_spec(TEMPLATE_SPEC), TEMPLATE_LOGGED, mapping)


def test_a_spec_with_nothing_measurable_or_a_model_with_nothing_measured_is_invalid() -> None:
    business = load_spec(
        metrics({"metric": "Churn Rate Reduction", "target": "20%", "measured_on": "business"})
    )
    with pytest.raises(InvalidInputError, match="no measurable success metric"):
        vd.judge(business, TEMPLATE_LOGGED)
    with pytest.raises(InvalidInputError, match="nothing to judge"):
        vd.judge(load_spec(TEMPLATE_SPEC), {"loss": 0.3})


# --------------------------------------------------------------------------- what is written


def test_tags_and_table() -> None:
    got = vd.judge(load_spec(TEMPLATE_SPEC), TEMPLATE_LOGGED)
    tags = vd.run_tags(got, alignment_run_id="abc", alignment_run_url="http://x/#/runs/abc")
    assert tags["alignment.verdict"] == "passed"
    assert tags["alignment.why"] == "churn_rate_reduction: deferred"
    assert tags["mlflow.alignment.verdict.model_latency"] == "met"
    assert tags["mlflow.alignment.verdict.churn_rate_reduction"] == "deferred"
    assert tags["alignment.run"] == "abc"
    # In view on the model's run: the verdict, why, the link back (tagkeys).
    assert [k for k in tags if tagkeys.visible(k)] == [
        "alignment.verdict", "alignment.why", "alignment.run"
    ]  # fmt: skip
    assert list(tags)[-1] == vd.DIGEST_TAG
    assert vd.version_tags(got, alignment_run_id="abc") == {
        "alignment_verdict": "passed",
        "alignment_spec_sha256": got.spec_sha256,
        "alignment_run_id": "abc",
    }
    assert all("." not in k for k in vd.version_tags(got))
    assert vd.stale_run_tags({"mlflow.alignment.verdict.old": "met", **tags}, tags) == [
        "mlflow.alignment.verdict.old"
    ]
    table = got.table()
    assert table["columns"][-1] == "status"
    assert len(table["data"]) == 5
    other = vd.judge(load_spec(TEMPLATE_SPEC), {**TEMPLATE_LOGGED, "roc_auc": 0.85})
    assert other.verdict == got.verdict
    assert other.digest != got.digest  # a new value alone re-uploads the table


def test_gated_models_is_bounded_and_unchanged_by_a_repeat() -> None:
    text = vd.gated_models(None, "models:/m/1", "passed")
    assert vd.gated_models(text, "models:/m/1", "passed") == text
    text = vd.gated_models(text, "models:/m/1", "failed")
    assert json.loads(text) == {"models:/m/1": "failed"}
    for i in range(2, 40):
        text = vd.gated_models(text, f"models:/m/{i}", "passed")
    entries = json.loads(text)
    assert len(entries) == vd.GATED_MODELS_LIMIT
    assert list(entries)[-1] == "models:/m/39"
    assert vd.gated_models("not json", "runs:/r", "passed") == '{"runs:/r":"passed"}'


def test_logged_artifacts_keeps_the_users_entries() -> None:
    mine = json.dumps([{"path": "eval/table.json", "type": "table"}])
    merged = json.loads(vd.logged_artifacts(mine) or "")
    assert [e["path"] for e in merged] == ["eval/table.json", vd.TABLE_PATH]
    assert vd.logged_artifacts(json.dumps(merged)) is None


def test_result_renders_as_a_table_and_as_the_json_contract() -> None:
    got = vd.judge(load_spec(TEMPLATE_SPEC), {**TEMPLATE_LOGGED, "roc_auc": 0.5})
    result = GateResult(got, "r1", "models:/m/1", timings={"total": 1.23456})
    out = result.to_json()
    assert list(out) == [
        "verdict", "run_id", "model_version", "spec_sha256", "metrics", "alias_set", "timings",
    ]  # fmt: skip
    assert list(out["metrics"][0]) == ["metric", "target", "metric_key", "value", "status"]
    assert out["verdict"] == "failed"
    assert out["timings"] == {"total": 1.235}
    assert result.exit_code() == 3
    html = result._repr_html_()
    assert "<table>" in html
    assert html.count("<tr>") == 6
    assert "❌ unmet" in html
    md = result._repr_markdown_()
    assert "| ❌ unmet | model_auc | >= 0.80 | roc_auc | 0.5 >= 0.8 |" in md
    assert "verdict: failed" in result.summary_lines()


def test_incomplete_exits_3_unless_allowed() -> None:
    got = vd.judge(load_spec(TEMPLATE_SPEC), {"latency_p99_s": 0.01})
    assert got.verdict == "incomplete"
    assert GateResult(got, "r").exit_code() == 3
    assert GateResult(got, "r").exit_code(allow_incomplete=True) == 0


# --------------------------------------------------------------------------- spec additions


def test_spec_carries_mlflow_metric_and_measured_on() -> None:
    spec = load_spec(TEMPLATE_SPEC)
    by = {m.slug: m for m in spec.success_metrics}
    assert by["model_auc"].mlflow_metric == "roc_auc"
    assert by["churn_rate_reduction"].measured_on == "business"
    assert by["model_latency"].measured_on == "serving"
    d = spec_to_dict(spec)["success_metrics"][3]
    assert (d["mlflow_metric"], d["measured_on"]) == ("latency_p99_s", "serving")
    assert "[Medium, serving]  <- latency_p99_s" in render_summary(spec)
    plain = make_spec(success_metrics=[{"metric": "Model AUC", "target": ">= 0.8"}])
    assert (plain.success_metrics[0].mlflow_metric, plain.success_metrics[0].measured_on) == (
        None,
        "model",
    )


def test_bad_gate_keys_in_a_spec_are_reported_with_the_rest() -> None:
    data = spec_data()
    data["success_metrics"][0]["measured_on"] = "production"
    data["success_metrics"][1]["mlflow_metric"] = ["roc_auc"]
    data["success_metrics"][2]["priority"] = "urgent"
    with pytest.raises(SpecError) as err:
        load_spec(data)
    text = str(err.value)
    assert "success_metrics[0].measured_on: unknown value 'production'" in text
    assert "success_metrics[1].mlflow_metric: ['roc_auc'] is not an MLflow metric key" in text
    assert "success_metrics[2].priority" in text


# --------------------------------------------------------------------------- impossible values


@pytest.mark.parametrize(
    ("metric", "target", "key", "value", "why"),
    [
        ("AUC", ">= 0.8", "roc_auc", math.inf, "+inf"),
        ("AUC", ">= 0.8", "roc_auc", 1.3, "outside [0, 1]"),
        ("Precision", ">= 60%", "precision", 1.5, "outside 0-100%"),
        ("Precision", ">= 60%", "precision:%", 130.0, "outside 0-100%"),
        ("Lift", ">= 2", "lift", math.inf, "+inf"),
        ("Latency", "< 100ms", "latency_p99_ms", -math.inf, "-inf"),
        ("Latency", "< 100ms", "latency_p99_ms", -5.0, "negative"),
        ("Latency", "< 100ms", "latency_p99_s", -0.001, "negative"),
    ],
)
def test_impossible_values_are_unmet_and_say_why(
    metric: str, target: str, key: str, value: float, why: str
) -> None:
    spec = load_spec(metrics({"metric": metric, "target": target, "priority": "High",
                              "mlflow_metric": key}))  # fmt: skip
    got = vd.judge(spec, {gp.parse_metric_key(key).key: value})
    result = got.metrics[0]
    assert result.status == "unmet"
    assert why in result.note
    assert "unmet" in result.note
    assert got.verdict == "failed"


@given(st.floats(min_value=0, max_value=1))
def test_possible_values_are_judged_as_before(value: float) -> None:
    spec = load_spec(metrics({"metric": "AUC", "target": ">= 0.5", "priority": "High",
                              "mlflow_metric": "roc_auc"}))  # fmt: skip
    result = vd.judge(spec, {"roc_auc": value}).metrics[0]
    assert result.status == ("met" if value >= 0.5 else "unmet")
    assert "cannot be" not in result.note
