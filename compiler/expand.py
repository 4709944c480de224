"""Expansion: tasks × hosts to instances, with their dependencies, rendered actions and fingerprints.

An instance waits for (`deps`):
- `after X` / `before X`: X's instance on the same host; when X is `once`,
  X's single instance and, on the instance's own host, what X is after
  (a `once` task keeps its order on every host, not only on the one it runs on);
- `requires CAP`: the provider instances that `binding.Binder` binds for its
  scope (or, for `on any`, one of them: an `any_of` group);
- `when notified(...)`: its notifier instances (`notify.notifier_instances`),
  which its `notified_by` also lists.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

from orchc.compiler.actions import ActionError, ActionLowerer
from orchc.compiler.ansible_conditions import AnsibleConditions, ConditionOutcome
from orchc.compiler.binding import Binder, Requirements
from orchc.compiler.capabilities import Provider, task_id
from orchc.compiler.inputs import InputDigests, sha256
from orchc.compiler.inventory import Inventory
from orchc.compiler.notify import (
    NOTHING_NOTIFIES,
    Notifier,
    notifier_instances,
    notifiers,
    notify_edges,
    notify_topics,
)
from orchc.compiler.placement import Placement, Slot
from orchc.compiler.render import Renderer, RenderError
from orchc.compiler.symbols import Symbols
from orchc.compiler.units import Contexts, Edge, ReportOnce, Unit
from orchc.compiler.variables import Variables
from orchc.dsl.ast import AnchorDecl, Name, Str, TaskDecl
from orchc.dsl.diagnostics import Diagnostics, did_you_mean
from orchc.plan import Action, Instance, Variant, secret_names
from orchc.plan import Placement as PlanPlacement
from orchc.plan_json import compact_json


class Lowered(NamedTuple):
    """A task's actions rendered for one host, what they do in one digest, and the secrets they use."""

    actions: list[Action]
    fingerprint: str
    secrets: list[str]
    inputs: dict[str, str]  # the values its templates read, digested (`compiler.inputs`)


@dataclass
class Expansion:
    units: list[Unit]
    instances: list[Instance]
    edges: list[Edge]
    conditions: list[ConditionOutcome] = field(default_factory=list)  # what `when ansible` decided
    task_inputs: dict[str, dict[str, str]] = field(default_factory=dict)  # task id -> `Task.inputs`


