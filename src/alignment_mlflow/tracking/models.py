"""Registered model version references, read once for every room that takes one (the gate, the
serving wrapper). Pure: no I/O."""

from __future__ import annotations

import re

_MODEL_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


def parse_model_version(uri: str) -> tuple[str, str]:
    """``models:/NAME/VERSION`` (NAME may be a Unity Catalog ``catalog.schema.model``)."""
    m = _MODEL_VERSION.match(uri.strip())
    if not m:
        hint = ""
        if "@" in uri:
            hint = " (an alias names whatever it points at now; name the version itself)"
        raise ValueError(
            f"--model-version {uri!r} is not models:/NAME/VERSION{hint}; "
            "write e.g. models:/churn_model/3 or models:/main.churn.churn_model/3"
        )
    return m.group("name"), m.group("version")
