"""A fast reader for the plainest YAML: block maps and lists of plain words, which most generated files are.

`read_plain` returns what `yaml_source` would load from the text (the same
data, maps and lists in the same places), or None when the text uses
anything else: quotes, anchors, tags, block scalars, flow collections other
than `[]` and `{}`, multi-line or non-string scalars (`1`, `yes`, dates),
comments after a value, tabs, non-ASCII text. PyYAML then reads it, so every
diagnostic of bad input stays PyYAML's. It reads Task-Core's service files in
half the time of libyaml's composer, which builds a Python object per node.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_TEXT = re.compile(r"[ -~\n]*")  # printable ASCII: no tab, carriage return or byte-order mark
_KEY = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_./-]{0,200}):(?: +(.*))?")  # `key:` or `key: value`
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")  # a plain scalar starting with one is left to PyYAML
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()  # the loaders' (PyYAML's safe loaders)
_RESOLVED_FIRST = frozenset(_RESOLVER.yaml_implicit_resolvers)  # first characters of `1`, `yes`, `~`, dates, ...


class _NotPlain(Exception):
    """The text uses YAML that only PyYAML reads."""


def read_plain(text: str, file: str, map_type: type[dict[Any, Any]], list_type: type[list[Any]]) -> Any | None:
    """The data of `text` if it is plain block YAML (see the module doc), else None.

    Maps and lists are made as `map_type` and `list_type`, with the `file`, `line` and `column` they start at.
    """
    if not _TEXT.fullmatch(text) or None in _RESOLVED_FIRST:
        return None
    reader = _Reader(text, file, map_type, list_type)
    try:
        return reader.document()
    except _NotPlain:
        return None


class _Reader:
    def __init__(self, text: str, file: str, map_type: type[dict[Any, Any]], list_type: type[list[Any]]) -> None:
        self.file, self.map_type, self.list_type = file, map_type, list_type
        self.rows: list[tuple[int, int, str, bool]] = []  # (line, indent, text, is it a `- ` item) of each line
        for number, line in enumerate(text.split("\n"), 1):  # but blanks and comments
            content = line.lstrip(" ")
            if content and content[0] != "#":
                indent = len(line) - len(content)
                content = content.rstrip(" ")
                self.rows.append((number, indent, content, content == "-" or content.startswith("- ")))
        self.rows.append((0, -1, "", False))  # the end, less indented than any row: every block ends there
        self.next = 0  # the row to read

    def document(self) -> Any:
        if len(self.rows) == 1:
            raise _NotPlain
        data = self.block(self.rows[0][1])
        if self.next != len(self.rows) - 1:
            raise _NotPlain
        return data

    def block(self, indent: int) -> Any:
        """The map or list whose first row is the next one, at `indent`."""
        return self.sequence(indent) if self.rows[self.next][3] else self.mapping(indent)

    def mapping(self, indent: int) -> dict[Any, Any]:
        data = self.placed(self.map_type(), self.rows[self.next][0], indent)
        while True:
            line, row_indent, content, is_item = self.rows[self.next]
            if row_indent < indent or (row_indent == indent and is_item):
                return data
            match = _KEY.fullmatch(content)
            if row_indent > indent or match is None:
                raise _NotPlain
            self.next += 1
            key, value = self.word(match[1]), match[2]
            _, next_indent, _, next_is_item = self.rows[self.next]
            if value is not None:
                data[key] = self.inline(value, line, indent + len(content) - len(value), indent)
            elif next_indent > indent:
                data[key] = self.block(next_indent)
            elif next_indent == indent and next_is_item:
                data[key] = self.sequence(indent)  # a list may sit at its key's indent
            else:
                data[key] = None

    def sequence(self, indent: int) -> list[Any]:
        data = self.placed(self.list_type(), self.rows[self.next][0], indent)
        while True:
            line, row_indent, content, is_item = self.rows[self.next]
            if row_indent < indent or not is_item:
                return data
            if row_indent > indent:
                raise _NotPlain
            item = content[1:].lstrip(" ")
            item_indent = indent + len(content) - len(item)
            if not item:
                self.next += 1
                below = self.rows[self.next][1]
                data.append(self.block(below) if below > indent else None)
            elif _KEY.fullmatch(item):  # `- key: value` starts a map at the key's column
                self.rows[self.next] = (line, item_indent, item, False)
                data.append(self.mapping(item_indent))
            else:
                self.next += 1
                data.append(self.inline(item, line, item_indent, indent))

    def inline(self, text: str, line: int, indent: int, parent_indent: int) -> Any:
        """A value written on its row, at column `indent` (0-based): `[]`, `{}` or a word; nothing may
        follow on more indented rows (that would continue it)."""
        if self.rows[self.next][1] > parent_indent:
            raise _NotPlain
        if text == "[]":
            return self.placed(self.list_type(), line, indent)
        if text == "{}":
            return self.placed(self.map_type(), line, indent)
        return self.word(text)

    def word(self, text: str) -> str:
        """A plain scalar that YAML reads as this very string."""
        if text[0] in _INDICATORS or ": " in text or " #" in text or text[-1] == ":":
            raise _NotPlain
        if text[0] in _RESOLVED_FIRST and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) != _STR_TAG:
            raise _NotPlain
        return text

    def placed(self, data: Any, line: int, indent: int) -> Any:
        data.file, data.line, data.column = self.file, line, indent + 1
        return data
