"""What `orchc report` shows of one run, computed from the journal alone: no HTML here.

Each instance of the run becomes a `Span`: when it was ready (its last
dependency ended in this run, or the run started), when it started and ended,
its outcome. From the spans and the run's graph (the journal's `run_graphs`):
- the critical path: from the instance that ended last, back through the
  dependency that ended last, to one that waited for nothing of this run;
- the root causes: each `dep_failed` instance under the failed instance(s)
  its dependencies lead to, through other `dep_failed` ones;
- per task, the durations across hosts (count, p50, p95, max) and the mean wait;
- the lanes: hosts in inventory order grouped by role (`host_groups`).
Times are seconds since the run started.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from orchc.backends.host_groups import group_by_role
from orchc.backends.journal import RunGraph, RunRecord, Transition
from orchc.backends.state import State


@dataclass
class Span:
    """One instance in one run."""

    instance: str
    task: str
    last: Transition  # its last transition in the run: the outcome, or "running" if the run died under it
    ended: float  # when the outcome was written (for "running": when the run stopped)
    started: float | None = None  # first "running"; None if it did not run (up to date, dep_failed, anchor)
    retried: float | None = None  # when the last failed attempt ended, if it was retried
    ready: float | None = None  # None when the run kept no graph

    @property
    def state(self) -> State:
        return self.last.state

    @property
    def host(self) -> str | None:
        return self.last.host

    @property
    def duration(self) -> float | None:
        """How long it ran, all attempts; None if it did not run or did not end."""
        return None if self.started is None or self.state == State.RUNNING else self.ended - self.started

    @property
    def waiting(self) -> float | None:
        """Ready → started: for a slot, a fork, a `once` lock."""
        return None if self.started is None or self.ready is None else self.started - self.ready

    @property
    def in_run(self) -> bool:
        """The run did something with it: not skipped (up to date, or by a condition)."""
        return self.state != State.SKIPPED


@dataclass
class Failure:
    """An instance that failed by itself, and the dep_failed instances that failed because of it."""

    root: Span
    caused: list[Span]


@dataclass
class TaskRow:
    task: str
    count: int
    p50: float
    p95: float
    max: float
    mean_waiting: float | None
    critical: bool


@dataclass
class RunView:
    run: RunRecord
    spans: dict[str, Span]
    lanes: list[tuple[str, list[str]]]  # role → its hosts that have something to draw, inventory order
    critical_path: list[str]
    failures: list[Failure]
    unexplained: list[Span]  # dep_failed with no failed instance found behind them (no graph kept)
    tasks: list[TaskRow]
    length: float  # seconds from the start to the last transition (or the end of the run)


def run_view(run: RunRecord, transitions: Sequence[Transition], graph: RunGraph | None) -> RunView:
    spans = run_spans(run, transitions, graph)
    deps = graph.deps if graph is not None else {}
    if graph is not None:
        set_ready(spans, deps)
    path = critical_path(spans, deps)
    failures, unexplained = root_causes(spans, deps)
    length = max([(run.ended or run.started) - run.started, *(s.ended for s in spans.values())], default=0.0)
    return RunView(
        run=run,
        spans=spans,
        lanes=lanes(spans, graph),
        critical_path=path,
        failures=failures,
        unexplained=unexplained,
        tasks=task_table(spans, set(path)),
        length=length,
    )


def run_spans(run: RunRecord, transitions: Sequence[Transition], graph: RunGraph | None) -> dict[str, Span]:
    """Instance id → its span in `run`, from the run's transitions in journal order."""
    tasks = graph.tasks if graph is not None else {}
    last_time = max((t.time for t in transitions), default=run.started)
    stopped = (run.ended or last_time) - run.started
    spans: dict[str, Span] = {}
    for t in transitions:
        at = t.time - run.started
        span = spans.get(t.instance)
        if span is None:
            task = tasks.get(t.instance) or t.instance.partition("@")[0]
            span = spans[t.instance] = Span(t.instance, task, t, at)
        span.last, span.ended = t, at
        if t.state == State.RUNNING:
            if span.started is None:
                span.started = at
            elif t.attempt > 1:
                span.retried = at
    for span in spans.values():
        if span.state == State.RUNNING:
            span.ended = max(stopped, span.ended)
    return spans


