"""The asyncio driver: runs a Plan with the scheduler, the journal and the transports.

One loop, no polling: each turn (1) asks the scheduler for every instance that
may start, (2) commits their "running" transitions — and the endings of the
previous turn — to the journal in one transaction, (3) starts them, and
(4) sleeps until at least one instance ends (a completion queue).

An instance runs its actions in order on the host the scheduler placed it on;
it is failed if an action failed, unreachable if its host could not be
reached, changed if an action changed something, else ok. A failed attempt is
retried (`retries N delay D`); `timeout` bounds each attempt (cancellation
makes the transport kill the process group). Anchors, compile-time skips and
instances that are up to date end at once without running.

When the run owns its process (`RunnerOptions.owns_process`, as the command
line does), the first SIGINT/SIGTERM stops gracefully (running instances
finish, nothing new starts) and the second cancels the running instances; so
does SIGHUP, which a login shell passes on when the terminal or SSH session
orchc ran in goes away. A program that runs Plans from a thread or its own event
loop calls `interrupt`.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pydantic_core

from orchc.backends.engine import Change, Limits, Scheduler
from orchc.backends.journal import Journal, RunGraph, Transition
from orchc.backends.limit import left_out
from orchc.backends.notify import not_notified, notifiers_where_it_runs, pending_notifications, pending_reason, runs_if
from orchc.backends.state import State, state_named
from orchc.backends.transport import ActionContext, ActionResult
from orchc.backends.transports import TransportSet
from orchc.plan import Action, Host, Instance, Plan, redact

Outcome = Literal["succeeded", "failed", "interrupted"]
UP_TO_DATE = "up to date"
HEARTBEAT_SECONDS = 10.0
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP only where not ignored (nohup)


class Observer(Protocol):
    """Receives the run's progress: the live view, the plain log, the JSON Lines events."""

    def run_started(self, plan: Plan, run_id: int) -> None: ...

    def transition(self, t: Transition) -> None: ...

    def ended_elsewhere(self, t: Transition) -> None:
        """A shared run: an instance that another controller ended, as this one learnt it. For counts and
        boards; that controller's log and the journal have its output."""

    def notice(self, message: str) -> None:
        """Something the user must see now (e.g. how an interrupt is handled)."""

    def still_running(self, instances: list[tuple[str, float]]) -> None:
        """Every HEARTBEAT_SECONDS: the instances running longer than that, with their seconds, longest first."""

    def output(self, instance: str, line: str) -> None:
        """The latest whole line a running instance printed (stdout or stderr), redacted: for live views;
        the journal keeps the tail of each instance's output."""

    def diff(self, instance: str, text: str) -> None:
        """A unified diff of the files an ended instance changed (or would change, in check mode), redacted;
        only in runs with `TransportOptions.diff`."""

    def run_ended(self, result: RunResult) -> None: ...


@dataclass
class RunnerOptions:
    limits: Limits = field(default_factory=Limits)
    force: bool = False  # run instances that are up to date
    limit: frozenset[str] | None = None  # --limit: the hosts the run is kept to (see `backends.limit`)
    # A host that left the deployment (a failure within tolerance) fails the run too; None: as the Plan
    # says (`strict` in its project).
    strict: bool | None = None
    # The run is the process's only work (the command line): SIGINT/SIGTERM interrupt it, and the
    # garbage collector is kept off the Plan and the graph (gc.freeze) while it runs. Both are
    # process-wide, so a program running Plans from a thread or its own event loop leaves them off.
    owns_process: bool = False


