"""The chain an engineer clicks through: alignment run -> its plan runs, the campaign outcomes
judged on them (the business target's verdict, which the gate can only defer) and gated model
versions, and back. Pure: no I/O.

The alignment run keeps a bounded record of what was done from it (``mlflow.alignment.chain``: JSON,
bookkeeping) and shows it as the last section of its description, with real links: latest first,
each model version with its gate verdict. A version re-gated against another alignment is moved
(removed from the old run's record by the caller). The same entry again changes nothing, so a
rerun writes nothing. Links are the tracking server's own pages: absolute when the server's
address is known (http(s), Databricks), otherwise relative to the MLflow UI's page
(``#/experiments/..``), which is what a local ``mlflow ui`` over a sqlite store serves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from alignment_mlflow.tagkeys import hidden
from alignment_mlflow.tracking.description import md

CHAIN_TAG = hidden("chain")
LIMIT = 10  # entries of each kind; older ones drop off (the tags keep the ids)
SECTION = "### Plans and gated models"
VERSION_SECTION = "#### Alignment"
KINDS = ("plans", "outcomes", "models")


#: MLflow 3's UI opens a page without this in its GenAI mode (a fresh browser's default), where a
#: run reads as an "evaluation run"; the query is ignored by 2.x's UI.
MODEL_TRAINING = "?workflowType=machine_learning"


def ui_route(experiment_id: str, run_id: str | None = None) -> str:
    """The MLflow UI's route to an experiment's runs list or one run, in "Model training" mode."""
    runs = f"/runs/{run_id}" if run_id else ""
    return f"#/experiments/{experiment_id}{runs}{MODEL_TRAINING}"


def run_link(experiment_id: str, run_id: str, url: str | None = None) -> str:
    """A run's page: the absolute URL when known, else the MLflow UI's own route."""
    if url and url.startswith(("http://", "https://")):
        return url
    return ui_route(experiment_id, run_id)


def version_link(name: str, version: str, base: str | None = None) -> str:
    """A model version's page in the MLflow UI (``base`` the server's address, if known)."""
    route = f"#/models/{name}/versions/{version}"
    if base and base.startswith(("http://", "https://")):
        return f"{base.rstrip('/')}/{route}"
    return route


def _link(label: str, url: str) -> str:
    safe = url.replace(" ", "%20").replace(")", "%29").replace("(", "%28")
    return f"[{md(label)}]({safe})"


def load(text: str | None) -> dict[str, list[dict[str, str]]]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    out: dict[str, list[dict[str, str]]] = {k: [] for k in KINDS}
    if isinstance(data, Mapping):
        for kind in KINDS:
            items = data.get(kind)
            if isinstance(items, list):
                out[kind] = [
                    {str(k): str(v) for k, v in i.items()} for i in items if isinstance(i, Mapping)
                ]
    return out


def dump(chain: Mapping[str, list[dict[str, str]]]) -> str:
    # "outcomes" only once there is one: the records written before it existed stay byte-equal.
    kept = {k: chain.get(k, []) for k in KINDS if k != "outcomes" or chain.get(k)}
    return json.dumps(kept, separators=(",", ":"))


def add(text: str | None, kind: str, entry: Mapping[str, str]) -> str:
    """``entry`` (``ref``, ``label``, ``url``, ``verdict``) first in its list; the same entry
    already first leaves the text as it was."""
    chain = load(text)
    items = chain[kind]
    if items and items[0] == dict(entry):
        return text if text else dump(chain)
    chain[kind] = [dict(entry), *[i for i in items if i.get("ref") != entry["ref"]]][:LIMIT]
    return dump(chain)


def remove(text: str | None, kind: str, ref: str) -> str:
    chain = load(text)
    chain[kind] = [i for i in chain[kind] if i.get("ref") != ref]
    return dump(chain)


def section(text: str | None) -> str:
    """The description's last section: plans and gated models, latest first, as links."""
    chain = load(text)
    if not any(chain.values()):
        return ""
    lines = [SECTION, ""]
    for title, kind in (
        ("Plans", "plans"),
        ("Campaign outcomes: the business target judged", "outcomes"),
        ("Gated model versions", "models"),
    ):
        if chain[kind]:
            lines.append(f"**{title}** (latest first)")
            lines.append("")
            lines += [
                f"- {_link(i.get('label', i.get('ref', '')), i.get('url', ''))}"
                + (f": **{md(i['verdict'])}**" if i.get("verdict") else "")
                for i in chain[kind]
            ]
            lines.append("")
    return "\n".join(lines).rstrip()


def splice(description: str, part: str, heading: str = SECTION) -> str:
    """``description`` with its section starting at ``heading`` replaced by ``part`` (kept last;
    an empty ``part`` removes it). Text before it, the user's or ours, is kept."""
    head, sep, _ = description.partition("\n" + heading)
    if not sep and description.startswith(heading):
        head = ""
    head = head.rstrip()
    if not part:
        return head
    return f"{head}\n\n{part}" if head else part


def version_section(
    alignment_label: str,
    alignment_url: str,
    gate_run_url: str,
    verdict: str,
    status: str,
    measured: str = "",
) -> str:
    """A model version's links back: its alignment run and the run its gate judged (and, for
    gate --endpoint, the serving endpoint measurement the verdict rests on)."""
    lines = [
        VERSION_SECTION,
        "",
        f"- Gate verdict: **{md(verdict)}** (alignment {md(status.replace('_', ' '))})",
        f"- Alignment run: {_link(alignment_label, alignment_url)}",
        f"- Gated run: {_link('model run', gate_run_url)}",
    ]
    if measured:
        lines.append(f"- Measured on: {md(measured)}")
    return "\n".join(lines)


def entry(ref: str, label: str, url: str, verdict: str) -> dict[str, Any]:
    return {"ref": ref, "label": label, "url": url, "verdict": verdict}


LATEST_TAG = "alignment.latest"  # on the experiment: {dataset: {status, run, url}}


def experiment_record(text: str | None, dataset: str, status: str, run_id: str, url: str) -> str:
    """The experiment's record of the latest verdict per dataset (bounded to 50 datasets)."""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    record = (
        {str(k): v for k, v in data.items() if isinstance(v, Mapping)}
        if isinstance(data, Mapping)
        else {}
    )
    record.pop(dataset, None)
    record[dataset] = {"status": status, "run": run_id, "url": url}
    while len(record) > 50:
        record.pop(next(iter(record)))
    return json.dumps(record, separators=(",", ":"))


def experiment_description(project: str, objective: str, record_text: str) -> str:
    """What the project is, and the latest verdict per dataset, each linked to its run."""
    record = json.loads(record_text)
    lines = [
        f"**{md(project)}**: {md(objective)}",
        "",
        "Alignment runs of this project (alignment-mlflow): one per spec and findings; plan "
        "runs and gated model versions are linked from each.",
        "",
        "| Dataset&emsp; | Latest verdict |",
        "|:---|:---|",
    ]
    for dataset, item in reversed(list(record.items())):
        status = str(item.get("status", "")).replace("_", " ").upper()
        lines.append(f"| {_link(dataset, str(item.get('url', '')))}&emsp; | **{md(status)}** |")
    return "\n".join(lines)
