"""What one ansible-runner call reads: inventory, playbook, extra vars and the secrets file.

Everything is written into the call's private data dir. The inventory holds
every host of the Plan (so plays can look at `hostvars` and groups of hosts
they don't run on), with the connection variables orchc uses; `limit` picks
the hosts of the batch.

One call serves several hosts whose actions were rendered apart (a module
argument or a variable may name `{{ host.vars.root }}`). A value that is the
same on every host of the batch is passed as it is; one that differs is
written per host into a map in the extra vars (`orchc_host_vars`,
`orchc_host_args`), and the variable or argument becomes a template that reads
the running host's entry.

Secrets never reach a file other than the secrets file (mode 0600, removed
after the call): a value that holds a secret marker is always read from the
per-host map kept there (`orchc_secret_host_vars`, `orchc_secret_host_args`),
resolved and tagged `!unsafe` so that Ansible never templates it, and a module
task with such an argument gets `no_log`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchc.backends.connection import ConnectionSpec, SshOptions
from orchc.plan import (
    AnsibleModuleAction,
    AnsibleRoleAction,
    Host,
    Plan,
    PlaybookAction,
    resolve_secrets,
    secret_names,
)

AnsibleAction = PlaybookAction | AnsibleModuleAction | AnsibleRoleAction

# Group names Ansible defines itself: a role of that name cannot become a group.
RESERVED_GROUPS = frozenset({"all", "ungrouped"})
# The per-host maps, as (public map, secret map).
VARS_MAPS = ("orchc_host_vars", "orchc_secret_host_vars")
ARGS_MAPS = ("orchc_host_args", "orchc_secret_host_args")


class InputError(Exception):
    """The action cannot run as written (missing playbook, secret without a value)."""


# --- inventory ------------------------------------------------------------------


def _append_ssh_option(vars_: dict[str, Any], option: str) -> None:
    current = str(vars_.get("ansible_ssh_extra_args") or "")
    vars_["ansible_ssh_extra_args"] = f"{current} {option}".strip()


def host_vars(host: Host, options: SshOptions) -> dict[str, Any]:
    """The host's inventory variables, with how orchc reaches it written the way Ansible reads it."""
    vars_ = dict(host.vars)
    vars_["ansible_connection"] = host.connection
    if host.connection == "local":
        vars_.setdefault("ansible_python_interpreter", sys.executable)
        return vars_
    vars_["ansible_host"] = host.address
    if host.port is not None:
        vars_["ansible_port"] = host.port
    if host.user is not None:
        vars_["ansible_user"] = host.user
    vars_.setdefault("ansible_timeout", int(options.connect_timeout))
    # Options given in the inventory come first on ssh's command line, and ssh keeps the first value.
    known_hosts = options.known_hosts_of(ConnectionSpec.of(host))  # as the ssh transport chooses
    if known_hosts:
        _append_ssh_option(vars_, f"-o UserKnownHostsFile={shlex.quote(str(known_hosts))}")
    if options.accept_new_host_keys:
        _append_ssh_option(vars_, "-o StrictHostKeyChecking=accept-new")
    return vars_


def inventory(plan: Plan, options: SshOptions) -> dict[str, Any]:
    """A YAML inventory of every host of the Plan, with the inventory's groups (and every role)."""
    members = {**{role.name: role.hosts for role in plan.roles}, **plan.groups}
    groups = {
        name: {"hosts": {host: None for host in hosts}}
        for name, hosts in members.items()
        if name not in RESERVED_GROUPS
    }
    return {"all": {"hosts": {h.name: host_vars(h, options) for h in plan.hosts}, "children": groups}}


# --- playbooks ------------------------------------------------------------------


def module_playbook(module: str, args: dict[str, Any], task_id: str, no_log: bool) -> list[dict[str, Any]]:
    """A one-task play that runs the module with its arguments kept structured."""
    task: dict[str, Any] = {"name": f"{task_id}: {module}", module: args}
    if no_log:
        task["no_log"] = True
    return [{"name": task_id, "hosts": "all", "gather_facts": False, "tasks": [task]}]


def role_playbook(role: str, task_id: str) -> list[dict[str, Any]]:
    """A play that applies the role, gathering facts as Ansible does by default."""
    return [{"name": task_id, "hosts": "all", "roles": [{"role": role}]}]


def playbook_path(plan: Plan, action: PlaybookAction) -> Path:
    path = Path(plan.root).resolve() / action.path
    if not path.is_file():
        raise InputError(f"playbook {action.path} not found (looked for {path})")
    return path


def declared_folder(plan: Plan, task_id: str) -> Path | None:
    """The folder of the .orch file that declares the task."""
    declared_in = next((task.source.file for task in plan.tasks if task.id == task_id), None)
    return None if declared_in is None else (Path(plan.root).resolve() / declared_in).parent


