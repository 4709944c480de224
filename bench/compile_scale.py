"""Compile time at Task-Core's scale: 1000 hosts, 100 roles, 1000 services.

Generates a seeded project (services of 1-4 tasks; about 25% of tasks require
up to 3 capabilities of earlier services, with mixed scopes; about 10% of
tasks are `once`) into a temporary folder, then times `compile_project` end
to end (parse, resolve, expand, render, fingerprint), then validates the Plan
and writes plan.json as `orchc compile -o` does.

    python3 bench/compile_scale.py [--hosts 1000 --roles 100 --services 1000 --seed 1] [--profile]

Reference: Task-Core needs about 20 s to build its graph for this shape
(published figure; Task-Core itself is not installed here). Target: < 2 s.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import tempfile
import time
from pathlib import Path

TASKCORE_SECONDS = 20.0  # published: Task-Core graph build for 1000 hosts / 1000 services


def generate(folder: Path, hosts: int, roles: int, services: int, seed: int) -> None:
    rng = random.Random(seed)
    per_role = max(1, hosts // roles)
    inventory = []
    for r in range(roles):
        inventory.append(f"[role{r}]")
        inventory.extend(
            f"host{r * per_role + h} ansible_connection=local root=/tmp/bench/host{r * per_role + h}"
            for h in range(per_role)
        )
    (folder / "inventory.ini").write_text("\n".join(inventory) + "\n")

    role_services: list[list[str]] = [[] for _ in range(roles)]
    lines = ['var release: str = "2024.1"', ""]
    providers: list[int] = []  # services that provide cap_<n>
    for s in range(services):
        role = s % roles
        role_services[role].append(f"svc{s}")
        lines.append(f"service svc{s} {{")
        task_count = rng.randint(1, 4)
        for t in range(task_count):
            once = " once" if rng.random() < 0.1 else ""
            lines.append(f"  task t{t}{once} {{")
            if t > 0:
                lines.append(f"    after t{t - 1}")
            if providers and rng.random() < 0.25:
                for p in rng.sample(providers, min(len(providers), rng.randint(1, 3))):
                    scope = rng.choice(["", "", " on any"])
                    lines.append(f"    requires cap{p}{scope}")
            lines.append(f'    run "mkdir -p {{{{ host.vars.root }}}}/svc{s} && echo t{t} {{{{ release }}}}"')
            if t == task_count - 1:
                lines.append(f"    provides cap{s}")
            lines.append("  }")
        lines.append("}")
        providers.append(s)
    for r in range(roles):
        lines.append(f"role role{r} {{ services {', '.join(role_services[r])} }}")
    (folder / "site.orch").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--roles", type=int, default=100)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile run")
    args = parser.parse_args()

    from orchc.compiler import compile_project
    from orchc.plan_json import plan_json

    with tempfile.TemporaryDirectory(prefix="orchc-bench-") as tmp:
        folder = Path(tmp)
        generate(folder, args.hosts, args.roles, args.services, args.seed)
        profile = cProfile.Profile() if args.profile else None
        started, cpu_started = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        result = compile_project([folder / "site.orch"], folder / "inventory.ini")
        if profile:
            profile.disable()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    started = time.perf_counter()
    plan = result.validated_plan()
    validated = time.perf_counter() - started
    started = time.perf_counter()
    size = len(plan_json(plan))
    written = time.perf_counter() - started
    print(
        f"compile: {elapsed:.2f} s wall ({cpu:.2f} s CPU; they differ when the machine is busy) "
        f"for {len(plan.instances)} instances, {len(plan.tasks)} tasks, "
        f"{len(plan.hosts)} hosts, {sum(len(i.deps) for i in plan.instances)} dependencies"
    )
    print(
        f"plan.json: validated in {validated:.2f} s, {size / 1e6:.1f} MB serialised in {written:.2f} s "
        "(what `orchc compile -o` adds)"
    )
    print(
        f"Task-Core reference: {TASKCORE_SECONDS:.0f} s -> orchc is {TASKCORE_SECONDS / elapsed:.1f}x faster "
        f"(target: < 2 s)"
    )
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
