"""`orchc simulate`: makespans of graph and steps on a virtual clock, against the lower bound."""

from __future__ import annotations

from pathlib import Path

from orchc.backends.engine import Limits
from orchc.backends.journal import SqliteJournal
from orchc.backends.simulate import Durations, durations_from_journal, lower_bound, makespan, simulate
from test_engine_plans import make_plan
from test_run import orchc, run

# Two hosts: h1 has a long chain, h2 a short task that a late h1 task needs; steps waits at layers.
PLAN = """
    a.one@h1
    a.two@h1: a.one@h1
    a.three@h1: a.two@h1
    b.one@h2
    b.two@h2: b.one@h2
"""


def test_graph_beats_steps_and_never_the_lower_bound():
    plan = make_plan(PLAN)
    durations = Durations({"a.one": 1, "a.two": 1, "a.three": 1, "b.one": 3, "b.two": 1}, "test")
    sim = simulate(plan, durations)
    assert sim.graph == 4.0  # b.one (3) + b.two (1); h1's chain of 3 runs beside it
    assert sim.steps == 5.0  # layer 0 waits for b.one (3), then 1 + 1
    assert (sim.bound.critical_path, sim.bound.busiest_host, sim.bound.busiest_load) == (4.0, "h2", 4.0)
    assert sim.graph >= sim.bound.seconds


def test_host_slots_and_defaults():
    plan = make_plan("x.a@h1\nx.b@h1\nx.c@h1\nsync: x.a@h1")
    assert makespan(plan, Durations({}, "default"), Limits(host_slots=1)) == 3.0
    assert makespan(plan, Durations({}, "default"), Limits(host_slots=3)) == 1.0
    assert lower_bound(plan, Durations({}, "default"), 1).busiest_load == 3.0


def test_durations_come_from_the_journal(tmp_path: Path):
    plan = make_plan("s.slow@h1\ns.fast@h1: s.slow@h1", commands={"s.slow@h1": "sleep 0.3"}, root=tmp_path)
    run(plan, tmp_path)
    journal = SqliteJournal(tmp_path / ".orchc" / "journal.db")
    durations = durations_from_journal(journal)
    journal.close()
    assert durations is not None and 0.3 <= durations.seconds["s.slow@h1"] < 2


def test_cli_prints_both_strategies_and_rejects_bad_durations(tmp_path: Path):
    (tmp_path / "plan.json").write_text(make_plan(PLAN, root=tmp_path).to_json())
    (tmp_path / "d.yml").write_text("b.one: 3\n")
    out = orchc("simulate", "plan.json", "--durations", "d.yml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "graph  makespan        4.0s" in out.stdout and "steps  makespan        5.0s" in out.stdout
    assert "lower bound" in out.stdout and "critical path 4.0s" in out.stdout
    (tmp_path / "bad.yml").write_text("b.one: slow\n")
    bad = orchc("simulate", "plan.json", "--durations", "bad.yml", cwd=tmp_path)
    assert bad.returncode == 1
    assert (
        "bad.yml:1:8: error: the duration of 'b.one' is not a number of seconds or a duration: \"slow\"" in bad.stderr
    )


def test_durations_are_written_as_in_orch_files_too(tmp_path: Path):
    (tmp_path / "plan.json").write_text(make_plan(PLAN, root=tmp_path).to_json())
    (tmp_path / "d.yml").write_text("b.one: 1m30s\na.two@h1: 500ms\na.three: 2.5\n")
    out = orchc("simulate", "plan.json", "--durations", "d.yml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "graph  makespan       91.0s" in out.stdout  # b.one (90) + b.two (1)
    assert "critical path 91.0s" in out.stdout and out.stderr == ""


def test_an_id_the_plan_does_not_hold_is_a_warning_with_did_you_mean(tmp_path: Path):
    (tmp_path / "plan.json").write_text(make_plan(PLAN, root=tmp_path).to_json())
    (tmp_path / "d.yml").write_text("b.one: 3\nb.onne: 30\nzzz: 1\n")
    out = orchc("simulate", "plan.json", "--durations", "d.yml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "graph  makespan        4.0s" in out.stdout
    assert (
        "d.yml:2:1: warning: 'b.onne' is no instance or task of the Plan: its duration is not used\n"
        "  2 | b.onne: 30\n    | ^\n  hint: did you mean 'b.one'?"
    ) in out.stderr
    assert "d.yml:3:1: warning: 'zzz' is no instance or task" in out.stderr and "2 warnings" in out.stderr
