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


def test_a_document_without_aliases_is_never_a_billion_laughs() -> None:
    """A wide findings file has far more than MAX_EXPANDED_NODES nodes and no alias at all."""
    from alignment_mlflow.yamlio import MAX_EXPANDED_NODES

    rows = "".join(f"c{i}: {{a: 1, b: [x, y], c: {{d: e}}}}\n" for i in range(30_000))
    loaded = load_yaml(rows, max_bytes=10_000_000)
    assert len(loaded.data) == 30_000
    assert MAX_EXPANDED_NODES < 30_000 * 8


def test_aliases_that_add_little_are_fine_and_bombs_are_not() -> None:
    small = "base: &b {x: 1, y: [1, 2, 3]}\n" + "".join(f"k{i}: *b\n" for i in range(100))
    assert load_yaml(small).data["k99"] == {"x": 1, "y": [1, 2, 3]}
    with pytest.raises(YamlLoadError, match="billion laughs"):
        load_yaml(billion_laughs(7))


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("a:\n  b: !!int secret-value\n", "a.b"),
        ("a: {b: !!float secret-value}\n", "a.b"),
        ("- !!bool secret-value\n", "[0]"),
        ("when: !!timestamp secret-value\n", "when"),
    ],
)
def test_a_value_that_does_not_fit_its_tag_names_the_field_not_the_value(
    text: str, path: str
) -> None:
    with pytest.raises(YamlLoadError) as info:
        load_yaml(text)
    assert f"{path}: value does not match its tag" in str(info.value)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("levels", [101, 10_000, 30_000])
def test_nesting_is_bounded_without_recursion(levels: int) -> None:
    for text in ("[" * levels + "]" * levels, "- " * levels + "x", "{a: " * levels + "}" * levels):
        with pytest.raises(YamlLoadError, match="nested more than 100 levels"):
            load_yaml(text, max_bytes=10_000_000)
    assert load_yaml("[" * 100 + "]" * 100).data is not None


def test_canonical_json_hashes_mixed_keys_and_keeps_plain_hashes() -> None:
    import json
    from datetime import date

    from alignment_mlflow.yamlio import canonical_json

    plain = {"b": [1, {"c": 2}], "a": None}
    assert canonical_json(plain) == json.dumps(plain, sort_keys=True, ensure_ascii=False)
    mixed = {1: "a", "b": "c", date(2020, 1, 1): "d"}
    assert canonical_json(mixed) == canonical_json(dict(reversed(mixed.items())))
    assert canonical_json({1: "x"}) != canonical_json({"int:1": "y"})


def test_a_parser_that_refuses_nesting_first_still_gets_our_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """libyaml 0.2.6 (PyYAML 6.0.4) refuses 1,000 levels itself, in words of its own, and reads
    ahead of our counter. Whatever the fast parser says, a document nested past our limit gets
    our message and line: here a stand-in parser refuses at 20 levels with other words."""
    import yaml

    from alignment_mlflow import yamlio

    class Refusing(yaml.SafeLoader):  # type: ignore[misc]
        opened = 0

        def get_event(self) -> yaml.Event:
            event = super().get_event()
            self.opened += isinstance(event, yamlio._OPEN)
            if self.opened > 20:
                raise yaml.scanner.ScannerError(
                    "while nesting", None, "the parser gave up in its own words", event.start_mark
                )
            return event

    monkeypatch.setattr(yamlio, "_BaseLoader", Refusing)
    text = "\n" * 3 + "[" * 150 + "]" * 150
    with pytest.raises(YamlLoadError, match="nested more than 100 levels") as info:
        load_yaml(text)
    assert info.value.line == 4
    # a document within our limit keeps the parser's own error
    with pytest.raises(YamlLoadError, match="own words"):
        load_yaml("[" * 30 + "]" * 30)
