"""orchc's remote agent: runs every command of a run on one host, over one SSH channel.

This file is not imported by orchc. Its source is sent to the target and run
there by `python3 -u -c BOOTSTRAP` (see `backends/ssh_session.py`). It must
stay a single stdlib-only module that runs on Python 3.6 and later, written in
ASCII only (the bootstrap reads it by character count). The controller sends
nothing after the source until the agent says it is ready, so that no request
is left in the bootstrap's buffers.

Protocol: JSON, one object per line. Requests arrive on stdin:

    {"op": "run", "id": 7, "argv": ["/bin/sh", "-c", "echo hi"],
     "env": {"K": "V"}, "cwd": null, "timeout": 30.0}
    {"op": "kill", "id": 7}

Replies go to stdout; the first line is {"ready": true, "protocol": 1}. Then,
for each command, any number of output chunks and exactly one end:

    {"id": 7, "stream": "stdout", "data": "hi\\n"}
    {"id": 7, "exit": 0, "signal": null, "timed_out": false, "killed": false}
    {"id": 7, "error": "No such file or directory: '/nope'"}   (could not start)

Commands run concurrently, each in a process group of its own, so that a
timeout or a kill stops everything the command started: SIGTERM to the group,
SIGKILL to what is left once its leader is gone or after KILL_GRACE seconds.
When stdin closes (the controller went away, or the connection broke) every
running command is killed and the agent exits.

One thread does it all: a selector waits on stdin, the commands' pipes and a
pipe that SIGCHLD writes to (`signal.set_wakeup_fd`). What one wake-up
produced goes out in one write, and output waits up to OUTPUT_DELAY for more
(or for its command's end) before it is sent: a short command's output and
its end travel in one SSH packet, and the controller wakes once per command.
"""

import codecs
import json
import os
import selectors
import signal
import subprocess
import time

PROTOCOL = 1
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
READ_SIZE = 65536
DRAIN_ROUNDS = 8  # selector passes gathered into one write, at most
OUTPUT_DELAY = 0.02  # seconds output may wait for more, or for its command's end, before it is sent


class Command:
    """One running command: its process, its two pipes, and how it is being stopped."""

    def __init__(self, command_id, process, timeout):
        self.id = command_id
        self.process = process
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.pipes = {
            pipe.fileno(): (name, pipe, codecs.getincrementaldecoder("utf-8")("replace"))
            for name, pipe in (("stdout", process.stdout), ("stderr", process.stderr))
        }
        self.exited = False
        self.timed_out = False
        self.killed = False
        self.stopping = False  # SIGTERM sent to the group
        self.kill_at = None  # when SIGKILL follows it

    @property
    def done(self):
        return self.exited and not self.pipes

    def signal_group(self, sig):
        try:
            os.killpg(self.process.pid, sig)
        except OSError:
            pass

    def stop(self):
        """SIGTERM the group now, SIGKILL it once the leader is gone or the grace period is over."""
        if self.exited:
            self.signal_group(signal.SIGKILL)
        elif not self.stopping:
            self.stopping = True
            self.signal_group(signal.SIGTERM)
            self.kill_at = time.monotonic() + KILL_GRACE

    def end(self):
        rc = self.process.returncode
        return {
            "id": self.id,
            "exit": rc if rc >= 0 else None,
            "signal": -rc if rc < 0 else None,
            "timed_out": self.timed_out,
            "killed": self.killed,
        }


