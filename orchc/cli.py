"""The `orchc` command line.

Each group of commands lives in its own module and registers itself here:
`cmd_build` (check, compile, schema, graph, fmt), `cmd_run` (run, status,
simulate, report), `cmd_plan` (plan) and `cmd_migrate` (migrate ...). This module owns what they
share: the app, and the mapping of failures to exit statuses.

Exit statuses are in `exitcodes`.
"""

from __future__ import annotations

import os
import sys

import typer

from orchc import cmd_build, cmd_migrate, cmd_plan, cmd_run, exitcodes
from orchc.command import CONTEXT, Group
from orchc.console import stderr
from orchc.dsl.diagnostics import DiagnosticError, SourceCache, render_all

app = typer.Typer(
    name="orchc",
    help="Check, compile and run deployments as a dependency graph.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
    cls=Group,
)


@app.callback()
def _root() -> None:
    """Check, compile and run deployments as a dependency graph."""


cmd_build.register(app)
cmd_run.register(app)
cmd_plan.register(app)
cmd_migrate.register(app)


def main() -> None:
    """Entry point: run the app; turn diagnostics into exit status 1, never a traceback."""
    try:
        app()  # typer reports usage errors itself, with exit status 2
    except DiagnosticError as exc:
        stderr().print(render_all(exc.diagnostics, SourceCache()), markup=False)
        sys.exit(exitcodes.INVALID_INPUT)
    except KeyboardInterrupt:
        stderr().print("interrupted", markup=False)
        sys.exit(exitcodes.INTERRUPTED)
    except SystemExit:
        raise
    except Exception as exc:  # a bug in orchc: say so plainly
        if os.environ.get("ORCHC_DEBUG"):
            raise
        from orchc import __version__

        stderr().print(
            f"orchc: internal error: {type(exc).__name__}: {exc}\n"
            f"  This is a bug in orchc {__version__}, not a mistake in your input. Run the same command "
            "again with ORCHC_DEBUG=1 for the traceback, and report it with the command and the traceback.",
            markup=False,
        )
        sys.exit(exitcodes.INTERNAL_ERROR)
