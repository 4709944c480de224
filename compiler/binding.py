"""Capability binding: which provider instances a requirement waits for, and what its templates see.

Per scope: every provider instance (default), the one on the same host,
those on hosts of a role, or one of them (`on any`, an `any_of` group). The
value follows the scope, never the number of providers, so that a template
keeps working when a role is scaled: `on any` and `on same host` bind one
provider's fields; every other scope binds a list in inventory order, even of
one provider. For `on any` it is the first provider's fields; where the
providers' fields differ, the binding also lists each provider's (`choices`),
so that the instance can be rendered for whichever provider meets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from orchc.compiler.actions import ActionError, ActionLowerer, value_needs_context
from orchc.compiler.capabilities import Provider
from orchc.compiler.inventory import Inventory
from orchc.compiler.placement import Slot
from orchc.compiler.render import ProviderList
from orchc.compiler.units import Contexts, ReportOnce, Unit
from orchc.compiler.values import CoercionError, article, coerce, literal
from orchc.dsl.ast import Requirement
from orchc.dsl.diagnostics import did_you_mean


@dataclass
class Bound:
    """One provider instance of a capability."""

    instance: str
    host: str | None
    value: dict[str, Any]


@dataclass(frozen=True)
class Binding:
    """What one `requires` of an instance binds."""

    ids: list[str]  # the provider instances, sorted
    one_is_enough: bool  # `on any`: an `any_of` group
    value: Any  # what its templates see
    choices: tuple[tuple[str, Any], ...] = ()  # `on any` with differing fields: (provider instance, its value)


class Requirements(NamedTuple):
    """What the `requires` of one instance bind."""

    required: list[list[str]]  # the sorted instance ids each requirement waits for (shared: never change them)
    any_of: list[list[str]]  # the `on any` groups
    capabilities: dict[str, Any]  # what its templates see, by capability name
    choices: list[tuple[str, tuple[tuple[str, Any], ...]]]  # capability name -> `Binding.choices`, where any


@dataclass
class Binder:
    """Binds the `requires` of each instance to provider instances, reporting what cannot be bound."""

    providers: dict[str, Provider]
    units: dict[str, Unit]
    inventory: Inventory
    contexts: Contexts
    lowerer: ActionLowerer
    report: ReportOnce
    provided: dict[str, list[Bound]] = field(default_factory=dict)  # capability -> provider instances
    _provided_ids: dict[str, list[str]] = field(default_factory=dict)  # capability -> sorted instance ids
    # unit id -> {index of a `requires`: its binding}, for the scopes that bind alike on every host
    _shared: dict[str, dict[int, Binding | None]] = field(default_factory=dict)

    def provide(self) -> None:
        """Render every provider instance's fields (once for all of them when they hold no template)."""
        for name, provider in self.providers.items():
            unit = self.units[provider.task_id]
            same_everywhere = not any(value_needs_context(assign.value) for assign in provider.provision.fields)
            fields: dict[str, Any] | None = None
            self.provided[name] = []
            for slot, instance in zip(unit.running_slots, unit.instance_ids, strict=True):
                if fields is None or not same_everywhere:
                    fields = self._fields(provider, self.contexts.of(slot))
                self.provided[name].append(Bound(instance, slot.host.name if slot else None, fields))

    def _fields(self, provider: Provider, context: dict[str, Any]) -> dict[str, Any]:
        declared = {f.name: f for f in provider.type.fields} if provider.type else {}
        values: dict[str, Any] = {}
        for assign in provider.provision.fields:
            try:
                value = self.lowerer.value(assign.value, context)
            except ActionError as exc:
                self.report.error(exc.message, exc.span, exc.hint)
                continue
            decl = declared.get(assign.name)
            if decl is not None:
                try:
                    value = coerce(value, decl.type.name)
                except CoercionError:
                    where = f" on host '{context['host']['name']}'" if "host" in context else ""
                    self.report.error(
                        f"field '{assign.name}' of capability '{provider.provision.name}' must be "
                        f"{article(decl.type.name)}",
                        assign.span,
                        hint=f"it renders as {value!r}{where}",
                        notes=[(f"'{assign.name}' is declared here", decl.span)],
                    )
                    continue
            values[assign.name] = value
        for name, decl in declared.items():
            if name not in values and decl.default is not None:
                values[name] = coerce(literal(decl.default), decl.type.name)
        return values

    def _bind(self, unit: Unit, slot: Slot | None, requirement: Requirement) -> tuple[list[Bound], bool] | None:
        """The provider instances a requirement waits for, and whether one of them is enough."""
        name = requirement.name
        bound = self.provided.get(name)
        if bound is None:
            return None  # reported by the capabilities pass
        provider = self.providers[name]
        if not bound and not requirement.optional:
            self.report.error(
                f"capability '{name}' is provided by '{provider.task_id}', which runs on no host",
                requirement.span,
                hint=f"place service '{self.units[provider.task_id].service}' on a role that has hosts",
                notes=[(f"'{provider.task_id}' provides it here", provider.provision.span)],
            )
            return None
        found = self._in_scope(unit, slot, requirement, bound)
        scope = requirement.scope
        if found:
            return found, scope.kind == "any"
        if found is None:
            return None
        service = self.units[provider.task_id].service
        if requirement.optional:
            where = {"same_host": " on this host", "role": f" on role '{scope.role.value if scope.role else ''}'"}
            self.report.warning(
                f"'{unit.id}' waits for nothing: its optional requirement '{name}' has no "
                f"provider{where.get(scope.kind, '')} ('{provider.task_id}' runs on no host"
                f"{' there' if scope.kind in where else ''})",
                requirement.span,
                hint=f"place '{service}' on a role with hosts if it must run first",
            )
        elif scope.kind == "same_host" and slot is not None:
            self.report.error(
                f"'{unit.id}' requires '{name}' on the same host, but '{provider.task_id}' does not run "
                f"on every host of '{unit.id}'",
                requirement.span,
                hint=f"host '{slot.host.name}' has none: place '{service}' on the "
                f"roles of '{unit.service}', or use another scope",
                notes=[(f"'{provider.task_id}' provides it here", provider.provision.span)],
            )
        elif scope.role is not None:
            self.report.error(
                f"'{provider.task_id}' provides '{name}' on no host of role '{scope.role.value}'",
                scope.role.span,
                hint=f"place '{service}' on role '{scope.role.value}', or use another scope",
            )
        return None

    def _in_scope(
        self, unit: Unit, slot: Slot | None, requirement: Requirement, bound: list[Bound]
    ) -> list[Bound] | None:
        """The providers the requirement's scope takes; None where the scope has no meaning (reported)."""
        scope = requirement.scope
        if scope.kind == "same_host":
            if slot is None:
                self.report.error(
                    f"anchor '{unit.id}' has no host, so `on same host` has no meaning",
                    scope.span or requirement.span,
                    hint="use `on role R`, `on any` or no scope",
                )
                return None
            return [b for b in bound if b.host == slot.host.name]
        if scope.kind != "role":
            return bound
        assert scope.role is not None
        role = scope.role.value
        if role not in self.inventory.groups:
            self.report.error(
                f"unknown role '{role}' in `on role`",
                scope.role.span,
                hint=did_you_mean(role, self.inventory.group_names()) or "name a group of the inventory",
            )
            return None
        members = set(self.inventory.groups[role])
        return [b for b in bound if b.host in members]

    def requirements(self, unit: Unit, slot: Slot | None) -> Requirements:
        """What the `requires` of one instance bind."""
        required: list[list[str]] = []
        any_of: list[list[str]] = []
        capabilities: dict[str, Any] = {}
        choices: list[tuple[str, tuple[tuple[str, Any], ...]]] = []
        shared = self._shared.setdefault(unit.id, {})
        for index, requirement in enumerate(unit.decl.requires):
            if requirement.scope.kind == "same_host":
                binding = self._binding(unit, slot, requirement)
            elif index in shared:
                binding = shared[index]
            else:
                binding = shared[index] = self._binding(unit, slot, requirement)
            if binding is None:
                continue
            (any_of if binding.one_is_enough else required).append(binding.ids)
            capabilities[requirement.name] = binding.value
            if binding.choices:
                choices.append((requirement.name, binding.choices))
        return Requirements(required, any_of, capabilities, choices)

    def _binding(self, unit: Unit, slot: Slot | None, requirement: Requirement) -> Binding | None:
        bound_and_how = self._bind(unit, slot, requirement)
        if bound_and_how is None:
            return None
        bound, one_is_enough = bound_and_how
        choices: tuple[tuple[str, Any], ...] = ()
        value: Any  # one provider's fields, or a ProviderList of every provider's
        if one_is_enough or requirement.scope.kind == "same_host":
            value = bound[0].value
            if any(b.value != value for b in bound[1:]):
                choices = tuple((b.instance, b.value) for b in bound)
        else:
            value = ProviderList(requirement.name, [b.value for b in bound])
        return Binding(self._instance_ids(requirement.name, bound), one_is_enough, value, choices)

    def _instance_ids(self, capability: str, bound: list[Bound]) -> list[str]:
        """The sorted instance ids of `bound`; sorted once per capability when every provider is bound."""
        if bound is not self.provided[capability]:
            return sorted(b.instance for b in bound)
        if capability not in self._provided_ids:
            self._provided_ids[capability] = sorted(b.instance for b in bound)
        return list(self._provided_ids[capability])
