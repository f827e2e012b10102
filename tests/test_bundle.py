"""The Databricks Asset Bundle, checked with the `databricks-bundles` job model per target."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml
from databricks.bundles.jobs import Job

from alignment_mlflow.commands.gate_cmd import gate
from alignment_mlflow.commands.run_cmd import run
from conftest import REPO

VAR = re.compile(r"\$\{var\.([A-Za-z0-9_]+)\}")


def load_bundle() -> dict[str, Any]:
    root: dict[str, Any] = yaml.safe_load((REPO / "databricks.yml").read_text())
    for pattern in root.get("include", []):
        for path in sorted(REPO.glob(pattern)):
            part = yaml.safe_load(path.read_text())
            for kind, items in part.get("resources", {}).items():
                root.setdefault("resources", {}).setdefault(kind, {}).update(items)
    return root


def resolve(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: resolve(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, variables) for v in value]
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in variables:
                raise KeyError(f"unknown variable ${{var.{m.group(1)}}}")
            return variables[m.group(1)]

        for _ in range(5):  # variables may refer to variables
            value = VAR.sub(sub, value)
    return value


def target_variables(bundle: dict[str, Any], target: str) -> dict[str, str]:
    values = {k: str(v.get("default", "")) for k, v in bundle["variables"].items()}
    values.update(bundle["targets"][target].get("variables") or {})
    return {k: resolve(v, values) for k, v in values.items()}


def jobs_for(target: str) -> dict[str, dict[str, Any]]:
    bundle = load_bundle()
    resources = copy.deepcopy(bundle["resources"])
    for kind, items in (bundle["targets"][target].get("resources") or {}).items():
        for key, override in items.items():
            resources[kind][key].update(override)
    jobs: dict[str, dict[str, Any]] = resolve(resources["jobs"], target_variables(bundle, target))
    return jobs


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_every_job_is_valid_for_the_job_model(target: str) -> None:
    jobs = jobs_for(target)
    assert set(jobs) == {"business_alignment", "churn_plan", "success_metric_gate"}
    for definition in jobs.values():
        job = Job.from_dict(definition)
        assert job.tasks
    assert "${var." not in str(jobs)


def test_prod_resolves_its_own_catalog() -> None:
    task = jobs_for("prod")["business_alignment"]["tasks"][0]
    params = task["python_wheel_task"]["named_parameters"]
    assert params["tiers-table"] == "prod.churn.intervention_tiers"
    assert params["findings"] == "/Volumes/prod/churn/findings"
    dev = jobs_for("dev")["business_alignment"]["tasks"][0]["python_wheel_task"]["named_parameters"]
    # Each developer works in a schema of their own, as Databricks' default template does.
    assert dev["tiers-table"] == "main.${workspace.current_user.short_name}.intervention_tiers"


@pytest.mark.parametrize(
    ("path", "typo"),
    [(("tasks", 0), "pythn_wheel_task"), (("tasks", 0, "python_wheel_task"), "named_parameter")],
)
def test_a_typo_in_a_key_fails(path: tuple[Any, ...], typo: str) -> None:
    job = jobs_for("dev")["business_alignment"]
    node: Any = job
    for step in path:
        node = node[step]
    real = next(k for k in node if k.startswith(typo[:4]))
    node[typo] = node.pop(real)
    with pytest.raises(ValueError, match=typo):
        Job.from_dict(job)


def test_task_calls_our_entry_point_with_options_run_accepts() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    task = jobs_for("dev")["business_alignment"]["tasks"][0]
    wheel = task["python_wheel_task"]
    assert wheel["package_name"] == "alignment_mlflow"
    assert wheel["entry_point"] in scripts
    assert scripts[wheel["entry_point"]] == "alignment_mlflow.cli:main"
    options = {opt.lstrip("-") for p in run.params for opt in p.opts}
    assert set(wheel["named_parameters"]) <= options
    assert {"findings", "spec"} <= set(wheel["named_parameters"])


def test_plan_task_calls_plan_with_options_it_accepts() -> None:
    from alignment_mlflow.commands.plan_cmd import plan

    task = jobs_for("prod")["churn_plan"]["tasks"][0]
    wheel = task["python_wheel_task"]
    assert wheel["entry_point"] == "alignment-mlflow"
    args = wheel["parameters"]
    assert args[0] == "plan"
    options = {opt for p in plan.params for opt in p.opts}
    flags = [a for a in args[1:] if a.startswith("--")]
    assert flags
    assert set(flags) <= options
    assert {"--scores", "--spec"} <= set(flags)
    assert args[args.index("--assignments-table") + 1] == "prod.churn.churn_assignments"
    assert args[args.index("--scores") + 1] == "prod.churn.churn_scores"


def test_gate_task_calls_gate_with_the_model_version_job_parameter() -> None:
    job = jobs_for("prod")["success_metric_gate"]
    assert [p["name"] for p in job["parameters"]] == ["model_version"]
    assert job["parameters"][0]["default"] == "models:/prod.churn.churn_model/1"
    task = next(t for t in job["tasks"] if t["task_key"] == "gate")
    wheel = task["python_wheel_task"]
    assert wheel["entry_point"] == "alignment-mlflow"
    args = wheel["parameters"]
    assert args[0] == "gate"
    options = {opt for p in gate.params for opt in p.opts}
    assert {a for a in args[1:] if a.startswith("--")} <= options
    assert args[args.index("--model-version") + 1] == "{{job.parameters.model_version}}"
    assert args[args.index("--spec") + 1] == "/Volumes/prod/churn/config/churn_alignment.yaml"


# issue 25's exact contract of the serve command (the task must keep to it whether or not this
# checkout has the command yet).
SERVE_CONTRACT = {
    "--spec": True,  # takes a value
    "--model-version": True,
    "--register-as": True,
    "--sql-function": True,
    "--tracking-uri": True,
    "--registry-uri": True,
    "--dry-run": False,
    "--json": False,
}


def _serve_options() -> set[str]:
    """The real CLI's serve options when it has the command, else the contract's."""
    from alignment_mlflow.cli import cli

    command = cli.commands.get("serve")  # type: ignore[attr-defined]
    if command is None:
        return set(SERVE_CONTRACT)
    return {opt for p in command.params for opt in p.opts}


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_the_optional_serve_task_wraps_the_version_the_gate_promoted(target: str) -> None:
    job = jobs_for(target)["success_metric_gate"]
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert set(tasks) == {"gate", "serve_enabled", "serve"}
    # Off unless the bundle variable says "true": a condition task after the gate.
    cond = tasks["serve_enabled"]
    assert cond["depends_on"] == [{"task_key": "gate"}]
    assert cond["condition_task"] == {"op": "EQUAL_TO", "left": "false", "right": "true"}
    serve = tasks["serve"]
    assert serve["depends_on"] == [{"task_key": "serve_enabled", "outcome": "true"}]
    wheel = serve["python_wheel_task"]
    assert (wheel["package_name"], wheel["entry_point"]) == ("alignment_mlflow", "alignment-mlflow")
    args = wheel["parameters"]
    assert args[0] == "serve"
    flags = [a for a in args[1:] if a.startswith("--")]
    assert set(flags) <= set(SERVE_CONTRACT)
    assert set(flags) <= _serve_options()
    values = [args[i + 1] for i, a in enumerate(args) if SERVE_CONTRACT.get(a)]
    assert not any(v.startswith("--") for v in values)  # every valued option has its value
    # The same version the gate judged and (only when it passed) promoted to champion.
    gate_args = tasks["gate"]["python_wheel_task"]["parameters"]
    version = args[args.index("--model-version") + 1]
    assert version == gate_args[gate_args.index("--model-version") + 1]
    assert version == "{{job.parameters.model_version}}"
    assert args[args.index("--spec") + 1] == gate_args[gate_args.index("--spec") + 1]
    assert serve["environment_key"] == "default"


def test_serve_tiered_turns_the_serve_task_on() -> None:
    bundle = load_bundle()
    assert bundle["variables"]["serve_tiered"]["default"] == "false"
    gate_job = load_bundle()["resources"]["jobs"]["success_metric_gate"]
    variables = {**target_variables(bundle, "prod"), "serve_tiered": "true"}
    resolved = resolve(gate_job, variables)
    cond = next(t for t in resolved["tasks"] if t["task_key"] == "serve_enabled")
    assert cond["condition_task"]["left"] == cond["condition_task"]["right"] == "true"
    Job.from_dict(resolved)


def test_bundle_layout() -> None:
    bundle = load_bundle()
    assert bundle["bundle"]["name"] == "alignment_mlflow"
    assert bundle["artifacts"]["default"]["type"] == "whl"
    assert "wheel" in bundle["artifacts"]["default"]["build"]
    assert (
        bundle["targets"]["dev"]
        == {"mode": "development", "default": True} | bundle["targets"]["dev"]
    )
    assert bundle["targets"]["dev"]["default"] is True
    assert bundle["targets"]["dev"]["mode"] == "development"
    assert bundle["targets"]["prod"]["mode"] == "production"
    assert set(bundle["variables"]) == {
        "catalog",
        "schema",
        "findings_path",
        "spec_path",
        "experiment",
        "serve_tiered",
        "prod_service_principal",
        "prod_admins_group",
        "prod_users_group",
    }
    artifact = bundle["artifacts"]["default"]
    assert artifact["dynamic_version"] is True  # serverless caches a wheel by name (cli#1621)
    prod = bundle["targets"]["prod"]
    assert prod["run_as"] == {"service_principal_name": "${var.prod_service_principal}"}
    assert {p["level"] for p in prod["permissions"]} == {"CAN_MANAGE", "CAN_MANAGE_RUN"}
    assert any(
        Path(p).name == "alignment.job.yml" for pat in bundle["include"] for p in REPO.glob(pat)
    )


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_every_job_runs_on_serverless_environment_4(target: str) -> None:
    """Environment 4 is Spark 4.0 / Databricks Connect 17, what the Spark tests run against."""
    for name, job in jobs_for(target).items():
        [env] = job["environments"]
        assert env["spec"]["dependencies"] == ["../dist/*.whl"], name
        assert env["spec"]["environment_version"] == "4", name
        # Every task that runs our code (a condition task runs none and has no environment).
        runs = [t for t in job["tasks"] if "condition_task" not in t]
        assert runs, name
        assert all(t["environment_key"] == env["environment_key"] for t in runs), name


@pytest.mark.slow
def test_the_artifact_command_builds_a_wheel_with_the_template(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys
    import zipfile

    # The same command the bundle runs, on a copy of the sources (setuptools writes build/ in-tree).
    src = tmp_path / "src-copy"
    shutil.copytree(
        REPO / "src", src / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    # A wheel of an earlier build: the jobs install ../dist/*.whl, so it must not survive.
    (src / "dist").mkdir()
    (src / "dist" / "alignment_mlflow-0.0.1-py3-none-any.whl").write_bytes(b"stale")
    # The deployer's python3 with pip, as the CLI would run it (uv's venvs have no pip).
    python = next(
        (p for p in (sys.executable, shutil.which("python3"))
         if p and subprocess.run([p, "-m", "pip", "--version"], capture_output=True).returncode == 0),
        None,
    )  # fmt: skip
    assert python is not None, "no python3 with pip to run the bundle's build command"
    build = load_bundle()["artifacts"]["default"]["build"].replace("python3", python)
    # The CLI runs the build command through a shell (databricks/cli libs/exec).
    subprocess.run(["bash", "-c", build], cwd=src, check=True, capture_output=True, timeout=300)
    [wheel] = (src / "dist").glob("alignment_mlflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "alignment_mlflow/templates/churn_alignment.yaml" in names
    assert "alignment_mlflow/cli.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "alignment-mlflow = alignment_mlflow.cli:main"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def test_dev_and_prod_track_to_experiments_of_their_own() -> None:
    """A prod alignment must never find (and adopt) a developer's run: one experiment per
    target, dev under the developer's own folder."""
    dev = jobs_for("dev")["business_alignment"]["tasks"][0]["python_wheel_task"]
    prod = jobs_for("prod")["business_alignment"]["tasks"][0]["python_wheel_task"]
    dev_exp, prod_exp = (
        dev["named_parameters"]["experiment"],
        prod["named_parameters"]["experiment"],
    )
    assert dev_exp.startswith("/Users/${workspace.current_user.userName}/")
    assert prod_exp.startswith("/Shared/")
    for target, exp in (("dev", dev_exp), ("prod", prod_exp)):
        plan = jobs_for(target)["churn_plan"]["tasks"][0]["python_wheel_task"]["parameters"]
        assert plan[plan.index("--experiment") + 1] == exp


def test_prod_is_deployed_to_a_restricted_root() -> None:
    """Under /Workspace/Shared every workspace user could swap the wheel the service principal
    runs (the CLI's own warning, bundle/permissions/validate.go)."""
    prod = load_bundle()["targets"]["prod"]
    root = prod["workspace"]["root_path"]
    assert not root.startswith(("/Workspace/Shared", "/Shared"))
    assert root.startswith("/Workspace/Users/${workspace.current_user.userName}/")
    assert not any(p.get("group_name") == "users" for p in prod.get("permissions", []))
