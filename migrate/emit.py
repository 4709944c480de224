"""Names for converted content: `.orch` identifiers made from foreign names.

Converters build syntax trees (`orchc.dsl.build`) and `orchc.dsl.format` prints them;
the one thing the tree does not decide is which name a foreign task, role or service gets.
"""

from __future__ import annotations

import re

from orchc.dsl.keywords import keywords

_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")


def ident(text: str) -> str:
    """A valid, readable .orch identifier for a foreign name ("primary-keystone" -> "primary_keystone").

    A keyword gets a trailing underscore: keywords are not reserved, but a converted name never reads as one.
    """
    name = _NOT_IDENTIFIER.sub("_", text).strip("_") or "unnamed"
    if name[0].isdigit():
        name = "_" + name
    return name + "_" if name in keywords().words else name
