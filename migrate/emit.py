"""Small helpers to write `.orch` text from converters; `orchc fmt` gives the final layout."""

from __future__ import annotations

import json
import re
from typing import Any

_KEYWORDS = frozenset({
    "import", "type", "var", "role", "service", "task", "anchor", "after", "before", "requires",
    "provides", "on", "same", "host", "any", "once", "concurrency", "tolerate", "retries", "delay",
    "timeout", "when", "changed", "run", "copy", "template", "playbook", "ansible", "to", "mode",
    "owner", "vars", "services", "true", "false", "null", "become",
})


def ident(text: str) -> str:
    """A valid, readable .orch identifier for a foreign name ("primary-keystone" -> "primary_keystone")."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "unnamed"
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
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, (int, float)):
        return repr(data)
    if data is None:
        return "null"
    if isinstance(data, (list, tuple)):
        return "[" + ", ".join(value(item) for item in data) + "]"
    if isinstance(data, dict):
        entries = ", ".join(f"{_key(k)} = {value(v)}" for k, v in data.items())
        return "{ " + entries + " }" if entries else "{}"
    return string(str(data))


def _key(key: Any) -> str:
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) and text not in _KEYWORDS else string(text)


def comment(text: str) -> str:
    return "\n".join("# " + line if line else "#" for line in text.splitlines() or [""])
