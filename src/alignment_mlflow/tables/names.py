"""Table names: a metastore name (Spark, ``catalog.schema.table``) or a path/URI (delta-rs),
checked before anything reaches SQL. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from alignment_mlflow.errors import TargetError

#: A name part: letters (any script), digits and underscores, a leading digit allowed, as Unity
#: Catalog names are (dev schemas come from user names: ``1jdoe``, ``jürgen``). Every part is
#: backquoted in SQL, so nothing here needs escaping.
_IDENT = re.compile(r"\w+")
_SLUG = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class TableName:
    parts: tuple[str, ...]

    @property
    def quoted(self) -> str:
        return ".".join(f"`{p}`" for p in self.parts)

    def __str__(self) -> str:
        return ".".join(self.parts)


def is_table_name(target: str) -> bool:
    """A metastore name (Spark) rather than a path or URI (delta-rs)."""
    t = target.strip()
    if "://" in t or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/", t):
        return False
    return not (t.startswith(("/", ".", "~")) or "/" in t or "\\" in t)


def parse_table_name(text: str) -> TableName:
    parts = tuple(text.strip().split("."))
    if not 2 <= len(parts) <= 3 or not all(_IDENT.fullmatch(p) for p in parts):
        raise TargetError(
            f"invalid tiers table name {text!r}: expected catalog.schema.table or schema.table, "
            "each part letters, digits and underscores, not starting with a digit "
            "(or a path such as ./alignment_delta/intervention_tiers for a local table)"
        )
    return TableName(parts)


def sql_string(value: str) -> str:
    """A SQL string literal for a project slug; slugs are ``[a-z0-9_]`` so nothing to escape."""
    if not _SLUG.fullmatch(value):
        raise ValueError(f"not a slug: {value!r}")
    return f"'{value}'"
