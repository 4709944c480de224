"""Why ansible-core could not read an inventory, said at the line and column where the inventory is wrong.

When none of its plugins can read a file, ansible-core prints each plugin's complaint, without a line: the
YAML plugin's, then the INI plugin's about the same file, for instance. orchc then looks at the file itself, as
the format it is written in: YAML (by its name, or because it reads as a YAML map) is checked against the shape
ansible-core's YAML plugin reads, with PyYAML's positions; anything else is read again by ansible-core's INI
plugin, made to note the line it stops at. A folder is an inventory of the files in it, as for ansible-core.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchc.dsl.diagnostics import Diagnostic, DiagnosticError
from orchc.dsl.files import mark_span, read_text, yaml_error
from orchc.dsl.span import Span

if TYPE_CHECKING:
    import yaml

YAML_SUFFIXES = (".yml", ".yaml", ".json")  # ansible-core's YAML plugin reads these (and files without a suffix)
_YAML_HINT = (
    "in a YAML inventory each group maps `hosts:` (host names to their variables), `children:` (groups) "
    "and `vars:` (names to values), e.g. `all:` / `  hosts:` / `    web1:`"
)
_SECTION_HINTS = {
    "hosts": "write each host as a key (`web1:`, its variables below it, or nothing), not as a list item",
    "children": "write each child group as a key (`web:`, its hosts below it), not as a list item",
    "vars": "write each variable as `name: value`",
}
_SECTIONS = tuple(_SECTION_HINTS)  # a key may be a list: a dict would not take it
_INI_HINT = (
    "an INI inventory holds `[group]` lines, each followed by `host key=value ...` lines; "
    "`[group:vars]` by `key=value` lines; `[group:children]` by group names"
)
_RANGE_HINT = "write a host name, or a range with both brackets and a colon: web[1:3], db[a:c]"


def inventory_errors(path: Path) -> list[Diagnostic]:
    """What is wrong with the inventory `path` (a file or a folder of them), where; [] if orchc finds nothing."""
    if not path.is_dir():
        return _file_errors(path)
    if any(path.glob("*.orch")):
        return [
            Diagnostic(
                "error",
                f"'{path}' is a folder of .orch files, not an inventory",
                hint=f"pass the inventory file itself, e.g. -i {path / 'inventory.yml'}",
            )
        ]
    files = _folder_files(path)
    if not files:
        return [
            Diagnostic(
                "error",
                f"the inventory folder '{path}' holds no inventory file",
                hint="give an inventory file (INI or YAML) with -i, or a folder that holds some",
            )
        ]
    return [diagnostic for file in files for diagnostic in _file_errors(file)]


def not_utf8_errors(path: Path) -> list[Diagnostic]:
    """Where the inventory's files (`path`, or those of the folder `path`) are not UTF-8."""
    found: list[Diagnostic] = []
    for file in _folder_files(path) if path.is_dir() else [path]:
        try:
            read_text(file)
        except DiagnosticError as exc:
            found.extend(exc.diagnostics)
    return found


def _folder_files(folder: Path) -> list[Path]:
    """The files ansible-core reads as the inventory `folder`, in its order (hidden files, *.md, ... left out)."""
    from ansible.inventory.manager import IGNORED

    found: list[Path] = []
    for name in sorted(os.listdir(folder)):
        if not IGNORED.search(os.fsencode(name)):
            entry = folder / name
            found.extend(_folder_files(entry) if entry.is_dir() else [entry])
    return found


def _file_errors(file: Path) -> list[Diagnostic]:
    import yaml

    if file.suffix == ".toml":  # ansible-core's TOML plugin: its own complaint is all there is
        return []
    try:
        text = read_text(file)
    except DiagnosticError as exc:
        return exc.diagnostics
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        if file.suffix in YAML_SUFFIXES:
            return [yaml_error(exc, text, str(file), f"fix the YAML syntax at this point; {_YAML_HINT}")]
        return _ini_errors(file, text)
    if file.suffix in YAML_SUFFIXES or isinstance(root, yaml.MappingNode):
        return _YamlShape(str(file)).errors(root)
    return _ini_errors(file, text)


