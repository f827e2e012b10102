"""Safe YAML loading: limits, duplicate keys, alias bombs, encodings, line numbers."""

from __future__ import annotations

import tracemalloc

import pytest

from alignment_mlflow.yamlio import YamlLoadError, load_yaml


def billion_laughs(levels: int = 9) -> str:
    doc = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghijk"[: levels - 1]:
        doc += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return doc


def test_billion_laughs_is_rejected_in_bounded_memory() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(YamlLoadError, match="billion laughs"):
            load_yaml(billion_laughs())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_shared_anchors_within_the_limit_are_fine() -> None:
    loaded = load_yaml("base: &b {x: 1}\none: *b\ntwo: *b\n")
    assert loaded.data["two"] == {"x": 1}


def test_duplicate_keys_name_the_key_and_both_lines() -> None:
    with pytest.raises(YamlLoadError) as exc:
        load_yaml("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert exc.value.line == 4
    assert "'c'" in exc.value.message
    assert "line 3" in exc.value.message


def test_size_limit_is_checked_before_parsing() -> None:
    with pytest.raises(YamlLoadError, match="over the limit"):
        load_yaml(b"a: 1\n" * 1000, max_bytes=100)


def test_non_utf8_is_rejected_with_the_offset() -> None:
    with pytest.raises(YamlLoadError, match=r"not UTF-8.*offset 3"):
        load_yaml(b"a: \xff")


def test_malformed_yaml_reports_the_line() -> None:
    with pytest.raises(YamlLoadError) as exc:
        load_yaml("a: [1, 2\nb: 3\n")
    assert exc.value.line == 2
    assert "not valid YAML" in exc.value.message


def test_python_tags_are_not_constructed() -> None:
    with pytest.raises(YamlLoadError):
        load_yaml("a: !!python/object/apply:os.system ['true']\n")


def test_line_map_uses_problem_paths() -> None:
    loaded = load_yaml("x:\n  y:\n  - a: 1\n    b: 2\n")
    assert loaded.lines["x.y[0].b"] == 4
    assert loaded.lines["x.y"] == 2


def test_empty_document_is_none() -> None:
    assert load_yaml("").data is None
