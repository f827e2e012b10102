"""One verdict per run, never stale (docs/verdict.md), as a property.

After any sequence of alignments (which findings, which spec, --freshness-reference, --new-run,
the clock moving on), every surface of every run (the status and reasons tags, the verdict digest,
the tags a reader sees and nothing else in view, the metrics' latest values, the description's first line, report.html, the constraints
table artifact), the findings block and each call's result (the CLI's and ``--json``'s view)
agree with one recomputation of the verdict from that call's inputs as of the run's start.
Runs on one sqlite store shared by the examples (a fresh experiment each) to keep it affordable.
"""

from __future__ import annotations

import itertools
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignment_mlflow import align, pipeline, tagkeys
from alignment_mlflow.findings.constraints import alignment_status, verify_constraints
from alignment_mlflow.spec import load_spec
from alignment_mlflow.tracking.content import (
    STATUS_TAG,
    VERDICT_TAG,
    RunContext,
    verdict_digest,
)
from alignment_mlflow.tracking.description import verdict_line
from conftest import FINDINGS_FIXTURES, TEMPLATE_SPEC

FINDINGS = ("subscription_clean_408768_findings.yaml", "telco_pii_churn_408768_findings.yaml")
REFERENCES = (
    None,
    datetime(2023, 12, 9, tzinfo=timezone.utc),
    datetime(2024, 6, 1, tzinfo=timezone.utc),
)
START = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
_counter = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("verdict-invariant")
    spec = yaml.safe_load(TEMPLATE_SPEC.read_text())
    # The second spec declares fewer constraints and settles one by hand.
    spec["data_constraints"] = [
        {**c, "status": "Passed"} if c["constraint"] == "PII Handling" else c
        for c in spec["data_constraints"]
        if c["constraint"] != "Historical Depth"
    ]
    other = root / "other_spec.yaml"
    other.write_text(yaml.safe_dump(spec, sort_keys=False))
    return {"root": root, "template": TEMPLATE_SPEC, "other": other}


op = st.tuples(
    st.sampled_from(range(len(FINDINGS))),
    st.sampled_from(("template", "other")),
    st.sampled_from(range(len(REFERENCES))),
    st.sampled_from((0, 1, 400)),  # days the clock moves on before this call
    st.sampled_from((False, False, False, True)),  # --new-run, now and then
)


def _surfaces_agree(
    client: Any, spec_path: Path, findings: Path, reference: datetime | None, result: Any
) -> dict[str, Any]:
    """Every verdict-shaped surface of the call's run against one recomputation; returns it."""
    run = client.get_run(result.run_id)
    start = datetime.fromtimestamp(run.info.start_time / 1000, timezone.utc)
    spec = load_spec(spec_path)
    found = pipeline._load_findings(findings, None, None)
    verdicts = tuple(
        verify_constraints(
            spec, found.doc.view, now=start, related=found.related, freshness_reference=reference
        )
    )
    expected = tuple(v.to_dict() for v in verdicts)
    status = alignment_status([v["status"] for v in expected])
    # The call's own view: the CLI summary and --json.
    assert [dict(c) for c in result.constraints] == list(expected)
    assert result.to_json()["status"] == status
    assert str(result).splitlines()[0] == f"status:   {status.upper()}"
    # Tags.
    tags = run.data.tags
    assert tags[STATUS_TAG] == status
    assert tags[VERDICT_TAG] == verdict_digest(verdicts)
    assert tags["alignment.why"] == "; ".join(
        f"{v['constraint']}: {v['status']}" for v in expected if v["status"] != "passed"
    )
    by_slug = {v["slug"]: v["status"] for v in expected}
    # In view: the status, the reasons, the dataset, and no other verdict-shaped tag that could
    # go stale (the constraint statuses are in the reasons, the table and the metrics).
    assert tagkeys.reader_keys(tags) == ["alignment.data", STATUS_TAG, "alignment.why"]
    assert tags["alignment.data"] == found.doc.view.dataset_name
    failed = sum(v["status"] == "failed" for v in expected)
    unverifiable = sum(v["status"] == "unverifiable" for v in expected)
    # Metrics: the latest value of each.
    metrics = run.data.metrics
    assert metrics["constraints_failed"] == failed
    assert metrics["constraints_unverifiable"] == unverifiable
    assert metrics["constraints_passed"] == sum(v["status"] == "passed" for v in expected)
    # The description's first line.
    ctx = RunContext(spec, found.doc.view, "", "", verdicts, "")
    assert tags["mlflow.note.content"].splitlines()[0] == verdict_line(ctx)
    # report.html and the constraints table.
    folder = Path(client.download_artifacts(result.run_id, "", str(_scratch())))
    report = (folder / "report.html").read_text()
    assert f'<div class="verdict {status}" id="verdict">' in report
    table = json.loads((folder / "alignment" / "data_constraints.json").read_text())
    column = table["columns"].index("status")
    assert [row[column] for row in table["data"]] == [
        by_slug[d.slug] for d in spec.data_constraints
    ]
    return {"constraints": expected, "run_id": result.run_id}


def _scratch() -> Path:
    path = Path.cwd() / f"artifacts-{next(_counter)}"
    path.mkdir()
    return path


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=1, max_size=4))
def test_every_surface_of_every_run_agrees_with_one_recomputation(
    store: dict[str, Path], ops: list[tuple[int, str, int, int, bool]]
) -> None:
    from mlflow import MlflowClient

    n = next(_counter)
    root = store["root"] / f"example-{n}"
    (root / "findings").mkdir(parents=True)
    files = []
    for name in FINDINGS:
        shutil.copy2(FINDINGS_FIXTURES / name, root / "findings" / name)
        files.append(root / "findings" / name)
    uri = f"sqlite:///{store['root'] / 'mlflow.db'}"
    kwargs = {
        "tracking_uri": uri,
        "tiers_table": str(root / "tiers"),
        "experiment": f"/Shared/alignment/invariant-{n}",
    }
    client = MlflowClient(uri)
    clock = START
    last: dict[int, dict[str, Any]] = {}
    for which, spec_name, ref_index, days, new_run in ops:
        clock += timedelta(days=days, seconds=1)
        reference = REFERENCES[ref_index]
        ms = int(clock.timestamp() * 1000)
        with mock.patch.object(pipeline, "_clock_ms", lambda ms=ms: ms):
            result = align(
                files[which],
                store[spec_name],
                freshness_reference=reference,
                new_run=new_run,
                **kwargs,
            )
        last[which] = _surfaces_agree(client, store[spec_name], files[which], reference, result)
    # The findings block: the verdict of the run it names, the last one aligned from that file.
    for which, seen in last.items():
        block = yaml.safe_load(files[which].read_text())["metadata"]["alignment"]
        assert block["mlflow"]["run_id"] == seen["run_id"]
        assert block["data_constraints"] == [json.loads(json.dumps(v)) for v in seen["constraints"]]
