"""The alignment job: the notebook's steps as one function.

The order is what keeps a failure from leaving a half state: everything that can be rejected as
bad input (spec, findings, targets, strict constraints) is checked before the first write; then the
MLflow run is opened, the Delta tiers are written with the run id in their commit, the findings
file is updated last (it carries the run id and table version), and only then is the run marked
FINISHED. Any failure after the run opened marks it FAILED, and the findings file stays untouched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from alignment_mlflow import __version__

Progress = Callable[[str, float, str], None]
"""Called after each step with (step name, seconds, one-line detail)."""

JSON_KEYS = (
    "findings_path",
    "run_id",
    "experiment_id",
    "run_url",
    "reused_run",
    "tiers_table",
    "tiers_version",
    "timings",
)


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
    constraints: tuple[Mapping[str, Any], ...]
    timings: Mapping[str, float]
    dry_run: bool = False
    planned: Mapping[str, Any] = field(default_factory=dict)

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
        }

    def summary_lines(self) -> list[str]:
        if self.dry_run:
            lines = [f"dry run: nothing written; findings {self.findings_path}"]
            lines += [f"  would {k}: {v}" for k, v in self.planned.items()]
            return lines + self._constraint_lines()
        run = self.run_url or self.run_id or "-"
        reused = " (reused: same spec and findings)" if self.reused_run else ""
        version = "-" if self.tiers_version is None else str(self.tiers_version)
        changed = "" if self.tiers_changed else " (unchanged)"
        lines = [
            f"run:      {run}{reused}",
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
        return "\n".join(f"- {line}" for line in self.summary_lines())


class _Steps:
    """Times each step and reports it, so the CLI can print one line per step."""

    def __init__(self, progress: Progress | None) -> None:
        self.timings: dict[str, float] = {}
        self._progress = progress
        self.detail = ""

    @contextmanager
    def step(self, name: str) -> Iterator[_Steps]:
        self.detail = ""
        start = time.perf_counter()
        yield self
        self.timings[name] = time.perf_counter() - start
        if self._progress is not None:
            self._progress(name, self.timings[name], self.detail)


def _discovery_text(choice: Any) -> str:
    skipped = "; ".join(f"skipped {name}: {why}" for name, why in choice.skipped)
    return str(choice.reason) + (f"; {skipped}" if skipped else "")


def align(
    findings: str | os.PathLike[str],
    spec: str | os.PathLike[str] | Mapping[str, Any],
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    tiers_table: str | None = None,
    new_run: bool = False,
    dry_run: bool = False,
    strict: bool = False,
    profile: str | None = None,
    spark: Any = None,
    workspace_client: Any = None,
    progress: Progress | None = None,
) -> AlignmentResult:
    """Align a churn project: log the spec to MLflow, write tiers to Delta, update the findings.

    ``findings`` is a findings file or a folder (local, ``dbfs:/``, ``/dbfs/``, ``/Volumes/``);
    ``spec`` a spec file or a dict. Rerunning with the same spec and findings reuses the finished
    run and writes nothing new. ``strict`` stops before any write when a data constraint failed.
    """
    from alignment_mlflow.errors import ConstraintViolationError
    from alignment_mlflow.findings import constraints as checks
    from alignment_mlflow.findings import io as findings_io
    from alignment_mlflow.findings.aligned import load_spec_source
    from alignment_mlflow.findings.document import base_sha256
    from alignment_mlflow.findings.writeback import alignment_metadata
    from alignment_mlflow.spec import notebook_metadata, spec_to_dict
    from alignment_mlflow.tiers import writer as tiers
    from alignment_mlflow.tracking import runs as tracking

    steps = _Steps(progress)

    # 1. Validate everything the user gave before anything is written.
    with steps.step("validate_spec") as s:
        aspec = load_spec_source(spec, profile=profile, client=workspace_client).spec
        target = tiers_table or tiers.DEFAULT_TIERS_TABLE
        tiers.check_tiers_target(target)
        uri = tracking.resolve_tracking_uri(tracking_uri)
        experiment_name = experiment or tracking.default_experiment(aspec)
        tracking.check_experiment_name(experiment_name, uri)
        s.detail = (
            f"{aspec.source or 'dict spec'}: {len(aspec.success_metrics)} metrics, "
            f"{len(aspec.interventions)} tiers, {len(aspec.data_constraints)} constraints"
        )

    # 2. Load the findings (discovery when given a folder).
    with steps.step("load_findings") as s:
        loc = findings_io.locate_findings(
            os.fspath(findings), profile=profile, client=workspace_client
        )
        doc = findings_io.read_findings(loc)
        view = doc.view
        discovery = _discovery_text(loc.discovery) if loc.discovery else None
        s.detail = loc.display + (f" ({discovery})" if discovery else "")

    # 3. Verify the data constraints against the findings.
    with steps.step("check_constraints") as s:
        related = []
        if view.is_aggregated:
            related = [d.view for d in findings_io.read_related_findings(loc, doc)]
        verdicts = checks.verify_constraints(
            aspec, view, now=datetime.now(timezone.utc), related=related
        )
        verdict_dicts = tuple(v.to_dict() for v in verdicts)
        counts = checks.summarise(verdicts)
        s.detail = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if n) or "none"
        if strict and checks.any_failed(verdicts):
            failed = [v.constraint for v in verdicts if v.status == "failed"]
            raise ConstraintViolationError(
                f"--strict: data constraint(s) failed for {loc.display}: {', '.join(failed)}; "
                "nothing was written (see `alignment-mlflow check` for the evidence)"
            )

    spec_dict = spec_to_dict(aspec)
    if dry_run:
        rows = len(aspec.interventions)
        planned = {
            "log run": f"experiment {experiment_name} at {uri}",
            "merge tiers": f"{rows} rows for project {aspec.project_slug} into {target}",
            "update findings": f"metadata keys business_context, success_metrics, "
            f"deployment_requirements, alignment in {loc.display}",
        }
        return AlignmentResult(
            findings_path=loc.display,
            discovery=discovery,
            tracking_uri=uri,
            experiment_id=None,
            run_id=None,
            run_url=None,
            reused_run=False,
            tiers_table=target,
            tiers_version=None,
            tiers_changed=False,
            findings_updated=False,
            constraints=verdict_dicts,
            timings=steps.timings,
            dry_run=True,
            planned=planned,
        )

    # 4. The MLflow run (reused when the same spec was already logged for the same findings).
    with steps.step("mlflow_run") as s:
        client = tracking.make_client(uri)
        ref = tracking.start_alignment_run(
            client,
            tracking_uri=uri,
            experiment=experiment_name,
            spec=aspec,
            spec_dict=spec_dict,
            findings=view,
            findings_location=loc.display,
            findings_sha256=base_sha256(doc),
            verdicts=verdict_dicts,
            new_run=new_run,
            package_version=__version__,
        )
        s.detail = f"run {ref.run_id}" + (" reused" if ref.reused else " created")
        # Time-dependent evidence (the freshness lag) is stated as of the run's start, so a rerun
        # of the same alignment writes byte-identical findings.
        aligned_at = datetime.fromtimestamp(ref.start_time_ms / 1000, timezone.utc)
        verdicts = checks.verify_constraints(aspec, view, now=aligned_at, related=related)
        verdict_dicts = tuple(v.to_dict() for v in verdicts)

    try:
        # 5. The intervention tiers, with the run id in the Delta commit.
        with steps.step("delta_tiers") as s:
            written = tiers.write_tiers(
                target, aspec, findings_path=loc.display, run_id=ref.run_id, spark=spark
            )
            s.detail = f"{written.table} version {written.version}" + (
                "" if written.changed else " (no change)"
            )

        # 6. The findings file, last: it records the run and the table version.
        with steps.step("findings_update") as s:
            updates = alignment_metadata(
                aspec,
                spec_dict=spec_dict,
                constraints=verdict_dicts,
                interventions=spec_dict["interventions"],
                aligned_at=aligned_at.isoformat().replace("+00:00", "Z"),
                package_version=__version__,
                mlflow_refs={
                    "tracking_uri": uri,
                    "experiment_id": ref.experiment_id,
                    "run_id": ref.run_id,
                    "run_url": ref.run_url,
                },
                delta_refs={"table": written.table, "version": written.version},
                notebook=notebook_metadata(aspec),
            )
            wrote = findings_io.update_findings_metadata(loc, doc, updates)
            s.detail = loc.display + (" updated" if wrote.changed else " unchanged")

        # 7. Done: final tags, run FINISHED.
        with steps.step("finish_run"):
            tracking.finish_run(
                client,
                ref,
                tags={
                    "alignment.delta_table": written.table,
                    "alignment.delta_version": str(written.version),
                    "alignment.findings_updated": "true",
                },
            )
    except BaseException as exc:
        if not ref.reused:
            tracking.fail_run(client, ref, exc)
        raise

    return AlignmentResult(
        findings_path=loc.display,
        discovery=discovery,
        tracking_uri=uri,
        experiment_id=ref.experiment_id,
        run_id=ref.run_id,
        run_url=ref.run_url,
        reused_run=ref.reused,
        tiers_table=written.table,
        tiers_version=written.version,
        tiers_changed=written.changed,
        findings_updated=wrote.changed,
        constraints=verdict_dicts,
        timings=steps.timings,
    )
