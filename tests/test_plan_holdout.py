"""`plan --holdout --campaign`: the campaign's control group drawn with the plan (issue 26).

Real sqlite MLflow stores and real delta-rs tables; the Spark side is in test_plan_spark.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, write_deltalake
from mlflow import MlflowClient

import alignment_mlflow
from _specs import spec_data
from alignment_mlflow.bands.table import band_table
from alignment_mlflow.cli import cli
from alignment_mlflow.economics.holdout import HOLDOUT_INTERVENTION
from alignment_mlflow.economics.report import ASSIGNMENT_COLUMNS
from alignment_mlflow.errors import InvalidInputError
from alignment_mlflow.outcomes import arms
from alignment_mlflow.spec import load_spec
from conftest import TEMPLATE_SPEC

PROJECT = "customer_churn_prediction"
COSTS = {"High": 50.0, "Medium": 10.0, "Low": 0.5}


def scores_table(n: int = 6000, seed: int = 4) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "customer_id": np.arange(n, dtype=np.int64) * 7 + 11,
            "churn_score": rng.random(n),
            "segment": rng.choice(["a", "b"], n),
        }
    )


@pytest.fixture
def scores_file(tmp_path: Path) -> Path:
    path = tmp_path / "scores.parquet"
    pq.write_table(scores_table(), path)
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["plan", *args], catch_exceptions=False)


def expected_held(ids: list[Any], campaign: str, fractions: np.ndarray) -> np.ndarray:
    key = arms.campaign_key(PROJECT, campaign)
    return arms.held_out(arms.hash_ids(np.asarray(ids), key), fractions)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--holdout", "0.1"], "--holdout needs --campaign"),
        (["--holdout", "1", "--campaign", "c"], "pass a fraction in [0, 1)"),
        (["--holdout", "-0.1", "--campaign", "c"], "pass a fraction in [0, 1)"),
        (["--holdout", "nan", "--campaign", "c"], "pass a fraction in [0, 1)"),
        (["--holdout", "half", "--campaign", "c"], "pass a fraction in [0, 1)"),
        (["--holdout", "0.1", "--campaign", " "], "--campaign ' '"),
    ],
)
def test_a_bad_holdout_exits_2_and_writes_nothing(
    scores_file: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    db, target = tmp_path / "mlflow.db", tmp_path / "assignments"
    for dry in ([], ["--dry-run"]):
        res = invoke("--scores", str(scores_file), "--spec", str(TEMPLATE_SPEC), "--tracking-uri",
                     f"sqlite:///{db}", "--assignments-table", str(target), *args, *dry)  # fmt: skip
        assert res.exit_code == 2, res.output
        assert needle in res.stderr
    assert not db.exists()
    assert not target.exists()


def test_arms_are_the_keyed_hash_per_tier_and_held_out_rows_cost_nothing(
    scores_file: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    target = str(tmp_path / "assignments")
    args = ["--scores", str(scores_file), "--spec", str(TEMPLATE_SPEC), "--assignments-table",
            target, "--tracking-uri", db, "--holdout", "0.2", "--campaign", "2026-12", "--json"]  # fmt: skip
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    rows = DeltaTable(target).to_pyarrow_table().to_pylist()
    assert [c.name for c in ASSIGNMENT_COLUMNS][-3:] == ["campaign", "arm", "holdout_fraction"]
    assert {r["campaign"] for r in rows} == {"2026-12"}
    assert {r["holdout_fraction"] for r in rows} == {0.2}
    ids = [r["customer_id"] for r in rows]
    held = expected_held(ids, "2026-12", np.full(len(ids), 0.2))
    assert [r["arm"] for r in rows] == ["holdout" if h else "treated" for h in held]
    for r in rows:
        if r["arm"] == "holdout":
            assert (r["cost"], r["intervention"]) == (0.0, HOLDOUT_INTERVENTION)
        else:
            assert r["cost"] == COSTS[r["tier"]]
            assert r["intervention"] != HOLDOUT_INTERVENTION
    # Stratified: each tier holds out its fraction (binomial noise only), and the figures count
    # the treated only.
    for t in out["tiers"]:
        mine = [r for r in rows if r["tier"] == t["tier"]]
        held_n = sum(r["arm"] == "holdout" for r in mine)
        assert (t["customers"], t["holdout"], t["treated"]) == (
            len(mine),
            held_n,
            len(mine) - held_n,
        )
        assert abs(held_n / len(mine) - 0.2) < 4 * (0.2 * 0.8 / len(mine)) ** 0.5
        assert t["cost"] == pytest.approx(t["treated"] * COSTS[t["tier"]])
        assert t["holdout_fraction"] == 0.2
    assert out["total_cost"] == pytest.approx(sum(r["cost"] for r in rows))
    assert out["campaign"] == "2026-12"
    assert out["holdout"]["mode"] == "0.2"
    assert out["warnings"] == []
    run = MlflowClient(db).get_run(out["run_id"])
    assert run.data.tags["plan.campaign"] == "2026-12"
    assert run.data.tags["mlflow.alignment.holdout"] == "0.2"
    assert run.data.params["holdout"] == "0.2"
    assert run.data.metrics["total_cost"] == pytest.approx(out["total_cost"], rel=1e-5)
    assert "get no action" in run.data.tags["mlflow.note.content"]

    # A rerun is the same plan: same run, no new version, the same rows.
    version = DeltaTable(target).version()
    again = json.loads(invoke(*args).stdout)
    assert (again["run_id"], again["assignments_version"]) == (out["run_id"], version)
    # Another store and table draw the very same arms (no RNG state anywhere).
    other = str(tmp_path / "other")
    res = invoke(*args[:5], other, "--tracking-uri", f"sqlite:///{tmp_path / 'other.db'}",
                 *args[8:])  # fmt: skip
    assert res.exit_code == 0, res.output
    keep = ("customer_id", "tier", "arm", "intervention", "cost", "holdout_fraction", "campaign")
    mine = DeltaTable(other).to_pyarrow_table().select(keep).sort_by("customer_id")
    assert mine.equals(DeltaTable(target).to_pyarrow_table().select(keep).sort_by("customer_id"))
    # Another campaign draws another holdout.
    res = invoke(*args[:-2], "2027-01", "--json")
    assert res.exit_code == 0, res.output
    new = DeltaTable(target).to_pyarrow_table().sort_by("customer_id")
    assert new.column("arm") != mine.column("arm")


def test_without_a_holdout_everyone_is_treated(scores_file: Path, tmp_path: Path) -> None:
    target = str(tmp_path / "assignments")
    base = ["--scores", str(scores_file), "--spec", str(TEMPLATE_SPEC), "--assignments-table",
            target, "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--json"]  # fmt: skip
    out = json.loads(invoke(*base).stdout)
    rows = DeltaTable(target).to_pyarrow_table()
    assert set(rows.column("arm").to_pylist()) == {"treated"}
    assert set(rows.column("holdout_fraction").to_pylist()) == {0.0}
    assert set(rows.column("campaign").to_pylist()) == {None}
    assert (out["campaign"], out["holdout"], out["warnings"]) == (None, None, [])
    assert all(t["holdout"] == 0 and t["treated"] == t["customers"] for t in out["tiers"])
    # --campaign alone names the campaign and holds out nobody.
    out = json.loads(invoke(*base, "--campaign", "c1").stdout)
    rows = DeltaTable(target).to_pyarrow_table()
    assert set(rows.column("campaign").to_pylist()) == {"c1"}
    assert set(rows.column("arm").to_pylist()) == {"treated"}


def test_the_holdout_changes_the_budget_verdict_and_the_paid_shares() -> None:
    table = scores_table()
    full = alignment_mlflow.plan(table, str(TEMPLATE_SPEC), group_columns=["segment"],
                                 dry_run=True).economics  # fmt: skip
    data = spec_data()
    data["business_context"]["budget_constraints"] = f"${full.total_cost * 0.75:.0f} per month"
    over = alignment_mlflow.plan(table, data, group_columns=["segment"], dry_run=True)
    assert over.economics.within_budget is False
    held = alignment_mlflow.plan(table, data, group_columns=["segment"], dry_run=True,
                                 holdout=0.5, campaign="c")  # fmt: skip
    e = held.economics
    assert e.within_budget is True
    assert e.total_cost == pytest.approx(sum(t.treated * COSTS[t.tier] for t in e.tiers))
    assert e.total_cost < full.total_cost * 0.75
    assert e.expected_saves < full.expected_saves
    # Parity is about who is paid for: the held out of paid tiers are not.
    paid_treated = sum(t.treated for t in e.tiers if t.paid)
    assert sum(paid for _, _, paid, _ in e.parity[0].groups) == paid_treated
    assert "fits" in "\n".join(held.summary_lines())


def test_over_budget_the_allocation_funds_treated_customers_only() -> None:
    table = scores_table()
    data = spec_data()
    data["business_context"]["budget_constraints"] = "$20k per month"
    e = alignment_mlflow.plan(table, data, dry_run=True, holdout=0.3, campaign="c").economics
    assert e.allocation is not None
    by_tier = {t.tier: t for t in e.tiers}
    a = e.allocation
    assert a.cost <= 20_000
    assert a.customers == sum(by_tier[t].treated for t in a.tiers_in_full) + a.partial_customers
    # The partial tier's top scores are drawn from its treated customers.
    ids = table.column("customer_id").to_numpy()
    s = table.column("churn_score").to_numpy()
    held = expected_held(list(ids), "c", np.full(len(ids), 0.3))
    band = next(b for b in band_table(load_spec(data)).bands if b.tier == a.partial_tier)
    treated = np.sort(s[~held & band.contains(s)])[::-1]
    assert a.score_cutoff == treated[a.partial_customers - 1]


def tiered_scores(low: int) -> pa.Table:
    """Constant scores per tier: High 0.9 (1,000), Medium 0.65 (3,000), Low 0.15."""
    scores = [0.9] * 1000 + [0.65] * 3000 + [0.15] * low
    return pa.table({"customer_id": np.arange(len(scores)), "churn_score": scores})


def test_auto_warns_when_the_low_tier_cannot_show_its_claim(tmp_path: Path) -> None:
    path = tmp_path / "scores.parquet"
    pq.write_table(tiered_scores(20_000), path)
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    base = ["--scores", str(path), "--spec", str(TEMPLATE_SPEC), "--tracking-uri", db,
            "--holdout", "auto", "--campaign", "2026-12"]  # fmt: skip
    res = invoke(*base)
    assert res.exit_code == 0, res.output
    [warning] = [line for line in res.stdout.splitlines() if line.startswith("WARNING")]
    assert "tier Low" in warning
    assert "~34,840 customers per arm" in warning
    assert "has 20,000" in warning
    out = json.loads(invoke(*base, "--json").stdout)
    assert out["warnings"] == [warning]
    tiers = {t["tier"]: t for t in out["holdout"]["tiers"]}
    assert tiers["Low"]["needed_per_arm"] == 34_840
    assert tiers["Low"]["detectable"] is False
    assert tiers["High"]["detectable"]
    assert tiers["Medium"]["detectable"]
    assert 0 < tiers["High"]["fraction"] < 0.5
    assert tiers["Low"]["fraction"] == pytest.approx(0.10)  # a monitoring holdout
    client = MlflowClient(db)
    run = client.get_run(out["run_id"])
    assert run.data.tags["plan.warnings"] == warning
    assert run.data.tags["mlflow.alignment.holdout_detectable"] == "false"
    assert "34,840" in run.data.tags["mlflow.note.content"]
    assert run.data.metrics["tier.Low.needed_per_arm"] == 34_840
    report = Path(client.download_artifacts(out["run_id"], "plan_report.html", str(tmp_path)))
    assert "34,840" in report.read_text()

    # At a volume that has the customers, no warning.
    pq.write_table(tiered_scores(80_000), path)
    out = json.loads(invoke(*base, "--json").stdout)
    assert out["warnings"] == []
    assert {t["tier"]: t["detectable"] for t in out["holdout"]["tiers"]}["Low"] is True


def test_an_assignments_table_from_before_the_holdout_gains_its_columns(
    scores_file: Path, tmp_path: Path
) -> None:
    """Our own table, written by an older version (no campaign/arm/holdout_fraction): the plan
    adds the three nullable columns in its commit; the other projects' rows read null."""
    target = str(tmp_path / "assignments")
    old_cols = [
        c for c in ASSIGNMENT_COLUMNS if c.name not in ("campaign", "arm", "holdout_fraction")
    ]
    from datetime import datetime, timezone

    values: dict[str, Any] = {
        "project": "other_project", "customer_id": 1, "churn_score": 0.5, "tier": "Medium",
        "tier_rank": 2, "intervention": "x", "cost": 10.0, "currency": "USD",
        "spec_sha256": "0" * 64, "plan_run_id": "r0", "scored_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
    }  # fmt: skip
    from alignment_mlflow.economics.assignments import arrow_schema

    schema = pa.schema([arrow_schema(pa.int64()).field(c.name) for c in old_cols])
    write_deltalake(target, pa.Table.from_pylist([values], schema=schema), partition_by=["project"],
                    commit_properties=None)  # fmt: skip
    res = invoke("--scores", str(scores_file), "--spec", str(TEMPLATE_SPEC), "--assignments-table",
                 target, "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--holdout",
                 "0.1", "--campaign", "c1")  # fmt: skip
    assert res.exit_code == 0, res.output
    dt = DeltaTable(target)
    assert [f.name for f in dt.schema().fields] == [c.name for c in ASSIGNMENT_COLUMNS]
    rows = dt.to_pyarrow_table()
    other = rows.filter(pa.compute.equal(rows.column("project"), "other_project")).to_pylist()
    assert [(r["arm"], r["campaign"], r["holdout_fraction"]) for r in other] == [(None, None, None)]
    ours = rows.filter(pa.compute.equal(rows.column("project"), PROJECT))
    assert set(ours.column("arm").to_pylist()) == {"treated", "holdout"}
    assert dt.version() == 1  # one commit: the data and the new columns together


def test_string_ids_and_refused_id_types(tmp_path: Path) -> None:
    ids = [f"cust-{i:06d}" for i in range(3000)]
    t = pa.table({"customer_id": ids, "churn_score": np.linspace(0, 1, 3000)})
    target = str(tmp_path / "a")
    alignment_mlflow.plan(t, str(TEMPLATE_SPEC), assignments_table=target, holdout=0.25,
                          campaign="c", tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")  # fmt: skip
    rows = DeltaTable(target).to_pyarrow_table().to_pylist()
    held = expected_held([r["customer_id"] for r in rows], "c", np.full(len(rows), 0.25))
    assert [r["arm"] == "holdout" for r in rows] == list(held)
    bad = pa.table({"customer_id": pa.array([1.5, 2.5]), "churn_score": [0.1, 0.9]})
    with pytest.raises(InvalidInputError, match="integer or string"):
        alignment_mlflow.plan(bad, str(TEMPLATE_SPEC), dry_run=True, holdout=0.1, campaign="c")
