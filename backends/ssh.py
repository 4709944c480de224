"""The native SSH transport: `run`, `copy` and `template` actions on hosts with `connection: ssh`.

One connection per host, opened on first use (at most `--forks` opening at
once) and kept for the whole run; a jump host (ProxyJump) is one connection
too, shared by the hosts behind it. Commands go to a persistent agent on the
host (`backends/agent.py`) when it has Python, or to plain exec channels when
it hasn't; files go over SFTP. A host that cannot be reached gives
`unreachable`; a connection that breaks under a running action fails that
action, and the next action on the host opens a new connection. What the
actions do and report is the same as on local hosts (`transport_native`).

Inventory variables read here, besides the Host's address, port and user:
`ansible_ssh_private_key_file`, `orchc_known_hosts` (the known_hosts file,
unless the run gives `--known-hosts`; default `~/.ssh/known_hosts`),
`ProxyJump`/`-J` and `ProxyCommand` in `ansible_ssh_common_args` or
`ansible_ssh_extra_args` (see `ssh_connect`),
`ansible_python_interpreter` (the agent's interpreter, default `python3`),
`orchc_agent: false` (never start the agent), `ansible_become` and
`ansible_become_user` (default root).
"""

from __future__ import annotations

import asyncio

from orchc.backends.ssh_asyncssh import asyncssh
from orchc.backends.ssh_connect import Endpoint, KnownHostsFiles, Unreachable, connect
from orchc.backends.ssh_files import SshFiles
from orchc.backends.ssh_session import ConnectionLost, HostLink
from orchc.backends.transport import (ActionContext, ActionResult, Transport, TransportOptions, become_user_of,
                                      inventory_flag)
from orchc.backends.transport_native import (NOT_RUN_IN_CHECK_MODE, FileWrite, MissingSecret, command_result,
                                             missing_secret, put_file, with_secrets)
from orchc.plan import Action, CopyAction, Host, Plan, RunAction, TemplateAction

# Errors that mean the connection is gone, whichever layer noticed first.
_CONNECTION_ERRORS = (ConnectionLost, asyncssh.DisconnectError, asyncssh.ChannelOpenError, asyncssh.SFTPConnectionLost, ConnectionError)


class SshTransport(Transport):
    name = "ssh"

    def __init__(self, plan: Plan, options: TransportOptions) -> None:
        super().__init__(plan, options)
        self._links: dict[str, HostLink] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._connect_slots = asyncio.Semaphore(max(1, options.forks))
        self._known_hosts = KnownHostsFiles()
        self._timeouts = {task.id: task.timeout for task in plan.tasks}
        self._jump_links: dict[tuple[Endpoint, ...], asyncssh.SSHClientConnection] = {}  # by route to them
        self._opening_jumps = asyncio.Lock()

    async def execute(self, host: Host, action: Action, ctx: ActionContext) -> ActionResult:
        try:
            link = await self._link(host)
        except Unreachable as exc:
            return ActionResult("unreachable", message=str(exc))
        try:
            return await self._perform(link, host, action, ctx)
        except _CONNECTION_ERRORS as exc:
            self._forget(host.name, link)
            reason = str(exc) or type(exc).__name__
            return ActionResult(
                "failed", message=f"connection to {host.name} lost during {action.kind}: {reason}; the next action reconnects"
            )
        except MissingSecret as exc:
            return missing_secret(exc)

    async def _perform(self, link: HostLink, host: Host, action: Action, ctx: ActionContext) -> ActionResult:
        become_user = become_user_of(host, ctx)
        check_mode = self.options.check_mode
        if isinstance(action, RunAction):
            if check_mode:
                return ActionResult("ok", message=NOT_RUN_IN_CHECK_MODE)
            command = with_secrets(action.command, ctx.secrets)
            outcome = await link.run(
                ["/bin/sh", "-c", command], become_user, dict(ctx.env), self._timeouts.get(ctx.task_id), ctx.on_output
            )
            return command_result(outcome, become_user)
        if isinstance(action, (CopyAction, TemplateAction)):
            return await put_file(SshFiles(link, become_user), FileWrite.of(action, ctx.secrets), check_mode)
        return ActionResult("failed", message=f"the ssh transport does not run {action.kind!r} actions (the ansible transport does)")

    async def _link(self, host: Host) -> HostLink:
        """The host's open connection; opens one (again, after a loss) when there is none."""
        link = self._links.get(host.name)
        if link is not None and not link.closed:
            return link
        async with self._opening.setdefault(host.name, asyncio.Lock()):
            link = self._links.get(host.name)
            if link is None or link.closed:
                async with self._connect_slots:
                    link = await self._open(host)
                self._links[host.name] = link
            return link

    async def _open(self, host: Host) -> HostLink:
        endpoint = Endpoint.of(host, self.options)
        conn = await connect(endpoint, self.options, self._known_hosts, await self._tunnel(endpoint.jumps))
        python = None
        if inventory_flag(host.vars.get("orchc_agent", True)):
            interpreter = str(host.vars.get("ansible_python_interpreter", "python3"))
            python = "python3" if interpreter.startswith("auto") else interpreter
        try:
            return await HostLink.open(conn, endpoint.user, python)
        except (asyncssh.Error, OSError) as exc:
            conn.close()
            raise Unreachable(f"connected, but could not start a session: {exc}") from exc

    async def _tunnel(self, jumps: tuple[Endpoint, ...]) -> asyncssh.SSHClientConnection | None:
        """The connection to the last of `jumps`, through the ones before it; each opened once and shared."""
        tunnel = None
        async with self._opening_jumps:
            for k, jump in enumerate(jumps):
                route = jumps[:k + 1]
                conn = self._jump_links.get(route)
                if conn is None or conn.is_closed():
                    try:
                        conn = await connect(jump, self.options, self._known_hosts, tunnel)
                    except Unreachable as exc:
                        raise Unreachable(f"{jump.host}: {exc}") from exc
                    self._jump_links[route] = conn
                tunnel = conn
        return tunnel

    def _forget(self, host_name: str, link: HostLink) -> None:
        if self._links.get(host_name) is link:
            del self._links[host_name]
        link.close()

    async def close(self) -> None:
        for link in self._links.values():
            link.close()
        await asyncio.gather(*(link.conn.wait_closed() for link in self._links.values()), return_exceptions=True)
        self._links.clear()
        for conn in reversed(self._jump_links.values()):  # the last hop of a route first
            conn.close()
            await conn.wait_closed()
        self._jump_links.clear()
