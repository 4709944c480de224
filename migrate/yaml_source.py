"""YAML input for the converters: data that knows where it was written, and diagnostics for bad input.

Every mapping loads as a `LocatedDict` and every list as a `LocatedList`: plain
dict/list subclasses that also carry the file (as reports name it) and the
1-based line and column they start at, with `where` giving "file:line". They
dump to YAML like plain dicts and lists. A `YamlDialect` says what differs
between the converters' inputs (Heat's dates stay strings, Ansible's `!unsafe`
and `!vault` tags are kept, ...). A file that cannot be read or is not valid
YAML is a diagnostic at its file:line:col.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.representer import SafeRepresenter

from orchc.dsl.diagnostics import Diagnostic, DiagnosticError
from orchc.dsl.files import read_text, yaml_error
from orchc.dsl.span import Span
from orchc.migrate.yaml_plain import read_plain


class _Located:
    file: str = "?"
    line: int = 0
    column: int = 0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class LocatedDict(_Located, dict):
    """A YAML mapping with the place it was written at."""


class LocatedList(_Located, list):
    """A YAML list with the place it was written at."""


class Unsafe(str):
    """An Ansible `!unsafe` string: Ansible never templates it."""


class Vault(str):
    """An Ansible `!vault` encrypted value, kept verbatim (orchc never decrypts it)."""


SafeRepresenter.add_representer(LocatedDict, SafeRepresenter.represent_dict)
SafeRepresenter.add_representer(LocatedList, SafeRepresenter.represent_list)


@dataclass(frozen=True)
class YamlDialect:
    """How one converter reads its YAML."""

    libyaml: bool = True  # libyaml's parser (fast); False: PyYAML's own, with its wording of syntax errors
    timestamps_as_str: bool = False  # `2016-10-14` stays a string (Heat's template versions are names)
    keep_ansible_tags: bool = False  # `!unsafe` -> Unsafe, `!vault` -> Vault, other `!tag`s: the value as if untagged
    keys_as_text: bool = False  # keys that are not str/int/float/bool/null (dates, lists) become their text
    syntax_hint: str = "fix the YAML syntax at this point"


def load_yaml(path: Path, shown_as: str | None = None, dialect: YamlDialect = YamlDialect()) -> Any:
    """The YAML document in `path`; `shown_as` is how reports name the file (default: the path)."""
    shown = shown_as or str(path)
    return load_yaml_text(read_text(path, shown), shown, dialect)


def load_yaml_text(text: str, shown_as: str, dialect: YamlDialect = YamlDialect()) -> Any:
    """The YAML document in `text`; a syntax error becomes a diagnostic at its line and column."""
    try:
        return _parse(text, shown_as, dialect)
    except yaml.YAMLError as exc:
        raise DiagnosticError([yaml_error(exc, text, shown_as, dialect.syntax_hint)]) from None


def leaves(data: Any) -> Iterator[Any]:
    """Every scalar in loaded YAML data: map keys and values, list items, all the way down."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(key)
            yield from leaves(value)
    elif isinstance(data, list):
        for item in data:
            yield from leaves(item)
    else:
        yield data


def input_error(
    message: str, file: Path | str, line: int = 1, column: int = 1, hint: str | None = None
) -> DiagnosticError:
    """A one-diagnostic error for bad converter input at `file:line:column` (exit status 1 at the command line)."""
    return DiagnosticError([Diagnostic("error", message, Span(str(file), line, column, line, column + 1), hint)])


def line_of(node: Any) -> int:
    """The line a loaded mapping or list starts on; 1 for anything else."""
    return node.line if isinstance(node, _Located) else 1


def where_of(node: Any, fallback: str) -> str:
    """The `file:line` a loaded mapping or list came from, else `fallback`."""
    return node.where if isinstance(node, _Located) else fallback


# --- the loader -------------------------------------------------------------------------------

_STR_TAG = "tag:yaml.org,2002:str"


@cache
def _loader_class(dialect: YamlDialect) -> type[Any]:
    base = yaml.CSafeLoader if dialect.libyaml and hasattr(yaml, "CSafeLoader") else yaml.SafeLoader
    loader: Any = type("LocatedLoader", (base,), {"file": "?", "dialect": dialect})
    loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
    loader.add_constructor("tag:yaml.org,2002:seq", _construct_list)
    if dialect.timestamps_as_str:
        loader.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
    if dialect.keep_ansible_tags:
        loader.add_multi_constructor("!", _construct_local_tag)
    return loader


def _parse(text: str, shown_as: str, dialect: YamlDialect) -> Any:
    plain = read_plain(text, shown_as, LocatedDict, LocatedList)  # most generated files: no PyYAML needed
    if plain is not None:
        return plain
    loader = _loader_class(dialect)(text)  # PyYAML's reader already rejects control characters here
    loader.file = shown_as
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _placed(data: _Located, loader: Any, node: yaml.Node) -> Any:
    data.file, data.line, data.column = loader.file, node.start_mark.line + 1, node.start_mark.column + 1
    return data


def _construct_map(loader: Any, node: yaml.MappingNode) -> LocatedDict:
    data = _placed(LocatedDict(), loader, node)
    loader.flatten_mapping(node)  # `<<: *anchor` merge keys
    for key_node, value_node in node.value:
        key = _construct(loader, key_node)
        if type(key) is not str:  # most keys are: they skip the slower checks
            key = _other_key(loader, key, node, key_node)
        data[key] = _construct(loader, value_node)
    return data


def _other_key(loader: Any, key: Any, node: yaml.MappingNode, key_node: yaml.Node) -> Any:
    """A key that is not a string: its text if the dialect wants that; unhashable, an error."""
    if loader.dialect.keys_as_text and not (isinstance(key, (str, int, float, bool)) or key is None):
        return str(key)
    if not isinstance(key, Hashable):
        raise ConstructorError(
            "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
        )
    return key


def _construct_list(loader: Any, node: yaml.SequenceNode) -> LocatedList:
    data = _placed(LocatedList(), loader, node)
    data.extend([_construct(loader, child) for child in node.value])
    return data


def _construct(loader: Any, node: yaml.Node) -> Any:
    """`loader.construct_object(node, deep=True)`, with a shortcut for plain strings, maps and lists (almost
    every node): the same result and errors, without looking up the constructor of each node."""
    if node.tag == _STR_TAG and type(node) is yaml.ScalarNode:
        return node.value
    construct = _COLLECTIONS.get((type(node), node.tag))
    if construct is None or node in loader.constructed_objects or node in loader.recursive_objects:
        return loader.construct_object(node, deep=True)
    loader.recursive_objects[node] = None
    data = loader.constructed_objects[node] = construct(loader, node)
    del loader.recursive_objects[node]
    return data


_COLLECTIONS = {
    (yaml.MappingNode, "tag:yaml.org,2002:map"): _construct_map,
    (yaml.SequenceNode, "tag:yaml.org,2002:seq"): _construct_list,
}


def _construct_local_tag(loader: Any, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        text = loader.construct_scalar(node)
        return Unsafe(text) if suffix == "unsafe" else Vault(text) if suffix == "vault" else text
    if isinstance(node, yaml.SequenceNode):
        return _construct_list(loader, node)
    return _construct_map(loader, node)  # type: ignore[arg-type]  # neither a scalar nor a sequence: a mapping node
