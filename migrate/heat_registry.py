"""Where TripleO's services come from: roles_data.yaml, the resource registry and environment files.

- `roles_data.yaml`: roles, each with `ServicesDefault` (`OS::TripleO::Services::X` names),
  `RoleParametersDefault` and `update_serial`.
- `overcloud-resource-registry-puppet.j2.yaml`: a Jinja template (over the roles and the
  networks) whose `resource_registry` maps each service name to its template, or to
  `OS::Heat::None` (service disabled), and whose `parameter_defaults` hold THT's defaults
  (ServiceNetMap, ContainerCli, ...).
- `--param-file ENV.yaml`: Heat environments; their `parameter_defaults`/`parameters`
  override, and their `resource_registry` enables or replaces services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from orchc.migrate.yaml_source import YamlDialect, input_error, line_of, load_yaml, load_yaml_text, where_of

REGISTRY_TEMPLATE = "overcloud-resource-registry-puppet.j2.yaml"
NONE_TYPE = "OS::Heat::None"
# Heat templates as Heat reads them: `heat_template_version: 2016-10-14` is a name, not a date.
HEAT_YAML = YamlDialect(
    libyaml=False, timestamps_as_str=True, syntax_hint="fix the YAML syntax; orchc reads Heat templates as plain YAML"
)


@dataclass
class RoleSpec:
    name: str
    services: list[str]  # OS::TripleO::Services::X names, in roles_data order
    parameters: dict[str, Any]  # RoleParametersDefault, overridden by <Role>Parameters
    update_serial: int | None
    source: str
    raw: dict[str, Any] = field(default_factory=dict)  # the roles_data entry, for rendering *.j2.yaml


@dataclass
class Environment:
    parameter_defaults: dict[str, Any] = field(default_factory=dict)
    registry: dict[str, str] = field(default_factory=dict)  # type name -> absolute path or OS::Heat::None


def find_tht_root(paths: list[Path]) -> Path | None:
    """The tripleo-heat-templates folder holding the resource registry, searching up from each path."""
    for path in paths:
        for folder in [path.resolve(), *path.resolve().parents]:
            if (folder / REGISTRY_TEMPLATE).is_file():
                return folder
    return None


def load_roles(path: Path, source: str) -> list[RoleSpec]:
    """roles_data.yaml; `source` is the name reports use for it."""
    data = load_yaml(path, source, HEAT_YAML)
    if not isinstance(data, list):
        raise input_error(
            "roles_data must be a list of roles",
            str(path),
            1,
            1,
            "pass TripleO's roles_data.yaml (a list of `- name: Controller ...` entries)",
        )
    roles = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise input_error(
                "a role needs a `name`",
                str(path),
                line_of(entry),
                1,
                "write each role as `- name: RoleName` with `ServicesDefault: [...]`",
            )
        services = entry.get("ServicesDefault") or []
        if not isinstance(services, list):
            raise input_error(
                f"ServicesDefault of role {entry['name']} must be a list",
                str(path),
                line_of(entry),
                1,
                "list the role's OS::TripleO::Services::X names",
            )
        serial = entry.get("update_serial")
        roles.append(
            RoleSpec(
                name=entry["name"],
                services=[str(s) for s in services],
                parameters=dict(entry.get("RoleParametersDefault") or {}),
                update_serial=serial if isinstance(serial, int) else None,
                source=where_of(entry, source),
                raw=dict(entry),
            )
        )
    return roles


def jinja_context(root: Path | None, roles: list[RoleSpec]) -> dict[str, Any]:
    """What THT's *.j2.yaml templates are rendered with: the roles and the (default) networks."""
    networks_file = root / "network_data_default.yaml" if root else None
    networks = (
        (yaml.safe_load(networks_file.read_text(encoding="utf-8")) or [])
        if networks_file and networks_file.is_file()
        else []
    )
    for network in networks:
        network.setdefault("name_lower", str(network.get("name", "")).lower())
    return {"roles": [r.raw or {"name": r.name, "ServicesDefault": r.services} for r in roles], "networks": networks}


def load_registry(root: Path, context: dict[str, Any]) -> Environment:
    """Render THT's resource registry and read its mappings and parameter defaults."""
    data = load_jinja_yaml(root / REGISTRY_TEMPLATE, context) or {}
    return Environment(
        parameter_defaults=dict(data.get("parameter_defaults") or {}),
        registry=_registry_paths(data.get("resource_registry") or {}, root),
    )


def load_environment(path: Path) -> Environment:
    """One `--param-file`: a Heat environment (parameter_defaults, parameters, resource_registry)."""
    data = load_yaml(path, dialect=HEAT_YAML)
    if data is None:
        return Environment()
    if not isinstance(data, dict):
        raise input_error(
            "a parameter file must be a map",
            str(path),
            1,
            1,
            "write `parameter_defaults: {Name: value}` as in a Heat environment file",
        )
    known = {"parameter_defaults", "parameters", "resource_registry", "parameter_merge_strategies"}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise input_error(
                f"unknown section {key!r} in a parameter file",
                str(path),
                line_of(data),
                1,
                "a Heat environment has parameter_defaults, parameters and resource_registry",
            )
        if key in ("parameter_defaults", "parameters"):
            values.update(value or {})
    return Environment(
        parameter_defaults=values, registry=_registry_paths(data.get("resource_registry") or {}, path.parent)
    )


def _registry_paths(registry: dict[str, Any], base: Path) -> dict[str, str]:
    result = {}
    for name, target in registry.items():
        if not isinstance(target, str):
            continue  # nested `resources:` overrides per resource: not used for services
        result[str(name)] = target if target.startswith("OS::") else str((base / target).resolve())
    return result


def merge(environments: list[Environment]) -> Environment:
    """Later environments win, as with `openstack overcloud deploy -e A -e B`."""
    merged = Environment()
    for env in environments:
        merged.parameter_defaults.update(env.parameter_defaults)
        merged.registry.update(env.registry)
    for _ in range(10):  # a registry entry may name another entry (OS::TripleO::X: OS::TripleO::Server)
        merged.registry = {
            k: merged.registry.get(v, v) if v.startswith("OS::") and v != NONE_TYPE else v
            for k, v in merged.registry.items()
        }
    return merged


def relative_name(path: Path, root: Path | None) -> str:
    """How reports name a file: relative to the templates' root when it is inside it."""
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def load_jinja_yaml(path: Path, context: dict[str, Any], source: str | None = None) -> Any:
    """Render a THT `*.j2.yaml` template (over roles and networks) and load the result."""
    shown = source or str(path)
    try:
        text = jinja2.Environment().from_string(path.read_text(encoding="utf-8")).render(**context)
    except OSError as exc:
        raise input_error(f"cannot read {shown}: {exc.strerror}", shown, hint="check the path you gave") from None
    except jinja2.TemplateError as exc:
        raise input_error(
            f"cannot render this Jinja template: {exc}",
            shown,
            getattr(exc, "lineno", None) or 1,
            1,
            "orchc renders THT's *.j2.yaml files with the roles and networks only",
        ) from None
    return load_yaml_text(text, shown, HEAT_YAML)
