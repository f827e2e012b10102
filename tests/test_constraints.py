"""Data constraints verified against the real fixture findings (pure)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from _specs import make_spec, spec_data
from alignment_mlflow.findings.columns import (
    pii_kind_from_name,
    protected_kind_from_name,
    tokenize_name,
)
from alignment_mlflow.findings.constraints import (
    alignment_status,
    any_failed,
    parse_freshness_requirement,
    parse_history_requirement,
    recognise_check,
    summarise,
    verify_constraints,
)
from alignment_mlflow.findings.document import FindingsView, parse_findings
from alignment_mlflow.spec import load_spec
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
TELCO = "telco_pii_churn_408768_findings.yaml"
CLEAN = "subscription_clean_408768_findings.yaml"
EVENTS = "customer_emails_8m_408768_findings.yaml"
AGGREGATED = "customer_emails_8m_408768_aggregated_5cde09_findings.yaml"


def view(name: str) -> FindingsView:
    path = FINDINGS_FIXTURES / name
    return parse_findings(path.read_bytes(), str(path)).view


def by_check(name: str, related: tuple[str, ...] = ()) -> dict[str, dict[str, object]]:
    verdicts = verify_constraints(
        load_spec(TEMPLATE_SPEC), view(name), now=NOW, related=[view(r) for r in related]
    )
    return {str(v.check): v.to_dict() for v in verdicts}


def test_telco_fails_pii_and_protected_attributes() -> None:
    got = by_check(TELCO)
    assert got["pii"]["status"] == "failed"
    pii = {c["column"] for c in got["pii"]["evidence"]["pii_columns"]}  # type: ignore[index]
    assert pii == {"email", "full_name", "phone"}
    assert got["protected_attributes"]["status"] == "failed"
    protected = {
        c["column"]: c["inferred_type"]
        for c in got["protected_attributes"]["evidence"]["protected_columns"]
    }  # type: ignore[index]
    assert set(protected) == {"age", "gender", "ethnicity"}
    assert got["historical_depth"]["status"] == "passed"


def test_clean_file_passes_pii_protected_and_history() -> None:
    got = by_check(CLEAN)
    assert got["pii"]["status"] == "passed"
    assert got["protected_attributes"]["status"] == "passed"
    assert got["historical_depth"]["status"] == "passed"
    assert got["historical_depth"]["evidence"]["span_days"] == 1062  # type: ignore[index]


def test_event_level_email_log_fails_history() -> None:
    got = by_check(EVENTS)["historical_depth"]
    assert got["status"] == "failed"
    assert got["evidence"]["span_days"] == 168  # type: ignore[index]
    assert "168 days" in str(got["reason"])


def test_aggregated_file_takes_history_from_its_event_level_file() -> None:
    got = by_check(AGGREGATED, related=(EVENTS, CLEAN))["historical_depth"]
    assert got["status"] == "failed"
    assert str(got["evidence"]["source"]).startswith(EVENTS)  # type: ignore[index]
    assert got["notes"]


def test_aggregated_file_alone_is_unverifiable_with_a_reason() -> None:
    got = by_check(AGGREGATED)["historical_depth"]
    assert got["status"] == "unverifiable"
    assert "no event-level findings beside it" in str(got["reason"])


def test_freshness_of_a_historical_extract_is_unverifiable_with_the_end_date() -> None:
    got = by_check(CLEAN)["freshness"]
    assert got["status"] == "unverifiable"
    assert "historical extract" in str(got["reason"])
    assert "--freshness-reference" in str(got["reason"])
    assert got["evidence"]["window_hours"] == 24  # type: ignore[index]
    assert str(got["evidence"]["data_end"]).startswith(str(view(CLEAN).fa_data_end)[:10])  # type: ignore[index]
    assert by_check(AGGREGATED)["freshness"]["status"] == "unverifiable"


def _freshness(reference: datetime) -> Any:
    [got] = [
        x
        for x in verify_constraints(
            load_spec(TEMPLATE_SPEC), view(CLEAN), now=NOW, freshness_reference=reference
        )
        if x.check == "freshness"
    ]
    return got


def test_a_freshness_reference_enforces_freshness_on_an_extract() -> None:
    end = datetime.fromisoformat(str(view(CLEAN).fa_data_end)).replace(tzinfo=timezone.utc)
    late = _freshness(end + timedelta(days=3))
    assert (late.status, late.evidence["reference"]) == ("failed", "--freshness-reference")
    assert "reference date" in late.reason
    assert _freshness(end + timedelta(hours=23)).status == "passed"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "aligned"),
        (["passed", "passed"], "aligned"),
        (["passed", "unverifiable"], "needs_review"),
        (["manual"], "needs_review"),
        (["to_verify"], "needs_review"),
        (["unverifiable", "failed", "passed"], "blocked"),
    ],
)
def test_alignment_status(statuses: list[str], expected: str) -> None:
    assert alignment_status(statuses) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (CLEAN, "needs_review"),  # freshness of an extract cannot be verified: never blocked
        ("customer_emails_8m_408768_findings.yaml", "blocked"),  # 168 days < 12 months
        (TELCO, "blocked"),  # PII and protected attributes
    ],
)
def test_fixture_verdicts(name: str, expected: str) -> None:
    verdicts = verify_constraints(load_spec(TEMPLATE_SPEC), view(name), now=NOW)
    assert alignment_status([v.status for v in verdicts]) == expected


def test_fresh_data_passes() -> None:
    v = view(CLEAN)
    end = datetime.fromisoformat(str(v.fa_data_end)).replace(tzinfo=timezone.utc)
    spec = load_spec(TEMPLATE_SPEC)
    [fresh] = [
        x
        for x in verify_constraints(spec, v, now=end + timedelta(hours=3))
        if x.check == "freshness"
    ]
    assert fresh.status == "passed"


def test_identifier_that_looks_like_pii_is_a_note_not_a_failure() -> None:
    from dataclasses import replace

    v = view(CLEAN)
    columns = dict(v.columns)
    ident = columns.pop("entity_id")
    columns["customer_email"] = replace(ident, name="customer_email")
    v2 = replace(v, columns=columns, identifier_columns=("customer_email",))
    [pii] = [
        x for x in verify_constraints(load_spec(TEMPLATE_SPEC), v2, now=NOW) if x.check == "pii"
    ]
    assert pii.status == "passed"
    assert any("customer_email" in n for n in pii.notes)


def test_manual_status_is_kept_and_the_verdict_recorded() -> None:
    data = spec_data()
    data["data_constraints"][0]["status"] = "Passed"  # PII, which fails on telco
    data["data_constraints"].append({"constraint": "Legal sign-off", "requirement": "DPO approved"})
    verdicts = verify_constraints(load_spec(data), view(TELCO), now=NOW)
    pii = verdicts[0]
    assert (pii.status, pii.verdict, pii.declared_status) == ("passed", "failed", "passed")
    assert any("declared passed by hand" in n for n in pii.notes)
    legal = verdicts[-1]
    assert (legal.status, legal.check) == ("manual", None)
    assert summarise(verdicts)["manual"] == 1
    assert any_failed(verdicts)


def test_explicit_check_key_wins() -> None:
    data = spec_data()
    data["data_constraints"] = [
        {"constraint": "Rule 7", "requirement": "at least 2 years", "check": "historical_depth"}
    ]
    [v] = verify_constraints(load_spec(data), view(CLEAN), now=NOW)
    assert v.check == "historical_depth"
    assert v.status == "passed"  # 1062 days >= 2 years
    assert recognise_check(load_spec(data).data_constraints[0]) == "historical_depth"


@pytest.mark.parametrize("name", [TELCO, CLEAN, EVENTS, AGGREGATED])
def test_no_raw_value_appears_in_any_verdict(name: str) -> None:
    raw = yaml.safe_load((FINDINGS_FIXTURES / name).read_text())
    values: set[str] = set()
    for col in raw["columns"].values():
        um, tm = col.get("universal_metrics") or {}, col.get("type_metrics") or {}
        if col.get("inferred_type") in ("datetime",):
            continue
        values.add(str(um.get("most_common_value")))
        for top in tm.get("top_categories") or []:
            values.add(str(top.get("category") if isinstance(top, dict) else top))
    values = {v for v in values if len(v) > 4}
    dumped = json.dumps(by_check(name, related=(EVENTS,)), default=str)
    assert [v for v in values if v in dumped] == []


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("customerEmailAddress", ("customer", "email", "address")),
        ("full_name", ("full", "name")),
        ("e-mail", ("e", "mail")),
        ("HTTPStatus2xx", ("http", "status", "2", "xx")),
    ],
)
def test_tokenizer(name: str, tokens: tuple[str, ...]) -> None:
    assert tokenize_name(name) == tokens


@pytest.mark.parametrize(
    "name",
    ["email", "E_Mail", "emailAddress", "full_name", "lastName", "phone", "mobile_number", "ssn",
     "social_security_no", "home_address", "zip_code", "ip_address", "credit_card", "card_number",
     "date_of_birth", "dob", "passport_no", "tax_id", "name", "customer_name"],
)  # fmt: skip
def test_pii_names(name: str) -> None:
    assert pii_kind_from_name(name) is not None


@pytest.mark.parametrize(
    "name",
    ["rename_count", "filename_length", "campaign_name", "telemetry", "mobile_app_sessions",
     "emailed_count_x", "addressable", "username_len", "zipper", "card_type"],
)  # fmt: skip
def test_not_pii_names(name: str) -> None:
    assert pii_kind_from_name(name) is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [("age", "age"), ("customer_age", "age"), ("Gender", "gender"), ("sex", "gender"),
     ("ethnicity", "ethnicity"), ("race", "race"), ("religion", "religion"),
     ("citizenship", "nationality"), ("marital_status", "marital_status"),
     ("disability_flag", "disability"), ("sexual_orientation", "sexual_orientation"),
     ("is_pregnant", "pregnancy")],
)  # fmt: skip
def test_protected_names(name: str, kind: str) -> None:
    assert protected_kind_from_name(name) == kind


@pytest.mark.parametrize(
    "name", ["page_views", "usage", "average_spend", "mileage", "racetrack", "sextant"]
)
def test_not_protected_names(name: str) -> None:
    assert protected_kind_from_name(name) is None


@given(st.text(max_size=40))
def test_tokenizer_never_raises_and_detection_ignores_case(name: str) -> None:
    tokens = tokenize_name(name)
    assert all(t == t.lower() for t in tokens)
    assert pii_kind_from_name(name.upper()) == pii_kind_from_name(name.lower())


@pytest.mark.parametrize(
    ("text", "months"),
    [("Minimum 12 months of history for training", 12), ("at least 2 years", 24), ("1 month", 1)],
)
def test_history_requirement(text: str, months: float) -> None:
    assert parse_history_requirement(text) == months


def test_history_in_days_and_missing() -> None:
    got = parse_history_requirement(">= 365 days")
    assert got is not None
    assert abs(got - 12) < 0.01
    assert parse_history_requirement("lots of history") is None


@pytest.mark.parametrize(
    ("text", "delta"),
    [("Features must be available within 24 hours", timedelta(hours=24)),
     ("within 2 days", timedelta(days=2)), ("refreshed daily", timedelta(days=1))],
)  # fmt: skip
def test_freshness_requirement(text: str, delta: timedelta) -> None:
    assert parse_freshness_requirement(text) == delta


def test_check_cli_exit_codes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from alignment_mlflow.cli import cli

    folder = tmp_path / "f"
    folder.mkdir()
    shutil.copy2(FINDINGS_FIXTURES / TELCO, folder)
    before = (folder / TELCO).read_bytes()
    runner = CliRunner()
    ok = runner.invoke(cli, ["check", str(folder), "--spec", str(TEMPLATE_SPEC)])
    assert ok.exit_code == 0
    assert "FAILED        PII Handling" in ok.output
    strict = runner.invoke(cli, ["check", str(folder), "--spec", str(TEMPLATE_SPEC), "--strict"])
    assert strict.exit_code == 3
    as_json = runner.invoke(
        cli, ["check", str(folder / TELCO), "--spec", str(TEMPLATE_SPEC), "--json"]
    )
    payload = json.loads(as_json.output)
    assert [c["status"] for c in payload["constraints"]] == [
        "failed",
        "unverifiable",
        "passed",
        "failed",
    ]
    assert (folder / TELCO).read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == [TELCO]


def test_spec_without_constraints_verifies_nothing() -> None:
    assert verify_constraints(make_spec(data_constraints=[]), view(TELCO), now=NOW) == ()