@dataclass
class RunResult:
    run_id: int
    outcome: Outcome
    states: dict[str, State]
    finals: dict[str, Transition]  # the last transition of each instance
    left_hosts: list[str]
    stop_reason: str | None
    elapsed: float
    held_back: list[Verdict] = field(default_factory=list)  # on the --limit hosts, waiting for hosts outside it
    strict: bool = False
    # A shared run: instances that ran again because the controller running them lost its lease.
    reruns: list[str] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        """What a reader of the summary must know beyond the counts."""
        notes = []
        if self.left_hosts:
            notes.append(
                "hosts that left the deployment (within their roles' tolerance): " + ", ".join(self.left_hosts)
            )
        if self.stop_reason:
            notes.append(f"stopped: {self.stop_reason}")
        if self.strict and self.left_hosts:
            notes.append("strict: a host that left the deployment fails the run")
        if self.held_back:
            first = self.held_back[0]
            notes.append(
                f"{len(self.held_back)} instance(s) on the --limit hosts could not run ({first.instance.id} "
                f"{first.reason}): add those hosts to --limit, or run without it"
            )
        if self.reruns:
            notes.append(
                f"{len(self.reruns)} instance(s) ran again, on another controller, because the controller "
                f"running them stopped renewing its lease: {', '.join(self.reruns)}"
            )
        return notes

    @property
    def failures(self) -> list[Transition]:
        return [t for t in self.finals.values() if t.state.is_failure]


# --- what a run would do -----------------------------------------------------------------


# Why an instance runs in the next run, or not (`Verdict.kind`); `orchc plan` groups instances by it.
VerdictKind = Literal[
    "new", "changed", "forced", "up to date", "skipped", "anchor", "outside limit", "notified", "notified earlier"
]


@dataclass
class Verdict:
    """Why an instance would run, or not, in the next run (`--dry-run`, `orchc plan`)."""

    instance: Instance
    reason: str
    ends_as: State | None = None  # the state it ends in without running; None if it runs
    held_back: bool = False  # on a --limit host, it waits for an instance outside the limit
    # "notified": it runs only if one of its `notified_by` ends changed (else it ends skipped, `backends.notify`)
    kind: VerdictKind = "new"

    @property
    def runs(self) -> bool:
        return self.ends_as is None


def verdicts(
    plan: Plan,
    done_keys: Mapping[str, str],
    force: bool,
    limit: frozenset[str] | None = None,
    pending: Mapping[str, list[str]] | None = None,
) -> list[Verdict]:
    """What the next run does with each instance; under a `limit`, `--force` only forces its hosts.
    `pending`: the notifications earlier runs left pending (`backends.notify.pending_notifications`)."""
    anchors = {t.id for t in plan.tasks if t.anchor}
    pending = pending or {}
    out = []
    for inst in plan.instances:
        if inst.task in anchors or not inst.actions:
            out.append(Verdict(inst, "anchor: runs nothing", State.OK, kind="anchor"))
        elif inst.skip:
            out.append(Verdict(inst, inst.skip, State.SKIPPED, kind="skipped"))
        elif inst.id in pending:
            out.append(Verdict(inst, pending_reason(inst, pending[inst.id]), kind="notified earlier"))
        elif inst.notified_by:
            out.append(Verdict(inst, runs_if(inst), kind="notified"))
        elif done_keys.get(inst.id) == inst.change_key:
            forced = force and (limit is None or inst.host in limit)
            out.append(
                Verdict(inst, "forced", kind="forced")
                if forced
                else Verdict(inst, UP_TO_DATE, State.SKIPPED, kind="up to date")
            )
        elif inst.id in done_keys:
            out.append(Verdict(inst, "changed since its last success", kind="changed"))
        else:
            out.append(Verdict(inst, "not run successfully before", kind="new"))
    if limit is None:
        return out
    left = left_out(plan, {v.instance.id for v in out if v.runs or v.ends_as == State.OK}, limit)
    return [
        Verdict(v.instance, left[v.instance.id].reason, State.SKIPPED, left[v.instance.id].held_back, "outside limit")
        if v.instance.id in left
        else v
        for v in out
    ]


