"""Small helpers to write `.orch` text from converters.

Most converters pass their text through `orchc fmt` for the final layout. The
`canonical_*` helpers write text that is already in that layout (a converter
using only them needs no formatter, parser or lark at migrate time; its tests
check that `orchc fmt` leaves the text as it is).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

_KEYWORDS = frozenset(
    {
        "import",
        "type",
        "var",
        "role",
        "service",
        "task",
        "anchor",
        "after",
        "before",
        "requires",
        "provides",
        "on",
        "same",
        "host",
        "any",
        "once",
        "concurrency",
        "tolerate",
        "retries",
        "delay",
        "timeout",
        "when",
        "changed",
        "run",
        "copy",
        "template",
        "playbook",
        "ansible",
        "to",
        "mode",
        "owner",
        "vars",
        "services",
        "true",
        "false",
        "null",
        "become",
        "optional",
        "strict",
    }
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")


def ident(text: str) -> str:
    """A valid, readable .orch identifier for a foreign name ("primary-keystone" -> "primary_keystone")."""
    name = _NOT_IDENTIFIER.sub("_", text).strip("_") or "unnamed"
    if name[0].isdigit():
        name = "_" + name
    return name + "_" if name in _KEYWORDS else name


def string(text: str) -> str:
    """A .orch string literal; multi-line text becomes a triple-quoted string."""
    if "\n" in text and '"""' not in text and not text.endswith('"') and "\\" not in text:
        return '"""' + text + '"""'
    return json.dumps(text, ensure_ascii=False)


def value(data: Any) -> str:
    """A .orch value literal for YAML data: strings, numbers, booleans, lists and maps."""
    return _literal(data, _key, repr)


def _key(key: Any) -> str:
    text = str(key)
    return text if _IDENTIFIER.fullmatch(text) and text not in _KEYWORDS else string(text)


def _literal(data: Any, key: Callable[[Any], str], number: Callable[[float], str]) -> str:
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, int):
        return repr(data)
    if isinstance(data, float):
        return number(data)
    if data is None:
        return "null"
    if isinstance(data, (list, tuple)):
        return "[" + ", ".join(_literal(item, key, number) for item in data) + "]"
    if isinstance(data, dict):
        entries = ", ".join(f"{key(k)} = {_literal(v, key, number)}" for k, v in data.items())
        return "{ " + entries + " }" if entries else "{}"
    return string(str(data))


def comment(text: str) -> str:
    return "\n".join("# " + line if line else "#" for line in text.splitlines() or [""])


# --- text in `orchc fmt` layout ----------------------------------------------------------------

WIDTH = 100  # orchc fmt's line width
_CONTINUATION = "    "  # the indent of a wrapped name list's next lines


def canonical_comment(text: str, indent: str = "") -> str:
    """`text` as comment lines the way `orchc fmt` prints them (no trailing whitespace)."""
    return "\n".join(indent + ("# " + line).rstrip() for line in text.splitlines() or [""])


def canonical_value(data: Any) -> str:
    """The one-line form of `value` as `orchc fmt` prints it: identifier keys bare, floats without exponent."""
    return _literal(data, _canonical_key, _canonical_float)


def canonical_lines(prefix: str, data: Any, indent: str, suffix: str = "") -> list[str]:
    """`prefix`, the value of `data`, `suffix`, at `indent`: on one line when it fits in WIDTH columns and
    holds no multi-line string, else a map or list gets one entry per line, each with a trailing comma."""
    line = prefix + canonical_value(data) + suffix
    fits = "\n" not in line and len(indent) + len(line) <= WIDTH
    if fits or not data or not isinstance(data, (list, tuple, dict)):
        return [indent + line]
    if isinstance(data, dict):
        opening, closing, entries = "{", "}", [(f"{_canonical_key(k)} = ", v) for k, v in data.items()]
    else:
        opening, closing, entries = "[", "]", [("", item) for item in data]
    inner = [text for key, item in entries for text in canonical_lines(key, item, indent + "  ", ",")]
    return [indent + prefix + opening, *inner, indent + closing + suffix]


def canonical_names(keyword: str, names: list[str], indent: str) -> list[str]:
    """`keyword a, b, ...` at `indent`, wrapped after a comma where it would pass WIDTH columns."""
    rows = [f"{keyword} {names[0]}"]
    for name in names[1:]:
        room = WIDTH - len(indent) - (len(_CONTINUATION) if len(rows) > 1 else 0)
        if len(rows[-1]) + len(", ") + len(name) + len(",") <= room:
            rows[-1] += ", " + name
        else:
            rows[-1] += ","
            rows.append(name)
    return [indent + rows[0]] + [indent + _CONTINUATION + row for row in rows[1:]]


def _canonical_key(key: Any) -> str:
    text = str(key)
    return text if _IDENTIFIER.fullmatch(text) else string(text)


def _canonical_float(number: float) -> str:
    text = format(Decimal(repr(number)), "f")
    return text if "." in text else text + ".0"
