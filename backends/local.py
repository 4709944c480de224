"""The `local` transport: actions of `connection: local` hosts run on the controller itself.

What the actions do and report is the same as over SSH (`transport_native`):
in particular `copy` and `template` do not create a missing destination folder.

`run` is `/bin/sh -c COMMAND` in a new session, so that a timeout or a second
Ctrl-C can kill the whole process group (SIGTERM, then SIGKILL after a grace
period).

`become` (the task's, or the host's `ansible_become`, to `ansible_become_user`)
runs commands through `sudo -n -u USER`, as the SSH transport does; a file
written for another user is given to that user and its group (unless the
action names an owner), which takes orchc running as root.
"""

from __future__ import annotations

import asyncio
import functools
import grp
import hashlib
import os
import pwd
import signal
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from orchc.backends.transport import ActionContext, ActionResult, OutputSink, Transport, become_user_of
from orchc.backends.transport_native import (NOT_RUN_IN_CHECK_MODE, CommandResult, FileActionError, FileState,
                                             FileWrite, Found, MissingSecret, command_result, missing_folder,
                                             missing_secret, permission_denied, put_file, with_secrets)
from orchc.plan import Action, CopyAction, Host, RunAction, TemplateAction

KILL_GRACE_SECONDS = 3.0


class LocalTransport(Transport):
    name = "local"

    async def execute(self, host: Host, action: Action, ctx: ActionContext) -> ActionResult:
        user = become_user_of(host, ctx)
        if user == _current_user():
            user = None
        try:
            if isinstance(action, RunAction):
                return await self._run(action, ctx, user)
            if isinstance(action, (CopyAction, TemplateAction)):
                if user is not None and os.geteuid() != 0:
                    return ActionResult("failed", message=f"{action.kind} to {action.dest} as {user} (become): on a "
                                                          f"local host that needs orchc to run as root, or as {user}")
                return await put_file(LocalFiles(user), FileWrite.of(action, ctx.secrets), self.options.check_mode)
        except MissingSecret as exc:
            return missing_secret(exc)
        return ActionResult("failed", message=f"the local transport cannot run '{action.kind}' actions")

    async def _run(self, action: RunAction, ctx: ActionContext, user: str | None) -> ActionResult:
        if self.options.check_mode:
            return ActionResult("ok", message=NOT_RUN_IN_CHECK_MODE)
        command = with_secrets(action.command, ctx.secrets)
        argv = ["/bin/sh", "-c", command]
        if user is not None:  # sudo starts from a clean environment: the task's goes through env
            argv = ["sudo", "-n", "-u", user, "--", "env", *(f"{k}={v}" for k, v in ctx.env.items()), *argv]
        cwd = self.plan.root if Path(self.plan.root).is_dir() else None
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True, cwd=cwd,
                env={**os.environ, **ctx.env})
        except OSError as exc:
            return command_result(CommandResult(rc=None, error=str(exc)), user)
        try:
            stdout, stderr = await asyncio.gather(_collect(process.stdout, "stdout", ctx.on_output),
                                                  _collect(process.stderr, "stderr", ctx.on_output))
            rc = await process.wait()
        except asyncio.CancelledError:
            await _kill_group(process)
            raise
        outcome = CommandResult(rc=rc, stdout=stdout, stderr=stderr) if rc >= 0 else \
            CommandResult(rc=None, stdout=stdout, stderr=stderr, signal=-rc)
        return command_result(outcome, user)


async def _collect(stream: asyncio.StreamReader | None, name: str, sink: OutputSink | None) -> str:
    if stream is None:
        return ""
    parts: list[str] = []
    while chunk := await stream.read(65536):
        text = chunk.decode("utf-8", errors="replace")
        parts.append(text)
        if sink is not None:
            sink(name, text)  # type: ignore[arg-type]
    return "".join(parts)


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the command's process group, SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), wait)
            break
        except asyncio.TimeoutError:
            continue
    try:  # the group leader is gone; stragglers that ignored SIGTERM still die
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class LocalFiles:
    """This machine's files, written for `user` (None: orchc's own user)."""

    user: str | None

    async def probe(self, dest: str) -> Found:
        path = Path(dest)
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                return "not a file"
            digest = _sha256(path)
        except (FileNotFoundError, NotADirectoryError):
            return "absent" if path.parent.is_dir() else "no folder"
        except OSError as exc:
            raise FileActionError(f"cannot inspect {dest}: {exc.strerror or exc}") from None
        return FileState(mode=info.st_mode & 0o7777, user=_name(pwd.getpwuid, info.st_uid),
                         group=_name(grp.getgrgid, info.st_gid), uid=str(info.st_uid), gid=str(info.st_gid),
                         sha256=digest)

    async def write(self, file: FileWrite, mode: int) -> None:
        dest = Path(file.dest)
        owner = file.owner or (f"{self.user}:" if self.user else None)  # as the become user would write it
        temp = None
        try:
            fd, temp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.orchc-")
            with os.fdopen(fd, "wb") as out:
                out.write(file.data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, mode)
            if owner:
                _chown(temp, owner, file.dest)
            os.replace(temp, dest)
        except FileNotFoundError:  # the folder was removed since the probe
            raise missing_folder(file.dest) from None
        except PermissionError:
            raise permission_denied(file.dest, _current_user()) from None
        except OSError as exc:
            raise FileActionError(f"cannot write {file.dest}: {exc.strerror or exc}") from None
        finally:
            if temp is not None:
                Path(temp).unlink(missing_ok=True)  # renamed away, unless something failed


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
