"""What the native actions (`run`, `copy`, `template`) do and report, whichever connection carries them.

The `local` and `ssh` transports differ in how they reach a host, not in what an
action means there: the rules and messages below are theirs alike, so that a
Plan runs the same on `connection: local` hosts as over SSH.

- Secrets: markers get their values just before the action reaches the host.
  A secret with no value fails the action.
- `run`: exit status 0 is "changed" (as with Ansible's command module); any
  other status, or a signal, is "failed", with the last line of stderr. In
  check mode the command is not run: "ok".
- `copy` and `template`: the destination's sha256, mode and owner are compared
  with what the action asks for first; all equal is "ok" and nothing is written.
  Otherwise the content goes to a temp file beside the destination, gets its
  mode and owner, and is renamed over it, so readers never see half a file:
  "changed", saying what changed (in check mode, what would change, and nothing
  is written). The mode is the action's, else the replaced file's, else 0644;
  the owner is the action's, else whoever writes it (the become user under
  `become`). The destination's folder must exist: as with Ansible's `copy` to a
  file, a missing folder fails the action (in check mode too) rather than being
  created with a guessed owner and mode. Create it first, with `run "mkdir -p ..."`.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
from dataclasses import dataclass
from typing import Literal, Mapping, Protocol

from orchc.backends.transport import ActionResult
from orchc.plan import CopyAction, TemplateAction, resolve_secrets

DEFAULT_MODE = 0o644
NOT_RUN_IN_CHECK_MODE = "not run in check mode"


class MissingSecret(Exception):
    """An action refers to a secret that has no value in this run."""


def with_secrets(text: str, values: Mapping[str, str]) -> str:
    """The text with secret values in place of their markers, just before it is sent to the host."""
    try:
        return resolve_secrets(text, values)
    except KeyError as exc:
        raise MissingSecret(exc.args[0]) from None


def missing_secret(exc: MissingSecret) -> ActionResult:
    return ActionResult("failed", message=f"secret {exc.args[0]!r} has no value at run time")


# --- run ---------------------------------------------------------------------------------


@dataclass
class CommandResult:
    """How a command ended on the host, as the transport saw it."""

    rc: int | None  # None when a signal ended the command, or it could not start
    stdout: str = ""
    stderr: str = ""
    signal: int | None = None
    timed_out: bool = False
    error: str = ""  # why the command could not start


def command_result(outcome: CommandResult, become_user: str | None) -> ActionResult:
    def done(status: str, message: str) -> ActionResult:
        return ActionResult(status, rc=outcome.rc, stdout=outcome.stdout, stderr=outcome.stderr, message=message)  # type: ignore[arg-type]

    if outcome.error:
        needs = f" (become to {become_user} needs sudo on the host)" if become_user else ""
        return done("failed", f"could not start the command{needs}: {outcome.error}")
    if outcome.timed_out:
        return done("failed", "timed out; its process group was killed")
    if outcome.signal is not None:
        return done("failed", f"killed by signal {outcome.signal}")
    if outcome.rc == 0:
        return done("changed", "")
    if become_user and outcome.stderr.startswith("sudo:"):
        return done(
            "failed",
            f"become via 'sudo -n' failed: {outcome.stderr.splitlines()[0]}; orchc needs passwordless sudo to {become_user}",
        )
    last_line = next((line for line in reversed(outcome.stderr.splitlines()) if line.strip()), "")
    return done("failed", f"exit status {outcome.rc}" + (f": {last_line[:200]}" if last_line else ""))


# --- copy and template ---------------------------------------------------------------------


class FileActionError(Exception):
    """The file could not be checked or written; the message says why."""


@dataclass
class FileState:
    """A regular file found at the destination."""

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


# What a transport finds at a destination: a file, nothing (its folder exists), or something in the way.
Found = FileState | Literal["absent", "no folder", "not a file"]


@dataclass
class FileWrite:
    """One file to put on a host: what and where, with the attributes asked for."""

    dest: str
    data: bytes
    mode: str | None
    owner: str | None

    @classmethod
    def of(cls, action: CopyAction | TemplateAction, secrets: Mapping[str, str]) -> "FileWrite":
        if isinstance(action, CopyAction) and action.encoding == "base64":
            data = base64.b64decode(action.content)
        else:
            data = with_secrets(action.content, secrets).encode()
        return cls(dest=action.dest, data=data, mode=action.mode, owner=action.owner)

    def wanted_mode(self, current: FileState | None) -> int:
        if self.mode is None:
            return current.mode if current else DEFAULT_MODE
        try:
            return int(self.mode, 8)
        except ValueError:
            raise FileActionError(f"mode {self.mode!r} of {self.dest} is not an octal number such as \"0644\"") from None


class HostFiles(Protocol):
    """A transport's access to one host's files, as `put_file` needs it."""

    async def probe(self, dest: str) -> Found: ...

    async def write(self, file: FileWrite, mode: int) -> None:
        """Write atomically, with `mode` and the owner (`file.owner`, else the writer); or raise FileActionError."""


async def put_file(files: HostFiles, file: FileWrite, check_mode: bool) -> ActionResult:
    """Make `file.dest` hold `file.data` with its mode and owner; ok if it already did."""
    try:
        found = await files.probe(file.dest)
        if found == "no folder":
            raise missing_folder(file.dest)
        if found == "not a file":
            raise FileActionError(f"{file.dest} exists and is not a regular file")
        current = found if isinstance(found, FileState) else None
        mode = file.wanted_mode(current)
        differences = _differences(file, current, mode)
        if not differences:
            return ActionResult("ok", message=f"{file.dest} is up to date")
        if not check_mode:
            await files.write(file, mode)
    except FileActionError as exc:
        return ActionResult("failed", message=str(exc))
    verb = "would change" if check_mode else "changed"
    return ActionResult("changed", message=f"{verb} {', '.join(differences)} of {file.dest}")


def _differences(file: FileWrite, current: FileState | None, mode: int) -> list[str]:
    if current is None:
        return ["content (new file)"]
    found = []
    if current.sha256 != hashlib.sha256(file.data).hexdigest():
        found.append("content")
    if current.mode != mode:
        found.append(f"mode ({current.mode:o} -> {mode:o})")
    if file.owner and not current.owned_by(file.owner):
        found.append(f"owner ({current.user}:{current.group} -> {file.owner})")
    return found


def missing_folder(dest: str) -> FileActionError:
    return FileActionError(f"folder {posixpath.dirname(dest) or '.'} does not exist on the host; create it first")


def permission_denied(dest: str, user: str) -> FileActionError:
    return FileActionError(f"permission denied writing {dest} as {user}; add `become` to the task, or "
                           f"ansible_become: true to the host")
