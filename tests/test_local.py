"""The local transport: what only it does (what actions mean on every connection: test_actions)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from orchc.backends.local import LocalTransport
from orchc.backends.transport import ActionContext, ActionResult, TransportOptions
from orchc.plan import Action, RunAction
from test_engine_plans import make_plan


def execute(tmp_path: Path, action: Action, output: list[tuple[str, str]]) -> ActionResult:
    plan = make_plan("t.x@h1", root=tmp_path)
    ctx = ActionContext(
        plan=plan, instance_id="t.x@h1", task_id="t.x", secrets={}, on_output=lambda s, t: output.append((s, t))
    )
    return asyncio.run(LocalTransport(plan, TransportOptions()).execute(plan.hosts[0], action, ctx))


def test_a_command_runs_in_the_plan_root_and_streams_its_output(tmp_path: Path):
    output: list[tuple[str, str]] = []
    ok = execute(tmp_path, RunAction(command="echo out; echo err >&2; pwd"), output)
    assert ok.status == "changed" and ok.rc == 0 and ok.stdout == f"out\n{tmp_path}\n" and ok.stderr == "err\n"
    assert ("stderr", "err\n") in output
