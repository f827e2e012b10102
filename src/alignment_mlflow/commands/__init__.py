"""One module per command group; each imports only click at module level."""

from __future__ import annotations

import click

from alignment_mlflow.commands import (
    check_cmd,
    findings_cmds,
    gate_cmd,
    outcomes_cmd,
    plan_cmd,
    run_cmd,
    serve_cmd,
    spec_cmds,
)

COMMANDS: list[click.Command] = [
    spec_cmds.init,
    spec_cmds.validate,
    check_cmd.check,
    run_cmd.run,
    gate_cmd.gate,
    serve_cmd.serve,
    plan_cmd.plan,
    outcomes_cmd.outcomes,
    findings_cmds.show,
]
"""In the order of the workflow, which is also the order ``--help`` lists them in."""
