"""What the MLflow UI's Tags panel shows of our runs (``alignment_mlflow.tagkeys``): a few short
keys, the bookkeeping out of view; and a store written by the previous release, whose runs carry
the old keys in view, handled sanely by this one."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from alignment_mlflow import align, tagkeys
from alignment_mlflow.economics import report as plan_report
from alignment_mlflow.gating import alignment as gate_alignment
from alignment_mlflow.gating import verdict as vd
from alignment_mlflow.outcomes import report as outcome_report
from alignment_mlflow.outcomes.tracking import find_links
from alignment_mlflow.serving import core as serving
from alignment_mlflow.tracking import chain, chain_io, content, orphans
from alignment_mlflow.tracking import runs as tracking

# Every key a reader may see on a run we write, by run kind (the tests of each kind check that
# the run shows exactly its list, or a part of it for optional keys).
READER_KEYS = {
    "alignment": {
        content.STATUS_TAG, content.REASONS_TAG, content.DATASET_TAG, content.ERROR_TAG,
        "outcome.verdict", "outcome.run_id",  # its campaign's outcome, when judged
    },
    "plan": {
        "plan.within_budget", "plan.parity_met", "plan.campaign", "plan.warnings",
        tagkeys.ALIGNMENT_RUN, "outcome.verdict", "outcome.run_id",
    },
    "outcome": {
        "outcome.verdict", "outcome.srm", "outcome.metric", outcome_report.PLAN_RUN_TAG,
        tagkeys.ALIGNMENT_RUN,
    },
    "gated model run": {vd.VERDICT_TAG, vd.REASONS_TAG, vd.ALIGNMENT_RUN_TAG, gate_alignment.RUN_TAG},
    "serve wrapper run": {tagkeys.ALIGNMENT_RUN, "alignment.model"},
}  # fmt: skip
HIDDEN_KEYS = [
    tracking.FINGERPRINT_TAG, orphans.OWNER_TAG, orphans.LEASE_TAG, content.VERDICT_TAG,
    content.PROJECT_TAG, chain.CHAIN_TAG, vd.DIGEST_TAG, vd.SPEC_TAG, vd.GATED_MODELS_TAG,
    vd.ALIGNMENT_URL_TAG, plan_report.FINGERPRINT_TAG, plan_report.KIND_TAG,
    outcome_report.FINGERPRINT_TAG,
]  # fmt: skip


@pytest.mark.parametrize("kind", sorted(READER_KEYS))
def test_reader_keys_are_short_enough_to_be_shown_whole(kind: str) -> None:
    for key in READER_KEYS[kind]:
        assert tagkeys.visible(key), key
        assert len(key) <= tagkeys.MAX_VISIBLE_KEY, key  # a runs-list column
        assert tagkeys.shown_whole(key), key  # the Tags panel (KeyValueTag's truncation rule)
        assert key not in tagkeys.LEGACY, key
        assert not key.startswith(tagkeys.LEGACY_PREFIXES), key


def test_the_shown_whole_rule_is_keyvaluetags() -> None:
    # KeyValueTag.tsx: nothing cut up to 30 characters in all; else the longer part is cut, and
    # both once the shorter is over 15.
    assert tagkeys.shown_whole("alignment.why")  # 13: a long value is cut, never the key
    assert tagkeys.shown_whole("alignment.status")  # 16 + "needs_review" = 28
    assert not tagkeys.shown_whole("alignment.reasons")  # 17 with a long value: "alignm…"
    assert not tagkeys.shown_whole("alignment.constraints_unverifiable")


def test_bookkeeping_is_out_of_view_by_the_ui_rule() -> None:
    # MLflow's TagUtils.ts isUserFacingTag: "mlflow." (every supported UI), "_mlflow_" (3.x).
    assert not tagkeys.visible("mlflow.note.content")
    assert not tagkeys.visible("_mlflow_anything")
    assert tagkeys.visible("alignment.status")
    for key in HIDDEN_KEYS:
        assert not tagkeys.visible(key), key
        assert key.startswith("mlflow.alignment."), key  # ours, never one of MLflow's own


def test_the_serve_wrapper_run_shows_what_it_wraps_and_its_alignment() -> None:
    version = {serving.TAG_SPEC: "s" * 64, serving.TAG_RUN: "r1", serving.TAG_INNER: "m/3",
               serving.TAG_SCORE: "probability"}  # fmt: skip
    tags = serving.run_tags(version)
    assert tagkeys.reader_keys(tags) == sorted(READER_KEYS["serve wrapper run"])
    assert tags["mlflow.alignment.spec_sha256"] == "s" * 64


def test_a_regate_removes_what_the_previous_release_left_in_view() -> None:
    old = {
        "alignment.verdict": "passed", "alignment.verdict.model_auc": "met",
        "alignment.measured.latency": "p95 20 ms", "alignment.spec_sha256": "s",
        "alignment.verdict_digest": "d", "alignment.alignment_run_id": "r",
        "alignment.alignment_run_url": "http://x", "mlflow.user": "me", "team": "churn",
    }  # fmt: skip
    wanted = {vd.VERDICT_TAG: "failed", vd.REASONS_TAG: "model_auc: unmet", vd.DIGEST_TAG: "e"}
    stale = vd.stale_run_tags(old, wanted)
    assert stale == sorted(set(old) - {"alignment.verdict", "mlflow.user", "team"})


def _legacy(tags: dict[str, str], status: str) -> dict[str, str]:
    """An alignment run's tags as the previous release wrote them (its keys, in view)."""
    old = {
        k.replace(tagkeys.HIDDEN, "alignment."): v
        for k, v in tags.items()
        if k.startswith(tagkeys.HIDDEN) or not k.startswith("mlflow.")
    }
    old["alignment.reasons"] = old.pop(content.REASONS_TAG)
    old["alignment.dataset"] = old.pop(content.DATASET_TAG)
    old.update({
        "alignment.constraint.pii_handling": "failed", "alignment.constraints_failed": "1",
        "alignment.constraints_unverifiable": "0", "alignment.status": status,
        "alignment.chain": chain.add(None, "plans", chain.entry("p-old", "plan 1", "#/p", "ok")),
        "alignment.gated_models": '{"models:/m/1": "passed"}',
        "mlflow.note.content": tags["mlflow.note.content"],
    })  # fmt: skip
    return old


