"""Which run tags a reader sees, and where the bookkeeping goes. Pure: no I/O.

The MLflow UI's run page (its Tags panel), the runs list's tag columns and the compare view show
every tag except MLflow's own: ``isUserFacingTag`` in ``mlflow/server/js/src/common/utils/
TagUtils.ts`` hides keys starting with ``mlflow.`` (MLflow 2.21.3's bundled UI) and, from later
releases on, also ``_mlflow_``. Only ``mlflow.`` is hidden by every UI we support, so what only
our code reads (fingerprints, digests, owner and lease, the chain record, paths) is written under
``mlflow.alignment.``: still a tag, so ``search_runs`` filters on it (``tags.`mlflow.alignment.
fingerprint` = '...'``) on sqlite, a tracking server and Databricks alike, and still mutable (the
lease protocol and the chain record rewrite theirs), which params are not.

A reader sees a few short keys: the status or verdict, the reasons in one tag (``alignment.why``),
the dataset, the link back. Short enough to be shown whole: the Tags panel draws each tag with
``KeyValueTag`` (``mlflow/server/js/src/common/components/KeyValueTag.tsx``), whose
``getKeyAndValueComplexTruncation`` cuts nothing when key and value together are at most 30
characters, else cuts the longer of the two, and both once the shorter is over 15. So a key whose
value may be long has at most :data:`MAX_KEY_FREE_VALUE` characters (only its value is cut, and
the tag opens in full on a click); a longer key (``alignment.status`` must stay as issue 22 wrote
it) only carries values from a closed set that fit in 30 with it (:data:`CLOSED_VALUES`). Either
way at most :data:`MAX_VISIBLE_KEY`, which a runs-list column shows whole.

Keys the previous release wrote in view and no run writes now are :data:`LEGACY`: a re-gate of
a model run removes them, a chain write on an old alignment run moves its record out of view;
an old run that a rerun does not reuse stays as that release wrote it (a finished record).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

HIDDEN = "mlflow.alignment."
UI_HIDDEN_PREFIXES = ("mlflow.", "_mlflow_")  # TagUtils.ts isUserFacingTag (3.x adds _mlflow_)
MAX_VISIBLE_KEY = 18
MAX_KEY_FREE_VALUE = 15
TRUNCATE_ON_CHARS = 30  # KeyValueTag.tsx TRUNCATE_ON_CHARS_LENGTH
# Visible keys over MAX_KEY_FREE_VALUE, with the longest value each can carry.
CLOSED_VALUES = {
    "alignment.status": len("needs_review"),
    "alignment.verdict": len("incomplete"),
    "plan.within_budget": len("false"),
}
# The link back to the alignment run, on a plan run, an outcome run and a gated model's run.
ALIGNMENT_RUN = "alignment.run"


def hidden(name: str) -> str:
    """The key of a bookkeeping tag: kept on the run, out of the reader's way."""
    return HIDDEN + name


# On an alignment run: the model versions gated against it (gating writes it, chain_io moves the
# previous release's copy here).
GATED_MODELS = hidden("gated_models")


def visible(key: str) -> bool:
    """Whether the MLflow UI shows this run tag (the rule of ``isUserFacingTag``)."""
    return not key.startswith(UI_HIDDEN_PREFIXES)


def shown_whole(key: str) -> bool:
    """Whether the Tags panel shows ``key`` uncut whatever value we write under it."""
    if len(key) <= MAX_KEY_FREE_VALUE:
        return True
    longest = CLOSED_VALUES.get(key)
    return longest is not None and len(key) + longest <= TRUNCATE_ON_CHARS


def reader_keys(tags: Iterable[str]) -> list[str]:
    """The keys of ``tags`` the Tags panel shows, sorted."""
    return sorted(k for k in tags if visible(k))


# A plan run of the previous release linked its alignment run here; readers still follow it.
LEGACY_ALIGNMENT_RUN = "alignment.alignment_run_id"
# Where the previous release kept an alignment run's chain record and gated-models list, in
# view: read from there, moved out of view on the next write (tracking/chain_io.py).
LEGACY_CHAIN = "alignment.chain"
LEGACY_GATED_MODELS = "alignment.gated_models"
# Run tags the previous release wrote in view (alignment, plan, outcome runs, the gated model's
# run) that are now hidden, renamed or not written at all. Per-name families are prefixes.
LEGACY = frozenset(
    {
        "alignment.project", "alignment.project_name", "alignment.findings_path",
        "alignment.findings_sha256", "alignment.spec_sha256", "alignment.package_version",
        "alignment.fingerprint", "alignment.verdict_sha256", "alignment.constraints_failed",
        "alignment.constraints_unverifiable", "alignment.warnings", "alignment.delta_table",
        "alignment.delta_version", "alignment.findings_updated", "alignment.owner",
        "alignment.lease_seconds", LEGACY_CHAIN, LEGACY_GATED_MODELS,
        "alignment.kind", LEGACY_ALIGNMENT_RUN, "alignment.alignment_run_url",
        "alignment.verdict_digest", "alignment.reasons", "alignment.dataset",
        "alignment.gate_alignment", "plan.fingerprint", "plan.parity_target", "plan.holdout",
        "plan.holdout_detectable", "plan.assignments_table", "plan.assignments_version",
        "outcome.fingerprint", "outcome.campaign", "outcome.plan_run_id",
    }
)  # fmt: skip
LEGACY_PREFIXES = (
    "alignment.constraint.", "alignment.verdict.", "alignment.measured.", "outcome.tier.",
)  # fmt: skip


def legacy_keys(existing: Mapping[str, str], wanted: Iterable[str] = ()) -> list[str]:
    """Keys of ``existing`` that only the previous release wrote (and ``wanted`` does not):
    what a writer deletes so an old run shows only what is current."""
    keep = set(wanted)
    return sorted(
        k for k in existing if k not in keep and (k in LEGACY or k.startswith(LEGACY_PREFIXES))
    )
