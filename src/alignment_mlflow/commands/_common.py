"""Shared plumbing for commands: turning package errors into messages and exit codes."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, NoReturn, Protocol, TypeVar

import click

from alignment_mlflow.runtime import installed_mlflow
from alignment_mlflow.tracking.chain import ui_route

F = TypeVar("F", bound=Callable[..., Any])

# Every C0 control (newline, carriage return and tab included), DEL, the C1 controls, the line and
# paragraph separators, bidi embeddings/overrides/isolates and the invisible marks: a value holding
# them (a path, a project or tier name, a group label, a library's message) could start a line of
# its own ("status: ALIGNED" under the real verdict), rewrite the terminal (ANSI escapes) or
# reorder what a reviewer reads.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    ch = ord(match.group())
    named = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
    return named.get(ch) or (f"\\x{ch:02x}" if ch < 0x100 else f"\\u{ch:04x}")


def safe(text: object) -> str:
    """``text`` as one printable line: every control, line break, bidi and invisible character
    written as an escape. The one escaping function of human output; every line we print passes
    through it at the boundary (:func:`echo`, :func:`echo_status`, :func:`fail`, the log
    formatter, click's usage errors), so no value can add a line or an escape sequence."""
    return _UNSAFE.sub(_escape, str(text))


def echo(text: object = "", *, err: bool = False, file: Any = None) -> None:
    """The one way commands print a line: always through :func:`safe`, so ``text`` is one line.
    Several lines are several calls (:func:`echo_lines`): only we decide where a line ends."""
    _emit(safe(text), err=err, file=file)


def _emit(text: str, *, err: bool = False, file: Any = None, color: bool | None = None) -> None:
    """``click.echo``, except that a reader who went away (``| head -1``) stops nothing: the
    rest of the output goes nowhere and the command finishes its work, exiting as it would have,
    without a ``BrokenPipeError`` on stderr."""
    try:
        click.echo(text, err=err, file=file, color=color)
    except BrokenPipeError:
        discard_closed_stream(file or (sys.stderr if err else sys.stdout))


def discard_closed_stream(stream: Any) -> None:
    """Point ``stream``'s file descriptor at ``/dev/null``: its reader closed the pipe, and what
    is still buffered or printed later (the interpreter flushes at exit) must not fail again."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class _Output:
    """Whether this invocation has printed its JSON object already: a failure after it (``check
    --json --strict``, a signal while finishing) adds its message on stderr, never a second
    object on stdout."""

    json_printed = False


def reset_output() -> None:
    """A new invocation (the group's ``main``; tests invoke many in one process)."""
    _Output.json_printed = False


def json_printed() -> bool:
    return _Output.json_printed


def json_requested(args: Iterable[str]) -> bool:
    """``--json`` on the command line (before a ``--``), seen before click parses it, so even a
    usage error or a signal ends in one JSON object."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def echo_lines(lines: Iterable[object], *, err: bool = False, file: Any = None) -> None:
    """Each of ``lines`` as one line (see :func:`echo`)."""
    for line in lines:
        echo(line, err=err, file=file)


def echo_json(payload: Any, **dumps: Any) -> None:
    """One JSON document on stdout, exactly as ``json.dumps`` writes it (ASCII only: every control
    character inside a value is already a JSON escape), so no value can break it."""
    _emit(json.dumps(payload, ensure_ascii=True, **dumps))
    _Output.json_printed = True


class SafeFormatter(logging.Formatter):
    """Log records (library warnings, ours) pass through :func:`safe` too: the message is one
    line; a traceback (``ALIGNMENT_DEBUG``, ``--verbose``) keeps its own lines, each escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return safe(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return "\n".join(safe(line) for line in super().formatException(ei).splitlines())

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(safe(line) for line in stack_info.splitlines())


def stderr_logging(verbose: bool = False) -> None:
    """Log records on stderr, one escaped line each (:class:`SafeFormatter`): stdout is ours."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


def fail(
    message: str,
    exit_code: int,
    *,
    as_json: bool,
    kind: str = "error",
    lines: Iterable[str] | None = None,
) -> NoReturn:
    """One message on stderr and the exit code; with ``--json`` also one object on stdout, so a
    job that parses stdout always gets JSON: ``{"error", "error_type", "exit_code"}``.

    The message is one line unless ``lines`` says where its lines end (an error's own
    ``lines``); the JSON carries the message exactly (``json.dumps`` escapes what it must)."""
    from alignment_mlflow.redact import redact_text

    message = redact_text(message)
    shown = [redact_text(line) for line in lines] if lines is not None else [message]
    echo(f"error: {shown[0] if shown else ''}", err=True)
    echo_lines(shown[1:], err=True)
    if as_json and not json_printed():
        echo_json(error_object(message, exit_code, kind))
    sys.exit(exit_code)


def error_object(message: str, exit_code: int, kind: str) -> dict[str, Any]:
    """The ``--json`` shape of every failure, from the command body or before it (usage errors,
    signals): ``{"error", "error_type", "exit_code"}``."""
    return {"error": message, "error_type": kind, "exit_code": exit_code}


def handle_errors(func: F) -> F:
    """Print an ``AlignmentError`` as one message on stderr and exit with its code.

    Anything else is a bug: it still exits 1 with a one-line message (and the traceback only when
    ``ALIGNMENT_DEBUG`` is set), because a job log full of stack frames hides the cause.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from alignment_mlflow.errors import AlignmentError

        as_json = bool(kwargs.get("as_json"))
        try:
            return func(*args, **kwargs)
        except AlignmentError as exc:
            fail(str(exc), exc.exit_code, as_json=as_json, kind=type(exc).__name__, lines=exc.lines)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("ALIGNMENT_DEBUG"):
                raise
            fail(f"unexpected {type(exc).__name__}: {exc}", 1, as_json=as_json, kind="bug")

    return wrapper  # type: ignore[return-value]


def as_utc(value: datetime | None) -> datetime | None:
    """click parses dates naive; a date given on the command line means UTC."""
    return value.replace(tzinfo=timezone.utc) if value and value.tzinfo is None else value


@contextlib.contextmanager
def library_logging(verbose: bool) -> Iterator[None]:
    """MLflow sets its loggers to INFO when it is imported ("Creating initial MLflow database
    tables...", Alembic's migrations), in the middle of our step lines; ``--verbose`` keeps
    everything, otherwise warnings and errors only.

    Importing MLflow here just to lower its loggers would charge its import (~3 s) to every
    command, also to input refused before any MLflow call. So when MLflow is not imported yet,
    it is told not to configure logging when it is (its own environment variable, read once at
    import): its loggers then keep the levels set here and propagate to ours. Where it is
    already imported (a notebook), its loggers are lowered. Levels and the variable are restored
    afterwards: a notebook or a wheel task's process keeps its own."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    before = [lg.level for lg in loggers]
    variable = None if "mlflow" in sys.modules else _configure_logging_variable()
    previous = os.environ.get(variable) if variable else None
    if variable:
        os.environ[variable] = "false"
    for lg in loggers:
        lg.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, before, strict=True):
            lg.setLevel(level)
        if variable:
            if previous is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = previous


def _configure_logging_variable() -> str:
    """MLflow's switch for configuring its loggers on import: renamed in MLflow 3 (the old name
    still works there, with a FutureWarning)."""
    majors = [int(v.split(".", 1)[0]) for v in installed_mlflow().values() if v[:1].isdigit()]
    if majors and max(majors) < 3:
        return "MLFLOW_LOGGING_CONFIGURE_LOGGING"
    return "MLFLOW_CONFIGURE_LOGGING"


def new_sqlite_store(tracking_uri: str) -> str | None:
    """The database file of a local sqlite store that does not exist yet: MLflow's schema
    migrations run on the first connection and take most of a first run (seconds to tens of
    seconds), which a user would otherwise watch in silence."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = tracking_uri[len("sqlite:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    try:
        return path if os.path.getsize(path) == 0 else None
    except OSError:
        return path


def local_ui_lines(tracking_uri: str | None, experiment_id: str | None) -> list[str]:
    """How to open a local store in the UI: the ``mlflow ui`` command and the page to open (a
    local store has no URL of its own, so the summary's run and runs lines cannot link)."""
    if not tracking_uri or not tracking_uri.startswith(("sqlite:", "file:")):
        return []
    page = "http://127.0.0.1:5000" + (f"/{ui_route(experiment_id)}" if experiment_id else "")
    return [
        f"ui:       mlflow ui --backend-store-uri {tracking_uri}",
        f"          then open {page}",
    ]


class _Result(Protocol):
    def to_json(self) -> dict[str, Any]: ...
    def summary_lines(self) -> list[str]: ...


def print_result(
    result: _Result,
    *,
    as_json: bool,
    notes: Iterable[str] = (),
    ui: tuple[str | None, str | None] | None = None,
    framed: bool = False,
) -> None:
    """A command's result, the one way: with ``--json`` its object on stdout and the ``notes``
    on stderr (the JSON keys are a contract: the reasons go beside them); else its summary,
    after a blank line when ``framed`` (below the step lines), then how to open the local store
    ``ui`` (tracking URI, experiment id) names."""
    if as_json:
        echo_json(result.to_json(), sort_keys=False)
        for note in notes:
            echo(f"note: {note}", err=True)
        return
    if framed:
        echo("")
    for line in result.summary_lines():
        echo_status(line)
    for line in local_ui_lines(*ui) if ui else ():
        echo(line)


def step_printer(as_json: bool) -> Callable[[str, float, str], None]:
    """The ``progress`` callback of ``plan`` and ``outcomes``: one line a step, named as ``run``
    names its steps (words joined by underscores), on stderr with ``--json``."""
    out = sys.stderr if as_json else sys.stdout

    def progress(step: str, seconds: float, detail: str) -> None:
        name = re.sub(r"[^a-z0-9]+", "_", step.lower()).strip("_")
        echo(f"{name:<18} {seconds:7.2f}s  {detail}", file=out)

    return progress


_STATUS_COLOURS = {
    "red": ("BLOCKED", "FAILED", "UNMET", "NOT MET", "OVER BUDGET"),
    "yellow": ("NEEDS_REVIEW", "UNVERIFIABLE", "INCOMPLETE", "NOT_MEASURED", "MANUAL", "TO_VERIFY"),
    "green": ("ALIGNED", "PASSED", "MET", "FITS"),
}
_STATUS_WORD = re.compile(
    r"(?<![\w])("
    + "|".join(
        re.escape(w)
        for w in sorted((w for ws in _STATUS_COLOURS.values() for w in ws), key=len, reverse=True)
    )
    + r")(?![\w])",
    re.IGNORECASE,
)
_COLOUR_OF = {w: c for c, ws in _STATUS_COLOURS.items() for w in ws}


def use_colour(stream: Any) -> bool:
    """Colour only for a person at a terminal: never when ``NO_COLOR`` is set (no-color.org, any
    non-empty value), never into a pipe or a file, never on a dumb terminal."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def colour_status(line: str) -> str:
    """``line`` with its first status word coloured: red (blocked, failed, not met), amber
    (needs review, unverifiable, incomplete, not measured) or green (aligned, passed, met)."""
    match = _STATUS_WORD.search(line)
    if not match:
        return line
    colour = _COLOUR_OF[match.group(1).upper()]
    styled = click.style(match.group(1), fg=colour, bold=True if colour == "red" else None)
    return line[: match.start()] + styled + line[match.end() :]


def wrap_line(line: str, width: int) -> list[str]:
    """A long line broken at spaces to ``width``, continued under its text (past the leading
    spaces and the first word, so a status column stays a column)."""
    import textwrap

    if len(line) <= width or width < 40:
        return [line]
    lead = len(line) - len(line.lstrip(" "))
    head = re.match(r"\s*\S+\s+", line)
    indent = " " * (head.end() if head and head.end() < width // 2 else lead + 2)
    return textwrap.wrap(
        line, width=width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    ) or [line]


def echo_status(text: object = "", *, err: bool = False, file: Any = None) -> None:
    """Print human output for a person: at a terminal, status words in colour and lines wrapped
    at its width; into a pipe or a file, exactly as :func:`echo` (what tests and scripts read)."""
    stream = file or (sys.stderr if err else sys.stdout)
    if not getattr(stream, "isatty", lambda: False)():
        echo(text, err=err, file=file)
        return
    import shutil

    width = shutil.get_terminal_size().columns
    colour = use_colour(stream)
    for part in wrap_line(safe(text), width):
        _emit(colour_status(part) if colour else part, file=stream, color=colour)
