"""``alignment-mlflow gate``: judge a model against the alignment's success metrics."""

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
  alignment-mlflow gate --spec demo-output/findings/<aligned>_findings.yaml \\
      --model-version models:/churn_model/1 --tracking-uri sqlite:///demo-output/mlflow.db \\
      --promote-alias champion
  alignment-mlflow gate --spec SPEC --model-run RUN_ID --dry-run   # judge, write nothing
  alignment-mlflow gate --spec SPEC --model-version models:/churn_model/3 \\
      --endpoint churn-scoring --window 24h   # p99 latency measured on the endpoint
"""


@click.command(
    short_help="Judge a model's logged metrics against the success targets; tag the verdict.",
    epilog=EXAMPLE,
)
@spec_option("Alignment spec, or an aligned findings file (judges exactly what was aligned).")
@click.option("--model-run", metavar="RUN_ID", help="The model's MLflow run.")
@click.option(
    "--model-version",
    metavar="models:/NAME/VERSION",
    help="A registered version: its source run (and MLflow 3 logged model) is judged.",
)
@tracking_uri_option()
@registry_uri_option
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="SLUG=KEY",
    help="Where a metric's value is logged, e.g. model_latency=latency_p99:s (repeatable). "
    "Default: the spec's mlflow_metric, else a key equal to the slug.",
)
@click.option(
    "--promote-alias",
    metavar="ALIAS",
    help="Set this alias on the version only when the verdict is passed.",
)
@click.option(
    "--allow-incomplete", is_flag=True, help="Exit 0 when a High-priority metric is not measured."
)
@click.option(
    "--tag-versions",
    is_flag=True,
    help="With --model-run: also tag the versions registered from that run.",
)
@click.option(
    "--allow-blocked-alignment",
    metavar="REASON",
    help="Gate a model whose aligned findings are blocked (a data constraint failed) as if they "
    "were not; the reason is recorded on the run and the version.",
)
@click.option(
    "--endpoint",
    metavar="NAME",
    help="Databricks serving endpoint: judge the spec's serving latency targets (and "
    "deployment_requirements.real_time_latency) on its metrics export, not on the run.",
)
@click.option(
    "--window",
    metavar="DURATION",
    help="With --endpoint: leave out export samples older than this (30m, 24h, 7d) [default: 24h].",
)
@dry_run_option("Judge and print; write nothing.")
@profile_option("dbfs:/ and /Volumes specs")
@json_option()
@verbose_option
@handle_errors
def gate(
    spec: str,
    model_run: str | None,
    model_version: str | None,
    tracking_uri: str | None,
    registry_uri: str | None,
    metrics: tuple[str, ...],
    promote_alias: str | None,
    allow_incomplete: bool,
    tag_versions: bool,
    allow_blocked_alignment: str | None,
    endpoint: str | None,
    window: str | None,
    dry_run: bool,
    profile: str | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Judge a model's logged metrics against the spec; tag the verdict on its run and version.

    An aligned findings file as --spec also checks the alignment: blocked data makes the verdict
    failed.

    Exit codes: 0 passed, 3 failed (or incomplete without --allow-incomplete), 2 invalid input
    (unknown run or version, a mapping to a missing metric, a bad spec), 1 a system failed.
    """
    from alignment_mlflow.gating.api import gate as run_gate

    stderr_logging()
    # Libraries print too: stdout carries only our output (exactly one JSON object with --json).
    with contextlib.redirect_stdout(sys.stderr), library_logging(verbose):
        result = run_gate(
            spec,
            model_run=model_run,
            model_version=model_version,
            tracking_uri=tracking_uri,
            registry_uri=registry_uri,
            metrics=list(metrics),
            promote_alias=promote_alias,
            tag_versions=tag_versions,
            allow_blocked_alignment=allow_blocked_alignment,
            endpoint=endpoint,
            window=window,
            dry_run=dry_run,
            profile=profile,
        )
    print_result(result, as_json=as_json, notes=result.notes)
    sys.exit(result.exit_code(allow_incomplete))
