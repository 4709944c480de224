"""Hosts as people look for them: grouped by role, in inventory order, names in natural order (compute2 < compute10)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

NO_ROLE = "(no role)"


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders the digits in a name by their value: compute2 before compute10."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part)


def group_by_role(hosts: Sequence[str], roles: Iterable[tuple[str, Sequence[str]]]) -> list[tuple[str, list[str]]]:
    """Each host under the first role it belongs to, roles in their order, hosts in natural order; hosts of
    no role last."""
    role_of: dict[str, str] = {}
    names: list[str] = []
    for name, members in roles:
        names.append(name)
        for host in members:
            role_of.setdefault(host, name)
    groups: dict[str, list[str]] = {name: [] for name in names}
    for host in hosts:
        groups.setdefault(role_of.get(host, NO_ROLE), []).append(host)
    return [(name, sorted(members, key=natural_key)) for name, members in groups.items() if members]


def host_order(hosts: Sequence[str], roles: Iterable[tuple[str, Sequence[str]]]) -> dict[str, int]:
    """Each host's position when grouped by role (`group_by_role`)."""
    flat = [host for _, members in group_by_role(hosts, roles) for host in members]
    return {host: k for k, host in enumerate(flat)}
