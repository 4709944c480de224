"""The fixed cost of a run: `orchc run plan.json` of one trivial task on 6 SSH hosts, beside 6 parallel `ssh host true`.

    python3 bench/fixed_cost.py [--hosts 6] [--repeat 3]

What is measured is everything a run pays before and after its work:
start-up (imports, reading the Plan), opening the journal, connecting to
every host and starting the agent there (in parallel), and closing. The
hosts are names of one real OpenSSH server on 127.0.0.1, started here as the
tests do. The limit, measured in the same run and alternating with orchc, is
the OpenSSH client connecting to every host at once and running `true`.

It prints wall and CPU seconds (orchc's process and its children; the ssh
clients') and the ratio of the best walls (target <= 1.3x), with the load
average: on a busy machine CPU seconds are the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sshd import SshServer  # noqa: E402  (the tests' server, reused outside pytest)

TARGET = 1.3
SOURCE = 'role nodes { services one }\nservice one {\n  task t { run "true" }\n}\n'


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(start: list[list[str]], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of these processes, started at once and awaited together."""
    cpu, began = children_cpu(), time.perf_counter()
    processes = [subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for argv in start]
    for process, argv in zip(processes, start, strict=True):
        out, err = process.communicate()
        if process.returncode != 0:
            sys.exit(f"{argv[0]} failed (exit {process.returncode}):\n{out.decode()[-2000:]}{err.decode()[-2000:]}")
    return time.perf_counter() - began, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating; the best is kept")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    orchc_runs: list[tuple[float, float]] = []
    ssh_runs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="orchc-bench-fixed-") as scratch:
        work = Path(scratch)
        server = SshServer.start(work / "sshd")
        try:
            names = [f"node{i}" for i in range(1, args.hosts + 1)]
            server.write_inventory(work / "inventory.yml", names, {"nodes": names})
            (work / "one.orch").write_text(SOURCE)
            compile_argv = [sys.executable, "-m", "orchc", "compile", "one.orch", "-i", "inventory.yml"]
            timed([[*compile_argv, "-o", "plan.json"]], work)
            ssh = [
                *server.client_argv(),
                "true",
            ]
            for attempt in range(args.repeat):
                run = [sys.executable, "-m", "orchc", "run", "plan.json", "--journal", f"journal-{attempt}.db"]
                orchc_runs.append(timed([run], work))
                ssh_runs.append(timed([ssh] * args.hosts, work))
        finally:
            server.stop()
    load = max(load_before, os.getloadavg()[0])
    print(f"one trivial task on {args.hosts} SSH hosts, best of {args.repeat} alternating runs")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs")
    for name, runs in (("orchc run plan.json", orchc_runs), (f"{args.hosts} x ssh host true, at once", ssh_runs)):
        walls = ", ".join(f"{wall:.2f}" for wall, _ in runs)
        cpus = ", ".join(f"{cpu:.2f}" for _, cpu in runs)
        best_wall, best_cpu = min(w for w, _ in runs), min(c for _, c in runs)
        print(f"{name:<32} wall {best_wall:6.2f} s (each: {walls})  cpu {best_cpu:.2f} s (each: {cpus})")
    ratio = min(w for w, _ in orchc_runs) / min(w for w, _ in ssh_runs)
    cpu_ratio = min(c for _, c in orchc_runs) / min(c for _, c in ssh_runs)
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"ratio orchc / ssh: wall {ratio:.2f}x (target <= {TARGET:g}x: {verdict}), cpu {cpu_ratio:.2f}x")


if __name__ == "__main__":
    main()
