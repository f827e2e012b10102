"""What one alignment run is made of (:class:`RunContext`), in a module of its own: the run's
content (params, tags), its description and its report all read it, and none of them needs the
others to know its shape. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alignment_mlflow.findings.constraints import Verdict, alignment_status

if TYPE_CHECKING:
    from alignment_mlflow.findings.document import FindingsView
    from alignment_mlflow.spec.model import AlignmentSpec

Verdicts = Sequence[Verdict]
"""The verdict of each data constraint, typed until a surface writes it as JSON
(:meth:`Verdict.to_dict`)."""


@dataclass(frozen=True)
class RunContext:
    """Everything the run's content is made from; links are filled in as the steps complete."""

    spec: AlignmentSpec
    findings: FindingsView
    findings_location: str
    findings_sha256: str
    verdicts: Verdicts
    package_version: str
    experiment: str = ""
    experiment_url: str | None = None
    run_url: str | None = None
    delta_table: str | None = None
    delta_version: int | None = None
    aligned_at: str | None = None
    user: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return alignment_status([v.status for v in self.verdicts])

    def _verdict(self, slug: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.slug == slug), None)

    def constraint_status(self, slug: str, default: str) -> str:
        v = self._verdict(slug)
        return v.status if v else default

    def constraint_reason(self, slug: str, default: str) -> str:
        v = self._verdict(slug)
        return v.reason if v else default
