"""What a connection (`local`, `ssh`) offers the actions layer: a few primitives on one host.

A connector runs a command, inspects a file (`stat`), and puts bytes at a path
atomically with a mode and an owner; each as the login user, or as another
user (`become`). What `run`, `copy` and `template` mean is built on these once,
for every connector, in `actions`. A connector reports a file it cannot inspect
or write with `FileActionError`, whose message says why, for people.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Literal, Protocol

from orchc.backends.transport import OutputSink


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None  # the host stops the command after it, where the connector can make it


def as_user(argv: list[str], env: dict[str, str], user: str | None) -> Command:
    """The command run as `user` through `sudo -n` (None: as the login user). sudo starts from a clean
    environment: the command's goes through `env`."""
    if user is None:
        return Command(argv=argv, env=env)
    return Command(argv=["sudo", "-n", "-u", user, "--", "env", *(f"{k}={v}" for k, v in env.items()), *argv])


@dataclass
class CommandResult:
    """How a command ended on the host, as the connector saw it."""

    rc: int | None  # None when a signal ended the command, or it could not start
    stdout: str = ""
    stderr: str = ""
    signal: int | None = None
    timed_out: bool = False
    error: str = ""  # why the command could not start


class FileActionError(Exception):
    """The file could not be checked or written; the message says why."""


@dataclass
class FileState:
    """A regular file found at a path."""

    mode: int
    user: str
    group: str
    uid: str
    gid: str
    sha256: str

    def owned_by(self, owner: str) -> bool:
        """Whether `owner` ("user", "user:group", names or numbers, as chown takes it) already holds."""
        user, _, group = owner.partition(":")
        return user in (self.user, self.uid) and (not group or group in (self.group, self.gid))


# What a connector finds at a path: a file, nothing (its folder exists), or something in the way.
Found = FileState | Literal["absent", "no folder", "not a file"]


class Connector(Protocol):
    """One host's primitives. `user` is whom to act as, None for the login user."""

    @property
    def login_user(self) -> str: ...

    async def run(self, command: Command, on_output: OutputSink | None) -> CommandResult:
        """Run the command in a process group of its own; cancelling the call kills the group."""

    async def stat(self, path: str, user: str | None) -> Found: ...

    async def put(self, path: str, data: bytes, mode: int, owner: str | None, user: str | None) -> None:
        """Replace `path` with `data` atomically: a temp file beside it gets `mode` and `owner` (else it is
        the writer's), then is renamed over it."""


def missing_folder(path: str) -> FileActionError:
    return FileActionError(f"folder {posixpath.dirname(path) or '.'} does not exist on the host; create it first")


def permission_denied(path: str, user: str) -> FileActionError:
    return FileActionError(
        f"permission denied writing {path} as {user}; add `become` to the task, or ansible_become: true to the host"
    )
