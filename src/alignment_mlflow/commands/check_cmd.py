"""``check``: verify the data constraints against a findings file, writing nothing."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from alignment_mlflow.commands._common import (
    as_utc,
    echo,
    echo_json,
    echo_status,
    handle_errors,
)
from alignment_mlflow.commands._options import (
    findings_argument,
    freshness_reference_option,
    json_option,
    profile_option,
    spec_option,
)


@click.command(
    short_help="Verify the spec's data constraints against the findings; write nothing.",
    epilog="""Examples:

\b
  alignment-mlflow check examples/findings --spec examples/churn_alignment.yaml
  alignment-mlflow check FINDINGS --spec SPEC --freshness-reference 2023-12-31 --strict
""",
)
@findings_argument
@spec_option()
@profile_option()
@click.option("--strict", is_flag=True, help="Exit 3 when any constraint failed.")
@json_option("Print the verdicts as JSON.")
@freshness_reference_option
@handle_errors
def check(
    findings: str,
    spec: str,
    profile: str | None,
    strict: bool,
    as_json: bool,
    freshness_reference: datetime | None,
) -> None:
    """Verify the spec's data constraints against the findings (no writes)."""
    from alignment_mlflow.errors import ConstraintViolationError
    from alignment_mlflow.findings.constraints import (
        alignment_status,
        any_failed,
        summarise,
        verify_constraints,
    )
    from alignment_mlflow.findings.io import locate_findings, read_findings, read_related_findings
    from alignment_mlflow.spec import load_spec

    aspec = load_spec(spec)
    loc = locate_findings(findings, profile=profile)
    doc = read_findings(loc)
    related = [d.view for d in read_related_findings(loc, doc)] if doc.view.is_aggregated else []
    verdicts = verify_constraints(
        aspec,
        doc.view,
        now=datetime.now(timezone.utc),
        related=related,
        freshness_reference=as_utc(freshness_reference),
    )
    status = alignment_status([v.status for v in verdicts])
    if as_json:
        payload = {
            "findings_path": loc.display,
            "status": status,
            "constraints": [v.to_dict() for v in verdicts],
        }
        echo_json(payload, default=str, indent=2)
    else:
        echo_status(f"status:   {status.upper()}")
        echo(f"findings: {loc.display}")
        for v in verdicts:
            echo_status(f"  {v.status.upper():<13} {v.constraint}: {v.reason}")
            for note in v.notes:
                echo(f"  {'':<13} note: {note}")
        counts = summarise(verdicts)
        echo("summary: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    if strict and any_failed(verdicts):
        failed = ", ".join(v.constraint for v in verdicts if v.status == "failed")
        raise ConstraintViolationError(f"--strict: failed data constraint(s): {failed}")
