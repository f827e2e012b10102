"""gate --endpoint: a serving endpoint's p99 latency, from its metrics export, judged strictly.

The pure parts (Prometheus text, the window, a histogram's percentile bounds, the verdict rows)
directly; the command end to end with the real databricks-sdk against the local workspace
(tests/_databricks_fake.py serves ``GET /api/2.0/serving-endpoints/{name}/metrics``) and a real
sqlite MLflow store.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from _databricks_fake import FakeWorkspace
from alignment_mlflow.cli import cli
from alignment_mlflow.gating import endpoint as ep
from alignment_mlflow.gating import prometheus
from alignment_mlflow.gating import verdict as vd
from alignment_mlflow.gating.measured import endpoint_metrics, judge_endpoint
from alignment_mlflow.spec import load_spec
from conftest import TEMPLATE_SPEC

RECORDED = Path(__file__).parent / "fixtures" / "serving" / "endpoint_metrics.prom"
LOGGED = {
    "roc_auc": 0.84,
    "precision_at_20pct": 0.61,
    "latency_p99_s": 0.085,  # the offline proxy: the endpoint must replace it
    "demographic_parity_ratio": 0.9,
}
NOW_MS = 1_780_000_000_000


def histogram(buckets: dict[str, int], *, stamp: int | None = None, name: str = "ep") -> str:
    """An export with one latency histogram (cumulative counts per ``le``)."""
    ts = f" {stamp}" if stamp is not None else ""
    lines = ["# TYPE request_latency_ms histogram"]
    for le, count in buckets.items():
        lines.append(f'request_latency_ms_bucket{{endpoint_name="{name}",le="{le}"}} {count}{ts}')
    total = max(buckets.values(), default=0)
    lines.append(f'request_latency_ms_count{{endpoint_name="{name}"}} {total}{ts}')
    return "\n".join(lines) + "\n"


def measure(text: str, window: str = "24h") -> ep.Measurement:
    return ep.measure(prometheus.parse(text), endpoint="ep", window=window, exported_at_ms=NOW_MS)


# --------------------------------------------------------------------------- pure


def test_the_parser_reads_labels_escapes_special_values_and_timestamps() -> None:
    text = (
        "# HELP x a help line\n# TYPE x gauge\n"
        'x{a="q\\"uote",b="back\\\\slash",c="new\\nline",} +Inf 1700000000000\n'
        "y NaN\nz -Inf\nw{} 3\n"
    )
    got = prometheus.parse(text)
    assert got.types == {"x": "gauge"}
    x = got.samples[0]
    assert dict(x.labels) == {"a": 'q"uote', "b": "back\\slash", "c": "new\nline"}
    assert x.value == math.inf
    assert x.timestamp_ms == 1_700_000_000_000
    assert math.isnan(got.samples[1].value)
    assert got.samples[2].value == -math.inf
    assert got.samples[3].labels == ()
    assert got.samples[3].value == 3


@pytest.mark.parametrize("bad", ['x{a="1" 2', "x 1 2 3", "x one", '{a="1"} 2', "x{a=1} 2", "x"])
def test_a_line_that_is_not_a_sample_is_an_error_with_its_line_number(bad: str) -> None:
    with pytest.raises(ValueError, match="line 2"):
        prometheus.parse(f"ok 1\n{bad}\n")


def test_the_recorded_export_parses_to_every_documented_family() -> None:
    got = prometheus.parse(RECORDED.read_text())
    names = {s.name for s in got.samples}
    assert {"cpu_usage_percentage", "request_count_total", "request_latency_ms_bucket"} <= names
    assert got.types["request_latency_ms"] == "histogram"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("24h", 86400), ("30m", 1800), ("7d", 604800), ("1w", 604800), (" 90s ", 90), ("1.5h", 5400)],
)
def test_window_durations(text: str, seconds: int) -> None:
    assert ep.parse_window(text) == seconds


@pytest.mark.parametrize("text", ["24x", "", "h", "24", "-1h", "0s", "91d", "24 hours"])
def test_a_window_that_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--window"):
        ep.parse_window(text)


def test_the_recorded_export_p99_lies_in_its_bucket() -> None:
    m = measure(RECORDED.read_text())
    assert (m.kind, m.samples, m.covered_from) == ("histogram", 1200, None)
    # rank ceil(0.99 * 1200) = 1188: 1170 requests are <= 50 ms, 1194 are <= 75 ms
    assert m.bounds(0.99) == (50.0, 75.0)
    assert m.bounds(0.5) == (10.0, 25.0)


def test_a_percentile_above_the_last_finite_bucket_is_unbounded() -> None:
    m = measure(histogram({"50": 90, "100": 98, "+Inf": 100}))
    assert m.bounds(0.99) == (100.0, math.inf)


def spec_verdict(text: str, window: str = "24h") -> vd.GateVerdict:
    spec = load_spec(TEMPLATE_SPEC)
    return vd.judge(spec, LOGGED, measured=judge_endpoint(spec, measure(text, window)))


def test_under_100ms_passes_and_both_serving_targets_are_judged_on_the_endpoint() -> None:
    got = spec_verdict(RECORDED.read_text())
    by = {m.slug: m for m in got.metrics}
    assert got.verdict == "passed"
    assert [by[s].status for s in ("model_latency", "real_time_latency")] == ["met", "met"]
    assert by["model_latency"].metric_key == "request_latency_ms"  # not the run's latency_p99_s
    assert by["model_latency"].value == 75.0
    assert by["real_time_latency"].priority == "High"
    assert by["real_time_latency"].target == "< 100ms p99"
    assert "samples=1200" in by["model_latency"].measured_text()


@pytest.mark.parametrize(
    "buckets",
    [
        {"50": 980, "100": 1000, "+Inf": 1000},  # p99 in (50, 100]: cannot show < 100
        {"100": 1000, "+Inf": 1000},  # p99 <= 100 exactly: not < 100
        {"50": 900, "250": 1000, "+Inf": 1000},  # p99 in (50, 250]
        {"50": 980, "+Inf": 1000},  # p99 above every finite bucket
    ],
)
def test_at_or_over_100ms_fails(buckets: dict[str, int]) -> None:
    got = spec_verdict(histogram(buckets))
    assert got.verdict == "failed"
    assert {m.slug: m.status for m in got.metrics}["real_time_latency"] == "unmet"


@pytest.mark.parametrize(("value", "status"), [(99.999, "met"), (100.0, "unmet"), (100.5, "unmet")])
def test_a_summary_quantile_is_judged_exactly_and_strictly(value: float, status: str) -> None:
    text = (
        "# TYPE request_latency_ms summary\n"
        f'request_latency_ms{{quantile="0.99"}} {value}\n'
        "request_latency_ms_count 40\n"
    )
    got = spec_verdict(text)
    assert {m.slug: m.status for m in got.metrics}["real_time_latency"] == status


@pytest.mark.parametrize(
    "text",
    [
        histogram({"50": 0, "100": 0, "+Inf": 0}),  # an idle endpoint
        "# TYPE cpu_usage_percentage gauge\ncpu_usage_percentage 3\n",  # no latency family
        # every sample older than the 1h window
        histogram({"50": 99, "+Inf": 100}, stamp=NOW_MS - 2 * 3600 * 1000),
    ],
)
def test_zero_samples_is_not_measured_never_met_and_the_verdict_is_incomplete(text: str) -> None:
    got = spec_verdict(text, window="1h")
    by = {m.slug: m for m in got.metrics}
    # Model Latency is only Medium priority: not measured on the endpoint still blocks.
    assert by["model_latency"].priority == "Medium"
    assert by["model_latency"].status == "not_measured"
    assert by["real_time_latency"].status == "not_measured"
    assert "never met" in by["model_latency"].note
    assert got.verdict == "incomplete"


def test_a_medium_priority_serving_metric_not_measured_on_the_endpoint_still_blocks() -> None:
    from _specs import spec_data

    data = spec_data()
    data["deployment_requirements"].pop("real_time_latency")  # only Model Latency (Medium) left
    spec = load_spec(data)
    measured = judge_endpoint(spec, measure(histogram({"50": 0, "+Inf": 0})))
    assert list(measured) == ["model_latency"]
    got = vd.judge(spec, LOGGED, measured=measured)
    assert got.verdict == "incomplete"  # not "passed": the endpoint was the point of the call
    # The same spec judged on the run's proxy alone is untouched by the rule.
    assert vd.judge(spec, {k: v for k, v in LOGGED.items() if k != "latency_p99_s"}).verdict == (
        "passed"
    )


def test_the_window_keeps_fresh_timestamped_series_and_records_their_age() -> None:
    old = histogram({"50": 0, "+Inf": 100}, stamp=NOW_MS - 3 * 86400 * 1000, name="a")
    fresh = histogram({"50": 100, "+Inf": 100}, stamp=NOW_MS - 3600 * 1000, name="b")
    m = measure(old + fresh.replace("# TYPE request_latency_ms histogram\n", ""))
    assert (m.samples, m.dropped_series) == (100, 1)
    assert m.covered_from is not None
    assert m.covered_from.endswith("Z")
    assert m.bounds(0.99) == (0.0, 50.0)


def test_a_spec_without_a_serving_latency_target_has_nothing_for_the_endpoint() -> None:
    from _specs import spec_data

    data = spec_data()
    data["success_metrics"] = [m for m in data["success_metrics"] if m["metric"] != "Model Latency"]
    data["deployment_requirements"].pop("real_time_latency")
    assert endpoint_metrics(load_spec(data)) == []
    assert [m.slug for m in endpoint_metrics(load_spec(TEMPLATE_SPEC))] == [
        "model_latency",
        "real_time_latency",
    ]


# --------------------------------------------------------------------------- end to end


def quick_model(uri: str, name: str) -> tuple[str, str]:
    client = MlflowClient(uri, uri)
    exp = client.create_experiment(f"/Shared/endpoint/{name}")
    run = client.create_run(exp)
    for k, v in LOGGED.items():
        client.log_metric(run.info.run_id, k, v)
    client.create_registered_model(name)
    mv = client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)
    return run.info.run_id, f"models:/{name}/{mv.version}"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One sqlite store for the module (creating one costs seconds); a model per test."""
    return f"sqlite:///{tmp_path_factory.mktemp('endpoint-gate') / 'mlflow.db'}"


