"""The shared tiers schema and the table-name rules (pure)."""

from __future__ import annotations

import string
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _specs import make_spec
from alignment_mlflow.errors import TargetError
from alignment_mlflow.tiers.schema import (
    CHANGE_COLUMNS,
    COLUMNS,
    is_table_name,
    parse_table_name,
    same_content,
    spark_create_table_sql,
    tier_rows,
)


@pytest.mark.parametrize(
    ("target", "is_name"),
    [
        ("main.churn.tiers", True),
        ("churn.tiers", True),
        ("a.b; DROP TABLE x", True),
        ("./alignment_delta/intervention_tiers", False),
        ("/tmp/tiers", False),
        ("s3://bucket/tiers", False),
        ("abfss://c@a.dfs.core.windows.net/t", False),
        ("dbfs:/tiers", False),
        ("~/tiers", False),
    ],
)
def test_names_versus_paths(target: str, is_name: bool) -> None:
    assert is_table_name(target) is is_name


IDENT = st.text(string.ascii_letters + "_", min_size=1, max_size=1).flatmap(
    lambda first: st.text(string.ascii_letters + string.digits + "_", max_size=12).map(
        lambda rest: first + rest
    )
)


@given(st.lists(IDENT, min_size=2, max_size=3))
def test_valid_identifiers_are_accepted_and_quoted(parts: list[str]) -> None:
    name = parse_table_name(".".join(parts))
    assert name.quoted == ".".join(f"`{p}`" for p in parts)


@given(st.text(max_size=40))
def test_anything_else_is_a_target_error_never_another_exception(text: str) -> None:
    try:
        name = parse_table_name(text)
    except TargetError as exc:
        message = str(exc)
        name = None
    if name is None:
        assert repr(text) in message
    else:
        assert all(p.replace("_", "").isalnum() and p.isascii() for p in name.parts)
        assert "`" not in text
        assert ";" not in text


def test_ddl_has_every_column_with_its_comment_and_the_table_comment() -> None:
    sql = spark_create_table_sql(parse_table_name("main.churn.tiers"))
    for c in COLUMNS:
        assert f"`{c.name}`" in sql
    assert "USING DELTA" in sql
    assert "COMMENT 'Intervention tiers" in sql


def test_time_alone_is_not_a_change_but_another_run_is() -> None:
    assert "updated_at" not in CHANGE_COLUMNS
    a = tier_rows(make_spec(), project="p", findings_path="f", run_id="r1")
    later = tier_rows(
        make_spec(), project="p", findings_path="f", run_id="r1", updated_at=datetime(2031, 1, 1)
    )
    assert same_content(a, later)
    b = tier_rows(make_spec(), project="p", findings_path="f", run_id="r2")
    assert not same_content(a, b)
    c = tier_rows(make_spec(), project="p", findings_path="other", run_id="r1")
    assert not same_content(a, c)
