"""orchc over native SSH against ansible-playbook: Directord's trivial-task workload, scaled down.

    python3 bench/ssh_vs_ansible.py [--tasks 100] [--hosts 6]

Both tools run N ordered `echo hello world` tasks on every host of an
inventory whose hosts all point at one real OpenSSH server on 127.0.0.1
(started here, as the tests do), in the same run:

- orchc: `orchc run` end to end (compile + run) of a generated `.orch` file,
  then `orchc run plan.json` of the same Plan compiled beforehand.
- Ansible: `ansible-playbook` with pipelining on, forks = hosts, the `free`
  strategy and fact gathering off (Directord's fastest Ansible setting).

It prints both wall times and their ratio (target: orchc >= 50x faster), and
orchc's cost per task instance during the run phase (from its event stream)
against the raw cost of running `sh -c 'echo hello world'` locally (target:
within 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sshd import SshServer  # noqa: E402  (the tests' server, reused outside pytest)

COMMAND = "echo hello world"
RAW_SAMPLES = 300


def orch_source(tasks: int) -> str:
    lines = ["role nodes { services bench }", "service bench {", f'  task t0 {{ run "{COMMAND}" }}']
    lines += [f'  task t{i} {{ after t{i - 1} run "{COMMAND}" }}' for i in range(1, tasks)]
    return "\n".join(lines + ["}", ""])


def playbook(tasks: int) -> str:
    header = "- hosts: nodes\n  gather_facts: false\n  strategy: free\n  tasks:\n"
    return header + "".join(f"    - name: t{i}\n      ansible.builtin.command: {COMMAND}\n" for i in range(tasks))


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{argv[0]} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def run_phase_seconds(events: Path) -> float:
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "run_ended":
            return float(event["elapsed"])
    sys.exit(f"no run_ended event in {events}")


def raw_local_seconds() -> float:
    started = time.perf_counter()
    for _ in range(RAW_SAMPLES):
        subprocess.run(["sh", "-c", COMMAND], stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - started) / RAW_SAMPLES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=6)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="orchc-bench-ssh-") as scratch:
        work = Path(scratch)
        server = SshServer.start(work / "sshd")
        try:
            names = [f"node{i}" for i in range(1, args.hosts + 1)]
            server.write_inventory(work / "inventory.yml", names, {"nodes": names})
            (work / "bench.orch").write_text(orch_source(args.tasks))
            (work / "bench.yml").write_text(playbook(args.tasks))

            orchc_wall = timed(
                [
                    sys.executable,
                    "-m",
                    "orchc",
                    "run",
                    "bench.orch",
                    "-i",
                    "inventory.yml",
                    "--journal",
                    "journal.db",
                    "--events",
                    "events.jsonl",
                ],
                work,
            )
            timed(
                [sys.executable, "-m", "orchc", "compile", "bench.orch", "-i", "inventory.yml", "-o", "plan.json"], work
            )
            plan_wall = timed([sys.executable, "-m", "orchc", "run", "plan.json", "--journal", "plan-journal.db"], work)
            ansible_env = {
                **os.environ,
                "ANSIBLE_PIPELINING": "True",
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp"),
                "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
                "ANSIBLE_RETRY_FILES_ENABLED": "False",
            }
            ansible_wall = timed(
                ["ansible-playbook", "-i", "inventory.yml", "-f", str(args.hosts), "bench.yml"], work, ansible_env
            )
        finally:
            server.stop()
        run_phase = run_phase_seconds(work / "events.jsonl")

    instances = args.tasks * args.hosts
    raw = raw_local_seconds()
    per_instance = run_phase / instances
    print(f"workload: {args.tasks} tasks x {args.hosts} hosts = {instances} instances of `{COMMAND}` over SSH")
    print(f"orchc run bench.orch          {orchc_wall:8.2f} s   (compile + run; run phase {run_phase:.2f} s)")
    print(f"orchc run plan.json           {plan_wall:8.2f} s   (a Plan compiled beforehand)")
    print(f"ansible-playbook              {ansible_wall:8.2f} s")
    print(
        f"ratio ansible / orchc         {ansible_wall / orchc_wall:8.1f}x   (target >= 50x; "
        f"{ansible_wall / plan_wall:.1f}x from plan.json)"
    )
    print(f"orchc per task instance       {per_instance * 1000:8.2f} ms  (run phase / instances)")
    print(f"raw local sh -c               {raw * 1000:8.2f} ms")
    print(f"ratio orchc / raw             {per_instance / raw:8.2f}x   (target <= 2x)")


if __name__ == "__main__":
    main()
