"""Shared plumbing for commands: turning package errors into messages and exit codes."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# C0 controls but newline and tab, DEL, C1 controls, bidi embeddings/overrides/isolates and the
# invisible marks: a spec or findings value holding them could rewrite the terminal or reorder
# what a reviewer reads.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    ch = ord(match.group())
    return f"\\x{ch:02x}" if ch < 0x100 else f"\\u{ch:04x}"


def safe(text: object) -> str:
    """``text`` with every control, bidi and invisible character written as an escape."""
    return _UNSAFE.sub(_escape, str(text))


def echo(text: object = "", *, err: bool = False, file: Any = None) -> None:
    """The one way commands print: always through :func:`safe`."""
    click.echo(safe(text), err=err, file=file)


class SafeFormatter(logging.Formatter):
    """Log records (library warnings, ours) pass through :func:`safe` too."""

    def format(self, record: logging.LogRecord) -> str:
        return safe(super().format(record))


def fail(message: str, exit_code: int, *, as_json: bool, kind: str = "error") -> NoReturn:
    """One message on stderr and the exit code; with ``--json`` also one object on stdout, so a
    job that parses stdout always gets JSON: ``{"error", "error_type", "exit_code"}``."""
    from alignment_mlflow.redact import redact_text

    message = safe(redact_text(message))
    echo(f"error: {message}", err=True)
    if as_json:
        click.echo(json.dumps({"error": message, "error_type": kind, "exit_code": exit_code}))
    sys.exit(exit_code)


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
            fail(str(exc), exc.exit_code, as_json=as_json, kind=type(exc).__name__)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("ALIGNMENT_DEBUG"):
                raise
            fail(f"unexpected {type(exc).__name__}: {exc}", 1, as_json=as_json, kind="bug")

    return wrapper  # type: ignore[return-value]


def findings_argument(func: F) -> F:
    """``FINDINGS`` positionally or as ``--findings``, in every command that takes findings, so
    ``run``'s spelling works for ``check`` and ``show`` and the other way round."""

    @functools.wraps(func)
    def wrapper(*args: Any, findings: str | None, findings_opt: str | None, **kwargs: Any) -> Any:
        if findings and findings_opt and findings != findings_opt:
            raise click.UsageError("findings given twice: positionally and with --findings")
        chosen = findings or findings_opt
        if not chosen:
            raise click.UsageError("missing findings: pass FINDINGS or --findings PATH")
        return func(*args, findings=chosen, **kwargs)

    wrapper = click.argument("findings", required=False, metavar="[FINDINGS]")(wrapper)
    wrapper = click.option(
        "--findings",
        "findings_opt",
        metavar="PATH",
        help="Findings file or folder: local, dbfs:/..., /dbfs/... or /Volumes/...",
    )(wrapper)
    return wrapper  # type: ignore[return-value]


def freshness_reference_option(func: F) -> F:
    """``--freshness-reference DATE``: the date a historical extract represents, so its freshness
    can be judged (and fail); without it an old extract's freshness is unverifiable."""
    option = click.option(
        "--freshness-reference",
        type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"]),
        metavar="DATE",
        help="Judge freshness as of this date (the date the extract represents), so an old "
        "extract can fail it; without it an old extract's freshness is unverifiable.",
    )
    return option(func)


def as_utc(value: datetime | None) -> datetime | None:
    """click parses dates naive; a date given on the command line means UTC."""
    return value.replace(tzinfo=timezone.utc) if value and value.tzinfo is None else value


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While a command writes, SIGTERM raises :class:`~alignment_mlflow.errors.Terminated` in the
    main thread, so the pipeline's cleanup (run marked KILLED, findings untouched) runs as for
    Ctrl-C. The previous handler is restored afterwards: inside a Databricks driver or a notebook
    the process's own handling is left as it was."""
    import signal
    import threading

    from alignment_mlflow.errors import Terminated

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
