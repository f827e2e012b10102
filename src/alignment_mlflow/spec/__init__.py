"""The alignment spec: typed values (model), human-string parsers (parsing), the five sections'
validators (sections), loading (loader) and renderings (render).

Pure: reading a spec file is the only I/O; no external system is imported here.
"""

from alignment_mlflow.spec.loader import build_spec, load_spec, spec_from_text
from alignment_mlflow.spec.model import AlignmentSpec
from alignment_mlflow.spec.render import (
    notebook_metadata,
    render_spec_yaml,
    render_summary,
    render_summary_lines,
    source_sections,
    spec_to_dict,
)
from alignment_mlflow.spec.sections import SECTIONS

__all__ = [
    "SECTIONS",
    "AlignmentSpec",
    "build_spec",
    "load_spec",
    "notebook_metadata",
    "render_spec_yaml",
    "render_summary",
    "render_summary_lines",
    "source_sections",
    "spec_from_text",
    "spec_to_dict",
]
