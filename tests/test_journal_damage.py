"""A damaged journal (a disk error, a power loss) is a diagnostic for every command that reads it: what is
wrong and how to go on, exit status 1; the file is kept as it is (issue 13.3)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from test_run import counter_plan, counts, orchc, run


def damage_pages(journal: Path) -> bytes:
    """Overwrite the start of every page but the first (the header): the file opens, its tables do not read."""
    data = bytearray(journal.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    for start in range(page_size, len(data), page_size):
        data[start : start + 64] = b"\xff" * 64
    journal.write_bytes(data)
    return bytes(data)


@pytest.mark.parametrize(
    "command",
    [
        ("run", "plan.json"),
        ("run", "plan.json", "--dry-run"),
        ("status", "."),
        ("report", ".", "-o", "report.html"),
        ("simulate", "plan.json"),
    ],
)
def test_a_damaged_journal_is_kept_and_the_way_on_is_told(tmp_path: Path, command: tuple[str, ...]) -> None:
    plan = counter_plan(tmp_path, "a.x@h1\nb.y@h2")
    run(plan, tmp_path)
    (tmp_path / "plan.json").write_text(plan.to_json())
    journal = tmp_path / ".orchc" / "journal.db"
    damaged = damage_pages(journal)
    result = orchc(*command, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(
        "orchc: error: the journal .orchc/journal.db is damaged (database disk image is malformed)\n"
    )
    assert (
        "start a fresh journal: pass --journal NEW.db, or move this one aside "
        "(`mv .orchc/journal.db .orchc/journal.db.damaged`)" in result.stderr
    )
    assert journal.read_bytes() == damaged
    assert counts(tmp_path) == {"a.x@h1": 1, "b.y@h2": 1}  # nothing ran again
    assert not (tmp_path / "report.html").exists()


def test_a_file_that_is_not_a_journal_is_left_alone(tmp_path: Path) -> None:
    plan = counter_plan(tmp_path, "a.x@h1")
    (tmp_path / "plan.json").write_text(plan.to_json())
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    result = orchc("run", "plan.json", "--journal", "notes.txt", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(
        "orchc: error: the journal notes.txt is not an orchc journal, or is damaged (file is not a database)\n"
    )
    assert (tmp_path / "notes.txt").read_text() == "not a database\n" * 100
    assert counts(tmp_path) == {}


def test_a_state_this_orchc_does_not_know_is_said(tmp_path: Path) -> None:
    plan = counter_plan(tmp_path, "a.x@h1")
    run(plan, tmp_path)
    journal = tmp_path / ".orchc" / "journal.db"
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE transitions SET state = 'exploded'")
    db.close()
    result = orchc("status", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(
        "orchc: error: the journal .orchc/journal.db holds an instance state this orchc "
        "does not know ('exploded' is not a valid State)\n"
    )
