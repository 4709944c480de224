"""The `ansible` transport: `playbook`, `ansible MODULE` and `role` actions through ansible-runner.

Batching. Calls for the same action of the same task become one
ansible-runner call with `limit` = their hosts, so that Ansible's start-up is
paid once per batch; each caller gets its own host's result. A batch takes
the calls that arrive within `GATHER_SECONDS` of its first (the runner starts
every ready instance in the same turn of its loop), and then, while other
instances of the task wait only for instances that run now (the scheduler's
`about_to_be_ready`), it waits for them to join: up to a share
(`WINDOW_SHARE`) of what an ansible-runner call has cost in this run (before
the first ends, `FIRST_CALL_GUESS`), and never more than `LONGEST_WAIT`.
Hosts whose instances become ready a moment apart, as the native tasks
before them end, share one call; a lone instance waits `GATHER_SECONDS`.
"The same action" is the same playbook, role or module with the same
variable or argument names: values rendered apart for each host are passed
per host (see `ansible_inputs`).

Each call runs in a worker process (`ansible_worker`) with a private data dir
under `<journal folder>/ansible/`, removed when every host succeeded and kept
(secrets redacted) otherwise, for debugging; failure messages say where. The
first call of a run removes all but the newest `KEPT_CALLS` kept before.

Cancelling a caller (a timeout, Ctrl-C) takes its host out of the batch's
answer; when no caller is left the worker is stopped: SIGTERM, which the
worker passes to ansible-playbook so that it stops its forks and their
modules, then SIGKILL to the worker's process group after
`STOP_GRACE_SECONDS`. A host whose caller left a batch that keeps running for
others finishes its part in Ansible, and the next action on that host (a retry)
waits until it has: two calls never work on one host at once.

Importing this module fails with a clear `ImportError` when ansible-runner or
ansible-core is missing, so that `orchc run` says so before anything runs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchc.backends.ansible_inputs import (
    ARGS_MAPS,
    AnsibleAction,
    InputError,
    call_values,
    inventory,
    link_module_folders,
    module_playbook,
    playbook_path,
    role_playbook,
    roles_path,
    write_secrets_file,
    write_yaml,
)
from orchc.backends.ansible_results import BatchOutcome
from orchc.backends.ansible_worker import MISSING_ANSIBLE, WorkerRequest
from orchc.backends.transport import ActionContext, ActionResult, OutputSink, Transport, TransportOptions
from orchc.plan import REDACTED, Action, AnsibleModuleAction, AnsibleRoleAction, Host, Plan, PlaybookAction, redact

STOP_GRACE_SECONDS = 10.0
SECRET_ENV_PREFIX = "ORCHC_SECRET_"
WORKER_LINE_LIMIT = 64 * 1024 * 1024  # one event record may carry a long module output
# ansible-core imports cryptography's DSA classes, and cryptography (since 48) warns of them in every
# ansible-playbook's output. Named by message and module: a filter naming cryptography's own category would
# make every Python that inherits it (a local module's) import cryptography at start, or complain without it.
ANSIBLE_WARNING_FILTER = "ignore:DSA is deprecated:UserWarning:ansible._internal._ssh._ssh_agent"


def _require_ansible() -> None:
    missing = [name for name in ("ansible_runner", "ansible") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"{MISSING_ANSIBLE} (cannot import {', '.join(missing)})")


_require_ansible()

BatchKey = tuple[str, str, str, tuple[str, ...], bool, bool]


@dataclass
class _Caller:
    action: AnsibleAction  # as rendered for the caller's host
    result: asyncio.Future[ActionResult]
    on_output: OutputSink | None


@dataclass
class _Batch:
    """Callers waiting for one ansible-runner call."""

    key: BatchKey
    ctx: ActionContext  # of the first caller: task, secrets, check mode and become are the same for all
    check_mode: bool
    callers: dict[str, _Caller] = field(default_factory=dict)
    runner: asyncio.Task[None] | None = None
    hosts: list[str] = field(default_factory=list)  # the hosts of its ansible-runner call, once started
    joined: asyncio.Event = field(default_factory=asyncio.Event)  # set when a caller joins


def _batch_key(action: Action, ctx: ActionContext, check_mode: bool) -> BatchKey:
    """What calls must share to be served by one ansible-runner call."""
    if isinstance(action, PlaybookAction):
        target, names = action.path, action.vars
    elif isinstance(action, AnsibleRoleAction):
        target, names = action.name, action.vars
    elif isinstance(action, AnsibleModuleAction):
        target, names = action.module, action.args
    else:
        raise TypeError(f"the ansible transport cannot run a {action.kind!r} action")
    return (ctx.task_id, action.kind, target, tuple(sorted(names)), check_mode, ctx.become)


KEPT_CALLS = 20  # data dirs of failed calls kept from earlier runs, the newest
GATHER_SECONDS = 0.01  # a batch takes every call that arrives this soon after its first
WINDOW_SHARE = 0.25  # of an ansible-runner call's cost, what a batch may wait for instances about to be ready
FIRST_CALL_GUESS = 5.0  # seconds an ansible-runner call costs, until one of this run has ended
LONGEST_WAIT = 3.0


class AnsibleTransport(Transport):
    name = "ansible"

    def __init__(self, plan: Plan, options: TransportOptions) -> None:
        super().__init__(plan, options)
        self.calls = 0  # ansible-runner calls started (tests and the bench count them)
        self._open: dict[BatchKey, _Batch] = {}
        self._running: dict[asyncio.Task[None], _Batch] = {}
        self._inventory = inventory(plan, options.ssh)
        self._left_behind: dict[str, asyncio.Task[None]] = {}  # host -> a call still at work there, its caller gone
        self._cheapest_call: float | None = None  # seconds, of this run's calls

    async def execute(self, host: Host, action: Action, ctx: ActionContext) -> ActionResult:
        behind = self._left_behind.get(host.name)
        if behind is not None:
            await asyncio.wait([behind])
            if self._left_behind.get(host.name) is behind:
                del self._left_behind[host.name]
        batch = self._join(host, action, ctx)
        result = batch.callers[host.name].result
        try:
            return await asyncio.shield(result)
        except asyncio.CancelledError:
            del batch.callers[host.name]
            if batch.runner is not None:
                if host.name in batch.hosts:
                    self._left_behind[host.name] = batch.runner
                if not batch.callers:
                    batch.runner.cancel()
            raise

    async def close(self) -> None:
        """Stop every call still running; callers still waiting are cancelled."""
        for runner, batch in list(self._running.items()):
            runner.cancel()
            for caller in batch.callers.values():
                caller.result.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    # --- batching ---------------------------------------------------------------

    def _join(self, host: Host, action: Action, ctx: ActionContext) -> _Batch:
        check_mode = self.options.check_mode
        key = _batch_key(action, ctx, check_mode)
        batch = self._open.get(key)
        if batch is None or host.name in batch.callers:
            batch = _Batch(key=key, ctx=ctx, check_mode=check_mode)
            self._open[key] = batch
            batch.runner = asyncio.create_task(self._run_batch(batch))
            self._running[batch.runner] = batch
            batch.runner.add_done_callback(self._running.pop)
        batch.callers[host.name] = _Caller(action, asyncio.get_running_loop().create_future(), ctx.on_output)  # type: ignore[arg-type]  # transports.py gives this transport the Ansible action kinds only
        batch.joined.set()
        return batch

    def window(self) -> float:
        """How long a batch may wait for instances about to be ready, in all."""
        return min(LONGEST_WAIT, WINDOW_SHARE * (self._cheapest_call or FIRST_CALL_GUESS))

    async def _gather(self, batch: _Batch) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window()
        await asyncio.sleep(GATHER_SECONDS)
        soon = batch.ctx.companions_soon
        while soon is not None and soon() > 0 and (left := deadline - loop.time()) > 0:
            batch.joined.clear()
            try:
                await asyncio.wait_for(batch.joined.wait(), left)
            except TimeoutError:
                return

    async def _run_batch(self, batch: _Batch) -> None:
        try:
            await self._gather(batch)
        finally:  # also when every caller left while it gathered: later calls start a batch of their own
            if self._open.get(batch.key) is batch:
                del self._open[batch.key]
        if batch.callers:  # else every caller was cancelled while the batch gathered
            await self._answer(batch)

    async def _answer(self, batch: _Batch) -> None:
        batch.hosts = list(batch.callers)
        try:
            outcome = await self._call(batch, batch.hosts)
        except InputError as exc:
            outcome = BatchOutcome(error=str(exc))
        except Exception as exc:
            for caller in batch.callers.values():
                if not caller.result.done():
                    caller.result.set_exception(exc)
            return
        for name, caller in batch.callers.items():
            if not caller.result.done():
                caller.result.set_result(outcome.result_for(name, batch.ctx.secrets))

    # --- one ansible-runner call ------------------------------------------------------

    def _new_data_dir(self, task_id: str) -> Path:
        safe_task = re.sub(r"[^A-Za-z0-9_.-]", "_", task_id)
        folder = self.options.work_dir.resolve() / "ansible" / f"{safe_task}-{uuid.uuid4().hex[:8]}"
        (folder / "project").mkdir(parents=True)
        return folder

    def _prepare(self, batch: _Batch, hosts: list[str], data_dir: Path) -> WorkerRequest:
        ctx = batch.ctx
        actions = {name: batch.callers[name].action for name in hosts}
        first = actions[hosts[0]]
        extra, module_args = call_values(self.plan.vars, actions, ctx.secrets)
        project = data_dir / "project"
        playbook = data_dir / "project" / "orchc.yml"
        if isinstance(first, PlaybookAction):
            playbook = playbook_path(self.plan, first)
            project = playbook.parent
        elif isinstance(first, AnsibleModuleAction):
            assert module_args is not None
            write_yaml(
                playbook, module_playbook(first.module, module_args, ctx.task_id, no_log=ARGS_MAPS[1] in extra.secret)
            )
            link_module_folders(self.plan, ctx.task_id, project)
        else:
            write_yaml(playbook, role_playbook(first.name, ctx.task_id))
        write_yaml(data_dir / "inventory.yml", self._inventory)
        (data_dir / "vars.json").write_text(json.dumps(extra.public), encoding="utf-8")
        options = ["-e", f"@{data_dir / 'vars.json'}"]
        if extra.secret:
            write_secrets_file(data_dir / "secrets.yml", extra.secret)
            options += ["-e", f"@{data_dir / 'secrets.yml'}"]
        if batch.check_mode:
            options.append("--check")
        if self.options.diff:
            options.append("--diff")
        if ctx.become:
            options.append("--become")
        return WorkerRequest(
            private_data_dir=str(data_dir),
            playbook=str(playbook),
            project_dir=str(project),
            inventory=str(data_dir / "inventory.yml"),
            limit=",".join(hosts),
            cmdline=shlex.join(options),
            envvars={
                "ANSIBLE_ROLES_PATH": roles_path(self.plan, ctx.task_id),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_RETRY_FILES_ENABLED": "0",
                # ansible-runner turns host key checking off unless told: orchc verifies host keys.
                "ANSIBLE_HOST_KEY_CHECKING": os.environ.get("ANSIBLE_HOST_KEY_CHECKING", "True"),
                "PYTHONWARNINGS": ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), ANSIBLE_WARNING_FILTER])),
                **dict(ctx.env),
            },
            forks=max(1, min(len(hosts), self.options.forks)),
        )

    async def _call(self, batch: _Batch, hosts: list[str]) -> BatchOutcome:
        self.calls += 1
        if self.calls == 1:  # the journal is this run's by now: no other run's call is in there
            prune_kept_calls(self.options.work_dir.resolve() / "ansible", KEPT_CALLS)
        data_dir = self._new_data_dir(batch.ctx.task_id)
        outcome = BatchOutcome()
        try:
            request = self._prepare(batch, hosts, data_dir)
            request.dump(str(data_dir / "request.json"))
            started = time.monotonic()
            await self._run_worker(data_dir / "request.json", batch, outcome)
            took = time.monotonic() - started
            self._cheapest_call = took if self._cheapest_call is None else min(self._cheapest_call, took)
        finally:
            (data_dir / "secrets.yml").unlink(missing_ok=True)
            if outcome.succeeded_everywhere:
                shutil.rmtree(data_dir, ignore_errors=True)
            else:
                _redact_tree(data_dir, batch.ctx.secrets)
                outcome.kept_dir = str(data_dir)
        return outcome

    async def _run_worker(self, request: Path, batch: _Batch, outcome: BatchOutcome) -> None:
        worker = await asyncio.create_subprocess_exec(  # -P: an orchc/ in the current folder must not shadow orchc
            sys.executable,
            "-P",
            "-m",
            "orchc.backends.ansible_worker",
            str(request),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=WORKER_LINE_LIMIT,
            env=_environment_without_secrets(),
        )
        try:
            _, stderr = await asyncio.gather(self._read_records(worker, batch, outcome), worker.stderr.read())  # type: ignore[union-attr]  # stderr=PIPE above: never None
            await worker.wait()
        except asyncio.CancelledError:
            await _stop(worker)
            raise
        if outcome.error is None and outcome.rc is None:
            tail = stderr.decode(errors="replace").strip().splitlines()[-5:]
            outcome.error = f"the ansible worker exited with status {worker.returncode}: " + " / ".join(tail)

    async def _read_records(self, worker: asyncio.subprocess.Process, batch: _Batch, outcome: BatchOutcome) -> None:
        assert worker.stdout is not None
        async for line in worker.stdout:
            try:
                record = json.loads(line)
            except ValueError:  # not a record: output of the run that nothing tied to a host
                record = {"type": "event", "event": "verbose", "stdout": line.decode(errors="replace")}
            output = outcome.feed(record)
            if output is None:
                continue
            host, text = output
            caller = batch.callers.get(host)
            if caller is not None and caller.on_output is not None:
                caller.on_output("stdout", redact(text.replace("\r\n", "\n") + "\n", batch.ctx.secrets))


def _environment_without_secrets() -> dict[str, str]:
    """The worker's environment: orchc's own, minus secret values given as ORCHC_SECRET_<NAME>."""
    return {name: value for name, value in os.environ.items() if not name.startswith(SECRET_ENV_PREFIX)}


async def _stop(worker: asyncio.subprocess.Process) -> None:
    """Ask the worker to cancel its run; kill its process group if it does not stop in time."""
    if worker.returncode is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(worker.wait(), STOP_GRACE_SECONDS)
    except TimeoutError:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await worker.wait()


def prune_kept_calls(folder: Path, keep: int) -> None:
    """Remove all but the `keep` newest data dirs in `folder` (by modification time)."""
    try:
        kept = sorted(
            (entry for entry in os.scandir(folder) if entry.is_dir(follow_symlinks=False)),
            key=lambda entry: entry.stat().st_mtime,
            reverse=True,
        )
    except FileNotFoundError:
        return
    for entry in kept[keep:]:
        shutil.rmtree(entry.path, ignore_errors=True)


def _redact_tree(folder: Path, secrets: Mapping[str, str]) -> None:
    """Hide secret values in every file of a data dir that is kept for debugging."""
    values = [v.encode() for v in sorted(secrets.values(), key=len, reverse=True) if v]
    if not values:
        return
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        redacted = data
        for value in values:
            redacted = redacted.replace(value, REDACTED.encode())
        if redacted != data:
            path.write_bytes(redacted)
