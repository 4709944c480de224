"""Many hosts at once: N hosts x 4 chained tasks, orchc beside pyinfra, ansible-playbook and plain OpenSSH.

    python3 bench/many_hosts.py [--hosts 100 300 1000] [--peers pyinfra,ansible | none]

pyinfra's benchmark shape: every host runs the same four short commands, one
after the other, and all hosts at once. The hosts are N names of one real
OpenSSH server on 127.0.0.1 (started here, as the tests do, with MaxStartups
raised to N). Every tool gets the same parallelism, N:

- orchc: `orchc run plan.json --forks N` of a Plan compiled beforehand;
- pyinfra: `pyinfra inventory.py deploy.py --parallel N`, pyinfra installed from
  PyPI into a venv of its own beside the scratch folder (skipped, saying why,
  when it cannot be installed);
- ansible-playbook: `-f N`, pipelining, the `free` strategy, no facts (N <= 300);
- the floor: N OpenSSH clients at once, each running the four commands in
  one session.

It prints each tool's wall seconds, seconds per host and its controller's
peak RSS (the largest process of the tool's tree, from wait4), and the ratios
(targets: orchc <= 1.2x the floor, >= 4x pyinfra, >= 15x ansible-playbook;
orchc's RSS <= 100 MB + 0.1 MB per host), with the load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sshd import SshServer  # noqa: E402  (the tests' server, reused outside pytest)

COMMANDS = ("echo one", "echo two", "echo three", "echo four")
PYINFRA = "pyinfra==3.10.0"
ANSIBLE_MAX_HOSTS = 300


@dataclass
class Measure:
    tool: str
    hosts: int
    wall: float
    peak_rss_mb: float

    def line(self, floor: Measure | None) -> str:
        ratio = f"{self.wall / floor.wall:6.2f}x the floor" if floor is not None and floor is not self else ""
        return (
            f"{self.tool:<18} {self.wall:8.2f} s  {self.wall / self.hosts * 1000:7.1f} ms/host  "
            f"peak RSS {self.peak_rss_mb:7.1f} MB ({self.peak_rss_mb / self.hosts:.2f} MB/host)  {ratio}"
        )


def timed(tool: str, hosts: int, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Measure:
    """One process to its end: wall seconds, and the peak RSS of the largest process it and its children had."""
    began = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{tool} failed:\n{output.decode(errors='replace')[-3000:]}")
    return Measure(tool, hosts, wall, usage.ru_maxrss / 1024)


def openssh_floor(server: SshServer, names: list[str], cwd: Path) -> Measure:
    """N OpenSSH clients at once, each running the four commands in one session (their peak RSS is one client's)."""
    script = " && ".join(f"sh -c '{command}'" for command in COMMANDS)
    ssh = [
        *server.client_argv(),
        script,
    ]
    began = time.perf_counter()
    clients = [subprocess.Popen(ssh, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in names]
    peak = 0
    for client in clients:
        _, status, usage = os.wait4(client.pid, 0)
        peak = max(peak, usage.ru_maxrss)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"ssh failed: {client.stderr.read().decode() if client.stderr else ''}")
    return Measure("OpenSSH clients", len(names), time.perf_counter() - began, peak / 1024)


def orch_source() -> str:
    lines = ["role nodes { services four }", "service four {", f'  task t0 {{ run "{COMMANDS[0]}" }}']
    lines += [f'  task t{i} {{ after t{i - 1} run "{command}" }}' for i, command in enumerate(COMMANDS) if i]
    return "\n".join(lines + ["}", ""])


def playbook() -> str:
    header = "- hosts: nodes\n  gather_facts: false\n  strategy: free\n  tasks:\n"
    return header + "".join(f"    - name: t{i}\n      command: {c}\n" for i, c in enumerate(COMMANDS))


def pyinfra_files(server: SshServer, names: list[str], folder: Path) -> None:
    data = {
        "ssh_hostname": server.address,
        "ssh_port": server.port,
        "ssh_user": server.user,
        "ssh_key": str(server.client_key),
        "ssh_known_hosts_file": str(server.known_hosts),
        "ssh_strict_host_key_checking": "yes",
    }
    (folder / "inventory.py").write_text(f"nodes = [(name, {data!r}) for name in {names!r}]\n")
    operations = "".join(
        f"server.shell(name={f't{i}'!r}, commands=[{command!r}])\n" for i, command in enumerate(COMMANDS)
    )
    (folder / "deploy.py").write_text("from pyinfra.operations import server\n\n" + operations)


def pyinfra_command(venv: Path) -> Path | str:
    """The pyinfra command installed into `venv`, or why it could not be."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", PYINFRA], capture_output=True, text=True
    )
    if installed.returncode != 0:
        return f"pip install {PYINFRA} failed: {installed.stderr.strip().splitlines()[-1:]}"
    return venv / "bin" / "pyinfra"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--peers", default="pyinfra,ansible", help="pyinfra, ansible, both (the default) or none")
    args = parser.parse_args()
    peers = [] if args.peers == "none" else args.peers.split(",")
    pyinfra = pyinfra_command(Path(tempfile.gettempdir()) / "orchc-bench-pyinfra-venv") if "pyinfra" in peers else None
    load = os.getloadavg()[0]
    print(f"{len(COMMANDS)} chained commands on N hosts, all at once; load average {load:.1f} on {os.cpu_count()} CPUs")
    if isinstance(pyinfra, str):
        print(f"pyinfra: skipped ({pyinfra})")
    for n in args.hosts:
        with tempfile.TemporaryDirectory(prefix="orchc-bench-many-") as scratch:
            work = Path(scratch)
            server = SshServer.start(work / "sshd", max_startups=max(200, n))
            try:
                names = [f"node{i:04d}" for i in range(n)]
                server.write_inventory(work / "inventory.yml", names, {"nodes": names})
                (work / "four.orch").write_text(orch_source())
                orchc = [sys.executable, "-m", "orchc"]
                timed("compile", n, [*orchc, "compile", "four.orch", "-i", "inventory.yml", "-o", "plan.json"], work)
                floor = openssh_floor(server, names, work)
                run = [*orchc, "run", "plan.json", "--forks", str(n), "--journal", "journal.db"]
                results = [floor, timed("orchc", n, run, work)]
                if isinstance(pyinfra, Path):
                    pyinfra_files(server, names, work)
                    argv = [str(pyinfra), "inventory.py", "deploy.py", "-y", "--parallel", str(n)]
                    results.append(timed("pyinfra", n, argv, work))
                if "ansible" in peers and n <= ANSIBLE_MAX_HOSTS:
                    (work / "site.yml").write_text(playbook())
                    env = {
                        **os.environ,
                        "ANSIBLE_PIPELINING": "True",
                        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp"),
                        "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
                    }
                    argv = ["ansible-playbook", "-i", "inventory.yml", "-f", str(n), "site.yml"]
                    results.append(timed("ansible-playbook", n, argv, work, env))
            finally:
                server.stop()
        print(f"N = {n} (load average now {os.getloadavg()[0]:.1f})")
        for measure in results:
            print("  " + measure.line(floor))
        orchc_measure = results[1]
        for peer in results[2:]:
            print(f"  {peer.tool} / orchc: {peer.wall / orchc_measure.wall:.1f}x")
        budget = 100 + 0.1 * n
        print(f"  orchc peak RSS {orchc_measure.peak_rss_mb:.1f} MB (budget {budget:.0f} MB)")


if __name__ == "__main__":
    main()
