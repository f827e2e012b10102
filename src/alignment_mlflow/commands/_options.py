"""The options several commands share, declared once: the same name, metavar, default and help
wherever a command takes them, so ``--help`` cannot drift between commands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_TRACKING_URI_HELP = (
    "MLflow tracking URI [default: $MLFLOW_TRACKING_URI, else MLflow's local default; "
    "'databricks' on a cluster]."
)


def tracking_uri_option(help: str = _TRACKING_URI_HELP) -> Callable[[F], F]:
    """``--tracking-uri URI``."""
    return click.option("--tracking-uri", metavar="URI", help=help)


registry_uri_option = click.option(
    "--registry-uri", metavar="URI", help="Model registry URI [default: MLflow's]."
)


def spec_option(help: str = "Alignment spec (YAML or JSON).") -> Callable[[F], F]:
    """``--spec SPEC`` (required)."""
    return click.option("--spec", required=True, metavar="SPEC", help=help)


def profile_option(where: str = "dbfs:/ and /Volumes") -> Callable[[F], F]:
    """``--profile NAME``: the Databricks config profile for paths on ``where``."""
    return click.option("--profile", metavar="NAME", help=f"Databricks config profile for {where}.")


def dry_run_option(help: str) -> Callable[[F], F]:
    """``--dry-run``: each command says what it still does."""
    return click.option("--dry-run", is_flag=True, help=help)


def json_option(help: str = "Print one JSON object on stdout.") -> Callable[[F], F]:
    """``--json``, into the ``as_json`` parameter that :func:`~._common.handle_errors` reads."""
    return click.option("--json", "as_json", is_flag=True, help=help)


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


def verbose_option(func: F) -> F:
    """``--verbose``: let MLflow's (and Alembic's) own log lines through; without it, our output
    is ours alone."""
    option = click.option(
        "--verbose", "-v", is_flag=True, help="Show MLflow's own log lines (INFO and up)."
    )
    return option(func)
