"""Shared plumbing for commands: turning package errors into messages and exit codes."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

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


def handle_errors(func: F) -> F:
    """Print an ``AlignmentError`` as one message on stderr and exit with its code.

    Anything else is a bug: it still exits 1 with a one-line message (and the traceback only when
    ``ALIGNMENT_DEBUG`` is set), because a job log full of stack frames hides the cause.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from alignment_mlflow.errors import AlignmentError

        try:
            return func(*args, **kwargs)
        except AlignmentError as exc:
            echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            import os

            if os.environ.get("ALIGNMENT_DEBUG"):
                raise
            echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
