"""A pinned plan file (`orchc plan -o FILE`): the Plan, the set to run and the journal position it was made
against, in one JSON document that `orchc run FILE` runs exactly, or refuses.

    {"schema": "orchc.pinned-plan/1", "journal": {"digest": ..., "last_run": 3}, "force": false,
     "limit": null, "runs": ["keystone.configure@controller1", ...], "plan": {...the Plan...}}

(the schema first, so that `orchc run` tells it from a Plan by its first bytes).

The Plan inside names its project relative to the file when the file is
written inside the project, as `orchc compile -o` does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchc.backends.lifecycle import PINNED_SCHEMA, JournalPosition, LifecyclePlan, Pinned, pinned_of
from orchc.dsl.diagnostics import Diagnostics
from orchc.dsl.files import read_text
from orchc.dsl.span import Span
from orchc.plan import Plan
from orchc.plan_json import plan_json
from orchc.project import parse_plan, rooted_beside

_HINT = "make the file again with `orchc plan PATH -o FILE`; it is not meant to be edited"


def pinned_json(lifecycle: LifecyclePlan, output: Path) -> str:
    pinned = pinned_of(lifecycle)
    document = {  # the schema first: `is_pinned` reads it
        "schema": PINNED_SCHEMA,
        "journal": pinned.position.as_json(),
        "force": pinned.force,
        "limit": pinned.limit,
        "runs": pinned.runs,
        "plan": json.loads(plan_json(rooted_beside(lifecycle.plan, output))),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def is_pinned(path: Path) -> bool:
    """Whether a `.json` input is a pinned plan rather than a Plan (its first bytes name the schema)."""
    try:
        with path.open("rb") as stream:
            head = stream.read(100)
    except OSError:
        return False  # reading it again reports why
    return f'"schema": "{PINNED_SCHEMA}"'.encode() in head


def load_pinned(path: Path) -> tuple[Plan, Pinned]:
    """The Plan and the pin of a pinned plan file; what is wrong with it is a diagnostic."""
    text = read_text(path, hint=_HINT)
    diagnostics = Diagnostics()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        diagnostics.error(
            f"not a valid pinned plan: not valid JSON: {exc.msg}",
            Span(str(path), exc.lineno, exc.colno, exc.lineno, exc.colno + 1),
            hint=_HINT,
        )
        diagnostics.raise_if_errors()
    pinned = _pin(document)
    if pinned is None:
        diagnostics.error(
            f"not a valid pinned plan (schema {PINNED_SCHEMA}): its fields are missing or of the wrong type",
            Span(str(path), 1, 1, 1, 1),
            hint=_HINT,
        )
        diagnostics.raise_if_errors()
    assert pinned is not None
    plan = parse_plan(json.dumps(document["plan"]), path)
    return plan, pinned


def _pin(document: Any) -> Pinned | None:
    """The pin of a parsed pinned plan; None if it is not one."""
    if not isinstance(document, dict) or document.get("schema") != PINNED_SCHEMA:
        return None
    journal, runs, limit = document.get("journal"), document.get("runs"), document.get("limit")
    if not (
        isinstance(journal, dict)
        and isinstance(journal.get("digest"), str)
        and (journal.get("last_run") is None or isinstance(journal.get("last_run"), int))
        and isinstance(runs, list)
        and all(isinstance(run, str) for run in runs)
        and isinstance(document.get("force"), bool)
        and (limit is None or isinstance(limit, str))
        and isinstance(document.get("plan"), dict)
    ):
        return None
    return Pinned(JournalPosition(journal["last_run"], journal["digest"]), runs, document["force"], limit)
