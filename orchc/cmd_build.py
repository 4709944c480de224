"""`orchc` commands that build and inspect a Plan: check, compile, schema, graph, fmt."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchc.command import Command
from orchc.dsl.diagnostics import DiagnosticError
from orchc.inputs import (
    ExtraVarsOption,
    InventoryOption,
    ProjectArg,
    VarsFilesOption,
    compile_inputs,
    writing,
)

if TYPE_CHECKING:
    from orchc.plan import Plan

# The compiler, the Plan's model and writer, the graph writer and the formatter are
# imported by the commands that use them: every `orchc` start-up would otherwise pay
# for pydantic, lark, jinja2 and networkx.


OutputOption = Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")]


class GraphFormat(str, Enum):
    dot = "dot"
    mermaid = "mermaid"


class GraphLevel(str, Enum):
    instance = "instance"
    task = "task"


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
    else:
        with writing(output):
            output.write_text(text, encoding="utf-8")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@dataclass
class PlanSize:
    """What `orchc check` says of a Plan."""

    services: int
    tasks: int
    instances: int
    hosts: int

    @classmethod
    def of_plan(cls, plan: Plan) -> PlanSize:
        return cls(
            len({task.service for task in plan.tasks if task.service}),
            len(plan.tasks),
            len(plan.instances),
            len(plan.hosts),
        )

    def summary(self, warnings: int) -> str:
        line = (
            f"ok: {_plural(self.services, 'service')}, {_plural(self.tasks, 'task')}, "
            f"{_plural(self.instances, 'instance')} on {_plural(self.hosts, 'host')}"
        )
        return line + (f" ({_plural(warnings, 'warning')})" if warnings else "")


def check(
    path: ProjectArg,
    inventory: InventoryOption = None,
    extra_var: ExtraVarsOption = [],
    vars_file: VarsFilesOption = [],
) -> None:
    """Parse and compile; print diagnostics. Nothing runs."""
    result = compile_inputs(path, inventory, extra_var, vars_file)
    typer.echo(PlanSize.of_plan(result.validated_plan()).summary(len(result.warnings)))
    if result.conditions:
        left = sum(1 for outcome in result.conditions if outcome.run_time)
        typer.echo(
            f"when ansible: {len(result.conditions) - left} of {len(result.conditions)} conditions decided when "
            f"compiling on every host, {left} at run time where what they read is known only then:"
        )
        for outcome in result.conditions:
            typer.echo(f"  {outcome.summary()}")


def compile(
    path: ProjectArg,
    inventory: InventoryOption = None,
    extra_var: ExtraVarsOption = [],
    vars_file: VarsFilesOption = [],
    output: OutputOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not say what was written.")] = False,
) -> None:
    """Write the Plan (JSON) to -o FILE or stdout; say what was written on stderr."""
    from orchc.plan_json import plan_json, write_plan_json
    from orchc.project import rooted_beside

    # Checked as it is written (`write_plan_json`); `orchc check` validates it field by field.
    plan = compile_inputs(path, inventory, extra_var, vars_file).plan
    if output is None:
        data = plan_json(plan)
        typer.echo(data, nl=False)
        size, where = len(data), "stdout"
    else:
        with writing(output), output.open("wb") as file:
            write_plan_json(rooted_beside(plan, output), file)
        size, where = output.stat().st_size, str(output)
    if not quiet:
        counts = PlanSize.of_plan(plan)
        typer.echo(
            f"wrote {where}: {_plural(counts.instances, 'instance')} on {_plural(counts.hosts, 'host')}, "
            f"{_plural(size, 'byte')}",
            err=True,
        )


def graph(
    path: ProjectArg,
    inventory: InventoryOption = None,
    extra_var: ExtraVarsOption = [],
    vars_file: VarsFilesOption = [],
    format: Annotated[GraphFormat, typer.Option("--format", "-f", help="dot or mermaid.")] = GraphFormat.dot,
    level: Annotated[GraphLevel, typer.Option("--level", help="instance or task.")] = GraphLevel.instance,
    output: OutputOption = None,
) -> None:
    """Write the instance graph (or --level task) as Graphviz DOT or Mermaid."""
    from orchc.compiler.graph import render_graph

    plan = compile_inputs(path, inventory, extra_var, vars_file).plan
    _write(render_graph(plan, format.value, level.value), output)


def schema() -> None:
    """Print the Plan's JSON Schema."""
    from orchc.plan import plan_json_schema

    typer.echo(json.dumps(plan_json_schema(), indent=2, sort_keys=True))


def fmt(
    path: Annotated[Path, typer.Argument(help="A .orch file, a folder (every *.orch below it), or - for stdin.")],
    check: Annotated[bool, typer.Option("--check", help="Change nothing; exit 1 if a file would change.")] = False,
    diff: Annotated[
        bool,
        typer.Option(
            "--diff",
            help="Change nothing; print a unified diff of each file that would change (a patch); exit 1 if one would.",
        ),
    ] = False,
) -> None:
    """Rewrite .orch files in canonical layout (with --check or --diff, only report)."""
    from orchc.dsl.format import format_paths, format_source

    if str(path) == "-":  # an editor's pipe: stdin to stdout
        text = sys.stdin.read()
        formatted = format_source(text, "<stdin>")
        if diff:
            typer.echo(_unified_diff("<stdin>", text, formatted), nl=False)
        if check or diff:
            raise typer.Exit(0 if formatted == text else 1)
        typer.echo(formatted, nl=False)
        return
    outcome = format_paths(path, write=not (check or diff))
    for file in outcome.changed:
        if diff:
            typer.echo(_unified_diff(str(file), *outcome.texts[file]), nl=False)
        else:
            typer.echo(f"{'would reformat' if check else 'reformatted'} {file}")
    changed, unchanged = _plural(len(outcome.changed), "file"), _plural(len(outcome.unchanged), "file")
    if not (outcome.changed or outcome.unchanged):
        if not outcome.diagnostics:
            typer.echo(f"no .orch files in {path}", err=diff)
    elif check or diff:  # with --diff, the patch alone is on stdout
        typer.echo(f"{changed} would be reformatted, {unchanged} already formatted", err=diff)
    else:
        typer.echo(f"{changed} reformatted, {unchanged} left unchanged")
    if outcome.diagnostics:
        raise DiagnosticError(outcome.diagnostics)
    if (check or diff) and outcome.changed:
        raise typer.Exit(1)


def _unified_diff(name: str, text: str, formatted: str) -> str:
    """`diff -u` of a file and its formatted text."""
    from orchc.backends.unified_diff import unified_diff

    return unified_diff(text, formatted, name, name)


def register(app: typer.Typer) -> None:
    app.command(cls=Command)(check)
    app.command(cls=Command)(compile)
    app.command(cls=Command)(graph)
    app.command(cls=Command)(schema)
    app.command(cls=Command)(fmt)
