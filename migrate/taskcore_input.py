"""Read Task-Core's three inputs: service files, `roles.yaml` and `inventory.yaml`.

Checks what Task-Core checks (the shape of each file, undefined roles and
services, unknown drivers), and what it did not: a service id defined twice
(Task-Core silently kept the last file it found). Every problem is a
diagnostic at the file and line where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchc.dsl.diagnostics import did_you_mean
from orchc.migrate.yaml_source import input_error, line_of, load_yaml

DRIVERS = ("directord", "service", "print", "noop", "local", "ansible_runner")


@dataclass
class TcTask:
    id: str
    driver: str
    provides: list[str]
    requires: list[str]
    needed_by: list[str]
    data: dict[str, Any]  # the whole task entry (jobs, message, command, playbook, ...)
    source: str  # file:line


@dataclass
class TcService:
    id: str
    path: Path
    tasks: list[TcTask]
    hosts: list[str] = field(default_factory=list)  # filled from roles and inventory
    roles: list[str] = field(default_factory=list)


@dataclass
class TcProject:
    services_dir: Path
    services: dict[str, TcService]  # every service file found, by id
    roles: dict[str, list[str]]  # role -> service ids, as written
    hosts: dict[str, str]  # host -> role, inventory order


def load_project(services_dir: Path, roles_path: Path, inventory_path: Path) -> TcProject:
    if not services_dir.is_dir():
        raise input_error(
            f"services folder '{services_dir}' does not exist",
            services_dir,
            hint="give the folder of Task-Core service files with -s",
        )
    services: dict[str, TcService] = {}
    for path in sorted(services_dir.rglob("*.yaml")):
        service = _service(path, services_dir)
        if service.id in services:
            raise input_error(
                f"service id '{service.id}' is defined twice (also in {services[service.id].path})",
                path,
                hint="give each service a unique `id`; Task-Core silently kept only one",
            )
        services[service.id] = service
    roles = _roles(roles_path, services)
    hosts = _hosts(inventory_path, roles)
    for host, role in hosts.items():
        for service_id in roles[role]:
            service = services[service_id]
            service.hosts.append(host)
            if role not in service.roles:
                service.roles.append(role)
    return TcProject(services_dir, services, roles, hosts)


def _service(path: Path, services_dir: Path) -> TcService:
    data = load_yaml(path)
    label = path.relative_to(services_dir).as_posix()
    if not isinstance(data, dict):
        raise input_error("a Task-Core service file is a mapping with `id`, `type`, `version` and `tasks`", path)
    for key in ("id", "type", "version", "tasks"):
        if key not in data:
            raise input_error(
                f"service file has no `{key}`",
                path,
                line_of(data),
                hint="a service needs `id`, `type: service`, `version` and `tasks`",
            )
    if data["type"] != "service":
        raise input_error(
            f"`type: {data['type']}` is not a service",
            path,
            line_of(data),
            hint="Task-Core service files have `type: service`",
        )
    if not isinstance(data["tasks"], list) or not data["tasks"]:
        raise input_error("`tasks` must be a non-empty list", path, line_of(data))
    return TcService(id=str(data["id"]), path=path, tasks=[_task(t, path, label) for t in data["tasks"]])


def _task(entry: Any, path: Path, label: str) -> TcTask:
    line = line_of(entry)
    if not isinstance(entry, dict) or "id" not in entry:
        raise input_error("a task needs an `id`", path, line, hint="write `- id: NAME` with a `driver`")
    driver = str(entry.get("driver", "service"))
    if driver not in DRIVERS:
        guess = did_you_mean(driver, DRIVERS)
        raise input_error(
            f"unknown driver '{driver}' in task '{entry['id']}'",
            path,
            line,
            hint=(f"did you mean '{guess}'? " if guess else "") + "drivers: " + ", ".join(DRIVERS),
        )
    for key in ("provides", "requires", "needed-by"):
        if not isinstance(entry.get(key, []), list):
            raise input_error(f"`{key}` of task '{entry['id']}' must be a list", path, line)
    return TcTask(
        id=str(entry["id"]),
        driver=driver,
        provides=[str(p) for p in entry.get("provides", [])],
        requires=[str(r) for r in entry.get("requires", [])],
        needed_by=[str(n) for n in entry.get("needed-by", [])],
        data=entry,
        source=f"{label}:{line}",
    )


def _roles(path: Path, services: dict[str, TcService]) -> dict[str, list[str]]:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise input_error("roles.yaml is a mapping `ROLE: {services: [...]}`", path)
    roles: dict[str, list[str]] = {}
    for role, body in data.items():
        line = line_of(body)
        names = body.get("services") if isinstance(body, dict) else None
        if not isinstance(names, list):
            raise input_error(f"role '{role}' needs a `services` list", path, line)
        for name in names:
            if str(name) not in services:
                guess = did_you_mean(str(name), services)
                raise input_error(
                    f"role '{role}' lists service '{name}', which no service file defines",
                    path,
                    line,
                    hint=f"did you mean '{guess}'?" if guess else "add a service file with this id",
                )
        roles[str(role)] = list(dict.fromkeys(str(n) for n in names))
    return roles


def _hosts(path: Path, roles: dict[str, list[str]]) -> dict[str, str]:
    data = load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), dict):
        raise input_error("inventory.yaml is a mapping `hosts: {HOST: {role: ROLE}}`", path)
    hosts: dict[str, str] = {}
    for host, body in data["hosts"].items():
        role = body.get("role") if isinstance(body, dict) else None
        if role not in roles:
            guess = did_you_mean(str(role), roles)
            raise input_error(
                f"host '{host}' has role '{role}', which roles.yaml does not define",
                path,
                line_of(body),
                hint=f"did you mean '{guess}'?" if guess else "define it in roles.yaml",
            )
        hosts[str(host)] = str(role)
    return hosts
