"""Shared runs: 1, 2 and 4 controllers against one PostgreSQL, beside SQLite and the limits of both.

Two Plans, both with a transport that does nothing and answers "ok" at once
(bench/engine_overhead.py's), so that what is measured is orchc's
coordination: claims, fenced endings, NOTIFY wake-ups and the journal.

- walk: the zero-work deployment graph of engine_overhead (chains of steps per
  host, a cross-host edge every few steps); 100 hosts x 1000 steps = 100k
  instances at full scale.
- hosts: 1000 hosts with 3 steps each.

Each controller is a process of its own (`--controller`), started together;
it reports its wall-clock span, CPU seconds and peak RSS. Instances/s of a
shared run is the Plan's size over the span from the first start to the last
end. Beside them: the same Plan on SQLite (one controller), the pure scheduler
(no journal at all), and PostgreSQL's own rate of one-row commits on this
server (the physical limit of a store that commits before it acts).

    python3 bench/controllers.py                 # small scale: a minute or two on a shared 2-core machine
    python3 bench/controllers.py --full          # 100k instances and 1000 hosts
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from engine_overhead import NoopTransports, deployment_dag, scheduler_only  # noqa: E402

from orchc.backends.engine import Limits  # noqa: E402
from orchc.backends.journal import Transition, is_postgresql, open_journal  # noqa: E402
from orchc.backends.runner import Runner, RunnerOptions, RunResult  # noqa: E402
from orchc.backends.state import State  # noqa: E402
from orchc.backends.transport import TransportOptions  # noqa: E402
from orchc.plan import Plan  # noqa: E402

CONTROLLERS = (1, 2, 4)


@dataclass
class Shape:
    name: str
    hosts: int
    steps: int

    @property
    def instances(self) -> int:
        return self.hosts * self.steps


class _Claimed:
    """Counts the instances this controller started."""

    def __init__(self) -> None:
        self.started = 0

    def run_started(self, plan: Plan, run_id: int) -> None: ...

    def transition(self, t: Transition) -> None:
        self.started += t.state == State.RUNNING

    def ended_elsewhere(self, t: Transition) -> None: ...

    def notice(self, message: str) -> None: ...

    def still_running(self, instances: list[tuple[str, float]]) -> None: ...

    def output(self, instance: str, line: str) -> None: ...

    def run_ended(self, result: RunResult) -> None: ...


def controller(journal_spec: str, hosts: int, steps: int, forks: int) -> None:
    """One controller (a process of its own): run the Plan, print what it cost as one JSON line."""
    plan = deployment_dag(hosts, steps)
    gc.freeze()
    journal = open_journal(journal_spec)
    claimed = _Claimed()
    transports = NoopTransports(plan, TransportOptions())
    options = RunnerOptions(limits=Limits(forks=forks))
    runner: Runner
    if is_postgresql(journal_spec):
        from orchc.backends.pg_shared import SharedRun
        from orchc.backends.shared_runner import SharedRunner

        runner = SharedRunner(plan, journal, SharedRun(journal_spec), transports, options, {}, [claimed])
    else:
        runner = Runner(plan, journal, transports, options, {}, [claimed])
    began, cpu = time.time(), time.process_time()
    result = asyncio.run(runner.run())
    journal.close()
    print(
        json.dumps(
            {
                "began": began,
                "ended": time.time(),
                "cpu": time.process_time() - cpu,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "started": claimed.started,
                "outcome": result.outcome,
            }
        )
    )


@dataclass
class Figure:
    rate: float
    cpu: list[float]
    rss: list[float]
    started: list[int]


@dataclass
class Failure:
    """A configuration whose controllers did not all succeed: what each said."""

    what: list[str]


TIMEOUT = 1800.0  # seconds a configuration may take


def _failure(index: int, process: subprocess.Popen[str], out: str, err: str) -> str | None:
    """What went wrong with controller `index`, or None if it ran the Plan to success."""
    if process.returncode != 0:
        said = err.strip().splitlines()[-3:] or ["(nothing on stderr)"]
        return f"controller {index + 1} failed (exit {process.returncode}): {' | '.join(said)}"
    report = json.loads(out.strip().splitlines()[-1])
    return None if report["outcome"] == "succeeded" else f"controller {index + 1}: run {report['outcome']}"


def measure(shape: Shape, journals: list[str], forks: int) -> Figure | Failure:
    """Start one controller per journal spec at once; their figures, or what failed."""
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--controller", spec, str(shape.hosts), str(shape.steps), str(forks)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for spec in journals
    ]
    deadline = time.monotonic() + TIMEOUT
    outputs: list[tuple[str, str]] = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            process.kill()
            outputs.append(process.communicate())
    failures = [
        f for i, (p, (out, err)) in enumerate(zip(processes, outputs, strict=True)) if (f := _failure(i, p, out, err))
    ]
    if failures:
        return Failure(failures)
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    span = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    return Figure(
        shape.instances / span,
        [r["cpu"] for r in reports],
        [r["rss_mb"] for r in reports],
        [r["started"] for r in reports],
    )


def commit_rate(url: str, seconds: float = 2.0) -> float:
    """One-row commits per second on this server, from one client: the physical limit."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE IF NOT EXISTS bench_commits (n BIGINT)")
        count, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            db.execute("INSERT INTO bench_commits VALUES (%s)", (count,))
            count += 1
    return count / (time.perf_counter() - began)


