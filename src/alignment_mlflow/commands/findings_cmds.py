"""``show``: the alignment stored in a findings file."""

from __future__ import annotations

from typing import Any

import click

from alignment_mlflow.commands._common import (
    echo,
    echo_json,
    echo_status,
    handle_errors,
)
from alignment_mlflow.commands._options import (
    findings_argument,
    json_option,
    profile_option,
)


@click.command(
    short_help="Print the alignment stored in a findings file (or folder), led by its status.",
    epilog="""Example:

\b
  alignment-mlflow show demo-output/findings
""",
)
@findings_argument
@profile_option()
@json_option("Print the stored metadata as JSON.")
@handle_errors
def show(findings: str, profile: str | None, as_json: bool) -> None:
    """Print the alignment stored in a findings file (or folder), or say there is none."""
    from alignment_mlflow.findings.constraints import alignment_status
    from alignment_mlflow.findings.document import OUR_METADATA_KEYS
    from alignment_mlflow.findings.io import locate_findings, read_findings

    loc = locate_findings(findings, profile=profile)
    doc = read_findings(loc)
    meta = doc.data.get("metadata") or {}
    ours = {k: meta[k] for k in OUR_METADATA_KEYS if k in meta}
    if as_json:
        echo_json({"findings_path": loc.display, **ours}, default=str, indent=2)
        return
    al: dict[str, Any] = ours.get("alignment") or {}
    if al:  # the verdict leads, as in `check` and `run`
        statuses = [str(c.get("status")) for c in al.get("data_constraints") or []]
        echo_status(f"status:   {alignment_status(statuses).upper()}")
    echo(f"findings: {loc.display}" + (f" ({loc.discovery.reason})" if loc.discovery else ""))
    if not ours:
        echo("no alignment stored (run `alignment-mlflow run` to add one)")
        return
    ctx: dict[str, Any] = ours.get("business_context") or {}
    echo(f"project:  {ctx.get('project_name', '-')}: {ctx.get('business_objective', '-')}")
    for m in ours.get("success_metrics") or []:
        echo(f"  metric  {m.get('Metric')}: {m.get('Target')} [{m.get('Priority')}]")
    if al:
        ml, delta = al.get("mlflow") or {}, al.get("delta") or {}
        echo(f"aligned:  {al.get('aligned_at')} (package {al.get('package_version')})")
        echo(f"spec:     sha256 {al.get('spec_sha256')}")
        echo(f"run:      {ml.get('run_url') or ml.get('run_id')} ({ml.get('tracking_uri')})")
        echo(f"tiers:    {delta.get('table')} version {delta.get('version')}")
        for t in al.get("interventions") or []:
            cost = t.get("cost") or {}
            echo(
                f"  tier    {t.get('rank')}. {t.get('tier')} {t.get('band')}: "
                f"{t.get('intervention')} ({cost.get('text')})"
            )
        for c in al.get("data_constraints") or []:
            echo_status(
                f"  check   {str(c.get('status')).upper():<13} {c.get('constraint')}: "
                f"{c.get('reason')}"
            )
