"""The journal's file format is numbered: older files are upgraded with their history, newer ones refused."""

import sqlite3
from pathlib import Path

import pytest

from orchc.backends.journal import FORMAT, JournalError, SqliteJournal, Transition

# The first, unnumbered format: no `notes` on runs, no table of latest executions.
_FORMAT_0 = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, started REAL NOT NULL, ended REAL, plan_digest TEXT NOT NULL,
                   options TEXT NOT NULL, outcome TEXT);
CREATE TABLE transitions (seq INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES runs(id), instance TEXT NOT NULL,
    host TEXT, state TEXT NOT NULL, attempt INTEGER NOT NULL, time REAL NOT NULL, fingerprint TEXT NOT NULL,
    change_key TEXT NOT NULL, rc INTEGER, stdout_tail TEXT NOT NULL, stderr_tail TEXT NOT NULL, message TEXT NOT NULL);
INSERT INTO runs VALUES (1, 1.0, 2.0, 'd', '{}', 'failed');
INSERT INTO transitions VALUES (1, 1, 'a@h', 'h', 'running', 1, 1.0, 'f', 'ka', NULL, '', '', '');
INSERT INTO transitions VALUES (2, 1, 'a@h', 'h', 'changed', 1, 1.5, 'f', 'ka', 0, '', '', '');
INSERT INTO transitions VALUES (3, 1, 'b@h', 'h', 'running', 1, 1.6, 'f', 'kb', NULL, '', '', '');
INSERT INTO transitions VALUES (4, 1, 'b@h', 'h', 'failed', 1, 1.9, 'f', 'kb', 1, '', 'boom', '');
"""


def older_file(folder: Path, version: int) -> Path:
    """A journal of format 2 (latest executions and run graphs), or 3 (with the run of each last success)."""
    path = folder / "journal.db"
    success_run = (", success_run BIGINT", ", 1", ", NULL") if version == 3 else ("", "", "")
    with sqlite3.connect(path) as db:
        db.executescript(_FORMAT_0)
        db.executescript(
            "ALTER TABLE runs ADD COLUMN notes TEXT NOT NULL DEFAULT '[]';"
            "CREATE TABLE latest_executions (instance TEXT PRIMARY KEY, state TEXT NOT NULL, change_key TEXT NOT NULL"
            f"{success_run[0]}) WITHOUT ROWID;"
            f"INSERT INTO latest_executions VALUES ('a@h', 'changed', 'ka'{success_run[1]}),"
            f" ('b@h', 'failed', 'kb'{success_run[2]});"
            "CREATE TABLE run_graphs (plan_digest TEXT PRIMARY KEY, graph BLOB NOT NULL) WITHOUT ROWID;"
            f"PRAGMA user_version = {version};"
        )
    return path


def test_an_unnumbered_journal_is_upgraded_and_keeps_what_succeeded(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with sqlite3.connect(path) as db:
        db.executescript(_FORMAT_0)
    journal = SqliteJournal(path)
    try:
        assert journal.done_keys() == {"a@h": "ka"}
        assert [(r.id, r.outcome, r.notes) for r in journal.runs()] == [(1, "failed", [])]
        run = journal.begin_run("d2", {})
        journal.record(run, [Transition("b@h", "running", change_key="kb"), Transition("b@h", "ok", change_key="kb")])
        assert journal.done_keys() == {"a@h": "ka", "b@h": "kb"}
    finally:
        journal.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT


def test_a_journal_from_a_newer_orchc_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {FORMAT + 1}")
    with pytest.raises(JournalError, match="newer orchc"):
        SqliteJournal(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT + 1


def test_a_failure_after_a_success_makes_the_instance_run_again(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    try:
        run = journal.begin_run("d", {})
        journal.record(run, [Transition("a@h", "running", change_key="k"), Transition("a@h", "ok", change_key="k")])
        journal.record(run, [Transition("a@h", "running", change_key="k")])  # a crash while it ran again
        assert journal.done_keys() == {}
    finally:
        journal.close()


def test_a_format_2_journal_learns_the_run_of_each_last_success(tmp_path: Path) -> None:
    """Format 3 keeps the run of each instance's latest success (what `orchc plan` compares against); a
    format 2 file finds it in its transitions when opened."""
    path = older_file(tmp_path, 2)
    journal = SqliteJournal(path)
    try:
        executions = journal.executions()
        assert {iid: (str(e.state), e.success_run) for iid, e in executions.items()} == {
            "a@h": ("changed", 1),
            "b@h": ("failed", None),
        }
        run = journal.begin_run("d2", {})
        journal.record(run, [Transition("a@h", "running", change_key="k2"), Transition("a@h", "failed")])
        assert journal.executions()["a@h"].success_run == 1  # a failure keeps the last success's run
    finally:
        journal.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT


def test_a_format_3_journal_learns_that_its_changes_notified_no_topic(tmp_path: Path) -> None:
    """Format 4 keeps the topics each change notified (`when notified(TASK "TOPIC")`); the transitions of a
    format 3 file notified none, and its history is kept."""
    path = older_file(tmp_path, 3)
    journal = SqliteJournal(path)
    try:
        assert [t.notified for t in journal.transitions(1)] == [[], [], [], []]
        assert journal.last_successes(["a@h"]) == {"a@h": (2, 2, {})}
        run = journal.begin_run("d2", {})
        journal.record(run, [Transition("a@h", "running"), Transition("a@h", "changed", notified=["restart a"])])
        assert journal.last_successes(["a@h"]) == {"a@h": (6, 6, {"restart a": 6})}
        assert journal.transitions(run)[-1].notified == ["restart a"]
    finally:
        journal.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT == 4
