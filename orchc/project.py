"""What a Plan is made from: a project (`.orch` files, an inventory, supplied values), or a `plan.json`.

The first half of `orchc.api`, kept apart so that the commands that only
compile (`check`, `compile`, `graph`) do not import the engine: `load_project`
finds the inventory and reads the `--vars` files, `compile_project` compiles,
`load_plan` reads a Plan that `orchc compile` wrote.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchc.dsl.diagnostics import Diagnostic, DiagnosticError, Diagnostics
from orchc.dsl.files import load_yaml_map, read_text
from orchc.dsl.span import Span

if TYPE_CHECKING:
    from orchc.compiler import CompileResult
    from orchc.plan import Plan

INVENTORY_NAMES = ("inventory.yml", "inventory.yaml", "inventory.ini", "inventory")
JOURNAL_NAME = Path(".orchc") / "journal.db"


@dataclass(frozen=True)
class Project:
    """What a project is compiled from: its `.orch` file or folder, an inventory, and the values supplied."""

    path: Path
    inventory: Path
    variables: dict[str, Any]  # by name; a value for a secret is for the run only, never in the Plan


def load_project(
    path: str | Path,
    inventory: str | Path | None = None,
    variables: Mapping[str, Any] | None = None,
    vars_files: Sequence[str | Path] = (),
) -> Project:
    """A project: `path` is a `.orch` file or a folder of them; without `inventory`, the one beside it
    (inventory.yml, .yaml, .ini); `variables` win over the YAML maps of `vars_files`, as `-e` over `--vars`."""
    path = Path(path)
    found = find_inventory(path, Path(inventory) if inventory is not None else None)
    return Project(path, found, merge_variables(vars_files, variables or {}))


def find_inventory(path: Path, inventory: Path | None) -> Path:
    """The inventory given, or the one beside the input; a diagnostic if there is none."""
    if inventory is not None:
        return inventory
    if not path.exists():  # say what is missing: the input, not an inventory beside it
        from orchc.compiler.loader import missing_input

        raise DiagnosticError([missing_input(path)])
    folder = path if path.is_dir() else path.parent
    for name in INVENTORY_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise DiagnosticError(
        [
            Diagnostic(
                "error",
                f"no inventory given, and none in '{folder}' (looked for {', '.join(INVENTORY_NAMES)})",
                hint="give an Ansible inventory (INI or YAML) with -i/--inventory, "
                "or put inventory.yml beside the input",
            )
        ]
    )


def merge_variables(vars_files: Sequence[str | Path], variables: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the YAML maps in `vars_files`, in order, then `variables` (which win), as Ansible does."""
    values: dict[str, Any] = {}
    for file in vars_files:
        values.update({str(k): v for k, v in load_yaml_map(Path(file), "the vars file", "region: RegionTwo").items()})
    values.update(variables)
    return values


def compile_project(project: Project) -> CompileResult:
    """The project's Plan (`.plan`) and the compiler's warnings (`.warnings`)."""
    from orchc.compiler import compile_project as compile_inputs  # the compiler: only for projects, not plan.json

    return compile_inputs([project.path], project.inventory, project.variables)


def load_plan(path: str | Path) -> Plan:
    """Read and validate a `plan.json` (as `orchc compile` writes it); a JSON error points at its line and
    column. A Plan that names its project relative to itself is placed where it lies."""
    path = Path(path)
    return parse_plan(read_text(path, hint="give a Plan written by `orchc compile`"), path)


def parse_plan(text: str, path: Path) -> Plan:
    """The Plan of the JSON `text` read from `path` (see `load_plan`)."""
    from pydantic import ValidationError

    from orchc.plan import Plan  # the Plan and its validator: only for the commands that read a Plan

    diagnostics = Diagnostics()
    try:
        plan = Plan.from_json(text)
        if not Path(plan.root).is_absolute():  # the Plan travels with its project
            plan.root = str((path.parent / plan.root).resolve())
        return plan
    except ValidationError as exc:
        for error in exc.errors()[:10]:
            if error["type"] == "json_invalid":
                line, column = _json_error_position(text)
                diagnostics.error(f"not valid JSON: {error['msg']}", Span(str(path), line, column, line, column + 1))
            else:
                where = ".".join(str(part) for part in error["loc"])
                diagnostics.error(
                    f"not a valid Plan: {where}: {error['msg']}",
                    Span(str(path), 1, 1, 1, 1),
                    hint="write Plans with `orchc compile`; `orchc schema` prints their format",
                )
    diagnostics.raise_if_errors()
    raise AssertionError("a ValidationError without errors")


def _json_error_position(text: str) -> tuple[int, int]:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.lineno, exc.colno
    return 1, 1


def rooted_beside(plan: Plan, output: Path) -> Plan:
    """A Plan written inside its project names the project relative to itself, so that the two can move
    together (to another checkout, another machine); anywhere else, the absolute path stays."""
    root, folder = Path(plan.root), output.resolve().parent
    if folder != root and root not in folder.parents:
        return plan
    return dataclasses.replace(plan, root=Path(os.path.relpath(root, folder)).as_posix())


def default_journal(where: str | Path | Plan) -> Path:
    """`.orchc/journal.db` in a project folder, beside an input file, or in a Plan's project folder."""
    if isinstance(where, (str, Path)):
        path = Path(where)
        return (path.parent if path.is_file() else path) / JOURNAL_NAME
    return Path(where.root) / JOURNAL_NAME


def journal_spec(journal: str | Path | None, where: str | Path | Plan) -> str | Path:
    """The journal `--journal` names: a PostgreSQL URL as it is, else a SQLite file's path; none given: the
    default file of `where` (see `default_journal`)."""
    from orchc.backends.journal import is_postgresql

    if journal is None:
        return default_journal(where)
    return journal if is_postgresql(journal) else Path(journal)