@pytest.fixture
def setup(
    store: str, databricks_workspace: FakeWorkspace, monkeypatch: pytest.MonkeyPatch
) -> tuple[FakeWorkspace, str, str, str]:
    for key, value in databricks_workspace.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ALIGNMENT_DATABRICKS_TIMEOUT", "5")
    run_id, ref = quick_model(store, f"churn_{uuid.uuid4().hex[:8]}")
    return databricks_workspace, store, run_id, ref


def gate(uri: str, ref: str, *args: str) -> Any:
    base = ["gate", "--spec", str(TEMPLATE_SPEC), "--model-version", ref, "--tracking-uri", uri]
    return CliRunner().invoke(cli, [*base, *args, "--json"], catch_exceptions=False)


def test_the_gate_judges_the_endpoint_p99_and_records_the_measurement_everywhere(
    setup: tuple[FakeWorkspace, str, str, str],
) -> None:
    ws, uri, run_id, ref = setup
    ws.serving_metrics["churn-scoring"] = RECORDED.read_text()
    before = int(time.time() * 1000)
    got = gate(uri, ref, "--endpoint", "churn-scoring", "--window", "24h", "--promote-alias", "c")
    assert got.exit_code == 0, got.output
    out = json.loads(got.stdout)
    assert list(out)[:7] == [
        "verdict", "run_id", "model_version", "spec_sha256", "metrics", "alias_set", "timings",
    ]  # fmt: skip
    assert out["verdict"] == "passed"
    assert out["alias_set"] is True
    assert out["endpoint"]["endpoint"] == "churn-scoring"
    assert (out["endpoint"]["window"], out["endpoint"]["samples"]) == ("24h", 1200)
    by = {m["metric"]: m for m in out["metrics"]}
    assert by["model_auc"].keys() == {"metric", "target", "metric_key", "value", "status"}
    lat = by["real_time_latency"]
    assert (lat["status"], lat["value"], lat["metric_key"]) == ("met", 75.0, "request_latency_ms")
    assert lat["measurement"]["percentile"] == "p99"
    assert (lat["measurement"]["lower_ms"], lat["measurement"]["upper_ms"]) == (50.0, 75.0)
    assert lat["measurement"]["window_seconds"] == 86400
    assert lat["measurement"]["exported_at"] >= time.strftime(
        "%Y-%m-%dT%H:%M", time.gmtime(before / 1000)
    )
    assert ("GET", "/api/2.0/serving-endpoints/churn-scoring/metrics") in ws.requests

    client = MlflowClient(uri, uri)
    tags = client.get_run(run_id).data.tags
    assert tags["mlflow.alignment.verdict.real_time_latency"] == "met"
    assert tags["mlflow.alignment.measured.model_latency"].startswith("p99 in (50, 75] ms; ")
    assert "endpoint=churn-scoring" in tags["mlflow.alignment.measured.model_latency"]
    assert "samples=1200" in tags["mlflow.alignment.measured.model_latency"]
    name, version = ref.removeprefix("models:/").split("/")
    mv = client.get_model_version(name, version)
    assert "window=24h" in mv.tags[vd.MEASURED_VERSION_TAG]
    local = client.download_artifacts(run_id, vd.TABLE_PATH)
    table = json.loads(Path(local).read_text())
    assert table["columns"][-1] == "measured"

    # Gated again without the endpoint: the run's offline proxy, and no stale measurement left.
    again = gate(uri, ref)
    assert again.exit_code == 0, again.output
    assert "endpoint" not in json.loads(again.stdout)
    assert not any(
        k.startswith("mlflow.alignment.measured.") for k in client.get_run(run_id).data.tags
    )
    assert vd.MEASURED_VERSION_TAG not in client.get_model_version(name, version).tags


