"""`when notified(...)`: which tasks notify a task, and which of their instances notify each of its instances.

A notifier is written as a task of the same service (`config`) or of another service (`db.config`) — the
instance on the same host notifies — or as a capability (`db_config`): every instance of its provider task,
on any host, notifies, as `requires db_config` would wait for every one. A name that is both a task of the
service and a capability is the task. Notifiers are dependencies: the notified instance waits for them.
A notifier named with a topic (`config "restart api"`) counts only if it reported that topic: an Ansible
playbook or role it runs notified a handler of that name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from orchc.compiler.capabilities import Provider, task_id
from orchc.compiler.placement import Slot
from orchc.compiler.symbols import Symbols
from orchc.compiler.units import Edge, ReportOnce, Unit
from orchc.dsl.ast import AnsibleRole, Name, Playbook, Span, TaskDecl
from orchc.dsl.diagnostics import did_you_mean

NOTHING_NOTIFIES = "not notified: none of its notifiers runs on this host"


@dataclass(frozen=True)
class Notifier:
    """A task named in `when notified`, as resolved."""

    task: str  # the notifying task's id
    name: Name  # as written
    same_host: bool  # a task named directly (its instance on the same host), not a capability
    topic: str | None = None  # the notification it must report; None: any change counts


def notifiers(
    unit: Unit, symbols: Symbols, providers: dict[str, Provider], units: dict[str, Unit], report: ReportOnce
) -> list[Notifier]:
    """The notifiers of `unit`'s `when notified`, each reported at its name if it cannot be one."""
    decl = unit.decl
    if not isinstance(decl, TaskDecl) or decl.when is None or not decl.when.notified:
        return []
    if decl.when.changed:
        report.error(
            f"`when changed` and `when notified` both decide when '{unit.id}' runs again",
            decl.when.changed[0].span,
            hint="keep one: `when notified(...)` runs the task only when a notifier ended changed",
        )
    found = []
    for written in decl.when.notified:
        name = written.name
        notifier = _resolve(unit, name, symbols, providers, report)
        if notifier is None:
            continue
        if written.topic is not None:
            if not _topic_is_valid(unit, notifier, written.topic.value, written.topic.span, units, report):
                continue
            notifier = replace(notifier, topic=written.topic.value)
        if notifier.task == unit.id:
            report.error(
                f"task '{unit.id}' is notified by itself",
                name.span,
                hint="name the task (or a capability it provides) whose change must run this one",
            )
            continue
        found.append(notifier)
    return found


def _topic_is_valid(
    unit: Unit, notifier: Notifier, topic: str, span: Span, units: dict[str, Unit], report: ReportOnce
) -> bool:
    """A topic is a handler name an Ansible playbook or role of the notifier may notify."""
    if not topic.strip() or topic != topic.strip():
        report.error(
            f"empty or padded topic {topic!r} for '{notifier.name.value}' in `when notified` of task '{unit.id}'",
            span,
            hint='write the name of the handler it notifies, as its playbook spells it: `config "restart api"`',
        )
        return False
    decl = units[notifier.task].decl
    if not isinstance(decl, TaskDecl) or not any(isinstance(a, (Playbook, AnsibleRole)) for a in decl.actions):
        report.error(
            f"'{notifier.name.value}' in `when notified` of '{unit.id}' cannot report topic {topic!r}: task "
            f"'{notifier.task}' runs no Ansible playbook or role",
            span,
            hint=f"only the handlers an Ansible playbook or role notifies are topics; write "
            f"`when notified({notifier.name.value})` to be notified when it ends changed",
        )
        return False
    return True


def _resolve(
    unit: Unit, name: Name, symbols: Symbols, providers: dict[str, Provider], report: ReportOnce
) -> Notifier | None:
    service, dot, task = name.value.rpartition(".")
    if not dot:
        service = unit.service or ""
    if task in symbols.tasks.get(service, {}):
        return Notifier(task_id(service, task), name, same_host=True)
    if not dot and name.value in providers:
        return Notifier(providers[name.value].task_id, name, same_host=False)
    siblings = list(symbols.tasks.get(unit.service or "", {}))
    known = siblings + list(providers) + [task_id(s, t) for s, tasks in symbols.tasks.items() for t in tasks]
    report.error(
        f"unknown task or capability '{name.value}' in `when notified` of task '{unit.id}'",
        name.span,
        hint=did_you_mean(name.value, known)
        or f"name a task of the same service ('{unit.service}' has: {', '.join(siblings)}), a task of "
        "another service as `service.task`, or a capability",
    )
    return None


def notify_edges(unit: Unit, found: list[Notifier]) -> list[Edge]:
    """The task-level edges of `unit`'s notifiers, for the cycle check."""
    return [Edge(unit.id, n.task, f"when notified({n.name.value})", n.name.span, ordering=False) for n in found]


def notifier_instances(
    unit: Unit, slot: Slot | None, found: list[Notifier], units: dict[str, Unit], report: ReportOnce
) -> list[tuple[str, str | None]]:
    """The instances that notify `unit`'s instance on `slot`, each with the topic it must report (None: any
    change). A `once` task named directly notifies where it runs: the instance on its host (a `once`
    notified instance: wherever)."""
    found_ids: list[tuple[str, str | None]] = []
    for notifier in found:
        target = units[notifier.task]
        ids: list[str] = []
        first = target.slots[0] if target.slots else None
        if not target.instance_ids:
            report.error(
                f"'{notifier.name.value}' in `when notified` of '{unit.id}': its task '{target.id}' runs on no host",
                notifier.name.span,
                hint=f"place the service of '{target.id}' on a role, or remove it from `when notified`",
            )
        elif not notifier.same_host:
            ids = target.instance_ids
        elif target.once and (
            unit.once or (slot is not None and first is not None and first.host.name == slot.host.name)
        ):
            ids = target.instance_ids
        elif target.once and slot is not None:
            pass  # it runs on another host: nothing here notifies
        elif slot is not None and any(s is not None and s.host.name == slot.host.name for s in target.slots):
            ids = [target.instance_id(slot)]
        else:
            where = f"on {slot.host.name}" if slot is not None else "beside a top-level anchor"
            report.error(
                f"'{target.id}' does not run {where}, where '{unit.id}' runs: nothing there can notify it",
                notifier.name.span,
                hint=f"a task named in `when notified` notifies from the same host; to be notified from other "
                f"hosts, name a capability that '{target.id}' provides (`provides NAME`)",
            )
        found_ids += [(i, notifier.topic) for i in ids]
    return found_ids


def notify_topics(found: list[tuple[str, str | None]]) -> dict[str, list[str]]:
    """Notifier instance → the topics it must report, for those that count only with a topic."""
    any_change = {notifier for notifier, topic in found if topic is None}
    topics: dict[str, set[str]] = {}
    for notifier, topic in found:
        if topic is not None and notifier not in any_change:
            topics.setdefault(notifier, set()).add(topic)
    return {notifier: sorted(names) for notifier, names in sorted(topics.items())}
