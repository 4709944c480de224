"""`orchc migrate heat`: TripleO Heat service templates (+ roles_data.yaml) -> .orch trees.

Flow: find the services (from roles_data through the resource registry, or the
templates given), evaluate each one's `role_data` for its role (heat_intrinsics),
cut it into per-phase units as TripleO's step machinery ran them (heat_units,
heat_steps), then write up to three separate .orch projects (heat_emit) in
subfolders of the output: `deploy/`, and `update/` and `upgrade/` for the
lifecycle task lists.

The undercloud side (`external_deploy_tasks`, `external_post_deploy_tasks`)
becomes a service `<name>_external` on the role `undercloud`: give that group
one host in the inventory (`ansible_connection: local`, like TripleO's
DEPLOY_SOURCE_HOST).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchc.migrate import heat_registry as registry
from orchc.migrate.emit import ident
from orchc.migrate.heat_emit import UNDERCLOUD_ROLE, OrchService, emit_tree, playbook_yaml
from orchc.migrate.heat_intrinsics import Library, Stack
from orchc.migrate.heat_registry import RoleSpec, relative_name
from orchc.migrate.heat_steps import Unit
from orchc.migrate.heat_units import LIFECYCLE_SECTIONS, ServiceData, host_puppet_service, service_units
from orchc.migrate.report import Migration, Report
from orchc.migrate.yaml_source import input_error, line_of

DATABASE_SERVICES = frozenset({"mysql"})  # service_config_settings keys that create the service's database
STANDALONE_ROLE = "Standalone"  # the role of templates given without roles_data, as TripleO's standalone
TREES = ("deploy", *LIFECYCLE_SECTIONS)
# TripleO's play variables (common/deploy-steps.j2) that are not parameters of a service template.
PLAY_VARS = {
    "enable_debug": False,
    "enable_puppet": True,
    "container_healthcheck_disabled": False,
    "container_log_stdout_path": "/var/log/containers/stdouts",
    "docker_puppet_debug": False,
    "docker_puppet_process_count": 6,
    "docker_puppet_mount_host_puppet": True,
}


def convert_heat(
    inputs: list[Path], roles_data: Path | None = None, param_files: list[Path] | None = None, relax: bool = False
) -> Migration:
    given = [*inputs, *([roles_data] if roles_data else []), *(param_files or [])]
    report = Report("heat", [str(p) for p in given])
    for path in given:
        if not path.exists():
            raise input_error(
                f"no such file or folder: {path}",
                str(path),
                1,
                1,
                "give tripleo-heat-templates service templates, a folder of them, or the THT root",
            )
    notify = _Notifier(report)
    root = registry.find_tht_root([*inputs, *([roles_data] if roles_data else [])])
    roles = registry.load_roles(roles_data, relative_name(roles_data, root)) if roles_data else []
    context = registry.jinja_context(root, roles)
    environment = registry.merge(
        ([registry.load_registry(root, context)] if root else [])
        + [registry.load_environment(p) for p in param_files or []]
    )
    library = Library(
        environment.registry,
        environment.parameter_defaults,
        notify,
        root=root or _common_folder(inputs),
        jinja_context=context,
    )
    placements = (
        _placements_from_roles(roles, environment, library, report)
        if roles
        else _placements_from_inputs(inputs, library)
    )
    per_role = {
        role.name: [
            service_units(_service_stack(library, role, path, environment), source) for source, path in services
        ]
        for role, services in placements
    }
    report.figures["templates"] = sum(len(v) for v in per_role.values())
    for role, services in per_role.items():
        _name_apart(services)
        host_puppet = host_puppet_service(role, services)
        if host_puppet:
            services.append(host_puppet)
    role_specs = [role for role, _ in placements]
    migration = Migration(files={}, report=report)
    for tree in TREES:
        services, role_map = _orch_services(tree, role_specs, per_role, relax, report)
        if not services:
            continue
        migration.files.update(
            emit_tree(services, role_map, relax, _group_vars(per_role, environment), library.secrets, f"{tree}/")
        )
        _report_tree(tree, services, relax, report)
    _report_unconverted(per_role, report)
    return migration


# What TripleO's orchestrator (common/deploy-steps.j2) did that the converted trees do differently.
MACHINERY = "common/deploy-steps.j2"


def _report_tree(tree: str, services: list[OrchService], relax: bool, report: Report) -> None:
    phases = {u.phase.name for s in services for u in s.units}
    if tree == "deploy":
        report.figures["services"] = len(services)
        report.figures["tasks (deploy)"] = sum(len(s.units) for s in services)
        for service in services:
            for unit in service.units:
                report.add(
                    "wrapped",
                    unit.source,
                    f"{service.name}.{unit.phase.name}",
                    "the section's Ansible tasks run unchanged as a playbook",
                )
        report.add(
            "assumption",
            MACHINERY,
            "TripleO's play variables bootstrap_server_id and deploy_identifier",
            "they are not in the templates: set them in the inventory if the tasks use them",
        )
        if "step1_config" in phases:
            report.add(
                "approximated",
                MACHINERY,
                "puppet config generation (step1_config)",
                "TripleO generated every config volume of a host in one container-puppet run; "
                "orchc runs each service's volumes in that service's own task",
            )
    if relax:
        report.add(
            "approximated",
            MACHINERY,
            f"{tree}: no global step barriers (--relax)",
            "a service waits only for its own previous units and the assumptions listed here",
        )
    else:
        report.add(
            "approximated",
            MACHINERY,
            f"{tree}: order of services inside a phase on one host",
            "TripleO ran the role's services one after another in roles_data order; orchc keeps that "
            "order (`requires ... on same host`) except after a `once` task or a service that is not "
            "on every host of the next one, and where two roles order the same services differently",
        )
    if tree == "update" and any(s.concurrency for s in services):
        report.add(
            "approximated",
            MACHINERY,
            "update: update_serial",
            "TripleO updated update_serial hosts of a role through every step before the next batch; "
            "orchc runs each update task on at most update_serial hosts at a time, between step barriers",
        )


class _Notifier:
    """Adds each evaluator finding to the report once."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, category: str, source: str, what: str, why: str) -> None:
        if (source, what) not in self.seen:
            self.seen.add((source, what))
            self.report.add(category, source, what, why)  # type: ignore[arg-type]  # the evaluators pass the report's Category names only


