"""`orchc migrate ...`: convert foreign deployment formats into `.orch` projects.

Each subcommand calls one converter of `orchc.migrate`, which returns a
`Migration` (files + report); this module writes it and prints the summary.
Converters are imported when their command runs, so one converter's heavy
imports never slow the others down.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchc.command import Command, Group
from orchc.inputs import writing

if TYPE_CHECKING:
    from orchc.migrate.report import Migration

migrate_app = typer.Typer(
    help="Convert Ansible, TripleO Heat, Task-Core and Fuel content into .orch files.", no_args_is_help=True, cls=Group
)

OutDir = Annotated[Path, typer.Option("-o", "--output", help="Folder to write the .orch project into.")]


def _finish(convert: Callable[[], Migration], out_dir: Path) -> None:
    """Convert, write the files and the report, print the summary."""
    gc.disable()  # a conversion allocates many long-lived objects and frees few: the cyclic GC would find nothing
    try:
        migration = convert()
        with writing(out_dir, hint="-o names a folder (new or existing, not a file) in a place you may write"):
            written = migration.write(out_dir)
    finally:
        gc.enable()
    counts = ", ".join(f"{n} {c}" for c, n in migration.report.counts().items() if n)
    typer.echo(f"wrote {len(written)} files to {out_dir} ({counts or 'nothing converted'})")
    for name, value in migration.report.figures.items():
        typer.echo(f"  {name}: {value}")
    typer.echo(f"report: {out_dir / 'migration-report.md'}")


@migrate_app.command("playbook", cls=Command)
def playbook(
    playbook: Annotated[Path, typer.Argument(help="The playbook to convert (site.yml).")],
    output: OutDir,
    roles_path: Annotated[
        list[Path] | None,
        typer.Option(
            "--roles-path",
            help="Folder of roles (repeatable); default: roles/ beside the playbook, "
            "ANSIBLE_ROLES_PATH, roles_path of the nearest ansible.cfg.",
        ),
    ] = None,
) -> None:
    """Ansible playbook (plays, roles, handlers, loops) -> .orch."""
    from orchc.migrate.ansible import convert_playbook

    _finish(lambda: convert_playbook(playbook, roles_path=roles_path or None), output)


@migrate_app.command("heat", cls=Command)
def heat(
    inputs: Annotated[list[Path], typer.Argument(help="Service templates, or folders of them.")],
    output: OutDir,
    roles_data: Annotated[
        Path | None,
        typer.Option(
            "--roles-data",
            help="roles_data.yaml: with the tripleo-heat-templates folder, a whole overcloud "
            "(without it: one role, Standalone).",
        ),
    ] = None,
    param_files: Annotated[
        list[Path] | None, typer.Option("--param-file", help="Heat environment with parameter values (repeatable).")
    ] = None,
    relax: Annotated[
        bool,
        typer.Option(
            "--relax",
            help="Per-service step chains instead of TripleO's global step barriers; "
            "every inferred wait is in the report.",
        ),
    ] = False,
) -> None:
    """TripleO Heat service templates (+ roles_data.yaml) -> .orch projects in deploy/, update/, upgrade/.

    External (undercloud) tasks run on the role `undercloud`: give it one local host in the inventory.
    """
    from orchc.migrate.heat import convert_heat

    _finish(lambda: convert_heat(inputs, roles_data=roles_data, param_files=param_files or [], relax=relax), output)


@migrate_app.command("taskcore", cls=Command)
def taskcore(
    output: OutDir,
    services: Annotated[Path, typer.Option("-s", "--services", help="Task-Core services folder.")],
    roles: Annotated[Path, typer.Option("-r", "--roles", help="Task-Core roles.yaml.")],
    inventory: Annotated[Path, typer.Option("-i", "--inventory", help="Task-Core inventory.yaml.")],
) -> None:
    """Task-Core services, roles and inventory -> .orch + inventory.yml."""
    from orchc.migrate.taskcore import convert_taskcore

    _finish(lambda: convert_taskcore(services, roles, inventory), output)


@migrate_app.command("fuel", cls=Command)
def fuel(
    files: Annotated[list[Path], typer.Argument(help="Fuel tasks.yaml files, or folders to search for them.")],
    output: OutDir,
    metadata: Annotated[
        Path,
        typer.Option(
            "--metadata",
            help="Fuel release metadata (fuel-web's nailgun/nailgun/fixtures/openstack.yaml): the tags of each role.",
        ),
    ],
    inventory: Annotated[
        Path,
        typer.Option(
            "-i",
            "--inventory",
            help="Ansible YAML inventory with one group per Fuel role (controller, compute, cinder, ...).",
        ),
    ],
) -> None:
    """Fuel tasks.yaml deployment graphs -> .orch + inventory.yml with tag groups."""
    from orchc.migrate.fuel import convert_fuel

    _finish(lambda: convert_fuel(files, metadata=metadata, inventory=inventory), output)


def register(app: typer.Typer) -> None:
    app.add_typer(migrate_app, name="migrate")
