"""`orchc simulate --durations FILE`: the file of durations, read with diagnostics at its lines.

A YAML (or JSON) map of instance or task id to seconds (`40`) or a duration
as .orch files write it (`30s`, `1m30s`, `500ms`). The simulation itself is
`orchc.backends.simulate`, which reads no user file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from orchc.backends.simulate import Durations
from orchc.dsl.ast import duration_seconds
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from orchc.dsl.files import load_yaml_map, mark_span, read_text
from orchc.dsl.span import Span
from orchc.plan import Plan


@dataclass
class DurationsFile:
    durations: Durations
    spans: dict[str, Span]  # where the file names each id

    def unknown_ids(self, plan: Plan) -> list[Diagnostic]:
        """A warning for each id that names no instance or task of the Plan: its time would count nowhere."""
        known = {inst.id for inst in plan.instances} | {task.id for task in plan.tasks}
        return [
            Diagnostic(
                "warning",
                f"'{name}' is no instance or task of the Plan: its duration is not used",
                self.spans.get(name),
                hint=did_you_mean(name, known)
                or "name an instance (`service.task@host`) or a task "
                "(`service.task`); `orchc run --dry-run` lists them",
            )
            for name in self.durations.seconds
            if name not in known
        ]


def durations_from_file(path: Path) -> DurationsFile:
    """The durations of the file; a value that is no number of seconds or duration is an error at its line and
    column."""
    import yaml

    data = load_yaml_map(path, "the durations file", "keystone.db_sync: 40")
    nodes = yaml.compose(read_text(path), Loader=yaml.SafeLoader)
    spans = {
        str(key.value): (mark_span(str(path), key.start_mark), mark_span(str(path), value.start_mark))
        for key, value in (nodes.value if nodes is not None else [])
    }
    seconds: dict[str, float] = {}
    errors = []
    for key, value in data.items():
        name = str(key)
        number = duration_seconds(value) if isinstance(value, str) else value
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0:
            where = spans[name][1] if name in spans else None
            errors.append(
                Diagnostic(
                    "error",
                    f"the duration of '{name}' is not a number of seconds or a duration: "
                    f"{json.dumps(value, default=str)}",
                    where,
                    hint="write seconds (`40`, `2.5`) or a duration (`30s`, `1m30s`, `500ms`)",
                )
            )
        else:
            seconds[name] = float(number)
    if errors:
        raise DiagnosticError(errors)
    return DurationsFile(Durations(seconds, f"{path}"), {name: span for name, (span, _) in spans.items()})
