"""Overhead per host of one batched ansible-runner call for N hosts, against one call per host.

    python3 bench/ansible_batching.py [--hosts 10] [--target local|ssh] [--repeat 1]

The same playbook runs on N fresh hosts through orchc's `ansible` transport, three ways:

- batched: the N instances arrive together and become one ansible-runner call (what orchc does);
- one call per host, one after the other;
- one call per host, all at once (N ansible-playbook processes compete for the CPUs).

Then across waves: three hosts reach the playbook 0.3-1 s apart, as a native
task before it (`sleep`) ends on each, and the whole Plan runs through orchc's
runner, twice: with orchc's adaptive window (a batch waits, a bounded while,
for instances about to be ready) and with a fixed 10 ms window, which gives
each host its own call.

It prints wall time and CPU time (orchc's worker processes and Ansible's, from
`getrusage(RUSAGE_CHILDREN)`) per host for each, and the ratios against the
batched call. CPU time is the steadier figure on a busy machine. `--target ssh`
starts a private OpenSSH server on 127.0.0.1 (the test suite's `tests/sshd.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from orchc.backends.ansible import GATHER_SECONDS, AnsibleTransport
from orchc.backends.engine import Limits
from orchc.backends.journal import SqliteJournal
from orchc.backends.runner import RunnerOptions, run_plan
from orchc.backends.transport import ActionContext, ActionResult, Transport, TransportOptions
from orchc.backends.transports import TransportSet
from orchc.plan import Action, Host, Plan, PlaybookAction, Role, SourceSpan, Task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from plan_shapes import reached_apart  # noqa: E402

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: folder
      file: {path: "{{ root }}/app", state: directory}
    - name: config
      copy: {dest: "{{ root }}/app/app.conf", content: "host={{ inventory_hostname }}\\n"}
    - name: command
      command: "true"
"""
SPAN = SourceSpan(file="bench.orch", line=1, column=1, end_line=1, end_column=1)
ACTION = PlaybookAction(path="site.yml")


@dataclass
class Measure:
    name: str
    wall: float
    cpu: float
    calls: int


def local_hosts(folder: Path, count: int) -> list[Host]:
    return [
        Host(name=f"h{i}", address="localhost", connection="local", vars={"root": str(folder / f"h{i}")})
        for i in range(count)
    ]


def ssh_hosts(folder: Path, count: int):  # type: ignore[no-untyped-def]  # ansible-core's inventory objects and the bench's callables have no types
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import sshd

    server = sshd.SshServer.start(folder / "sshd")
    hosts = []
    for i in range(count):
        root = folder / f"h{i}"
        root.mkdir(parents=True)
        vars_ = {**server.host_vars(root), "ansible_pipelining": True}
        hosts.append(Host(name=f"h{i}", address=server.address, port=server.port, user=server.user, vars=vars_))
    return hosts, server


def make_plan(folder: Path, hosts: list[Host]) -> Plan:
    (folder / "site.yml").write_text(PLAYBOOK)
    task = Task(id="bench.site", service="bench", name="site", source=SPAN)
    role = Role(name="bench", hosts=[h.name for h in hosts], services=["bench"])
    return Plan(root=str(folder), hosts=hosts, roles=[role], tasks=[task], instances=[])


def fresh(hosts: list[Host]) -> None:
    for host in hosts:
        shutil.rmtree(host.vars["root"], ignore_errors=True)
        Path(host.vars["root"]).mkdir(parents=True)


def context(plan: Plan, host: Host, task_id: str) -> ActionContext:
    return ActionContext(plan=plan, instance_id=f"{task_id}@{host.name}", task_id=task_id, secrets={})


async def batched(transport: AnsibleTransport, plan: Plan) -> list[ActionResult]:
    return list(
        await asyncio.gather(*(transport.execute(h, ACTION, context(plan, h, "bench.site")) for h in plan.hosts))
    )


async def per_host_in_turn(transport: AnsibleTransport, plan: Plan) -> list[ActionResult]:
    return [await transport.execute(h, ACTION, context(plan, h, "bench.site")) for h in plan.hosts]


