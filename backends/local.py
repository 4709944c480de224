"""The `local` transport: actions of `connection: local` hosts run on the controller itself.

`run` is `/bin/sh -c COMMAND` in a new session, so that a timeout or a second
Ctrl-C can kill the whole process group (SIGTERM, then SIGKILL after a grace
period). Like Ansible's command module, a command that exits 0 "changed".

`copy` and `template` write atomically (temporary file beside the target,
then rename), create missing parent folders (as pyinfra does), and compare
sha256 digests, mode and owner first: nothing to change → "ok".

`become` (the task's, or the host's `ansible_become`, to `ansible_become_user`)
runs commands through `sudo -n -u USER`, as the SSH transport does; a file
written for another user is given to that user (unless the action names an
owner), which takes orchc running as root.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import grp
import hashlib
import os
import pwd
import signal
import tempfile
from pathlib import Path

from orchc.backends.transport import ActionContext, ActionResult, OutputSink, Transport, become_user_of
from orchc.plan import Action, CopyAction, Host, RunAction, TemplateAction, resolve_secrets

KILL_GRACE_SECONDS = 3.0


class LocalTransport(Transport):
    name = "local"

    async def execute(self, host: Host, action: Action, ctx: ActionContext) -> ActionResult:
        user = become_user_of(host, ctx)
        if user == _current_user():
            user = None
        if isinstance(action, RunAction):
            return await self._run(action, ctx, user)
        if isinstance(action, (CopyAction, TemplateAction)):
            return _write_file(action, ctx, self.options.check_mode, user)
        return ActionResult("failed", message=f"the local transport cannot run '{action.kind}' actions")

    async def _run(self, action: RunAction, ctx: ActionContext, user: str | None) -> ActionResult:
        if self.options.check_mode:
            return ActionResult("ok", message="check mode: command not run")
        command = resolve_secrets(action.command, ctx.secrets)
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
            return ActionResult("failed", message=f"cannot start /bin/sh: {exc}")
        try:
            stdout, stderr = await asyncio.gather(_collect(process.stdout, "stdout", ctx.on_output),
                                                  _collect(process.stderr, "stderr", ctx.on_output))
            rc = await process.wait()
        except asyncio.CancelledError:
            await _kill_group(process)
            raise
        if rc == 0:
            return ActionResult("changed", rc=rc, stdout=stdout, stderr=stderr)
        return ActionResult("failed", rc=rc, stdout=stdout, stderr=stderr,
                            message=f"command exited with status {rc}" if rc > 0 else
                            f"command killed by signal {-rc}")


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


def _write_file(action: CopyAction | TemplateAction, ctx: ActionContext, check_mode: bool,
                user: str | None) -> ActionResult:
    if isinstance(action, CopyAction) and action.encoding == "base64":
        content = base64.b64decode(action.content)
    else:
        content = resolve_secrets(action.content, ctx.secrets).encode("utf-8")
    dest = Path(action.dest)
    if user is not None and os.geteuid() != 0:
        return ActionResult("failed", message=f"{action.kind} to {dest} as {user} (become): on a local host "
                                              f"that needs orchc to run as root, or as {user}")
    try:
        wanted_mode = int(action.mode, 8) if action.mode else None
        owner = _owner_ids(action.owner or user) if action.owner or user else None
    except (ValueError, KeyError) as exc:
        return ActionResult("failed", message=f"{action.kind} to {dest}: {exc}")
    try:
        current = dest.stat() if dest.exists() else None
        same_content = current is not None and _sha256(dest) == hashlib.sha256(content).hexdigest()
        same_mode = current is not None and (wanted_mode is None or (current.st_mode & 0o7777) == wanted_mode)
        same_owner = current is not None and (owner is None or (current.st_uid, current.st_gid) == owner)
        if same_content and same_mode and same_owner:
            return ActionResult("ok", message=f"{dest} is up to date")
        if check_mode:
            return ActionResult("changed", message=f"check mode: would write {dest}")
        if not same_content:
            _atomic_write(dest, content, wanted_mode)
        elif wanted_mode is not None:
            os.chmod(dest, wanted_mode)
        if owner is not None:
            os.chown(dest, *owner)
    except OSError as exc:
        return ActionResult("failed", message=f"{action.kind} to {dest}: {exc.strerror or exc}")
    return ActionResult("changed", message=f"wrote {dest}")


def _atomic_write(dest: Path, content: bytes, mode: int | None) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        elif dest.exists():
            os.chmod(temp, dest.stat().st_mode & 0o7777)
        else:
            os.chmod(temp, 0o644)
        os.replace(temp, dest)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


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
    """"user" or "user:group" → (uid, gid); a user alone keeps its primary group."""
    user, _, group = owner.partition(":")
    entry = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else entry.pw_gid
    return entry.pw_uid, gid
