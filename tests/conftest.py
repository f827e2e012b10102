"""Shared fixtures. Area-specific fixtures live in the ``_*.py`` plugins listed below."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import settings

# Timings live in bench/, never in tests: no example fails for being slow on a loaded machine
# (Hypothesis' default deadline of 200 ms failed a pure-verdict property test under load).
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

pytest_plugins = ["_mlflow_server", "_databricks_fake", "_browser", "_spark", "_sqlite_template"]

TESTS = Path(__file__).parent
FINDINGS_FIXTURES = TESTS / "fixtures" / "findings"
REPO = TESTS.parent
TEMPLATE_SPEC = REPO / "examples" / "churn_alignment.yaml"

ALL_FINDINGS = sorted(FINDINGS_FIXTURES.glob("*_findings.yaml"))
SINGLE_DATASET_FINDINGS = [p for p in ALL_FINDINGS if "multi_dataset" not in p.name]


@pytest.fixture
def findings_copy(tmp_path: Path) -> Path:
    """A private copy of every fixture findings file, so tests may write to them."""
    dest = tmp_path / "findings"
    dest.mkdir()
    for p in ALL_FINDINGS:
        shutil.copy2(p, dest / p.name)
    return dest


@pytest.fixture
def template_spec() -> Path:
    return TEMPLATE_SPEC


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach a real workspace or write outside its tmp dir through defaults."""
    for var in (
        "MLFLOW_TRACKING_URI",
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
        "DATABRICKS_CONFIG_PROFILE",
        "DATABRICKS_RUNTIME_VERSION",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


_SPARK_SESSIONS = frozenset({"classic_spark", "connect_server", "connect_spark"})
#: The work units that take longest, longest first (from `make test`'s slowest tests and a
#: ``--durations=0`` profile); the rest follow in collection order.
_HEAVY_FIRST = (
    "spark", "tests/test_faults.py", "tests/test_docs.py", "tests/test_corpus.py",
    "tests/test_wide.py", "tests/test_e2e_cli.py", "tests/test_databricks_storage.py",
    "tests/test_chain_ui.py", "tests/test_mlflow_ui.py", "tests/test_cli_experience.py",
    "tests/test_secrets.py", "tests/test_gate_alignment.py", "tests/test_databricks_tracking.py",
    "tests/test_chain.py", "tests/test_aligned.py", "tests/test_verdict_invariant.py",
)  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Work units for pytest-xdist (``--dist loadgroup``, `make test`): every test that needs a
    Spark session runs on one worker, so one worker starts the JVMs (a classic session and a
    Connect server, tens of seconds of CPU each to warm); every other test goes with its module,
    so a module's fixtures (the docs tour, an aligned UI store) are built once."""
    groups: dict[str, str] = {}
    for item in items:
        uses_spark = not _SPARK_SESSIONS.isdisjoint(getattr(item, "fixturenames", ()))
        group = "spark" if uses_spark else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
        groups[item.nodeid] = group
    # Longest units first (`--no-loadscope-reorder` keeps this order; xdist's own orders units
    # by their number of tests, which put the docs tour and the fault tests, few tests of a
    # minute each, at the end, one worker waiting for the other).
    heavy = {group: rank for rank, group in enumerate(_HEAVY_FIRST)}
    items.sort(key=lambda item: heavy.get(groups[item.nodeid], len(heavy)))
