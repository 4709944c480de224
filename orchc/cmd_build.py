"""`orchc` commands that build and inspect a Plan: check, compile, schema, graph, fmt."""

from __future__ import annotations

import json

import typer

from orchc.plan import plan_json_schema


def schema() -> None:
    """Print the Plan's JSON Schema."""
    typer.echo(json.dumps(plan_json_schema(), indent=2, sort_keys=True))


def register(app: typer.Typer) -> None:
    app.command()(schema)
