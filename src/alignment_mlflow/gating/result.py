"""What a gate returns: the verdict, where it was recorded, and how it reads in a terminal, a
notebook (a table) and ``--json``. Pure."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from alignment_mlflow.gating.verdict import GateVerdict

_ICON = {"met": "✅", "unmet": "❌", "not_measured": "⚠️", "deferred": "⏸"}


@dataclass(frozen=True)
class GateResult:
    verdict: GateVerdict
    run_id: str
    model_version: str | None = None  # models:/NAME/VERSION when a version was gated
    alias_set: bool = False  # the alias points at this version because the verdict passed
    alignment_run_id: str | None = None
    # The alignment's verdict as recorded (gating.alignment): blocked / needs_review / aligned /
    # not_checked (a plain spec), or "blocked; overridden: REASON".
    alignment_status: str = "not_checked"
    writes: tuple[str, ...] = ()  # what this call wrote ("run tags (7)", ...); () on a rerun
    notes: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict.verdict == "passed"

    def exit_code(self, allow_incomplete: bool = False) -> int:
        v = self.verdict.verdict
        if v == "passed" or (v == "incomplete" and allow_incomplete):
            return 0
        return 3

    @property
    def measurement(self) -> Any:
        """The serving endpoint's measurement (gate --endpoint), else None."""
        return next((m.measurement for m in self.verdict.metrics if m.measurement), None)

    def to_json(self) -> dict[str, Any]:
        out = {
            "verdict": self.verdict.verdict,
            "run_id": self.run_id,
            "model_version": self.model_version,
            "spec_sha256": self.verdict.spec_sha256,
            "metrics": [m.to_json() for m in self.verdict.metrics],
            "alias_set": self.alias_set,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }
        if self.measurement is not None:  # added keys only: the ones above are a contract
            out["endpoint"] = self.measurement.to_json()
        return out

    def _rows(self) -> list[tuple[str, str, str, str, str, str]]:
        return [
            (m.status, m.slug, m.target, m.metric_key or "", m.compared, m.note)
            for m in self.verdict.metrics
        ]

    def summary_lines(self) -> list[str]:
        subject = self.model_version or f"run {self.run_id}"
        lines = [f"gate {subject} against spec {self.verdict.spec_sha256[:12]}"]
        for status, slug, target, _key, compared, note in self._rows():
            lines.append(f"  {status:<12} {slug:<30} {target:<14} {compared}")
            if note:
                lines.append(f"  {'':<12} {'':<30} {note}")
        lines.append(f"verdict: {self.verdict.verdict}")
        if self.measurement is not None:
            lines.append(f"measured on: {self.measurement.text()}")
        lines.append(f"alignment: {self.alignment_status.replace('_', ' ')}")
        lines += [f"wrote {w}" for w in self.writes] or ["wrote nothing: already recorded"]
        lines += [f"note: {n}" for n in self.notes]
        return lines

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_markdown_(self) -> str:
        subject = self.model_version or f"run `{self.run_id}`"
        out = [
            f"**Gate {subject}: {self.verdict.verdict}** (spec `{self.verdict.spec_sha256[:12]}`)",
            "",
            "| status | metric | target | metric key | compared | note |",
            "|---|---|---|---|---|---|",
        ]
        for status, slug, target, key, compared, note in self._rows():
            cells = [f"{_ICON[status]} {status}", slug, target, key, compared, note]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if self.measurement is not None:
            out += ["", f"measured on: `{self.measurement.text()}`"]
        if self.alias_set:
            out += ["", "alias set on the version"]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        e = html.escape
        subject = e(self.model_version or f"run {self.run_id}")
        head = "".join(
            f"<th>{h}</th>"
            for h in ("status", "metric", "target", "metric key", "compared", "note")
        )
        body = "".join(
            "<tr>"
            + f"<td>{_ICON[status]} {e(status)}</td>"
            + "".join(f"<td>{e(c)}</td>" for c in (slug, target, key, compared, note))
            + "</tr>"
            for status, slug, target, key, compared, note in self._rows()
        )
        return (
            f"<p><b>Gate {subject}: {e(self.verdict.verdict)}</b> "
            f"(spec <code>{e(self.verdict.spec_sha256[:12])}</code>; alignment "
            f"{e(self.alignment_status.replace('_', ' '))})</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
