"""The live view as a person sees it: `orchc run` in a real terminal (tmux, 160×45), its screen captured.

Tasks wait on a gate file, so that each capture is taken in a known state (every gated task running),
not at a moment chosen by a clock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from orchc.plan import Plan
from test_engine_plans import make_plan

WIDTH, HEIGHT = 160, 45
PATIENCE = 120.0  # seconds a screen may take to reach the state a test waits for, on a loaded machine

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install -y tmux)")


class Screen:
    def __init__(self, name: str) -> None:
        self.name = name

    def text(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True, check=True
        ).stdout

    def wait_for(self, seen: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + PATIENCE
        while True:
            text = self.text()
            if seen(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {what}:\n{text}")
            time.sleep(0.2)


@contextmanager
def terminal(tmp_path: Path, *args: str) -> Iterator[Screen]:
    """`orchc ARGS` in a tmux session of its own, kept on screen after it exits."""
    name = f"orchc-test-{os.getpid()}-{tmp_path.name}"
    command = " ".join([sys.executable, "-m", "orchc", *args])
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), "-c", str(tmp_path)],
        check=True,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    try:
        subprocess.run(["tmux", "set-option", "-t", name, "remain-on-exit", "on"], check=True)
        subprocess.run(["tmux", "respawn-pane", "-k", "-t", name, command], check=True)
        yield Screen(name)
    finally:
        # A test that failed before opening its gate leaves gated commands behind the killed terminal: open it.
        (tmp_path / "gate").touch()
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def gated(tmp_path: Path) -> str:
    return f"while [ ! -e {tmp_path}/gate ]; do sleep 0.05; done; echo unpacking the last package"


def write_plan(tmp_path: Path, plan: Plan) -> None:
    (tmp_path / "plan.json").write_text(plan.to_json())


def small_plan(tmp_path: Path) -> Plan:
    """Three controllers wait on ctl1's database bootstrap; compute1 fails; compute2 and 3 install slowly."""
    text = """
        db.install@ctl1
        db.install@ctl2
        db.install@ctl3
        db.boot@ctl1: db.install@ctl1
        api.start@ctl1: db.boot@ctl1
        api.start@ctl2: db.boot@ctl1 db.install@ctl2
        api.start@ctl3: db.boot@ctl1 db.install@ctl3
        ready: api.start@ctl1 api.start@ctl2 api.start@ctl3
        nova.install@compute1
        nova.install@compute2
        nova.install@compute10
        nova.start@compute1: nova.install@compute1 ready
        nova.start@compute2: nova.install@compute2 ready
        nova.start@compute10: nova.install@compute10 ready
    """
    gate = gated(tmp_path)
    return make_plan(
        text,
        commands={
            "db.boot@ctl1": gate,
            "nova.install@compute2": gate,
            "nova.install@compute10": gate,
            "nova.install@compute1": "echo no space left on device >&2; exit 1",
        },
        roles={"controller": (["ctl1", "ctl2", "ctl3"], 0), "compute": (["compute1", "compute2", "compute10"], 1)},
        root=tmp_path,
    )


def test_six_hosts(tmp_path: Path):
    write_plan(tmp_path, small_plan(tmp_path))
    with terminal(tmp_path, "run", "plan.json") as screen:
        board = screen.wait_for(
            lambda s: "compute2 " in s and "compute10  ▶" in s and "✗" in s and "ctl3 " in s, "the board with a failure"
        )
        (tmp_path / "board-6.txt").write_text(board)
        lines = board.splitlines()
        assert lines[0].startswith("failed: nova.install@compute1")  # printed once, above the board
        assert "  exit status 1: no space left on device" in board and "  | no space left on device" in board
        head = next(line for line in lines if line.startswith("run 1  "))
        assert "failed" in head and "elapsed" in head and "ETA" in head
        assert "controller  3 hosts: 2 done, 1 running" in board or "controller  3 hosts: 1 running" in board
        assert "compute  3 hosts: 2 running, 1 failed" in board
        row = {line.split()[0]: line for line in lines if line.startswith("  ") and line.split()}
        assert "▶ db.boot" in row["ctl1"] and "s" in row["ctl1"].split("db.boot")[1]
        assert "… waiting for db.boot on ctl1 (running" in row["ctl2"]
        assert "✗ failed nova.install  exit status 1: no space left on device" in row["compute1"]
        assert "▶ nova.install" in row["compute2"]
        order = [name for name in row if name.startswith("compute")]
        assert order == ["compute1", "compute2", "compute10"], "failed first, then natural order"
        assert "dep_failed" not in board
        (tmp_path / "gate").touch()
        end = screen.wait_for(lambda s: "run 1 failed" in s or "run 1 succeeded" in s, "the end of the run")
        (tmp_path / "end-6.txt").write_text(end)
    assert end.count("| no space left on device") == 1, "a failure is shown once"
    assert "changed 11" in end and "failed 1" in end and "skipped 1" in end


def large_plan(tmp_path: Path, computes: int) -> Plan:
    """Three controllers and many compute hosts; every compute install waits on the gate; compute7 fails."""
    lines = ["db.install@ctl1", "db.install@ctl2", "db.install@ctl3", "ready: db.install@ctl1"]
    computes_names = [f"compute{n}" for n in range(1, computes + 1)]
    for name in computes_names:
        lines += [f"nova.install@{name}", f"nova.start@{name}: nova.install@{name} ready"]
    commands = {f"nova.install@{name}": gated(tmp_path) for name in computes_names}
    commands["nova.install@compute7"] = "echo disk full >&2; exit 1"
    return make_plan(
        "\n".join(lines),
        commands=commands,
        roles={"controller": (["ctl1", "ctl2", "ctl3"], 0), "compute": (computes_names, 10)},
        root=tmp_path,
    )


def test_three_hundred_hosts(tmp_path: Path):
    write_plan(tmp_path, large_plan(tmp_path, 297))
    with terminal(tmp_path, "run", "plan.json", "--forks", "40") as screen:
        board = screen.wait_for(
            lambda s: "compute  297 hosts: 40 running, 1 failed" in s and "more: " in s.split("compute  297")[1],
            "40 hosts running, the whole board drawn",
        )
        (tmp_path / "board-300.txt").write_text(board)
        lines = board.splitlines()
        assert len(lines) <= HEIGHT and all(len(line) <= WIDTH for line in lines)
        assert board.count("controller  3 hosts: ") == 1
        assert "compute  297 hosts: 40 running, 1 failed, 256 waiting" in board
        rows = [line for line in lines if line.startswith("  compute")]
        assert "✗ failed nova.install  exit status 1: disk full" in rows[0]
        assert sum("▶ nova.install" in row for row in rows) >= 20, "running hosts fill the screen"
        assert not any("… " in row for row in rows), "no waiting host while running ones are hidden"
        more = [line for line in lines if line.startswith("  … and ")][-1]
        assert f"… and {296 - (len(rows) - 1)} more: {40 - (len(rows) - 1)} running, 256 waiting" in more
        (tmp_path / "gate").touch()
        end = screen.wait_for(lambda s: "run 1 " in s and " after " in s, "the end of the run")
        (tmp_path / "end-300.txt").write_text(end)
    assert "changed 595" in end and "skipped 1" in end and "failed 1" in end
