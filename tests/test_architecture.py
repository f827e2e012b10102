"""The house's rules that a linter cannot state: no import cycle anywhere in the package, and
first-party imports at module top except in the few modules whose job is to load others lazily
(so ``--help`` and ``validate`` never import mlflow, pyspark or deltalake). The layering itself
is import-linter's ``layers`` contract in pyproject.toml; heavy libraries at module top only in
adapter modules is ruff's TID253."""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import grimp

from conftest import REPO

PACKAGE = REPO / "src" / "alignment_mlflow"

#: Modules that may import first-party modules inside functions, and why.
LAZY_LOADERS = {
    "__init__.py": "the lazy public API (align, gate, plan on first use)",
    "cli.py": "--help imports click only",
    "commands/*.py": "each command loads its room when it runs",
    "pipeline.py": "align(): loads the tracking and tiers adapters when it gets to them",
    "economics/api.py": "plan(): loads the tracking adapter when it gets to it",
    "economics/engines.py": "the plan's engine seam loads the Arrow or the Spark engine, not both",
    "gating/api.py": "gate(): loads the MLflow adapter when it gets to it",
    "outcomes/api.py": "outcomes(): loads the tracking adapter when it gets to it",
    "outcomes/engines.py": "the outcome's engine seam loads the Arrow or the Spark engine",
    "serving/__init__.py": "tier_column and serve on first use: the served model imports the room",
    "serving/api.py": "serve(): loads the MLflow adapter and Spark when it gets to them",
    "tiers/writer.py": "picks delta-rs or Spark from the target string",
    "findings/storage/__init__.py": "store_for() picks one storage backend",
}


def _allowed(path: Path) -> bool:
    rel = path.relative_to(PACKAGE).as_posix()
    return any(fnmatch.fnmatchcase(rel, pattern) for pattern in LAZY_LOADERS)


def _local_first_party_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and (
                node.level > 0 or (node.module or "").split(".")[0] == "alignment_mlflow"
            ):
                found.append(f"{path.relative_to(REPO)}:{node.lineno} from {node.module}")
            elif isinstance(node, ast.Import):
                found += [
                    f"{path.relative_to(REPO)}:{node.lineno} import {a.name}"
                    for a in node.names
                    if a.name.split(".")[0] == "alignment_mlflow"
                ]
    return found


def test_first_party_imports_are_at_module_top_outside_the_lazy_loaders() -> None:
    offenders = [
        line
        for path in sorted(PACKAGE.rglob("*.py"))
        if not _allowed(path)
        for line in _local_first_party_imports(path)
    ]
    assert offenders == []


def test_the_lazy_loaders_exist() -> None:
    """An allow-list entry that matches nothing is a rule nobody checks."""
    files = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")]
    for pattern in LAZY_LOADERS:
        assert any(fnmatch.fnmatchcase(f, pattern) for f in files), pattern


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if not w.startswith("alignment_mlflow"):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for module in sorted(graph.modules):
        if module.startswith("alignment_mlflow") and module not in index:
            visit(module)
    return out


def test_no_import_cycles() -> None:
    """Function-level and TYPE_CHECKING imports count: a cycle hidden in a function is still a
    cycle in the design."""
    graph = grimp.build_graph("alignment_mlflow", include_external_packages=False)
    assert _cycles(graph) == []
