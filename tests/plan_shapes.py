"""Hand-built Plan shapes that tests and benches share."""

from __future__ import annotations

from collections.abc import Sequence

from orchc.plan import Action, Instance, Plan, RunAction, Task


def reached_apart(plan: Plan, task: Task, action: Action, delays: Sequence[str]) -> None:
    """Each host of `plan` reaches `task` after a native `sleep DELAY` of its own, so that its instances
    become ready a moment apart (one delay per host, in host order)."""
    prep = Task(id=f"{task.service}.prep", service=task.service, name="prep", source=task.source)
    plan.tasks.append(prep)
    for host, seconds in zip(plan.hosts, delays, strict=True):
        plan.instances += [
            Instance(
                id=f"{prep.id}@{host.name}",
                task=prep.id,
                host=host.name,
                actions=[RunAction(command=f"sleep {seconds}")],
                fingerprint=prep.name,
                change_key=prep.name,
            ),
            Instance(
                id=f"{task.id}@{host.name}",
                task=task.id,
                host=host.name,
                deps=[f"{prep.id}@{host.name}"],
                actions=[action],
                fingerprint=task.name,
                change_key=task.name,
            ),
        ]
