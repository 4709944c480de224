"""YAML input for the taskcore and fuel converters: data with the line of every mapping, and diagnostics.

Every mapping read by `load_yaml` carries its 1-based line as `LINE_KEY`, so a
converter can name `file:line` in its report and in diagnostics; `strip_lines`
gives the data back without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orchc.dsl.ast import Span
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError

LINE_KEY = "__line__"


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe YAML loader (libyaml's when installed) that records the line of every mapping."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping[LINE_KEY] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def input_error(message: str, path: Path, line: int = 1, column: int = 1, hint: str | None = None) -> DiagnosticError:
    """A `DiagnosticError` pointing at `path:line:column`."""
    span = Span(str(path), line, column, line, column + 1)
    return DiagnosticError([Diagnostic("error", message, span, hint)])


def load_yaml(path: Path) -> Any:
    """Parse `path`; a missing file or bad YAML is a diagnostic at the place it happens."""
    if not path.is_file():
        raise input_error(f"'{path}' does not exist or is not a file", path, hint="check the path you gave")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise input_error(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", path, line, column,
                          hint="fix the YAML syntax at this point") from None


def line_of(data: Any) -> int:
    return data.get(LINE_KEY, 1) if isinstance(data, dict) else 1


def strip_lines(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: strip_lines(v) for k, v in data.items() if k != LINE_KEY}
    if isinstance(data, list):
        return [strip_lines(v) for v in data]
    return data
