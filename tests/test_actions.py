"""`run`, `copy` and `template` mean the same on a `connection: local` host and over SSH (`actions`).

Every test runs on both kinds of host, with the same assertions: the SSH host is the test sshd on this
machine, logged in as this user, so both write the same files. The last test runs one scenario on both
and compares what they report.
"""

from __future__ import annotations

import asyncio
import base64
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchc.backends.local import LocalTransport
from orchc.backends.ssh import SshTransport
from orchc.backends.transport import ActionResult, TransportOptions
from orchc.plan import Action, CopyAction, Host, PlaybookAction, RunAction, TemplateAction, secret_marker
from ssh_helpers import context, plan_of, ssh_host
from sshd import SshServer

RunOn = Callable[..., list[ActionResult]]
CONNECTIONS = ["local", "ssh"]


def runner_on(connection: str, server: SshServer | None, home: Path, **host_vars: Any) -> RunOn:
    """Runs actions one after the other on a host of that connection, with a fresh transport, then closes it."""
    if connection == "ssh":
        assert server is not None
        host = ssh_host(server, "h", home, **host_vars)
        kind: type[LocalTransport] | type[SshTransport] = SshTransport
    else:
        host = Host(name="h", address="localhost", connection="local", vars=host_vars)
        kind = LocalTransport
    plan = plan_of(host)

    def run(*actions: Action, check_mode: bool = False, **context_fields: Any) -> list[ActionResult]:
        async def scenario() -> list[ActionResult]:
            transport = kind(plan, TransportOptions(check_mode=check_mode))
            ctx = context(plan, **context_fields)
            try:
                return [await transport.execute(host, action, ctx) for action in actions]
            finally:
                await transport.close()

        return asyncio.run(scenario())

    return run


@pytest.fixture(params=CONNECTIONS)
def run_on(request: pytest.FixtureRequest, tmp_path: Path) -> RunOn:
    server = request.getfixturevalue("sshd") if request.param == "ssh" else None
    return runner_on(request.param, server, tmp_path / "home")


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
    raw = CopyAction(
        src="b", dest=str(tmp_path / "b.bin"), content=base64.b64encode(binary).decode(), encoding="base64"
    )
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
        CopyAction(
            src="a", dest=str(tmp_path / "db.conf"), content=f"password={secret_marker('db_password', False)}\n"
        ),
        RunAction(command=f"echo {secret_marker('other', True)}"),
        TemplateAction(src="t.j2", dest=str(tmp_path / "other.conf"), content=secret_marker("other", False)),
        secrets={"db_password": "s3cr3t pass"},
    )
    assert (run.status, run.stdout) == ("changed", "s3cr3t pass\n")  # the runner redacts what it records
    assert copy.status == "changed" and (tmp_path / "db.conf").read_text() == "password=s3cr3t pass\n"
    assert [_outcome(r) for r in (missing_run, missing_copy)] == [
        ("failed", "secret 'other' has no value at run time")
    ] * 2
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


@pytest.fixture(params=CONNECTIONS)
def run_with_vars(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., RunOn]:
    """`run_on` for a host with these inventory variables."""
    server = request.getfixturevalue("sshd") if request.param == "ssh" else None
    return lambda **host_vars: runner_on(request.param, server, tmp_path / "home", **host_vars)


def test_a_command_gets_the_task_environment_and_streams_its_output(run_on: RunOn) -> None:
    streamed: list[tuple[str, str]] = []
    [ran] = run_on(
        RunAction(command='echo "$GREETING"; echo oops >&2'),
        env={"GREETING": "it's me"},
        on_output=lambda stream, text: streamed.append((stream, text)),
    )
    assert (ran.status, ran.stdout, ran.stderr) == ("changed", "it's me\n", "oops\n")
    assert ("stdout", "it's me\n") in streamed and ("stderr", "oops\n") in streamed