class Agent:
    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.commands = {}  # id -> Command
        self.outbox = []  # messages not sent yet
        self.urgent = False  # the outbox holds more than output: send it now
        self.output_since = None  # when the oldest output in the outbox was read
        self.pending = b""  # a request line not complete yet
        self.stdin_open = True
        self.wake_read, wake_write = os.pipe()
        for fd in (self.wake_read, wake_write):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a handler, so that the wake-up fd is written
        self.selector.register(0, selectors.EVENT_READ, None)
        self.selector.register(self.wake_read, selectors.EVENT_READ, None)

    def send(self, message):
        self.outbox.append(message)
        self.urgent = True

    def send_output(self, command_id, stream, text):
        """Output waits up to OUTPUT_DELAY: a short command's output and its end go out in one write."""
        last = self.outbox[-1] if self.outbox else None
        if last is not None and last.get("id") == command_id and last.get("stream") == stream:
            last["data"] += text
        else:
            self.outbox.append({"id": command_id, "stream": stream, "data": text})
        if self.output_since is None:
            self.output_since = time.monotonic()

    def flush(self):
        if not self.outbox:
            return
        if not self.urgent and time.monotonic() < (self.output_since or 0.0) + OUTPUT_DELAY:
            return
        data = "".join(json.dumps(message, separators=(",", ":")) + "\n" for message in self.outbox).encode("utf-8")
        self.outbox = []
        self.urgent = False
        self.output_since = None
        while data:
            data = data[os.write(1, data) :]

    def serve(self):
        self.send({"ready": True, "protocol": PROTOCOL})
        self.flush()
        while self.stdin_open:
            events = self.selector.select(self.next_timer())
            for _ in range(DRAIN_ROUNDS):  # what is ready already goes out in the same write
                for key, _ in events:
                    self.handle(key)
                events = self.selector.select(0)
                if not events:
                    break
            self.timers()
            self.flush()
        self.shutdown()

    def handle(self, key):
        if key.fd == 0:
            self.read_requests()
        elif key.fd == self.wake_read:
            self.reap()
        else:
            self.read_output(key.data, key.fd)

    # --- requests ---------------------------------------------------------------------

    def read_requests(self):
        chunk = os.read(0, READ_SIZE)
        if not chunk:
            self.stdin_open = False
            return
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        for line in lines:
            if line.strip():
                request = json.loads(line.decode("utf-8"))
                (self.run if request["op"] == "run" else self.kill)(request)

    def run(self, request):
        command_id = request["id"]
        env = None
        if request.get("env"):
            env = dict(os.environ)
            env.update(request["env"])
        try:
            process = subprocess.Popen(
                request["argv"],
                cwd=request.get("cwd") or None,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            self.send({"id": command_id, "error": str(exc)})
            return
        command = Command(command_id, process, request.get("timeout"))
        self.commands[command_id] = command
        for fd in command.pipes:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ, command)
        self.reap()  # it may have ended already, its SIGCHLD taken by an earlier wake-up

    def kill(self, request):
        command = self.commands.get(request["id"])
        if command is not None:
            command.killed = True
            command.stop()

    # --- what the commands do -----------------------------------------------------------

    def read_output(self, command, fd):
        if fd not in command.pipes:  # closed by an earlier event of the same wake-up (its number may be reused)
            return
        try:
            chunk = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        stream, pipe, decoder = command.pipes[fd]
        text = decoder.decode(chunk, final=not chunk)
        if text:
            self.send_output(command.id, stream, text)
        if not chunk:
            self.selector.unregister(fd)
            del command.pipes[fd]
            pipe.close()
            self.finish(command)

    def reap(self):
        try:
            while os.read(self.wake_read, READ_SIZE):
                pass
        except BlockingIOError:
            pass
        for command in list(self.commands.values()):
            if not command.exited and command.process.poll() is not None:
                command.exited = True
                if command.stopping:  # the leader is gone; make sure nothing it started stays behind
                    command.signal_group(signal.SIGKILL)
                self.finish(command)

    def finish(self, command):
        if command.done:
            del self.commands[command.id]
            self.send(command.end())

    def next_timer(self):
        moments = [c.deadline for c in self.commands.values() if c.deadline is not None and not c.stopping]
        moments += [c.kill_at for c in self.commands.values() if c.kill_at is not None]
        if self.output_since is not None:
            moments.append(self.output_since + OUTPUT_DELAY)
        return None if not moments else max(0.0, min(moments) - time.monotonic())

    def timers(self):
        now = time.monotonic()
        for command in list(self.commands.values()):
            if command.deadline is not None and not command.stopping and now >= command.deadline:
                command.timed_out = True
                command.stop()
            elif command.kill_at is not None and now >= command.kill_at:
                command.kill_at = None
                command.signal_group(signal.SIGKILL)

    def shutdown(self):
        """The controller is gone: stop every command, SIGKILL what outlives the grace period."""
        for command in self.commands.values():
            command.stop()
        deadline = time.monotonic() + KILL_GRACE
        while time.monotonic() < deadline and any(c.process.poll() is None for c in self.commands.values()):
            time.sleep(0.05)
        for command in self.commands.values():
            command.signal_group(signal.SIGKILL)


if __name__ == "__main__":
    Agent().serve()