@dataclass
class Expander:
    symbols: Symbols
    inventory: Inventory
    placement: Placement
    variables: Variables
    providers: dict[str, Provider]
    renderer: Renderer
    lowerer: ActionLowerer
    diagnostics: Diagnostics
    units: dict[str, Unit] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    waits: dict[str, list[Edge]] = field(default_factory=dict)  # task id -> `after`/`before` targets
    _lowered_alike: dict[str, Lowered] = field(default_factory=dict)  # unit id -> its one lowering
    _host_orders: dict[str, list[Unit]] = field(default_factory=dict)  # task id -> `_host_order`
    notifiers: dict[str, list[Notifier]] = field(default_factory=dict)  # task id -> its `when notified`

    def __post_init__(self) -> None:
        self.report = ReportOnce(self.diagnostics)
        self.contexts = Contexts(self.variables, self.inventory)
        self.conditions = AnsibleConditions(self.inventory, self.variables, self.report)
        self.binder = Binder(self.providers, self.units, self.inventory, self.contexts, self.lowerer, self.report)
        self.inputs = InputDigests(self.variables.values, self.lowerer)

    def run(self) -> Expansion:
        self._make_units()
        self._order_edges()
        for edge in self.edges:
            if edge.ordering:
                self.waits.setdefault(edge.waiter, []).append(edge)
        if self.diagnostics.errors:
            # Rendering against names or capabilities already reported as wrong would only repeat them.
            return Expansion(list(self.units.values()), [], self.edges)
        self.binder.provide()
        instances = [instance for unit in self.units.values() for instance in self._instances(unit)]
        task_inputs = {
            unit.id: self.inputs.written_inputs(unit.decl, task_settings(unit.decl)._asdict())
            for unit in self.units.values()
        }
        return Expansion(
            list(self.units.values()), instances, self.edges, list(self.conditions.outcomes.values()), task_inputs
        )

    # --- tasks and their edges ------------------------------------------------------------

    def _make_units(self) -> None:
        for service, tasks in self.symbols.tasks.items():
            slots: list[Slot | None] = list(self.placement.slots.get(service, []))
            for task in tasks.values():
                self.units[task_id(service, task.name)] = Unit(task_id(service, task.name), service, task, slots)
                self._check_settings(task)
        for name, anchor in self.symbols.anchors.items():
            self.units[name] = Unit(name, None, anchor, [None])

    def _check_settings(self, task: TaskDecl) -> None:
        if task.concurrency is not None and task.concurrency.value < 1:
            self.diagnostics.error(
                f"concurrency must be at least 1 (got {task.concurrency.value})",
                task.concurrency.span,
                hint="`concurrency 1` runs one host at a time; remove it for no limit",
            )
        if task.retries is not None and task.retries.count.value < 0:
            self.diagnostics.error(
                "retries must not be negative", task.retries.count.span, hint="write `retries N` with N >= 0"
            )
        if task.timeout is not None and task.timeout.seconds <= 0:
            self.diagnostics.error(
                "timeout must be longer than 0", task.timeout.span, hint="write a duration such as `timeout 10m`"
            )

    def _order_edges(self) -> None:
        for unit in self.units.values():
            decl = unit.decl
            for requirement in decl.requires:
                provider = self.providers.get(requirement.name)
                if provider is not None:
                    self.edges.append(
                        Edge(
                            unit.id, provider.task_id, f"requires {requirement.name}", requirement.span, ordering=False
                        )
                    )
            found = notifiers(unit, self.symbols, self.providers, self.units, self.report)
            if found:
                self.notifiers[unit.id] = found
                self.edges.extend(notify_edges(unit, found))
            if isinstance(decl, AnchorDecl):
                for name in decl.after:
                    self._edge(unit, name, self.symbols.anchors, "after", lambda n: n, waits=True)
                continue
            siblings = self.symbols.tasks[unit.service or ""]
            for name in decl.after:
                self._edge(unit, name, siblings, "after", partial(task_id, unit.service), waits=True)
            for name in decl.before:
                self._edge(unit, name, siblings, "before", partial(task_id, unit.service), waits=False)

    def _edge(
        self, unit: Unit, name: Name, known: dict[str, Any], keyword: str, make_id: Callable[[str], str], waits: bool
    ) -> None:
        if name.value not in known:
            if isinstance(unit.decl, AnchorDecl):
                message = f"unknown anchor '{name.value}' in `{keyword}` of anchor '{unit.id}'"
                fallback = (
                    "an anchor's `after` names other anchors; to wait for a task, require a capability it provides"
                )
            else:
                message = f"unknown task '{name.value}' in `{keyword}` of task '{unit.id}'"
                fallback = f"`{keyword}` names a task of the same service ('{unit.service}' has: {', '.join(known)})"
            self.diagnostics.error(message, name.span, hint=did_you_mean(name.value, known) or fallback)
            return
        other = make_id(name.value)
        waiter, target = (unit.id, other) if waits else (other, unit.id)
        self.edges.append(Edge(waiter, target, f"{keyword} {name.value}", name.span, ordering=True))

    def _host_order(self, task: str) -> list[Unit]:
        """The tasks whose instances an instance of `task` waits for through `after`/`before`: its direct
        targets and, through a `once` target, what that target waits for in turn, on the instance's own
        host: a `once` task runs on one host, so the order it keeps there must be kept on every host."""
        order = self._host_orders.get(task)
        if order is None:
            order, seen, stack = [], set(), [task]
            while stack:
                for edge in self.waits.get(stack.pop(), []):
                    if edge.target not in seen:
                        seen.add(edge.target)
                        target = self.units[edge.target]
                        order.append(target)
                        if target.once:
                            stack.append(edge.target)
            self._host_orders[task] = order
        return order

    # --- instances ------------------------------------------------------------------------

    def _instances(self, unit: Unit) -> list[Instance]:
        slots = unit.running_slots
        if not slots:
            return []
        first = self._instance(unit, slots[0])
        if self._differs_by_host(unit):
            return [first] + [self._instance(unit, slot) for slot in slots[1:]]
        # Its other instances differ from the first in their host and id only (their lists are shared).
        return [first] + [
            dataclasses.replace(first, host=slot.host.name if slot else None, id=instance)
            for slot, instance in zip(slots[1:], unit.instance_ids[1:], strict=True)
        ]

    def _differs_by_host(self, unit: Unit) -> bool:
        """Whether a unit's instances differ in more than their host: what they run, whether they
        are skipped, or what they wait for."""
        return bool(
            unit.renders_per_host
            or unit.when
            or unit.when_ansible
            or self.waits.get(unit.id)
            or unit.id in self.notifiers
            or any(requirement.scope.kind == "same_host" for requirement in unit.decl.requires)
        )

    def _instance(self, unit: Unit, slot: Slot | None) -> Instance:
        bound = self.binder.requirements(unit, slot)
        # Actions that render nothing and no `when`: the unit's instances share one lowering, no context.
        context = self._context(slot, bound.capabilities) if unit.renders_per_host or unit.when else {}
        lowered = self._lowered(unit, context)
        alternates = []
        notified_by = self._notified_by(unit, slot)
        for other in unit.slots[1:] if unit.once else []:
            notified_by += self._notified_by(unit, other)
            other_bound = self.binder.requirements(unit, other)
            other_lowered = self._lowered(unit, self._context(other, other_bound.capabilities))
            alternates.append(
                PlanPlacement(
                    actions=other_lowered.actions,
                    deps=self._deps(unit, other, other_bound.required),
                    fingerprint=other_lowered.fingerprint,
                    host=other.host.name if other else None,
                    variants=self._variants(unit, other, other_bound, other_lowered),
                )
            )
        return Instance(
            actions=lowered.actions,
            alternates=alternates,
            any_of=bound.any_of,
            change_key=self._change_key(unit.decl, lowered.fingerprint),
            deps=self._deps(unit, slot, bound.required),
            fingerprint=lowered.fingerprint,
            host=slot.host.name if slot else None,
            id=unit.instance_id(slot),
            inputs=lowered.inputs,
            notified_by=sorted({notifier for notifier, _ in notified_by}),
            notify_topics=notify_topics(notified_by),
            secrets=lowered.secrets,
            skip=self._skip(unit, slot, context)
            or (NOTHING_NOTIFIES if unit.id in self.notifiers and not notified_by else None),
            task=unit.id,
            variants=self._variants(unit, slot, bound, lowered),
        )

    def _variants(self, unit: Unit, slot: Slot | None, bound: Requirements, lowered: Lowered) -> list[Variant]:
        """The instance rendered with the fields of each provider of its `on any` requirement, where
        that changes what it runs (`lowered` is the first provider's). One such requirement only: a
        second keeps its first provider's fields, with a warning."""
        if not bound.choices or not unit.renders_per_host:
            return []
        variants: list[Variant] = []
        chosen = ""
        for name, choices in bound.choices:
            rendered = [(choices[0][0], lowered)] + [
                (provider, self._lowered(unit, self._context(slot, {**bound.capabilities, name: value})))
                for provider, value in choices[1:]
            ]
            if all(other.fingerprint == lowered.fingerprint for _, other in rendered):
                continue  # what differs between the providers is not used
            if variants:
                requirement = next(r for r in unit.decl.requires if r.name == name)
                self.report.warning(
                    f"'{unit.id}' uses the fields of two `on any` requirements whose providers differ: it runs "
                    f"with those of the provider that meets '{chosen}', but always with the fields of "
                    f"'{choices[0][0]}' for '{name}'",
                    requirement.span,
                    hint=f"require '{name}' `on same host` or from every provider, or give its providers "
                    "the same fields",
                )
                continue
            chosen = name
            variants = [
                Variant(actions=other.actions, fingerprint=other.fingerprint, provider=provider)
                for provider, other in rendered
            ]
        return variants

    def _context(self, slot: Slot | None, capabilities: dict[str, Any]) -> dict[str, Any]:
        return {**self.contexts.of(slot), **capabilities}

    def _deps(self, unit: Unit, slot: Slot | None, required: list[list[str]]) -> list[str]:
        """The sorted instance ids an instance waits for: its providers, its `after`/`before` targets and
        its notifiers."""
        order = self._host_order(unit.id)
        notified_by = [notifier for notifier, _ in self._notified_by(unit, slot)]
        if not order and not notified_by and len(required) < 2:
            return required[0] if required else []  # sorted and without repeats already
        deps = {instance for ids in required for instance in ids}
        deps.update(notified_by)
        deps.update(target.instance_id(target.slots[0] if target.once else slot) for target in order)
        return sorted(deps)

    def _notified_by(self, unit: Unit, slot: Slot | None) -> list[tuple[str, str | None]]:
        found = self.notifiers.get(unit.id)
        return notifier_instances(unit, slot, found, self.units, self.report) if found else []

    def _lowered(self, unit: Unit, context: dict[str, Any]) -> Lowered:
        """The unit's actions rendered in `context`: lowered once for all hosts if they render nothing."""
        lowered = self._lowered_alike.get(unit.id)
        if lowered is not None:
            return lowered
        actions: list[Action] = []
        decl = unit.decl
        for action in decl.actions if isinstance(decl, TaskDecl) else []:
            try:
                actions.append(self.lowerer.lower(action, context))
            except ActionError as exc:
                self.report.error(exc.message, exc.span, exc.hint)
        lowered = _lowering(actions, decl, self.inputs.context_inputs(decl, context) if unit.renders_per_host else {})
        if not unit.renders_per_host:
            self._lowered_alike[unit.id] = lowered
        return lowered

    def _skip(self, unit: Unit, slot: Slot | None, context: dict[str, Any]) -> str | None:
        """Why the instance on `slot` is skipped when compiling: its `when` is false, or its `when ansible`."""
        skip = self._skip_when(unit.when, slot, context) if unit.when else None
        if skip is None and unit.when_ansible is not None and slot is not None and isinstance(unit.decl, TaskDecl):
            skip = self.conditions.skip(unit.id, unit.decl, slot.host.name)
        return skip

    def _skip_when(self, when: Str, slot: Slot | None, context: dict[str, Any]) -> str | None:
        try:
            holds = self.renderer.evaluate(when.value, context)
        except RenderError as exc:
            self.report.error(f"in `when`: {exc.message}", when.span, exc.hint)
            return None
        where = f" on {slot.host.name}" if slot else ""
        return None if holds else f'when "{when.value}" is false{where}'

    def _change_key(self, decl: TaskDecl | AnchorDecl, fingerprint: str) -> str:
        if not isinstance(decl, TaskDecl) or decl.when is None or not decl.when.changed:
            return fingerprint
        inputs: dict[str, Any] = {}
        for name in decl.when.changed:
            if name.value in self.variables.secrets:
                self.report.error(
                    f"`when changed({name.value})`: '{name.value}' is a secret",
                    name.span,
                    hint="secrets never leave the run, so orchc cannot tell when one changed; "
                    "name a non-secret variable (for example a version or rotation date)",
                )
            elif name.value not in self.variables.values:
                self.report.error(
                    f"unknown variable '{name.value}' in `when changed`",
                    name.span,
                    hint=did_you_mean(name.value, self.symbols.vars) or f"declare it with `var {name.value}: str`",
                )
            else:
                inputs[name.value] = self.variables.values[name.value]
        return sha256(inputs)


def _lowering(actions: list[Action], decl: TaskDecl | AnchorDecl, inputs: dict[str, str]) -> Lowered:
    """`actions` with their fingerprint, the sha256 of what an instance does (its rendered actions and its
    task's settings, not its deps), the secrets they use and the digests of the `inputs` they read."""
    what = compact_json({"actions": actions, **task_settings(decl)._asdict()})
    secrets = sorted(secret_names(what.decode())) if b"@@secret:" in what else []
    return Lowered(actions, hashlib.sha256(what).hexdigest(), secrets, inputs)


class TaskSettings(NamedTuple):
    """What besides its actions decides what an instance does (part of its fingerprint, in name order)."""

    become: bool
    delay: float  # seconds
    retries: int
    timeout: float | None  # seconds


def task_settings(decl: TaskDecl | AnchorDecl) -> TaskSettings:
    if not isinstance(decl, TaskDecl):
        return TaskSettings(become=False, delay=0.0, retries=0, timeout=None)
    return TaskSettings(
        become=decl.become,
        delay=decl.retries.delay.seconds if decl.retries and decl.retries.delay else 0.0,
        retries=decl.retries.count.value if decl.retries else 0,
        timeout=decl.timeout.seconds if decl.timeout else None,
    )
