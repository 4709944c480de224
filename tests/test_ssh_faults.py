"""Faults over real SSH: nothing listening, the server stopped, a connection killed mid-task."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path

from orchc.plan import Host, Plan, RunAction
from ssh_helpers import context, plan_of, ssh_host, transport
from sshd import SshServer


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_host_does_not_hold_up_the_others(sshd, tmp_path: Path) -> None:
    good = ssh_host(sshd, "good", tmp_path / "good")
    dead = replace(ssh_host(sshd, "dead", tmp_path / "dead"), port=_closed_port())
    plan = plan_of(good, dead)
    finished: list[str] = []

    async def run_on(ssh, host):
        result = await ssh.execute(host, RunAction(command="echo hi"), context(plan))
        finished.append(host.name)
        return result

    async def scenario():
        ssh = transport(plan, connect_timeout=5)
        results = await asyncio.gather(run_on(ssh, dead), *(run_on(ssh, good) for _ in range(5)))
        await ssh.close()
        return results

    dead_result, *good_results = asyncio.run(scenario())
    assert dead_result.status == "unreachable"
    assert dead_result.message == f"cannot connect to 127.0.0.1:{dead.port}: Connection refused"
    assert {r.status for r in good_results} == {"changed"}


def test_a_host_that_accepts_but_never_answers_times_out(sshd, tmp_path: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        host = replace(ssh_host(sshd, "stuck", tmp_path), port=silent.getsockname()[1])
        plan = plan_of(host)

        async def scenario():
            ssh = transport(plan, connect_timeout=0.5)
            result = await ssh.execute(host, RunAction(command="true"), context(plan))
            await ssh.close()
            return result

        result = asyncio.run(scenario())
    assert result.status == "unreachable"
    assert result.message == f"127.0.0.1:{host.port} did not answer within 0.5s"


def test_a_stopped_server_makes_the_host_unreachable_until_it_is_back(make_sshd, tmp_path: Path) -> None:
    server = make_sshd()
    host = ssh_host(server, "h1", tmp_path)
    plan = plan_of(host)

    async def scenario():
        ssh = transport(plan)
        ctx = context(plan)
        before = await ssh.execute(host, RunAction(command="true"), ctx)
        server.stop()
        during = await ssh.execute(host, RunAction(command="true"), ctx)
        again = await ssh.execute(host, RunAction(command="true"), ctx)
        server.resume()
        after = await ssh.execute(host, RunAction(command="echo back"), ctx)
        await ssh.close()
        return before, during, again, after

    before, during, again, after = asyncio.run(scenario())
    assert before.status == "changed"
    # The first action after the stop may find the old connection dying, or the port closed.
    assert during.status in ("failed", "unreachable")
    assert again.status == "unreachable"
    assert (after.status, after.stdout) == ("changed", "back\n")


def test_a_connection_lost_mid_task_fails_that_action_and_the_next_reconnects(make_sshd, tmp_path: Path) -> None:
    for host_vars in ({"orchc_agent": True}, {"orchc_agent": False}):
        server = make_sshd()
        host = ssh_host(server, "h1", tmp_path, **host_vars)
        plan = plan_of(host)

        async def scenario(server: SshServer, host: Host, plan: Plan):
            ssh = transport(plan)
            started = asyncio.Event()
            ctx = context(plan, on_output=lambda stream, text: started.set())
            running = asyncio.create_task(ssh.execute(host, RunAction(command="echo started; sleep 30"), ctx))
            await started.wait()
            server.kill_connections()
            lost = await running
            after = await ssh.execute(host, RunAction(command="echo again"), context(plan))
            await ssh.close()
            return lost, after

        lost, after = asyncio.run(scenario(server, host, plan))
        assert lost.status == "failed", host_vars
        assert lost.message.startswith("connection to h1 lost during run:"), lost.message
        assert lost.message.endswith("the next action reconnects")
        assert (after.status, after.stdout) == ("changed", "again\n")
