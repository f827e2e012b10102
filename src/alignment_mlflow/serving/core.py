"""Tiers at serving time, the decisions: which output of the inner model is the score, what the
served model returns, how the band table travels with it, the SQL function's text, the tags that
make a rerun register nothing new. Pure: no I/O, no third-party imports.

The band table is the one of :mod:`alignment_mlflow.bands.table`, compiled from the spec once and
written into the served model as data (:func:`table_config`); the model rebuilds the very same
:class:`~alignment_mlflow.bands.table.BandTable` from it (:func:`table_from_config`) and tiers
with ``bands/arrays.py``. The SQL function compiles the same bands with ``bands/sql.py``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alignment_mlflow.bands.sql import band_condition
from alignment_mlflow.bands.table import Band, BandTable
from alignment_mlflow.errors import InvalidInputError
from alignment_mlflow.tables.names import TableName
from alignment_mlflow.tagkeys import ALIGNMENT_RUN, hidden

#: What the served model returns per row, in this order (the signature's output schema).
OUTPUT_COLUMNS = (
    ("score", "double"),
    ("tier", "string"),
    ("intervention", "string"),
    ("cost", "double"),
    ("currency", "string"),
    ("spec_sha256", "string"),
)
#: The registered wrapper's tags: what it was made of, so a rerun finds it instead of a new one.
TAG_SPEC = "alignment_spec_sha256"
TAG_RUN = "alignment_run_id"
TAG_INNER = "alignment_inner_version"
TAG_SCORE = "alignment_score_output"
IDENTITY_TAGS = (TAG_SPEC, TAG_RUN, TAG_INNER, TAG_SCORE)
CONFIG_VERSION = 1

_PART = re.compile(r"\w+")


# --------------------------------------------------------------------------- the band table


def check_partition(table: BandTable) -> None:
    """The bands cover [0, 1] exactly once (every score in [0, 1] has one tier); the spec loader
    proves this too, but a served model is checked at the door it goes out of."""
    if not table.bands:
        raise InvalidInputError("the spec has no intervention tiers: there is nothing to serve")
    ordered = sorted(table.bands, key=lambda b: (b.min_score, b.max_score))
    problems: list[str] = []
    first, last = ordered[0], ordered[-1]
    if first.min_score != 0.0 or not first.min_inclusive:
        problems.append(f"the lowest band ({first.tier}) does not start at 0 inclusive")
    if last.max_score != 1.0 or not last.max_inclusive:
        problems.append(f"the highest band ({last.tier}) does not end at 1 inclusive")
    for lo, hi in itertools.pairwise(ordered):
        if lo.max_score != hi.min_score:
            what = "a gap" if lo.max_score < hi.min_score else "an overlap"
            problems.append(f"{what} between {lo.tier} and {hi.tier}")
        elif lo.max_inclusive == hi.min_inclusive:
            held = "both" if lo.max_inclusive else "neither"
            problems.append(f"{lo.max_score!r} is in {held} of {lo.tier} and {hi.tier}")
    if problems:
        raise InvalidInputError(
            "the intervention tiers' bands do not partition [0, 1]: "
            + "; ".join(problems)
            + "; fix the risk bands in the spec's intervention tiers"
        )


def table_config(table: BandTable, spec_sha256: str, score: ScoreOutput) -> dict[str, Any]:
    """The band table as JSON data for the served model (floats round-trip exactly in JSON)."""
    return {
        "version": CONFIG_VERSION,
        "spec_sha256": spec_sha256,
        "currency": table.currency,
        "score": score.to_json(),
        "bands": [dataclasses.asdict(b) for b in table.bands],
    }


def table_from_config(config: Mapping[str, Any]) -> tuple[BandTable, str, ScoreOutput]:
    """The band table, the spec's sha256 and the score choice back from :func:`table_config`."""
    if config.get("version") != CONFIG_VERSION:
        raise ValueError(f"tiers config version {config.get('version')!r} is not supported")
    fields = {f.name for f in dataclasses.fields(Band)}
    bands = tuple(Band(**{k: v for k, v in b.items() if k in fields}) for b in config["bands"])
    table = BandTable(bands, str(config["currency"]))
    return table, str(config["spec_sha256"]), ScoreOutput.from_json(config["score"])


# --------------------------------------------------------------------------- the inner score


@dataclass(frozen=True)
class ScoreOutput:
    """Which output of the inner model is the churn score: ``proba`` (``predict_proba[:, 1]``
    of a binary classifier), ``column`` (a named column of its output) or ``single`` (its one
    output)."""

    kind: str
    column: str | None = None

    def __str__(self) -> str:
        if self.kind == "proba":
            return "predict_proba[:, 1]"
        return f"column {self.column}" if self.kind == "column" else "the single output"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "column": self.column}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScoreOutput:
        return cls(str(data["kind"]), data.get("column"))


@dataclass(frozen=True)
class InnerModel:
    """What the inner model offers, read from its MLmodel and (scikit-learn) its estimator."""

    ref: str  # models:/NAME/VERSION
    flavors: tuple[str, ...]
    classes: int | None = None  # a scikit-learn classifier with predict_proba: its class count
    output_columns: tuple[str, ...] | None = None  # from the output signature; None: unknown


