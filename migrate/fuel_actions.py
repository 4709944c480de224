"""What each Fuel task type does on a node, as `.orch` action lines.

Astute runs a task through an engine class per `type` (`Astute::Puppet`,
`Astute::Shell`, `Astute::UploadFile`, ...); here each becomes the orchc
action with the same effect. Nailgun's `{CLUSTER_ID}`-style placeholders
become orchc variables. Anything without an exact equivalent is said in the
returned `notes` (category, what, why) for the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchc.dsl import ast, build
from orchc.dsl.build import Statement, Timeout
from orchc.migrate.fuel_tasks import FuelTask
from orchc.migrate.report import Category

# Nailgun formats these into task parameters; the defaults are Fuel 10's.
PLACEHOLDER_DEFAULTS = {
    "CLUSTER_ID": "1",
    "MASTER_IP": "10.20.0.2",
    "OPENSTACK_VERSION": "newton-10.0",
    "CN_HOSTNAME": "public.fuel.local",
}
_PLACEHOLDER = re.compile(r"\{([A-Z][A-Z_]*)\}")
_JINJA_OPEN = re.compile(r"\{[{%#]")

# Types whose work is done by Fuel's own provisioning agents: nothing in orchc does the same.
_FUEL_AGENT_TYPES = {
    "erase_node": "erases the node's disks through Fuel's MCollective agent",
    "move_to_bootstrap": "reboots the node into Fuel's bootstrap image through Cobbler",
}


@dataclass
class Actions:
    actions: list[ast.Action] = field(default_factory=list)
    settings: list[Statement] = field(default_factory=list)  # retries and timeout
    placeholders: set[str] = field(default_factory=set)  # variables the text uses
    notes: list[tuple[Category, str, str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # extra output files (upload_file data)


def actions_for(task: FuelTask) -> Actions:
    out = Actions()
    params = task.parameters
    builder = _BUILDERS.get(task.type)
    if builder is not None:
        builder(task, params, out)
    elif task.type in _FUEL_AGENT_TYPES:
        out.notes.append(
            ("unsupported", f"task '{task.id}' (type {task.type}) has no action", _FUEL_AGENT_TYPES[task.type])
        )
    elif task.type not in ("skipped", "stage", "group"):
        out.notes.append(
            ("unsupported", f"task '{task.id}' has unknown type '{task.type}'", "kept as a task with no action")
        )
    _settings(task, params, out)
    return out


def _settings(task: FuelTask, params: dict[str, Any], out: Actions) -> None:
    retries = params.get("retries")
    if isinstance(retries, int) and retries > 0 and out.actions:
        interval = params.get("interval")
        out.settings.append(build.retries(retries, interval if isinstance(interval, int) else None))
    timeout = params.get("timeout")
    if isinstance(timeout, int) and timeout > 0 and out.actions:
        out.settings.append(Timeout(timeout))


def _text(raw: Any, out: Actions) -> str:
    """A Fuel string as an orchc template: placeholders become variables, Jinja-like text stays literal."""
    text = _JINJA_OPEN.sub(lambda m: "{{ '" + m.group(0) + "' }}", str(raw))

    def variable(match: re.Match[str]) -> str:
        if match.group(1) not in PLACEHOLDER_DEFAULTS:
            return match.group(0)
        out.placeholders.add(match.group(1))
        return "{{ " + match.group(1).lower() + " | raw }}"

    return _PLACEHOLDER.sub(variable, text)


def _dynamic(task: FuelTask, params: dict[str, Any], names: tuple[str, ...], out: Actions) -> bool:
    """True (and a report note) when a parameter is a yaql expression, which only Nailgun can evaluate."""
    dynamic = [n for n in names if isinstance(params.get(n), dict)]
    for name in dynamic:
        expression = " ".join(str(params[name].get("yaql_exp", params[name])).split())
        out.notes.append(
            (
                "unsupported",
                f"task '{task.id}': parameter `{name}` is a yaql expression",
                f"Nailgun computed it from the cluster's deployment data ({expression}); "
                "the task is kept with no action",
            )
        )
    return bool(dynamic)


def _puppet(task: FuelTask, params: dict[str, Any], out: Actions) -> None:
    manifest = _text(params.get("puppet_manifest", ""), out)
    modules = _text(params.get("puppet_modules", "/etc/puppet/modules"), out)
    cwd = _text(params.get("cwd", "/"), out)
    # --detailed-exitcodes: 2 means "changes applied", which is success, as in Astute.
    command = (
        f"cd {cwd} && puppet apply --detailed-exitcodes --modulepath={modules} {manifest}; "
        "rc=$?; [ $rc -eq 0 ] || [ $rc -eq 2 ]"
    )
    out.actions.append(build.run(command))


def _shell(task: FuelTask, params: dict[str, Any], out: Actions) -> None:
    if _dynamic(task, params, ("cmd",), out):
        return
    cwd = _text(params.get("cwd", "/"), out)
    out.actions.append(build.run(f"cd {cwd} && " + _text(params.get("cmd", "true"), out)))


def _master_shell(task: FuelTask, params: dict[str, Any], out: Actions) -> None:
    if _dynamic(task, params, ("cmd",), out):
        return
    _shell(task, params, out)
    out.notes.append(
        (
            "approximated",
            f"task '{task.id}' (master_shell) runs on each of its nodes",
            "Astute ran the command on the Fuel master once per node; orchc runs it on the node",
        )
    )


def _upload_file(task: FuelTask, params: dict[str, Any], out: Actions) -> None:
    if _dynamic(task, params, ("data", "path"), out):
        return
    source = f"files/{task.id}.data"
    out.files[source] = str(params.get("data", ""))
    permissions = params.get("permissions")
    mode = str(permissions) if permissions else None
    out.actions.append(build.copy(source, _text(params.get("path", ""), out), mode))


def _copy_files(task: FuelTask, params: dict[str, Any], out: Actions) -> None:
    # The sources live on the Fuel master (the controller) when the task runs, as with Ansible's copy.
    for item in params.get("files") or []:
        args: dict[str, Any] = {"src": _text(item.get("src", ""), out), "dest": _text(item.get("dst", ""), out)}
        if params.get("permissions"):
            args["mode"] = str(params["permissions"])
        if params.get("dir_permissions"):
            args["directory_mode"] = str(params["dir_permissions"])
        out.actions.append(build.ansible("copy", args))


def _sync(task: FuelTask, params: dict[str, Any], out: Actions) -> None:
    src, dst = _text(params.get("src", ""), out), _text(params.get("dst", ""), out)
    out.actions.append(build.run(f"rsync -c -r --delete {src} {dst}"))


def _reboot(task: FuelTask, params: dict[str, Any], out: Actions) -> None:
    # Ansible's reboot module waits for the node to come back, as Astute did, within the timeout.
    timeout = params.get("timeout")
    out.actions.append(build.ansible("reboot", {"reboot_timeout": timeout} if isinstance(timeout, int) else {}))


_BUILDERS = {
    "puppet": _puppet,
    "shell": _shell,
    "master_shell": _master_shell,
    "upload_file": _upload_file,
    "copy_files": _copy_files,
    "sync": _sync,
    "reboot": _reboot,
}
