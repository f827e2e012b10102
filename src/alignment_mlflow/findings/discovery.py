"""Which findings file a folder means: the notebook's choice rule, with the reason and what was
skipped, so the output can say why a file was chosen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alignment_mlflow.errors import FindingsError
from alignment_mlflow.findings.document import FINDINGS_SUFFIX

if TYPE_CHECKING:
    from alignment_mlflow.findings.storage.base import Entry


@dataclass(frozen=True)
class DiscoveryChoice:
    chosen: Entry
    reason: str
    skipped: tuple[tuple[str, str], ...]


def choose_findings(entries: Sequence[Entry], folder: str) -> DiscoveryChoice:
    """The notebook's rule: ``*_findings.yaml`` minus ``multi_dataset``, ``_aggregated`` first,
    newest first (ties by name, so the choice is deterministic)."""
    files = [e for e in entries if not e.is_dir and e.name.endswith(FINDINGS_SUFFIX)]
    skipped = [(e.name, "multi-dataset summary") for e in files if "multi_dataset" in e.name]
    candidates = [e for e in files if "multi_dataset" not in e.name]
    if not candidates:
        raise FindingsError(
            f"no findings file in {folder}: expected a file named *{FINDINGS_SUFFIX} "
            "(multi_dataset files are skipped); run the framework's exploration first or "
            "pass a file"
        )
    aggregated = [e for e in candidates if "_aggregated" in e.name]
    pool = aggregated or candidates

    def newest(e: Entry) -> tuple[float, str]:
        return (-(e.mtime or 0.0), e.name)

    pool = sorted(pool, key=newest)
    chosen = pool[0]
    for e in candidates:
        if e is chosen:
            continue
        if aggregated and "_aggregated" not in e.name:
            skipped.append((e.name, "not aggregated; an aggregated file is preferred"))
        else:
            skipped.append((e.name, "older"))
    kind = "aggregated " if aggregated else ""
    reason = f"newest {kind}findings file of {len(candidates)} candidate(s)"
    return DiscoveryChoice(chosen, reason, tuple(sorted(skipped)))
