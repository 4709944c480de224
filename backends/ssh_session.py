"""One SSH connection to a host, as the actions layer's connector (`HostLink`).

Commands go through the persistent agent, or plain exec channels:
`AgentSession` starts `backends/agent.py` once per connection and sends it
every command as one JSON line; replies are matched to commands by id, so
commands run concurrently and are pipelined over a single channel. Hosts
without a Python interpreter get an `ExecSession`, which opens one exec channel
per command. Both give the same `CommandResult`, so callers don't care which.
Files go over SFTP (`ssh_files`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shlex
import signal
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, Protocol

from orchc.backends import ssh_files
from orchc.backends.connector import Command, CommandResult, Found
from orchc.backends.ssh_asyncssh import asyncssh
from orchc.backends.transport import OutputSink

# Reads the agent's length-prefixed source from stdin and runs it; stdin then carries requests.
BOOTSTRAP = "import sys;exec(sys.stdin.read(int(sys.stdin.readline())))"
AGENT_PROTOCOL = 1
AGENT_START_TIMEOUT = 15.0
KILL_WAIT = 5.0  # how long a cancelled command may take to report its end
PID_MARK = "orchc-pid:"  # an exec channel's first line: the remote shell's pid
# Exec channels open at once while the agent starts; more commands wait for the agent. OpenSSH's server
# allows 10 sessions per connection (MaxSessions): the agent, SFTP and these stay below.
EARLY_EXEC_CHANNELS = 4


class ConnectionLost(Exception):
    """The connection broke while a command was running; the command's outcome is unknown."""


class CommandSession(Protocol):
    @property
    def kind(self) -> str: ...  # "agent" or "exec": where the commands go now

    async def run(self, command: Command, on_output: OutputSink | None) -> CommandResult: ...

    def close(self) -> None: ...


async def _line_starting(stream: asyncssh.SSHReader[str], prefix: str) -> str | None:
    """The first line that starts with `prefix`, or None at the end of the stream.

    Login scripts of the remote shell (~/.bashrc) may print lines before it."""
    while line := await stream.readline():
        if line.startswith(prefix):
            return line
    return None


def agent_source() -> str:
    return resources.files("orchc.backends").joinpath("agent.py").read_text(encoding="ascii")


@dataclass
class _Pending:
    on_output: OutputSink | None
    done: asyncio.Future[CommandResult]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)


class AgentSession:
    """The controller's side of one agent: a reader task dispatches replies to waiting commands."""

    kind = "agent"

    def __init__(self, process: asyncssh.SSHClientProcess[str]) -> None:
        self._process = process
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._reader = asyncio.create_task(self._read_replies())

    @classmethod
    async def start(cls, conn: asyncssh.SSHClientConnection, python: str) -> AgentSession | None:
        """Start the agent with `python`; None when the host cannot run it (no such interpreter)."""
        process = await conn.create_process(f"{shlex.quote(python)} -I -S -u -c {shlex.quote(BOOTSTRAP)}")
        source = agent_source()
        try:
            # A missing interpreter's channel may be closed already: its exit came with the exec reply.
            process.stdin.write(f"{len(source)}\n{source}")
            hello = await asyncio.wait_for(_line_starting(process.stdout, '{"ready":'), AGENT_START_TIMEOUT)
            started = hello is not None and json.loads(hello).get("protocol") == AGENT_PROTOCOL
        except (TimeoutError, BrokenPipeError, ValueError):
            started = False
        if not started:
            process.close()
            return None
        return cls(process)

    async def _read_replies(self) -> None:
        try:
            async for line in self._process.stdout:
                self._dispatch(json.loads(line))
        except (asyncssh.Error, OSError, ValueError):
            pass
        lost = ConnectionLost("the connection closed while the command was running")
        for pending in self._pending.values():
            if not pending.done.done():
                pending.done.set_exception(lost)

    def _dispatch(self, reply: dict[str, Any]) -> None:
        pending = self._pending.get(reply["id"])
        if pending is None or pending.done.done():
            return
        if "stream" in reply:
            (pending.stdout if reply["stream"] == "stdout" else pending.stderr).append(reply["data"])
            if pending.on_output:
                pending.on_output(reply["stream"], reply["data"])
        elif "error" in reply:
            pending.done.set_result(CommandResult(rc=None, error=reply["error"]))
        else:
            pending.done.set_result(
                CommandResult(
                    rc=reply["exit"],
                    stdout="".join(pending.stdout),
                    stderr="".join(pending.stderr),
                    signal=reply["signal"],
                    timed_out=reply["timed_out"],
                )
            )

    def _send(self, request: dict[str, Any]) -> None:
        if self._reader.done():
            raise ConnectionLost("the connection closed before the command started")
        self._process.stdin.write(json.dumps(request) + "\n")

    async def run(self, command: Command, on_output: OutputSink | None) -> CommandResult:
        command_id = next(self._ids)
        pending = _Pending(on_output, asyncio.get_running_loop().create_future())
        self._pending[command_id] = pending
        try:
            self._send(
                {"op": "run", "id": command_id, "argv": command.argv, "env": command.env, "timeout": command.timeout}
            )
            return await asyncio.shield(pending.done)
        except asyncio.CancelledError:
            if not self._reader.done():
                self._send({"op": "kill", "id": command_id})
                await asyncio.wait([pending.done], timeout=KILL_WAIT)
            raise
        finally:
            del self._pending[command_id]

    def close(self) -> None:
        self._process.close()
        self._reader.cancel()


# SIGTERM the process group PGID, give it 2 s to end, then SIGKILL what is left.
_KILL_GROUP = (
    "kill -TERM -- -PGID 2>/dev/null || exit 0; i=0; "
    "while [ $i -lt 20 ] && kill -0 -- -PGID 2>/dev/null; do sleep 0.1; i=$((i+1)); done; "
    "kill -KILL -- -PGID 2>/dev/null; exit 0"
)


