"""YAML loading for Heat templates that remembers where every map and list came from.

Maps and lists load as `LocatedDict`/`LocatedList`: plain dict/list subclasses
with the file and 1-based line they start on, so the converter can point at
`file:line` for anything it could not resolve. Everything else loads as
`yaml.safe_load` would, except that dates stay strings (Heat's
`heat_template_version: 2016-10-14` is a name, not a date).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import yaml

from orchc.dsl.ast import Span
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError


class _Located:
    source: str = "?"
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


class LocatedDict(_Located, dict):
    pass


class LocatedList(_Located, list):
    pass


def relative_name(path: Path, root: Path | None) -> str:
    """How reports name a file: relative to the templates' root when it is inside it."""
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def where(node: Any, fallback: str) -> str:
    """The `file:line` a loaded map or list came from, else `fallback`."""
    return node.where if isinstance(node, _Located) else fallback


class _Loader(yaml.SafeLoader):
    source = "?"


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    data = LocatedDict()
    data.source, data.line = loader.source, node.start_mark.line + 1
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        data[key] = loader.construct_object(value_node, deep=True)


def _construct_list(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    data = LocatedList()
    data.source, data.line = loader.source, node.start_mark.line + 1
    yield data
    data.extend(loader.construct_object(child, deep=True) for child in node.value)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_list)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML text; a syntax error becomes a diagnostic at its line and column."""
    loader = _Loader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise input_error(f"invalid YAML: {exc.problem or exc}", source, line, column,
                          "fix the YAML syntax; orchc reads Heat templates as plain YAML") from None
    finally:
        loader.dispose()


def load_yaml(path: Path, source: str | None = None) -> Any:
    """Load a YAML file; `source` is the name reports use for it (default: the path)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise input_error(f"cannot read {path}: {exc.strerror}", str(path), 1, 1, "check the path") from None
    return load_yaml_text(text, source or str(path))


def load_jinja_yaml(path: Path, context: dict[str, Any], source: str | None = None) -> Any:
    """Render a THT `*.j2.yaml` template (over roles and networks) and load the result."""
    try:
        text = jinja2.Environment().from_string(path.read_text(encoding="utf-8")).render(**context)
    except OSError as exc:
        raise input_error(f"cannot read {path}: {exc.strerror}", str(path), 1, 1, "check the path") from None
    except jinja2.TemplateError as exc:
        raise input_error(f"cannot render this Jinja template: {exc}", source or str(path),
                          getattr(exc, "lineno", None) or 1, 1,
                          "orchc renders THT's *.j2.yaml files with the roles and networks only") from None
    return load_yaml_text(text, source or str(path))


def input_error(message: str, source: str, line: int, column: int, hint: str) -> DiagnosticError:
    """A one-diagnostic error for bad converter input (exit status 1 at the command line)."""
    return DiagnosticError([Diagnostic("error", message, Span(source, line, column, line, column + 1), hint)])
