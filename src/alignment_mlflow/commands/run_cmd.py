"""``alignment-mlflow run``: the whole alignment, for terminals and Databricks jobs."""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime

import click

from alignment_mlflow.commands._common import (
    as_utc,
    echo,
    handle_errors,
    library_logging,
    new_sqlite_store,
    print_result,
    stderr_logging,
)
from alignment_mlflow.commands._options import (
    dry_run_option,
    findings_argument,
    freshness_reference_option,
    json_option,
    profile_option,
    spec_option,
    tracking_uri_option,
    verbose_option,
)
from alignment_mlflow.interrupts import sigterm_as_interrupt

EXAMPLE = """Examples:

\b
  alignment-mlflow run --findings demo-output/findings --spec examples/churn_alignment.yaml \\
      --tracking-uri sqlite:///demo-output/mlflow.db \\
      --tiers-table demo-output/alignment_delta/intervention_tiers
  alignment-mlflow run FINDINGS --spec SPEC --dry-run      # what would be written
  alignment-mlflow run FINDINGS --spec SPEC --json         # one JSON object, for jobs
"""


@click.command(
    short_help="Log the alignment to MLflow, merge the tiers into Delta, update the findings.",
    epilog=EXAMPLE,
)
@findings_argument
@spec_option()
@tracking_uri_option()
@click.option(
    "--experiment",
    metavar="NAME",
    help="Experiment path [default: /Shared/alignment/<project slug>].",
)
@click.option(
    "--tiers-table",
    metavar="PATH_OR_NAME",
    help="Delta target: a path/URI (delta-rs) or catalog.schema.table (Spark) "
    "[default: ./alignment_delta/intervention_tiers].",
)
@click.option("--new-run", is_flag=True, help="Log a fresh run even if this alignment exists.")
@dry_run_option("Validate and show what would be written.")
@click.option("--strict", is_flag=True, help="Exit 3 before any write if a constraint failed.")
@profile_option()
@json_option()
@freshness_reference_option
@verbose_option
@handle_errors
def run(
    findings: str,
    spec: str,
    tracking_uri: str | None,
    experiment: str | None,
    tiers_table: str | None,
    new_run: bool,
    dry_run: bool,
    strict: bool,
    profile: str | None,
    as_json: bool,
    freshness_reference: datetime | None,
    verbose: bool,
) -> None:
    """Log the alignment to MLflow, merge the tiers into Delta, update the findings.

    Exit codes: 0 done, 2 invalid input, 1 a system failed, 3 --strict constraint failure.
    """
    from alignment_mlflow.pipeline import align
    from alignment_mlflow.tracking.uris import resolve_tracking_uri

    # With --json, stdout carries exactly one JSON object: everything else goes to stderr.
    out_err = as_json
    stderr_logging(verbose)

    stdout = sys.stdout
    new_store = None if dry_run else new_sqlite_store(resolve_tracking_uri(tracking_uri))

    def progress(step: str, seconds: float, detail: str) -> None:
        out = sys.stderr if out_err else stdout
        echo(f"{step:<18} {seconds:7.2f}s  {detail}", file=out)
        if step == "check_constraints" and new_store:
            # The next step opens the store: say why it takes long before it does.
            echo(f"{'':<18} {'':>8}  new MLflow store {new_store}: creating MLflow's tables "
                 "(first run into a store only; usually 5-15 s)", file=out)  # fmt: skip

    # Libraries print too (MLflow's "View run" line): stdout is ours alone, theirs goes to stderr.
    with (
        contextlib.redirect_stdout(sys.stderr),
        library_logging(verbose),
        sigterm_as_interrupt(),
    ):
        result = align(
            findings,
            spec,
            tracking_uri=tracking_uri,
            experiment=experiment,
            tiers_table=tiers_table,
            new_run=new_run,
            dry_run=dry_run,
            strict=strict,
            profile=profile,
            freshness_reference=as_utc(freshness_reference),
            progress=progress,
        )
    for warning in result.warnings:
        echo(f"warning: {warning}", err=True)
    ui = None if result.dry_run else (result.tracking_uri, result.experiment_id)
    print_result(result, as_json=as_json, ui=ui, framed=True)
