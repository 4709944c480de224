"""Property tests of the scheduler on random DAGs, random limits and random failures."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from orchc.backends.engine import Limits, Scheduler
from orchc.backends.state import State
from orchc.plan import Plan
from test_engine_plans import make_plan


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Plan, Limits, dict[str, str]]:
    host_count = draw(st.integers(1, 4))
    hosts = [f"h{k}" for k in range(host_count)]
    lines: list[str] = []
    ids: list[str] = []
    any_of: dict[str, list[list[str]]] = {}
    alternates: dict[str, list[str]] = {}
    concurrency: dict[str, int] = {}
    for t in range(draw(st.integers(1, 7))):
        task = f"s.t{t}"
        if draw(st.booleans()):
            concurrency[task] = draw(st.integers(1, 2))
        if draw(st.integers(0, 5)) == 0:
            placed = [None]  # an anchor
        elif draw(st.integers(0, 3)) == 0:
            placed = [draw(st.sampled_from(hosts))]  # a `once` task
        else:
            placed = draw(st.lists(st.sampled_from(hosts), min_size=1, unique=True))
        for host in placed:
            iid = f"{task}@{host}" if host else f"a{t}"
            deps = draw(st.lists(st.sampled_from(ids), unique=True, max_size=3)) if ids else []
            if ids and draw(st.integers(0, 4)) == 0:
                any_of[iid] = [draw(st.lists(st.sampled_from(ids), unique=True, min_size=1, max_size=3))]
            if host and len(placed) == 1 and draw(st.booleans()):
                alternates[iid] = [h for h in hosts if h != host]
            lines.append(f"{iid}: {' '.join(deps)}")
            ids.append(iid)
    roles = {
        f"r{k}": (draw(st.lists(st.sampled_from(hosts), min_size=1, unique=True)), draw(st.integers(0, 2)))
        for k in range(draw(st.integers(1, 3)))
    }
    plan = make_plan("\n".join(lines), roles=roles, any_of=any_of, alternates=alternates, concurrency=concurrency)
    limits = Limits(
        host_slots=draw(st.integers(1, 3)),
        forks=draw(st.none() | st.integers(1, 4)),
        strategy=draw(st.sampled_from(["graph", "steps"])),
    )
    outcome = {iid: draw(st.sampled_from(["ok", "ok", "ok", "changed", "failed", "unreachable"])) for iid in ids}
    return plan, limits, outcome


def walk(plan: Plan, limits: Limits, outcome: dict[str, str], choose) -> list[tuple[str, str]]:
    """Drive a scheduler to the end, checking every invariant at every start; return the trace."""
    s = Scheduler(plan, limits)
    by_id = {inst.id: inst for inst in plan.instances}
    tasks = {t.id: t for t in plan.tasks}
    running: list[str] = []
    trace: list[tuple[str, str]] = []
    steps_taken = 0
    while not s.done:
        for iid in s.next_batch():
            check_start(s, by_id[iid], tasks, limits, running)
            running.append(iid)
            trace.append(("start", iid))
        assert running, "stuck: instances left but none running or startable"
        iid = running.pop(choose(len(running)))
        s.complete(iid, State(outcome[iid]))
        trace.append(("end", iid))
        steps_taken += 1
        assert steps_taken <= 10 * len(plan.instances) + 10
    assert all(state.is_final for state in s.state)
    assert s.running_count == 0
    for role in plan.roles:  # no role lost more hosts than it tolerates
        assert sum(1 for h in role.hosts if h in s.left_hosts) <= role.tolerate
    return trace + [("state", f"{i}={st}") for i, st in zip(s.ids, s.state, strict=True)]


def check_start(s: Scheduler, inst, tasks, limits: Limits, running: list[str]) -> None:
    def succeeded(dep: str) -> bool:
        return s.state[s.index[dep]] in ("ok", "changed", "skipped") and dep not in s.excused

    for dep in inst.deps:
        assert succeeded(dep) or dep in s.excused, f"{inst.id} started before {dep}"
    for group in inst.any_of:
        assert any(succeeded(m) for m in group), f"{inst.id} started with no provider of {group}"
    if limits.strategy == "steps":
        layer = s.layer[s.index[inst.id]]
        assert all(s.state[i].is_final for i in range(len(s.ids)) if s.layer[i] < layer)
    working = [r for r in running + [inst.id] if s._no_work[s.index[r]] is False]
    if limits.forks is not None:
        assert len(working) <= limits.forks
    per_host = Counter(s.host_of(r) for r in working)
    assert max(per_host.values(), default=0) <= limits.host_slots
    per_task = Counter(r.partition("@")[0] for r in working)
    for task, count in per_task.items():
        cap = tasks[task].concurrency
        assert cap is None or count <= cap


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.data())
def test_invariants_and_determinism(scenario, data):
    plan, limits, outcome = scenario
    choices: list[int] = []

    def choose(n: int) -> int:
        k = data.draw(st.integers(0, n - 1))
        choices.append(k)
        return k

    first = walk(plan, limits, outcome, choose)
    replay = iter(choices)
    assert walk(plan, limits, outcome, lambda n: next(replay)) == first


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_everything_succeeds_when_nothing_fails(scenario):
    plan, limits, _ = scenario
    s = Scheduler(plan, limits)
    running: list[str] = []
    while not s.done:
        running += s.next_batch()
        s.complete(running.pop(), State.OK)
    assert set(s.state) == {"ok"} and not s.failed
