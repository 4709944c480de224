"""The SSH transport against a real OpenSSH server: what only it does (the agent, connections, sudo installs;
what actions mean on every connection: test_actions)."""

from __future__ import annotations

import asyncio
import pwd
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from orchc.backends.ssh import AGENT_PAYS_OFF
from orchc.backends.ssh_files import _install_with_sudo
from orchc.plan import CopyAction, Instance, RunAction
from ssh_helpers import context, plan_of, run_actions, ssh_host, transport


def test_a_command_reports_output_status_and_streams_live(sshd, tmp_path: Path) -> None:
    host = ssh_host(sshd, "web1", tmp_path)
    streamed: list[tuple[str, str]] = []
    ok, failed = run_actions(
        host,
        RunAction(command='echo "$GREETING"; echo oops >&2'),
        RunAction(command="echo bad input >&2; exit 3"),
        context_fields={"env": {"GREETING": "hello world"}, "on_output": lambda s, text: streamed.append((s, text))},
    )
    assert (ok.status, ok.rc, ok.stdout, ok.stderr) == ("changed", 0, "hello world\n", "oops\n")
    assert (failed.status, failed.rc) == ("failed", 3)
    assert failed.message == "exit status 3: bad input"
    assert ("stdout", "hello world\n") in streamed


def test_one_connection_per_host_reused_for_every_command(make_sshd, tmp_path: Path) -> None:
    server = make_sshd()
    hosts = [ssh_host(server, f"h{i}", tmp_path / f"h{i}") for i in range(3)]
    plan = plan_of(*hosts)

    async def scenario():
        ssh = transport(plan, forks=2)
        ctx = context(plan)
        results = await asyncio.gather(
            *(ssh.execute(h, RunAction(command="echo hi"), ctx) for h in hosts for _ in range(20))
        )
        connections = len(server.connection_pids())
        for link in ssh._links.values():
            await link.commands.ready()
        kinds = {link.commands.kind for link in ssh._links.values()}
        await ssh.close()
        return results, connections, kinds

    results, connections, kinds = asyncio.run(scenario())
    assert {r.status for r in results} == {"changed"}
    assert connections == 3
    assert kinds == {"agent"}


@pytest.mark.parametrize(
    "host_vars",
    [{"orchc_agent": False}, {"ansible_python_interpreter": "/nonexistent/python3"}],
    ids=["agent-disabled", "no-python"],
)
def test_hosts_without_the_agent_use_exec_channels(sshd, tmp_path: Path, host_vars: dict) -> None:
    host = ssh_host(sshd, "bare", tmp_path, **host_vars)
    plan = plan_of(host)

    async def scenario():
        ssh = transport(plan)
        ctx = context(plan, env={"NAME": "it's me"})
        results = [await ssh.execute(host, RunAction(command=f'echo "$NAME" {i}; exit {i}'), ctx) for i in (0, 4)]
        kind = ssh._links["bare"].commands.kind
        await ssh.close()
        return results, kind

    (ok, failed), kind = asyncio.run(scenario())
    assert kind == "exec"
    assert (ok.status, ok.stdout) == ("changed", "it's me 0\n")
    assert (failed.status, failed.rc) == ("failed", 4)