def test_an_endpoint_at_100ms_fails_exit_3_and_keeps_the_alias_away(
    setup: tuple[FakeWorkspace, str, str, str],
) -> None:
    ws, uri, _, ref = setup
    ws.serving_metrics["ep"] = histogram({"50": 500, "100": 1000, "+Inf": 1000})
    got = gate(uri, ref, "--endpoint", "ep", "--promote-alias", "champion")
    assert got.exit_code == 3, got.output
    out = json.loads(got.stdout)
    assert out["verdict"] == "failed"
    assert out["alias_set"] is False
    assert {m["metric"]: m["status"] for m in out["metrics"]}["real_time_latency"] == "unmet"


def test_an_idle_endpoint_is_incomplete_exit_3(setup: tuple[FakeWorkspace, str, str, str]) -> None:
    ws, uri, _, ref = setup
    ws.serving_metrics["ep"] = histogram({"50": 0, "+Inf": 0})
    got = gate(uri, ref, "--endpoint", "ep")
    assert got.exit_code == 3, got.output
    out = json.loads(got.stdout)
    assert out["verdict"] == "incomplete"
    assert out["endpoint"]["samples"] == 0


def run_tags(uri: str, run_id: str) -> dict[str, str]:
    return dict(MlflowClient(uri, uri).get_run(run_id).data.tags)