def _common_folder(inputs: list[Path]) -> Path:
    folders = [p.resolve() if p.is_dir() else p.resolve().parent for p in inputs]
    common = folders[0]
    while not all(f == common or common in f.parents for f in folders):
        common = common.parent
    return common


def _placements_from_roles(
    roles: list[RoleSpec], environment: registry.Environment, library: Library, report: Report
) -> list[tuple[RoleSpec, list[tuple[str, Path]]]]:
    placements = []
    for role in roles:
        services = []
        for name in role.services:
            target = environment.registry.get(name)
            if target == registry.NONE_TYPE:
                report.add(
                    "unsupported",
                    role.source,
                    f"{role.name}: {name} is OS::Heat::None",
                    "the service is disabled in the resource registry; enable it with a --param-file",
                )
            elif target is None or target.startswith("OS::"):
                report.add(
                    "unsupported",
                    role.source,
                    f"{role.name}: {name} has no template in the registry",
                    "map it in a --param-file resource_registry",
                )
            else:
                services.append((library.source_name(Path(target)), Path(target)))
        placements.append((role, services))
    return placements


def _placements_from_inputs(inputs: list[Path], library: Library) -> list[tuple[RoleSpec, list[tuple[str, Path]]]]:
    services = []
    for path in inputs:
        files = sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
        for file in files:
            template = library.template(file)
            has_role_data = isinstance(template, dict) and "role_data" in (template.get("outputs") or {})
            if has_role_data:
                services.append((library.source_name(file), file))
            elif not path.is_dir():
                raise input_error(
                    "not a TripleO service template: it has no `outputs: role_data`",
                    str(file),
                    line_of(template),
                    1,
                    "give a deployment/<service>/*.yaml template, or --roles-data with the THT root",
                )
    if not services:
        raise input_error(
            "no TripleO service template here (no YAML file with `outputs: role_data`)",
            str(inputs[0]),
            1,
            1,
            "give the deployment/ folder of tripleo-heat-templates, or templates",
        )
    return [(RoleSpec(STANDALONE_ROLE, [], {}, None, "(templates given)"), services)]


