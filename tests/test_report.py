"""What the MLflow UI shows, rendered purely: params, tags, description, report.html, tables."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from _specs import make_spec, spec_data
from alignment_mlflow.findings.constraints import verify_constraints
from alignment_mlflow.findings.document import FindingsView, parse_findings
from alignment_mlflow.spec import load_spec
from alignment_mlflow.tracking import content as report
from conftest import FINDINGS_FIXTURES

TELCO = FINDINGS_FIXTURES / "telco_pii_churn_408768_findings.yaml"
KEY = re.compile(r"^[A-Za-z0-9_\-. :/]{1,250}$")


def view() -> FindingsView:
    return parse_findings(TELCO.read_bytes(), str(TELCO)).view


def verdicts() -> list[dict[str, object]]:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [v.to_dict() for v in verify_constraints(make_spec(), view(), now=now)]


def test_params_are_flattened_with_dotted_slug_names() -> None:
    params = report.flatten_params(make_spec(), verdicts())
    assert params["success_metrics.model_auc.threshold"] == "0.8"
    assert params["success_metrics.model_latency.unit"] == "ms"
    assert params["success_metrics.model_auc.unit"] == "none"
    assert params["interventions.high.band"] == "(0.8, 1]"
    assert params["interventions.low.cost_per_customer"] == "0.5"
    assert params["interventions.medium.expected_retention_rate"] == "0.2"
    assert (
        params["business_context.stakeholders"] == "Marketing Team, Customer Success, Data Science"
    )
    assert params["deployment_requirements.real_time_latency"] == "< 100ms p99"
    assert params["data_constraints.pii_handling.status"] == "failed"
    assert all(KEY.match(k) for k in params)
    assert len(params) <= 100  # one log_batch


def test_long_values_are_cut_visibly() -> None:
    data = spec_data()
    data["business_context"]["business_objective"] = "x" * 7000
    params = report.flatten_params(load_spec(data))
    value = params["business_context.business_objective"]
    assert len(value) == report.MAX_PARAM_VALUE
    assert value.endswith(report.TRUNCATION_MARKER)


def test_odd_keys_become_valid_mlflow_keys() -> None:
    data = spec_data()
    data["business_context"]["budget (€)!"] = "x"
    params = report.flatten_params(load_spec(data))
    assert all(KEY.match(k) for k in params)


def test_tags_and_fingerprint() -> None:
    spec = make_spec()
    fp = report.fingerprint(spec.sha256, "f" * 64, "0.1.0")
    assert fp != report.fingerprint(spec.sha256, "e" * 64, "0.1.0")
    tags = report.run_tags(
        spec,
        findings=view(),
        findings_location=str(TELCO),
        findings_sha256="f" * 64,
        fingerprint=fp,
        package_version="0.1.0",
        verdicts=verdicts(),
    )
    assert tags["alignment.project"] == "customer_churn_prediction"
    assert tags["alignment.dataset"] == "telco_pii_churn_408768"
    assert tags["alignment.constraints_failed"] == "3"
    assert tags["alignment.fingerprint"] == fp
    assert "| Model AUC | >= 0.80 | High |" in tags["mlflow.note.content"]
    assert report.run_name(view()) == "business-alignment-telco_pii_churn_408768"


def test_description_summarises_objective_budget_metrics_tiers_and_constraints() -> None:
    md = report.run_description(make_spec(), view(), verdicts())
    assert "Reduce customer churn by 20%" in md
    assert "$50k for retention campaigns per month" in md
    assert (
        "| High | (0.8, 1] | Personal call from account manager | 50.00 USD/customer | 40% |" in md
    )
    assert "| PII Handling | **failed** |" in md


def test_report_html_is_self_contained_and_escaped() -> None:
    data = spec_data()
    data["business_context"]["project_name"] = "<script>alert(1)</script> Churn"
    page = report.report_html(load_spec(data), view(), verdicts(), run_id="abc")
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert '<table id="tiers">' in page
    assert "Personal call from account manager" in page
    assert 'class="failed"' in page


def test_tables_have_the_split_shape() -> None:
    tables = report.tables(make_spec(), verdicts())
    assert set(tables) == {"success_metrics", "interventions", "data_constraints"}
    for t in tables.values():
        assert all(len(row) == len(t["columns"]) for row in t["data"])
    assert tables["interventions"]["data"][0][:2] == [1, "High"]


@pytest.mark.parametrize("value", ["x" * 10, "y" * 9000])
def test_truncate_never_exceeds_the_limit(value: str) -> None:
    assert len(report.truncate(value, 8000)) <= 8000


def test_no_raw_values_reach_the_run() -> None:
    import yaml

    raw = yaml.safe_load(TELCO.read_text())
    pii = [
        str(raw["columns"][c]["universal_metrics"]["most_common_value"])
        for c in ("email", "full_name", "phone")
    ]
    spec = make_spec()
    rendered = " ".join(
        [
            str(report.flatten_params(spec, verdicts())),
            report.run_description(spec, view(), verdicts()),
            report.report_html(spec, view(), verdicts()),
            str(report.tables(spec, verdicts())),
        ]
    )
    assert [v for v in pii if v in rendered] == []
