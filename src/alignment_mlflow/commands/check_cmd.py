"""``check``: verify the data constraints against a findings file, writing nothing."""

from __future__ import annotations

import json

import click

from alignment_mlflow.commands._common import echo, handle_errors


@click.command()
@click.argument("findings")
@click.option("--spec", required=True, metavar="SPEC", help="Alignment spec (YAML or JSON).")
@click.option(
    "--profile", metavar="NAME", help="Databricks config profile for dbfs:/ and /Volumes."
)
@click.option("--strict", is_flag=True, help="Exit 3 when any constraint failed.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
@handle_errors
def check(findings: str, spec: str, profile: str | None, strict: bool, as_json: bool) -> None:
    """Verify the spec's data constraints against the findings (no writes)."""
    from datetime import datetime, timezone

    from alignment_mlflow.errors import ConstraintViolationError
    from alignment_mlflow.findings.constraints import any_failed, summarise, verify_constraints
    from alignment_mlflow.findings.io import locate_findings, read_findings, read_related_findings
    from alignment_mlflow.spec import load_spec

    aspec = load_spec(spec)
    loc = locate_findings(findings, profile=profile)
    doc = read_findings(loc)
    related = [d.view for d in read_related_findings(loc, doc)] if doc.view.is_aggregated else []
    verdicts = verify_constraints(aspec, doc.view, now=datetime.now(timezone.utc), related=related)
    if as_json:
        payload = {"findings_path": loc.display, "constraints": [v.to_dict() for v in verdicts]}
        echo(json.dumps(payload, default=str, indent=2))
    else:
        echo(f"findings: {loc.display}")
        for v in verdicts:
            echo(f"  {v.status.upper():<13} {v.constraint}: {v.reason}")
            for note in v.notes:
                echo(f"  {'':<13} note: {note}")
        counts = summarise(verdicts)
        echo("summary: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    if strict and any_failed(verdicts):
        failed = ", ".join(v.constraint for v in verdicts if v.status == "failed")
        raise ConstraintViolationError(f"--strict: failed data constraint(s): {failed}")
