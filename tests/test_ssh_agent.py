"""The remote agent's protocol, spoken to it directly (a local process: no SSH needed to check the agent itself)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import time
from pathlib import Path

from orchc.backends.ssh_session import agent_source


class Agent:
    """One agent process, run the way the SSH transport runs it on a host."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-u", "-c", agent_source()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert json.loads(self.process.stdout.readline()) == {"ready": True, "protocol": 1}

    def send(self, **request) -> None:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def reply(self) -> dict:
        return json.loads(self.process.stdout.readline())


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def test_the_agent_is_ascii_and_python_36_syntax() -> None:
    source = agent_source()
    source.encode("ascii")
    ast.parse(source, feature_version=(3, 6))


def test_commands_get_env_and_cwd_and_run_concurrently(tmp_path: Path) -> None:
    agent = Agent()
    agent.send(
        op="run", id=1, argv=["/bin/sh", "-c", "read line; echo never"], timeout=None
    )  # waits on stdin: /dev/null
    agent.send(op="run", id=2, argv=["/bin/sh", "-c", "sleep 1; echo slow"])
    agent.send(
        op="run",
        id=3,
        argv=["/bin/sh", "-c", 'echo "$GREETING from $(pwd)"; echo err >&2; exit 4'],
        env={"GREETING": "hi"},
        cwd=str(tmp_path),
    )
    ends = {}
    outputs: dict[tuple[int, str], str] = {}
    while len(ends) < 3:
        reply = agent.reply()
        if "stream" in reply:
            key = (reply["id"], reply["stream"])
            outputs[key] = outputs.get(key, "") + reply["data"]
        else:
            ends[reply["id"]] = reply
    assert list(ends)[-1] == 2  # the slow command started before 3 and ended after it
    # stdout and stderr are two pipes: only the order within each is defined
    assert (outputs[(3, "stdout")], outputs[(3, "stderr")]) == (f"hi from {tmp_path}\n", "err\n")
    assert ends[3]["exit"] == 4 and ends[1]["exit"] == 0
    agent.process.stdin.close()
    assert agent.process.wait(timeout=10) == 0


def test_a_command_that_cannot_start_says_why(tmp_path: Path) -> None:
    agent = Agent()
    agent.send(op="run", id=1, argv=["/bin/true"], cwd=str(tmp_path / "missing"))
    assert "No such file or directory" in agent.reply()["error"]
    agent.process.stdin.close()
    agent.process.wait(timeout=10)


def test_kill_and_timeout_stop_the_whole_process_group(tmp_path: Path) -> None:
    agent = Agent()
    agent.send(op="run", id=1, argv=["/bin/sh", "-c", f"sleep 60 & echo $! > {tmp_path}/a; echo up; wait"])
    agent.send(op="run", id=2, argv=["/bin/sh", "-c", f"sleep 60 & echo $! > {tmp_path}/b; wait"], timeout=0.5)
    assert agent.reply() == {"id": 1, "stream": "stdout", "data": "up\n"}
    agent.send(op="kill", id=1)
    ends = {}
    while len(ends) < 2:
        reply = agent.reply()
        if "stream" not in reply:
            ends[reply["id"]] = reply
    assert ends[1] == {"id": 1, "exit": None, "signal": 15, "timed_out": False, "killed": True}
    assert ends[2] == {"id": 2, "exit": None, "signal": 15, "timed_out": True, "killed": False}
    assert not _alive(int((tmp_path / "a").read_text())) and not _alive(int((tmp_path / "b").read_text()))
    agent.process.stdin.close()
    agent.process.wait(timeout=10)


def test_when_the_controller_goes_away_running_commands_are_killed(tmp_path: Path) -> None:
    agent = Agent()
    agent.send(op="run", id=1, argv=["/bin/sh", "-c", f"sleep 60 & echo $! > {tmp_path}/pid; echo up; wait"])
    assert agent.reply()["data"] == "up\n"
    agent.process.stdin.close()
    agent.process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(int((tmp_path / "pid").read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int((tmp_path / "pid").read_text()))


def test_many_commands_at_once_each_get_their_own_output_and_end() -> None:
    """Pipes closed by one command are reused by the next: nothing may be read for the wrong command."""
    agent = Agent()
    for i in range(1, 41):
        agent.send(op="run", id=i, argv=["/bin/sh", "-c", f"echo out{i}; echo err{i} >&2; exit {i % 3}"])
    outputs: dict[tuple[int, str], str] = {}
    ends = {}
    while len(ends) < 40:
        reply = agent.reply()
        if "stream" in reply:
            key = (reply["id"], reply["stream"])
            outputs[key] = outputs.get(key, "") + reply["data"]
        else:
            ends[reply["id"]] = reply["exit"]
    assert ends == {i: i % 3 for i in range(1, 41)}
    assert outputs == {
        **{(i, "stdout"): f"out{i}\n" for i in range(1, 41)},
        **{(i, "stderr"): f"err{i}\n" for i in range(1, 41)},
    }
    agent.process.stdin.close()
    assert agent.process.wait(timeout=10) == 0
