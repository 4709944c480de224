"""Play host patterns as orchc roles, and the inventory groups they need.

An orchc role is an inventory group, and a service listed by several roles
runs once on every host of any of them, so: a plain group name stays as it is;
`a:b` (union) lists the play's services on roles `a` and `b` (exact); `all` is
the role `all`. Intersections (`a:&b`), exclusions (`!a`) and groups made at
run time come here as the inventory groups that hold their hosts, with a gate
on each task (`ansible_groups`); wildcards and templated patterns become a
group the user fills, reported as approximated. Group names stay as the
inventory spells them (`role "nova-api"`).
The written inventory has one placeholder host per group, so `orchc check`
works at once; replace them with the real hosts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from orchc.migrate import emit
from orchc.migrate.ansible_dump import dump_yaml
from orchc.migrate.report import Report

_GROUP = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass
class HostMapping:
    roles_of: dict[str, list[str]] = field(default_factory=dict)  # pattern -> orchc roles (= inventory groups)
    groups: list[str] = field(default_factory=list)  # groups that get a placeholder host

    def inventory_yaml(self) -> str:
        # 192.0.2.0/24 is reserved for documentation (RFC 5737): nothing runs anywhere by accident.
        if self.groups:
            data = {
                "all": {
                    "children": {
                        g: {"hosts": {f"{g}-1": {"ansible_host": f"192.0.2.{n % 254 + 1}"}}}
                        for n, g in enumerate(self.groups)
                    }
                }
            }
        else:
            data = {"all": {"hosts": {"host-1": {"ansible_host": "192.0.2.1"}}}}
        header = (
            "# Placeholder inventory written by `orchc migrate playbook`: one group per group the plays\n"
            "# name, each with an unreachable example host. Use your own inventory, with these groups.\n"
        )
        return header + dump_yaml(data)


def map_hosts(patterns: list[str], sources: list[str], report: Report) -> HostMapping:
    mapping = HostMapping()
    for pattern, source in zip(patterns, sources, strict=True):
        if pattern in mapping.roles_of:
            continue
        parts = [p.strip() for p in re.split(r"[:,]", pattern) if p.strip()] if "{{" not in pattern else [pattern]
        if "all" in parts or "*" in parts:
            mapping.roles_of[pattern] = ["all"]
        elif parts and all(_GROUP.match(p) for p in parts):
            mapping.roles_of[pattern] = [_group(mapping, p) for p in dict.fromkeys(parts)]
        else:
            role = _group(mapping, emit.ident(pattern.replace("&", "and_").replace("!", "not_")))
            mapping.roles_of[pattern] = [role]
            report.add(
                "approximated",
                source,
                f"hosts: {pattern!r} -> role {role}",
                "intersections, exclusions, wildcards and templated patterns have no orchc form: "
                f"put the hosts the pattern selects into inventory group {role}",
            )
    return mapping


def _group(mapping: HostMapping, name: str) -> str:
    if name not in mapping.groups:
        mapping.groups.append(name)
    return name
