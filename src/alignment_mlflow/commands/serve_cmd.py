"""``alignment-mlflow serve``: wrap a model version so it serves the agreed tiers with its score."""

from __future__ import annotations

import contextlib
import sys

import click

from alignment_mlflow.commands._common import (
    handle_errors,
    library_logging,
    print_result,
    stderr_logging,
)
from alignment_mlflow.commands._options import (
    dry_run_option,
    json_option,
    profile_option,
    registry_uri_option,
    spec_option,
    tracking_uri_option,
    verbose_option,
)

EXAMPLE = """Examples:

\b
  alignment-mlflow serve --spec demo-output/findings/<aligned>_findings.yaml \\
      --model-version models:/churn_model/1 --tracking-uri sqlite:///demo-output/mlflow.db
  alignment-mlflow serve --spec SPEC --model-version models:/main.churn.churn_model/4 \\
      --sql-function main.churn.churn_tier --dry-run   # check and print, write nothing
"""


@click.command(
    short_help="Register a model version wrapped to return its score's agreed tier.",
    epilog=EXAMPLE,
)
@spec_option("Alignment spec, or an aligned findings file (serves exactly what was aligned).")
@click.option(
    "--model-version",
    required=True,
    metavar="models:/NAME/VERSION",
    help="The registered version whose score is tiered.",
)
@click.option(
    "--register-as",
    metavar="NAME",
    help="Registered model the wrapper becomes a version of [default: NAME_tiered].",
)
@click.option(
    "--sql-function",
    metavar="CATALOG.SCHEMA.FUNCTION",
    help="Also compile the tiers to a SQL function: printed, and created with a Spark session.",
)
@click.option(
    "--score-output",
    metavar="COLUMN",
    help="The inner model's output that is the churn score [default: predict_proba[:, 1] of a "
    "binary classifier, else its single output].",
)
@tracking_uri_option()
@registry_uri_option
@dry_run_option("Check everything and print; write nothing.")
@profile_option("dbfs:/ and /Volumes specs")
@json_option()
@verbose_option
@handle_errors
def serve(
    spec: str,
    model_version: str,
    register_as: str | None,
    sql_function: str | None,
    score_output: str | None,
    tracking_uri: str | None,
    registry_uri: str | None,
    dry_run: bool,
    profile: str | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Register a pyfunc that loads the model version and returns, per row, score, tier,
    intervention, cost, currency and spec_sha256, as a new version of --register-as; a rerun
    with the same inputs registers nothing.

    Exit codes: 0 done, 2 invalid input (unknown version, a model without a usable score output,
    bands that do not partition [0, 1], a bad name), 1 a system failed.
    """
    from alignment_mlflow.serving.api import serve as run_serve

    stderr_logging()
    with contextlib.redirect_stdout(sys.stderr), library_logging(verbose):
        result = run_serve(
            spec,
            model_version=model_version,
            register_as=register_as,
            sql_function=sql_function,
            score_output=score_output,
            tracking_uri=tracking_uri,
            registry_uri=registry_uri,
            dry_run=dry_run,
            profile=profile,
        )
    print_result(result, as_json=as_json, notes=result.notes)
