"""Print how the packages of this Python differ from uv.lock: the drift `make test-latest` meets.

Run with the interpreter of the venv to compare: `python .ci/drift.py uv.lock`.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions

import tomllib


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(lock_path: str) -> int:
    with open(lock_path, "rb") as fh:
        lock = tomllib.load(fh)
    locked: dict[str, set[str]] = {}
    for package in lock.get("package", []):
        if "version" in package:  # the project itself has a dynamic version
            locked.setdefault(_norm(package["name"]), set()).add(package["version"])
        else:
            locked.setdefault(_norm(package["name"]), set())
    installed = {_norm(d.metadata["Name"]): d.version for d in distributions()}
    rows = []
    for name, version in sorted(installed.items()):
        pins = locked.get(name)
        if pins is None:
            rows.append((name, "(not locked)", version))
        elif pins and version not in pins:
            rows.append((name, ", ".join(sorted(pins)), version))
    if not rows:
        print("drift: none, every installed version is the locked one")
        return 0
    width = max(len(r[0]) for r in rows)
    print(f"drift: {len(rows)} package(s) newer or other than uv.lock")
    print(f"  {'package':<{width}}  {'locked':<12}  newest allowed")
    for name, pinned, version in rows:
        print(f"  {name:<{width}}  {pinned:<12}  {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "uv.lock"))
