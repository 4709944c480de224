"""`orchc simulate`: the makespan of a Plan under both strategies, without running anything.

The walk is the real scheduler driven by a virtual clock: each started
instance ends `duration(instance)` seconds later. Durations come from the
journal (each instance's last execution), from a file mapping instance or task
ids to seconds or durations (`30s`, as in .orch files), or default to one
second. Anchors and compile-time skips take no time.

The lower bound no schedule can beat is max(critical path, busiest host): the
longest chain of durations through the dependencies, and the most work any one
host must do (divided by its slots).
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from orchc.backends.engine import Limits, Scheduler, Strategy
from orchc.backends.journal import ENDED_STATES, Journal, latest_records
from orchc.dsl.ast import duration_seconds
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from orchc.dsl.files import load_yaml_map, mark_span, read_text
from orchc.dsl.span import Span
from orchc.plan import Instance, Plan

DEFAULT_SECONDS = 1.0


@dataclass
class Durations:
    """Seconds per instance: by instance id, else by task id, else the default."""

    seconds: Mapping[str, float]
    source: str  # for the report: where the numbers came from
    default: float = DEFAULT_SECONDS
    spans: Mapping[str, Span] = field(default_factory=dict)  # where a file names each id

    def of(self, inst: Instance, no_work: bool) -> float:
        if no_work:
            return 0.0
        return self.seconds.get(inst.id, self.seconds.get(inst.task, self.default))

    def unknown_ids(self, plan: Plan) -> list[Diagnostic]:
        """A warning for each id that names no instance or task of the Plan: its time would count nowhere."""
        known = {inst.id for inst in plan.instances} | {task.id for task in plan.tasks}
        return [Diagnostic("warning", f"'{name}' is no instance or task of the Plan: its duration is not used",
                           self.spans.get(name),
                           hint=did_you_mean(name, known) or "name an instance (`service.task@host`) or a task "
                                                             "(`service.task`); `orchc run --dry-run` lists them")
                for name in self.seconds if name not in known]


def durations_from_file(path: Path) -> Durations:
    """A YAML (or JSON) map of instance or task id to seconds (`40`) or a duration as .orch files write it
    (`30s`, `1m30s`, `500ms`); a value that is neither is an error at its line and column."""
    import yaml

    data = load_yaml_map(path, "the durations file", "keystone.db_sync: 40")
    nodes = yaml.compose(read_text(path), Loader=yaml.SafeLoader)
    spans = {str(key.value): (mark_span(str(path), key.start_mark), mark_span(str(path), value.start_mark))
             for key, value in (nodes.value if nodes is not None else [])}
    seconds: dict[str, float] = {}
    errors = []
    for key, value in data.items():
        name = str(key)
        number = duration_seconds(value) if isinstance(value, str) else value
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0:
            errors.append(Diagnostic("error", f"the duration of '{name}' is not a number of seconds or a duration: "
                                              f"{json.dumps(value, default=str)}", spans[name][1] if name in spans else None,
                                     hint="write seconds (`40`, `2.5`) or a duration (`30s`, `1m30s`, `500ms`)"))
        else:
            seconds[name] = float(number)
    if errors:
        raise DiagnosticError(errors)
    return Durations(seconds, f"{path}", spans={name: span for name, (span, _) in spans.items()})


def durations_from_journal(journal: Journal) -> Durations | None:
    """Each instance's last execution time (first attempt's start to its ending), or None if none ran."""
    seconds: dict[str, float] = {}
    for run in journal.runs():
        for iid, record in latest_records(journal.transitions(run.id)).items():
            if record.duration is not None and record.last.state in ENDED_STATES:
                seconds[iid] = record.duration
    if not seconds:
        return None
    return Durations(seconds, "the journal (last execution of each instance)")


@dataclass
class LowerBound:
    critical_path: float
    busiest_host: str | None
    busiest_load: float

    @property
    def seconds(self) -> float:
        return max(self.critical_path, self.busiest_load)


@dataclass
class Simulation:
    graph: float
    steps: float
    bound: LowerBound
    durations: Durations


def _no_work(plan: Plan) -> set[str]:
    anchors = {t.id for t in plan.tasks if t.anchor}
    return {inst.id for inst in plan.instances if inst.skip or inst.task in anchors or not inst.actions}


def makespan(plan: Plan, durations: Durations, limits: Limits) -> float:
    """Walk the Plan with the scheduler on a virtual clock; every instance succeeds."""
    no_work = _no_work(plan)
    scheduler = Scheduler(plan, limits, no_work=no_work)
    by_id = {inst.id: inst for inst in plan.instances}
    clock = 0.0
    ending: list[tuple[float, int, str]] = []
    seq = 0
    while not scheduler.done:
        for iid in scheduler.next_batch():
            seq += 1
            heapq.heappush(ending, (clock + durations.of(by_id[iid], iid in no_work), seq, iid))
        clock, _, iid = heapq.heappop(ending)
        scheduler.complete(iid, "skipped" if iid in no_work else "ok")
    return clock


def lower_bound(plan: Plan, durations: Durations, host_slots: int) -> LowerBound:
    no_work = _no_work(plan)
    by_id = {inst.id: inst for inst in plan.instances}
    finish: dict[str, float] = {}
    order = Scheduler(plan).ids_in_dependency_order()
    for iid in order:
        inst = by_id[iid]
        ready = max((finish[d] for d in inst.deps), default=0.0)
        for group in inst.any_of:
            ready = max(ready, min(finish[m] for m in group))
        finish[iid] = ready + durations.of(inst, iid in no_work)
    load: dict[str, float] = {}
    for inst in plan.instances:
        if inst.host:
            load[inst.host] = load.get(inst.host, 0.0) + durations.of(inst, inst.id in no_work) / host_slots
    busiest = max(load, key=lambda h: load[h], default=None)
    return LowerBound(max(finish.values(), default=0.0), busiest, load.get(busiest, 0.0) if busiest else 0.0)


def simulate(plan: Plan, durations: Durations, host_slots: int = 1, forks: int | None = None) -> Simulation:
    def walk(strategy: Strategy) -> float:
        return makespan(plan, durations, Limits(host_slots=host_slots, forks=forks, strategy=strategy))

    return Simulation(walk("graph"), walk("steps"), lower_bound(plan, durations, host_slots), durations)


def format_simulation(plan: Plan, sim: Simulation) -> str:
    def ratio(value: float) -> str:
        return f"{value / sim.bound.seconds:.2f} x lower bound" if sim.bound.seconds else ""

    bound = sim.bound
    lines = [
        f"simulated {len(plan.instances)} instances on {len(plan.hosts)} hosts; durations from {sim.durations.source}",
        f"  graph  makespan {sim.graph:10.1f}s   {ratio(sim.graph)}",
        f"  steps  makespan {sim.steps:10.1f}s   {ratio(sim.steps)}"
        + (f"   ({sim.steps / sim.graph:.2f} x graph)" if sim.graph else ""),
        f"  lower bound     {bound.seconds:10.1f}s   = max(critical path {bound.critical_path:.1f}s, "
        f"busiest host {bound.busiest_host or '-'} {bound.busiest_load:.1f}s)",
    ]
    return "\n".join(lines)


def simulation_json(sim: Simulation) -> str:
    return json.dumps({"graph": sim.graph, "steps": sim.steps, "lower_bound": sim.bound.seconds,
                       "critical_path": sim.bound.critical_path, "busiest_host": sim.bound.busiest_host,
                       "busiest_load": sim.bound.busiest_load}, sort_keys=True)
