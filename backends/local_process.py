"""One command on the controller, watched by the event loop itself: no thread per command.

asyncio's subprocesses on Python 3.11 start a thread per child to wait for its
exit, and pass every byte through a transport, a protocol and a stream
reader: about a millisecond of CPU and a thread hand-off per command, as much
as `sh -c` itself costs. Here the child's two pipes are added to the loop's
selector, and when they close the child has nearly always exited; when it
has not, a pidfd (Linux's "process file descriptor", readable once the
process has exited) joins them, or where there is none the exit is awaited
in the loop's thread pool.

The command runs in a session of its own, so that a timeout or a second Ctrl-C
can kill its whole process group: cancelling `run_child` sends SIGTERM to the
group, SIGKILL after `KILL_GRACE_SECONDS`, and SIGKILL again to what is left
once the leader is gone.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from orchc.backends.transport import OutputSink

KILL_GRACE_SECONDS = 3.0
READ_SIZE = 65536


@dataclass
class ChildEnd:
    """How the child ended: its wait status as `subprocess` gives it (negative: the signal) and its output."""

    returncode: int
    stdout: str
    stderr: str


class _Pipe:
    """One output pipe of the child, read whenever the selector says it is readable."""

    def __init__(self, name: Literal["stdout", "stderr"], fd: int, sink: OutputSink | None) -> None:
        self.name = name
        self.fd = fd
        self.sink = sink
        self.parts: list[str] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def read(self) -> bool:
        """Take what is there; False at the end of the stream."""
        try:
            chunk = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return True
        text = self._decoder.decode(chunk, final=not chunk)
        if text:
            self.parts.append(text)
            if self.sink is not None:
                self.sink(self.name, text)
        return bool(chunk)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class _Watch:
    """The loop's view of one child: done when both pipes are at their end and it has exited.

    A child has nearly always exited by the time its pipes close, so its exit is watched (a pidfd in
    the selector) only when it has not, or when it is to be killed."""

    def __init__(self, process: subprocess.Popen[bytes], on_output: OutputSink | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.process = process
        self.exited: asyncio.Future[None] = self.loop.create_future()
        self.done: asyncio.Future[None] = self.loop.create_future()
        assert process.stdout is not None and process.stderr is not None  # PIPE, both
        self.pipes = [
            _Pipe("stdout", process.stdout.fileno(), on_output),
            _Pipe("stderr", process.stderr.fileno(), on_output),
        ]
        self._open = {pipe.fd for pipe in self.pipes}
        for pipe in self.pipes:
            os.set_blocking(pipe.fd, False)
            self.loop.add_reader(pipe.fd, self._readable, pipe)
        self._pidfd: int | None = None
        self._exit_watched = False

    def _readable(self, pipe: _Pipe) -> None:
        if pipe.read():
            return
        self.loop.remove_reader(pipe.fd)
        self._open.discard(pipe.fd)
        if not self._open:
            if self.process.poll() is None:
                self.watch_exit()
            else:
                self._exited()

    def watch_exit(self) -> None:
        if self._exit_watched or self.exited.done():
            return
        self._exit_watched = True
        self._pidfd = _pidfd(self.process.pid)
        if self._pidfd is not None:
            self.loop.add_reader(self._pidfd, self._exit_seen)
        else:
            self.loop.run_in_executor(None, self.process.wait).add_done_callback(lambda _: self._exit_seen())

    def _exit_seen(self) -> None:
        if self._pidfd is not None:
            self.loop.remove_reader(self._pidfd)
        self.process.wait()  # it has exited: this only collects the status
        self._exited()

    def _exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)
        if not self._open and not self.done.done():
            self.done.set_result(None)

    async def kill_group(self) -> None:
        """SIGTERM the command's process group, SIGKILL it if it lingers, and what is left once it is gone."""
        self.watch_exit()
        for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, None)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                await asyncio.wait_for(asyncio.shield(self.exited), wait)
                break
            except TimeoutError:
                continue
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        for fd in self._open:
            self.loop.remove_reader(fd)
        if self._pidfd is not None:
            if not self.exited.done():
                self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()


def _pidfd(pid: int) -> int | None:
    """A pidfd of the child, or None where the system has none (not Linux, or a kernel before 5.3)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


async def run_child(argv: list[str], env: Mapping[str, str], cwd: str | None, on_output: OutputSink | None) -> ChildEnd:
    """Run `argv` (with `env` added to this process's environment) to its end; OSError if it cannot start."""
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        cwd=cwd,
        env={**os.environ, **env} if env else None,
    )
    watch = _Watch(process, on_output)
    try:
        await watch.done
    except asyncio.CancelledError:
        await watch.kill_group()
        raise
    finally:
        watch.close()
    stdout, stderr = (pipe.text for pipe in watch.pipes)
    return ChildEnd(process.returncode, stdout, stderr)
