"""What `check`, `compile`, `graph`, `run` and `simulate` share: the project's inputs, as options.

`-i/--inventory` (found beside the input when omitted), `-e/--extra-var
NAME=VALUE` or, as Ansible spells a file of them, `-e @FILE.yml` (repeatable),
`--vars FILE.yml` (repeatable), and
`compile_inputs`, which compiles a project or reads a `plan.json` through
`orchc.project` and prints the compiler's warnings. And `writing`, for every
command that writes where the user said (`-o`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchc.console import stderr
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError, SourceCache, render_all

if TYPE_CHECKING:
    from orchc.compiler import CompileResult
    from orchc.plan import Plan

# orchc.project (and through it the compiler and pydantic's models) is imported
# where it is used: the commands import this module to declare their options.

ProjectArg = Annotated[Path, typer.Argument(help="A .orch file, a folder of them, or a plan.json.", show_default=False)]
InventoryOption = Annotated[
    Path | None,
    typer.Option(
        "--inventory", "-i", help="Ansible inventory (INI or YAML); default: inventory.yml/.ini beside the input."
    ),
]
ExtraVarsOption = Annotated[
    list[str],
    typer.Option(
        "--extra-var",
        "-e",
        help="Set a variable: NAME=VALUE, or @FILE.yml for a YAML file of them, as --vars (repeatable).",
        metavar="NAME=VALUE",
    ),
]
VarsFilesOption = Annotated[
    list[Path],
    typer.Option("--vars", help="Set variables from a YAML file of NAME: VALUE (repeatable).", metavar="FILE.yml"),
]


def is_plan_file(path: Path) -> bool:
    return path.suffix == ".json" and path.is_file()


def vars_files_of(extra_vars: list[str], vars_files: list[Path]) -> list[Path]:
    """The `--vars` files, then those given as `-e @FILE` (in order)."""
    return vars_files + [Path(item[1:]) for item in extra_vars if item.startswith("@")]


def parse_extra_vars(extra_vars: list[str]) -> dict[str, str]:
    """The values of `-e NAME=VALUE` (`-e @FILE` is a vars file: `vars_files_of`); anything else is a usage error."""
    values: dict[str, str] = {}
    for item in extra_vars:
        if item.startswith("@"):
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"'{item}' is not NAME=VALUE", param_hint="'-e' / '--extra-var'")
        values[name.strip()] = value
    return values


def input_values(extra_vars: list[str], vars_files: list[Path]) -> dict[str, Any]:
    """Values from --vars files in order, then -e (which wins), as Ansible does."""
    from orchc.project import merge_variables

    return merge_variables(vars_files_of(extra_vars, vars_files), parse_extra_vars(extra_vars))


@contextmanager
def writing(path: Path, hint: str = "give a file in a folder that exists and that you may write") -> Iterator[None]:
    """Writing what the user asked for at `path`: a path that cannot be written is a diagnostic (exit 1)."""
    try:
        yield
    except OSError as exc:
        raise DiagnosticError(
            [Diagnostic("error", f"cannot write {exc.filename or path}: {exc.strerror or exc}", hint=hint)]
        ) from None


def compile_inputs(path: Path, inventory: Path | None, extra_vars: list[str], vars_files: list[Path]) -> CompileResult:
    """Compile a project (a .orch file or folder) and print its warnings, or read and validate a plan.json
    (then -i is optional); errors raise DiagnosticError, which the command line prints."""
    from orchc.compiler import CompileResult
    from orchc.project import compile_project, load_plan, load_project

    if is_plan_file(path):
        return CompileResult.of_plan(load_plan(path))
    extra = parse_extra_vars(extra_vars)
    result = compile_project(load_project(path, inventory, extra, vars_files_of(extra_vars, vars_files)))
    if result.warnings:
        stderr().print(render_all(result.warnings, SourceCache()), markup=False)
    return result


def plan_of_inputs(path: Path, inventory: Path | None, extra_vars: list[str], vars_files: list[Path]) -> Plan:
    """The Plan of `compile_inputs`; a plan.json is read without loading the compiler (a run's start-up)."""
    if is_plan_file(path):
        from orchc.project import load_plan

        return load_plan(path)
    return compile_inputs(path, inventory, extra_vars, vars_files).plan
