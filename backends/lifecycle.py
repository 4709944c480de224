"""What the next run would do, grouped as `orchc plan` shows it, and why: the Plan against the journal.

Each instance gets the runner's own verdict (`runner.verdicts`, so that what
`plan` announces as running is what `run` runs), refined with the journal:
- new: never run successfully, never run; retry: its last execution did not succeed;
- changed: its change key differs from its last success's, with the inputs that changed named (the
  digests of `Task.inputs` and `Instance.inputs` against those the journal's graph of that run kept);
- rerun: changed, and only capability fields it requires changed (what it depends on changes);
- forced, up to date, not run (anchors, compile-time skips), outside limit;
and the instances of the last run's Plan that this Plan no longer has ("left").

A plan can be pinned (`orchc plan -o FILE`): the Plan, the set to run and the
journal's position it was made against (its last run, and a digest of what
the journal holds for the Plan's instances). `orchc run FILE` runs it only if
the journal is still there (`moved`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from orchc.backends.journal import DONE_STATES, Execution, Journal, RunGraph
from orchc.backends.notify import pending_notifications
from orchc.backends.runner import Verdict, VerdictKind, verdicts
from orchc.plan import Instance, Plan

Group = Literal[
    "new", "retry", "changed", "rerun", "forced", "notified", "up to date", "not run", "not notified", "outside limit"
]
PINNED_SCHEMA = "orchc.pinned-plan/1"


@dataclass
class Planned:
    """One instance in `orchc plan`: the runner's verdict, its group, and the inputs that changed."""

    verdict: Verdict
    group: Group
    changed_inputs: list[str]  # "var:port", "template:files/a.j2", "cap:db.host" (+ " (new)" / " (gone)")
    note: str = ""  # what else the reader must know (why inputs cannot be named, how it last ended)

    @property
    def instance(self) -> Instance:
        return self.verdict.instance

    @property
    def runs(self) -> bool:
        return self.verdict.runs and self.group != "not notified"


@dataclass(frozen=True)
class JournalPosition:
    """Where a journal stood: its last run, and a digest of its latest executions of a Plan's instances."""

    last_run: int | None
    digest: str

    def as_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "last_run": self.last_run}


@dataclass
class LifecyclePlan:
    """What `orchc plan` shows: every instance of the Plan, grouped, and the instances that left it."""

    plan: Plan
    instances: list[Planned]
    left: list[str]  # instances of the last run's Plan that this one no longer has
    position: JournalPosition
    force: bool
    limit: str | None

    @property
    def will_run(self) -> list[str]:
        return [p.instance.id for p in self.instances if p.runs]

    @property
    def changes_pending(self) -> bool:
        return any(p.runs for p in self.instances)

    def group(self, name: Group) -> list[Planned]:
        return [p for p in self.instances if p.group == name]


def plan_changes(
    plan: Plan, journal: Journal | None, force: bool, limit: frozenset[str] | None, pattern: str | None
) -> LifecyclePlan:
    """The Plan against `journal` (None: no run yet, everything is new)."""
    executions = journal.executions() if journal is not None else {}
    runs = journal.runs() if journal is not None else []
    digests = {run.id: run.plan_digest for run in runs}
    graphs: dict[str, RunGraph | None] = {}

    def graph_of(run: int | None) -> RunGraph | None:
        digest = digests.get(run) if run is not None else None
        if digest is None or journal is None:
            return None
        if digest not in graphs:
            graphs[digest] = journal.graph(digest)
        return graphs[digest]

    done = {iid: e.change_key for iid, e in executions.items() if e.state in DONE_STATES}
    task_inputs = {task.id: task.inputs for task in plan.tasks}
    judged = verdicts(plan, done, force, limit, pending_notifications(plan, journal) if journal is not None else {})
    may_notify = _may_notify(judged)
    planned = [
        Planned(v, "not notified", [], "none of its notifiers runs")
        if v.kind == "notified" and v.instance.id not in may_notify
        else _planned(v, executions.get(v.instance.id), task_inputs, graph_of)
        for v in judged
    ]
    ids = {inst.id for inst in plan.instances}
    last = graph_of(runs[-1].id) if runs else None
    left = sorted(iid for iid in last.tasks if iid not in ids) if last is not None else []
    return LifecyclePlan(plan, planned, left, position(plan, runs[-1].id if runs else None, executions), force, pattern)


