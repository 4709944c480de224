"""Roles against the inventory, tolerance budgets, and where each service runs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchc.compiler.inventory import Inventory
from orchc.compiler.symbols import Symbols
from orchc.dsl.ast import Int, RoleDecl, Str
from orchc.dsl.diagnostics import Diagnostics, did_you_mean
from orchc.plan import Host, Role

_PERCENT = re.compile(r"^\s*(\d+)\s*%\s*$")


@dataclass(frozen=True)
class Slot:
    """A host a service runs on, and the role it was placed through."""

    host: Host
    role: str


@dataclass
class Placement:
    roles: list[Role]  # as the Plan holds them
    slots: dict[str, list[Slot]]  # service -> hosts in inventory order


def _tolerance(decl: RoleDecl, host_count: int, diagnostics: Diagnostics) -> tuple[int, str]:
    if decl.tolerate is None:
        return 0, "0"
    value = decl.tolerate.value
    hint = 'write a number of hosts (`tolerate 1`) or a percentage from 0 to 100 (`tolerate "10%"`)'
    if isinstance(value, Int):
        if value.value < 0:
            diagnostics.error(f"tolerate must not be negative (got {value.value})", value.span, hint=hint)
            return 0, str(value.value)
        return value.value, str(value.value)
    assert isinstance(value, Str)
    match = _PERCENT.match(value.value)
    if match is None and value.value.strip().isdigit():
        return int(value.value), value.value.strip()
    if match is None or int(match.group(1)) > 100:
        diagnostics.error(f'bad tolerate value "{value.value}"', value.span, hint=hint)
        return 0, value.value
    return host_count * int(match.group(1)) // 100, value.value.strip()


def place(symbols: Symbols, inventory: Inventory, diagnostics: Diagnostics) -> Placement:
    groups = inventory.group_names()
    roles: list[Role] = []
    for decl in symbols.roles.values():
        members = inventory.groups.get(decl.name) or _single_host(decl.name, inventory)
        if members is None and decl.optional:
            diagnostics.warning(
                f"role '{decl.name}' is not a group of inventory '{inventory.path}': it places nothing",
                decl.name_span or decl.span,
                hint=f"add a group [{decl.name}] to the inventory to place its services",
            )
        elif members is None:
            diagnostics.error(
                f"role '{decl.name}' is not a group of inventory '{inventory.path}'",
                decl.name_span or decl.span,
                hint=did_you_mean(decl.name, groups)
                or f"add a group [{decl.name}] to the inventory "
                f"({_some_groups(groups)}), or write `role {decl.name} optional` if it may be missing",
            )
            continue
        for service in decl.services:
            if service.value not in symbols.services:
                diagnostics.error(
                    f"unknown service '{service.value}' in role '{decl.name}'",
                    service.span,
                    hint=did_you_mean(service.value, symbols.services) or "declare it with `service NAME { ... }`",
                )
        hosts = members or []
        tolerate, spec = _tolerance(decl, len(hosts), diagnostics)
        services = [s.value for s in decl.services if s.value in symbols.services]
        roles.append(Role(hosts=list(hosts), name=decl.name, services=services, tolerate=tolerate, tolerate_spec=spec))

    listed = {name.value for decl in symbols.roles.values() for name in decl.services}
    slots: dict[str, list[Slot]] = {}
    hosts_by_name = {h.name: h for h in inventory.hosts}
    position = {name: i for i, name in enumerate(hosts_by_name)}
    roles_of: dict[str, list[Role]] = {}
    for role in roles:
        for service_name in role.services:
            roles_of.setdefault(service_name, []).append(role)
    # The services of a role share its slots: one per host of the role, not one per host and service.
    slots_of_role = {role.name: [Slot(hosts_by_name[name], role.name) for name in role.hosts] for role in roles}
    for service_decl in symbols.services.values():
        placed: dict[str, Slot] = {}  # host -> its slot in the first role that places the service there
        for role in roles_of.get(service_decl.name, []):
            for slot in slots_of_role[role.name]:
                placed.setdefault(slot.host.name, slot)
        slots[service_decl.name] = [placed[name] for name in sorted(placed, key=position.__getitem__)]
        if service_decl.name not in listed:
            diagnostics.warning(
                f"service '{service_decl.name}' is on no role, so it runs nowhere",
                service_decl.name_span,
                hint=f"add it to a role: `role NAME {{ services {service_decl.name} }}`",
            )
    return Placement(roles=roles, slots=slots)


def _single_host(name: str, inventory: Inventory) -> list[str] | None:
    """A role named after a host places on that host, as an Ansible pattern may name one; `localhost` is
    Ansible's implicit local host where the inventory has none."""
    if any(host.name == name for host in inventory.hosts):
        return [name]
    if name != "localhost":
        return None
    local_vars = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    inventory.add_host(Host(address="localhost", connection="local", name="localhost", vars=local_vars), local_vars)
    inventory.groups.setdefault("all", []).append("localhost")
    return ["localhost"]


def _some_groups(groups: list[str], shown: int = 12) -> str:
    """The inventory's groups for a hint, the first few of a long list."""
    if not groups:
        return "it has no groups"
    more = f", and {len(groups) - shown} more" if len(groups) > shown else ""
    return f"groups: {', '.join(groups[:shown])}{more}"