def roles_path(plan: Plan, task_id: str) -> str:
    """`roles/` beside the file that declares the task, the Plan root's `roles/`, then ANSIBLE_ROLES_PATH."""
    root = Path(plan.root).resolve()
    paths = [str(root / "roles")]
    folder = declared_folder(plan, task_id)
    if folder is not None:
        beside = str(folder / "roles")
        paths = [beside] + [p for p in paths if p != beside]
    if os.environ.get("ANSIBLE_ROLES_PATH"):
        paths.append(os.environ["ANSIBLE_ROLES_PATH"])
    return os.pathsep.join(paths)


# What a module task uses from beside its playbook (and the compiler resolves module names against).
MODULE_FOLDERS = ("library", "module_utils", "action_plugins", "collections")


def link_module_folders(plan: Plan, task_id: str, project: Path) -> None:
    """Make `project`, where the module's one-task playbook is written, see the module folders beside the
    .orch file that declares the task, as a playbook written there would."""
    folder = declared_folder(plan, task_id)
    if folder is None:
        return
    for name in MODULE_FOLDERS:
        if (folder / name).is_dir():
            (project / name).symlink_to(folder / name, target_is_directory=True)


# --- variables and secrets -------------------------------------------------------


def _markers_in(value: Any) -> set[str]:
    return secret_names(json.dumps(value))


def _resolve(value: Any, secrets: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return resolve_secrets(value, secrets)
    if isinstance(value, list):
        return [_resolve(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, secrets) for k, v in value.items()}
    return value


@dataclass
class ExtraVars:
    public: dict[str, Any] = field(default_factory=dict)  # written as a plain JSON file
    secret: dict[str, Any] = field(default_factory=dict)  # resolved; written only to the 0600 secrets file


def _host_lookup(map_name: str, key: str) -> str:
    return f"{{{{ {map_name}[inventory_hostname][{json.dumps(key)}] }}}}"


def spread(per_host: Mapping[str, Mapping[str, Any]], maps: tuple[str, str], extra: ExtraVars) -> dict[str, Any]:
    """Each key's value for the call: as it is when every host has the same one and it holds no secret,
    else a template reading the running host's value from a per-host map added to `extra`.

    Every host has the same keys (the batch key includes them).
    """
    hosts = list(per_host)
    spread_values: dict[str, Any] = {}
    for key in per_host[hosts[0]]:
        values = [per_host[host][key] for host in hosts]
        secret = any(_markers_in(value) for value in values)
        if not secret and all(value == values[0] for value in values[1:]):
            spread_values[key] = values[0]
            continue
        map_name, target = (maps[1], extra.secret) if secret else (maps[0], extra.public)
        for host, value in zip(hosts, values, strict=True):
            target.setdefault(map_name, {}).setdefault(host, {})[key] = value
        spread_values[key] = _host_lookup(map_name, key)
    return spread_values


def resolve_secret_values(extra: ExtraVars, secrets: Mapping[str, str]) -> None:
    """Put the secrets' values in place of their markers, in the secret extra vars only."""
    missing = sorted(_markers_in(extra.secret) - set(secrets))
    if missing:
        raise InputError(
            f"no value for secret {', '.join(missing)}: give it with --secrets FILE or ORCHC_SECRET_<NAME>"
        )
    extra.secret = _resolve(extra.secret, secrets)


def call_values(
    plan_vars: Mapping[str, Any], actions: Mapping[str, AnsibleAction], secrets: Mapping[str, str]
) -> tuple[ExtraVars, dict[str, Any] | None]:
    """Extra vars for one call serving `actions` (host name -> its action), and a module action's arguments."""
    extra = ExtraVars()
    vars_per_host = {
        host: {**plan_vars, **({} if isinstance(a, AnsibleModuleAction) else a.vars)} for host, a in actions.items()
    }
    extra.public.update(spread(vars_per_host, VARS_MAPS, extra))
    args = None
    if all(isinstance(a, AnsibleModuleAction) for a in actions.values()):
        args = spread({host: a.args for host, a in actions.items()}, ARGS_MAPS, extra)  # type: ignore[union-attr]  # all AnsibleModuleAction: the all() above
    resolve_secret_values(extra, secrets)
    return extra, args


class _Unsafe(str):
    """A string Ansible must take as data, never as a template."""


class _SecretsDumper(yaml.SafeDumper):
    pass


def _represent_unsafe(dumper: yaml.SafeDumper, value: _Unsafe) -> yaml.Node:
    return dumper.represent_scalar("!unsafe", str(value))


_SecretsDumper.add_representer(_Unsafe, _represent_unsafe)


def _mark_unsafe(value: Any) -> Any:
    if isinstance(value, str):
        return _Unsafe(value)
    if isinstance(value, list):
        return [_mark_unsafe(v) for v in value]
    if isinstance(value, dict):
        return {k: _mark_unsafe(v) for k, v in value.items()}
    return value


def write_secrets_file(path: Path, values: Mapping[str, Any]) -> None:
    """Write resolved secret variables to a new file only its owner can read."""
    text = yaml.dump(_mark_unsafe(dict(values)), Dumper=_SecretsDumper, allow_unicode=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
