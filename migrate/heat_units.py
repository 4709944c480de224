"""One service template's `role_data`, evaluated, as the work units TripleO would have run for it.

`service_units` reads each section TripleO ran (see heat_steps for when) and
makes one `Unit` per phase: a playbook holding exactly that section's content
for that step. Sections that only feed Puppet/hiera or other tools are listed
in `IGNORED_SECTIONS` and reported, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from orchc.migrate import heat_steps as steps
from orchc.migrate.heat_intrinsics import Stack, Unresolved, function_of, text
from orchc.migrate.heat_steps import Phase, Unit
from orchc.migrate.yaml_source import where_of

# Sections converted into units (deploy tree) and, per lifecycle tree, the task list it runs.
DEPLOY_SECTIONS = (
    "host_prep_tasks",
    "pre_deploy_step_tasks",
    "deploy_steps_tasks",
    "external_deploy_tasks",
    "external_post_deploy_tasks",
    "kolla_config",
    "puppet_config",
    "docker_config",
    "container_puppet_tasks",
)
LIFECYCLE_SECTIONS = {"update": "update_tasks", "upgrade": "upgrade_tasks"}
# Sections that become Ansible variables shared by every play.
VARIABLE_SECTIONS = ("ansible_group_vars", "keystone_resources")
# Data for Puppet/hiera, firewall and monitoring: not steps, no orchc equivalent.
IGNORED_SECTIONS = (
    "service_name",
    "config_settings",
    "global_config_settings",
    "service_config_settings",
    "firewall_rules",
    "firewall_frontend_rules",
    "firewall_edge_frontend_rules",
    "metadata_settings",
    "monitoring_subscription",
    "upgrade_batch_tasks",
    "cellv2_discovery",
    "post_update_tasks",
    "post_upgrade_tasks",
    "external_update_tasks",
    "external_upgrade_tasks",
    "pre_upgrade_rolling_tasks",
    "scale_tasks",
    "fast_forward_upgrade_tasks",
    "fast_forward_post_upgrade_tasks",
    "service_metadata_settings",
    "firewall_ssl_frontend_rules",
    "host_firewall_tasks",
    "deploy_steps_tasks_step_0",
    "container_config_scripts",
)


@dataclass
class ServiceData:
    """What one template gives for one role: its name, units per tree, variables, and where it came from."""

    name: str
    source: str
    units: dict[str, list[Unit]]  # tree ("deploy", "update", "upgrade") -> units in phase order
    group_vars: dict[str, Any] = field(default_factory=dict)
    keystone_resources: dict[str, Any] = field(default_factory=dict)
    host_step_config: str = ""  # step_config applied by the host's puppet run (services without containers)
    waits_for: dict[str, str] = field(default_factory=dict)  # --relax: service -> why, known from TripleO's machinery
    unconverted: list[str] = field(default_factory=list)  # role_data sections not converted
    endpoint_refs: dict[str, str] = field(default_factory=dict)  # EndpointMap key -> where it is used
    config_for: dict[str, str] = field(default_factory=dict)  # service_config_settings key -> where


def service_units(stack: Stack, source: str) -> ServiceData:
    section_names = _role_data_keys(stack)
    evaluated = {
        name: stack.output("role_data", [name])
        for name in section_names
        if name in DEPLOY_SECTIONS or name in LIFECYCLE_SECTIONS.values() or name in VARIABLE_SECTIONS
    }
    name = str(stack.output("role_data", ["service_name"]) or stack.path.stem)
    data = ServiceData(name=name, source=source, units={})
    _scan_references(stack.template.get("outputs"), data)
    raw = ((stack.template.get("outputs") or {}).get("role_data") or {}).get("value")
    located = {k: where_of(raw.get(k) if isinstance(raw, dict) else None, where_of(raw, source)) for k in section_names}
    data.units["deploy"] = sorted(_deploy_units(name, evaluated, located), key=lambda u: u.phase)
    for tree, section in LIFECYCLE_SECTIONS.items():
        data.units[tree] = _lifecycle_units(name, tree, evaluated.get(section), located.get(section, source))
    data.group_vars = evaluated.get("ansible_group_vars") or {}
    data.keystone_resources = evaluated.get("keystone_resources") or {}
    if "step_config" in section_names and "docker_config" not in section_names:
        data.host_step_config = _manifest(stack, located["step_config"])
    data.unconverted = [s for s in section_names if s in IGNORED_SECTIONS and s != "service_name"]
    unknown = [
        s
        for s in section_names
        if s not in IGNORED_SECTIONS
        and s not in DEPLOY_SECTIONS
        and s not in LIFECYCLE_SECTIONS.values()
        and s not in VARIABLE_SECTIONS
        and s != "step_config"
    ]
    data.unconverted += [f"{s} (unknown section)" for s in unknown]
    return data


def host_puppet_service(role: str, services: list[ServiceData]) -> ServiceData | None:
    """The host's puppet run at each step 1..5 over the role's `step_config` manifest, or None if empty."""
    contributors = [d for d in services if d.host_step_config.strip()]
    if not contributors:
        return None
    manifest = "\n".join(d.host_step_config for d in contributors)
    data = ServiceData(
        name="host_puppet",
        source=f"{role}: step_config of " + ", ".join(d.name for d in contributors),
        units={tree: [] for tree in ("deploy", *LIFECYCLE_SECTIONS)},
    )
    for step in steps.DEPLOY_STEPS[1:]:
        data.units["deploy"].append(
            Unit(
                phase=steps.host_puppet_phase(step),
                source=data.source,
                step_var=step,
                play=steps.play(f"{role}: host puppet, step {step}", steps.host_puppet_tasks(manifest), True),
            )
        )
    for contributor in contributors:
        contributor.waits_for["host_puppet"] = "its step_config is applied by the host's puppet run"
        data.waits_for[contributor.name] = "the host's puppet run applies its step_config"
    return data


def _manifest(stack: Stack, at: str) -> str:
    step_config = stack.output("role_data", ["step_config"])
    if isinstance(step_config, (str, Unresolved)) or step_config is None:
        return text(step_config)
    stack.library.notify("unsupported", at, "step_config is not a manifest", "it is left out of the host puppet run")
    return ""


def _role_data_keys(stack: Stack) -> list[str]:
    role_data = ((stack.template.get("outputs") or {}).get("role_data") or {}).get("value")
    if not isinstance(role_data, dict) or function_of(role_data):
        role_data = stack.output("role_data")  # role_data is itself a function (map_merge of a base service, ...)
    return [str(k) for k in role_data] if isinstance(role_data, dict) else []


def _scan_references(node: Any, data: ServiceData) -> None:
    """Where the raw template names another service's endpoint or configures another service (for --relax)."""
    if isinstance(node, dict):
        param = node.get("get_param") if len(node) == 1 else None
        if isinstance(param, list) and len(param) > 1 and param[0] == "EndpointMap" and isinstance(param[1], str):
            data.endpoint_refs.setdefault(param[1], where_of(node, data.source))
        for key, value in node.items():
            if key == "service_config_settings" and isinstance(value, dict):
                for other in value:
                    data.config_for.setdefault(str(other), where_of(value, data.source))
            _scan_references(value, data)
    elif isinstance(node, list):
        for item in node:
            _scan_references(item, data)


