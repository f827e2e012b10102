"""The intervention-tiers table: one schema for both Delta backends, and its rows.

The Arrow schema (delta-rs) and the Spark DDL are both generated from :data:`COLUMNS`, so the two
backends cannot drift apart.

A merge updates a tier only when one of :data:`CHANGE_COLUMNS` differs. ``mlflow_run_id`` and
``updated_at`` are deliberately not among them: rewriting the same tiers (even from a new run)
must not make a new table version, and a table version that changes nothing is noise in
``DESCRIBE HISTORY``. Pure: no deltalake, pyarrow or pyspark imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from alignment_mlflow.tables.names import TableName as TableName
from alignment_mlflow.tables.names import is_table_name as is_table_name
from alignment_mlflow.tables.names import parse_table_name as parse_table_name
from alignment_mlflow.tables.names import sql_string as sql_string

if TYPE_CHECKING:
    from alignment_mlflow.spec.model import AlignmentSpec

LogicalType = Literal["string", "int", "double", "boolean", "timestamp"]


@dataclass(frozen=True)
class Column:
    name: str
    type: LogicalType
    nullable: bool
    comment: str


COLUMNS: tuple[Column, ...] = (
    Column("project", "string", False, "Project slug from business_context.project_name"),
    # Nullable: tables written before 0.2 gain the column on their next MERGE.
    Column("project_name", "string", True, "business_context.project_name as written"),
    Column("tier", "string", False, "Tier name, e.g. High"),
    Column("tier_rank", "int", False, "1 = highest churn risk"),
    Column("min_score", "double", False, "Lower end of the churn-score band"),
    Column("max_score", "double", False, "Upper end of the churn-score band"),
    Column("min_inclusive", "boolean", False, "Whether min_score itself is in the band"),
    Column("max_inclusive", "boolean", False, "Whether max_score itself is in the band"),
    Column("risk_level", "string", False, "Risk level as written in the spec, e.g. High (>0.8)"),
    Column("intervention", "string", False, "Action taken for customers in this tier"),
    Column("cost_per_customer", "double", False, "Cost of the intervention per customer"),
    Column("currency", "string", False, "ISO 4217 currency of cost_per_customer"),
    Column("expected_retention_rate", "double", False, "Expected retention, a fraction in [0, 1]"),
    Column("spec_sha256", "string", False, "sha256 of the alignment spec that defined the tier"),
    Column("mlflow_run_id", "string", True, "MLflow run that logged the alignment"),
    Column("findings_path", "string", False, "Findings file the alignment was made for"),
    Column("updated_at", "timestamp", False, "When this row was last written (UTC)"),
)
KEY_COLUMNS = ("project", "tier")
#: A tier is rewritten when any of these differ. ``mlflow_run_id`` is one: after a failed run the
#: rows must point at the run that completed, so the findings, the rows and MLflow agree.
CHANGE_COLUMNS = tuple(c.name for c in COLUMNS if c.name not in (*KEY_COLUMNS, "updated_at"))
TABLE_COMMENT = (
    "Intervention tiers of churn projects, one row per (project, tier), written by "
    "alignment_mlflow from each project's business-alignment spec."
)
#: Keep history long enough that deleted tiers and old versions stay inspectable.
TABLE_PROPERTIES = {"delta.logRetentionDuration": "interval 365 days"}

_SPARK_TYPES = {
    "string": "STRING",
    "int": "INT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
}


def _comment(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def spark_columns_ddl() -> str:
    return ",\n  ".join(
        f"`{c.name}` {_SPARK_TYPES[c.type]}{'' if c.nullable else ' NOT NULL'} "
        f"COMMENT {_comment(c.comment)}"
        for c in COLUMNS
    )


def spark_create_table_sql(table: TableName) -> str:
    props = ", ".join(f"{_comment(k)} = {_comment(v)}" for k, v in TABLE_PROPERTIES.items())
    return (
        f"CREATE TABLE IF NOT EXISTS {table.quoted} (\n  {spark_columns_ddl()}\n)\n"
        f"USING DELTA\nCOMMENT {_comment(TABLE_COMMENT)}\nTBLPROPERTIES ({props})"
    )


def change_predicate(target: str = "t", source: str = "s") -> str:
    """True when a matched row differs in a column that matters (null-safe)."""
    return " OR ".join(f"({target}.{c} IS DISTINCT FROM {source}.{c})" for c in CHANGE_COLUMNS)


def merge_condition(target: str = "t", source: str = "s") -> str:
    return " AND ".join(f"{target}.{c} = {source}.{c}" for c in KEY_COLUMNS)


def tier_rows(
    spec: AlignmentSpec,
    *,
    project: str,
    findings_path: str,
    run_id: str | None,
    updated_at: datetime | None = None,
) -> list[dict[str, Any]]:
    when = updated_at or datetime.now(timezone.utc)
    rows = []
    for i in spec.interventions:
        row = {
            "project": project,
            "project_name": spec.business_context.project_name,
            "tier": i.tier,
            "tier_rank": i.rank,
            "min_score": float(i.band.min_score),
            "max_score": float(i.band.max_score),
            "min_inclusive": i.band.min_inclusive,
            "max_inclusive": i.band.max_inclusive,
            "risk_level": i.risk_level,
            "intervention": i.intervention,
            "cost_per_customer": float(i.cost.amount),
            "currency": i.cost.currency,
            "expected_retention_rate": float(i.expected_effectiveness.value),
            "spec_sha256": spec.sha256,
            "mlflow_run_id": run_id,
            "findings_path": findings_path,
            "updated_at": when,
        }
        rows.append({c.name: row[c.name] for c in COLUMNS})
    return rows


def same_content(current: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    """Whether the project's rows already hold exactly the new tiers (ignoring run and time)."""

    def key(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(tuple(r.get(c) for c in (*KEY_COLUMNS, *CHANGE_COLUMNS)) for r in rows)

    return key(current) == key(new)


def foreign_project(current: list[dict[str, Any]], project_name: str) -> str | None:
    """Another project's name when the rows under our slug belong to it: two names can slug
    alike (``Customer Churn`` / ``customer-churn!``), and a MERGE would delete its tiers."""
    for r in current:
        other = r.get("project_name")
        if other is not None and other != project_name:
            return str(other)
    return None


def collision_message(table: str, slug: str, ours: str, theirs: str) -> str:
    return (
        f"tiers table {table} already holds project {theirs!r} under the id {slug!r}, which "
        f"{ours!r} also slugs to; nothing was written. Rename one project (business_context."
        "project_name) or write this one to another --tiers-table"
    )


#: Columns a tiers table of an older version may lack (added on its next MERGE); any other
#: missing column means the table is not one of ours.
ADDED_LATER = ("project_name",)
#: Type names as Delta's log (delta-rs) and Spark's ``simpleString`` spell ours.
_TYPE_NAMES = {"integer": "int", "int": "int", "string": "string", "double": "double",
               "boolean": "boolean", "timestamp": "timestamp"}  # fmt: skip


def foreign_shape(have: list[tuple[str, str]]) -> list[str]:
    """Why a table with these (column, type name) pairs is not a tiers table of ours, if it is
    not: a column of its own, one of ours missing, or of another type. A table that is not ours
    is refused before anything is written, never altered (columns added to another tool's
    table, strings merged into its ``tier_rank``)."""
    want = {c.name: c.type for c in COLUMNS}
    names = {name for name, _ in have}
    problems = [
        f"column {name!r} ({kind}) is not one of ours"
        if name not in want
        else f"column {name!r} is {kind}, ours is {want[name]}"
        for name, kind in have
        if want.get(name) != _TYPE_NAMES.get(kind.lower(), kind)
    ]
    missing = [c.name for c in COLUMNS if c.name not in names and c.name not in ADDED_LATER]
    if missing:
        problems.append(f"{len(missing)} of our columns are missing ({', '.join(missing)})")
    return problems


def foreign_message(table: str, problems: list[str]) -> str:
    return (
        f"tiers table {table} is not an intervention-tiers table this package wrote "
        f"({'; '.join(problems)}); nothing was written, and another tool's table is never "
        "altered. Pass a new path or table name to --tiers-table, or the table an earlier run "
        "wrote"
    )


def add_missing_columns_sql(table: TableName, existing: list[str]) -> str | None:
    """``ALTER TABLE ... ADD COLUMNS`` for columns a table written by an older version lacks."""
    have = {c.lower() for c in existing}
    missing = [c for c in COLUMNS if c.name.lower() not in have]
    if not missing:
        return None
    cols = ", ".join(
        f"`{c.name}` {_SPARK_TYPES[c.type]} COMMENT {_comment(c.comment)}" for c in missing
    )
    return f"ALTER TABLE {table.quoted} ADD COLUMNS ({cols})"
