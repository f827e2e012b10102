"""The Prometheus text exposition format (0.0.4), read into samples. Pure: no I/O.

A Databricks serving endpoint exports its health metrics in this format (``GET
/api/2.0/serving-endpoints/{name}/metrics``). ``prometheus_client`` has a parser, but it is not
one of our dependencies and the part we need is small: sample lines ``name{labels} value
[timestamp_ms]``, ``# TYPE`` lines, comments, label values with the escapes ``\\\\``, ``\\"`` and
``\\n``, and the special values ``+Inf``, ``-Inf`` and ``NaN``. A line that is none of these is an
error naming its line number: a truncated or foreign body must not be judged as an empty one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|\})')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float
    timestamp_ms: int | None = None

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


@dataclass(frozen=True)
class Exposition:
    samples: tuple[Sample, ...]
    types: dict[str, str]  # metric family -> counter / gauge / histogram / summary / untyped


def _value(text: str) -> float:
    low = text.lower()
    if low in ("+inf", "inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    if low == "nan":
        return math.nan
    return float(text)


def _labels(text: str, lineno: int) -> tuple[tuple[tuple[str, str], ...], int]:
    """Labels from just after ``{``; returns them and the index after the closing ``}``."""
    out: list[tuple[str, str]] = []
    pos = 0
    if text[:1] == "}":
        return (), 1
    while True:
        m = _LABEL.match(text, pos)
        if not m:
            raise ValueError(f"line {lineno}: malformed labels {text[:80]!r}")
        value = re.sub(r"\\.", lambda e: _ESCAPES.get(e.group(0), e.group(0)), m.group(2))
        out.append((m.group(1), value))
        pos = m.end()
        if m.group(3) == "}":
            return tuple(out), pos
        if text[pos:].lstrip().startswith("}"):  # a trailing comma is allowed
            return tuple(out), text.index("}", pos) + 1


def parse(text: str) -> Exposition:
    samples: list[Sample] = []
    types: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line[1:].split(None, 3)
            if len(parts) >= 3 and parts[0] == "TYPE":
                types[parts[1]] = parts[2].lower()
            continue  # HELP and other comments
        m = _NAME.match(line)
        if not m:
            raise ValueError(f"line {lineno}: not a metric sample: {line[:80]!r}")
        name, rest = m.group(0), line[m.end() :]
        labels: tuple[tuple[str, str], ...] = ()
        if rest.startswith("{"):
            labels, used = _labels(rest[1:], lineno)
            rest = rest[1 + used :]
        fields = rest.split()
        if not fields or len(fields) > 2 or (rest and not rest[0].isspace()):
            raise ValueError(f"line {lineno}: expected 'name{{labels}} value [timestamp]'")
        try:
            value = _value(fields[0])
            stamp = int(fields[1]) if len(fields) == 2 else None
        except ValueError:
            raise ValueError(f"line {lineno}: not a number in {line[:80]!r}") from None
        samples.append(Sample(name, labels, value, stamp))
    return Exposition(tuple(samples), types)
