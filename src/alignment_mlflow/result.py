"""What one alignment did, and where to look at it: the notebook's, the CLI's and ``--json``'s
view of a run of :func:`alignment_mlflow.align`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alignment_mlflow.findings.constraints import alignment_status
from alignment_mlflow.yamlio import JSONObject

JSON_KEYS = (
    "findings_path",
    "run_id",
    "experiment_id",
    "run_url",
    "reused_run",
    "tiers_table",
    "tiers_version",
    "timings",
    "status",
    "dry_run",
    "warnings",
)
"""The ``--json`` keys, in order; the first eight are the original contract and never change."""


@dataclass(frozen=True)
class AlignmentResult:
    """What one alignment did, and where to look at it."""

    findings_path: str
    discovery: str | None
    tracking_uri: str | None
    experiment_id: str | None
    run_id: str | None
    run_url: str | None
    reused_run: bool
    tiers_table: str | None
    tiers_version: int | None
    tiers_changed: bool
    findings_updated: bool
    constraints: tuple[JSONObject, ...]  # each verdict as the findings and the run record it
    timings: Mapping[str, float]
    dry_run: bool = False
    planned: JSONObject = field(default_factory=dict)
    experiment_url: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``blocked`` (a constraint failed), ``needs_review`` (something unverifiable or manual)
        or ``aligned``: the verdict the run, the CLI and ``--json`` all lead with."""
        return alignment_status([str(v.get("status")) for v in self.constraints])

    def to_json(self) -> dict[str, Any]:
        """The CLI's ``--json`` object: exactly these keys, relied on by jobs that parse it."""
        return {
            "findings_path": self.findings_path,
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "run_url": self.run_url,
            "reused_run": self.reused_run,
            "tiers_table": self.tiers_table,
            "tiers_version": self.tiers_version,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "status": self.status,
            "dry_run": self.dry_run,
            "warnings": list(self.warnings),
            **({"plan": dict(self.planned)} if self.dry_run else {}),
        }

    def summary_lines(self) -> list[str]:
        head = f"status:   {self.status.upper()}"
        if self.dry_run:
            lines = [head, f"dry run: nothing written; findings {self.findings_path}"]
            lines += [f"  would {k}: {v}" for k, v in self.planned.items()]
            return lines + self._constraint_lines()
        run = self.run_url or self.run_id or "-"
        reused = " (reused: same spec and findings)" if self.reused_run else ""
        version = "-" if self.tiers_version is None else str(self.tiers_version)
        changed = "" if self.tiers_changed else " (unchanged)"
        experiment = self.experiment_url or f"experiment {self.experiment_id}"
        lines = [
            head,
            f"run:      {run}{reused}",
            f"runs:     {experiment}",
            f"tracking: {self.tracking_uri} (experiment {self.experiment_id})",
            f"tiers:    {self.tiers_table} version {version}{changed}",
            f"findings: {self.findings_path}"
            + (" (updated)" if self.findings_updated else " (already up to date)"),
        ]
        return lines + self._constraint_lines()

    def _constraint_lines(self) -> list[str]:
        counts: dict[str, int] = {}
        for v in self.constraints:
            counts[str(v.get("status"))] = counts.get(str(v.get("status")), 0) + 1
        if not counts:
            return []
        lines = ["constraints: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))]
        lines += [
            f"  {str(v.get('status')).upper():<13} {v.get('constraint')}: {v.get('reason')}"
            for v in self.constraints
        ]
        return lines

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_markdown_(self) -> str:
        """In a notebook: the verdict, then links to the run and to the experiment's runs list."""
        links = [
            f"[{label}]({url})"
            for label, url in (("open the run", self.run_url), ("runs list", self.experiment_url))
            if url and url.startswith(("http://", "https://"))
        ]
        head = f"**{self.status.upper()}**" + (" · " + " · ".join(links) if links else "")
        return head + "\n\n" + "\n".join(f"- `{line}`" for line in self.summary_lines()[1:])
