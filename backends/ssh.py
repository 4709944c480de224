"""The native SSH transport: `run`, `copy` and `template` actions on hosts with `connection: ssh`.

One connection per host, opened on first use (at most `--forks`, and at most
`MAX_OPENING`, opening at once) and kept for the whole run; a jump host (ProxyJump) is one connection
too, shared by the hosts behind it. Each connection is the connector
(`ssh_session.HostLink`) on which the actions layer (`actions`) runs the
actions, as it does on local hosts. Commands go to a persistent agent on the
host (`backends/agent.py`) when it has Python and enough to do (`AGENT_PAYS_OFF`),
or to plain exec channels (also while the agent starts); files go over SFTP. A host that cannot be reached gives
`unreachable`; a connection that breaks under a running action fails that
action, and the next action on the host opens a new connection. How each host
is reached is its `ConnectionSpec` (`connection`).
"""

from __future__ import annotations

import asyncio
from collections import Counter

from orchc.backends.actions import NativeTransport
from orchc.backends.ssh_asyncssh import asyncssh
from orchc.backends.ssh_connect import Endpoint, KnownHostsFiles, Unreachable, connect
from orchc.backends.ssh_session import ConnectionLost, HostLink
from orchc.backends.transport import ActionContext, ActionResult, TransportOptions
from orchc.plan import Action, Host, Plan

# The agent costs a Python start-up on the host, as much as a dozen commands over exec channels: a host
# with fewer actions in the Plan than this gets exec channels only (unless `orchc_agent: true`).
AGENT_PAYS_OFF = 12

# Handshakes are CPU work on the controller (and on a busy server): beyond a few hundred at once each only
# takes longer, until they all miss the connect timeout together (1000 at once against one sshd on 2 cores).
MAX_OPENING = 200

# Errors that mean the connection is gone, whichever layer noticed first.
_CONNECTION_ERRORS = (
    ConnectionLost,
    asyncssh.DisconnectError,
    asyncssh.ChannelOpenError,
    asyncssh.SFTPConnectionLost,
    ConnectionError,
)


class SshTransport(NativeTransport):
    name = "ssh"

    def __init__(self, plan: Plan, options: TransportOptions) -> None:
        super().__init__(plan, options)
        self._links: dict[str, HostLink] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._connect_slots = asyncio.Semaphore(max(1, min(options.forks, MAX_OPENING)))
        self._known_hosts = KnownHostsFiles()
        self._jump_links: dict[tuple[Endpoint, ...], asyncssh.SSHClientConnection] = {}  # by route to them
        self._opening_jumps = asyncio.Lock()
        self._planned_actions = Counter[str]()
        for inst in plan.instances:
            if inst.host is not None:
                self._planned_actions[inst.host] += len(inst.actions)

    async def execute(self, host: Host, action: Action, ctx: ActionContext) -> ActionResult:
        try:
            link = await self._link(host)
        except Unreachable as exc:
            return ActionResult("unreachable", message=str(exc))
        try:
            return await self.perform(link, host, action, ctx)
        except _CONNECTION_ERRORS as exc:
            self._forget(host.name, link)
            reason = str(exc) or type(exc).__name__
            return ActionResult(
                "failed",
                message=f"connection to {host.name} lost during {action.kind}: {reason}; the next action reconnects",
            )

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
        spec = self.spec(host)
        endpoint = Endpoint.of(spec, self.options.ssh)
        conn = await connect(endpoint, self.options.ssh, self._known_hosts, await self._tunnel(endpoint.jumps))
        wants_agent = spec.agent_always or self._planned_actions[host.name] >= AGENT_PAYS_OFF
        return HostLink.open(conn, endpoint.user, spec.agent_python if wants_agent else None)

    async def _tunnel(self, jumps: tuple[Endpoint, ...]) -> asyncssh.SSHClientConnection | None:
        """The connection to the last of `jumps`, through the ones before it; each opened once and shared."""
        tunnel = None
        async with self._opening_jumps:
            for k, jump in enumerate(jumps):
                route = jumps[: k + 1]
                conn = self._jump_links.get(route)
                if conn is None or conn.is_closed():
                    try:
                        conn = await connect(jump, self.options.ssh, self._known_hosts, tunnel)
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
