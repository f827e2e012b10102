"""Shared plumbing for commands: turning package errors into messages and exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


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
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            import os

            if os.environ.get("ALIGNMENT_DEBUG"):
                raise
            click.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
