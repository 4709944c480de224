"""`diff -u` of two texts, as `patch -p0` applies it: what `orchc fmt --diff` and `orchc run --diff` print."""

from __future__ import annotations

import difflib


def unified_diff(old: str, new: str, fromfile: str, tofile: str) -> str:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile, tofile)
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
