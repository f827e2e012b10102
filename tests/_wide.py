"""Wide findings files, generated from a real fixture by replicating its columns.

Aggregated churn features often have thousands of columns; committing such files would bloat the
repository, so tests and ``bench/wide.py`` build them here. The fixture's own text is replicated
column by column (each copy renamed ``<name>__w00042``), so the result keeps the framework's
layout byte for byte and costs no YAML dump: 5,000 columns (~31 MB) take well under a second.
"""

from __future__ import annotations

import re
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "findings" / "telco_pii_churn_408768_findings.yaml"
_COLUMN = re.compile(r"^  (?P<name>[A-Za-z_][\w]*):\n", re.MULTILINE)


def wide_findings_text(columns: int, fixture: Path = FIXTURE) -> str:
    """The fixture with ``columns`` columns (its own columns first, then renamed copies)."""
    text = fixture.read_text(encoding="utf-8")
    start = text.index("\ncolumns:\n") + len("\ncolumns:\n")
    end = start + re.search(r"^\S", text[start:], re.MULTILINE).start()  # type: ignore[union-attr]
    block = text[start:end]
    heads = list(_COLUMN.finditer(block))
    chunks = [
        (m.group("name"), block[m.start() : heads[i + 1].start() if i + 1 < len(heads) else None])
        for i, m in enumerate(heads)
    ]
    out = []
    for i in range(columns):
        name, chunk = chunks[i % len(chunks)]
        if i >= len(chunks):
            new = f"{name}__w{i:05d}"
            chunk = chunk.replace(f"  {name}:\n", f"  {new}:\n", 1)
            chunk = chunk.replace(f"    name: {name}\n", f"    name: {new}\n", 1)
        out.append(chunk)
    head = re.sub(r"(?m)^column_count: \d+$", f"column_count: {columns}", text[:start])
    return head + "".join(out) + text[end:]


def write_wide_findings(folder: Path, columns: int) -> Path:
    """Write ``wide<n>_findings.yaml`` into ``folder`` and return its path."""
    path = folder / f"wide{columns}_findings.yaml"
    path.write_text(wide_findings_text(columns), encoding="utf-8")
    return path
