"""Converters check the `.orch` text they write: it must parse (and is printed in `orchc fmt` layout)."""

from __future__ import annotations

from orchc.dsl.parser import parse_text


def formatted(text: str, name: str = "<converted>") -> str:
    """`text`, checked by the parser; a parse error here is a converter bug and raises."""
    parse_text(text, name)
    return text
