"""The package's error contract.

Every error raised on purpose derives from :class:`AlignmentError` and carries the exit code the
CLI maps it to, so the CLI never has to guess whether a failure was the user's input (2), an
external system (1) or a violated data constraint under ``--strict`` (3). Backends raise the
built-in ``FileNotFoundError`` / ``PermissionError`` / ``OSError``; the orchestration wraps them at
the boundary with what failed, keeping the cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alignment_mlflow.redact import redact_text


class AlignmentError(Exception):
    """Base of every error this package raises deliberately.

    Its message is redacted on construction (user info and query values of every URL in it):
    a notebook shows ``str(exc)`` as is, so no room may rely on the CLI's redaction on the way
    out, nor remember to redact each message it writes."""

    exit_code: int = 1

    #: The message's lines as we built them. A message is one line: any line break in it came
    #: from a value it quotes (a path, a name) and is escaped when printed, so a crafted value
    #: cannot print a line of its own. A message made of several lines (every problem of a spec)
    #: is built with ``lines=``, and only those breaks are printed as breaks.
    lines: tuple[str, ...]

    def __init__(self, *args: object, lines: Sequence[str] | None = None) -> None:
        if lines is not None:
            args = ("\n".join(lines), *args)
        super().__init__(*(redact_text(a) if isinstance(a, str) else a for a in args))
        if lines is not None:
            self.lines = tuple(redact_text(line) for line in lines)
        else:
            self.lines = (str(self.args[0]) if self.args else "",)


# --------------------------------------------------------------------------- invalid input (2)


class InvalidInputError(AlignmentError):
    """Raised when what the user gave (spec, findings, arguments) cannot be used as given."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where, what was found, and what would be valid."""

    path: str
    message: str
    expected: str = ""
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "<root>"
        if self.file:
            loc = self.file if self.line is None else f"{self.file}:{self.line}"
            where = f"{loc}: {where}"
        elif self.line is not None:
            where = f"line {self.line}: {where}"
        text = f"{where}: {self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class SpecError(InvalidInputError):
    """Raised when an alignment spec is invalid; carries every problem found, not only the first."""

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        head = f"invalid alignment spec {source}" if source else "invalid alignment spec"
        n = len(self.problems)
        lines = [f"{head}: {n} problem{'s' if n != 1 else ''}"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__(lines=lines)


class FindingsError(InvalidInputError):
    """Raised when a findings file or folder cannot be used: missing, not a findings file,
    multi-dataset, not YAML/UTF-8, or a folder with no candidate."""


class TargetError(InvalidInputError):
    """Raised when a destination given by the user is malformed: a tiers table name that is not a
    valid identifier, a tracking URI or experiment name the store cannot accept."""


class ProjectCollisionError(TargetError):
    """Raised when the tiers table already holds another project under the same slug: two
    project names that slug alike would otherwise delete each other's tiers."""


class DatabricksConfigError(InvalidInputError):
    """Raised when Databricks cannot be used as configured: no credentials, a missing profile, a
    token the host refuses, a host that is not a workspace, or a path the compute cannot reach
    (DBFS on serverless). The fix is in the configuration, so a rerun alone will not help."""


# --------------------------------------------------------------------------- system failure (1)


class SystemFailure(AlignmentError):
    """Raised when an external system failed while the input was fine; a rerun may succeed."""

    exit_code = 1


class StorageError(SystemFailure):
    """Raised when reading or writing findings storage (local, DBFS, Volumes) failed."""


class ConcurrentUpdateError(StorageError):
    """Raised when a findings file kept changing under us after the bounded number of retries."""


class TrackingError(SystemFailure):
    """Raised when the MLflow tracking server is unreachable or refuses a call."""


class DeltaWriteError(SystemFailure):
    """Raised when writing the intervention tiers to Delta failed (after bounded retries)."""


# --------------------------------------------------------------------------- constraints (3)


class ConstraintViolationError(AlignmentError):
    """Raised under ``--strict`` when a data constraint failed, before anything is written."""

    exit_code = 3


# --------------------------------------------------------------------------- stopped from outside


class Terminated(BaseException):
    """Raised in the main thread when the process gets SIGTERM (a job cancel, ``timeout``, a pod
    stop), so the run is closed as KILLED like after Ctrl-C instead of staying RUNNING. A
    ``BaseException``, as ``KeyboardInterrupt`` is, so no ``except Exception`` swallows it."""

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a process ended by it
