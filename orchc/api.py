"""orchc as a library: load a project, compile it, run its Plan, read what ran.

    import orchc

    project = orchc.load_project("site/")                    # inventory.yml beside it
    plan = orchc.compile_project(project).plan
    result = orchc.run(plan, orchc.RunOptions(forks=20))     # or: await orchc.run_async(...)
    print(result.outcome, orchc.status(orchc.default_journal(plan)).last_run)

`orchc.api.plan(plan)` says what the next run would do, grouped, naming the
inputs that changed (`orchc plan`; `orchc.plan` is the Plan's schema module).
`run` works from any thread and `run_async` inside a running event loop: a run
touches nothing process-wide (signal handlers, `gc.freeze`) unless its
options say it owns the process, as the command line's do.

What goes wrong raises orchc's own exceptions, never a traceback's worth of
someone else's: `DiagnosticError` for a mistake in the inputs (its
`diagnostics` say what, where and how to fix it), `JournalError` for a journal
that cannot be used, `LimitError` for a `limit` that selects no host,
`ShardError` for a `shard` that is not K/N, and `TransportUnavailable` for a
transport the Plan needs that cannot be loaded.
The command line (`orchc.cmd_run`, `orchc.inputs`) is these functions, its
arguments and its printing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchc.backends.connection import SshOptions
from orchc.backends.engine import Limits, PlanGraphError, Scheduler, Strategy
from orchc.backends.history import InstanceHistory, histories
from orchc.backends.journal import (
    InstanceRecord,
    JournalError,
    RunGraph,
    RunRecord,
    existing_journal,
    is_postgresql,
    journal_written,
    latest_records,
    open_journal,
)
from orchc.backends.lifecycle import LifecyclePlan, Pinned, Planned, moved, plan_changes
from orchc.backends.limit import LimitError, hosts_of_limit
from orchc.backends.notify import pending_notifications
from orchc.backends.runner import Observer, Runner, RunnerOptions, RunResult, Verdict, verdicts
from orchc.backends.shard import Shard, ShardError
from orchc.backends.state import State
from orchc.backends.transport import TransportOptions
from orchc.backends.transports import TransportSet, TransportUnavailable
from orchc.dsl.diagnostics import DiagnosticError, Diagnostics, span_under
from orchc.plan import Plan
from orchc.project import Project, compile_project, default_journal, journal_spec, load_plan, load_project
from orchc.secrets import load_secrets

# --- a Plan that can run --------------------------------------------------------------------


def check_plan(plan: Plan) -> None:
    """Refuse a Plan whose graph cannot be walked (an unknown id, a cycle), pointing at the task at fault."""
    try:
        Scheduler(plan)
    except PlanGraphError as exc:
        diagnostics = Diagnostics()
        task_id = next((inst.task for inst in plan.instances if inst.id == exc.instance), None)
        source = next((t.source for t in plan.tasks if t.id == task_id), None)
        span = span_under(plan.root, source) if source else None
        diagnostics.error(
            f"the Plan cannot run: {exc}",
            span,
            hint="compile the Plan again with `orchc compile`; a hand-edited plan.json must keep "
            "every dependency id an instance of the Plan, and no cycles",
        )
        diagnostics.raise_if_errors()


# --- running --------------------------------------------------------------------------------


@dataclass
class RunOptions:
    """How to run a Plan: the flags of `orchc run`."""

    # A SQLite file, or a PostgreSQL URL (postgresql://...) that several controllers share; default:
    # `default_journal(plan)`.
    journal: str | Path | None = None
    strategy: Strategy = "graph"  # "steps": layers with a barrier after each
    forks: int = 50  # instances running at once, in all
    host_slots: int = 1  # instances running at once on one host
    force: bool = False  # run instances that are up to date, too
    limit: str | None = None  # run on these hosts only: Ansible's --limit pattern
    strict: bool | None = None  # any failure fails the run; None: as the project says
    check: bool = False  # Ansible's check mode: nothing changes on the hosts, the journal is not touched
    diff: bool = False  # observers get a unified diff of each file a copy or template changes (would change)
    secrets: Mapping[str, Any] = field(default_factory=dict)  # values of secrets by name (e.g. Project.variables)
    secrets_file: str | Path | None = None  # a YAML map of secret values
    environ: Mapping[str, str] | None = None  # where ORCHC_SECRET_<NAME> is looked up; default os.environ
    accept_new_host_keys: bool = False  # trust and remember unknown SSH host keys
    known_hosts: str | Path | None = None  # default: host var orchc_known_hosts, else ~/.ssh/known_hosts
    owns_process: bool = False  # SIGINT/SIGTERM interrupt the run, gc.freeze() while it runs (the CLI)
    # A shared run (PostgreSQL journal): the hosts this controller takes first ("K/N"), and how long its
    # lease lasts without renewal before the others take its work.
    shard: str | None = None
    lease_seconds: float = 10.0
    # A plan pinned by `orchc plan -o`: the run refuses to start if the journal moved on since (its
    # `force` and `limit` are the pinned plan's).
    pinned: Pinned | None = None

    @property
    def limits(self) -> Limits:
        return Limits(host_slots=self.host_slots, forks=self.forks, strategy=self.strategy)


async def run_async(plan: Plan, options: RunOptions | None = None, observers: Iterable[Observer] = ()) -> RunResult:
    """Run the Plan to its end, resuming from its journal; `observers` see every transition."""
    options = options or RunOptions()
    check_plan(plan)
    if options.pinned is not None:
        _check_pinned(plan, options, options.pinned)
    limit = _limit_hosts(plan, options.limit)
    environ = os.environ if options.environ is None else options.environ
    secrets = load_secrets(plan, _path(options.secrets_file), environ, supplied=options.secrets)
    with _journal_of_run(plan, options) as (spec, force):
        transports = TransportSet(
            plan,
            TransportOptions(
                work_dir=default_journal(plan).parent if is_postgresql(spec) else Path(spec).parent,
                forks=options.forks,
                check_mode=options.check,
                diff=options.diff,
                ssh=SshOptions(
                    accept_new_host_keys=options.accept_new_host_keys, known_hosts=_path(options.known_hosts)
                ),
            ),
        )
        transports.check_available()
        runner_options = RunnerOptions(
            limits=options.limits, force=force, limit=limit, strict=options.strict, owns_process=options.owns_process
        )
        shard = Shard.parse(options.shard) if options.shard is not None else None
        journal = open_journal(spec)
        try:
            runner: Runner
            if is_postgresql(spec):
                from orchc.backends.pg_shared import SharedRun
                from orchc.backends.shared_runner import SharedRunner

                store = SharedRun(str(spec), options.lease_seconds, shard)
                runner = SharedRunner(plan, journal, store, transports, runner_options, secrets, observers)
            else:
                runner = Runner(plan, journal, transports, runner_options, secrets, observers)
            return await runner.run()
        finally:
            journal.close()


def run(plan: Plan, options: RunOptions | None = None, observers: Iterable[Observer] = ()) -> RunResult:
    """`run_async` on an event loop of its own; in a thread that runs a loop already, await `run_async`."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_async(plan, options, observers))
    raise RuntimeError("orchc.run() was called from a running event loop: `await orchc.run_async(...)` there")