def _name_apart(services: list[ServiceData]) -> None:
    """Templates of one role that share a service_name (variants such as mysql and mysql-pacemaker) take
    their file's."""
    taken: dict[str, int] = {}
    for data in services:
        taken[ident(data.name)] = taken.get(ident(data.name), 0) + 1
    for data in services:
        if taken[ident(data.name)] > 1:
            data.name = ident(Path(data.source).name.removesuffix(".yaml").removesuffix(".j2"))


def _service_stack(library: Library, role: RoleSpec, path: Path, environment: registry.Environment) -> Stack:
    """The service template as TripleO's role stack instantiated it for `role`."""
    defaults = environment.parameter_defaults
    role_parameters = {**role.parameters, **(defaults.get(f"{role.name}Parameters") or {})}
    given = {"RoleName": role.name, "RoleParameters": role_parameters}
    if "ServiceNetMap" in defaults:
        given["ServiceNetMap"] = defaults["ServiceNetMap"]
    return Stack(library, path, given)


def _orch_services(
    tree: str, roles: list[RoleSpec], per_role: dict[str, list[ServiceData]], relax: bool, report: Report
) -> tuple[list[OrchService], dict[str, list[str]]]:
    """One orchc service per TripleO service and side (the undercloud part is `<name>_external`).

    A service whose content differs between roles (role parameters) gets one orchc service per role.
    """
    variants: dict[str, list[tuple[RoleSpec, ServiceData]]] = {}
    for role in roles:
        for data in per_role[role.name]:
            variants.setdefault(ident(data.name), []).append((role, data))
    named: dict[tuple[int, bool], str] = {}  # (id of the ServiceData, undercloud side) -> orchc service
    for base, entries in variants.items():
        for external, suffix in ((False, ""), (True, "_external")):
            sides = [(role, data, [u for u in data.units[tree] if u.external == external]) for role, data in entries]
            per_role_differs = len({playbook_yaml([u.play for u in units]) for _, _, units in sides}) > 1
            for role, data, units in sides:
                if units:
                    named[(id(data), external)] = (
                        f"{base}_{ident(role.name).lower()}" if per_role_differs else base
                    ) + suffix
    services: list[OrchService] = []
    role_map: dict[str, list[str]] = {}  # role -> its services, in roles_data order
    for role in roles:
        for data in per_role[role.name]:
            for external in (False, True):
                if (id(data), external) in named:
                    units = [u for u in data.units[tree] if u.external == external]
                    _place(
                        services,
                        role_map,
                        UNDERCLOUD_ROLE if external else role.name,
                        named[(id(data), external)],
                        units,
                        data,
                        role.update_serial if tree == "update" else None,
                    )
    names = {s.name for s in services}
    for service in services:
        overcloud_side = service.name.removesuffix("_external")
        if service.name != overcloud_side and overcloud_side in names:
            service.depends_on[overcloud_side] = "the undercloud part of a service runs after its previous step"
            service.runs_before = overcloud_side
        if relax:
            _data_dependencies(tree, service, names, report)
            _machinery_dependencies(service, names)
    return services, role_map


