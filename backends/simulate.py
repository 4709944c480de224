"""`orchc simulate`: the makespan of a Plan under both strategies, without running anything.

The walk is the real scheduler driven by a virtual clock: each started
instance ends `duration(instance)` seconds later. Durations come from the
journal (each instance's last execution), from a file mapping instance or task
ids to seconds or durations (`30s`, as in .orch files; `orchc.durations`
reads it), or default to one second. Anchors and compile-time skips take no
time. An instance gated by a notification (`when notified`) is assumed to be
notified: it runs, the worst case.

The lower bound no schedule can beat is max(critical path, busiest host): the
longest chain of durations through the dependencies, and the most work any one
host must do (divided by its slots).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orchc.backends.engine import Limits, Scheduler, Strategy
from orchc.backends.journal import Journal, latest_records
from orchc.backends.state import State
from orchc.plan import Instance, Plan

DEFAULT_SECONDS = 1.0


@dataclass
class Durations:
    """Seconds per instance: by instance id, else by task id, else the default."""

    seconds: Mapping[str, float]
    source: str  # for the report: where the numbers came from
    default: float = DEFAULT_SECONDS

    def of(self, inst: Instance, no_work: bool) -> float:
        if no_work:
            return 0.0
        return self.seconds.get(inst.id, self.seconds.get(inst.task, self.default))


def durations_from_journal(journal: Journal) -> Durations | None:
    """Each instance's last execution time (first attempt's start to its ending), or None if none ran."""
    seconds: dict[str, float] = {}
    for run in journal.runs():
        for iid, record in latest_records(journal.transitions(run.id)).items():
            if record.duration is not None and record.last.state.ran:
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


def makespan(plan: Plan, durations: Durations, limits: Limits, ended: Iterable[str] = ()) -> float:
    """Walk the Plan with the scheduler on a virtual clock; every instance succeeds. `ended`: instances that
    take no time because they already ended (what a run has left, for its ETA)."""
    no_work = _no_work(plan) | set(ended)
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
        scheduler.complete(iid, State.SKIPPED if iid in no_work else State.OK)
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