@contextmanager
def _journal_of_run(plan: Plan, options: RunOptions) -> Iterator[tuple[str | Path, bool]]:
    """The journal a run writes, and whether it forces up-to-date instances: in check mode, a journal of its
    own, removed after it (a check must never mark anything as done), and everything runs."""
    if not options.check:
        yield journal_spec(options.journal, plan), options.force
        return
    work_dir = Path(tempfile.mkdtemp(prefix="orchc-check-"))
    try:
        yield work_dir / "journal.db", True
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def dry_run(plan: Plan, options: RunOptions | None = None) -> list[Verdict]:
    """What the next run would do with each instance, and why; runs nothing (`orchc run --dry-run`)."""
    options = options or RunOptions()
    check_plan(plan)
    limit = _limit_hosts(plan, options.limit)
    spec = journal_spec(options.journal, plan)
    done: dict[str, str] = {}
    pending: dict[str, list[str]] = {}
    if journal_written(spec):
        journal = open_journal(spec)
        try:
            done = journal.done_keys()
            pending = pending_notifications(plan, journal)
        finally:
            journal.close()
    return verdicts(plan, done, options.force, limit, pending)


def plan(plan: Plan, options: RunOptions | None = None) -> LifecyclePlan:
    """What the next run would do, grouped (new, changed with the inputs that changed, rerun, up to date...),
    and the journal's position it was made against; runs nothing (`orchc plan`). No journal yet: all is new."""
    options = options or RunOptions()
    check_plan(plan)
    limit = _limit_hosts(plan, options.limit)
    spec = journal_spec(options.journal, plan)
    if not journal_written(spec):
        return plan_changes(plan, None, options.force, limit, options.limit)
    journal = open_journal(spec)
    try:
        return plan_changes(plan, journal, options.force, limit, options.limit)
    finally:
        journal.close()


