"""``alignment-mlflow plan``: what this month's scores cost, save and whether it is fair."""

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
    dry_run_option,
    json_option,
    profile_option,
    tracking_uri_option,
    verbose_option,
)
from alignment_mlflow.interrupts import sigterm_as_interrupt

EXAMPLE = """Examples:

\b
  alignment-mlflow plan --scores examples/scores/churn_scores.parquet \\
      --spec demo-output/findings/<aligned>_findings.yaml --group-column segment
  alignment-mlflow plan --scores main.churn.churn_scores --spec SPEC \\
      --assignments-table main.churn.churn_assignments      # on Databricks (Spark)
  alignment-mlflow plan --scores SCORES --spec SPEC --assignments-table PATH \\
      --holdout auto --campaign 2026-12                       # with a control group
"""


@click.command(
    short_help="Cost, expected saves, budget fit and fairness of the tiers on scored customers.",
    epilog=EXAMPLE,
)
@click.option(
    "--scores",
    required=True,
    metavar="PATH_OR_TABLE",
    help="Parquet file or folder, Delta table path (local or /Volumes/...), or "
    "catalog.schema.table (read with Spark).",
)
@click.option(
    "--spec", required=True, metavar="SPEC", help="Alignment spec, or an aligned findings file."
)
@click.option("--id-column", default="customer_id", show_default=True, metavar="COL")
@click.option("--score-column", default="churn_score", show_default=True, metavar="COL")
@click.option(
    "--group-column",
    "group_columns",
    multiple=True,
    metavar="COL",
    help="Judge parity of paid interventions across this column's groups (repeatable).",
)
@click.option(
    "--assignments-table",
    metavar="PATH_OR_NAME",
    help="Write one row per customer to this Delta table (path: delta-rs; name: Spark), "
    "replacing the project's previous rows.",
)
@click.option(
    "--holdout",
    metavar="FRACTION|auto",
    help="Hold out this share of every tier (no action, no cost) as the campaign's control "
    "group, or 'auto': per tier the share that detects its claimed effect. Needs --campaign.",
)
@click.option(
    "--campaign",
    metavar="ID",
    help="Campaign id (e.g. 2026-12): the held-out customers are a keyed hash of project, "
    "campaign and customer id; written in the assignments.",
)
@tracking_uri_option("MLflow tracking URI [default: as for run].")
@click.option(
    "--experiment",
    metavar="NAME",
    help="Experiment [default: the alignment's (aligned findings), else "
    "/Shared/alignment/<project slug>].",
)
@dry_run_option("Validate and compute; write nothing.")
@profile_option("a spec on dbfs:/ or Volumes")
@json_option()
@verbose_option
@handle_errors
def plan(
    scores: str,
    spec: str,
    id_column: str,
    score_column: str,
    group_columns: tuple[str, ...],
    assignments_table: str | None,
    holdout: str | None,
    campaign: str | None,
    tracking_uri: str | None,
    experiment: str | None,
    dry_run: bool,
    profile: str | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Cost, expected saves, budget fit and parity of the spec's tiers on scored customers.

    Scores are read as churn probabilities; the scored population is taken as one budget
    period's campaign. Exit codes: 0 done, 2 invalid input (nothing written), 1 a system failed.
    """
    from alignment_mlflow.economics.api import plan as run_plan

    stderr_logging()
    progress = step_printer(as_json)
    # SIGTERM (a job cancel, `timeout`) as run handles it: the run closed as KILLED, the part
    # files of an uncommitted write removed, exit 143.
    with contextlib.redirect_stdout(sys.stderr), library_logging(verbose), sigterm_as_interrupt():
        result = run_plan(
            scores,
            spec,
            id_column=id_column,
            score_column=score_column,
            group_columns=group_columns,
            assignments_table=assignments_table,
            tracking_uri=tracking_uri,
            experiment=experiment,
            dry_run=dry_run,
            profile=profile,
            progress=progress,
            holdout=holdout,
            campaign=campaign,
        )
    ui = None if dry_run else (result.tracking_uri, result.experiment_id)
    print_result(result, as_json=as_json, ui=ui, framed=True)
