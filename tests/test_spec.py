"""Spec loading and validation: the template, notebook spellings, and every problem at once."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from _specs import spec_data
from alignment_mlflow.errors import SpecError
from alignment_mlflow.spec import (
    SECTIONS,
    build_spec,
    load_spec,
    notebook_metadata,
    render_spec_yaml,
    render_summary,
    spec_from_text,
    spec_to_dict,
)
from conftest import FINDINGS_FIXTURES, REPO, TEMPLATE_SPEC


def template() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TEMPLATE_SPEC.read_text())
    return data


def problems(data: Any) -> list[str]:
    with pytest.raises(SpecError) as exc:
        build_spec(data)
    return [str(p) for p in exc.value.problems]


def test_template_is_shipped_in_the_package_unchanged() -> None:
    packaged = REPO / "src" / "alignment_mlflow" / "templates" / "churn_alignment.yaml"
    assert packaged.read_text() == TEMPLATE_SPEC.read_text()


def test_template_parses_to_the_notebook_values() -> None:
    spec = load_spec(TEMPLATE_SPEC)
    assert spec.project_slug == "customer_churn_prediction"
    assert [m.slug for m in spec.success_metrics] == [
        "model_auc",
        "precision_at_20pct",
        "churn_rate_reduction",
        "model_latency",
        "fairness_demographic_parity",
    ]
    assert [(i.tier, i.rank, i.cost.amount) for i in spec.interventions] == [
        ("High", 1, 50.0),
        ("Medium", 2, 10.0),
        ("Low", 3, 0.5),
    ]
    assert spec.business_context.budget is not None
    assert spec.business_context.budget.amount == 50000.0
    dep = spec.deployment_requirements
    assert dep.scoring_modes == {"batch", "real_time"}
    assert dep.real_time_latency is not None
    assert dep.real_time_latency.qualifier == "p99"
    assert dep.retraining is not None
    assert dep.retraining.on_drift
    assert [d.status for d in spec.data_constraints] == ["to_verify"] * 4


def test_notebook_metadata_equals_what_the_notebook_wrote() -> None:
    aligned = FINDINGS_FIXTURES / "subscription_aligned_408768_findings.yaml"
    written = yaml.safe_load(aligned.read_text())["metadata"]
    ours = notebook_metadata(load_spec(TEMPLATE_SPEC))
    assert ours == {k: written[k] for k in ours}


def test_round_trip_parse_render_parse() -> None:
    spec = load_spec(TEMPLATE_SPEC)
    again = spec_from_text(render_spec_yaml(spec))
    assert dataclasses.replace(again, source=spec.source) == spec


def test_same_content_hashes_the_same_from_yaml_json_and_dict(tmp_path: Path) -> None:
    data = template()
    as_json = tmp_path / "spec.json"
    as_json.write_text(json.dumps(data))
    assert load_spec(as_json).sha256 == load_spec(TEMPLATE_SPEC).sha256 == load_spec(data).sha256
    data["interventions"][0]["cost"] = "$51/customer"
    assert load_spec(data).sha256 != load_spec(TEMPLATE_SPEC).sha256


def test_notebook_spellings_are_accepted() -> None:
    data = template()
    data["interventions"] = [
        {
            "Risk Level": i["risk_level"],
            "Intervention": i["intervention"],
            "Cost": i["cost"],
            "Expected Effectiveness": i["expected_effectiveness"],
        }
        for i in data["interventions"]
    ]
    data["success_metrics"] = [
        {k.capitalize(): v for k, v in m.items()} for m in data["success_metrics"]
    ]
    data["Business Context"] = data.pop("business_context")
    spec = load_spec(data)
    assert spec.interventions[0].tier == "High"
    assert spec.success_metrics[0].target.text == ">= 0.80"


def test_extra_keys_are_kept() -> None:
    data = template()
    data["business_context"]["sponsor"] = "VP Retention"
    data["deployment_requirements"]["feature_store"] = "Unity Catalog"
    spec = load_spec(data)
    assert spec.business_context.raw["sponsor"] == "VP Retention"
    assert spec_to_dict(spec)["deployment_requirements"]["feature_store"] == "Unity Catalog"


def test_summary_shows_parsed_values() -> None:
    text = render_summary(load_spec(TEMPLATE_SPEC))
    assert "precision_at_20pct" in text
    assert "(0.8, 1]" in text
    assert "50 USD/customer" in text


def test_missing_and_misspelt_sections_are_named_with_the_valid_ones() -> None:
    data = template()
    data["intervention"] = data.pop("interventions")
    found = problems(data)
    assert any("unknown section 'intervention'; did you mean 'interventions'" in p for p in found)
    assert any("section 'interventions' is missing" in p for p in found)
    assert all(", ".join(SECTIONS) in p for p in found[:1])


def test_every_problem_is_reported_at_once() -> None:
    data = template()
    data["interventions"][0]["cost"] = "-$5/customer"
    data["interventions"][1]["expected_effectiveness"] = "140% retention"
    data["success_metrics"][1]["metric"] = "Model AUC"
    data["success_metrics"][2]["priority"] = "urgent"
    data["success_metrics"][3]["target"] = "fast"
    data["business_context"]["stakeholders"] = "Marketing"  # a single name is fine
    data["business_context"]["project_name"] = ""
    found = problems(data)
    for fragment in (
        "interventions[0].cost: cost '-$5/customer' is negative",
        "interventions[1].expected_effectiveness: rate '140% retention' is 1.4, outside [0, 1]",
        "success_metrics[1].metric: duplicate metric 'Model AUC'",
        "success_metrics[2].priority: unknown priority 'urgent'",
        "success_metrics[3].target: cannot read target 'fast'",
        "business_context.project_name: is missing or empty",
    ):
        assert any(fragment in p for p in found), (fragment, found)
    assert len(found) == 6


def test_problems_from_a_file_carry_file_and_line(tmp_path: Path) -> None:
    text = TEMPLATE_SPEC.read_text().replace("Medium (0.5-0.8)", "Medium (0.5-0.7)")
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    [problem] = exc.value.problems
    assert problem.file == str(path)
    assert problem.line is not None
    assert text.splitlines()[problem.line - 1].startswith("interventions")
    assert "gap (0.7, 0.8] between tiers 'Medium' and 'High'" in str(exc.value)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.update(business_context=["a"]), "business_context: expected a mapping"),
        (lambda d: d.update(success_metrics={"a": 1}), "success_metrics: expected a list"),
        (lambda d: d.update(success_metrics=[]), "success_metrics: is empty"),
        (lambda d: d.update(interventions=[]), "interventions: is empty"),
        (lambda d: d.update(deployment_requirements="daily"), "deployment_requirements: expected a mapping"),
        (lambda d: d["business_context"].update(stakeholders=[1, 2]), "stakeholders: expected a list of names"),
        (lambda d: d["interventions"].append("x"), "interventions[3]: expected a mapping"),
        (lambda d: d["interventions"][0].pop("cost"), "interventions[0].cost: is missing"),
        (lambda d: d["interventions"][0].update(cost=["$5"]), "interventions[0].cost: expected text"),
        (lambda d: d["interventions"][0].update(risk_level="High (>1.2)"), "outside [0, 1]"),
        (lambda d: d["interventions"][0].update(risk_level="Medium (0.5-0.8)"), "overlap"),
        (lambda d: d["data_constraints"][0].update(status="maybe"), "data_constraints[0].status"),
        (lambda d: d["data_constraints"][0].update(check="magic"), "unknown check 'magic'"),
        (lambda d: d["success_metrics"][0].update(target=None), "success_metrics[0].target: is missing"),
    ],
)  # fmt: skip
def test_invalid_fields_are_named(mutate: Any, fragment: str) -> None:
    data = copy.deepcopy(template())
    mutate(data)
    found = problems(data)
    assert any(fragment in p for p in found), found


def test_empty_data_constraints_are_allowed() -> None:
    data = template()
    data["data_constraints"] = []
    assert load_spec(data).data_constraints == ()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"- a\n- b\n", "got list"),
        (b"", "got empty"),
        (b"a: [1\n", "not valid YAML"),
        (b"business_context: {}\nbusiness_context: {}\n", "duplicate key"),
    ],
)
def test_bad_files_get_clear_messages(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    with pytest.raises(SpecError, match=fragment) as exc:
        load_spec(path)
    assert str(path) in str(exc.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="is a folder"):
        load_spec(tmp_path)


def test_budget_without_amount_is_a_warning_not_an_error() -> None:
    data = template()
    data["business_context"]["budget_constraints"] = "to be agreed with finance"
    spec = load_spec(data)
    assert spec.business_context.budget is None
    assert any("budget_constraints" in w for w in spec.warnings)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*SECTIONS, "extra", "Business Context"]),
        st.one_of(st.none(), st.text(max_size=5), st.lists(st.text(max_size=3), max_size=2)),
        max_size=6,
    )
)
def test_random_specs_raise_spec_error_or_load(data: dict[str, Any]) -> None:
    try:
        build_spec(data)
    except SpecError as exc:
        problems_found = exc.problems
    else:
        problems_found = (None,)
    assert problems_found


def test_a_misspelt_required_key_gives_one_message_with_the_suggestion() -> None:
    data = spec_data()
    data["success_metrics"][0]["targt"] = data["success_metrics"][0].pop("target")
    with pytest.raises(SpecError) as info:
        load_spec(data)
    assert [p.message for p in info.value.problems] == [
        "unknown key 'targt'; did you mean 'target'?"
    ]


def test_an_unknown_key_far_from_any_known_one_is_kept_with_a_warning() -> None:
    data = spec_data()
    data["deployment_requirements"]["owner_team"] = "platform"
    spec = load_spec(data)
    assert spec.deployment_requirements.raw["owner_team"] == "platform"
    assert any(
        w.startswith("deployment_requirements.owner_team: unknown key") for w in spec.warnings
    )
