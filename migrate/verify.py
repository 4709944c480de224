"""Converters print `.orch` text through the formatter, which also proves that it parses."""

from __future__ import annotations

from orchc.dsl.format import format_source


def formatted(text: str, name: str = "<converted>") -> str:
    """`text` in `orchc fmt` layout; a parse error here is a converter bug and raises."""
    return format_source(text, name)
