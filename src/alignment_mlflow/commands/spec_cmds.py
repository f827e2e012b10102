"""``init`` and ``validate``: write and check a spec without touching MLflow or Delta."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from alignment_mlflow.commands._common import (
    echo,
    echo_json,
    echo_lines,
    handle_errors,
)


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
@click.option("--json", "as_json", is_flag=True, help='Print {"spec_path": ...} on stdout.')
@handle_errors
def init(out: str, force: bool, as_json: bool) -> None:
    """Write a commented template spec holding the notebook's values.

    The folder of ``--out`` must exist: ``init`` writes one file and never creates folders, so a
    mistyped folder is an error (exit 2), not a new tree."""
    from importlib.resources import files

    from alignment_mlflow.errors import InvalidInputError

    path = Path(out)
    if path.exists() and not force:
        raise InvalidInputError(f"{path} exists; pass --force to overwrite it")
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InvalidInputError(
            f"cannot write {path}: the folder {folder} {what}; create it first "
            f"(mkdir -p {folder}) or pass another --out"
        )
    template = files("alignment_mlflow").joinpath("templates/churn_alignment.yaml").read_text()
    _write_whole(path, template)
    if as_json:
        echo_json({"spec_path": str(path)})
    else:
        echo(f"wrote {path}; edit it, then: alignment-mlflow validate {path}")


def _write_whole(path: Path, text: str) -> None:
    """``text`` into ``path`` whole or not at all: a temporary file beside it, renamed over it,
    so a full disk or a refused write leaves no half template behind."""
    import os
    import tempfile

    from alignment_mlflow.errors import InvalidInputError, StorageError

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except PermissionError as exc:
        raise InvalidInputError(
            f"cannot write {path}: no permission to write in {path.parent}; pass another --out"
        ) from exc
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc


@click.command(
    short_help="Check a spec and print what it means, or every problem at once (exit 2).",
    epilog="""Example:

\b
  alignment-mlflow validate examples/churn_alignment.yaml
""",
)
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object: spec_path, project_slug, spec_sha256, warnings.",
)
@handle_errors
def validate(spec: str, as_json: bool) -> None:
    """Check a spec; print what it means, or every problem (exit 2)."""
    from alignment_mlflow.spec import load_spec, render_summary_lines

    loaded = load_spec(spec)
    if as_json:
        echo_json(
            {
                "spec_path": spec,
                "project_slug": loaded.project_slug,
                "spec_sha256": loaded.sha256,
                "warnings": list(loaded.warnings),
            }
        )
    else:
        echo_lines(render_summary_lines(loaded))
