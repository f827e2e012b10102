"""`make demo`: the whole alignment on a bundled example, with embedded defaults only.

It runs the real CLI from inside the output folder, so MLflow's default local store, the default
Delta path (./alignment_delta/intervention_tiers) and the findings copy all land in ``--out``.
Run it twice: the second run reuses the MLflow run and makes no new table version.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo-output", type=Path)
    args = parser.parse_args()
    out: Path = args.out.resolve()
    findings = out / "findings"
    findings.mkdir(parents=True, exist_ok=True)
    for src in sorted((HERE / "findings").glob("*_findings.yaml")):
        if not (findings / src.name).exists():
            shutil.copy2(src, findings / src.name)

    cli = [sys.executable, "-m", "alignment_mlflow"]
    cmd = [*cli, "run", "--findings", str(findings), "--spec", str(HERE / "churn_alignment.yaml")]
    print("$ alignment-mlflow run --findings", findings, "--spec examples/churn_alignment.yaml")
    code = subprocess.call(cmd, cwd=out)
    if code != 0:
        print(f"demo: alignment-mlflow run exited {code}", file=sys.stderr)
        return code

    scores = HERE / "scores" / "churn_scores.parquet"
    aligned = next(p for p in findings.glob("*_findings.yaml") if "alignment:" in p.read_text())
    print()
    print(f"$ alignment-mlflow plan --scores examples/scores/{scores.name} --spec {aligned.name} "
          "--group-column segment")  # fmt: skip
    assignments = out / "alignment_delta" / "churn_assignments"
    plan = [*cli, "plan", "--scores", str(scores), "--spec", str(aligned),
            "--group-column", "segment", "--assignments-table", str(assignments)]  # fmt: skip
    code = subprocess.call(plan, cwd=out)
    if code != 0:
        print(f"demo: alignment-mlflow plan exited {code}", file=sys.stderr)
        return code

    print()
    print("Where to look:")
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    print(f"  MLflow UI:      {mlflow_cli} ui --backend-store-uri sqlite:///{out / 'mlflow.db'}")
    print("                  then open http://127.0.0.1:5000 (experiment /Shared/alignment/...)")
    print(f"  MLflow store:   {out / 'mlflow.db'} (artifacts in {out / 'mlartifacts'})")
    print(f"  Delta tables:   {out / 'alignment_delta'} (intervention_tiers, churn_assignments)")
    print(f"  Findings:       {findings} (metadata.alignment; also `alignment-mlflow show`)")
    activate = Path(sys.executable).parent / "activate"
    print(f"  On PATH:        source {activate} (then: alignment-mlflow --help)")
    print("Run `make demo` again: the runs are reused and the table versions stay the same.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
