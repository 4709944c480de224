"""Play host patterns as orchc roles, and the inventory groups they need.

An orchc role is an inventory group, so every play's `hosts:` pattern becomes
one group: a plain group name stays as it is; `a:b` (union) becomes a group
whose children are `a` and `b` (exact); `all` a group with every other group as
a child; intersections (`a:&b`), exclusions (`!a`), wildcards and templated
patterns become a group the user fills, reported as approximated. The written
inventory has one placeholder host per leaf group, so `orchc check` works at
once; replace them with the real hosts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from orchc.migrate import emit
from orchc.migrate.ansible_yaml import dump_yaml
from orchc.migrate.report import Report

_GROUP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class HostMapping:
    role_of: dict[str, str] = field(default_factory=dict)  # pattern -> orchc role (= inventory group)
    children: dict[str, list[str]] = field(default_factory=dict)  # derived group -> child groups
    leaves: list[str] = field(default_factory=list)  # groups that get a placeholder host

    def inventory_yaml(self) -> str:
        groups: dict[str, dict[str, object]] = {}
        for leaf in self.leaves:
            groups[leaf] = {"hosts": {f"{leaf}-1": {"ansible_connection": "local"}}}
        for group, children in self.children.items():
            groups[group] = {"children": {child: None for child in children}}
        header = ("# Placeholder inventory written by `orchc migrate playbook`: one group per play's hosts\n"
                  "# pattern. Replace the example hosts with yours (or add these groups to your inventory).\n")
        return header + dump_yaml({"all": {"children": groups}})


def map_hosts(patterns: list[str], sources: list[str], report: Report) -> HostMapping:
    mapping = HostMapping()
    for pattern, source in zip(patterns, sources):
        if pattern in mapping.role_of:
            continue
        parts = [p.strip() for p in re.split(r"[:,]", pattern) if p.strip()] if "{{" not in pattern else [pattern]
        if len(parts) == 1 and _GROUP.match(parts[0]) and parts[0] not in ("all", "ungrouped"):
            mapping.role_of[pattern] = _leaf(mapping, parts[0])
        elif pattern in ("all", "*"):
            mapping.role_of[pattern] = "all_hosts"
            report.add("assumption", source, f"hosts: {pattern} -> role all_hosts",
                       "its inventory group has every other group as a child; add hosts outside them too")
        elif parts and all(_GROUP.match(p) for p in parts):
            role = emit.ident("_or_".join(parts))
            mapping.role_of[pattern] = role
            mapping.children[role] = [_leaf(mapping, p) for p in parts]
        elif pattern == "localhost":
            mapping.role_of[pattern] = _leaf(mapping, "local_controller")
            report.add("assumption", source, "hosts: localhost -> role local_controller",
                       "its group holds the controller (ansible_connection: local)")
        else:
            role = _leaf(mapping, emit.ident(re.sub(r"&", "_and_", re.sub(r"!", "not_", pattern))) or "hosts")
            mapping.role_of[pattern] = role
            report.add("approximated", source, f"hosts: {pattern!r} -> role {role}",
                       "intersections, exclusions, wildcards and templated patterns have no orchc form: "
                       f"put the hosts the pattern selects into inventory group {role}")
    if "all_hosts" in mapping.role_of.values():
        mapping.children["all_hosts"] = [g for g in mapping.leaves]
        if not mapping.leaves:
            mapping.leaves.append("all_hosts")
            mapping.children.pop("all_hosts")
    return mapping


def _leaf(mapping: HostMapping, name: str) -> str:
    if name not in mapping.leaves:
        mapping.leaves.append(name)
    return name
