"""What every `orchc` command takes besides its own options: `-h`/`--help` and `--version`.

The app and its groups pass `CONTEXT` (help options are inherited by every
command below them) and are made with `Group`; each command is registered with
`Command`, which adds `--version`.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _show_version(ctx: Any, _param: Any, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from orchc import __version__

        typer.echo(f"orchc {__version__}")
        raise typer.Exit(0)


def _version_option() -> TyperOption:
    return TyperOption(
        param_decls=["--version"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_show_version,
        help="Show orchc's version and exit.",
    )


class Command(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(_version_option())


class Group(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(_version_option())
