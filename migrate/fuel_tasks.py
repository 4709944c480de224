"""Read Fuel `tasks.yaml` files (task format 2.x) into `FuelTask` records.

Only reading and normalising happens here: hyphen/underscore spellings, the
singular `role`, scalar-or-list fields, and the graph each file belongs to
(`graphs/<type>/tasks.yaml` is a custom graph such as `provision`; every other
file is part of the `deployment` graph). Meaning is given in `fuel.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchc.dsl.diagnostics import Diagnostic, DiagnosticError
from orchc.migrate.yaml_source import input_error, line_of, load_yaml

DEPLOYMENT_GRAPH = "deployment"


@dataclass
class CrossDep:
    """One `cross-depends`/`cross-depended-by` entry."""

    name: str  # exact or /regex/
    role: str | list[str] | None  # None: omitted; "self"; a role/tag name, or a list of them
    role_given: bool  # `role: null` (the sync node) differs from an omitted role
    any: bool  # policy: any


@dataclass
class FuelTask:
    id: str
    type: str
    version: str | None
    graph: str
    source: str  # file:line, for the report
    placement: list[str]  # tags, else roles, else groups: names, '*', 'master' or /regex/
    requires: list[str]
    required_for: list[str]
    cross_depends: list[CrossDep]
    cross_depended_by: list[CrossDep]
    dynamic_cross: list[str]  # cross-dependency lists written as yaql, kept for the report
    condition: str | None
    parameters: dict[str, Any]
    fault_tolerance: int | str | None  # group tasks
    group_tasks: list[str]  # group tasks: tasks added to the group's nodes
    extra: dict[str, Any] = field(default_factory=dict)  # test_pre/test_post/refresh_on/... for the report


_EXTRA_FIELDS = ("test_pre", "test_post", "refresh_on", "reexecute_on", "fail_on_error")


def graph_of(path: Path) -> str:
    """`.../graphs/provision/tasks.yaml` belongs to the `provision` graph; the rest to `deployment`."""
    parts = path.parts
    if len(parts) >= 3 and parts[-3] == "graphs":
        return parts[-2]
    return DEPLOYMENT_GRAPH


def find_task_files(inputs: list[Path]) -> list[Path]:
    """The tasks.yaml files named by the inputs (folders are searched), sorted, each once."""
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            files.extend(sorted(path.rglob("tasks.yaml")))
        elif path.is_file():
            files.append(path)
        else:
            raise DiagnosticError(
                [
                    Diagnostic(
                        "error",
                        f"input '{path}' does not exist",
                        hint="give Fuel tasks.yaml files or folders that hold them",
                    )
                ]
            )
    unique = {p.resolve(): p for p in files}
    if not unique:
        raise DiagnosticError(
            [
                Diagnostic(
                    "error",
                    "no tasks.yaml files found in the inputs",
                    hint="give Fuel tasks.yaml files or folders that hold them",
                )
            ]
        )
    return sorted(unique.values())


def load_tasks(path: Path, label: str) -> list[FuelTask]:
    """Parse one tasks.yaml; `label` is how the report names the file."""
    data = load_yaml(path)
    if data is None:
        return []
    if not isinstance(data, list):
        raise input_error(
            f"{label} must be a list of tasks", path, hint="a Fuel tasks.yaml is a YAML list of `- id: ...` entries"
        )
    return [_task(entry, path, label) for entry in data]


def _task(data: Any, path: Path, label: str) -> FuelTask:
    line = line_of(data)
    if not isinstance(data, dict) or "id" not in data or "type" not in data:
        raise input_error(
            "a Fuel task needs an `id` and a `type`",
            path,
            line,
            hint="add `id: NAME` and `type: puppet|shell|stage|group|...`",
        )
    params = data.get("parameters") or {}
    crosses = {key: data.get(key, data.get(key.replace("-", "_"))) for key in ("cross-depends", "cross-depended-by")}
    return FuelTask(
        id=str(data["id"]),
        type=str(data["type"]),
        version=str(data["version"]) if data.get("version") is not None else None,
        graph=graph_of(path),
        source=f"{label}:{line}",
        placement=_names(data.get("tags") or data.get("roles") or data.get("role") or data.get("groups")),
        requires=_names(data.get("requires")),
        required_for=_names(data.get("required_for")),
        cross_depends=_cross(crosses["cross-depends"]),
        cross_depended_by=_cross(crosses["cross-depended-by"]),
        dynamic_cross=[_yaql(v) for v in crosses.values() if isinstance(v, dict)],
        condition=_condition(data.get("condition")),
        parameters=params if isinstance(params, dict) else {},
        fault_tolerance=data.get("fault_tolerance"),
        group_tasks=_names(data.get("tasks")),
        extra={k: data[k] for k in _EXTRA_FIELDS if k in data},
    )


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _cross(value: Any) -> list[CrossDep]:
    if not isinstance(value, list):
        return []  # absent, or a yaql expression (kept in dynamic_cross)
    deps = []
    for item in value:
        if not isinstance(item, dict) or isinstance(item.get("name"), dict):
            continue  # a yaql name cannot be resolved statically; fuel.py reports it
        role = item.get("role")
        deps.append(
            CrossDep(
                name=str(item.get("name")),
                role=role if isinstance(role, list) else (str(role) if role is not None else None),
                role_given="role" in item,
                any=item.get("policy") == "any",
            )
        )
    return deps


def _yaql(value: dict[str, Any]) -> str:
    return " ".join(str(value.get("yaql_exp", value)).split())


def _condition(value: Any) -> str | None:
    if value is None:
        return None
    return _yaql(value) if isinstance(value, dict) else " ".join(str(value).split())
