"""The pure scheduler: order, limits, failure policy, tolerance, steps."""

from __future__ import annotations

import pytest

from orchc.backends.engine import HOST_LEFT, NOT_RUN, Limits, PlanGraphError, Scheduler
from orchc.backends.state import State
from test_engine_plans import make_plan


def drain(s: Scheduler, outcome: dict[str, str] | None = None) -> list[str]:
    """Run to the end, completing the oldest running instance first; return the start order."""
    outcome = outcome or {}
    started: list[str] = []
    running: list[str] = []
    while not s.done:
        batch = s.next_batch()
        started += batch
        running += batch
        assert running, "scheduler is stuck"
        iid = running.pop(0)
        s.complete(iid, State(outcome.get(iid, "ok")))
    return started


def test_dependencies_order_and_anchor():
    plan = make_plan("""
        a.x@h1
        a.y@h1: a.x@h1
        b.z@h2: a.y@h1
        sync: b.z@h2
    """)
    s = Scheduler(plan)
    assert drain(s) == ["a.x@h1", "a.y@h1", "b.z@h2", "sync"]
    assert set(s.state) == {"ok"}


def test_cross_host_unblocker_goes_first_on_a_host():
    plan = make_plan("""
        local.a@h1
        local.b@h1: local.a@h1
        unblock.u@h1
        far.f@h2: unblock.u@h1
    """)
    s = Scheduler(plan)
    assert s.next_batch() == ["unblock.u@h1"]  # one slot on h1: the cross-host unblocker wins


def test_host_slots_task_concurrency_and_forks():
    plan = make_plan("\n".join(f"t.roll@h{k}" for k in range(4)) + "\nu.one@h0\nu.two@h0", concurrency={"t.roll": 2})
    s = Scheduler(plan, Limits(host_slots=2, forks=3))
    first = s.next_batch()
    assert len(first) == 3
    assert sum(1 for i in first if i.startswith("t.roll")) <= 2


def test_failure_marks_dependants_and_stops_beyond_tolerance():
    plan = make_plan("""
        a.x@h1
        a.y@h1: a.x@h1
        b.z@h2
        b.w@h2: b.z@h2
    """)
    s = Scheduler(plan, Limits(host_slots=1))
    assert s.next_batch() == ["a.x@h1", "b.z@h2"]
    changes = s.complete("a.x@h1", State.FAILED)
    assert [(c.instance, c.state) for c in changes] == [("a.y@h1", "dep_failed")]
    assert s.stopped and s.next_batch() == []  # tolerate 0: graceful stop, b.z still running
    changes = s.complete("b.z@h2", State.OK)
    assert [(c.instance, c.state, c.message) for c in changes] == [("b.w@h2", "skipped", NOT_RUN)]
    assert s.done and s.failed


def test_within_tolerance_host_leaves_and_requirers_go_on():
    plan = make_plan(
        """
        c.up@c1
        c.up@c2
        c.after@c2: c.up@c2
        api.use@api1: c.up@c1 c.up@c2
    """,
        roles={"compute": (["c1", "c2"], 1), "api": (["api1"], 0)},
    )
    s = Scheduler(plan)
    s.next_batch()
    changes = s.complete("c.up@c2", State.UNREACHABLE)
    assert [(c.instance, c.state, c.message) for c in changes] == [("c.after@c2", "skipped", HOST_LEFT)]
    assert s.left_hosts == ["c2"]
    s.complete("c.up@c1", State.OK)
    assert s.next_batch() == ["api.use@api1"]
    s.complete("api.use@api1", State.OK)
    assert s.done and not s.failed and s.excused == {"c.up@c2", "c.after@c2"}


def test_second_failure_exceeds_the_budget():
    plan = make_plan("c.up@c1\nc.up@c2\nc.up@c3", roles={"compute": (["c1", "c2", "c3"], 1)})
    s = Scheduler(plan, Limits())
    s.next_batch()
    s.complete("c.up@c1", State.FAILED)
    assert not s.stopped
    s.complete("c.up@c2", State.FAILED)
    assert s.stopped and "compute" in s.stopped
    s.complete("c.up@c3", State.OK)
    assert s.done and s.failed


def test_once_moves_to_the_next_healthy_alternate():
    plan = make_plan(
        """
        k.install@k1
        k.install@k2
        k.db_sync@k1: k.install@k1
        k.start@k2: k.db_sync@k1
    """,
        roles={"ctl": (["k1", "k2"], 1)},
        alternates={"k.db_sync@k1": ["k2"]},
    )
    s = Scheduler(plan)
    s.next_batch()
    s.complete("k.install@k1", State.OK)
    assert s.next_batch() == ["k.db_sync@k1"]
    changes = s.complete("k.db_sync@k1", State.FAILED)
    assert [(c.instance, c.state, c.host) for c in changes] == [("k.db_sync@k1", "pending", "k2")]
    assert s.host_of("k.db_sync@k1") == "k2" and s.placement_of("k.db_sync@k1") == 1
    s.complete("k.install@k2", State.OK)
    assert s.next_batch() == ["k.db_sync@k1"]
    s.complete("k.db_sync@k1", State.OK)
    assert s.next_batch() == ["k.start@k2"]


