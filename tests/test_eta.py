"""The live view's ETA, on a virtual clock: the real scheduler walks a Plan, each instance takes a known time."""

from __future__ import annotations

import heapq
import random

import pytest

from orchc.backends.engine import Limits, Scheduler
from orchc.backends.eta import Eta
from orchc.backends.journal import Transition
from orchc.backends.state import State
from orchc.plan import Plan
from test_engine_plans import make_plan


def openstack_like(computes: int) -> Plan:
    """Three controllers (a database, then an API on each), an anchor, then a chain on every compute host."""
    lines = ["db.install@c1", "db.install@c2", "db.install@c3", "db.boot@c1: db.install@c1"]
    lines += [f"api.start@c{k}: db.boot@c1 db.install@c{k}" for k in (1, 2, 3)]
    lines.append("ready: api.start@c1 api.start@c2 api.start@c3")
    for n in range(1, computes + 1):
        lines += [f"nova.install@n{n}", f"nova.conf@n{n}: nova.install@n{n}", f"nova.start@n{n}: nova.conf@n{n} ready"]
    return make_plan("\n".join(lines))


def walk(plan: Plan, seconds: dict[str, float], limits: Limits) -> tuple[float, list[tuple[float, int, float | None]]]:
    """Run the Plan on a virtual clock feeding an Eta; (makespan, [(now, instances done, ETA)]), the ETA asked
    for at most every half second, as the live view asks for it every second or so."""
    eta = Eta(plan, limits)
    scheduler = Scheduler(plan, limits)
    clock, done, seq = 0.0, 0, 0
    ending: list[tuple[float, int, str]] = []
    samples: list[tuple[float, int, float | None]] = []
    asked = -1.0
    while not scheduler.done:
        for iid in scheduler.next_batch():
            seq += 1
            eta.observe(Transition(iid, State.RUNNING, time=clock))
            heapq.heappush(ending, (clock + seconds.get(iid, 0.0), seq, iid))
        clock, _, iid = heapq.heappop(ending)
        state = State.OK if "@" not in iid else State.CHANGED
        eta.observe(Transition(iid, state, time=clock))
        scheduler.complete(iid, state)
        done += 1
        if clock - asked >= 0.5 or scheduler.done:
            asked = clock
            samples.append((clock, done, eta.remaining(clock)))
    return clock, samples


@pytest.mark.parametrize("strategy", ["graph", "steps"])
@pytest.mark.parametrize("computes", [2, 60, 300])
def test_eta_stays_within_a_fifth_of_the_real_end_after_a_tenth_of_the_work(strategy: str, computes: int):
    """Issue 19.1: the ETA jumped 5.6 → 13.9 → 7.8 → 3.9 s on a first run, with nothing known beforehand."""
    plan = openstack_like(computes)
    rng = random.Random(computes)
    seconds = {inst.id: rng.uniform(2.7, 3.3) for inst in plan.instances if inst.host}  # 3 s tasks, as in the issue
    limits = Limits(forks=50, strategy=strategy)  # type: ignore[arg-type]
    makespan, samples = walk(plan, seconds, limits)
    total = len(plan.instances)
    late = [(now, eta) for now, done, eta in samples if done >= total / 10 and done < total]
    assert late and all(eta is not None for _, eta in late)
    predicted_ends = [now + eta for now, eta in late if eta is not None]
    assert all(0.8 * makespan <= end <= 1.2 * makespan for end in predicted_ends), (makespan, predicted_ends)


def test_no_estimate_before_anything_ended_and_none_left_at_the_end():
    plan = openstack_like(1)
    eta = Eta(plan)
    eta.observe(Transition("db.install@c1", State.RUNNING, time=0.0))
    assert eta.remaining(1.0) is None
    _, samples = walk(plan, {inst.id: 1.0 for inst in plan.instances if inst.host}, Limits())
    assert samples[-1][2] == 0.0
