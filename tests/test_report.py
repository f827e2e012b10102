"""What the MLflow UI shows, rendered purely: params, tags, metrics, description, report.html."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _specs import make_spec, spec_data
from alignment_mlflow import tagkeys
from alignment_mlflow.findings.constraints import Verdict, verify_constraints
from alignment_mlflow.findings.document import FindingsView, parse_findings
from alignment_mlflow.spec import load_spec
from alignment_mlflow.tracking import content
from alignment_mlflow.tracking.description import md, run_description, verdict_line
from alignment_mlflow.tracking.report import report_html
from conftest import FINDINGS_FIXTURES

TELCO = FINDINGS_FIXTURES / "telco_pii_churn_408768_findings.yaml"
KEY = re.compile(r"^[A-Za-z0-9_\-. ]{1,250}$")


def view() -> FindingsView:
    return parse_findings(TELCO.read_bytes(), str(TELCO)).view


def verdicts(spec: object = None) -> tuple[Verdict, ...]:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return verify_constraints(spec or make_spec(), view(), now=now)  # type: ignore[arg-type]


def ctx(spec: object = None, **kw: object) -> content.RunContext:
    spec = spec or make_spec()
    return content.RunContext(
        spec=spec,  # type: ignore[arg-type]
        findings=view(),
        findings_location=str(TELCO),
        findings_sha256="f" * 64,
        verdicts=verdicts(spec),
        package_version="0.2.0",
        experiment="/Shared/alignment/x",
        experiment_url="http://mlflow.example:5000/#/experiments/1",
        **kw,  # type: ignore[arg-type]
    )


def test_params_are_declared_facts_once_each_keyed_by_what_differs() -> None:
    params = content.flatten_params(make_spec())
    assert params["metric.model_auc.target"] == ">= 0.80"
    assert params["metric.model_auc.priority"] == "High"
    assert params["tier.high.band"] == "(0.8, 1]"
    assert params["tier.low.cost"] == "0.5 USD/customer"
    assert params["tier.medium.retention"] == "0.2"
    assert params["context.stakeholders"] == "Marketing Team, Customer Success, Data Science"
    assert params["deploy.real_time_latency"] == "< 100ms p99"
    assert params["constraint.pii_handling.requirement"]
    assert not [k for k in params if k.endswith((".operator", ".threshold", ".unit", ".status"))]
    assert "none" not in params.values()
    assert all(KEY.match(k) for k in params)
    assert len(params) <= 100  # one log_batch


def test_outcomes_are_tags_and_metrics_not_params() -> None:
    c = ctx()
    tags = content.run_tags(c, fingerprint="fp")
    assert tags["alignment.status"] == "blocked"
    # One tag says why (not one tag per constraint); the counts are metrics.
    assert tags["alignment.why"].startswith("PII Handling: failed; ")
    assert tagkeys.reader_keys(tags) == [
        "alignment.data",
        "alignment.status",
        "alignment.why",
    ]
    metrics = content.run_metrics(c)
    assert metrics["constraints_failed"] == 2
    assert metrics["constraints_unverifiable"] == 1
    assert (metrics["tiers"], metrics["success_metrics"]) == (3, 5)


def test_long_values_are_cut_visibly() -> None:
    data = spec_data()
    data["business_context"]["business_objective"] = "x" * 7000
    value = content.flatten_params(load_spec(data))["context.business_objective"]
    assert len(value) == content.MAX_PARAM_VALUE
    assert value.endswith(content.TRUNCATION_MARKER)


@pytest.mark.parametrize("key", ["budget (€)!", "a/../b", "..", "x..y", "  .dots. "])
def test_odd_keys_become_valid_mlflow_keys(key: str) -> None:
    data = spec_data()
    data["business_context"][key] = "x"
    spec = load_spec(data)
    assert all(KEY.match(k) for k in content.flatten_params(spec))
    assert content.name_problems(spec, "/Shared/x") == []


def test_name_problems_are_found_before_any_write() -> None:
    data = spec_data()
    data["business_context"]["budget!"] = "x"
    data["business_context"]["budget?"] = "y"
    data["business_context"]["k" * 300] = "z"
    problems = content.name_problems(load_spec(data), "/Shared/" + "e" * 600)
    assert any("experiment name is 608 characters" in p for p in problems)
    assert any("both become the param 'context.budget_'" in p for p in problems)
    assert any("over 250" in p for p in problems)


def test_fingerprint_and_run_name() -> None:
    spec = make_spec()
    assert content.fingerprint(spec.sha256, "f" * 64, "0.2.0") != content.fingerprint(
        spec.sha256, "e" * 64, "0.2.0"
    )
    assert content.run_name(view(), spec) == f"telco_pii_churn_408768-{spec.sha256[:7]}"


def test_description_leads_with_the_verdict_and_names_the_constraints() -> None:
    text = run_description(ctx())
    first = text.splitlines()[0]
    assert first.startswith("**BLOCKED**")
    assert "failed: PII Handling" in first
    assert "to review: Data Freshness" in first
    assert "| Metric&emsp; | Target&emsp; | Priority |" in text  # padded: the UI adds none
    assert "Reduce customer churn by 20%" in text
    assert "| High&emsp; | \\(0.8, 1\\]&emsp; | Personal call from account manager&emsp; |" in text
    assert "| Model Latency&emsp; | &lt; 100ms&emsp; | Medium |" in text
    assert "### Deployment requirements" in text
    assert "[/Shared/alignment/x](http://mlflow.example:5000/#/experiments/1)" in text


def test_description_of_an_aligned_run() -> None:
    c = ctx(make_spec(data_constraints=[]))
    assert verdict_line(c).startswith("**ALIGNED**")


@pytest.mark.parametrize(
    "hostile",
    [
        "![pixel](http://evil.example/p.png)",
        '<img src="http://evil.example/p.png">',
        "[click](javascript:alert(1))",
        "<script>alert(1)</script>",
        "**bold** `code` <http://evil.example>",
    ],
)
def test_spec_text_in_the_description_is_inert(hostile: str) -> None:
    data = spec_data()
    data["business_context"]["business_objective"] = hostile
    data["success_metrics"][0]["metric"] = hostile
    text = run_description(ctx(load_spec(data)))
    assert md(hostile) in text
    assert not re.search(r"(?<!\\)<", text)  # no raw HTML
    assert not re.search(r"(?<!\\)!\[", text)  # no image
    assert not re.search(r"(?<!\\)\]\((http://evil|javascript)", text)  # no link


@given(st.text())
def test_md_escapes_every_markdown_and_html_metacharacter(text: str) -> None:
    out = md(text)
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", out)
    assert not re.search(r"[<>\[\]()!`*_|\\]", unescaped)
    assert not re.search(r"&(?!amp;|lt;|gt;)", out)  # & only opens the three entities
    assert "\n" not in out
    # Rendered, it reads as the text itself (control characters as spaces).
    assert html.unescape(re.sub(r"\\(.)", r"\1", out)) == re.sub(r"[\x00-\x1f\x7f]", " ", text)


def test_report_html_is_a_self_contained_escaped_model_card() -> None:
    data = spec_data()
    data["business_context"]["project_name"] = "<script>alert(1)</script> Churn"
    c = ctx(load_spec(data), delta_table="/t", delta_version=4, user="ana", aligned_at="2026")
    page = report_html(c)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert '<div class="verdict blocked" id="verdict"><strong>BLOCKED</strong>' in page
    for section in (
        "Business context",
        "Success metrics",
        "Deployment requirements",
        "Limitations",
    ):
        assert f"<h2>{section}" in page
    assert '<table id="tiers">' in page
    assert "Personal call from account manager" in page
    assert 'class="failed"' in page
    assert "run by ana" in page
    assert "(version 4)" in page
    assert "@media print" in page


def test_tables_have_the_split_shape() -> None:
    tables = content.tables(make_spec(), verdicts())
    assert set(tables) == {"success_metrics", "interventions", "data_constraints"}
    for t in tables.values():
        assert all(len(row) == len(t["columns"]) for row in t["data"])
    assert tables["interventions"]["data"][0][:2] == [1, "High"]


@pytest.mark.parametrize("value", ["x" * 10, "y" * 9000])
def test_truncate_never_exceeds_the_limit(value: str) -> None:
    assert len(content.truncate(value, 8000)) <= 8000


def test_no_raw_values_reach_the_run() -> None:
    import yaml

    raw = yaml.safe_load(TELCO.read_text())
    pii = [
        str(raw["columns"][c]["universal_metrics"]["most_common_value"])
        for c in ("email", "full_name", "phone")
    ]
    c = replace(ctx(), delta_table="t", delta_version=1)
    rendered = " ".join(
        [
            str(content.flatten_params(c.spec)),
            str(content.run_tags(c, fingerprint="x")),
            run_description(c),
            report_html(c),
            str(content.tables(c.spec, c.verdicts)),
        ]
    )
    assert [v for v in pii if v in rendered] == []


def test_report_opens_with_the_verdict_box_naming_the_dataset() -> None:
    """The compare-runs page previews the report in a frame ~150 px tall: the verdict comes first."""
    page = report_html(ctx())
    body = page.split("<body>", 1)[1].lstrip()
    assert body.startswith('<div class="verdict blocked" id="verdict"><strong>BLOCKED</strong>')
    assert body.index('id="verdict"') < body.index("<h1>")
    verdict = body.split("</div>", 1)[0]
    assert "telco_pii_churn_408768" in verdict
    assert "PII Handling (failed)" in verdict


def test_the_status_marker_needs_no_emoji_font() -> None:
    """Issue 22: the status marker reads in any font (no emoji, the word itself leads)."""
    from alignment_mlflow.tracking.description import STATUS_LINE

    for status, line in STATUS_LINE.items():
        assert line.isascii(), line
        assert line.startswith(f"**{status.replace('_', ' ').upper()}**")


def test_a_param_name_with_a_trailing_newline_is_not_valid() -> None:
    """``$`` matches before a final newline: names are checked to the very end."""
    assert content._VALID_NAME.match("business.budget")
    assert content._VALID_NAME.match("business.budget\n") is None