def set_ready(spans: dict[str, Span], deps: dict[str, list[str]]) -> None:
    """Each span's ready time: when the last of its dependencies that ended in this run ended (never after it
    started), else the run's start."""
    for iid, span in spans.items():
        ends = [spans[d].ended for d in deps.get(iid, ()) if d in spans and spans[d].state.is_final]
        ready = max(ends, default=0.0)
        span.ready = min(ready, span.started) if span.started is not None else ready


def critical_path(spans: dict[str, Span], deps: dict[str, list[str]]) -> list[str]:
    """The chain that decided when the run ended, first instance first: from the instance that ended last,
    back through the dependency that ended last, while the run did something with it."""
    done = {iid: span for iid, span in spans.items() if span.in_run}
    if not done:
        return []
    current = max(done, key=lambda iid: (done[iid].ended, done[iid].started is not None))
    path = [current]
    seen = {current}
    while True:
        prior = [d for d in deps.get(current, ()) if d in done and d not in seen]
        if not prior:
            return path[::-1]
        current = max(prior, key=lambda d: done[d].ended)
        path.append(current)
        seen.add(current)


def root_causes(spans: dict[str, Span], deps: dict[str, list[str]]) -> tuple[list[Failure], list[Span]]:
    """Each own failure (failed, unreachable) with the dep_failed instances behind it, in order of time; and
    the dep_failed instances with none found."""
    causes: dict[str, frozenset[str]] = {}

    def state_of(iid: str) -> State | None:
        span = spans.get(iid)
        return None if span is None else span.state

    for start in spans:
        if state_of(start) != State.DEP_FAILED or start in causes:
            continue
        # Depth first without recursion: a chain of thousands of dep_failed instances is a deep one.
        stack = [start]
        while stack:
            iid = stack[-1]
            pending = [d for d in deps.get(iid, ()) if state_of(d) == State.DEP_FAILED and d not in causes and d != iid]
            if pending:
                causes[iid] = frozenset()  # marks it as being walked: a cycle cannot loop
                stack.extend(pending)
                continue
            stack.pop()
            found: set[str] = set()
            for d in deps.get(iid, ()):
                state = state_of(d)
                if state is not None and state.is_own_failure:
                    found.add(d)
                elif state == State.DEP_FAILED:
                    found |= causes.get(d, frozenset())
            causes[iid] = frozenset(found)
    caused: dict[str, list[Span]] = defaultdict(list)
    unexplained = []
    for iid, roots in causes.items():
        for root in roots:
            caused[root].append(spans[iid])
        if not roots:
            unexplained.append(spans[iid])
    own = sorted((s for s in spans.values() if s.state.is_own_failure), key=lambda s: (s.ended, s.instance))
    failures = [Failure(root, sorted(caused[root.instance], key=lambda s: s.instance)) for root in own]
    return failures, sorted(unexplained, key=lambda s: s.instance)


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank `p`th percentile of `values` (sorted): the smallest value at least p% of them reach."""
    return values[max(math.ceil(p / 100 * len(values)) - 1, 0)]


def task_table(spans: dict[str, Span], critical: set[str]) -> list[TaskRow]:
    """Per task that ran to an end in this run: its durations across hosts and mean wait, longest max first."""
    by_task: dict[str, list[Span]] = defaultdict(list)
    for span in spans.values():
        if span.duration is not None:
            by_task[span.task].append(span)
    rows = []
    for task, members in by_task.items():
        took = sorted(s.duration or 0.0 for s in members)
        waits = [w for s in members if (w := s.waiting) is not None]
        rows.append(
            TaskRow(
                task=task,
                count=len(took),
                p50=percentile(took, 50),
                p95=percentile(took, 95),
                max=took[-1],
                mean_waiting=sum(waits) / len(waits) if waits else None,
                critical=any(s.instance in critical for s in members),
            )
        )
    return sorted(rows, key=lambda r: (-r.max, r.task))


def lanes(spans: dict[str, Span], graph: RunGraph | None) -> list[tuple[str, list[str]]]:
    """The hosts the run did something on (ran, failed, dep_failed), grouped by role in inventory order."""
    drawn = {span.host for span in spans.values() if span.in_run and span.host is not None}
    known = graph.hosts if graph is not None else []
    hosts = [h for h in known if h in drawn] + sorted(drawn.difference(known))
    roles = graph.roles.items() if graph is not None else ()
    return group_by_role(hosts, roles)
