"""The `local` connection: actions of `connection: local` hosts run on the controller itself.

`LocalConnector` gives the actions layer (`actions`) its primitives on this
machine; what the actions do and report is the same as over SSH.

A command is `/bin/sh -c COMMAND` in a new session, run in the Plan's folder
(`local_process`),
so that a timeout or a second Ctrl-C can kill the whole process group
(SIGTERM, then SIGKILL after a grace period).

Acting as another user (`become`) runs commands through `sudo -n -u USER`, as
over SSH; a file written for another user is given to that user and its group
(unless the action names an owner), which takes orchc running as root.
"""

from __future__ import annotations

import functools
import grp
import hashlib
import os
import pwd
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchc.backends.actions import NativeTransport
from orchc.backends.connector import (
    Command,
    CommandResult,
    FileActionError,
    FileState,
    Found,
    missing_folder,
    permission_denied,
)
from orchc.backends.local_process import run_child
from orchc.backends.transport import ActionContext, ActionResult, OutputSink, TransportOptions
from orchc.plan import Action, Host, Plan


class LocalTransport(NativeTransport):
    name = "local"

    def __init__(self, plan: Plan, options: TransportOptions) -> None:
        super().__init__(plan, options)
        self._connector = LocalConnector(cwd=plan.root if Path(plan.root).is_dir() else None)

    async def execute(self, host: Host, action: Action, ctx: ActionContext) -> ActionResult:
        return await self.perform(self._connector, host, action, ctx)


@dataclass
class LocalConnector:
    """This machine, as the actions layer's connector."""

    cwd: str | None  # where commands run: the Plan's folder, when this machine has it

    @property
    def login_user(self) -> str:
        return _current_user()

    async def run(self, command: Command, on_output: OutputSink | None) -> CommandResult:
        # `command.timeout` is left to the runner, whose cancellation kills the group at the same moment.
        try:
            end = await run_child(command.argv, command.env, self.cwd, on_output)
        except OSError as exc:
            return CommandResult(rc=None, error=str(exc))
        if end.returncode < 0:
            return CommandResult(rc=None, stdout=end.stdout, stderr=end.stderr, signal=-end.returncode)
        return CommandResult(rc=end.returncode, stdout=end.stdout, stderr=end.stderr)

    async def stat(self, path: str, user: str | None) -> Found:
        _may_act_as(user, path)
        file = Path(path)
        try:
            info = file.stat()
            if not stat.S_ISREG(info.st_mode):
                return "not a file"
            digest = _sha256(file)
        except (FileNotFoundError, NotADirectoryError):
            return "absent" if file.parent.is_dir() else "no folder"
        except OSError as exc:
            raise FileActionError(f"cannot inspect {path}: {exc.strerror or exc}") from None
        return FileState(
            mode=info.st_mode & 0o7777,
            user=_name(pwd.getpwuid, info.st_uid),
            group=_name(grp.getgrgid, info.st_gid),
            uid=str(info.st_uid),
            gid=str(info.st_gid),
            sha256=digest,
        )

    async def put(self, path: str, data: bytes, mode: int, owner: str | None, user: str | None) -> None:
        _may_act_as(user, path)
        dest = Path(path)
        owner = owner or (f"{user}:" if user else None)  # as the become user would write it
        temp = None
        try:
            fd, temp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.orchc-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, mode)
            if owner:
                _chown(temp, owner, path)
            os.replace(temp, dest)
        except FileNotFoundError:  # the folder was removed since the stat
            raise missing_folder(path) from None
        except PermissionError:
            raise permission_denied(path, _current_user()) from None
        except OSError as exc:
            raise FileActionError(f"cannot write {path}: {exc.strerror or exc}") from None
        finally:
            if temp is not None:
                Path(temp).unlink(missing_ok=True)  # renamed away, unless something failed


def _may_act_as(user: str | None, path: str) -> None:
    if user is not None and os.geteuid() != 0:
        raise FileActionError(
            f"{path} as {user} (become): on a local host that needs orchc to run as root, or as {user}"
        )


def _chown(path: str, owner: str, dest: str) -> None:
    try:
        os.chown(path, *_owner_ids(owner))
    except (KeyError, OSError) as exc:
        reason = "no such user or group" if isinstance(exc, KeyError) else exc.strerror
        raise FileActionError(f"cannot set owner {owner} of {dest}: {reason}") from None


def _name(lookup: Callable[[int], Any], number: int) -> str:
    """The user or group name of a number, as stat prints it ("UNKNOWN" without one)."""
    try:
        return str(lookup(number)[0])
    except KeyError:
        return "UNKNOWN"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache  # the process's user does not change during a run
def _current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a name (a container): only a named become user differs
        return str(os.geteuid())


def _owner_ids(owner: str) -> tuple[int, int]:
    """chown's OWNER[:[GROUP]], names or numbers, as (uid, gid): without a group it is kept (-1), an empty one
    is the user's own."""
    user, colon, group = owner.partition(":")
    uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
    if group:
        return uid, int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    return uid, pwd.getpwuid(uid).pw_gid if colon else -1