def _task_list(value: Any) -> list[Any]:
    return [t for t in value if t is not None] if isinstance(value, list) else []


def _deploy_units(service: str, sections: dict[str, Any], located: dict[str, str]) -> list[Unit]:
    units: list[Unit] = []
    add = _adder(units, service, located)
    deploy_tasks = _task_list(sections.get("deploy_steps_tasks"))
    external_tasks = _task_list(sections.get("external_deploy_tasks"))
    containers = _step_items(sections.get("docker_config"))
    add("host_prep_tasks", steps.HOST_PREP, "host prep", _task_list(sections.get("host_prep_tasks")), True)
    # TripleO writes the kolla config and every container definition here; step_0 ones are never started by it.
    setup = _kolla_config_tasks(sections.get("kolla_config"))
    setup += [task for step, group in containers if step == 0 for task in _container_tasks(step, group.items(), False)]
    add("kolla_config", steps.CONTAINER_SETUP, "container setup", setup, True)
    add(
        "pre_deploy_step_tasks",
        steps.PRE_DEPLOY,
        "pre-deploy step tasks",
        _task_list(sections.get("pre_deploy_step_tasks")),
        True,
    )
    for step in steps.DEPLOY_STEPS:
        add(
            "deploy_steps_tasks",
            steps.tasks_phase(step),
            f"deploy step {step}",
            steps.tasks_for_step(deploy_tasks, step),
            True,
            step=step,
        )
        add(
            "external_deploy_tasks",
            steps.external_phase(step),
            f"external deployment step {step}",
            steps.tasks_for_step(external_tasks, step),
            False,
            step=step,
            external=True,
        )
    add(
        "external_post_deploy_tasks",
        steps.EXTERNAL_POST_DEPLOY,
        "external post-deploy tasks",
        _task_list(sections.get("external_post_deploy_tasks")),
        False,
        external=True,
    )
    add(
        "puppet_config",
        steps.PUPPET_CONFIG,
        "puppet config generation",
        _puppet_config_tasks(sections.get("puppet_config"), 1),
        True,
        step=1,
    )
    for step, group in containers:
        by_order: dict[int, list[tuple[str, Any]]] = {}
        for container, definition in group.items():
            order = definition.get("start_order", 0) if isinstance(definition, dict) else 0
            by_order.setdefault(order if isinstance(order, int) else 0, []).append((container, definition))
        for order, ordered in sorted(by_order.items()) if step > 0 else []:
            add(
                "docker_config",
                steps.containers_phase(step, order),
                f"containers of step {step}, start_order {order}",
                _container_tasks(step, ordered, True),
                True,
                step=step,
            )
    for step, entries in _step_items(sections.get("container_puppet_tasks")):
        add(
            "container_puppet_tasks",
            steps.container_puppet_phase(step),
            f"container puppet tasks of step {step}",
            _puppet_config_tasks(entries, step),
            True,
            step=step,
            once=True,
        )
    return units