def run_graph(plan: Plan) -> RunGraph:
    return RunGraph(
        hosts=[h.name for h in plan.hosts],
        roles={r.name: list(r.hosts) for r in plan.roles},
        tasks={inst.id: inst.task for inst in plan.instances},
        deps={inst.id: [*inst.deps, *(m for group in inst.any_of for m in group)] for inst in plan.instances},
        task_inputs={task.id: task.inputs for task in plan.tasks},
        inputs={inst.id: inst.inputs for inst in plan.instances if inst.inputs},
    )


def plan_digest(plan: Plan) -> str:
    """Which Plan a run ran (pydantic-core's compact JSON: the same Plan gives the same bytes)."""
    return hashlib.sha256(pydantic_core.to_json(plan, inf_nan_mode="null")).hexdigest()


# --- the run -----------------------------------------------------------------------------


class Runner:
    def __init__(
        self,
        plan: Plan,
        journal: Journal,
        transports: TransportSet,
        options: RunnerOptions,
        secrets: Mapping[str, str],
        observers: Iterable[Observer] = (),
    ) -> None:
        self.plan = plan
        self.journal = journal
        self.transports = transports
        self.options = options
        self.strict = plan.strict if options.strict is None else options.strict
        self.secrets = dict(secrets)
        self.observers = list(observers)
        self._instances = {inst.id: inst for inst in plan.instances}
        self._hosts = {h.name: h for h in plan.hosts}
        self._tasks = {t.id: t for t in plan.tasks}
        self._instant: dict[str, tuple[State, str]] = {}  # id → (final state, message), for no-work instances
        self._gated: set[str] = set()  # instances that run only if notified in this run (`backends.notify`)
        self._reported: dict[str, list[str]] = {}  # id → the topics (Ansible handlers) its change notified
        self._attempts: dict[str, int] = {}
        self._attempts_before_move: dict[str, int] = {}
        self._started_at: dict[str, float] = {}
        self._records: list[Transition] = []
        self._finals: dict[str, Transition] = {}
        self._diffs: dict[str, str] = {}  # ended instances' diffs, shown after their endings
        self._tasks_running: dict[str, asyncio.Task[None]] = {}
        self._ended: list[tuple[str, State, ActionResult]] = []  # endings the loop has not settled yet
        self._wakeup: asyncio.Future[None] | None = None  # what the loop awaits while nothing has ended
        self._interrupts = 0
        self._run_id = 0

    def interrupt(self) -> None:
        """First call: stop gracefully. Second call: kill what runs."""
        self._interrupts += 1
        running = len(self._tasks_running)
        if self._interrupts == 1:
            self._notice(
                f"interrupted: stopping gracefully, waiting for {running} running instance(s) to finish "
                "(interrupt again to kill them)"
            )
            self._changes(self.scheduler.stop("interrupted"))
            self._wake()  # so that the loop writes them
        else:
            self._notice(f"interrupted again: killing {running} running instance(s)")
            for task in self._tasks_running.values():
                task.cancel()

    def _notice(self, message: str) -> None:
        for observer in self.observers:
            observer.notice(message)

    async def run(self) -> RunResult:
        began = time.monotonic()
        held_back = []
        pending = pending_notifications(self.plan, self.journal)
        for v in verdicts(self.plan, self.journal.done_keys(), self.options.force, self.options.limit, pending):
            if v.ends_as is not None:
                self._instant[v.instance.id] = (v.ends_as, v.reason)
            elif v.kind == "notified":
                self._gated.add(v.instance.id)
            if v.held_back:
                held_back.append(v)
        self.scheduler = Scheduler(self.plan, self.options.limits, no_work=self._instant)
        owns_process = self.options.owns_process
        if owns_process:
            gc.freeze()  # the Plan and the graph live as long as the run: keep the collector off them (until its end)
        digest = plan_digest(self.plan)
        self._run_id = await self._begin(digest)
        if not self.journal.has_graph(digest):
            self.journal.record_graph(digest, run_graph(self.plan))
        for observer in self.observers:
            observer.run_started(self.plan, self._run_id)
        loop = asyncio.get_running_loop()
        if owns_process:
            for sig in SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    loop.add_signal_handler(sig, self.interrupt)
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._walk()
        finally:
            heartbeat.cancel()
            if owns_process:
                gc.unfreeze()
                for sig in SIGNALS:
                    loop.remove_signal_handler(sig)
            await self.transports.close()
        failed = self.scheduler.failed or bool(held_back) or (self.strict and bool(self.scheduler.left_hosts))
        outcome: Outcome = "interrupted" if self._interrupts else "failed" if failed else "succeeded"
        result = RunResult(
            self._run_id,
            outcome,
            dict(zip(self.scheduler.ids, self.scheduler.state, strict=True)),
            self._finals,
            list(self.scheduler.left_hosts),
            self.scheduler.stopped,
            time.monotonic() - began,
            held_back,
            self.strict,
        )
        await self._end(result)
        for observer in self.observers:
            observer.run_ended(result)
        return result

    def _run_options(self) -> dict[str, Any]:
        """The options a run record keeps."""
        return {
            "strategy": self.options.limits.strategy,
            "forks": self.options.limits.forks,
            "host_slots": self.options.limits.host_slots,
            "force": self.options.force,
            "strict": self.strict,
            "limit": sorted(self.options.limit) if self.options.limit is not None else None,
        }

    async def _begin(self, digest: str) -> int:
        """Start the run of the Plan with this digest in the journal: its id."""
        return self.journal.begin_run(digest, self._run_options())

    async def _end(self, result: RunResult) -> None:
        self.journal.end_run(self._run_id, result.outcome, result.notes)

    async def _walk(self) -> None:
        scheduler = self.scheduler
        while True:
            launch: list[str] = []
            while batch := scheduler.next_batch():
                for iid in batch:
                    ending = self._ends_at_once(iid)
                    if ending is not None:
                        state, message = ending
                        self._record(iid, state, message=message)
                        self._changes(scheduler.complete(iid, state, message))
                    else:
                        self._attempts[iid] = self._attempts.get(iid, 0) + 1
                        self._started_at[iid] = time.time()
                        self._record(iid, State.RUNNING)
                        launch.append(iid)
            self._flush()  # written before acted on: "running" before the start, endings before dependants
            for iid in launch:
                self._tasks_running[iid] = asyncio.create_task(self._execute(iid))
            if scheduler.done:
                return
            if not self._ended and not self._records:
                self._wakeup = asyncio.get_running_loop().create_future()
                await self._wakeup
            ended, self._ended = self._ended, []
            for iid, state, result in ended:
                self._settle(iid, state, result)

    def _ends_at_once(self, iid: str) -> tuple[State, str] | None:
        """How an instance the scheduler starts ends without running, if it does: no work, or not notified."""
        if iid in self._instant:
            return self._instant[iid]
        if iid in self._gated:
            notifiers = notifiers_where_it_runs(self._instances[iid], self.scheduler.placement_of(iid))
            reason = not_notified(self._instances[iid], notifiers, self.scheduler.state_of, self._reported_of)
            if reason is not None:
                return State.SKIPPED, reason
        return None

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _heartbeat(self) -> None:
        """Say which instances run long, as Terraform's "Still creating... [10s elapsed]" does."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            now = time.time()
            long = sorted(
                (
                    (now - self._started_at[iid], iid)
                    for iid in self._tasks_running
                    if now - self._started_at[iid] >= HEARTBEAT_SECONDS
                ),
                reverse=True,
            )
            if long:
                for observer in self.observers:
                    observer.still_running([(iid, seconds) for seconds, iid in long])

    def _reported_of(self, iid: str) -> list[str]:
        return self._reported.get(iid, [])

    def _note_reported(self, iid: str, topics: list[str]) -> None:
        """Kept only where a change notified topics: most instances never report any."""
        if topics:
            self._reported[iid] = topics
        else:
            self._reported.pop(iid, None)

    def _settle(self, iid: str, state: State, result: ActionResult) -> None:
        del self._tasks_running[iid]
        self._note_reported(iid, result.notified)
        self._record(iid, state, result=result)
        if result.diff:
            self._diffs[iid] = redact(result.diff, self.secrets) if self.secrets else result.diff
        self._changes(self.scheduler.complete(iid, state, result.message))

    def _changes(self, changes: Iterable[Change]) -> None:
        for change in changes:
            self._record(change.instance, change.state, message=change.message, host=change.host)

    async def _execute(self, iid: str) -> None:
        """Run one instance's actions on its current host, with retries; report the ending on the queue."""
        inst = self._instances[iid]
        task = self._tasks[inst.task]
        host = self._hosts[self.scheduler.host_of(iid) or ""]
        actions = self._actions(inst)
        ctx = ActionContext(
            plan=self.plan,
            instance_id=iid,
            task_id=inst.task,
            secrets=self.secrets,
            become=task.become,
            on_output=_OutputLines(iid, self.secrets, self.observers),
            companions_soon=functools.partial(self.scheduler.about_to_be_ready, inst.task),
        )
        try:
            while True:
                state, result = await self._attempt(host, actions, ctx, task.timeout)
                if state != State.FAILED or self._attempts[iid] > task.retries + self._moves(iid):
                    break
                retry = self._attempts[iid] - self._moves(iid)
                self._attempts[iid] += 1
                self._record(
                    iid,
                    State.RUNNING,
                    result=result,
                    message=f"retry {retry}/{task.retries} in {task.delay:g}s: {result.message}",
                )
                await self._write_records()
                await asyncio.sleep(task.delay)
        except asyncio.CancelledError:
            state, result = State.FAILED, ActionResult("failed", message="killed: the run was interrupted")
        self._ended.append((iid, state, result))
        self._wake()

    def _actions(self, inst: Instance) -> list[Action]:
        """What the instance runs where it runs now, rendered for the provider that met its `on any`
        requirement where that makes a difference."""
        placement = self.scheduler.placement_of(inst.id)
        chosen = inst if placement == 0 else inst.alternates[placement - 1]
        if chosen.variants:
            met_by = self.scheduler.met_by(inst.id)
            return next((v.actions for v in chosen.variants if v.provider in met_by), chosen.actions)
        return chosen.actions

    def _moves(self, iid: str) -> int:
        """Attempts spent on earlier hosts (a `once` instance that moved)."""
        return self._attempts_before_move.get(iid, 0)

    async def _attempt(
        self, host: Host, actions: list[Action], ctx: ActionContext, timeout: float | None
    ) -> tuple[State, ActionResult]:
        results: list[ActionResult] = []
        if timeout is None:
            await self._actions_in_order(host, actions, ctx, results)
        else:
            try:
                async with asyncio.timeout(timeout):
                    await self._actions_in_order(host, actions, ctx, results)
            except TimeoutError:
                results.append(ActionResult("failed", message=f"timed out after {timeout:g}s"))
        if len(results) == 1:
            return state_named(results[0].status), results[0]
        return _instance_state(results), _merge(results)

    async def _actions_in_order(
        self, host: Host, actions: list[Action], ctx: ActionContext, results: list[ActionResult]
    ) -> None:
        """Run actions until one does not succeed; `results` keeps what ended even if a timeout cuts in."""
        for action in actions:
            try:
                result = await self.transports.for_action(host, action).execute(host, action, ctx)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a transport's bug must not lose the run's state
                result = ActionResult(
                    "failed", message=f"{action.kind} failed in the transport: {type(exc).__name__}: {exc}"
                )
            results.append(result)
            if not result.succeeded:
                return

    # --- journal and observers ------------------------------------------------------------

    def _record(
        self, iid: str, state: State, *, message: str = "", result: ActionResult | None = None, host: str | None = None
    ) -> None:
        if state == State.PENDING and iid in self._attempts:  # a `once` instance moved to another host
            self._attempts_before_move[iid] = self._attempts[iid]
        self._records.append(self._transition(iid, state, message=message, result=result, host=host))

    def _transition(
        self, iid: str, state: State, *, message: str = "", result: ActionResult | None = None, host: str | None = None
    ) -> Transition:
        inst = self._instances[iid]
        rc, stdout, stderr, notified = None, "", "", []
        if result is not None:
            message = message or result.message
            rc, stdout, stderr, notified = result.rc, result.stdout, result.stderr, result.notified
        if self.secrets:
            message, stdout, stderr = (redact(text, self.secrets) for text in (message, stdout, stderr))
        return Transition(
            instance=iid,
            state=state,
            host=host or self.scheduler.host_of(iid),
            attempt=self._attempts.get(iid, 0),
            time=time.time(),
            fingerprint=inst.fingerprint,
            change_key=inst.change_key,
            rc=rc,
            stdout_tail=stdout,
            stderr_tail=stderr,
            message=message,
            notified=notified,
        )

    async def _write_records(self) -> None:
        """What is recorded, written before it is acted on (a retry's "running" before the retry)."""
        self._flush()

    def _flush(self) -> None:
        if not self._records:
            return
        records, self._records = self._records, []
        self.journal.record(self._run_id, records)
        self._observe(records)

    def _observe(self, recorded: Iterable[Transition]) -> None:
        """Transitions now in the journal, passed on to the observers."""
        for t in recorded:
            self._finals[t.instance] = t
            diff = self._diffs.pop(t.instance, None) if t.state.is_final else None
            for observer in self.observers:
                observer.transition(t)
                if diff is not None:
                    observer.diff(t.instance, diff)