def choose_score(inner: InnerModel, explicit: str | None) -> ScoreOutput:
    """As the gate chooses metrics: the explicit option, else ``predict_proba[:, 1]`` for a
    binary classifier, else the single output; anything else has no usable score (exit 2)."""
    outputs = inner.output_columns
    if explicit is not None:
        if outputs is not None and explicit not in outputs:
            raise InvalidInputError(
                f"--score-output {explicit!r}: {inner.ref} has no such output (its outputs: "
                f"{', '.join(outputs) or 'none named'})"
            )
        return ScoreOutput("column", explicit)
    if inner.classes is not None:
        if inner.classes == 2:
            return ScoreOutput("proba")
        raise InvalidInputError(
            f"{inner.ref} is a classifier of {inner.classes} classes: no one probability is the "
            "churn score; pass --score-output with the output column that is"
        )
    if outputs is not None and len(outputs) == 1:
        return ScoreOutput("single")
    if outputs:
        raise InvalidInputError(
            f"{inner.ref} has {len(outputs)} outputs ({', '.join(outputs)}): pass --score-output "
            "with the one that is the churn score"
        )
    raise InvalidInputError(
        f"{inner.ref} has no usable score output: it is not a scikit-learn classifier with "
        "predict_proba and its signature names no single output; log it with a signature (an "
        "output schema) or pass --score-output COLUMN"
    )


# --------------------------------------------------------------------------- names and tags


def default_register_as(inner_name: str) -> str:
    """``churn_model`` -> ``churn_model_tiered`` (a Unity Catalog name keeps its schema)."""
    return f"{inner_name}_tiered"


def check_model_name(name: str) -> str:
    parts = name.split(".")
    if not name or len(parts) > 3 or not all(_PART.fullmatch(p) for p in parts):
        raise InvalidInputError(
            f"--register-as {name!r} is not a model name: letters, digits and underscores, "
            "optionally catalog.schema.model"
        )
    return name


def identity_tags(
    spec_sha256: str, run_id: str | None, inner_ref: str, score: ScoreOutput
) -> dict[str, str]:
    """The tags that say what a wrapper is made of; equal tags mean the same wrapper."""
    tags = {TAG_SPEC: spec_sha256, TAG_INNER: inner_ref, TAG_SCORE: str(score)}
    if run_id:
        tags[TAG_RUN] = run_id
    return tags


def run_tags(version_tags: Mapping[str, str]) -> dict[str, str]:
    """The wrapper's own run: in view what it wraps and the alignment it came from, under keys
    short enough to show whole (``tagkeys``; the version keeps issue 25's names); the spec digest
    and the score output only our code reads."""
    shown = {TAG_RUN: ALIGNMENT_RUN, TAG_INNER: "alignment.model"}  # short: shown whole
    return {shown.get(k, hidden(k.removeprefix("alignment_"))): v for k, v in version_tags.items()}


def same_wrapper(tags: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(tags.get(k) == wanted.get(k) for k in IDENTITY_TAGS)


def existing_version(versions: Iterable[Any], wanted: Mapping[str, str]) -> Any:
    """The newest registered version made of exactly these inputs, or None."""
    found = [v for v in versions if same_wrapper(dict(v.tags or {}), wanted)]
    return max(found, key=lambda v: int(v.version)) if found else None


# --------------------------------------------------------------------------- the SQL function


def parse_function_name(text: str) -> TableName:
    """A function lives in the metastore as a table does: the same quoted 2- or 3-part name."""
    parts = tuple(text.strip().split("."))
    if not 2 <= len(parts) <= 3 or not all(_PART.fullmatch(p) for p in parts):
        raise InvalidInputError(
            f"--sql-function {text!r} is not CATALOG.SCHEMA.FUNCTION (or SCHEMA.FUNCTION): each "
            "part letters, digits and underscores, e.g. main.churn.churn_tier"
        )
    return TableName(parts)


def sql_text(value: str) -> str:
    """A Spark SQL string literal: backslash and quote escaped (Spark reads ``''`` as two
    adjacent literals, not as a quote)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def tier_case_sql(table: BandTable, column: str) -> str:
    """``CASE WHEN <band 0> THEN 'High' ... END``: the tier name, NULL when no band holds the
    score (NULL, NaN, outside [0, 1]); the conditions are ``bands/sql.py``'s."""
    whens = " ".join(
        f"WHEN {band_condition(b, column)} THEN {sql_text(b.tier)}" for b in table.bands
    )
    return f"CASE {whens} END"


def sql_function_statement(table: BandTable, name: TableName, spec_sha256: str) -> str:
    comment = sql_text(f"churn tier of a score, alignment spec sha256 {spec_sha256}")
    return (
        f"CREATE OR REPLACE FUNCTION {name.quoted}(score DOUBLE) RETURNS STRING LANGUAGE SQL "
        f"COMMENT {comment} RETURN {tier_case_sql(table, 'score')}"
    )