def _lifecycle_units(service: str, tree: str, tasks: Any, source: str) -> list[Unit]:
    units: list[Unit] = []
    add = _adder(units, service, {f"{tree}_tasks": source})
    for step in steps.LIFECYCLE_STEPS:
        add(
            f"{tree}_tasks",
            steps.tasks_phase(step),
            f"{tree} step {step}",
            steps.tasks_for_step(_task_list(tasks), step),
            True,
            step=step,
        )
    return units


def _adder(units: list[Unit], service: str, located: dict[str, str]) -> Callable[..., None]:
    def add(
        section: str,
        phase: Phase,
        what: str,
        tasks: list[Any],
        become: bool,
        step: int | None = None,
        external: bool = False,
        once: bool = False,
    ) -> None:
        if tasks:
            units.append(
                Unit(
                    phase=phase,
                    play=steps.play(f"{service}: {what}", tasks, become),
                    source=located.get(section, "?"),
                    external=external,
                    once=once,
                    step_var=step,
                )
            )

    return add


def _step_items(value: Any) -> list[tuple[int, Any]]:
    """`{step_N: ...}` entries of docker_config / container_puppet_tasks, by step."""
    items = []
    for key, entry in (value or {}).items() if isinstance(value, dict) else []:
        if isinstance(key, str) and key.startswith("step_") and key[5:].isdigit() and isinstance(entry, (dict, list)):
            items.append((int(key[5:]), entry))
    return sorted(items, key=lambda item: item[0])


def _kolla_config_tasks(kolla_config: Any) -> list[dict[str, Any]]:
    if not isinstance(kolla_config, dict):
        return []
    return [
        {
            "name": f"Write {path}",
            "copy": {"dest": path, "content": "{{ kolla_config | to_nice_json }}", "mode": "0600"},
            "vars": {"kolla_config": config},
        }
        for path, config in kolla_config.items()
    ]


def _container_tasks(step: int, containers: Iterable[tuple[str, Any]], start: bool) -> list[dict[str, Any]]:
    """Write each container's startup definition and (`start`) start it with tripleo_container_manage, as
    TripleO did."""
    config_dir = f"/var/lib/tripleo-config/container-startup-config/step_{step}"
    tasks: list[dict[str, Any]] = []
    for name, definition in containers:
        tasks.append(
            {
                "name": f"Write the startup definition of container {name}",
                "copy": {
                    "dest": f"{config_dir}/{name}.json",
                    "content": "{{ container | to_nice_json }}",
                    "mode": "0600",
                },
                "vars": {"container": definition},
            }
        )
        if not start:
            continue
        tasks.append(
            {
                "name": f"Start container {name}",
                "include_role": {"name": "tripleo_container_manage"},
                "vars": {
                    "tripleo_container_manage_config": config_dir,
                    "tripleo_container_manage_config_id": f"tripleo_step{step}",
                    "tripleo_container_manage_config_patterns": f"{name}.json",
                },
            }
        )
    return tasks


def _puppet_config_tasks(entries: Any, step: int) -> list[dict[str, Any]]:
    """Generate configuration by running puppet in a container per config volume (TripleO's container-puppet)."""
    if isinstance(entries, dict):
        entries = [entries]
    entries = [e for e in entries or [] if isinstance(e, dict) and e.get("config_volume")]
    if not entries:
        return []
    volumes = "-".join(sorted(str(e["config_volume"]) for e in entries))
    puppet_file = f"/var/lib/container-puppet/container-puppet-{volumes}-step{step}.json"
    config_dir = f"/var/lib/tripleo-config/container-puppet-config/step_{step}"
    tasks: list[dict[str, Any]] = [
        {
            "name": f"Write the puppet config of {volumes}",
            "copy": {"dest": puppet_file, "content": "{{ puppet_config | to_nice_json }}", "mode": "0600"},
            "vars": {"puppet_config": entries},
        },
        {
            "name": f"Generate the container definitions of {volumes}",
            "container_puppet_config": {
                "puppet_config": puppet_file,
                "short_hostname": "{{ ansible_facts['hostname'] | lower }}",
                "step": step,
                "config_vol_prefix": "/var/lib/config-data",
            },
        },
    ]
    for entry in entries:
        volume = entry["config_volume"]
        tasks.append(
            {
                "name": f"Run puppet for {volume}",
                "include_role": {"name": "tripleo_container_manage"},
                "vars": {
                    "tripleo_container_manage_config": config_dir,
                    "tripleo_container_manage_config_id": f"tripleo_puppet_step{step}",
                    "tripleo_container_manage_config_patterns": f"container-puppet-{volume}.json",
                },
            }
        )
    return tasks