def _may_notify(judged: list[Verdict]) -> set[str]:
    """The instances that run, or may: a `when notified` instance may if one of its notifiers may."""
    may = {v.instance.id for v in judged if v.runs and v.kind != "notified"}
    gated = [v for v in judged if v.kind == "notified"]
    grew = True
    while grew:
        grew = False
        for v in gated:
            if v.instance.id not in may and any(n in may for n in v.instance.notified_by):
                may.add(v.instance.id)
                grew = True
    return may


# The verdicts whose group is the verdict's own kind, or one named here; "new" and "changed" are refined.
_GROUP_OF: dict[VerdictKind, Group] = {
    "anchor": "not run",
    "skipped": "not run",
    "forced": "forced",
    "up to date": "up to date",
    "outside limit": "outside limit",
    "notified": "notified",
    "notified earlier": "notified",
}


def _planned(
    verdict: Verdict,
    execution: Execution | None,
    task_inputs: dict[str, dict[str, str]],
    graph_of: Callable[[int | None], RunGraph | None],
) -> Planned:
    kind = verdict.kind
    if kind == "new":
        if execution is None:
            return Planned(verdict, "new", [])
        return Planned(verdict, "retry", [], f"its last execution ended {execution.state}")
    if kind != "changed":
        return Planned(verdict, _GROUP_OF[kind], [])
    inst = verdict.instance
    success = execution.success_run if execution is not None else None
    graph = graph_of(success)
    before = graph.inputs_of(inst.id) if graph is not None else None
    if before is None:
        which = f"run {success}" if success is not None else "its last successful run"
        return Planned(verdict, "changed", [], f"{which} did not record its inputs (an older orchc)")
    names = changed_inputs(before, {**task_inputs.get(inst.task, {}), **inst.inputs})
    if not names:
        return Planned(verdict, "changed", [], "no recorded input changed (its `when changed` inputs did)")
    rerun = all(name.startswith("cap:") for name in names)
    return Planned(verdict, "rerun" if rerun else "changed", names)


def changed_inputs(before: dict[str, str], now: dict[str, str]) -> list[str]:
    """The inputs whose digests differ, in name order; those only one side has are marked."""
    names = []
    for name in sorted(before.keys() | now.keys()):
        if name not in before:
            names.append(f"{name} (new)")
        elif name not in now:
            names.append(f"{name} (gone)")
        elif before[name] != now[name]:
            names.append(name)
    return names


def position(plan: Plan, last_run: int | None, executions: dict[str, Execution]) -> JournalPosition:
    ids = {inst.id for inst in plan.instances}
    rows = sorted((iid, str(e.state), e.change_key, e.success_run) for iid, e in executions.items() if iid in ids)
    text = json.dumps([last_run, rows], separators=(",", ":"))
    return JournalPosition(last_run, hashlib.sha256(text.encode()).hexdigest())


@dataclass(frozen=True)
class Pinned:
    """What a pinned plan file holds besides its Plan: the journal's position, the set to run, the options."""

    position: JournalPosition
    runs: list[str]
    force: bool
    limit: str | None


def pinned_of(lifecycle: LifecyclePlan) -> Pinned:
    return Pinned(lifecycle.position, lifecycle.will_run, lifecycle.force, lifecycle.limit)


def moved(pinned: Pinned, now: LifecyclePlan) -> str | None:
    """What changed in the journal since the plan was pinned; None if nothing did."""
    was, is_now = pinned.position, now.position
    if was.last_run != is_now.last_run:
        return (
            f"the journal's last run was {_run_name(was.last_run)} when the plan was made, "
            f"and is {_run_name(is_now.last_run)} now"
        )
    if was.digest != is_now.digest:
        return "what the journal records for the Plan's instances changed since the plan was made"
    if sorted(pinned.runs) != sorted(now.will_run):
        return "the set of instances to run differs from the one the plan shows"
    return None


def _run_name(run: int | None) -> str:
    return "none" if run is None else f"run {run}"