def test_any_of_needs_one_success_and_fails_when_all_left():
    plan = make_plan(
        "p.x@p1\np.x@p2\nr.y@r1",
        any_of={"r.y@r1": [["p.x@p1", "p.x@p2"]]},
        roles={"p": (["p1", "p2"], 2), "r": (["r1"], 0)},
    )
    s = Scheduler(plan)
    s.next_batch()
    s.complete("p.x@p1", State.FAILED)
    assert s.next_batch() == []
    changes = s.complete("p.x@p2", State.FAILED)
    assert [(c.instance, c.state) for c in changes] == [("r.y@r1", "dep_failed")]
    assert s.failed


def test_skipped_counts_as_success_and_takes_no_slot():
    plan = make_plan("a.x@h1\na.y@h1: a.x@h1", skip={"a.x@h1": "when is false"})
    s = Scheduler(plan, Limits(forks=1), no_work={"a.x@h1"})
    assert s.next_batch() == ["a.x@h1"]
    s.complete("a.x@h1", State.SKIPPED)
    assert s.next_batch() == ["a.y@h1"]


def test_steps_strategy_waits_at_each_layer():
    plan = make_plan("""
        a.one@h1
        a.two@h1: a.one@h1
        b.one@h2
        b.two@h2: b.one@h2
        b.three@h2: b.two@h2
        c.late@h3: a.two@h1
    """)
    graph, steps = Scheduler(plan), Scheduler(plan, Limits(strategy="steps"))
    assert steps.layer[steps.index["c.late@h3"]] == 2
    graph.next_batch(), steps.next_batch()
    for s in (graph, steps):
        s.complete("a.one@h1", State.OK)
    assert graph.next_batch() == ["a.two@h1"]
    assert steps.next_batch() == []  # barrier: b.one@h2 (layer 0) still running
    steps.complete("b.one@h2", State.OK)
    assert sorted(steps.next_batch()) == ["a.two@h1", "b.two@h2"]


def test_user_stop_finishes_running_and_skips_the_rest():
    s = Scheduler(make_plan("a.x@h1\na.y@h1: a.x@h1"))
    s.next_batch()
    assert s.stop("interrupted") == []
    changes = s.complete("a.x@h1", State.OK)
    assert [(c.instance, c.message) for c in changes] == [("a.y@h1", NOT_RUN)]
    assert s.done and not s.failed


@pytest.mark.parametrize(
    "text, message",
    [
        ("a.x@h1: nope@h1", "unknown dependency 'nope@h1'"),
        ("a.x@h1: a.y@h1\na.y@h1: a.x@h1", "cycle"),
    ],
)
def test_bad_graphs_are_reported(text: str, message: str):
    with pytest.raises(PlanGraphError, match=message):
        Scheduler(make_plan(text))


def test_about_to_be_ready_counts_what_waits_only_for_running_instances():
    plan = make_plan(
        """
        prep.p@h1
        prep.p@h2
        prep.p@h3
        late.l@h3: prep.p@h3
        legacy.a@h1: prep.p@h1
        legacy.a@h2: prep.p@h2
        legacy.a@h3: late.l@h3
        """
    )
    s = Scheduler(plan, Limits(host_slots=1))
    assert sorted(s.next_batch()) == ["prep.p@h1", "prep.p@h2", "prep.p@h3"]
    assert s.about_to_be_ready("legacy.a") == 2  # h3's waits for late.l, which has not started
    s.complete("prep.p@h1", State.OK)
    assert s.next_batch() == ["legacy.a@h1"]
    assert s.about_to_be_ready("legacy.a") == 1
    s.complete("prep.p@h2", State.FAILED)  # no role tolerates it: nothing new starts
    assert s.about_to_be_ready("legacy.a") == 0


def test_about_to_be_ready_is_zero_while_the_tasks_concurrency_is_taken():
    plan = make_plan("legacy.a@h1\nprep.p@h2\nlegacy.a@h2: prep.p@h2", concurrency={"legacy.a": 1})
    s = Scheduler(plan)
    assert sorted(s.next_batch()) == ["legacy.a@h1", "prep.p@h2"]
    assert s.about_to_be_ready("legacy.a") == 0
