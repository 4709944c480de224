"""Where something was written in a `.orch` (or converted) file.

Apart from the syntax tree (`orchc.dsl.ast`, which re-exports it): diagnostics and the
converters point at sources without importing the tree's classes (~10 ms at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """1-based line and column of the first character; end is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"
