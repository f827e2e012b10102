"""`make demo`: the newcomer's tour on a bundled example, into one MLflow store.

run (align the findings) -> train a tiny model -> gate it -> plan the campaign, all logged to
``<out>/mlflow.db`` (artifacts in ``<out>/mlartifacts``), so everything appears in the one UI the
demo tells you to open. It runs the real CLI from inside the output folder, so MLflow's default
local store, the default Delta path (./alignment_delta/intervention_tiers) and the findings copy
all land in ``--out``; nothing is written to the repository root. Run it twice: the second run
reuses every MLflow run, the model and the table versions.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


OVERRIDE = "tour-on-the-bundled-example"


def _call(title: str, cmd: list[str], out: Path) -> int:
    print(f"==> {title}", flush=True)
    code = subprocess.call(cmd, cwd=out)
    if code != 0:
        print(f"demo: `{title.split(' --', 1)[0]}` exited {code}", file=sys.stderr)
    print(flush=True)
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo-output", type=Path)
    args = parser.parse_args()
    out: Path = args.out.resolve()
    rel = args.out.as_posix().rstrip("/")
    findings = out / "findings"
    findings.mkdir(parents=True, exist_ok=True)
    for src in sorted((HERE / "findings").glob("*_findings.yaml")):
        if not (findings / src.name).exists():
            shutil.copy2(src, findings / src.name)
    store = f"sqlite:///{out / 'mlflow.db'}"
    cli = [sys.executable, "-m", "alignment_mlflow"]

    title = f"alignment-mlflow run --findings {rel}/findings --spec examples/churn_alignment.yaml"
    cmd = [*cli, "run", "--findings", str(findings), "--spec", str(HERE / "churn_alignment.yaml")]
    if code := _call(title, cmd, out):
        return code
    aligned = next(p for p in findings.glob("*_findings.yaml") if "alignment:" in p.read_text())

    title = f"python examples/train_model.py --tracking-uri sqlite:///{rel}/mlflow.db"
    train = [sys.executable, str(HERE / "train_model.py"), "--tracking-uri", store, "--if-missing"]
    print(f"==> {title}", flush=True)
    done = subprocess.run(train, cwd=out, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        print(f"demo: train_model.py exited {done.returncode}", file=sys.stderr)
        return done.returncode
    version = done.stdout.strip().splitlines()[-1]
    print(version, end="\n\n", flush=True)

    title = (
        f"alignment-mlflow gate --spec {rel}/findings/{aligned.name} --model-version {version} "
        f"--tracking-uri sqlite:///{rel}/mlflow.db --promote-alias champion "
        f"--allow-blocked-alignment {OVERRIDE}"
    )
    # The bundled findings are blocked (PII among the features): the gate refuses to promote a
    # model aligned against them unless told why, which it records. The tour says why.
    gate = [*cli, "gate", "--spec", str(aligned), "--model-version", version,
            "--tracking-uri", store, "--promote-alias", "champion",
            "--allow-blocked-alignment", OVERRIDE]  # fmt: skip
    if (code := _call(title, gate, out)) not in (0, 3):  # 3: the model did not pass; go on
        return code

    scores = HERE / "scores" / "churn_scores.parquet"
    title = (
        f"alignment-mlflow plan --scores examples/scores/{scores.name} "
        f"--spec {rel}/findings/{aligned.name} --group-column segment "
        f"--assignments-table {rel}/alignment_delta/churn_assignments"
    )
    assignments = out / "alignment_delta" / "churn_assignments"
    plan = [*cli, "plan", "--scores", str(scores), "--spec", str(aligned),
            "--group-column", "segment", "--assignments-table", str(assignments)]  # fmt: skip
    if code := _call(title, plan, out):
        return code

    mlflow_cli = Path(sys.executable).parent / "mlflow"
    print("Where to look (everything above is in this one store):")
    print(f"  MLflow UI:      {mlflow_cli} ui --backend-store-uri sqlite:///{rel}/mlflow.db")
    print("                  then open http://127.0.0.1:5000 (experiments /Shared/alignment/...")
    print("                  for the alignment and the plan, /Shared/churn/training for the model)")
    print(f"  MLflow store:   {rel}/mlflow.db (artifacts in {rel}/mlartifacts)")
    print(f"  Delta tables:   {rel}/alignment_delta (intervention_tiers, churn_assignments)")
    print(f"  Findings:       {rel}/findings (metadata.alignment;")
    print(f"                  `alignment-mlflow show {rel}/findings`)")
    activate = Path(sys.executable).parent / "activate"
    print(f"  On PATH:        source {activate} (then: alignment-mlflow --help)")
    print("Run `make demo` again: the runs and the model are reused, the table versions stay.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
