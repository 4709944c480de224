"""A host's own order holds through `once` tasks, on random projects.

Every task that a task follows through `after`/`before` (directly, or through
`once` tasks in between) must end before the task starts on a host: on that
host for an ordinary task, wherever it ran for a `once` task. That holds in
the compiled instance graph, and in walks where hosts fail and `once`
instances move to their alternates.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchc.backends.engine import Limits, Scheduler
from orchc.backends.state import State
from orchc.compiler import compile_project
from orchc.plan import Plan


@dataclass
class Project:
    """What the generator wrote: each task's `after`/`before` targets (as waits), and the `once` tasks."""

    waits: dict[str, set[str]] = field(default_factory=dict)
    once: set[str] = field(default_factory=set)

    def predecessors(self, task: str) -> set[str]:
        """Every task `task` follows, transitively, in the task graph."""
        seen: set[str] = set()
        stack = [task]
        while stack:
            for target in self.waits[stack.pop()] - seen:
                seen.add(target)
                stack.append(target)
        return seen


def ordered_project(folder: Path, seed: int, hosts: int) -> Project:
    """One or two services of up to 6 tasks with random `after`/`before` between them, some `once`."""
    rng = random.Random(seed)
    (folder / "inventory.ini").write_text("[ctl]\n" + "".join(f"h{h}\n" for h in range(hosts)))
    project = Project()
    lines, services = [], []
    for s in range(rng.randint(1, 2)):
        services.append(f"s{s}")
        count = rng.randint(2, 6)
        for t in range(count):
            project.waits[f"s{s}.t{t}"] = set()
        lines.append(f"service s{s} {{")
        for t in range(count):
            body = []
            earlier = rng.sample(range(t), rng.randint(0, min(t, 2)))
            if earlier:
                body.append("after " + ", ".join(f"t{e}" for e in earlier))
                project.waits[f"s{s}.t{t}"] |= {f"s{s}.t{e}" for e in earlier}
            later = rng.sample(range(t + 1, count), rng.randint(0, min(count - t - 1, 1)))
            if later:
                body.append("before " + ", ".join(f"t{x}" for x in later))
                for x in later:
                    project.waits[f"s{s}.t{x}"].add(f"s{s}.t{t}")
            body.append(f'run "echo {s}.{t}"')
            once = rng.random() < 0.35
            if once:
                project.once.add(f"s{s}.t{t}")
            lines.append(f"  task t{t}{' once' if once else ''} {{ {'  '.join(body)} }}")
        lines.append("}")
    lines.append(f'role ctl {{ services {", ".join(services)}  tolerate "50%" }}')
    (folder / "site.orch").write_text("\n".join(lines) + "\n")
    return project


def compiled(seed: int, hosts: int) -> tuple[Project, Plan]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        project = ordered_project(folder, seed, hosts)
        return project, compile_project([folder / "site.orch"], folder / "inventory.ini").plan


def must_end_first(project: Project, plan: Plan, task: str, host: str) -> set[str]:
    """The instances that must end before `task` starts on `host`."""
    once_ids = {inst.task: inst.id for inst in plan.instances if inst.task in project.once}
    return {once_ids[p] if p in project.once else f"{p}@{host}" for p in project.predecessors(task)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), hosts=st.integers(1, 4))
def test_same_host_predecessors_are_ancestors(seed: int, hosts: int) -> None:
    project, plan = compiled(seed, hosts)
    deps = {inst.id: set(inst.deps) for inst in plan.instances}

    def ancestors(roots: set[str]) -> set[str]:
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            for dep in deps[stack.pop()] - seen:
                seen.add(dep)
                stack.append(dep)
        return seen | roots

    for inst in plan.instances:
        assert inst.host is not None
        missing = must_end_first(project, plan, inst.task, inst.host) - ancestors(set(inst.deps))
        assert not missing, f"{inst.id} may start before {sorted(missing)}"
        for alternate in inst.alternates:
            assert alternate.host is not None
            missing = must_end_first(project, plan, inst.task, alternate.host) - ancestors(set(alternate.deps))
            assert not missing, f"{inst.id} on {alternate.host} may start before {sorted(missing)}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), hosts=st.integers(2, 4), data=st.data())
def test_a_moved_once_instance_keeps_the_order_of_its_new_host(seed: int, hosts: int, data: st.DataObject) -> None:
    project, plan = compiled(seed, hosts)
    scheduler = Scheduler(plan, Limits(host_slots=data.draw(st.integers(1, 2))))
    failing = data.draw(st.sets(st.sampled_from([inst.id for inst in plan.instances]), max_size=2))
    failed_once: set[tuple[str, str | None]] = set()  # a moved instance may succeed on its new host
    running: list[str] = []
    while not scheduler.done:
        for iid in scheduler.next_batch():
            inst = plan.instances[scheduler.index[iid]]
            host = scheduler.host_of(iid)
            assert host is not None
            for dep in must_end_first(project, plan, inst.task, host):
                assert scheduler.state[scheduler.index[dep]].is_success, f"{iid} on {host} before {dep}"
            running.append(iid)
        assert running, "stuck: instances left but none running or startable"
        iid = running.pop(data.draw(st.integers(0, len(running) - 1)))
        fails = iid in failing and (iid, scheduler.host_of(iid)) not in failed_once
        failed_once.add((iid, scheduler.host_of(iid)))
        scheduler.complete(iid, State.FAILED if fails else State.OK)
