"""What one ansible-runner call reads: inventory, playbook, extra vars and the secrets file.

Everything is written into the call's private data dir. The inventory holds
every host of the Plan (so plays can look at `hostvars` and groups of hosts
they don't run on), with the connection variables orchc uses; `limit` picks
the hosts of the batch.

Secrets never reach a file other than the secrets file (mode 0600, removed
after the call): a variable whose value holds a secret marker goes there whole,
resolved; a module argument that holds one is read from there by a template,
and its task gets `no_log`. Values in the secrets file are tagged `!unsafe`, so
Ansible never templates them.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from orchc.backends.transport import TransportOptions
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
SECRET_ARGS_VAR = "orchc_secret_args"


class InputError(Exception):
    """The action cannot run as written (missing playbook, secret without a value)."""


# --- inventory ------------------------------------------------------------------


def _append_ssh_option(vars_: dict[str, Any], option: str) -> None:
    current = str(vars_.get("ansible_ssh_extra_args") or "")
    vars_["ansible_ssh_extra_args"] = f"{current} {option}".strip()


def host_vars(host: Host, options: TransportOptions) -> dict[str, Any]:
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
    if options.known_hosts is not None:
        _append_ssh_option(vars_, f"-o UserKnownHostsFile={shlex.quote(str(options.known_hosts))}")
    if options.accept_new_host_keys:
        _append_ssh_option(vars_, "-o StrictHostKeyChecking=accept-new")
    return vars_


def inventory(plan: Plan, options: TransportOptions) -> dict[str, Any]:
    """A YAML inventory of every host of the Plan, with one group per role."""
    groups = {
        role.name: {"hosts": {name: None for name in role.hosts}}
        for role in plan.roles
        if role.name not in RESERVED_GROUPS
    }
    return {"all": {"hosts": {h.name: host_vars(h, options) for h in plan.hosts}, "children": groups}}


# --- playbooks ------------------------------------------------------------------


def module_playbook(action: AnsibleModuleAction, task_id: str, secret_args: set[str]) -> list[dict[str, Any]]:
    """A one-task play that runs the module with its arguments kept structured."""
    args = {
        key: (f"{{{{ {SECRET_ARGS_VAR}[{json.dumps(key)}] }}}}" if key in secret_args else value)
        for key, value in action.args.items()
    }
    task: dict[str, Any] = {"name": f"{task_id}: {action.module}", action.module: args}
    if secret_args:
        task["no_log"] = True
    return [{"name": task_id, "hosts": "all", "gather_facts": False, "tasks": [task]}]


def role_playbook(action: AnsibleRoleAction, task_id: str) -> list[dict[str, Any]]:
    """A play that applies the role, gathering facts as Ansible does by default."""
    return [{"name": task_id, "hosts": "all", "roles": [{"role": action.name}]}]


def playbook_path(plan: Plan, action: PlaybookAction) -> Path:
    path = Path(plan.root).resolve() / action.path
    if not path.is_file():
        raise InputError(f"playbook {action.path} not found (looked for {path})")
    return path


def roles_path(plan: Plan, task_id: str) -> str:
    """`roles/` beside the file that declares the task, the Plan root's `roles/`, then ANSIBLE_ROLES_PATH."""
    root = Path(plan.root).resolve()
    paths = [str(root / "roles")]
    declared_in = next((task.source.file for task in plan.tasks if task.id == task_id), None)
    if declared_in is not None:
        beside = str((root / declared_in).parent / "roles")
        paths = [beside] + [p for p in paths if p != beside]
    if os.environ.get("ANSIBLE_ROLES_PATH"):
        paths.append(os.environ["ANSIBLE_ROLES_PATH"])
    return os.pathsep.join(paths)


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
    public: dict[str, Any]  # written as a plain JSON file
    secret: dict[str, Any]  # resolved; written only to the 0600 secrets file


def split_vars(
    plan_vars: Mapping[str, Any], action: AnsibleAction, secrets: Mapping[str, str]
) -> tuple[ExtraVars, set[str]]:
    """Extra vars for the call, and the names of module arguments that hold secrets."""
    merged = dict(plan_vars)
    if not isinstance(action, AnsibleModuleAction):
        merged.update(action.vars)
    extra = ExtraVars(public={}, secret={})
    for name, value in merged.items():
        target = extra.secret if _markers_in(value) else extra.public
        target[name] = value
    secret_args = set()
    if isinstance(action, AnsibleModuleAction):
        secret_args = {key for key, value in action.args.items() if _markers_in(value)}
        if secret_args:
            extra.secret[SECRET_ARGS_VAR] = {key: action.args[key] for key in secret_args}
    missing = sorted(_markers_in(extra.secret) - set(secrets))
    if missing:
        raise InputError(f"no value for secret {', '.join(missing)}: give it with --secrets FILE "
                         "or ORCHC_SECRET_<NAME>")
    extra.secret = _resolve(extra.secret, secrets)
    return extra, secret_args


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
