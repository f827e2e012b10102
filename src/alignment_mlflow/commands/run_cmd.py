"""Placeholder; replaced by the issue that owns it."""

from __future__ import annotations

import click


@click.command()
def run() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
