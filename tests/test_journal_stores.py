"""The journal's interface, the same tests on both stores: SQLite (a file) and PostgreSQL (a real server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchc import api
from orchc.backends.journal import TAIL_BYTES, Journal, Transition, open_journal
from orchc.backends.pg_journal import FORMAT
from orchc.backends.state import State
from postgres import PostgresServer
from test_engine_plans import make_plan
from test_run import orchc


@pytest.fixture(params=["sqlite", "postgresql"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new journal of each store: a file's path, or a database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / ".orchc" / "journal.db")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def journal(spec: str) -> Journal:
    store = open_journal(spec)
    yield store
    store.close()


def test_what_succeeded_last_is_done_and_a_later_failure_undoes_it(journal: Journal) -> None:
    run = journal.begin_run("d", {})
    journal.record(
        run, [Transition("a@h", State.RUNNING, change_key="ka"), Transition("a@h", State.OK, change_key="ka")]
    )
    journal.record(
        run, [Transition("b@h", State.RUNNING, change_key="kb"), Transition("b@h", State.OK, change_key="kb")]
    )
    assert journal.done_keys() == {"a@h": "ka", "b@h": "kb"}
    journal.record(run, [Transition("a@h", State.RUNNING, change_key="ka")])  # a crash while it ran again
    journal.record(run, [Transition("b@h", State.DEP_FAILED, change_key="kb")])  # not an execution
    assert journal.done_keys() == {"b@h": "kb"}
    # The run of each one's latest success stays, for `orchc plan` to compare against.
    assert {iid: (e.state, e.success_run) for iid, e in journal.executions().items()} == {
        "a@h": (State.RUNNING, run),
        "b@h": (State.OK, run),
    }


def test_a_plan_names_what_changed_against_either_store(spec: str, tmp_path: Path) -> None:
    """`orchc plan` reads the inputs of the last success from the graph the store kept."""
    first = make_plan("a.run@h1", roles={"a": (["h1"], 0)}, root=tmp_path)
    api.run(first, api.RunOptions(journal=spec))
    second = make_plan("a.run@h1", roles={"a": (["h1"], 0)}, root=tmp_path, change_keys={"a.run@h1": "other"})
    second.instances[0].inputs = {"var:x": "0123456789abcdef"}
    planned = api.plan(second, api.RunOptions(journal=spec))
    assert [(p.group, p.changed_inputs) for p in planned.instances] == [("changed", ["var:x (new)"])]


def test_runs_and_transitions_read_back_in_order(journal: Journal) -> None:
    first = journal.begin_run("d1", {"forks": 5})
    long_output = "x" * (TAIL_BYTES * 2) + "end"
    journal.record(
        first,
        [
            Transition("a@h", State.RUNNING, host="h", attempt=1, time=1.0),
            Transition("a@h", State.FAILED, host="h", attempt=1, time=2.0, rc=3, stderr_tail=long_output, message="m"),
        ],
    )
    journal.end_run(first, "failed", ["stopped: because"])
    second = journal.begin_run("d2", {})
    assert [(r.id, r.plan_digest, r.options, r.outcome, r.notes) for r in journal.runs()] == [
        (first, "d1", {"forks": 5}, "failed", ["stopped: because"]),
        (second, "d2", {}, None, []),
    ]
    read = journal.transitions(first)
    assert [(t.instance, t.state, t.attempt, t.rc, t.message, t.run) for t in read] == [
        ("a@h", State.RUNNING, 1, None, "", first),
        ("a@h", State.FAILED, 1, 3, "m", first),
    ]
    assert read[1].stderr_tail.endswith("end") and len(read[1].stderr_tail.encode()) == TAIL_BYTES
    assert journal.transitions(second) == []


def _plan(root: Path):
    return make_plan(
        """
        db.install@db1
        db.start@db1: db.install@db1
        web.up@web1: db.start@db1
        web.up@web2: db.start@db1
        done: web.up@web1 web.up@web2
    """,
        commands={"web.up@web2": f"test -e {root}/fixed || {{ echo 'port 80 in use' >&2; exit 1; }}"},
        roles={"db": (["db1"], 0), "web": (["web1", "web2"], 1)},
        root=root,
    )


def test_run_resume_status_report_and_simulate_are_the_same_on_both_stores(spec: str, tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    (tmp_path / "plan.json").write_text(plan.to_json())
    first = api.run(plan, api.RunOptions(journal=spec))
    assert first.outcome == "succeeded" and first.left_hosts == ["web2"]
    (tmp_path / "fixed").touch()
    second = api.run(plan, api.RunOptions(journal=spec))
    assert second.outcome == "succeeded"
    assert second.states == {
        "db.install@db1": "skipped",
        "db.start@db1": "skipped",
        "web.up@web1": "skipped",
        "web.up@web2": "changed",
        "done": "ok",
    }
    read = api.status(spec)
    assert [r.outcome for r in read.runs] == ["succeeded", "succeeded"]
    assert read.states["web.up@web2"] == "changed" and read.records["db.start@db1"].last.message == "up to date"
    shown = orchc("status", "--journal", spec, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line.split()[1:3] for line in shown.stdout.splitlines() if "@" in line}
    # Each instance's latest real outcome: run 2's "up to date" skips do not hide run 1's changes.
    assert rows == {
        "db.install@db1": ["db1", "changed"],
        "db.start@db1": ["db1", "changed"],
        "web.up@web1": ["web1", "changed"],
        "web.up@web2": ["web2", "changed"],
    }
    assert "last run 2: succeeded" in shown.stdout
    report = orchc("report", "--journal", spec, "--run", "1", "-o", "report.html", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "port 80 in use" in (tmp_path / "report.html").read_text()
    simulated = orchc("simulate", "plan.json", "--journal", spec, cwd=tmp_path)
    assert simulated.returncode == 0, simulated.stderr
    assert "the journal (last execution of each instance)" in simulated.stdout


def test_the_journal_is_chosen_by_orchc_journal_too(spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plan = make_plan("a.x@h1", root=tmp_path)
    (tmp_path / "plan.json").write_text(plan.to_json())
    monkeypatch.setenv("ORCHC_JOURNAL", spec)
    assert orchc("run", "plan.json", cwd=tmp_path).returncode == 0
    assert api.status(spec).states == {"a.x@h1": "changed"}
    shown = orchc("status", cwd=tmp_path)
    assert re.search(r"a\.x@h1\s+h1\s+changed", shown.stdout), shown.stdout


def test_a_server_that_does_not_answer_is_a_clear_error(tmp_path: Path) -> None:
    plan = make_plan("a.x@h1", root=tmp_path)
    (tmp_path / "plan.json").write_text(plan.to_json())
    from sshd import _free_port

    url = f"postgresql://orchc:s3cret@127.0.0.1:{_free_port()}/nowhere"
    for args in (["run", "plan.json"], ["status"], ["report"]):
        result = orchc(*args, "--journal", url, cwd=tmp_path)
        assert result.returncode == 1, (args, result.stdout)
        assert "cannot use the journal postgresql://orchc:***@127.0.0.1" in result.stderr
        assert "hint: start PostgreSQL" in result.stderr
        assert "s3cret" not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_the_topics_a_change_notified_are_kept_until_a_later_one(journal: Journal) -> None:
    """Only a `changed` ending's topics count, each at its last report (pending notifications)."""
    run = journal.begin_run("d", {})
    journal.record(run, [Transition("n@h", State.CHANGED, notified=["restart a", "restart b"])])
    journal.record(run, [Transition("n@h", State.FAILED, notified=["restart c"])])
    journal.record(run, [Transition("n@h", State.CHANGED, notified=["restart b"]), Transition("n@h", State.OK)])
    (mark,) = journal.last_successes(["n@h"]).values()
    first, _, second, last = (t for t in journal.transitions(run))
    assert [t.notified for t in (first, second, last)] == [["restart a", "restart b"], ["restart b"], []]
    assert mark.changed is not None and mark.success > mark.changed
    assert mark.notified["restart b"] == mark.changed and mark.notified["restart a"] < mark.changed
    assert "restart c" not in mark.notified


def test_a_format_2_database_is_upgraded_in_place(postgres: PostgresServer) -> None:
    """Format 3 keeps the topics of each transition and ending; those of a format 2 database notified none."""
    import psycopg

    url = postgres.new_database()
    store = open_journal(url)
    run = store.begin_run("d", {})
    store.record(run, [Transition("a@h", State.CHANGED)])
    store.close()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("ALTER TABLE transitions DROP COLUMN notified")
        db.execute("ALTER TABLE endings DROP COLUMN notified")
        db.execute("UPDATE orchc_format SET version = 2")
    store = open_journal(url)
    try:
        assert [t.notified for t in store.transitions(run)] == [[]]
        store.record(run, [Transition("a@h", State.CHANGED, notified=["restart a"])])
        assert store.transitions(run)[-1].notified == ["restart a"]
    finally:
        store.close()
    with psycopg.connect(url, autocommit=True) as db:
        assert db.execute("SELECT version FROM orchc_format").fetchone() == (FORMAT,) == (4,)
        assert db.execute(
            "SELECT count(*) FROM information_schema.columns WHERE column_name = %s", ("notified",)
        ).fetchone() == (2,)
