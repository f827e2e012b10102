"""Load an alignment spec from a file, bytes or a notebook dict; all problems raised at once.

A spec arrives as a YAML/JSON file or as a dict pasted from the notebook. Pure: reading the file is
the only I/O, and callers holding bytes from elsewhere use :func:`spec_from_text`.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
from collections.abc import Mapping
from typing import Any

from alignment_mlflow.boundedio import FileTooLargeError, NotARegularFileError, read_bounded
from alignment_mlflow.errors import Problem, SpecError
from alignment_mlflow.spec import keys
from alignment_mlflow.spec import sections as sec
from alignment_mlflow.spec.model import AlignmentSpec
from alignment_mlflow.spec.render import source_sections
from alignment_mlflow.yamlio import YamlLoadError, canonical_json, load_yaml

MAX_SPEC_BYTES = 1_048_576


def _canonical_sha256(sections: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(sections).encode("utf-8")).hexdigest()


def build_spec(
    data: Any, *, source: str | None = None, lines: Mapping[str, int] | None = None
) -> AlignmentSpec:
    """Validate already-loaded spec data; raise one :class:`SpecError` with every problem."""
    c = keys.Collector(source, lines or {})
    valid = ", ".join(sec.SECTIONS)
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else type(data).__name__
        c.add("", f"a spec must be a mapping of the five sections, got {kind}", valid)
        raise SpecError(c.problems, source)
    keys.unsupported_values(data, c)
    top: dict[str, Any] = {}
    for key, value in data.items():
        norm = keys.normalise_key(key)
        if norm not in sec.SECTIONS:
            close = difflib.get_close_matches(norm, sec.SECTIONS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            c.add(str(key), f"unknown section {key!r}; {hint}valid sections: {valid}")
            continue
        top[norm] = value
    for name in sec.SECTIONS:
        if name not in top:
            c.add(name, f"section {name!r} is missing", f"all of {valid}")
    present = top.__contains__
    ctx = (
        sec.business_context(top.get("business_context"), c)
        if present("business_context")
        else None
    )
    metrics = sec.success_metrics(top["success_metrics"], c) if present("success_metrics") else []
    deploy = (
        sec.deployment(top["deployment_requirements"], c)
        if present("deployment_requirements")
        else None
    )
    constraints = sec.constraints(top["data_constraints"], c) if present("data_constraints") else []
    tiers = sec.interventions(top["interventions"], c) if present("interventions") else []
    if c.problems or ctx is None or deploy is None:
        raise SpecError(c.problems, source)
    warnings = list(c.warnings)
    if ctx.budget_constraints and ctx.budget is None:
        warnings.append(
            f"business_context.budget_constraints {ctx.budget_constraints!r}: no amount found; "
            "kept as text"
        )
    spec = AlignmentSpec(
        business_context=ctx,
        success_metrics=tuple(metrics),
        deployment_requirements=deploy,
        data_constraints=tuple(constraints),
        interventions=tuple(tiers),
        sha256="",
        source=source,
        warnings=tuple(warnings),
    )
    return dataclasses.replace(spec, sha256=_canonical_sha256(source_sections(spec)))


def spec_from_text(text: str | bytes, source: str | None = None) -> AlignmentSpec:
    try:
        loaded = load_yaml(text, source=source, max_bytes=MAX_SPEC_BYTES)
    except YamlLoadError as exc:
        raise SpecError(
            [Problem("", exc.message, "a UTF-8 YAML or JSON mapping", source, exc.line)], source
        ) from exc
    return build_spec(loaded.data, source=source, lines=loaded.lines)


def load_spec(source: str | os.PathLike[str] | Mapping[str, Any]) -> AlignmentSpec:
    """A spec from a ``.yaml``/``.yml``/``.json`` file, or from a dict written in a notebook."""
    if isinstance(source, Mapping):
        return build_spec(source)
    where = str(source)
    try:
        data = read_bounded(source, MAX_SPEC_BYTES)
    except IsADirectoryError:
        raise SpecError([Problem("", "is a folder", "a spec file (.yaml)", where)], where) from None
    except NotARegularFileError as exc:
        raise SpecError(
            [Problem("", str(exc.strerror), "a spec file (.yaml)", where)], where
        ) from None
    except FileTooLargeError as exc:
        raise SpecError(
            [
                Problem(
                    "", f"file is {exc.size:,} bytes, over the {MAX_SPEC_BYTES:,} limit", "", where
                )
            ],
            where,
        ) from None
    except FileNotFoundError:
        raise SpecError(
            [Problem("", "file not found", "an existing spec file (alignment-mlflow init)", where)],
            where,
        ) from None
    except PermissionError:
        raise SpecError(
            [Problem("", "permission denied reading the file", "a readable file", where)], where
        ) from None
    return spec_from_text(data, source=where)
