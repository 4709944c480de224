"""A fast reader for the plainest YAML inventories, giving what ansible-core gives for them.

Importing ansible-core and running its InventoryManager costs about 0.4 s for a
1000-host inventory, more than parsing and expanding the project. Generated
inventories (`orchc migrate` writes them) mostly have one shape:

    all:
      vars: {...}            # optional
      children:
        GROUP:
          vars: {...}        # optional
          hosts:
            HOST: {...}      # or empty

For that shape, with nothing around it that could change how Ansible reads it
(no ansible.cfg, no ANSIBLE_* environment, no group_vars/ or host_vars/, not an
executable script), Ansible's result is simple: hosts in the order they first
appear, each group's hosts in that order, and a host's variables are the `all`
vars, then its groups' vars by group name, then its own (later entries win).
`read_plain_yaml_inventory` returns None for anything else: ansible-core reads it.
"""

from __future__ import annotations

import keyword
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")  # no host pattern ([1:3]), no port (host:22)
_GROUP = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SCALARS = (str, int, float, bool, type(None))
_ANSIBLE_CONFIG_FILES = ("ansible.cfg", "~/.ansible.cfg", "/etc/ansible/ansible.cfg")


@dataclass
class PlainInventory:
    hosts: dict[str, dict[str, Any]]  # host -> merged variables, in inventory order
    groups: dict[str, list[str]]  # as InventoryManager.groups: all, ungrouped, then the groups


class _NotPlain(Exception):
    """The inventory is not of the plain shape: ansible-core must read it."""


def read_plain_yaml_inventory(path: Path) -> PlainInventory | None:
    if not _ansible_reads_it_plainly(path):
        return None
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return _read(data)
    except (_NotPlain, yaml.YAMLError, UnicodeDecodeError, OSError):
        return None


def _ansible_reads_it_plainly(path: Path) -> bool:
    """No configuration, vars plugin folder or script that would change what ansible-core reads."""
    folder = path.resolve().parent
    return (
        path.suffix in (".yml", ".yaml")
        and not os.access(path, os.X_OK)
        and not any(name.startswith("ANSIBLE_") for name in os.environ)
        and not any(os.path.exists(os.path.expanduser(f)) for f in _ANSIBLE_CONFIG_FILES)
        and not (folder / "group_vars").exists()
        and not (folder / "host_vars").exists()
    )


def _read(data: Any) -> PlainInventory:
    if not isinstance(data, dict) or list(data) != ["all"]:
        raise _NotPlain
    top = _mapping(data["all"])
    if not set(top) <= {"vars", "children"}:
        raise _NotPlain
    all_vars = _variables(top.get("vars"))
    groups: dict[str, list[str]] = {"all": [], "ungrouped": []}
    group_vars: dict[str, dict[str, Any]] = {}
    host_vars: dict[str, dict[str, Any]] = {}  # each host's own, in the order hosts first appear
    host_groups: dict[str, set[str]] = {}
    for group, body in _mapping(top.get("children")).items():
        if not isinstance(group, str) or not _GROUP.match(group) or group in groups:
            raise _NotPlain
        section = _mapping(body)
        if not set(section) <= {"vars", "hosts"}:
            raise _NotPlain
        group_vars[group] = _variables(section.get("vars"))
        if "ansible_group_priority" in group_vars[group]:
            raise _NotPlain
        members = groups[group] = []
        for host, own in _mapping(section.get("hosts")).items():
            if not isinstance(host, str) or not _NAME.match(host) or host == "all":
                raise _NotPlain
            host_vars.setdefault(host, {}).update(_variables(own))
            host_groups.setdefault(host, set()).add(group)
            members.append(host)
    if set(host_vars) & set(groups):
        raise _NotPlain  # Ansible warns about a name that is both a host and a group
    groups["all"] = list(host_vars)
    merged = {}
    for host, own in host_vars.items():
        variables = dict(all_vars)
        for group in sorted(host_groups[host]):
            variables.update(group_vars[group])
        variables.update(own)
        merged[host] = variables
    return PlainInventory(hosts=merged, groups=groups)


def _mapping(value: Any) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _NotPlain
    return value


def _variables(value: Any) -> dict[str, Any]:
    variables = _mapping(value)
    for name, item in variables.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or not _plain_value(item):
            raise _NotPlain
    return variables


def _plain_value(value: Any) -> bool:
    """Scalars, lists and string-keyed maps of them: what Ansible and PyYAML load alike (no dates, no tags)."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, list):
        return all(_plain_value(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_value(v) for k, v in value.items())
    return False
