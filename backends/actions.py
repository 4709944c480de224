"""What the native actions (`run`, `copy`, `template`) do and report, over any connector.

The `local` and `ssh` connections differ in how they reach a host, not in what
an action means there: the rules below are written once, on the primitives of
a `Connector`, so that a Plan runs the same on `connection: local` hosts as
over SSH.

- Whom as: the task's `become`, or the host's `ansible_become`, makes actions
  run as `ansible_become_user` (default root), through `sudo -n`; nothing
  changes when that is the login user.
- Secrets: markers get their values just before the action reaches the host.
  A secret with no value fails the action. (The runner redacts values from
  whatever it records or shows, for every transport.)
- `run`: exit status 0 is "changed" (as with Ansible's command module); any
  other status, or a signal, is "failed", with the last line of stderr. In
  check mode the command is not run: "ok".
- `copy` and `template`: the destination's sha256, mode and owner are compared
  with what the action asks for first; all equal is "ok" and nothing is written.
  Otherwise the content is put atomically with its mode and owner: "changed",
  saying what changed (in check mode, what would change, and nothing is
  written). The mode is the action's, else the replaced file's, else 0644; the
  owner is the action's, else whoever writes it (the become user under
  `become`). The destination's folder must exist: as with Ansible's `copy` to a
  file, a missing folder fails the action (in check mode too) rather than being
  created with a guessed owner and mode. Create it first, with `run "mkdir -p ..."`.
  With `--diff`, a content change comes with a unified diff of the file (as
  Ansible's `--diff` shows it): the old content is read with `cat`, as the
  acting user; a binary or large file is named, not shown.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from orchc.backends.connection import ConnectionSpec
from orchc.backends.connector import CommandResult, Connector, FileActionError, FileState, as_user, missing_folder
from orchc.backends.transport import ActionContext, ActionResult, ResultStatus, Transport, TransportOptions
from orchc.backends.unified_diff import unified_diff
from orchc.plan import Action, CopyAction, Host, Plan, RunAction, TemplateAction, resolve_secrets

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


class NativeTransport(Transport):
    """A transport of native actions: the rules of this module over one connector per host."""

    def __init__(self, plan: Plan, options: TransportOptions) -> None:
        super().__init__(plan, options)
        self._specs: dict[str, ConnectionSpec] = {}
        self._timeouts = {task.id: task.timeout for task in plan.tasks}

    def spec(self, host: Host) -> ConnectionSpec:
        """The host's connection spec, read from its variables on first use."""
        if host.name not in self._specs:
            self._specs[host.name] = ConnectionSpec.of(host)
        return self._specs[host.name]

    async def perform(self, connector: Connector, host: Host, action: Action, ctx: ActionContext) -> ActionResult:
        user = self.spec(host).acting_user(ctx.become)
        if user == connector.login_user:
            user = None
        try:
            if isinstance(action, RunAction):
                return await self._run(connector, action, ctx, user)
            if isinstance(action, (CopyAction, TemplateAction)):
                file = FileWrite.of(action, ctx.secrets)
                return await put_file(connector, file, user, self.options.check_mode, self.options.diff)
        except MissingSecret as exc:
            return ActionResult("failed", message=f"secret {exc.args[0]!r} has no value at run time")
        return ActionResult(
            "failed",
            message=f"the {self.name} transport does not run {action.kind!r} actions (the ansible transport does)",
        )

    async def _run(self, connector: Connector, action: RunAction, ctx: ActionContext, user: str | None) -> ActionResult:
        if self.options.check_mode:
            return ActionResult("ok", message=NOT_RUN_IN_CHECK_MODE)
        command = as_user(["/bin/sh", "-c", with_secrets(action.command, ctx.secrets)], dict(ctx.env), user)
        command.timeout = self._timeouts.get(ctx.task_id)
        return command_result(await connector.run(command, ctx.on_output), user)


# --- run ---------------------------------------------------------------------------------


def command_result(outcome: CommandResult, become_user: str | None) -> ActionResult:
    def done(status: ResultStatus, message: str) -> ActionResult:
        return ActionResult(status, rc=outcome.rc, stdout=outcome.stdout, stderr=outcome.stderr, message=message)

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
            f"become via 'sudo -n' failed: {outcome.stderr.splitlines()[0]}; "
            f"orchc needs passwordless sudo to {become_user}",
        )
    last_line = next((line for line in reversed(outcome.stderr.splitlines()) if line.strip()), "")
    return done("failed", f"exit status {outcome.rc}" + (f": {last_line[:200]}" if last_line else ""))


# --- copy and template ---------------------------------------------------------------------


@dataclass
class FileWrite:
    """One file to put on a host: what and where, with the attributes asked for."""

    dest: str
    data: bytes
    mode: str | None
    owner: str | None

    @classmethod
    def of(cls, action: CopyAction | TemplateAction, secrets: Mapping[str, str]) -> FileWrite:
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
            raise FileActionError(f'mode {self.mode!r} of {self.dest} is not an octal number such as "0644"') from None


async def put_file(
    connector: Connector, file: FileWrite, user: str | None, check_mode: bool, diff: bool = False
) -> ActionResult:
    """Make `file.dest` hold `file.data` with its mode and owner, as `user`; ok if it already did."""
    shown = ""
    try:
        found = await connector.stat(file.dest, user)
        if found == "no folder":
            raise missing_folder(file.dest)
        if found == "not a file":
            raise FileActionError(f"{file.dest} exists and is not a regular file")
        current = found if isinstance(found, FileState) else None
        mode = file.wanted_mode(current)
        differences = _differences(file, current, mode)
        if not differences:
            return ActionResult("ok", message=f"{file.dest} is up to date")
        if diff and differences[0].startswith("content"):
            shown = await _content_diff(connector, file, user, current is not None)
        if not check_mode:
            await connector.put(file.dest, file.data, mode, file.owner, user)
    except FileActionError as exc:
        return ActionResult("failed", message=str(exc))
    verb = "would change" if check_mode else "changed"
    return ActionResult("changed", message=f"{verb} {', '.join(differences)} of {file.dest}", diff=shown)


DIFF_LARGEST = 256 * 1024  # bytes of a file shown as a diff; a larger one is named only


async def _content_diff(connector: Connector, file: FileWrite, user: str | None, exists: bool) -> str:
    """A unified diff from the file on the host to `file.data`."""
    before = b""
    if exists:
        read = await connector.run(as_user(["cat", "--", file.dest], {}, user), None)
        if read.rc != 0:
            return f"(cannot read {file.dest} to show a diff: {read.stderr.strip() or read.error})\n"
        before = read.stdout.encode("utf-8", errors="surrogateescape")
    if max(len(before), len(file.data)) > DIFF_LARGEST:
        return f"(file {file.dest} is larger than {DIFF_LARGEST // 1024} KiB: diff not shown)\n"
    try:
        old, new = before.decode("utf-8"), file.data.decode("utf-8")
    except UnicodeDecodeError:
        return f"(binary file {file.dest}: diff not shown)\n"
    return unified_diff(old, new, f"before: {file.dest}" if exists else "before: (absent)", f"after: {file.dest}")


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
