"""Building Plans and transports for the SSH transport's tests (hosts on the sshd fixture's servers)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from orchc.backends.connection import SshOptions
from orchc.backends.ssh import SshTransport
from orchc.backends.transport import ActionContext, ActionResult, TransportOptions
from orchc.plan import Action, Host, Plan, SourceSpan, Task
from sshd import SshServer

SPAN = SourceSpan(file="test.orch", line=1, column=1, end_line=1, end_column=1)


def ssh_host(server: SshServer, name: str, root: Path, **extra_vars: Any) -> Host:
    root.mkdir(parents=True, exist_ok=True)
    return Host(
        name=name,
        address=server.address,
        port=server.port,
        user=server.user,
        vars={"orchc_agent": True, **server.host_vars(root), **extra_vars},  # the agent, whatever the Plan holds
    )


def plan_of(*hosts: Host, timeout: float | None = None) -> Plan:
    task = Task(id="svc.task", service="svc", name="task", timeout=timeout, source=SPAN)
    return Plan(root=".", hosts=list(hosts), roles=[], tasks=[task], instances=[])


def context(plan: Plan, **fields: Any) -> ActionContext:
    return ActionContext(**{"plan": plan, "instance_id": "svc.task@h", "task_id": "svc.task", "secrets": {}, **fields})


def transport(plan: Plan, forks: int = 50, check_mode: bool = False, **ssh_options: Any) -> SshTransport:
    """The SSH transport of a run with these options (`TransportOptions`'s, else `SshOptions`')."""
    return SshTransport(plan, TransportOptions(forks=forks, check_mode=check_mode, ssh=SshOptions(**ssh_options)))


def run_actions(
    host: Host,
    *actions: Action,
    timeout: float | None = None,
    context_fields: dict[str, Any] | None = None,
    **options: Any,
) -> list[ActionResult]:
    """Run actions one after the other on one host with a fresh transport, then close it."""
    plan = plan_of(host, timeout=timeout)

    async def scenario() -> list[ActionResult]:
        ssh = transport(plan, **options)
        ctx = context(plan, **(context_fields or {}))
        try:
            return [await ssh.execute(host, action, ctx) for action in actions]
        finally:
            await ssh.close()

    return asyncio.run(scenario())
