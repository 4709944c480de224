"""Ansible YAML read with line numbers, and written back as plain YAML.

Every mapping loaded here is a `Mapping` (a dict that knows the file and line it
starts at), every sequence a `Sequence`, so that the converter can name
`file:line` for each play, task and report entry. Ansible's own tags are kept:
`!unsafe` strings stay unsafe when written back, `!vault` blocks are kept as
written (they are secrets: orchc never decrypts them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orchc.dsl.ast import Span
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError


class Mapping(dict):
    """A YAML mapping with the place it was written at."""

    file: str = "?"
    line: int = 0
    column: int = 0

    def where(self) -> str:
        return f"{self.file}:{self.line}"


class Sequence(list):
    file: str = "?"
    line: int = 0


class Unsafe(str):
    """An `!unsafe` string: Ansible never templates it."""


class Vault(str):
    """A `!vault` encrypted value, kept verbatim."""


class _Loader(yaml.SafeLoader):
    file = "?"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Mapping:  # type: ignore[override]
        self.flatten_mapping(node)
        mapping = Mapping()
        mapping.file, mapping.line, mapping.column = self.file, node.start_mark.line + 1, node.start_mark.column + 1
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            mapping[key if isinstance(key, (str, int, float, bool)) or key is None else str(key)] = \
                self.construct_object(value_node, deep=True)
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> Sequence:  # type: ignore[override]
        sequence = Sequence(self.construct_object(child, deep=True) for child in node.value)
        sequence.file, sequence.line = self.file, node.start_mark.line + 1
        return sequence


def _construct_yaml_map(loader: _Loader, node: yaml.MappingNode):  # type: ignore[no-untyped-def]
    yield loader.construct_mapping(node)


def _construct_yaml_seq(loader: _Loader, node: yaml.SequenceNode):  # type: ignore[no-untyped-def]
    yield loader.construct_sequence(node)


def _construct_unknown_tag(loader: _Loader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        text = loader.construct_scalar(node)
        return Unsafe(text) if suffix == "unsafe" else Vault(text) if suffix == "vault" else text
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_yaml_seq)
_Loader.add_multi_constructor("!", _construct_unknown_tag)


def load_yaml(path: Path, shown_as: str) -> Any:
    """The YAML document in `path`; a syntax error becomes a diagnostic at its file:line:col."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DiagnosticError([Diagnostic("error", f"cannot read {shown_as}: {exc}",
                                          hint="check the path and that the file is UTF-8 text")]) from None
    loader = _Loader(text)
    loader.file = shown_as
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(shown_as, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2) if mark else None
        raise DiagnosticError([Diagnostic("error", f"invalid YAML: {exc.problem or exc.context}", span,
                                          hint="fix the YAML syntax; `ansible-playbook --syntax-check` shows the same")]) from None
    except yaml.YAMLError as exc:
        raise DiagnosticError([Diagnostic("error", f"invalid YAML in {shown_as}: {exc}")]) from None
    finally:
        loader.dispose()


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: _Dumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(text), style=style)


_Dumper.add_representer(Mapping, lambda d, m: d.represent_dict(dict(m)))
_Dumper.add_representer(Sequence, lambda d, s: d.represent_list(list(s)))
_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(Unsafe, lambda d, s: d.represent_scalar("!unsafe", str(s)))
_Dumper.add_representer(Vault, lambda d, s: d.represent_scalar("!vault", str(s), style="|"))


def dump_yaml(data: Any) -> str:
    """YAML text Ansible reads back as the same data (key order kept)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