def _row(label: str, figure: Figure | Failure, reference: float | None) -> str:
    if isinstance(figure, Failure):
        return "\n".join([f"  {label:<22} FAILED", *(f"  {'':<22} {what}" for what in figure.what)])
    cpu = "/".join(f"{c:.1f}" for c in figure.cpu)
    rss = "/".join(f"{m:.0f}" for m in figure.rss)
    share = "/".join(str(s) for s in figure.started)
    ratio = f"x{figure.rate / reference:5.2f} of SQLite" if reference else " " * 15
    return f"  {label:<22} {figure.rate:>9,.0f} inst/s  {ratio}  CPU s {cpu:<18} RSS MB {rss:<16} started {share}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="100k instances and 1000 hosts (takes long)")
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--controller", nargs=4, metavar=("JOURNAL", "HOSTS", "STEPS", "FORKS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.controller:
        spec, hosts, steps, forks = args.controller
        controller(spec, int(hosts), int(steps), int(forks))
        return
    import postgres

    shapes = (
        [Shape("walk", 100, 1000), Shape("hosts", 1000, 3)]
        if args.full
        else [Shape("walk", 20, 100), Shape("hosts", 200, 3)]
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    server = postgres.PostgresServer.start(Path(tempfile.mkdtemp(prefix="orchc-bench-postgres-")))
    try:
        limit = commit_rate(server.new_database())
        print(f"PostgreSQL one-row commits, one client: {limit:,.0f}/s (fsync off, as the tests run it)")
        for shape in shapes:
            plan = deployment_dag(shape.hosts, shape.steps)
            print(f"\n{shape.name}: {shape.instances:,} instances on {shape.hosts} hosts, forks {args.forks}")
            print(f"  scheduler alone        {scheduler_only(plan):>9,.0f} inst/s")
            with tempfile.TemporaryDirectory() as tmp:
                sqlite = measure(shape, [str(Path(tmp) / "journal.db")], args.forks)
            reference = sqlite.rate if isinstance(sqlite, Figure) else None
            print(_row("SQLite, 1 controller", sqlite, reference), flush=True)
            for n in CONTROLLERS:
                url = server.new_database()
                figure = measure(shape, [url] * n, args.forks)
                print(_row(f"PostgreSQL, {n} ctrl", figure, reference))
                if isinstance(figure, Figure):
                    print(f"  {'':<22} {figure.rate / limit:9.2f} instances per one-row commit of the server")
                print(f"  {'':<22} load {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        server.stop("immediate")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
