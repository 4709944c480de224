"""A small OpenStack-like deployment for the report's tests and bench/report_scale.py, run for real (local
transport): a controller, a network node and compute hosts listed out of order in the inventory.

    common.base@every host
    controller.db@ctl1 → controller.api@ctl1 → network.agent@net1
    compute.install@cN → compute.register@cN (also after controller.api) → compute.verify@cN
    deployed: network.agent and every compute.verify
"""

from __future__ import annotations

from pathlib import Path

from orchc.backends.engine import Limits
from orchc.backends.journal import RunGraph, RunRecord, SqliteJournal, Transition
from orchc.backends.runner import RunnerOptions, run_plan
from orchc.backends.transport import TransportOptions
from orchc.backends.transports import TransportSet
from orchc.plan import Plan
from test_engine_plans import make_plan


def compute_hosts(numbers: list[int]) -> list[str]:
    """compute hosts as the inventory lists them: the last one first (so that sorting by name shows)."""
    names = [f"compute{k}" for k in numbers]
    return names[-1:] + names[:-1]


def site_plan(
    root: Path,
    computes: list[str],
    fail: dict[str, str] | None = None,
    tolerate: int = 0,
    change_keys: dict[str, str] | None = None,
    retried: str | None = None,
) -> Plan:
    """The deployment; `fail` maps an instance to the message it fails with; `retried` fails once, then
    succeeds on its retry."""
    hosts = [*computes[:1], "ctl1", "net1", *computes[1:]]
    lines = [f"common.base@{h}" for h in hosts]
    lines += [
        "controller.db@ctl1: common.base@ctl1",
        "controller.api@ctl1: controller.db@ctl1",
        "network.agent@net1: common.base@net1 controller.api@ctl1",
    ]
    for c in computes:
        lines += [
            f"compute.install@{c}: common.base@{c}",
            f"compute.register@{c}: compute.install@{c} controller.api@ctl1",
            f"compute.verify@{c}: compute.register@{c}",
        ]
    lines.append("deployed: network.agent@net1 " + " ".join(f"compute.verify@{c}" for c in computes))
    commands = {
        "controller.db@ctl1": "sleep 0.4",
        "controller.api@ctl1": "sleep 0.2",
        "network.agent@net1": "sleep 0.1",
    }
    commands.update({f"compute.install@{c}": "sleep 0.1" for c in computes})
    commands.update({iid: f"echo '{message}' >&2; exit 1" for iid, message in (fail or {}).items()})
    if retried is not None:
        marker = root / f"tried-{retried}"
        # The failed attempt takes a while, so its band stays visible however long a loaded machine makes the run.
        commands[retried] = (
            f"test -e {marker} || {{ touch {marker}; sleep 0.4; echo 'first attempt fails' >&2; exit 1; }}"
        )
    return make_plan(
        "\n".join(lines),
        commands=commands,
        root=root,
        roles={"controller": (["ctl1"], 0), "network": (["net1"], 0), "compute": (computes, tolerate)},
        change_keys=change_keys,
        retries={"compute.register": (1, 0.05)},
    )


def run_site(plan: Plan, root: Path, forks: int | None = None) -> str:
    """Run `plan` into root/.orchc/journal.db; its outcome."""
    journal = SqliteJournal(root / ".orchc" / "journal.db")
    try:
        transports = TransportSet(plan, TransportOptions(work_dir=root))
        return run_plan(plan, journal, transports, RunnerOptions(limits=Limits(forks=forks)), {}).outcome
    finally:
        journal.close()


def journal_runs(root: Path) -> list[tuple[RunRecord, list[Transition], RunGraph | None]]:
    """Each run of root's journal with its transitions and graph."""
    journal = SqliteJournal(root / ".orchc" / "journal.db")
    try:
        return [(run, journal.transitions(run.id), journal.graph(run.plan_digest)) for run in journal.runs()]
    finally:
        journal.close()
