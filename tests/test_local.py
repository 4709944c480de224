"""The local transport: what only it does (what actions mean on every connection: test_transport_native)."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
from pathlib import Path

import pytest

from orchc.backends.local import LocalTransport
from orchc.backends.transport import ActionContext, ActionResult, TransportOptions
from orchc.plan import Action, CopyAction, RunAction
from test_engine_plans import make_plan


def execute(tmp_path: Path, action: Action, output: list[tuple[str, str]]) -> ActionResult:
    plan = make_plan("t.x@h1", root=tmp_path)
    ctx = ActionContext(plan=plan, instance_id="t.x@h1", task_id="t.x", secrets={},
                        on_output=lambda s, t: output.append((s, t)))
    return asyncio.run(LocalTransport(plan, TransportOptions()).execute(plan.hosts[0], action, ctx))


def test_a_command_runs_in_the_plan_root_and_streams_its_output(tmp_path: Path):
    output: list[tuple[str, str]] = []
    ok = execute(tmp_path, RunAction(command="echo out; echo err >&2; pwd"), output)
    assert ok.status == "changed" and ok.rc == 0 and ok.stdout == f"out\n{tmp_path}\n" and ok.stderr == "err\n"
    assert ("stderr", "err\n") in output


def _as(tmp_path: Path, action: Action, **host_vars: str) -> ActionResult:
    """`action` on a local host with these inventory variables."""
    plan = make_plan("t.x@h1", root=tmp_path)
    host = plan.hosts[0].model_copy(update={"vars": {**plan.hosts[0].vars, **host_vars}})
    ctx = ActionContext(plan=plan, instance_id="t.x@h1", task_id="t.x", secrets={}, env={"GREETING": "hi"})
    return asyncio.run(LocalTransport(plan, TransportOptions()).execute(host, action, ctx))


@pytest.mark.skipif(not shutil.which("sudo") or os.geteuid() != 0, reason="needs sudo, and orchc running as root")
def test_become_runs_commands_and_writes_files_as_the_become_user(tmp_path: Path):
    ran = _as(tmp_path, RunAction(command='echo "$(id -un) $GREETING"'), ansible_become="yes",
              ansible_become_user="nobody")
    assert (ran.status, ran.stdout) == ("changed", "nobody hi\n")
    dest = tmp_path / "by-nobody.conf"
    wrote = _as(tmp_path, CopyAction(src="a", dest=str(dest), content="x\n"), ansible_become="true",
                ansible_become_user="nobody")
    nobody = pwd.getpwnam("nobody")
    assert wrote.status == "changed" and (dest.stat().st_uid, dest.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)
    as_root = _as(tmp_path, RunAction(command="id -un"), ansible_become="yes")  # root already: no sudo
    assert as_root.stdout == "root\n"
