"""``alignment-mlflow outcomes``: a campaign's outcome judged against what its plan claimed."""

from __future__ import annotations

import contextlib
import sys

import click

from alignment_mlflow.commands._common import (
    handle_errors,
    library_logging,
    print_result,
    stderr_logging,
    step_printer,
)
from alignment_mlflow.commands._options import (
    json_option,
    profile_option,
    tracking_uri_option,
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
@tracking_uri_option("MLflow tracking URI [default: as for run].")
@click.option(
    "--experiment",
    metavar="NAME",
    help="Experiment [default: the plan run's, else /Shared/alignment/<project slug>].",
)
@profile_option("a spec on dbfs:/ or Volumes")
@json_option()
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

    stderr_logging()
    progress = step_printer(as_json)
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
    ui = (result.tracking_uri, result.experiment_id)
    print_result(result, as_json=as_json, ui=ui, framed=True)
