"""The alignment's verdict as part of the gate's: a model trained on data that failed a constraint
(PII in features, protected attributes, too little history) is not promoted silently.

Given an aligned findings file, the gate reads the data-constraint verdicts the alignment recorded
(``metadata.alignment.data_constraints``, the same verdict its run shows, docs/verdict.md):
``blocked`` makes the gate ``failed`` unless an override reason is given, and the override is
recorded; ``needs_review`` is said and recorded; a plain spec says no alignment was checked.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alignment_mlflow.errors import InvalidInputError
from alignment_mlflow.findings.constraints import alignment_status

RUN_TAG = "alignment.check"  # on the model run, beside alignment.verdict
VERSION_TAG = "alignment_status"  # on the model version (underscore keys: Unity Catalog)
NOT_CHECKED = "not_checked"
_MAX_VALUE = 250  # Unity Catalog's tag values are short


@dataclass(frozen=True)
class AlignmentCheck:
    """What the gate knows of the data the model was aligned on."""

    status: str  # blocked / needs_review / aligned / not_checked
    reasons: tuple[str, ...] = ()  # "constraint: reason" of what is not passed
    override: str | None = None  # the recorded reason a blocked alignment is let through
    source: str = ""

    @property
    def blocks(self) -> bool:
        return self.status == "blocked" and self.override is None

    @property
    def recorded(self) -> str:
        """The one value recorded on the run and the version: status, and the override."""
        if self.status == "blocked" and self.override is not None:
            return f"blocked; overridden: {self.override}"[:_MAX_VALUE]
        return self.status

    def notes(self) -> list[str]:
        named = "; ".join(self.reasons)
        if self.status == NOT_CHECKED:
            return [
                "no alignment checked: --spec is a spec, not an aligned findings file, so the "
                "data's constraints (PII, protected attributes, history) are not part of this "
                "verdict; pass the aligned findings file to check them"
            ]
        if self.blocks:
            return [
                f"alignment blocked: the data of {self.source} failed a constraint ({named}); "
                "the verdict is failed. Fix the data and align again, or pass "
                "--allow-blocked-alignment REASON to gate it deliberately (recorded)"
            ]
        if self.status == "blocked":
            return [
                f"alignment blocked ({named}) and overridden: {self.override} "
                f"(recorded as {VERSION_TAG} on the version and {RUN_TAG} on the run)"
            ]
        if self.status == "needs_review":
            return [
                f"alignment needs review: {named} (recorded as {VERSION_TAG}=needs_review on "
                "the version)"
            ]
        return []


def check_alignment(
    alignment: Mapping[str, Any], source: str, override: str | None
) -> AlignmentCheck:
    """The alignment verdict an aligned findings block records (``{}`` for a plain spec)."""
    if override is not None and not override.strip():
        raise InvalidInputError(
            "--allow-blocked-alignment needs a reason (it is recorded on the run and the version)"
        )
    if not alignment:
        if override is not None:
            raise InvalidInputError(
                "--allow-blocked-alignment applies to an aligned findings file given as --spec; "
                f"{source} is a plain spec, so no alignment is checked"
            )
        return AlignmentCheck(NOT_CHECKED, source=source)
    raw = alignment.get("data_constraints")
    verdicts = [v for v in raw if isinstance(v, Mapping)] if isinstance(raw, list) else []
    status = alignment_status([str(v.get("status")) for v in verdicts])
    reasons = tuple(
        f"{v.get('constraint')} {v.get('status')}: {v.get('reason')}"
        for v in verdicts
        if v.get("status") != "passed"
    )
    applied = override.strip() if override is not None and status == "blocked" else None
    return AlignmentCheck(status, reasons, applied, source)


def version_tags(check: AlignmentCheck, existing: Mapping[str, str]) -> dict[str, str]:
    """Recorded on the version when an alignment was checked; a plain spec overwrites an earlier
    record (the version was re-gated) and otherwise writes nothing."""
    if check.status == NOT_CHECKED and VERSION_TAG not in existing:
        return {}
    return {VERSION_TAG: check.recorded}
