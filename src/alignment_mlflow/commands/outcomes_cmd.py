"""``alignment-mlflow outcomes``: a campaign's outcome judged against what its plan claimed."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys

import click

from alignment_mlflow.commands._common import (
    echo,
    echo_status,
    handle_errors,
    library_logging,
    local_ui_lines,
    verbose_option,
)

EXAMPLE = """Examples:

\b
  alignment-mlflow outcomes --assignments demo-output/assignments \\
      --outcomes churned.parquet --spec SPEC --campaign 2026-01
  alignment-mlflow outcomes --assignments main.churn.churn_assignments \\
      --outcomes main.churn.churn_outcomes --spec SPEC     # on Databricks (Spark)
"""


@click.command(
    short_help="Judge a campaign's outcome against the tiers' claims and the business target.",
    epilog=EXAMPLE,
)
@click.option(
    "--assignments",
    required=True,
    metavar="PATH_OR_TABLE",
    help="The assignments plan --holdout wrote: Delta path or URI, Parquet, or "
    "catalog.schema.table (read with Spark).",
)
@click.option(
    "--outcomes",
    "outcome_table",
    required=True,
    metavar="PATH_OR_TABLE",
    help="One row per assigned customer: the id and whether they churned (0/1/true/false).",
)
@click.option(
    "--spec", required=True, metavar="SPEC", help="The spec, or aligned findings, the plan used."
)
@click.option("--campaign", metavar="ID", help="The campaign to judge (needed when several).")
@click.option("--id-column", default="customer_id", show_default=True, metavar="COL",
              help="The outcomes' customer id column.")  # fmt: skip
@click.option("--churned-column", default="churned", show_default=True, metavar="COL")
@click.option("--tracking-uri", metavar="URI", help="MLflow tracking URI [default: as for run].")
@click.option(
    "--experiment",
    metavar="NAME",
    help="Experiment [default: the plan run's, else /Shared/alignment/<project slug>].",
)
@click.option(
    "--profile", metavar="NAME", help="Databricks config profile for a spec on dbfs:/ or Volumes."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@verbose_option
@handle_errors
def outcomes(
    assignments: str,
    outcome_table: str,
    spec: str,
    campaign: str | None,
    id_column: str,
    churned_column: str,
    tracking_uri: str | None,
    experiment: str | None,
    profile: str | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Per tier, the churn of the treated against the held-out customers, with intervals, against
    the tier's claimed effect; the programme against the spec's business target.

    Exit codes: 0 judged (whatever the verdict), 2 invalid input (nothing written), 1 a system
    failed.
    """
    from alignment_mlflow.outcomes.api import outcomes as run_outcomes

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
    out = sys.stderr if as_json else sys.stdout

    def progress(step: str, seconds: float, detail: str) -> None:
        name = re.sub(r"[^a-z0-9]+", "_", step.lower()).strip("_")
        echo(f"{name:<18} {seconds:7.2f}s  {detail}", file=out)

    with contextlib.redirect_stdout(sys.stderr), library_logging(verbose):
        result = run_outcomes(
            assignments,
            outcome_table,
            spec,
            campaign=campaign,
            id_column=id_column,
            churned_column=churned_column,
            tracking_uri=tracking_uri,
            experiment=experiment,
            profile=profile,
            progress=progress,
        )
    if as_json:
        echo(json.dumps(result.to_json()))
    else:
        echo("")
        for line in result.summary_lines():
            echo_status(line)
        for line in local_ui_lines(result.tracking_uri, result.experiment_id):
            echo(line)
