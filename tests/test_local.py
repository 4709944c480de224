"""The local transport: files written atomically and compared first, commands in their own process group."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
from pathlib import Path

import pytest

from orchc.backends.local import LocalTransport
from orchc.backends.transport import ActionContext, ActionResult, TransportOptions
from orchc.plan import Action, CopyAction, RunAction, TemplateAction, secret_marker
from test_engine_plans import make_plan


def execute(tmp_path: Path, action: Action, check_mode: bool = False, secrets: dict[str, str] | None = None,
            output: list[tuple[str, str]] | None = None) -> ActionResult:
    plan = make_plan("t.x@h1", root=tmp_path)
    ctx = ActionContext(plan=plan, instance_id="t.x@h1", task_id="t.x", secrets=secrets or {},
                        on_output=(lambda s, t: output.append((s, t))) if output is not None
                        else None)
    return asyncio.run(LocalTransport(plan, TransportOptions(check_mode=check_mode)).execute(plan.hosts[0], action, ctx))


def test_copy_writes_then_is_up_to_date_then_fixes_the_mode(tmp_path: Path):
    dest = tmp_path / "etc" / "app" / "app.conf"  # parent folders are created
    copy = CopyAction(src="files/app.conf", dest=str(dest), content="port = 80\n", mode="0640")
    assert execute(tmp_path, copy).status == "changed"
    assert dest.read_text() == "port = 80\n" and dest.stat().st_mode & 0o777 == 0o640
    assert execute(tmp_path, copy).status == "ok"
    os.chmod(dest, 0o600)
    assert execute(tmp_path, copy).status == "changed" and dest.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in dest.parent.iterdir()] == ["app.conf"]  # no temporary files left behind


def test_template_resolves_secrets_and_check_mode_changes_nothing(tmp_path: Path):
    dest = tmp_path / "app.env"
    template = TemplateAction(src="app.env.j2", dest=str(dest), content=f"PW={secret_marker('pw', False)}\n")
    preview = execute(tmp_path, template, check_mode=True, secrets={"pw": "s3cret"})
    assert preview.status == "changed" and "would write" in preview.message and not dest.exists()
    assert execute(tmp_path, template, secrets={"pw": "s3cret"}).status == "changed"
    assert dest.read_text() == "PW=s3cret\n"


def test_copy_base64_and_unknown_owner(tmp_path: Path):
    binary = CopyAction(src="b", dest=str(tmp_path / "b.bin"), content="AAEC/w==", encoding="base64")
    assert execute(tmp_path, binary).status == "changed"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01\x02\xff"
    bad_owner = CopyAction(src="b", dest=str(tmp_path / "c"), content="x", owner="no-such-user-here")
    result = execute(tmp_path, bad_owner)
    assert result.status == "failed" and "no-such-user-here" in result.message


def test_run_streams_output_and_reports_the_status(tmp_path: Path):
    output: list[tuple[str, str]] = []
    ok = execute(tmp_path, RunAction(command="echo out; echo err >&2; pwd"), output=output)
    assert ok.status == "changed" and ok.rc == 0 and ok.stdout == f"out\n{tmp_path}\n" and ok.stderr == "err\n"
    assert ("stderr", "err\n") in output
    failed = execute(tmp_path, RunAction(command="exit 7"))
    assert (failed.status, failed.rc, failed.message) == ("failed", 7, "command exited with status 7")
    killed = execute(tmp_path, RunAction(command="kill -9 $$"))
    assert killed.status == "failed" and killed.message == "command killed by signal 9"


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
    assert wrote.status == "changed" and dest.stat().st_uid == pwd.getpwnam("nobody").pw_uid
    as_root = _as(tmp_path, RunAction(command="id -un"), ansible_become="yes")  # root already: no sudo
    assert as_root.stdout == "root\n"
