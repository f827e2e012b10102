"""What ``serve`` returns: the wrapper version, whether this call registered it, the SQL function,
and how it reads in a terminal and ``--json``. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SqlFunction:
    name: str
    statement: str
    created: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "statement": self.statement, "created": self.created}


@dataclass(frozen=True)
class ServeResult:
    model_version: str | None  # models:/NAME/VERSION of the wrapper; None in a dry run of a new one
    registered: bool  # this call registered it (False on a rerun with the same inputs)
    inner_version: str
    spec_sha256: str
    score_output: str
    sql_function: SqlFunction | None = None
    notes: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Exactly the keys issue 25 names."""
        return {
            "model_version": self.model_version,
            "registered": self.registered,
            "inner_version": self.inner_version,
            "spec_sha256": self.spec_sha256,
            "sql_function": self.sql_function.to_json() if self.sql_function else None,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def summary_lines(self) -> list[str]:
        what = "registered" if self.registered else "already registered"
        if self.model_version is None:
            what, subject = "would register", "a new version"
        else:
            subject = self.model_version
        lines = [
            f"serve {self.inner_version} with spec {self.spec_sha256[:12]}: {what} {subject}",
            f"  score:        {self.score_output}",
        ]
        if self.sql_function is not None:
            done = "created" if self.sql_function.created else "not created (no Spark session)"
            lines.append(f"  sql function: {self.sql_function.name} {done}")
            lines.append(f"  {self.sql_function.statement}")
        lines += [f"note: {n}" for n in self.notes]
        return lines
