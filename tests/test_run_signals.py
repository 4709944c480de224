"""`orchc run` as a real process: SIGKILL mid-run, Ctrl-C once (graceful), Ctrl-C twice (kill)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from test_engine_plans import make_plan
from test_run import alive, counts, orchc


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchc", "run", "plan.json", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def journal_rows(tmp_path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(tmp_path / ".orchc" / "journal.db") as db:
        return db.execute(query).fetchall()


def last_states(tmp_path: Path, run: int) -> dict[str, str]:
    rows = journal_rows(tmp_path, f"SELECT instance, state FROM transitions WHERE run = {run} ORDER BY seq")
    return dict(rows)


def write_plan(tmp_path: Path, text: str, commands: dict[str, str]) -> None:
    (tmp_path / "plan.json").write_text(make_plan(text, commands=commands, root=tmp_path).to_json())


def test_crash_then_resume_runs_no_succeeded_instance_twice(tmp_path: Path):
    ids = [f"s.t{k}@h{h}" for h in range(3) for k in range(5)]
    text = "\n".join(f"s.t{k}@h{h}" + (f": s.t{k - 1}@h{h}" if k else "") for h in range(3) for k in range(5))
    write_plan(tmp_path, text, {iid: f"sleep 0.2; echo {iid} >> counter" for iid in ids})
    proc = start(tmp_path)
    wait_for(lambda: sum(counts(tmp_path).values()) >= 4, "a few instances to finish")
    proc.kill()
    proc.wait()
    first = last_states(tmp_path, 1)
    succeeded = {iid for iid, state in first.items() if state == "changed"}
    assert succeeded and "running" in first.values(), first  # killed mid-run, with work in flight

    second = orchc("run", "plan.json", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    ran = counts(tmp_path)
    assert set(ran) == set(ids)  # everything finished
    assert {iid: ran[iid] for iid in succeeded} == {iid: 1 for iid in succeeded}  # nothing ran twice
    resumed = last_states(tmp_path, 2)
    assert all(resumed[iid] == "skipped" for iid in succeeded)
    assert all(resumed[iid] == "changed" for iid in set(ids) - succeeded)
    assert journal_rows(tmp_path, "SELECT id, outcome FROM runs") == [(1, None), (2, "succeeded")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_interrupt_lets_running_instances_finish(tmp_path: Path, sig: signal.Signals):
    write_plan(
        tmp_path,
        "a.slow@h1\na.next@h1: a.slow@h1\nb.other@h2: a.next@h1",
        {
            "a.slow@h1": "touch started; sleep 0.8; echo a.slow@h1 >> counter",
            "a.next@h1": "echo a.next@h1 >> counter",
            "b.other@h2": "echo b.other@h2 >> counter",
        },
    )
    proc = start(tmp_path)
    wait_for(lambda: (tmp_path / "started").exists(), "a.slow to start")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "run 1 interrupted" in out and "run `orchc run` again to resume" in out
    assert "interrupted: stopping gracefully, waiting for 1 running instance(s) to finish" in out
    assert last_states(tmp_path, 1) == {"a.slow@h1": "changed", "a.next@h1": "skipped", "b.other@h2": "skipped"}

    again = orchc("run", "plan.json", cwd=tmp_path)
    assert again.returncode == 0
    assert counts(tmp_path) == {"a.slow@h1": 1, "a.next@h1": 1, "b.other@h2": 1}


def test_second_interrupt_kills_running_process_groups(tmp_path: Path):
    write_plan(tmp_path, "a.hang@h1", {"a.hang@h1": "sleep 60 & echo $! > sleeper.pid; wait"})
    proc = start(tmp_path)
    wait_for(
        lambda: (tmp_path / "sleeper.pid").exists() and (tmp_path / "sleeper.pid").read_text().strip() != "",
        "the sleeper to start",
    )
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "interrupted again: killing 1 running instance(s)" in out
    wait_for(lambda: not alive(int((tmp_path / "sleeper.pid").read_text())), "the sleeper to die", 10)
    assert last_states(tmp_path, 1) == {"a.hang@h1": "failed"}
    shown = orchc("run", "plan.json", "--dry-run", cwd=tmp_path)
    assert "1 of 1 instances would run" in shown.stdout  # the killed instance runs again on resume
    os.remove(tmp_path / "sleeper.pid")


def in_a_terminal_that_closes(tmp_path: Path, shell_line: str) -> int:
    """`shell_line` in a tmux terminal of its own, closed (its pty hung up) once `a.slow` has started;
    the pid of the terminal's process."""
    name = f"orchc-hangup-{os.getpid()}"
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", "-c", str(tmp_path), shell_line])
    try:
        pane = subprocess.run(["tmux", "list-panes", "-t", name, "-F", "#{pane_pid}"], capture_output=True, text=True)
        wait_for(lambda: (tmp_path / "started").exists(), "a.slow to start")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    return int(pane.stdout)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install -y tmux)")
@pytest.mark.parametrize(
    ("launch", "outcome", "next_state"),
    [
        ("exec", "interrupted", "skipped"),  # orchc gets the SIGHUP (as from a login shell): stops gracefully
        ("trap '' HUP; exec", "succeeded", "changed"),  # as under nohup: orchc goes on, writing nowhere
    ],
)
def test_a_closed_terminal_never_loses_the_run(tmp_path: Path, launch: str, outcome: str, next_state: str):
    """The terminal or SSH session `orchc run` ran in goes away, with the live view on it: no traceback, no
    internal error; the journal ends the run, and it resumes like any other."""
    write_plan(
        tmp_path,
        "a.slow@h1\na.next@h1: a.slow@h1",
        {
            "a.slow@h1": "touch started; sleep 0.8; echo a.slow@h1 >> counter",
            "a.next@h1": "echo a.next@h1 >> counter",
        },
    )
    orchc_pid = in_a_terminal_that_closes(tmp_path, f"{launch} {sys.executable} -m orchc run plan.json 2>stderr.txt")
    wait_for(lambda: not alive(orchc_pid), "orchc to exit")
    assert journal_rows(tmp_path, "SELECT outcome FROM runs") == [(outcome,)]
    assert last_states(tmp_path, 1) == {"a.slow@h1": "changed", "a.next@h1": next_state}
    assert "error" not in (tmp_path / "stderr.txt").read_text()
    again = orchc("run", "plan.json", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert counts(tmp_path) == {"a.slow@h1": 1, "a.next@h1": 1}
