"""Engine overhead: 100k zero-work instances through the scheduler and the runner, journal on.

The DAG is shaped like a deployment: one chain of tasks per host, plus an edge
from each host's step k to the next host's step k+1 every few steps (services
that wait for another host's capability). The transport does nothing and
answers "ok" at once, so what is measured is orchc itself: scheduling,
asyncio, and the SQLite journal (every transition committed before it is
acted on, grouped per turn of the loop).

    python3 bench/engine_overhead.py [--hosts 100] [--steps 1000]

Target: >= 20,000 instances/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

from orchc.backends.engine import Limits, Scheduler
from orchc.backends.journal import SqliteJournal
from orchc.backends.runner import RunnerOptions, run_plan
from orchc.backends.state import State
from orchc.backends.transport import ActionContext, ActionResult, Transport, TransportOptions
from orchc.backends.transports import TransportSet
from orchc.plan import Action, Host, Instance, Plan, Role, RunAction, SourceSpan, Task

TARGET = 20_000
CROSS_EVERY = 5


def deployment_dag(hosts: int, steps: int) -> Plan:
    span = SourceSpan(file="bench.orch", line=1, column=1, end_line=1, end_column=2)
    host_names = [f"node{h:03d}" for h in range(hosts)]
    tasks = [Task(id=f"svc.step{k}", service="svc", name=f"step{k}", source=span) for k in range(steps)]
    instances = []
    for h, host in enumerate(host_names):
        for k in range(steps):
            deps = [f"svc.step{k - 1}@{host}"] if k else []
            if k and k % CROSS_EVERY == 0:
                deps.append(f"svc.step{k - 1}@{host_names[(h + 1) % hosts]}")
            instances.append(
                Instance(
                    id=f"svc.step{k}@{host}",
                    task=f"svc.step{k}",
                    host=host,
                    deps=deps,
                    actions=[RunAction(command="true")],
                    fingerprint="f",
                    change_key="k",
                )
            )
    return Plan(
        root="/tmp",
        hosts=[Host(name=h, address="127.0.0.1", connection="local") for h in host_names],
        roles=[Role(name="all", hosts=host_names, services=["svc"])],
        tasks=tasks,
        instances=instances,
    )


class NoopTransport(Transport):
    name = "noop"

    async def execute(self, host: Host, action: Action, ctx: ActionContext) -> ActionResult:
        return ActionResult("ok")


class NoopTransports(TransportSet):
    """Every action goes to the one no-op transport."""

    def __init__(self, plan: Plan, options: TransportOptions) -> None:
        super().__init__(plan, options)
        self.noop = NoopTransport(plan, options)

    def for_action(self, host: Host, action: Action) -> Transport:
        return self.noop


def scheduler_only(plan: Plan) -> float:
    """Instances/s of the pure scheduler, completing in start order."""
    began = time.perf_counter()
    scheduler = Scheduler(plan, Limits(forks=None))
    running: list[str] = []
    while not scheduler.done:
        running.extend(scheduler.next_batch())
        scheduler.complete(running.pop(0), State.OK)
    return len(plan.instances) / (time.perf_counter() - began)


def full_run(plan: Plan, forks: int) -> tuple[float, float, int]:
    """Instances per wall second and per CPU second through the runner with the journal, and journal rows."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = SqliteJournal(Path(tmp) / "journal.db")
        began, began_cpu = time.perf_counter(), time.process_time()
        result = run_plan(
            plan, journal, NoopTransports(plan, TransportOptions()), RunnerOptions(limits=Limits(forks=forks)), {}
        )
        elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        rows = sum(len(journal.transitions(r.id)) for r in journal.runs())
        journal.close()
    assert result.outcome == "succeeded", result.outcome
    return len(plan.instances) / elapsed, len(plan.instances) / cpu, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    plan = deployment_dag(args.hosts, args.steps)
    gc.freeze()  # as the runner does: the Plan lives as long as the run
    print(
        f"{len(plan.instances):,} instances on {args.hosts} hosts "
        f"({args.steps} chained steps per host, a cross-host edge every {CROSS_EVERY} steps)"
    )
    rate = scheduler_only(plan)
    print(f"scheduler alone:              {rate:>10,.0f} instances/s")
    rate, cpu_rate, rows = full_run(plan, forks=args.hosts)
    print(f"runner + journal, no-op work: {rate:>10,.0f} instances/s  ({rows:,} journal rows)")
    print(
        f"  per CPU second of orchc:    {cpu_rate:>10,.0f} instances/s  (what a machine shared with other "
        f"work still gives; load average now {os.getloadavg()[0]:.1f})"
    )
    print(f"ratio to the target of {TARGET:,}/s: {rate / TARGET:.2f}  ({'met' if rate >= TARGET else 'NOT met'})")
    sys.exit(0 if rate >= TARGET else 1)


if __name__ == "__main__":
    main()
