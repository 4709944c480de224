"""`run`, `copy` and `template` mean the same on a `connection: local` host and over SSH (`transport_native`).

Every test runs on both kinds of host, with the same assertions: the SSH host is the test sshd on this
machine, logged in as this user, so both write the same files.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Callable

import pytest

from orchc.backends.local import LocalTransport
from orchc.backends.ssh import SshTransport
from orchc.backends.transport import ActionResult, TransportOptions
from orchc.plan import Action, CopyAction, Host, RunAction, TemplateAction, secret_marker
from ssh_helpers import context, plan_of, ssh_host

RunOn = Callable[..., list[ActionResult]]


@pytest.fixture(params=["local", "ssh"])
def run_on(request: pytest.FixtureRequest, tmp_path: Path) -> RunOn:
    """Runs actions one after the other on a host of that connection, with a fresh transport, then closes it."""
    if request.param == "ssh":
        host = ssh_host(request.getfixturevalue("sshd"), "h", tmp_path / "home")
        kind: type[LocalTransport] | type[SshTransport] = SshTransport
    else:
        host = Host(name="h", address="localhost", connection="local")
        kind = LocalTransport
    plan = plan_of(host)

    def run(*actions: Action, check_mode: bool = False, secrets: dict[str, str] | None = None) -> list[ActionResult]:
        async def scenario() -> list[ActionResult]:
            transport = kind(plan, TransportOptions(check_mode=check_mode))
            ctx = context(plan, secrets=secrets or {})
            try:
                return [await transport.execute(host, action, ctx) for action in actions]
            finally:
                await transport.close()

        return asyncio.run(scenario())

    return run


def _outcome(result: ActionResult) -> tuple[str, str]:
    return result.status, result.message


def test_copy_compares_first_then_writes_atomically(run_on: RunOn, tmp_path: Path) -> None:
    dest = tmp_path / "etc" / "app.conf"
    dest.parent.mkdir()

    def copy(content: str, mode: str | None = "0640", owner: str | None = None) -> CopyAction:
        return CopyAction(src="files/app.conf", dest=str(dest), content=content, mode=mode, owner=owner)

    steps = run_on(
        copy("a=1\n"),
        copy("a=1\n"),
        copy("a=1\n", mode="0600"),
        copy("a=2\n", mode="0600", owner=f"{os.getuid()}"),
        copy("a=2\n", mode=None),
        copy("a=2\n", mode=None, owner=f"{os.getuid()}:{os.getgid()}"),
    )
    assert [_outcome(s) for s in steps] == [
        ("changed", f"changed content (new file) of {dest}"),
        ("ok", f"{dest} is up to date"),
        ("changed", f"changed mode (640 -> 600) of {dest}"),
        ("changed", f"changed content of {dest}"),
        ("ok", f"{dest} is up to date"),
        ("ok", f"{dest} is up to date"),
    ]
    assert dest.read_text() == "a=2\n" and dest.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in dest.parent.iterdir()] == ["app.conf"]  # no temp file left


def test_template_and_base64_copy_write_their_content_with_mode_0644(run_on: RunOn, tmp_path: Path) -> None:
    binary = bytes(range(256))
    rendered = TemplateAction(src="t.j2", dest=str(tmp_path / "t.conf"), content="port = 5000\n")
    raw = CopyAction(src="b", dest=str(tmp_path / "b.bin"), content=base64.b64encode(binary).decode(), encoding="base64")
    assert [r.status for r in run_on(rendered, raw, raw)] == ["changed", "changed", "ok"]
    assert (tmp_path / "t.conf").read_text() == "port = 5000\n"
    assert (tmp_path / "b.bin").read_bytes() == binary
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == 0o644


def test_a_missing_folder_fails_copy_and_template_and_is_not_created(run_on: RunOn, tmp_path: Path) -> None:
    """As Ansible's copy to a file does: orchc does not guess the owner and mode of folders."""
    missing = tmp_path / "missing"
    copy = CopyAction(src="a", dest=str(missing / "a"), content="x")
    template = TemplateAction(src="b.j2", dest=str(missing / "deeper" / "b"), content="y")
    results = run_on(copy, template) + run_on(copy, check_mode=True)
    assert [_outcome(r) for r in results] == [
        ("failed", f"folder {missing} does not exist on the host; create it first"),
        ("failed", f"folder {missing / 'deeper'} does not exist on the host; create it first"),
        ("failed", f"folder {missing} does not exist on the host; create it first"),
    ]
    assert not missing.exists()