class _YamlShape:
    """The checks of ansible-core's YAML inventory plugin that fail a file, on PyYAML's nodes (which know where
    they are). What the plugin only warns about (a key it does not know, a group that is not a map) passes."""

    def __init__(self, shown: str) -> None:
        import yaml

        self.shown = shown
        self.found: list[Diagnostic] = []
        self.constructor = yaml.SafeLoader("")

    def errors(self, root: yaml.Node | None) -> list[Diagnostic]:
        import yaml

        if root is None:  # empty: ansible-core's INI plugin reads it, as no hosts
            return []
        if not isinstance(root, yaml.MappingNode):
            self._error(root, f"it must be a map of groups, not {_kind(root)}", _YAML_HINT)
        elif "plugin" not in self._keys(root):  # else the configuration of an inventory plugin
            for key, body in root.value:
                self._group(key.value, body)
        return self.found

    def _keys(self, node: yaml.MappingNode) -> list[Any]:
        return [self.constructor.construct_object(key) for key, _ in node.value]

    def _error(self, node: yaml.Node, problem: str, hint: str) -> None:
        start, end = node.start_mark, node.end_mark
        span = mark_span(self.shown, start)
        if end.line == start.line:  # the carets under the whole node
            span = Span(span.file, span.line, span.column, span.line, end.column + 1)
        self.found.append(Diagnostic("error", f"invalid YAML inventory: {problem}", span, hint))

    def _group(self, group: str, body: yaml.Node) -> None:
        import yaml

        if not isinstance(body, yaml.MappingNode):
            return
        for (_, value), section in zip(body.value, self._keys(body), strict=True):
            if section not in _SECTIONS or _empty(value) or value.tag == "tag:yaml.org,2002:str":
                continue  # ansible-core reads a string as a map of one key
            if not isinstance(value, yaml.MappingNode):
                self._error(
                    value, f"`{section}` of group '{group}' must be a map, not {_kind(value)}", _SECTION_HINTS[section]
                )
            elif section == "children":
                for child, child_body in value.value:
                    self._group(child.value, child_body)
            elif section == "hosts":
                for (host, host_vars), name in zip(value.value, self._keys(value), strict=True):
                    self._host(host, name, host_vars)

    def _host(self, host: yaml.Node, name: Any, host_vars: yaml.Node) -> None:
        import yaml

        problem = _host_pattern_problem(name)
        if problem:
            self._error(host, problem, _RANGE_HINT)
        if not (_empty(host_vars) or isinstance(host_vars, yaml.MappingNode)):
            self._error(
                host_vars,
                f"the variables of host '{name}' must be a map, not {_kind(host_vars)}",
                f"write them below the host as `name: value`, or nothing after `{name}:`",
            )


def _empty(node: yaml.Node) -> bool:
    return node.tag == "tag:yaml.org,2002:null" or not node.value


def _kind(node: yaml.Node) -> str:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a map"
    kinds = {"str": "a string", "int": "a number", "float": "a number", "bool": "true or false"}
    return kinds.get(node.tag.rsplit(":", 1)[-1], "a value")


def _host_pattern_problem(pattern: Any) -> str | None:
    """What ansible-core finds wrong with a host name or range (`web[1:3]`), in words; None if nothing."""
    from ansible.errors import AnsibleError
    from ansible.plugins.inventory.yaml import InventoryModule

    try:
        InventoryModule()._parse_host(pattern)
    except AnsibleError as exc:
        return str(exc.message)
    except Exception:  # a Python error from deep inside ansible-core ("not enough values to unpack")
        return f"'{pattern}' is neither a host name nor a range"
    return None


def _ini_errors(file: Path, text: str) -> list[Diagnostic]:
    from ansible.errors import AnsibleError
    from ansible.inventory.data import InventoryData
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.inventory.ini import InventoryModule

    class LineNoting(InventoryModule):  # type: ignore[misc]  # ansible-core ships no types: its InventoryModule is Any
        """ansible-core's INI plugin, noting the line it stops at (its error does not say it)."""

        failed_at: int | None = None

        def _parse(self, lines: list[str]) -> None:
            try:
                super()._parse(lines)
            except Exception:
                origin = getattr(self, "_origin", None)  # where ansible-core 2.19 counts lines; before, `lineno`
                self.failed_at = getattr(origin, "line_num", None) or getattr(self, "lineno", None)
                raise

    plugin = LineNoting()
    try:
        plugin.parse(InventoryData(), DataLoader(), os.path.abspath(file))
    except AnsibleError as exc:
        return [_ini_error(file, text.splitlines(), exc, plugin.failed_at or 1)]
    return []


def _ini_error(file: Path, lines: list[str], exc: Exception, line: int) -> Diagnostic:
    """The INI plugin's error at `line`, in the words of its first cause; the carets under the line's text."""
    from ansible.errors import AnsibleError

    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = lines[line - 1] if line <= len(lines) else ""
    first = len(text) - len(text.lstrip()) + 1
    words = text.split()
    range_problem = _host_pattern_problem(words[0]) if words and not isinstance(cause, AnsibleError) else None
    if range_problem:  # a Python error from deep inside ansible-core, about the host range that starts the line
        return Diagnostic(
            "error",
            f"invalid INI inventory: {range_problem}",
            Span(str(file), line, first, line, first + len(words[0])),
            _RANGE_HINT,
        )
    return Diagnostic(
        "error",
        f"invalid INI inventory: {getattr(cause, 'message', cause)}",
        Span(str(file), line, first, line, len(text.rstrip()) + 1),
        _INI_HINT,
    )
