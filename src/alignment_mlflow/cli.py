"""The ``alignment-mlflow`` command.

Only click is imported here; each command imports what it needs when it runs, so ``--help`` and
``validate`` never pay for mlflow, pandas or deltalake. Errors derived from
``AlignmentError`` become one clear message on stderr and the error's exit code (2 input,
1 system, 3 strict constraints), never a traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from alignment_mlflow import __version__
from alignment_mlflow.commands import COMMANDS
from alignment_mlflow.commands._common import (
    discard_closed_stream,
    echo,
    echo_json,
    echo_lines,
    error_object,
    json_printed,
    json_requested,
    reset_output,
)
from alignment_mlflow.errors import Terminated
from alignment_mlflow.interrupts import sigterm_as_interrupt


class WorkflowGroup(click.Group):
    """Lists the commands in the order they are used (init, validate, check, run, gate, serve,
    plan, outcomes, show), not alphabetically: the help reads as the workflow.

    It also keeps the output contract on the paths click takes before a command's body runs, or
    that end it from outside: usage errors (an unknown option, a missing ``--spec``, a bad date),
    Ctrl-C and SIGTERM each print one message on stderr and, with ``--json`` anywhere on the
    command line, exactly one JSON object on stdout (``{"error", "error_type", "exit_code"}``,
    the shape of every other failure). Exit codes: 2 usage, 130 Ctrl-C, 143 SIGTERM. A reader
    that goes away (``| head -1``) ends nothing: what is left to print goes nowhere.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        as_json = json_requested(argv)
        reset_output()
        try:
            with sigterm_as_interrupt():
                code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:  # usage errors: unknown option, missing argument
            _show_usage_error(exc)
            _exit(exc.format_message(), exc.exit_code, "UsageError", as_json, shown=True)
        except (click.Abort, KeyboardInterrupt):
            _exit(
                "interrupted (Ctrl-C); an MLflow run it had opened is closed as KILLED",
                130,
                "Interrupted",
                as_json,
            )
        except Terminated as exc:
            _exit(
                f"{exc}; an MLflow run it had opened is closed as KILLED",
                exc.exit_code,
                "Terminated",
                as_json,
            )
        except BrokenPipeError:  # click's own output (help, usage) to a reader that left
            discard_closed_stream(sys.stdout)
            code = 0
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code


def _exit(message: str, code: int, kind: str, as_json: bool, *, shown: bool = False) -> NoReturn:
    """One message on stderr (unless click's was just shown) and, with ``--json``, one object."""
    if not shown:
        echo(f"error: {message}", err=True)
    if as_json and not json_printed():
        echo_json(error_object(message, code, kind))
    raise SystemExit(code)


EPILOG = """The workflow on the bundled example (`make demo` runs it):

\b
  alignment-mlflow init --out churn_alignment.yaml
  alignment-mlflow validate churn_alignment.yaml
  alignment-mlflow check examples/findings --spec churn_alignment.yaml
  alignment-mlflow run --findings demo-output/findings --spec churn_alignment.yaml \\
      --tracking-uri sqlite:///demo-output/mlflow.db
  alignment-mlflow gate --spec demo-output/findings/<aligned>_findings.yaml \\
      --model-version models:/churn_model/1 --tracking-uri sqlite:///demo-output/mlflow.db
  alignment-mlflow serve --spec demo-output/findings/<aligned>_findings.yaml \\
      --model-version models:/churn_model/1 --tracking-uri sqlite:///demo-output/mlflow.db
  alignment-mlflow plan --scores examples/scores/churn_scores.parquet \\
      --spec demo-output/findings/<aligned>_findings.yaml --group-column segment
  alignment-mlflow outcomes --assignments ASSIGNMENTS --outcomes OUTCOMES \\
      --spec demo-output/findings/<aligned>_findings.yaml      # after the campaign
  alignment-mlflow show demo-output/findings

`alignment-mlflow COMMAND --help` shows a command's options and an example.
"""


@click.group(
    cls=WorkflowGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.version_option(__version__, prog_name="alignment-mlflow")
def cli() -> None:
    """Business alignment of a churn project as MLflow runs, a Delta table and findings metadata."""


for _command in COMMANDS:
    cli.add_command(_command)

_GROUP_OPTIONS = {"-h", "--help", "--version"}


def _wheel_task_args(args: list[str]) -> list[str]:
    """A Databricks ``python_wheel_task`` with ``named_parameters`` calls the entry point with only
    ``--key=value`` arguments and no sub-command; those mean ``run``."""
    if args and args[0].startswith("--") and args[0].split("=", 1)[0] not in _GROUP_OPTIONS:
        return ["run", *args]
    return args


def _owns_process() -> bool:
    """Whether this call is the whole process (console script or ``python -m``), not a host
    program calling the entry point in-process (a Databricks wheel task, a notebook, a test)."""
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return False
    top = sys.modules.get("__main__")
    spec = getattr(top, "__spec__", None)
    if spec is not None and spec.name == "alignment_mlflow.__main__":
        return True
    return os.path.basename(getattr(top, "__file__", "") or "") == "alignment-mlflow"


def finish_process(code: int) -> NoReturn:
    """End a process whose work is done without running native teardown.

    deltalake (delta-rs#2184) and pyarrow leave native pool threads alive; tearing the
    interpreter down under them intermittently aborts (exit -6, "terminate called without an
    active exception") after everything was written. Python's exit handlers still run and the
    streams are flushed; only the C++ static destructors are skipped, via ``os._exit``.
    """
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> None:
    """The console script, and what a Databricks ``python_wheel_task`` calls inside its own Python
    process. Success returns normally there: a ``SystemExit``, even ``SystemExit(0)``, can mark
    the task failed (kedro-org/kedro#3191, #4217). Failure prints one message and raises
    ``SystemExit`` with the exit code (2 input, 1 system, 3 strict, 143 SIGTERM). As a process of
    its own (console script, ``python -m``) it ends through :func:`finish_process`."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        _run(args)
    except SystemExit as exc:
        if _owns_process():
            finish_process(_exit_code(exc))
        raise
    if _owns_process():
        finish_process(0)


def _show_usage_error(exc: click.ClickException) -> None:
    """click's own message, with its ``Error:`` spelled ``error:`` like every other error we
    print, so one grep (or one eye) finds them all."""
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        echo_lines(exc.ctx.get_usage().splitlines(), err=True)
        if exc.ctx.command.get_help_option(exc.ctx) is not None:
            echo(f"Try '{exc.ctx.command_path} {exc.ctx.help_option_names[0]}' for help.", err=True)
        echo("", err=True)
    # click quotes what was typed ("No such option: --x"): one escaped line, as every value.
    echo(f"error: {exc.format_message()}", err=True)


def _run(args: list[str]) -> None:
    """Run the command without click's standalone mode, which always ends in ``SystemExit``;
    failures (usage, signals, our errors) end in ``SystemExit`` with their code (see
    :class:`WorkflowGroup`)."""
    code = cli.main(
        args=_wheel_task_args(args), prog_name="alignment-mlflow", standalone_mode=False
    )
    if isinstance(code, int) and code != 0:
        raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
