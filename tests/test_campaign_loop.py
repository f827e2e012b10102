"""The loop closed end to end: `plan --holdout --campaign` writes the arms, the campaign happens,
`outcomes` judges it from the very table the plan wrote and links its run to that plan run.

The two halves were built apart against one agreed schema (``campaign``, ``arm``,
``holdout_fraction``); this holds them to it through the CLI, with a real sqlite store and a
real delta-rs table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner
from deltalake import DeltaTable
from mlflow import MlflowClient

from alignment_mlflow.cli import cli
from conftest import TEMPLATE_SPEC


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_outcomes_judges_the_arms_plan_drew_and_links_the_plan_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(26)
    n = 20_000
    ids = np.arange(n, dtype=np.int64) * 3 + 5
    scores = rng.random(n)
    pq.write_table(pa.table({"customer_id": ids, "churn_score": scores}), tmp_path / "s.parquet")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    target = tmp_path / "assignments"

    planned = invoke("plan", "--scores", str(tmp_path / "s.parquet"), "--spec", str(TEMPLATE_SPEC),
                     "--tracking-uri", uri, "--assignments-table", str(target),
                     "--holdout", "0.3", "--campaign", "2026-12", "--json")  # fmt: skip
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert plan["campaign"] == "2026-12"

    # The campaign: treated customers churn half as often as their score says.
    rows = DeltaTable(str(target)).to_pyarrow_table(columns=["customer_id", "arm", "churn_score"])
    held = np.asarray(rows["arm"].to_pylist()) == "holdout"
    p = np.where(held, rows["churn_score"].to_numpy(), rows["churn_score"].to_numpy() * 0.5)
    churned = rng.random(len(p)) < p
    pq.write_table(pa.table({"customer_id": rows["customer_id"], "churned": churned}),
                   tmp_path / "o.parquet")  # fmt: skip

    judged = invoke("outcomes", "--assignments", str(target), "--outcomes",
                    str(tmp_path / "o.parquet"), "--spec", str(TEMPLATE_SPEC),
                    "--campaign", "2026-12", "--tracking-uri", uri, "--json")  # fmt: skip
    assert judged.exit_code == 0, judged.output
    out = json.loads(judged.stdout)
    assert out["campaign"] == "2026-12"
    # The arms outcomes counted are the arms plan drew, tier by tier.
    drew = {t["tier"]: (t["treated"], t["holdout"]) for t in plan["tiers"]}
    counted = {t["tier"]: (t["treated"], t["holdout"]) for t in out["tiers"]}
    assert counted == {tier: arms for tier, arms in drew.items() if sum(arms)}
    assert out["srm_p"] > 0.001  # the planned fractions, honestly drawn
    # A 50% reduction on 20,000 customers is seen: the programme's interval excludes zero.
    low, high = out["programme"]["reduction_ci"]
    assert 0 < low < 0.5 < high
    tags = MlflowClient(uri).get_run(out["run_id"]).data.tags
    assert tags["plan.run"] == plan["run_id"]
