"""Where Fuel tasks run: Fuel roles from the user's inventory, tags from Fuel's release metadata.

The user's inventory (Ansible YAML) has one group per Fuel role (`controller`,
`compute`, `cinder`, ...). Fuel's metadata (`openstack.yaml`: `roles_metadata`
and `tags_metadata`) says which tags each role carries; for a `has_primary`
tag the first host of the role also carries `primary-<tag>`. orchc places
services on inventory groups, so every tag becomes a group of the converted
inventory (`tag_groups`); `master` is the Fuel master, i.e. the controller
running orchc.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchc.migrate.emit import ident
from orchc.migrate.yaml_source import input_error, load_yaml

MASTER = "master"
ALL_NODES = "all_nodes"  # the group of every node (Fuel's '*')
MASTER_HOST = "fuel-master"


@dataclass
class Metadata:
    role_tags: dict[str, list[str]]  # Fuel role -> the tags it carries
    has_primary: set[str]  # tags whose first host also carries primary-<tag>


def load_metadata(path: Path) -> Metadata:
    """Read `roles_metadata`/`tags_metadata` from Fuel's release fixture (or a file holding just them)."""
    data = load_yaml(path)
    releases = data if isinstance(data, list) else [{"fields": data}]
    for release in releases:
        fields = release.get("fields", {}) if isinstance(release, dict) else {}
        roles = fields.get("roles_metadata") if isinstance(fields, dict) else None
        if isinstance(roles, dict):
            tags_meta = fields.get("tags_metadata") or {}
            return Metadata(
                role_tags={role: [str(t) for t in (meta or {}).get("tags") or [role]] for role, meta in roles.items()},
                has_primary={tag for tag, meta in tags_meta.items() if (meta or {}).get("has_primary")},
            )
    raise input_error(
        f"'{path}' has no `roles_metadata`",
        path,
        hint="give Fuel's release metadata: nailgun/nailgun/fixtures/openstack.yaml",
    )


@dataclass
class Inventory:
    """The user's inventory: the YAML document, and each group's hosts in inventory order."""

    document: dict[str, Any]
    groups: dict[str, list[str]]
    host_order: list[str]


def load_inventory(path: Path) -> Inventory:
    data = load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("all"), dict):
        raise input_error(
            "the Fuel inventory must be an Ansible YAML inventory with a top-level `all:` group",
            path,
            hint="write `all: {children: {controller: {hosts: {node-1: {}}}, ...}}`",
        )
    groups: dict[str, list[str]] = {}
    order: list[str] = []
    _walk("all", data["all"], groups, order)
    return Inventory(document=data, groups=groups, host_order=order)


def _walk(name: str, group: Any, groups: dict[str, list[str]], order: list[str]) -> list[str]:
    group = group if isinstance(group, dict) else {}
    hosts = [str(h) for h in (group.get("hosts") or {})]
    for child, body in (group.get("children") or {}).items():
        hosts += [h for h in _walk(str(child), body, groups, order) if h not in hosts]
    for host in hosts:
        if host not in order:
            order.append(host)
    groups[name] = groups.get(name, []) + [h for h in hosts if h not in groups.get(name, [])]
    return hosts


@dataclass
class Placement:
    """Which hosts carry which tag, and the orchc role (inventory group) of each tag."""

    metadata: Metadata
    inventory: Inventory
    tag_hosts: dict[str, list[str]] = field(default_factory=dict)  # tag -> hosts, inventory order
    tag_roles: dict[str, list[str]] = field(default_factory=dict)  # tag -> the Fuel roles it comes from
    notes: list[str] = field(default_factory=list)  # assumptions, for the report

    def __post_init__(self) -> None:
        for group, hosts in self.inventory.groups.items():
            if group in ("all", "ungrouped", MASTER) or not hosts:
                continue
            tags = self.metadata.role_tags.get(group)
            if tags is None:
                self.notes.append(
                    f"inventory group '{group}' is not a role of the Fuel metadata: its hosts carry the tag '{group}'"
                )
                tags = [group]
            for tag in tags:
                self._carry(tag, hosts, group)
                if tag in self.metadata.has_primary:
                    self._carry(f"primary-{tag}", hosts[:1], group)
        self.tag_hosts[MASTER] = self.inventory.groups.get(MASTER) or [MASTER_HOST]

    def _carry(self, tag: str, hosts: list[str], role: str) -> None:
        known = self.tag_hosts.setdefault(tag, [])
        known += [h for h in hosts if h not in known]
        self.tag_roles.setdefault(tag, []).append(role)

    @property
    def nodes(self) -> list[str]:
        """Every host but the master, in inventory order."""
        master = set(self.tag_hosts[MASTER])
        return [h for h in self.inventory.host_order if h not in master]

    def hosts_of(self, name: str) -> list[str]:
        """Hosts a placement name selects: a tag or role name, '*', 'master' or '/regex/'."""
        return self._order({h for group in self.groups_of(name) for h in self.group_hosts(group)})

    def groups_of(self, name: str) -> list[str]:
        """The orchc roles (inventory groups) a placement name stands for."""
        if name == "*":
            return [ALL_NODES]
        if name.startswith("/") and name.endswith("/") and len(name) > 1:
            pattern = re.compile(name[1:-1])
            matched = [tag for tag in self.tag_hosts if tag != MASTER and pattern.search(tag)]
            every = {t for t in self.tag_hosts if t != MASTER}
            return [ALL_NODES] if matched and set(matched) == every else [ident(t) for t in sorted(matched)]
        if name in self.tag_hosts:
            return [ident(name)]
        return []

    def group_hosts(self, group: str) -> list[str]:
        if group == ALL_NODES:
            return self.nodes
        for tag, hosts in self.tag_hosts.items():
            if ident(tag) == group:
                return hosts
        return []

    def _order(self, hosts: set[str]) -> list[str]:
        order = self.inventory.host_order + [MASTER_HOST]
        return sorted(hosts, key=order.index)

    def inventory_document(self, used_groups: set[str]) -> dict[str, Any]:
        """The user's inventory plus one group per used tag (and `master` and `all_nodes` when used)."""
        document = dict(self.inventory.document)
        top = dict(document["all"])
        children = dict(top.get("children") or {})
        if ident(MASTER) in used_groups and MASTER not in self.inventory.groups:
            children[MASTER] = {"hosts": {MASTER_HOST: {"ansible_connection": "local"}}}
            self.notes.append(
                f"no `master` group in the inventory: tasks of the Fuel master run on "
                f"'{MASTER_HOST}', the controller running orchc (local connection)"
            )
        if ALL_NODES in used_groups:
            roles = [g for g in self.inventory.groups if g in children and g != MASTER]
            children[ALL_NODES] = {"children": {g: {} for g in roles}}
        for tag, roles in self.tag_roles.items():
            group = ident(tag)
            if group not in used_groups or group in children:
                continue
            if tag.startswith("primary-") or len(roles) != len(set(roles)) or not all(r in children for r in roles):
                children[group] = {"hosts": {h: {} for h in self.tag_hosts[tag]}}
            else:
                children[group] = {"children": {r: {} for r in roles}}
        top["children"] = children
        document["all"] = top
        return document
