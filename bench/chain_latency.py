"""What one link of a host's chain of dependent tasks costs, beside the cost of `sh -c` itself.

    python3 bench/chain_latency.py [--links 200] [--repeat 2]

A chain of N tasks, each `after` the one before, all `run "echo hello world"`,
on one host: once a `connection: local` host, once a host reached over SSH
(a real OpenSSH server on 127.0.0.1, started here as the tests do). orchc
runs each chain from a compiled `plan.json`; its cost per link is read from
the journal: (end of the last link - end of the first) / (N - 1), so that
start-up and connecting are left out. In the same run, alternating with
orchc, the limits:

- local: N times `sh -c 'echo hello world'`, output captured, one after the other;
- SSH: the same N commands in a shell loop on the host, in one OpenSSH
  session (minus an `ssh host true`): what `sh -c` costs there. Beside it,
  one round trip over an open OpenSSH session (a line through `cat`), which
  a controller that records each ending before the next link starts cannot avoid.

It prints each figure per link and the ratio orchc / `sh -c` (target <= 2x),
with the load average: on a busy machine, figures of one run are comparable,
runs of different moments are not.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchc.backends.journal import SqliteJournal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sshd import SshServer  # noqa: E402  (the tests' server, reused outside pytest)

COMMAND = "echo hello world"
TARGET = 2.0


def chain_source(links: int) -> str:
    lines = ["role nodes { services chain }", "service chain {", f'  task t0 {{ run "{COMMAND}" }}']
    lines += [f'  task t{i} {{ after t{i - 1} run "{COMMAND}" }}' for i in range(1, links)]
    return "\n".join(lines + ["}", ""])


def orchc(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "orchc", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"orchc {' '.join(args)} failed (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def compiled_chain(folder: Path, links: int, host_vars: dict[str, object]) -> Path:
    """plan.json of the chain on one host `n1` with these inventory variables."""
    folder.mkdir(parents=True)
    (folder / "chain.orch").write_text(chain_source(links))
    inventory = {"all": {"hosts": {"n1": host_vars}, "children": {"nodes": {"hosts": {"n1": None}}}}}
    (folder / "inventory.yml").write_text(yaml.safe_dump(inventory))
    orchc("compile", "chain.orch", "-i", "inventory.yml", "-o", "plan.json", cwd=folder)
    return folder / "plan.json"


def orchc_per_link(plan: Path, links: int, attempt: int) -> float:
    journal_path = plan.parent / f"journal-{attempt}.db"
    orchc("run", str(plan), "--journal", str(journal_path), cwd=plan.parent)
    journal = SqliteJournal(journal_path)
    try:
        ends = {t.instance: t.time for t in journal.transitions(journal.runs()[-1].id) if t.state.is_final}
    finally:
        journal.close()
    return (ends[f"chain.t{links - 1}@n1"] - ends["chain.t0@n1"]) / (links - 1)


def local_sh_per_link(links: int) -> float:
    started = time.perf_counter()
    for _ in range(links):
        subprocess.run(["/bin/sh", "-c", COMMAND], capture_output=True, check=True)
    return (time.perf_counter() - started) / links


class OpenSsh:
    """The OpenSSH client, to the bench's server."""

    def __init__(self, server: SshServer) -> None:
        self.argv = server.client_argv()

    def seconds(self, command: str) -> float:
        started = time.perf_counter()
        subprocess.run([*self.argv, command], capture_output=True, check=True)
        return time.perf_counter() - started

    def remote_sh_per_link(self, links: int) -> float:
        loop = f"i=0; while [ $i -lt {links} ]; do sh -c {shlex.quote(COMMAND)} >/dev/null; i=$((i+1)); done"
        return (self.seconds(loop) - self.seconds("true")) / links

    def round_trip(self, samples: int) -> float:
        session = subprocess.Popen([*self.argv, "cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        assert session.stdin is not None and session.stdout is not None
        session.stdin.write(b"warm\n")
        session.stdout.readline()
        started = time.perf_counter()
        for _ in range(samples):
            session.stdin.write(b"x\n")
            session.stdout.readline()
        elapsed = time.perf_counter() - started
        session.stdin.close()
        session.wait()
        return elapsed / samples


@dataclass
class Figures:
    """Per-link seconds of each repeat."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.values.setdefault(name, []).append(seconds)

    def best(self, name: str) -> float:
        return min(self.values[name])

    def line(self, name: str, what: str) -> str:
        spread = ", ".join(f"{v * 1000:.2f}" for v in self.values[name])
        return f"{what:<44} {self.best(name) * 1000:7.2f} ms  (each run: {spread})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each figure, alternating; the best is kept")
    args = parser.parse_args()
    figures = Figures()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="orchc-bench-chain-") as scratch:
        work = Path(scratch)
        server = SshServer.start(work / "sshd")
        try:
            root = work / "root"
            root.mkdir()
            local_plan = compiled_chain(work / "local", args.links, {"ansible_connection": "local"})
            ssh_plan = compiled_chain(work / "ssh", args.links, server.host_vars(root))
            openssh = OpenSsh(server)
            for attempt in range(args.repeat):
                figures.add("local orchc", orchc_per_link(local_plan, args.links, attempt))
                figures.add("local sh", local_sh_per_link(args.links))
                figures.add("ssh orchc", orchc_per_link(ssh_plan, args.links, attempt))
                figures.add("ssh sh", openssh.remote_sh_per_link(args.links))
                figures.add("ssh round trip", openssh.round_trip(args.links))
        finally:
            server.stop()
    load = max(load_before, os.getloadavg()[0])
    print(f"a chain of {args.links} dependent `{COMMAND}` tasks on one host, best of {args.repeat} alternating runs")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs")
    print(figures.line("local orchc", "local: orchc, per link"))
    print(figures.line("local sh", "local: sh -c, output captured"))
    print(figures.line("ssh orchc", "SSH: orchc, per link"))
    print(figures.line("ssh sh", "SSH: sh -c on the host, in one session"))
    print(figures.line("ssh round trip", "SSH: a round trip over an open session"))
    for where in ("local", "ssh"):
        ratio = figures.best(f"{where} orchc") / figures.best(f"{where} sh")
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(f"ratio {where:<5} orchc / sh -c {ratio:20.2f}x   (target <= {TARGET:g}x: {verdict})")


if __name__ == "__main__":
    main()