def test_become_to_the_login_user_needs_no_sudo(run_with_vars: Callable[..., RunOn]) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    [task_becomes] = run_with_vars(ansible_become_user=me)(RunAction(command="id -un"), become=True)
    [host_becomes] = run_with_vars(ansible_become="yes", ansible_become_user=me)(RunAction(command="id -un"))
    assert [(r.status, r.stdout) for r in (task_becomes, host_becomes)] == [("changed", f"{me}\n")] * 2


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder every user may write in (pytest's own are closed to others)."""
    with tempfile.TemporaryDirectory(prefix="orchc-become-") as outside:
        Path(outside).chmod(0o755)
        shared = Path(outside) / "shared"
        shared.mkdir()
        shared.chmod(0o777)
        yield shared


@pytest.mark.skipif(not shutil.which("sudo") or os.geteuid() != 0, reason="needs sudo, and orchc running as root")
def test_become_another_user_runs_and_writes_as_that_user(
    run_with_vars: Callable[..., RunOn], shared_folder: Path
) -> None:
    run = run_with_vars(ansible_become="true", ansible_become_user="nobody")
    dest = shared_folder / "by-nobody.conf"
    copy = CopyAction(src="a", dest=str(dest), content="x\n", mode="0640")
    ran, wrote, again = run(RunAction(command='echo "$(id -un) $GREETING"'), copy, copy, env={"GREETING": "hi"})
    assert (ran.status, ran.stdout) == ("changed", "nobody hi\n")
    assert [_outcome(r) for r in (wrote, again)] == [
        ("changed", f"changed content (new file) of {dest}"),
        ("ok", f"{dest} is up to date"),
    ]
    nobody = pwd.getpwnam("nobody")
    written = dest.stat()
    assert (written.st_uid, written.st_gid, written.st_mode & 0o777) == (nobody.pw_uid, nobody.pw_gid, 0o640)
    assert [p.name for p in shared_folder.iterdir()] == ["by-nobody.conf"]


def test_an_ansible_action_is_not_a_native_one(run_on: RunOn) -> None:
    [result] = run_on(PlaybookAction(path="site.yml"))
    assert result.status == "failed"
    assert result.message.endswith(" transport does not run 'playbook' actions (the ansible transport does)")


def _scenario(folder: Path) -> list[Action]:
    """Every way a native action ends, in `folder`."""
    (folder / "a-folder").mkdir()
    copy = CopyAction(src="a", dest=str(folder / "a.conf"), content="a=1\n", mode="0640")
    return [
        copy,
        copy,
        replace(copy, mode="0600"),
        replace(copy, content="a=2\n"),
        replace(copy, mode="rw"),
        replace(copy, dest=str(folder / "missing" / "a.conf")),
        replace(copy, dest=str(folder / "a-folder")),
        TemplateAction(src="t.j2", dest=str(folder / "t.conf"), content=f"pw={secret_marker('pw', False)}\n"),
        TemplateAction(src="t.j2", dest=str(folder / "u.conf"), content=secret_marker("other", False)),
        RunAction(command=f"echo {secret_marker('pw', True)}; echo warn >&2"),
        RunAction(command="echo bad input >&2; exit 3"),
        RunAction(command="kill -9 $$"),
        RunAction(command="exit 0"),
    ]


def test_local_and_ssh_hosts_report_the_same(sshd: SshServer, tmp_path: Path) -> None:
    def reports(connection: str) -> list[tuple[Any, ...]]:
        folder = tmp_path / connection
        folder.mkdir()
        run = runner_on(connection, sshd, tmp_path / f"{connection}-home")
        actions = _scenario(folder)
        results = run(*actions, check_mode=True, secrets={"pw": "s3cr3t"}) + run(*actions, secrets={"pw": "s3cr3t"})
        return [(r.status, r.rc, r.stdout, r.stderr, r.message.replace(str(folder), "FOLDER")) for r in results]

    local, ssh = reports("local"), reports("ssh")
    assert local == ssh
    assert len({status for status, *_ in local}) == 3  # ok, changed and failed all occur
