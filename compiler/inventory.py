"""Read an Ansible inventory (INI or YAML) through ansible-core's own code
(or, for the plainest YAML inventories, `inventory_yaml`, which gives the same result faster).

Groups become roles; each host gets its merged variables with Ansible's
precedence (group vars, child groups, host vars, `group_vars/`/`host_vars/`
beside the inventory). Password-like variables never leave this module.

The merge follows `VariableManager.get_vars` for the inventory layers (in the
order of ansible's VARIABLE_PRECEDENCE) with ansible-core's own helpers, but
computes each group's layers once instead of once per host: for 1000 hosts
VariableManager takes most of a second, mostly cleaning empty fact caches.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchc.compiler.inventory_errors import inventory_errors, not_utf8_errors
from orchc.compiler.inventory_yaml import read_plain_yaml_inventory
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError
from orchc.plan import Host

# Variables Ansible adds to every host itself; they are not inventory content.
_MAGIC_VARS = frozenset(
    {
        "ansible_config_file",
        "ansible_facts",
        "ansible_playbook_python",
        "ansible_version",
        "group_names",
        "groups",
        "inventory_dir",
        "inventory_file",
        "inventory_hostname",
        "inventory_hostname_short",
        "playbook_dir",
        "omit",
        "hostvars",
        "ansible_play_batch",
        "ansible_play_hosts",
        "ansible_play_hosts_all",
        "ansible_check_mode",
        "ansible_diff_mode",
        "ansible_forks",
        "ansible_inventory_sources",
        "ansible_skip_tags",
        "ansible_run_tags",
        "ansible_verbosity",
        "environment",
        "role_names",
    }
)
_PASSWORD_VARS = frozenset({"ansible_password", "ansible_ssh_pass", "ansible_become_pass", "ansible_become_password"})
IMPLICIT_GROUPS = frozenset({"all", "ungrouped"})


@dataclass
class Inventory:
    path: Path
    hosts: list[Host]  # inventory order; their vars merged with Ansible's precedence, never a password-like one
    groups: dict[str, list[str]]  # group -> host names (children included), inventory order
    # host -> its vars in name order, nested maps as written: what templates see as `host.vars`
    template_vars: dict[str, dict[str, Any]]

    def add_host(self, host: Host, template_vars: dict[str, Any]) -> None:
        self.hosts.append(host)
        self.template_vars[host.name] = template_vars

    def group_names(self) -> list[str]:
        """Groups that can be roles (not Ansible's implicit `all` and `ungrouped`)."""
        return [g for g in self.groups if g not in IMPLICIT_GROUPS]


def is_password_like(name: str) -> bool:
    return name in _PASSWORD_VARS or "password" in name.lower()


def plain(value: Any) -> Any:
    """ansible-core tags its strings and containers; give plain JSON-able Python values."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)


def load_inventory(path: Path) -> Inventory:
    """Parse `path`; raise `DiagnosticError` naming the file if it is missing or unreadable."""
    if not path.exists():
        raise DiagnosticError(
            [
                Diagnostic(
                    "error",
                    f"inventory '{path}' does not exist",
                    hint="give an Ansible inventory (INI or YAML) with -i/--inventory",
                )
            ]
        )
    plain_inventory = read_plain_yaml_inventory(path)
    if plain_inventory is not None:
        host_vars, groups = plain_inventory.hosts, plain_inventory.groups
    else:
        host_vars, groups = _read_with_ansible(path)
    position = {name: i for i, name in enumerate(host_vars)}
    inventory = Inventory(
        path=path,
        hosts=[],
        groups={name: sorted(members, key=position.__getitem__) for name, members in groups.items()},
        template_vars={},
    )
    for name, merged in host_vars.items():
        inventory.add_host(*_host(path, name, merged))
    return inventory


def _read_with_ansible(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Each host's merged variables (inventory order) and each group's hosts, from ansible-core."""
    not_utf8 = not_utf8_errors(path)  # ansible-core would read such bytes as surrogates, which no Plan can hold
    if not_utf8:
        raise DiagnosticError(not_utf8)
    manager, loader = _ansible_inventory(path)
    merged = _InventoryVars(manager, loader, [os.path.abspath(path)])
    # ansible-core's names are tagged strings, which YAML writers (the Ansible transport's inventory) refuse.
    host_vars = {str(host.name): merged.of(host) for host in manager.get_hosts()}
    groups = {str(name): [str(host.name) for host in group.get_hosts()] for name, group in manager.groups.items()}
    return host_vars, groups


def _ansible_inventory(path: Path) -> tuple[Any, Any]:
    from ansible import constants as ansible_constants
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    warnings = io.StringIO()
    strict = ansible_constants.INVENTORY_ANY_UNPARSED_IS_FAILED
    ansible_constants.INVENTORY_ANY_UNPARSED_IS_FAILED = True
    try:
        with contextlib.redirect_stderr(warnings):
            loader = DataLoader()
            manager = InventoryManager(loader=loader, sources=[os.path.abspath(path)])
    except AnsibleError as exc:
        reasons = [
            line.split(":", 2)[-1].strip()
            for line in warnings.getvalue().splitlines()
            if line.startswith("[WARNING]: Failed to parse inventory")
        ]
        raise DiagnosticError(
            inventory_errors(path)
            or [
                Diagnostic(
                    "error",
                    f"cannot read inventory '{path}': " + ("; ".join(dict.fromkeys(reasons)) or exc.message),
                    hint="fix the file: an Ansible inventory in INI or YAML format",
                )
            ]
        ) from None
    finally:
        ansible_constants.INVENTORY_ANY_UNPARSED_IS_FAILED = strict
    return manager, loader


class _InventoryVars:
    """A host's variables from the inventory layers, merged as ansible's VariableManager does."""

    _LAYERS = ("all_inventory", "groups_inventory", "all_plugins_inventory", "groups_plugins_inventory")

    def __init__(self, manager: Any, loader: Any, sources: list[str]) -> None:
        from ansible import constants as ansible_constants

        self.manager = manager
        self.loader = loader
        self.sources = sources
        self.order = [layer for layer in ansible_constants.VARIABLE_PRECEDENCE if layer in self._LAYERS]
        self._groups: dict[tuple[str, ...], dict[str, Any]] = {}

    def _plugins(self, entities: list[Any]) -> dict[str, Any]:
        from ansible.vars.plugins import get_vars_from_inventory_sources

        found: dict[str, Any] = get_vars_from_inventory_sources(self.loader, self.sources, entities, "task")
        return found

    def _group_layers(self, host: Any) -> dict[str, Any]:
        from ansible.inventory.helpers import get_group_vars, sort_groups
        from ansible.utils.vars import combine_vars

        groups = sort_groups([g for g in host.get_groups() if g.name != "all"])
        key = tuple(g.name for g in groups)
        if key not in self._groups:
            all_group = self.manager.groups["all"]
            layers: dict[str, Callable[[], dict[str, Any]]] = {
                "all_inventory": lambda: all_group.get_vars(),
                "groups_inventory": lambda: get_group_vars(groups),
                "all_plugins_inventory": lambda: self._plugins([all_group]),
                "groups_plugins_inventory": lambda: self._plugins(groups),
            }
            merged: dict[str, Any] = {}
            for layer in self.order:
                merged = combine_vars(merged, layers[layer]())
            self._groups[key] = merged
        return self._groups[key]

    def of(self, host: Any) -> dict[str, Any]:
        from ansible.utils.vars import combine_vars

        merged: dict[str, Any] = combine_vars(self._group_layers(host), host.get_vars())
        merged = combine_vars(merged, self._plugins([host]))
        return merged


def _host(path: Path, name: str, merged: dict[str, Any]) -> tuple[Host, dict[str, Any]]:
    """The host as the Plan holds it, and its vars as templates see them."""
    host_vars = {k: plain(v) for k, v in merged.items() if k not in _MAGIC_VARS and not is_password_like(k)}
    port = host_vars.get("ansible_port")
    user = host_vars.get("ansible_user")
    if port is not None and not str(port).isdigit():
        raise DiagnosticError(
            [
                Diagnostic(
                    "error",
                    f"inventory '{path}': host '{name}' has ansible_port '{port}', not a number",
                    hint="set ansible_port to the SSH port number, e.g. 22",
                )
            ]
        )
    template_vars = dict(sorted(host_vars.items()))
    host = Host(
        address=str(host_vars.get("ansible_host", name)),
        connection="local" if host_vars.get("ansible_connection") == "local" else "ssh",
        name=name,
        port=int(port) if port is not None else None,
        user=str(user) if user is not None else None,
        vars=template_vars,
    )
    return host, template_vars
