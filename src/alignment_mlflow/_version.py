"""The package's version, the one source: ``alignment_mlflow.__version__`` re-exports it and
pyproject.toml reads it (setuptools dynamic ``attr``). A module of its own so that the rooms can
record it without importing the package's lazy ``__init__`` (which imports them)."""

__version__ = "0.2.0"
