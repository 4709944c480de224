"""What `check`, `compile`, `graph`, `run` and `simulate` share: the project's inputs.

`-i/--inventory` (found beside the input when omitted), `-e/--extra-var
NAME=VALUE` (repeatable), `--vars FILE.yml` (repeatable), and `load_plan`,
which compiles a project or reads a `plan.json`. And `writing`, for every
command that writes where the user said (`-o`).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterator, Optional

import typer

from orchc.dsl.span import Span
from orchc.console import stderr
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError, Diagnostics, SourceCache, render_all
from orchc.dsl.files import load_yaml_map, read_text

if TYPE_CHECKING:
    from orchc.compiler import CompileResult
    from orchc.plan import Plan

# yaml and the Plan's pydantic model are imported where they are read: the
# commands import this module to declare their options.

INVENTORY_NAMES = ("inventory.yml", "inventory.yaml", "inventory.ini", "inventory")

ProjectArg = Annotated[Path, typer.Argument(help="A .orch file, a folder of them, or a plan.json.",
                                            show_default=False)]
InventoryOption = Annotated[Optional[Path], typer.Option(
    "--inventory", "-i", help="Ansible inventory (INI or YAML); default: inventory.yml/.ini beside the input.")]
ExtraVarsOption = Annotated[list[str], typer.Option(
    "--extra-var", "-e", help="Set a variable: NAME=VALUE (repeatable).", metavar="NAME=VALUE")]
VarsFilesOption = Annotated[list[Path], typer.Option(
    "--vars", help="Set variables from a YAML file of NAME: VALUE (repeatable).", metavar="FILE.yml")]


def is_plan_file(path: Path) -> bool:
    return path.suffix == ".json" and path.is_file()


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
    raise DiagnosticError([Diagnostic(
        "error", f"no inventory given, and none in '{folder}' (looked for {', '.join(INVENTORY_NAMES)})",
        hint="give an Ansible inventory (INI or YAML) with -i/--inventory, or put inventory.yml beside the input")])


def parse_variables(extra_vars: list[str], vars_files: list[Path]) -> dict[str, Any]:
    """Values from --vars files in order, then -e (which wins), as Ansible does."""
    values: dict[str, Any] = {}
    for file in vars_files:
        values.update(_read_vars_file(file))
    for item in extra_vars:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"'{item}' is not NAME=VALUE", param_hint="'-e' / '--extra-var'")
        values[name.strip()] = value
    return values


def _read_vars_file(file: Path) -> dict[str, Any]:
    return {str(k): v for k, v in load_yaml_map(file, "the vars file", "region: RegionTwo").items()}


@contextmanager
def writing(path: Path, hint: str = "give a file in a folder that exists and that you may write") -> Iterator[None]:
    """Writing what the user asked for at `path`: a path that cannot be written is a diagnostic (exit 1)."""
    try:
        yield
    except OSError as exc:
        raise DiagnosticError([Diagnostic("error", f"cannot write {exc.filename or path}: {exc.strerror or exc}",
                                          hint=hint)]) from None


def read_plan(path: Path) -> Plan:
    """Read and validate a `plan.json`; a JSON error points at its line and column."""
    from pydantic import ValidationError

    from orchc.plan import Plan

    diagnostics = Diagnostics()
    text = read_text(path, hint="give a Plan written by `orchc compile`")
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
                diagnostics.error(f"not a valid Plan: {where}: {error['msg']}", Span(str(path), 1, 1, 1, 1),
                                  hint="write Plans with `orchc compile`; `orchc schema` prints their format")
    diagnostics.raise_if_errors()
    raise AssertionError("unreachable")


def _json_error_position(text: str) -> tuple[int, int]:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.lineno, exc.colno
    return 1, 1


def supplied_secrets(plan: Plan, extra_vars: list[str], vars_files: list[Path]) -> dict[str, str]:
    """Values of the Plan's secrets given with -e/--vars: for the run only, never written to the Plan."""
    values = parse_variables(extra_vars, vars_files)
    return {secret.name: str(values[secret.name]) for secret in plan.secrets if secret.name in values}


def compile_inputs(path: Path, inventory: Path | None, extra_vars: list[str], vars_files: list[Path]) -> CompileResult:
    """Compile a project (a .orch file or folder) and print its warnings, or read and validate a plan.json
    (then -i is optional); errors raise DiagnosticError, which the command line prints."""
    from orchc.compiler import CompileResult, compile_project

    if is_plan_file(path):
        return CompileResult.of_plan(read_plan(path))
    result = compile_project([path], find_inventory(path, inventory), parse_variables(extra_vars, vars_files))
    if result.warnings:
        stderr().print(render_all(result.warnings, SourceCache()), markup=False)
    return result


def load_plan(path: Path, inventory: Path | None, extra_vars: list[str], vars_files: list[Path]) -> Plan:
    """The Plan of `compile_inputs`."""
    return compile_inputs(path, inventory, extra_vars, vars_files).plan
