"""`orchc plan`: what the next run would do against the journal, grouped Terraform-style, and why."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchc import exitcodes
from orchc.cmd_run import JournalOption, errors_printed, stdout_console
from orchc.command import Command
from orchc.inputs import ExtraVarsOption, InventoryOption, ProjectArg, VarsFilesOption, plan_of_inputs, writing
from orchc.project import journal_spec

if TYPE_CHECKING:
    from orchc.backends.lifecycle import Group, LifecyclePlan, Planned

CHANGES_PENDING = 2  # --detailed-exitcode: something would run

# Each group as shown: its mark, its colour, what it says, and whether its instances are listed without -v.
_GROUPS: list[tuple[Group, str, str, str, bool]] = [
    ("new", "+", "green", "new (never run)", True),
    ("retry", "~", "yellow", "to retry (their last execution did not succeed)", True),
    ("changed", "~", "yellow", "changed (the inputs that changed)", True),
    ("rerun", "-/+", "magenta", "rerun because what they require changes (capability fields)", True),
    ("forced", "~", "yellow", "forced (up to date, run with --force)", True),
    ("notified", "~", "yellow", "notified: run if what notifies them does (or did, in a run before)", True),
    ("outside limit", "!", "red", "not run: outside --limit, or held back by what is", True),
    ("up to date", "=", "dim", "up to date", False),
    ("not run", "·", "dim", "not run (anchors, `when` false when compiling)", False),
    ("not notified", "·", "dim", "not notified (none of what notifies them runs)", False),
]


def plan(
    path: ProjectArg,
    inventory: InventoryOption = None,
    extra_vars: ExtraVarsOption = [],
    vars_files: VarsFilesOption = [],
    journal: JournalOption = None,
    limit: Annotated[
        str | None,
        typer.Option("--limit", "-l", metavar="PATTERN", help="As `orchc run --limit`: these hosts only."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="As `orchc run --force`: up-to-date ones too.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Pin this plan: `orchc run FILE` then runs exactly what it shows, or refuses if the journal moved on.",
        ),
    ] = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option("--detailed-exitcode", help="Exit 0 if nothing would run, 2 if something would, 1 on error."),
    ] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="List the up-to-date instances too.")] = 0,
) -> None:
    """Show what `orchc run` would do, grouped: new, changed (naming the inputs that changed: a variable,
    a template, a file, a capability field, a playbook or role, a setting, an action as written), rerun
    because what they require changes, up to date, and what left the Plan. Runs nothing."""
    from orchc import api

    plan_ = plan_of_inputs(path, inventory, extra_vars, vars_files)
    options = api.RunOptions(journal=journal_spec(journal, path), force=force, limit=limit)
    with errors_printed():
        lifecycle = api.plan(plan_, options)
    print_plan(lifecycle, str(options.journal), verbose > 0)
    if output is not None:
        from orchc.pinned import pinned_json

        text = pinned_json(lifecycle, output)
        with writing(output):
            output.write_text(text, encoding="utf-8")
        stdout_console().print(f"\npinned: `orchc run {output}` runs exactly this, or refuses if the journal moves on")
    if detailed_exitcode and lifecycle.changes_pending:
        raise typer.Exit(CHANGES_PENDING)
    raise typer.Exit(exitcodes.OK)


def print_plan(lifecycle: LifecyclePlan, journal: str, every: bool) -> None:
    from rich.markup import escape

    console = stdout_console()
    last = lifecycle.position.last_run
    console.print(f"against {escape(journal)} ({f'last run {last}' if last is not None else 'no run yet'})\n")
    counts: dict[str, int] = {}
    for group, mark, colour, title, listed in _GROUPS:
        members = lifecycle.group(group)
        counts[group] = len(members)
        if not members:
            continue
        console.print(f"[{colour}]{mark}[/] [bold]{len(members)}[/] {title}")
        if listed or every:
            for planned in members:
                console.print(f"    [{colour}]{mark}[/] {escape(planned.instance.id)}{_why(planned)}")
    if lifecycle.left:
        console.print(f"[red]-[/] [bold]{len(lifecycle.left)}[/] left the Plan (orchc does not undo what they did)")
        for iid in lifecycle.left:
            console.print(f"    [red]-[/] {escape(iid)}")
    runs = len(lifecycle.will_run)
    parts = [f"{counts[g]} {g}" for g in ("new", "retry", "changed", "rerun", "forced") if counts[g]]
    console.print(
        f"\nPlan: {runs} to run" + (f" ({', '.join(parts)})" if parts else "") + f", {counts['up to date']} up to "
        f"date, {len(lifecycle.left)} left the Plan. Nothing was run.",
        markup=False,
    )


def _why(planned: Planned) -> str:
    from rich.markup import escape

    said = ", ".join(planned.changed_inputs) or planned.note
    if planned.group in ("outside limit", "notified"):
        said = planned.verdict.reason
    return f"  [dim]{escape(said)}[/]" if said else ""


def register(app: typer.Typer) -> None:
    app.command(cls=Command)(plan)