def _check_pinned(plan_: Plan, options: RunOptions, pinned: Pinned) -> None:
    """A pinned plan runs only against the journal it was made against, with its own --force and --limit."""
    if (options.force, options.limit) != (pinned.force, pinned.limit):
        raise JournalError(
            "a pinned plan runs with the --force and --limit it was made with",
            hint="run the pinned file without --force or --limit, or make another with `orchc plan -o FILE`",
        )
    why = moved(pinned, plan(plan_, options))
    if why is not None:
        raise JournalError(
            f"the journal moved on since this plan was made: {why}",
            hint="run `orchc plan PATH -o FILE` again, review it, and run the new file",
        )


def _limit_hosts(plan: Plan, pattern: str | None) -> frozenset[str] | None:
    return None if pattern is None else hosts_of_limit(plan, pattern)


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


# --- what ran ---------------------------------------------------------------------------------


@dataclass
class Status:
    """A journal read back: its runs, and each instance's latest record over all of them (`orchc status`)."""

    runs: list[RunRecord]
    records: dict[str, InstanceRecord]
    histories: dict[str, InstanceHistory]  # each instance's latest real outcome, not hidden by skips
    graph: RunGraph | None  # hosts, roles and dependencies of the last run's Plan, if the journal kept them

    @property
    def last_run(self) -> RunRecord | None:
        return self.runs[-1] if self.runs else None

    @property
    def states(self) -> dict[str, State]:
        return {iid: record.last.state for iid, record in self.records.items()}


def status(journal: str | Path, up_to_run: int | None = None) -> Status:
    """Read a journal that a run wrote (a SQLite file, or a PostgreSQL URL); with `up_to_run`, as it stood
    when that run ended."""
    store = existing_journal(journal)
    try:
        runs = [r for r in store.runs() if up_to_run is None or r.id <= up_to_run]
        transitions = [t for r in runs for t in store.transitions(r.id)]
        graph = store.graph(runs[-1].plan_digest) if runs else None
        return Status(runs, latest_records(transitions), histories(transitions), graph)
    finally:
        store.close()


# `plan` is `orchc.api.plan` only: `orchc.plan` is the module of the Plan's schema.
__all__ = [
    "DiagnosticError",
    "JournalError",
    "LifecyclePlan",
    "LimitError",
    "Observer",
    "Pinned",
    "Planned",
    "Project",
    "RunOptions",
    "RunResult",
    "ShardError",
    "State",
    "Status",
    "TransportUnavailable",
    "Verdict",
    "check_plan",
    "compile_project",
    "default_journal",
    "dry_run",
    "load_plan",
    "load_project",
    "run",
    "run_async",
    "status",
]
