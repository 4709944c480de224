"""What expansion works on: tasks with their hosts, the edges between tasks, template contexts."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from orchc.compiler.actions import needs_context
from orchc.compiler.inventory import Inventory
from orchc.compiler.placement import Slot
from orchc.compiler.variables import Variables
from orchc.dsl.ast import AnchorDecl, Span, Str, TaskDecl
from orchc.dsl.diagnostics import Diagnostics


@dataclass
class Unit:
    """A task (or top-level anchor) with the hosts it runs on."""

    id: str
    service: str | None
    decl: TaskDecl | AnchorDecl
    slots: list[Slot | None]  # [None] for a top-level anchor; a `once` task runs on slots[0]

    @cached_property
    def once(self) -> bool:
        return isinstance(self.decl, TaskDecl) and self.decl.once

    @property
    def running_slots(self) -> list[Slot | None]:
        return self.slots[:1] if self.once else self.slots

    @cached_property
    def renders_per_host(self) -> bool:
        """Whether its actions hold templates, so that they may differ from host to host."""
        return isinstance(self.decl, TaskDecl) and any(needs_context(action) for action in self.decl.actions)

    @cached_property
    def when(self) -> Str | None:
        """Its `when` expression, if it has one."""
        return self.decl.when.expr if isinstance(self.decl, TaskDecl) and self.decl.when else None

    @cached_property
    def when_ansible(self) -> Str | None:
        """Its `when ansible` condition, if it has one."""
        return self.decl.when.ansible if isinstance(self.decl, TaskDecl) and self.decl.when else None

    def instance_id(self, slot: Slot | None) -> str:
        return self.id if slot is None else f"{self.id}@{slot.host.name}"

    @cached_property
    def instance_ids(self) -> list[str]:
        """The ids of its instances, in the order of `running_slots` (made once: providers need them too)."""
        return [self.instance_id(slot) for slot in self.running_slots]


@dataclass(frozen=True)
class Edge:
    """Task `waiter` waits for task `target`: why, and where it was written."""

    waiter: str
    target: str
    reason: str
    span: Span
    ordering: bool  # `after`/`before` (same host); False for `requires`


@dataclass
class ReportOnce:
    """Reports an error or a warning found on many hosts (same message, same place) once."""

    diagnostics: Diagnostics
    _reported: set[tuple[str, Span | None]] = field(default_factory=set)

    def error(
        self,
        message: str,
        span: Span | None,
        hint: str | None = None,
        notes: list[tuple[str, Span | None]] | None = None,
    ) -> None:
        if self._first(message, span):
            self.diagnostics.error(message, span, hint=hint, notes=notes)

    def warning(self, message: str, span: Span | None, hint: str | None = None) -> None:
        if self._first(message, span):
            self.diagnostics.warning(message, span, hint=hint)

    def _first(self, message: str, span: Span | None) -> bool:
        if (message, span) in self._reported:
            return False
        self._reported.add((message, span))
        return True


@dataclass
class Contexts:
    """The template context of each host (and of top-level anchors, which have none), built once."""

    variables: Variables
    inventory: Inventory
    _contexts: dict[tuple[str, str] | None, dict[str, Any]] = field(default_factory=dict)
    _groups_of: dict[str, list[str]] = field(default_factory=dict)  # host -> its groups, inventory order

    def of(self, slot: Slot | None) -> dict[str, Any]:
        key = None if slot is None else (slot.host.name, slot.role)
        context = self._contexts.get(key)
        if context is None:
            values = self.variables.template_values()
            context = {**values, "vars": values}
            if slot is not None:
                host = slot.host
                context["host"] = {
                    "name": host.name,
                    "address": host.address,
                    "port": host.port,
                    "user": host.user,
                    "vars": self.inventory.template_vars[host.name],
                    "groups": self._groups(host.name),
                }
                context["role"] = slot.role
            self._contexts[key] = context
        return context

    def _groups(self, host: str) -> list[str]:
        """The inventory groups of a host (not `all` or `ungrouped`), as Ansible's `group_names`."""
        if not self._groups_of:
            for group in self.inventory.group_names():
                for member in self.inventory.groups[group]:
                    self._groups_of.setdefault(member, []).append(group)
        return self._groups_of.get(host, [])