class _OutputLines:
    """An instance's output as the transport streams it, in chunks, passed on to the observers a whole
    line at a time: a secret split between two chunks is redacted in its line. A line longer than
    `LONGEST` is not passed on."""

    LONGEST = 4096

    def __init__(self, instance: str, secrets: Mapping[str, str], observers: list[Observer]) -> None:
        self.instance = instance
        self.secrets = secrets
        self.observers = observers
        self._partial = {"stdout": "", "stderr": ""}

    def __call__(self, stream: str, text: str) -> None:
        *lines, rest = (self._partial[stream] + text).split("\n")
        self._partial[stream] = rest if len(rest) <= self.LONGEST else ""
        line = next((line for line in reversed(lines) if line.strip() and len(line) <= self.LONGEST), None)
        if line is not None:
            line = redact(line.rstrip("\r"), self.secrets)
            for observer in self.observers:
                observer.output(self.instance, line)


def _instance_state(results: list[ActionResult]) -> State:
    statuses = {state_named(r.status) for r in results}
    for state in (State.UNREACHABLE, State.FAILED, State.CHANGED):
        if state in statuses:
            return state
    return State.OK


def _merge(results: list[ActionResult]) -> ActionResult:
    """One result for the whole instance: outputs joined, the last message and rc."""
    if not results:
        return ActionResult("ok")
    last = results[-1]
    return ActionResult(
        last.status,
        rc=last.rc,
        stdout="".join(r.stdout for r in results),
        stderr="".join(r.stderr for r in results),
        message=last.message,
        diff="".join(r.diff for r in results),
        notified=sorted({topic for r in results for topic in r.notified}),
    )


def run_plan(
    plan: Plan,
    journal: Journal,
    transports: TransportSet,
    options: RunnerOptions,
    secrets: Mapping[str, str],
    observers: Iterable[Observer] = (),
) -> RunResult:
    """Run a Plan to its end on a fresh event loop."""
    runner = Runner(plan, journal, transports, options, secrets, observers)
    return asyncio.run(runner.run())
