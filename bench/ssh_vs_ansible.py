"""orchc over native SSH against ansible-playbook and Ansible with mitogen: Directord's trivial-task workload.

    python3 bench/ssh_vs_ansible.py [--tasks 100] [--hosts 6] [--peers ansible,mitogen | none]

Both tools run N ordered `echo hello world` tasks on every host of an
inventory whose hosts all point at one real OpenSSH server on 127.0.0.1
(started here, as the tests do), in the same run:

- orchc: `orchc run` end to end (compile + run) of a generated `.orch` file,
  then `orchc run plan.json` of the same Plan compiled beforehand.
- Ansible: `ansible-playbook` with pipelining on, forks = hosts, the `free`
  strategy and fact gathering off (Directord's fastest Ansible setting).
- mitogen: the same playbook with mitogen for Ansible's `mitogen_free`
  strategy, mitogen installed from PyPI into a venv this script makes beside
  its scratch folder (`--system-site-packages`, for ansible-core); skipped,
  saying why, when it cannot be installed.

It prints the wall times and the ratios (targets: orchc >= 60x faster than
ansible-playbook and >= 12x faster than mitogen), and orchc's cost per task
instance during the run phase (from its event stream) against the raw cost
of running `sh -c 'echo hello world'` locally, with the load average.
`--tasks 1000 --peers none` is Directord's own workload (1000 tasks on 6 hosts).
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
MITOGEN = "mitogen==0.3.54"
PEERS = ("ansible", "mitogen")


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


def mitogen_strategies(venv: Path) -> Path | str:
    """The strategy plugins of mitogen for Ansible, installed into `venv`; or why they could not be."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", MITOGEN], capture_output=True, text=True
    )
    if installed.returncode != 0:
        return f"pip install {MITOGEN} failed: {installed.stderr.strip().splitlines()[-1:]}"
    found = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__))",
        ],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        return f"ansible_mitogen does not import: {found.stderr.strip().splitlines()[-1:]}"
    return Path(found.stdout.strip()) / "plugins" / "strategy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=6)
    parser.add_argument("--peers", default=",".join(PEERS), help="ansible, mitogen, both (the default) or none")
    args = parser.parse_args()
    peers = [] if args.peers == "none" else args.peers.split(",")
    load_before = os.getloadavg()[0]
    walls: dict[str, float] = {}
    mitogen_skipped = None

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
            playbook_argv = ["ansible-playbook", "-i", "inventory.yml", "-f", str(args.hosts), "bench.yml"]
            if "ansible" in peers:
                walls["ansible-playbook"] = timed(playbook_argv, work, ansible_env)
            if "mitogen" in peers:
                strategies = mitogen_strategies(Path(tempfile.gettempdir()) / "orchc-bench-mitogen-venv")
                if isinstance(strategies, str):
                    mitogen_skipped = strategies
                else:
                    mitogen_env = {
                        **ansible_env,
                        "ANSIBLE_STRATEGY_PLUGINS": str(strategies),
                        "ANSIBLE_STRATEGY": "mitogen_free",
                    }
                    (work / "bench.yml").write_text(
                        playbook(args.tasks).replace("strategy: free", "strategy: mitogen_free")
                    )
                    walls["ansible + mitogen (mitogen_free)"] = timed(playbook_argv, work, mitogen_env)
        finally:
            server.stop()
        run_phase = run_phase_seconds(work / "events.jsonl")

    instances = args.tasks * args.hosts
    raw = raw_local_seconds()
    per_instance = run_phase / instances
    load = max(load_before, os.getloadavg()[0])
    print(f"workload: {args.tasks} tasks x {args.hosts} hosts = {instances} instances of `{COMMAND}` over SSH")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"orchc run bench.orch              {orchc_wall:8.2f} s   (compile + run; run phase {run_phase:.2f} s)")
    print(f"orchc run plan.json               {plan_wall:8.2f} s   (a Plan compiled beforehand)")
    for name, wall in walls.items():
        print(f"{name:<34}{wall:8.2f} s")
    if mitogen_skipped:
        print(f"ansible + mitogen: skipped ({mitogen_skipped})")
    targets = {"ansible-playbook": 60, "ansible + mitogen (mitogen_free)": 12}
    for name, wall in walls.items():
        print(
            f"ratio {name} / orchc: {wall / orchc_wall:.1f}x (target >= {targets[name]}x; "
            f"{wall / plan_wall:.1f}x from plan.json)"
        )
    print(f"orchc per task instance           {per_instance * 1000:8.2f} ms  (run phase / instances)")
    print(f"raw local sh -c                   {raw * 1000:8.2f} ms")
    print(f"ratio orchc / raw                 {per_instance / raw:8.2f}x")


if __name__ == "__main__":
    main()
