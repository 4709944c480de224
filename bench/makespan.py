"""Makespan of every example under `--strategy graph` and `--strategy steps` (simulated).

Each example is compiled and walked by the real scheduler on a virtual clock
(`orchc simulate`), with one second per instance unless `--durations FILE`
is given, and compared with the lower bound max(critical path, busiest host).
The steps strategy is the peer: the step/role-based deployers' barriers.

    python3 bench/makespan.py [EXAMPLE_DIR ...] [--host-slots N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from orchc.backends.simulate import Durations, simulate
from orchc.dsl.diagnostics import DiagnosticError
from orchc.durations import durations_from_file
from orchc.project import INVENTORY_NAMES, compile_project, load_project

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def examples() -> list[Path]:
    return sorted(
        p
        for p in EXAMPLES.iterdir()
        if p.is_dir() and any((p / name).is_file() for name in INVENTORY_NAMES) and any(p.glob("*.orch"))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="*", type=Path)
    parser.add_argument("--durations", type=Path)
    parser.add_argument("--host-slots", type=int, default=1)
    args = parser.parse_args()
    durations = durations_from_file(args.durations).durations if args.durations else Durations({}, "1s each")
    print(f"durations: {durations.source}; host slots: {args.host_slots}")
    print(
        f"{'example':<16} {'instances':>9} {'hosts':>5} {'graph':>8} {'steps':>8} {'bound':>8} "
        f"{'steps/graph':>11} {'graph/bound':>11}"
    )
    for project in args.projects or examples():
        try:
            plan = compile_project(load_project(project)).plan
        except DiagnosticError as exc:
            print(f"{project.name:<16} does not compile: {exc.diagnostics[0].message}")
            continue
        sim = simulate(plan, durations, host_slots=args.host_slots)
        bound = sim.bound.seconds
        print(
            f"{project.name:<16} {len(plan.instances):>9} {len(plan.hosts):>5} {sim.graph:>7.1f}s {sim.steps:>7.1f}s "
            f"{bound:>7.1f}s {sim.steps / sim.graph:>10.2f}x {sim.graph / bound:>10.2f}x"
        )


if __name__ == "__main__":
    main()