class ExecSession:
    """One exec channel per command, for hosts where the agent cannot run.

    The remote shell prints its pid first: sshd makes it a session leader, so
    its pid is the process group to kill on timeout or cancellation.
    """

    kind = "exec"

    def __init__(self, conn: asyncssh.SSHClientConnection) -> None:
        self._conn = conn

    async def run(self, command: Command, on_output: OutputSink | None) -> CommandResult:
        script = f"echo {PID_MARK}$$; " + "".join(f"export {k}={shlex.quote(v)}; " for k, v in command.env.items())
        script += "exec " + shlex.join(command.argv)
        try:
            process = await self._conn.create_process(script)
        except (asyncssh.Error, OSError) as exc:
            raise ConnectionLost(str(exc)) from exc
        pid = (await _line_starting(process.stdout, PID_MARK) or PID_MARK).removeprefix(PID_MARK).strip()
        try:
            return await asyncio.wait_for(self._collect(process, on_output), command.timeout)
        except TimeoutError:
            await self._kill(pid)
            return CommandResult(rc=None, timed_out=True)
        except asyncio.CancelledError:
            await self._kill(pid)
            raise

    async def _collect(self, process: asyncssh.SSHClientProcess[str], on_output: OutputSink | None) -> CommandResult:
        async def pump(stream: asyncssh.SSHReader[str], name: Literal["stdout", "stderr"], into: list[str]) -> None:
            while chunk := await stream.read(65536):
                into.append(chunk)
                if on_output:
                    on_output(name, chunk)

        stdout: list[str] = []
        stderr: list[str] = []
        await asyncio.gather(pump(process.stdout, "stdout", stdout), pump(process.stderr, "stderr", stderr))
        completed = await process.wait()
        if completed.exit_status is None and completed.exit_signal is None:
            raise ConnectionLost("the connection closed while the command was running")
        signal_name = completed.exit_signal[0] if completed.exit_signal else None
        return CommandResult(
            rc=completed.exit_status if completed.exit_status != -1 else None,
            stdout="".join(stdout),
            stderr="".join(stderr),
            signal=None if signal_name is None else _signal_number(signal_name),
        )

    async def _kill(self, pid: str) -> None:
        if not pid.isdigit():
            return
        try:
            await self._conn.run(_KILL_GROUP.replace("PGID", pid), timeout=KILL_WAIT)
        except (TimeoutError, asyncssh.Error, OSError):
            pass

    def close(self) -> None:
        pass


class StartingAgent:
    """The agent, once it has started; until then (and for good, if it cannot start) exec channels.

    Starting the agent costs a Python start-up on the host, a tenth of a second or more: the first commands
    of a run do not wait for it."""

    def __init__(self, conn: asyncssh.SSHClientConnection, python: str, fallback: ExecSession) -> None:
        self._fallback = fallback
        self._early = 0  # commands on exec channels while the agent starts
        self._starting = asyncio.create_task(AgentSession.start(conn, python))

    @property
    def _agent(self) -> AgentSession | None:
        """The agent, once it has started (None: not yet, or it could not)."""
        starting = self._starting
        if not starting.done() or starting.cancelled() or starting.exception() is not None:
            return None
        return starting.result()

    @property
    def kind(self) -> str:
        agent = self._agent
        return "exec" if agent is None else agent.kind

    async def ready(self) -> None:
        """Until the agent started or could not."""
        await asyncio.wait([self._starting])

    async def run(self, command: Command, on_output: OutputSink | None) -> CommandResult:
        if not self._starting.done() and self._early >= EARLY_EXEC_CHANNELS:
            await self.ready()
        if self._starting.done():
            return await (self._agent or self._fallback).run(command, on_output)
        self._early += 1
        try:
            return await self._fallback.run(command, on_output)
        finally:
            self._early -= 1

    def close(self) -> None:
        self._starting.cancel()
        agent = self._agent
        if agent is not None:
            agent.close()


def _signal_number(name: str) -> int | None:
    try:
        return int(signal.Signals[f"SIG{name}"])
    except KeyError:
        return None


class HostLink:
    """One open connection to a host: its command session, its SFTP client (opened on first use)."""

    def __init__(self, conn: asyncssh.SSHClientConnection, commands: CommandSession, login_user: str) -> None:
        self.conn = conn
        self.commands = commands
        self.login_user = login_user
        self._sftp: asyncssh.SFTPClient | None = None
        self._sftp_lock = asyncio.Lock()

    @classmethod
    def open(cls, conn: asyncssh.SSHClientConnection, login_user: str, python: str | None) -> HostLink:
        """Commands go over exec channels, and to the agent started with `python` (None: don't) once it is up."""
        exec_session = ExecSession(conn)
        return cls(conn, StartingAgent(conn, python, exec_session) if python else exec_session, login_user)

    @property
    def closed(self) -> bool:
        return self.conn.is_closed()

    async def sftp(self) -> asyncssh.SFTPClient:
        async with self._sftp_lock:
            if self._sftp is None:
                self._sftp = await self.conn.start_sftp_client()
            return self._sftp

    async def run(self, command: Command, on_output: OutputSink | None = None) -> CommandResult:
        return await self.commands.run(command, on_output)

    async def stat(self, path: str, user: str | None) -> Found:
        return await ssh_files.probe(self, path, user)

    async def put(self, path: str, data: bytes, mode: int, owner: str | None, user: str | None) -> None:
        await ssh_files.put(self, path, data, mode, owner, user)

    def close(self) -> None:
        self.commands.close()
        self.conn.close()