def _place(
    services: list[OrchService],
    role_map: dict[str, list[str]],
    role: str,
    name: str,
    units: list[Unit],
    data: ServiceData,
    serial: int | None,
) -> None:
    existing = next((s for s in services if s.name == name), None)
    if existing is None:
        existing = OrchService(
            name=name,
            roles=[],
            units=units,
            source=data.source,
            endpoint_refs=data.endpoint_refs,
            config_for=data.config_for,
            waits_for=data.waits_for,
        )
        services.append(existing)
    if role not in existing.roles:
        existing.roles.append(role)
    if serial:
        existing.concurrency = min(existing.concurrency or serial, serial)
    if name not in role_map.setdefault(role, []):
        role_map[role].append(name)


def _data_dependencies(tree: str, service: OrchService, names: set[str], report: Report) -> None:
    """--relax: a service waits for step N-1 of the services whose endpoint or database its data names.

    HAProxy is the exception: it names every endpoint because it fronts them, not because it uses them.
    """
    found: dict[str, tuple[str, str]] = {}
    own = service.name.removesuffix("_external")
    if own != "haproxy":
        for endpoint, at in service.endpoint_refs.items():
            for other in _endpoint_services(endpoint, names):
                found.setdefault(other, (at, f"its data uses the {endpoint} endpoint"))
            if "haproxy" in names:
                found.setdefault("haproxy", (at, f"the {endpoint} endpoint is served through HAProxy"))
    for other, at in service.config_for.items():
        if other in DATABASE_SERVICES and other in names:
            found.setdefault(other, (at, f"its database lives in {other} (service_config_settings)"))
    for other, (at, why) in sorted(found.items()):
        for target in (other, f"{other}_external"):
            if target in names and target.removesuffix("_external") != own:
                service.depends_on[target] = why
                report.add(
                    "assumption", at, f"{tree}: {service.name} waits for step N-1 of {target} at each step N", why
                )


def _machinery_dependencies(service: OrchService, names: set[str]) -> None:
    """--relax: waits TripleO's own machinery implies (a service's step_config runs in the host puppet run)."""
    for other, why in service.waits_for.items():
        candidates = [other, *(f"{other}_{ident(role).lower()}" for role in service.roles)]
        for target in candidates:
            if target in names and target != service.name:
                service.depends_on[target] = why


def _endpoint_services(endpoint: str, names: set[str]) -> list[str]:
    """Services that serve an EndpointMap entry: KeystoneInternal -> keystone, NovaInternal -> nova_api."""
    stem = re.sub(r"(Internal|Public|Admin)$", "", endpoint)
    stem = re.sub(r"V\d+$", "", stem)
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", stem).lower()
    return [c for c in (snake, f"{snake}_api") if c in names][:1]


def _group_vars(per_role: dict[str, list[ServiceData]], environment: registry.Environment) -> dict[str, dict[str, Any]]:
    """Ansible variables TripleO gave every play: play vars, keystone_resources, each role's ansible_group_vars."""
    keystone_resources: dict[str, Any] = {}
    group_vars: dict[str, dict[str, Any]] = {}
    for role, services in per_role.items():
        role_vars: dict[str, Any] = {"tripleo_role_name": role}
        for data in services:
            role_vars.update(data.group_vars)
            keystone_resources.update(data.keystone_resources)
        group_vars[ident(role)] = role_vars
    container_cli = environment.parameter_defaults.get("ContainerCli", "podman")
    all_vars = {**PLAY_VARS, "container_cli": container_cli, "keystone_resources": keystone_resources}
    return {"all": all_vars, **group_vars}


def _report_unconverted(per_role: dict[str, list[ServiceData]], report: Report) -> None:
    seen: set[str] = set()
    for services in per_role.values():
        for data in services:
            if data.source in seen or not data.unconverted:
                continue
            seen.add(data.source)
            report.add(
                "unsupported",
                data.source,
                "not converted: " + ", ".join(data.unconverted),
                "hiera/Puppet data, firewall, monitoring and other lifecycle sections have no step tasks",
            )