def test_commands_do_not_wait_for_the_agent_to_start(sshd, tmp_path: Path) -> None:
    """Until the agent is up, commands go over exec channels, a few at once (the others wait for the agent);
    then the agent takes them. Its interpreter here waits for a gate file."""
    gate = tmp_path / "gate"
    python = tmp_path / "slow-python"
    python.write_text(f'#!/bin/sh\nwhile [ ! -e {gate} ]; do sleep 0.05; done\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    host = ssh_host(sshd, "slow", tmp_path, ansible_python_interpreter=str(python))
    plan = plan_of(host)

    async def scenario():
        ssh = transport(plan)
        ctx = context(plan)
        first = await ssh.execute(host, RunAction(command="echo first"), ctx)
        kind_before = ssh._links["slow"].commands.kind
        many = [asyncio.create_task(ssh.execute(host, RunAction(command=f"echo {i}"), ctx)) for i in range(12)]
        await asyncio.sleep(0.5)  # some of them wait for the agent
        gate.touch()
        results = await asyncio.gather(*many)
        await ssh._links["slow"].commands.ready()
        kind_after = ssh._links["slow"].commands.kind
        last = await ssh.execute(host, RunAction(command="echo last"), ctx)
        await ssh.close()
        return first, kind_before, results, kind_after, last

    first, kind_before, results, kind_after, last = asyncio.run(scenario())
    assert (first.status, first.stdout, kind_before) == ("changed", "first\n", "exec")
    assert [(r.status, r.stdout) for r in results] == [("changed", f"{i}\n") for i in range(12)]
    assert (kind_after, last.status, last.stdout) == ("agent", "changed", "last\n")


def test_the_agent_starts_where_the_plan_gives_a_host_enough_to_do(sshd, tmp_path: Path) -> None:
    """Unless `orchc_agent` says, a host with a few actions gets exec channels only: a Python start-up on it
    would cost more than it saves."""
    busy, light = (ssh_host(sshd, name, tmp_path / name) for name in ("busy", "light"))
    for host in (busy, light):
        del host.vars["orchc_agent"]  # as an inventory that does not say
    plan = plan_of(busy, light)
    for host, count in ((busy, AGENT_PAYS_OFF), (light, AGENT_PAYS_OFF - 1)):
        plan.instances += [
            Instance(
                id=f"svc.t{i}@{host.name}",
                task="svc.task",
                host=host.name,
                fingerprint="f",
                change_key="k",
                actions=[RunAction(command="true")],
            )
            for i in range(count)
        ]

    async def scenario():
        ssh = transport(plan)
        ctx = context(plan)
        for host in (busy, light):
            assert (await ssh.execute(host, RunAction(command="echo hi"), ctx)).status == "changed"
        await ssh._links["busy"].commands.ready()
        kinds = {name: link.commands.kind for name, link in ssh._links.items()}
        await ssh.close()
        return kinds

    assert asyncio.run(scenario()) == {"busy": "agent", "light": "exec"}


def test_a_host_without_python_is_reached_when_the_controller_is_busy(sshd, tmp_path: Path) -> None:
    """The failed agent start's exit and channel close arrive with its exec reply when the event loop is
    late to read (the controller is busy): the agent's source then meets a closed channel."""
    host = ssh_host(sshd, "bare", tmp_path, ansible_python_interpreter="/nonexistent/python3")
    plan = plan_of(host)

    async def busy() -> None:
        while True:
            time.sleep(0.05)  # blocks the event loop, as other work of a loaded controller does
            await asyncio.sleep(0)

    async def scenario():
        load = asyncio.create_task(busy())
        ssh = transport(plan)
        result = await ssh.execute(host, RunAction(command="echo reached"), context(plan))
        load.cancel()
        await ssh.close()
        return result

    result = asyncio.run(scenario())
    assert (result.status, result.stdout) == ("changed", "reached\n"), result.message


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


@pytest.mark.parametrize("host_vars", [{"orchc_agent": True}, {"orchc_agent": False}], ids=["agent", "exec"])
def test_a_timeout_kills_the_remote_process_group(sshd, tmp_path: Path, host_vars: dict) -> None:
    host = ssh_host(sshd, "slow", tmp_path, **host_vars)
    pid_file = tmp_path / "child.pid"
    [result] = run_actions(host, RunAction(command=f"sleep 60 & echo $! > {pid_file}; wait"), timeout=1.0)
    assert result.status == "failed"
    assert "timed out" in result.message
    assert not _alive(int(pid_file.read_text()))


@pytest.mark.parametrize("host_vars", [{"orchc_agent": True}, {"orchc_agent": False}], ids=["agent", "exec"])
def test_cancelling_an_action_kills_the_remote_process_group(sshd, tmp_path: Path, host_vars: dict) -> None:
    host = ssh_host(sshd, "cancelled", tmp_path, **host_vars)
    plan = plan_of(host)
    pid_file = tmp_path / "child.pid"

    async def scenario():
        ssh = transport(plan)
        started = asyncio.Event()
        ctx = context(plan, on_output=lambda stream, text: started.set())
        action = RunAction(command=f"sleep 60 & echo $! > {pid_file}; echo started; wait")
        running = asyncio.create_task(ssh.execute(host, action, ctx))
        await started.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await ssh.close()

    asyncio.run(scenario())
    assert not _alive(int(pid_file.read_text()))


def test_become_another_user_goes_through_sudo(sshd, tmp_path: Path) -> None:
    host = ssh_host(sshd, "become", tmp_path, ansible_become="yes", ansible_become_user="nobody")
    run, copy = run_actions(
        host,
        RunAction(command="id -un"),
        CopyAction(src="a", dest=str(tmp_path / "by-nobody"), content="x", owner="root"),
    )
    if shutil.which("sudo"):
        assert (run.status, run.stdout) == ("changed", "nobody\n")
    else:
        assert run.status == "failed" and "become to nobody needs sudo" in run.message
        assert copy.status == "failed" and "sudo" in copy.message


@pytest.mark.skipif(not shutil.which("sudo"), reason="needs sudo on the host (.ci/run installs it)")
@pytest.mark.parametrize("host_vars", [{"orchc_agent": True}, {"orchc_agent": False}], ids=["agent", "exec"])
def test_files_are_written_as_an_unprivileged_become_user(sshd, tmp_path: Path, host_vars: dict) -> None:
    """The login user's upload is private: the become user is let read it before sudo installs it."""
    outside = tempfile.TemporaryDirectory(prefix="orchc-become-")  # pytest's folders are closed to others
    shared = Path(outside.name) / "shared"
    shared.mkdir()
    Path(outside.name).chmod(0o755)
    shared.chmod(0o777)
    host = ssh_host(sshd, "become", tmp_path / "root", ansible_become="yes", ansible_become_user="nobody", **host_vars)
    copy = CopyAction(src="a", dest=str(shared / "conf"), content="secret=1\n", mode="0640")
    first, again = run_actions(host, copy, copy)
    assert (first.status, again.status) == ("changed", "ok"), first.message
    written = (shared / "conf").stat()
    assert (written.st_uid, oct(written.st_mode & 0o777)) == (pwd.getpwnam("nobody").pw_uid, "0o640")
    assert (shared / "conf").read_text() == "secret=1\n"
    assert not [p for p in Path("/tmp").glob(".orchc-*") if p.stat().st_uid == pwd.getpwnam("nobody").pw_uid]
    outside.cleanup()


@pytest.mark.parametrize("host_vars", [{"orchc_agent": True}, {"orchc_agent": False}], ids=["agent", "exec"])
def test_a_login_script_that_prints_does_not_disturb_commands(make_sshd, tmp_path: Path, host_vars: dict) -> None:
    server = make_sshd()
    (server.folder / "home" / ".bashrc").write_text("echo 'Welcome to this host!'\n")
    host = ssh_host(server, "noisy", tmp_path, **host_vars)
    [result] = run_actions(host, RunAction(command="echo clean"))
    assert (result.status, result.stdout) == ("changed", "clean\n")


def test_the_become_install_script_replaces_the_file_atomically(sshd, tmp_path: Path) -> None:
    """The script `sudo -n` runs for files under become, run here as the login user (the same script)."""
    host = ssh_host(sshd, "install", tmp_path)
    plan = plan_of(host)
    dest = tmp_path / "app.conf"
    dest.write_text("old\n")

    async def scenario():
        ssh = transport(plan)
        link = await ssh._link(host)
        await _install_with_sudo(link, str(dest), b"new\n", 0o600, sshd.user, sshd.user)
        await ssh.close()

    asyncio.run(scenario())
    assert dest.read_text() == "new\n"
    assert dest.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.conf"]


def test_a_server_without_sftp_fails_copies_with_the_fix(make_sshd, tmp_path: Path) -> None:
    server = make_sshd()
    server.stop()
    server.sftp = False
    server.resume()
    host = ssh_host(server, "no-sftp", tmp_path)
    copy, run = run_actions(
        host, CopyAction(src="a", dest=str(tmp_path / "a"), content="x"), RunAction(command="echo still")
    )
    assert copy.status == "failed"
    assert copy.message.startswith("the SSH server refused the SFTP subsystem")
    assert (run.status, run.stdout) == ("changed", "still\n")