def test_a_store_written_by_the_previous_release(findings_copy: Path, tmp_path: Path) -> None:
    """A rerun of the same inputs against a store the previous release wrote does not crash and
    makes a new run in this layout (an old run's tags are not this release's: it is left as the
    record it is); the chain written on an old alignment run moves out of view; an outcome
    follows an old plan run's link back."""
    findings = findings_copy / "telco_pii_churn_408768_findings.yaml"
    spec = Path(__file__).parent.parent / "examples" / "churn_alignment.yaml"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    kwargs = {"tracking_uri": uri, "tiers_table": str(tmp_path / "tiers"),
              "experiment": "/Shared/alignment/legacy"}  # fmt: skip
    client = MlflowClient(uri)
    first = align(findings, spec, **kwargs)
    run = client.get_run(first.run_id)
    # The store as the previous release left it: the same alignment, finished, in its layout.
    legacy_tags = _legacy(dict(run.data.tags), first.status)
    assert legacy_tags["alignment.fingerprint"] == run.data.tags[tracking.FINGERPRINT_TAG]
    old = client.create_run(run.info.experiment_id, tags=legacy_tags).info.run_id
    client.set_terminated(old)
    client.delete_run(first.run_id)

    again = align(findings, spec, **kwargs)
    assert again.status == first.status
    assert again.run_id not in (old, first.run_id)
    assert not again.reused_run
    new = client.get_run(again.run_id).data.tags
    assert tagkeys.reader_keys(new) == [
        "alignment.data",
        "alignment.status",
        "alignment.why",
    ]
    after = client.get_run(old).data.tags
    assert {k: after[k] for k in legacy_tags} == legacy_tags  # the old record, untouched
    # A third run reuses this release's run, not the old one.
    third = align(findings, spec, **kwargs)
    assert third.run_id == again.run_id
    assert third.reused_run

    # A plan of this release recorded on the old alignment run: the chain keeps the old entries,
    # out of view, with the gated-models record; the old keys are gone.
    entry = chain.entry("p-new", "plan 2", "#/p2", "within budget")
    writes, notes = chain_io.record(client, uri, old, "plans", entry)
    assert writes
    assert not notes
    tags = client.get_run(old).data.tags
    assert "alignment.chain" not in tags
    assert "alignment.gated_models" not in tags
    assert [p["ref"] for p in chain.load(tags[chain.CHAIN_TAG])["plans"]] == ["p-new", "p-old"]
    assert tags[vd.GATED_MODELS_TAG] == legacy_tags["alignment.gated_models"]
    assert "plan 2" in tags["mlflow.note.content"]

    # An outcome follows a plan run of the previous release back to its alignment.
    plan = client.create_run(
        run.info.experiment_id, tags={"alignment.alignment_run_id": old}
    ).info.run_id
    assert find_links(client, uri, plan).alignment_run_id == old
