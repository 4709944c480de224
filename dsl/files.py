"""The files a user gives orchc, read as text: one that is missing, unreadable, not UTF-8 or not valid YAML is
a diagnostic — where it is wrong (file:line:col), what is wrong and how to fix it — never a traceback.

`.orch` files, `plan.json`, `--vars`, `--secrets`, inventories and the converters' YAML are read here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchc.dsl.diagnostics import Diagnostic, DiagnosticError
from orchc.dsl.span import Span

if TYPE_CHECKING:
    import yaml

# PyYAML is imported by the functions that read YAML: the parser imports this module.


def read_text(path: Path, shown: str | None = None, hint: str = "check the path you gave") -> str:
    """The text of `path`, without a byte-order mark; `shown` names it in messages (default: the path)."""
    shown = shown or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DiagnosticError([Diagnostic("error", f"cannot read {shown}: {exc.strerror or exc}", hint=hint)]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DiagnosticError([_not_utf8(data, exc.start, shown)]) from None


def _not_utf8(data: bytes, start: int, shown: str) -> Diagnostic:
    """At the line and column of the first byte that is not UTF-8 (what comes before it is)."""
    before = data[:start].decode("utf-8-sig")
    line = before.count("\n") + 1
    column = len(before) - before.rfind("\n")
    return Diagnostic(
        "error",
        f"cannot read {shown}: it is not UTF-8 text (byte 0x{data[start]:02x})",
        Span(shown, line, column, line, column + 1),
        hint="the file must be UTF-8: save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
    )


def load_yaml(path: Path) -> Any:
    """The YAML document in `path` (plain types only); a syntax error is a diagnostic at its line and column."""
    import yaml

    text = read_text(path)
    try:
        return yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise DiagnosticError([yaml_error(exc, text, str(path), "fix the YAML syntax at this point")]) from None


def load_yaml_map(path: Path, what: str, example: str) -> dict[Any, Any]:
    """A YAML file of names and values (empty: none); `what` names it ("the secrets file"), `example` is one entry."""
    import yaml

    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        root = yaml.compose(read_text(path), Loader=yaml.SafeLoader)  # where the document starts, after comments
        kind = "list" if isinstance(data, list) else type(data).__name__
        raise DiagnosticError(
            [
                Diagnostic(
                    "error",
                    f"{what} must be a YAML map of names to values, not a {kind}",
                    mark_span(str(path), root.start_mark),
                    hint=f"write one `{example}` per line",
                )
            ]
        )
    return data


def mark_span(shown: str, mark: yaml.Mark) -> Span:
    """Where PyYAML's `mark` (0-based) is in the file `shown`."""
    return Span(shown, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2)


def yaml_error(exc: yaml.YAMLError, text: str, shown: str, hint: str) -> Diagnostic:
    """PyYAML's error in `text` (the file `shown`) at its line and column; `hint` for a syntax error."""
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        context = exc.context_mark if exc.problem and exc.context and exc.context_mark != mark else None
        return Diagnostic(
            "error",
            f"invalid YAML: {exc.problem or exc.context or exc}",
            mark_span(shown, mark) if mark else Span(shown, 1, 1, 1, 2),
            hint,
            [(str(exc.context), mark_span(shown, context))] if context else [],
        )
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        return Diagnostic(
            "error",
            f"invalid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}",
            Span(shown, line, column, line, column + 1),
            "remove the character, or write it as an escape in a quoted string",
        )
    return Diagnostic("error", f"invalid YAML: {exc}", Span(shown, 1, 1, 1, 2), hint)