async def per_host_at_once(transport: AnsibleTransport, plan: Plan) -> list[ActionResult]:
    # A task id per host: nothing to batch, as if every host ran its own copy of the task.
    return list(
        await asyncio.gather(
            *(transport.execute(h, ACTION, context(plan, h, f"bench.site_{h.name}")) for h in plan.hosts)
        )
    )


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, plan: Plan, work: Path, how, repeat: int) -> Measure:  # type: ignore[no-untyped-def]  # ansible-core's inventory objects and the bench's callables have no types
    walls, cpus, calls = [], [], 0
    for _ in range(repeat):
        fresh(plan.hosts)
        transport = AnsibleTransport(plan, TransportOptions(work_dir=work))
        cpu, started = children_cpu(), time.perf_counter()
        results = asyncio.run(how(transport, plan))
        walls.append(time.perf_counter() - started)
        cpus.append(children_cpu() - cpu)
        calls = transport.calls
        bad = [r.message for r in results if not r.succeeded]
        if bad:
            raise SystemExit(f"{name}: the playbook failed: {bad[0]}")
    return Measure(name, min(walls), min(cpus), calls)


WAVE_DELAYS = ("0", "0.3", "1.0")  # seconds of the native task before the playbook, per host


class FixedWindowTransport(AnsibleTransport):
    """The ansible transport with the fixed 10 ms window orchc had before: no wait for instances about to be ready."""

    def window(self) -> float:
        return GATHER_SECONDS


class OneAnsibleTransportSet(TransportSet):
    """The run's transports, with this ansible transport."""

    def __init__(self, plan: Plan, options: TransportOptions, ansible: AnsibleTransport) -> None:
        super().__init__(plan, options)
        self.ansible = ansible

    def for_action(self, host: Host, action: Action) -> Transport:
        return self.ansible if isinstance(action, PlaybookAction) else super().for_action(host, action)


def waves_plan(folder: Path, hosts: list[Host]) -> Plan:
    plan = make_plan(folder, hosts[: len(WAVE_DELAYS)])
    reached_apart(plan, plan.tasks[0], ACTION, WAVE_DELAYS)
    return plan


def measure_waves(name: str, plan: Plan, work: Path, transport_class: type[AnsibleTransport]) -> Measure:
    fresh(plan.hosts)
    options = TransportOptions(work_dir=work)
    ansible = transport_class(plan, options)
    journal = SqliteJournal(work / f"journal-{transport_class.__name__}.db")
    cpu, started = children_cpu(), time.perf_counter()
    try:
        result = run_plan(plan, journal, OneAnsibleTransportSet(plan, options, ansible), RunnerOptions(Limits()), {})
    finally:
        journal.close()
    if result.outcome != "succeeded":
        raise SystemExit(f"{name}: the run {result.outcome}: {[t.message for t in result.failures][:1]}")
    return Measure(name, time.perf_counter() - started, children_cpu() - cpu, ansible.calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--target", choices=["local", "ssh"], default="local")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each way; the best is kept")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="orchc-bench-ansible-"))
    server = None
    try:
        if args.target == "ssh":
            hosts, server = ssh_hosts(folder, args.hosts)
        else:
            hosts = local_hosts(folder, args.hosts)
        plan = make_plan(folder, hosts)
        work = folder / "work"
        results = [
            measure("batched (orchc)", plan, work, batched, args.repeat),
            measure("one call per host, in turn", plan, work, per_host_in_turn, args.repeat),
            measure("one call per host, at once", plan, work, per_host_at_once, args.repeat),
        ]
        work.mkdir(parents=True, exist_ok=True)
        staggered = waves_plan(folder, hosts)
        waves = [
            measure_waves("adaptive window (orchc)", staggered, work, AnsibleTransport),
            measure_waves("fixed 10 ms window", staggered, work, FixedWindowTransport),
        ]
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)

    n = args.hosts
    base = results[0]
    print(f"ansible batching: {n} hosts over {args.target}, 3-task playbook, best of {args.repeat}")
    print(f"{'way':<30} {'calls':>5} {'wall/host':>10} {'cpu/host':>10} {'wall ratio':>11} {'cpu ratio':>10}")
    for r in results:
        print(
            f"{r.name:<30} {r.calls:>5} {r.wall / n:>9.3f}s {r.cpu / n:>9.3f}s "
            f"{r.wall / base.wall:>10.2f}x {r.cpu / base.cpu:>9.2f}x"
        )
    print(f"across waves: {len(WAVE_DELAYS)} hosts reach the playbook after sleep {', '.join(WAVE_DELAYS)} s")
    print(f"{'way':<30} {'calls':>5} {'run wall':>10} {'cpu':>10} {'wall ratio':>11} {'cpu ratio':>10}")
    for r in waves:
        print(
            f"{r.name:<30} {r.calls:>5} {r.wall:>9.2f}s {r.cpu:>9.2f}s "
            f"{r.wall / waves[0].wall:>10.2f}x {r.cpu / waves[0].cpu:>9.2f}x"
        )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
