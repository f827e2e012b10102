"""``init`` and ``validate``: write and check a spec without touching MLflow or Delta."""

from __future__ import annotations

from pathlib import Path

import click

from alignment_mlflow.commands._common import echo, handle_errors


@click.command(
    short_help="Write a commented template spec holding the notebook's values.",
    epilog="""Example:

\b
  alignment-mlflow init --out churn_alignment.yaml
""",
)
@click.option(
    "--out",
    default="alignment.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the template spec.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@handle_errors
def init(out: str, force: bool) -> None:
    """Write a commented template spec holding the notebook's values."""
    from importlib.resources import files

    from alignment_mlflow.errors import InvalidInputError

    path = Path(out)
    if path.exists() and not force:
        raise InvalidInputError(f"{path} exists; pass --force to overwrite it")
    template = files("alignment_mlflow").joinpath("templates/churn_alignment.yaml").read_text()
    path.write_text(template, encoding="utf-8")
    echo(f"wrote {path}; edit it, then: alignment-mlflow validate {path}")


@click.command(
    short_help="Check a spec and print what it means, or every problem at once (exit 2).",
    epilog="""Example:

\b
  alignment-mlflow validate examples/churn_alignment.yaml
""",
)
@click.argument("spec", type=click.Path(dir_okay=True))
@handle_errors
def validate(spec: str) -> None:
    """Check a spec; print what it means, or every problem (exit 2)."""
    from alignment_mlflow.spec import load_spec, render_summary

    echo(render_summary(load_spec(spec)))