@pytest.mark.parametrize(
    ("args", "message", "calls"),
    [
        (["--endpoint", "nope"], "no such serving endpoint", 1),
        (["--endpoint", "ep", "--window", "24x"], "--window '24x'", 0),
        (["--window", "24h"], "--window applies to --endpoint", 0),
        (["--endpoint", "a/b"], "not a serving endpoint name", 0),
    ],
)
def test_bad_endpoint_input_exits_2_and_writes_nothing(
    setup: tuple[FakeWorkspace, str, str, str], args: list[str], message: str, calls: int
) -> None:
    ws, uri, run_id, ref = setup
    ws.serving_metrics["ep"] = RECORDED.read_text()
    before = run_tags(uri, run_id)
    got = gate(uri, ref, *args)
    assert got.exit_code == 2, got.output
    assert message in got.stderr
    assert json.loads(got.stdout)["error"]
    assert run_tags(uri, run_id) == before
    served = [r for r in ws.requests if r[1].startswith("/api/2.0/serving-endpoints/")]
    assert len(served) == calls


def test_an_unreachable_workspace_is_a_system_failure_within_the_bound(
    setup: tuple[FakeWorkspace, str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    _, uri, run_id, ref = setup
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ALIGNMENT_DATABRICKS_TIMEOUT", "2")
    before = run_tags(uri, run_id)
    got = gate(uri, ref, "--endpoint", "ep")
    assert got.exit_code == 1, got.output  # as for an unreachable tracking server: rerun later
    assert "did not answer" in got.stderr
    assert run_tags(uri, run_id) == before


def test_the_version_description_names_the_measurement_only_when_there_is_one() -> None:
    from alignment_mlflow.tracking.chain import version_section

    plain = version_section("alignment run ab", "u1", "u2", "passed", "aligned")
    meas = measure(RECORDED.read_text()).text()
    measured = version_section("alignment run ab", "u1", "u2", "passed", "aligned", meas)
    assert "Measured on" not in plain
    assert measured.startswith(plain)
    assert "endpoint=ep" in measured.splitlines()[-1]
    assert "samples=1200" in measured.splitlines()[-1]