def test_copy_failures_say_why(run_on: RunOn, tmp_path: Path) -> None:
    folder, bad_mode, bad_owner = run_on(
        CopyAction(src="a", dest=str(tmp_path), content="x"),
        CopyAction(src="a", dest=str(tmp_path / "a"), content="x", mode="rw"),
        CopyAction(src="a", dest=str(tmp_path / "a"), content="x", owner="no-such-user"),
    )
    assert _outcome(folder) == ("failed", f"{tmp_path} exists and is not a regular file")
    assert _outcome(bad_mode) == ("failed", f"mode 'rw' of {tmp_path / 'a'} is not an octal number such as \"0644\"")
    assert bad_owner.status == "failed"  # then the reason, in the words of the host's chown or of Python
    assert bad_owner.message.startswith(f"cannot set owner no-such-user of {tmp_path / 'a'}: ")
    assert not (tmp_path / "a").exists()


def test_check_mode_says_what_would_change_and_changes_nothing(run_on: RunOn, tmp_path: Path) -> None:
    (tmp_path / "old").write_text("x")
    (tmp_path / "old").chmod(0o644)
    new, mode, run = run_on(
        CopyAction(src="a", dest=str(tmp_path / "new"), content="x"),
        CopyAction(src="a", dest=str(tmp_path / "old"), content="x", mode="0600"),
        RunAction(command=f"touch {tmp_path / 'ran'}"),
        check_mode=True,
    )
    assert [_outcome(r) for r in (new, mode, run)] == [
        ("changed", f"would change content (new file) of {tmp_path / 'new'}"),
        ("changed", f"would change mode (644 -> 600) of {tmp_path / 'old'}"),
        ("ok", "not run in check mode"),
    ]
    assert not (tmp_path / "new").exists() and not (tmp_path / "ran").exists()
    assert (tmp_path / "old").stat().st_mode & 0o777 == 0o644


def test_secrets_reach_the_host_and_a_missing_one_fails_the_action(run_on: RunOn, tmp_path: Path) -> None:
    run, copy, missing_run, missing_copy = run_on(
        RunAction(command=f"echo {secret_marker('db_password', True)}"),
        CopyAction(src="a", dest=str(tmp_path / "db.conf"), content=f"password={secret_marker('db_password', False)}\n"),
        RunAction(command=f"echo {secret_marker('other', True)}"),
        TemplateAction(src="t.j2", dest=str(tmp_path / "other.conf"), content=secret_marker("other", False)),
        secrets={"db_password": "s3cr3t pass"},
    )
    assert (run.status, run.stdout) == ("changed", "s3cr3t pass\n")  # the runner redacts what it records
    assert copy.status == "changed" and (tmp_path / "db.conf").read_text() == "password=s3cr3t pass\n"
    assert [_outcome(r) for r in (missing_run, missing_copy)] == [("failed", "secret 'other' has no value at run time")] * 2
    assert not (tmp_path / "other.conf").exists()


def test_a_command_ends_changed_or_failed_with_its_status_and_last_error_line(run_on: RunOn) -> None:
    ok, failed, killed = run_on(
        RunAction(command="echo out; echo warn >&2"),
        RunAction(command="echo bad input >&2; echo done >&2; exit 3"),
        RunAction(command="kill -9 $$"),
    )
    assert (ok.status, ok.rc, ok.stdout, ok.stderr, ok.message) == ("changed", 0, "out\n", "warn\n", "")
    assert (failed.status, failed.rc, failed.message) == ("failed", 3, "exit status 3: done")
    assert (killed.status, killed.rc, killed.message) == ("failed", None, "killed by signal 9")
