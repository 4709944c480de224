"""Diagnostics: what is wrong, where (file:line:col with the line and a caret), and how to fix it.

Every pass reports problems through a `Diagnostics` collector so that one run
shows as many errors as it can. `DiagnosticError` carries them to the command
line, which prints them and exits with status 1.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from orchc.dsl.span import Span

Severity = Literal["error", "warning"]


@dataclass
class Diagnostic:
    severity: Severity
    message: str  # what is wrong
    span: Span | None = None  # where; None for problems with no source position
    hint: str | None = None  # how to fix it
    notes: list[tuple[str, Span | None]] = field(default_factory=list)  # related places


class DiagnosticError(Exception):
    """Raised to stop at the end of a pass that found errors."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("\n".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


class Diagnostics:
    """Collects diagnostics of one run, in the order they were found."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(
        self,
        message: str,
        span: Span | None = None,
        hint: str | None = None,
        notes: list[tuple[str, Span | None]] | None = None,
    ) -> None:
        self.items.append(Diagnostic("error", message, span, hint, notes or []))

    def warning(
        self,
        message: str,
        span: Span | None = None,
        hint: str | None = None,
        notes: list[tuple[str, Span | None]] | None = None,
    ) -> None:
        self.items.append(Diagnostic("warning", message, span, hint, notes or []))

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise DiagnosticError(self.items)


class SpanFields(Protocol):
    file: str
    line: int
    column: int
    end_line: int
    end_column: int


def span_under(root: str | Path, source: SpanFields) -> Span:
    """A span whose file is relative to `root` (as in a Plan) made into one that can be shown."""
    return Span(str(Path(root) / source.file), source.line, source.column, source.end_line, source.end_column)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean ..." hint for a near-miss name, or None."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class SourceCache:
    """Reads source lines for rendering, once per file."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self._lines: dict[str, list[str]] = {}

    def line(self, file: str, number: int) -> str | None:
        if file not in self._lines:
            path = Path(file) if self.root is None else self.root / file
            try:
                self._lines[file] = path.read_bytes().decode("utf-8-sig", errors="replace").splitlines()
            except OSError:
                self._lines[file] = []
        lines = self._lines[file]
        return lines[number - 1] if 0 < number <= len(lines) else None


def render(diagnostic: Diagnostic, sources: SourceCache) -> str:
    """Plain-text rendering, as compilers print it:

    keystone.orch:12:5: error: unknown task 'instal' in 'after'
       12 |     after instal
          |           ^^^^^^
      hint: did you mean 'install'?
    """
    out: list[str] = []
    location = f"{diagnostic.span}: " if diagnostic.span else ""
    out.append(f"{location}{diagnostic.severity}: {diagnostic.message}")
    if diagnostic.span:
        out.extend(_excerpt(diagnostic.span, sources))
    for note, span in diagnostic.notes:
        out.append(f"  note: {span}: {note}" if span else f"  note: {note}")
    if diagnostic.hint:
        out.append(f"  hint: {diagnostic.hint}")
    return "\n".join(out)


EXCERPT_WIDTH = 100  # characters of a longer line shown, around the column


def _excerpt(span: Span, sources: SourceCache) -> list[str]:
    text = sources.line(span.file, span.line)
    if text is None:
        return []
    text = text.expandtabs(1)
    width = len(str(span.line))
    end = span.end_column if span.end_line == span.line and span.end_column > span.column else len(text) + 1
    start, stop = span.column - 1, min(end, len(text) + 1) - 1  # where the carets start and stop, 0-based
    first = max(0, min(start - EXCERPT_WIDTH // 4, len(text) - EXCERPT_WIDTH))  # a window of a long line
    last = first + EXCERPT_WIDTH
    window = "".join(c if c.isprintable() else "\ufffd" for c in text[first:last])  # no control characters
    shown = ("..." if first else "") + window + ("..." if last < len(text) else "")
    offset = start - first + (3 if first else 0)
    carets = "^" * max(1, min(stop, last) - start)
    gutter = " " * width
    return [f"  {span.line} | {shown}", f"  {gutter} | {' ' * offset}{carets}"]


def render_all(diagnostics: Iterable[Diagnostic], sources: SourceCache) -> str:
    items = list(diagnostics)
    errors = sum(1 for d in items if d.severity == "error")
    warnings = len(items) - errors
    body = "\n\n".join(render(d, sources) for d in items)
    summary = []
    if errors:
        summary.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        summary.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return body + ("\n\n" + ", ".join(summary) if summary else "")
