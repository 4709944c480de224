"""`orchc fmt`: print an AST back as canonical `.orch` text.

The layout follows from the AST, its comments and where the source left blank
lines, nothing else, so formatting is idempotent:
- 2-space indent, one statement per line, `{` on the line that opens the block;
- one blank line between top-level items (consecutive `var` lines stay
  together unless the source separates them); inside blocks, one blank line
  where the source had at least one;
- items and statements in the order they were written (repeated `after`,
  `before` and `services` statements are merged into the first one);
- maps and lists on one line when they fit in 100 columns and hold no comment
  or multi-line string, else one entry per line with a trailing comma; long
  `after`, `before` and `services` lists wrap after a comma;
- strings re-quoted canonically, triple-quoted strings stay triple-quoted;
  numbers in their shortest form; durations as written;
- comments kept: an own-line comment stays above the statement that follows
  it, a trailing comment stays at the end of its statement's line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from orchc.dsl import ast
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError
from orchc.dsl.parser import parse_file, parse_text

_WIDTH = 100
_INDENT = "  "
_CONTINUATION = "    "  # the indent of a wrapped list's next lines, under its statement
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_NEVER = 1 << 62  # a line after every line: "nothing follows"


def format_source(text: str, file: str) -> str:
    """Canonical text of a `.orch` source (raises DiagnosticError on syntax errors)."""
    return format_module(parse_text(text, file))


def format_module(module: ast.Module) -> str:
    """Canonical text of a parsed module, with its comments."""
    printer = _Printer(module.comments)
    for statement in module.imports:
        printer.statement(statement.span, f"import {_string(statement.path)}", _NEVER)
    for index, item in enumerate(module.items):
        previous = module.items[index - 1] if index else None
        variables_in_a_row = isinstance(previous, ast.VarDecl) and isinstance(item, ast.VarDecl)
        if (previous is not None or module.imports) and not variables_in_a_row:
            printer.blank_before_next()
        next_line = module.items[index + 1].span.line if index + 1 < len(module.items) else _NEVER
        _ITEM_PRINTERS[type(item)](printer, item, next_line)
    printer.remaining_comments()
    return printer.text()


@dataclass
class FormatOutcome:
    """What `format_paths` found: files that change, files already canonical, syntax errors."""

    changed: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    texts: dict[Path, tuple[str, str]] = field(default_factory=dict)  # each changed file: its text, canonical text
    diagnostics: list[Diagnostic] = field(default_factory=list)


def orch_files(path: Path) -> list[Path]:
    """`path` itself if it is a file, else every `*.orch` below it, sorted."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*.orch") if p.is_file())
    if path.is_file():
        return [path]
    raise DiagnosticError(
        [Diagnostic("error", f"no such file or folder: {path}", hint="give a .orch file or a folder of them")]
    )


def format_paths(path: Path, write: bool) -> FormatOutcome:
    """Format every `.orch` file of `path`; rewrite those that change when `write` is true.

    A file with syntax errors is left as it is and its diagnostics are returned;
    the other files are still formatted.
    """
    outcome = FormatOutcome()
    for file in orch_files(path):
        try:
            module = parse_file(file)
        except DiagnosticError as exc:
            outcome.diagnostics.extend(exc.diagnostics)
            continue
        text = format_module(module)
        data = file.read_bytes()
        if data == text.encode("utf-8"):  # CRLF line ends or a byte-order mark are changes
            outcome.unchanged.append(file)
            continue
        outcome.changed.append(file)
        outcome.texts[file] = (data.decode("utf-8"), text)
        if write:
            file.write_text(text, encoding="utf-8")
    return outcome


# --- values ----------------------------------------------------------------------------


def _string(value: ast.Str) -> str:
    if value.triple and '"""' not in value.value and not value.value.endswith('"'):
        return f'"""{value.value}"""'
    return json.dumps(value.value, ensure_ascii=False)


def _float(value: float) -> str:
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else text + ".0"


def name_or_string(name: str) -> str:
    """A map key or an inventory group as the language writes it: bare where it is an identifier, else quoted."""
    return name if _IDENTIFIER.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _inline(value: ast.Value) -> str:
    """The one-line form of a value."""
    if isinstance(value, ast.Str):
        return _string(value)
    if isinstance(value, ast.Bool):
        return "true" if value.value else "false"
    if isinstance(value, ast.Int):
        return str(value.value)
    if isinstance(value, ast.Float):
        return _float(value.value)
    if isinstance(value, ast.Null):
        return "null"
    if isinstance(value, ast.Duration):
        return value.text
    if isinstance(value, ast.ListValue):
        return "[" + ", ".join(_inline(item) for item in value.items) + "]"
    if not value.entries:
        return "{}"
    return "{ " + ", ".join(f"{name_or_string(e.key)} = {_inline(e.value)}" for e in value.entries) + " }"


def _names(names: list[ast.Name]) -> str:
    return ", ".join(name.value for name in names)


# --- the printer -------------------------------------------------------------------------


class _Printer:
    """Writes lines at the current depth and places comments by source line."""

    def __init__(self, comments: list[ast.Comment]) -> None:
        self.lines: list[str] = []
        self.comments = sorted(comments, key=lambda c: (c.line, c.column))
        self.next_comment = 0
        self.depth = 0
        self.last_line = 0  # last source line printed, to keep blank lines between statements
        self.at_block_start = True
        self.force_blank = False

    def text(self) -> str:
        return "\n".join(self.lines) + "\n" if self.lines else ""

    # --- lines

    def blank_before_next(self) -> None:
        self.force_blank = True

    def write(self, text: str, source_line: int, closing: bool = False) -> None:
        wanted = self.force_blank or (source_line > self.last_line + 1 and not closing)
        if wanted and not self.at_block_start and self.lines and self.lines[-1]:
            self.lines.append("")
        self.lines.append(_INDENT * self.depth + text)
        self.last_line = max(self.last_line, source_line)
        self.at_block_start = False
        self.force_blank = False

    def open_block(self) -> None:
        self.depth += 1
        self.at_block_start = True

    def close_block(self) -> None:
        self.depth -= 1
        self.at_block_start = False

    # --- comments

    def _peek(self) -> ast.Comment | None:
        return self.comments[self.next_comment] if self.next_comment < len(self.comments) else None

    def comments_before(self, line: int) -> None:
        """Print, on lines of their own, the comments written before `line`."""
        while (comment := self._peek()) is not None and comment.line < line:
            self.write(comment.text, comment.line)
            self.next_comment += 1

    def has_comment_within(self, first_line: int, last_line: int) -> bool:
        comment = self._peek()
        return comment is not None and first_line <= comment.line < last_line

    def trailing(self, line: int, next_line: int) -> None:
        """Append the comment of `line` to the last printed line, unless more follows on `line`."""
        comment = self._peek()
        if comment is not None and comment.line == line and next_line > line:
            self.lines[-1] += "  " + comment.text
            self.next_comment += 1

    def remaining_comments(self) -> None:
        self.comments_before(_NEVER)

    # --- statements

    def statement(self, span: ast.Span, text: str, next_line: int, continued: list[str] | None = None) -> None:
        """A statement printed on one line (and its `continued` lines): comments inside it go above it."""
        self.comments_before(span.end_line)
        self.write(text, span.line)
        self.lines.extend(_INDENT * self.depth + _CONTINUATION + line for line in continued or [])
        self.last_line = span.end_line
        self.trailing(span.end_line, next_line)

    def names(self, span: ast.Span, keyword: str, names: list[ast.Name], next_line: int) -> None:
        """`keyword a, b, ...`, wrapped after a comma where it would pass the line width."""
        width = _WIDTH - len(_INDENT * self.depth)
        rows = [f"{keyword} {names[0].value}"]
        for name in names[1:]:
            limit = width - (len(_CONTINUATION) if len(rows) > 1 else 0)
            if len(rows[-1]) + len(", ") + len(name.value) + len(",") <= limit:
                rows[-1] += ", " + name.value
            else:
                rows[-1] += ","
                rows.append(name.value)
        self.statement(span, rows[0], next_line, continued=rows[1:])

    def valued(self, span: ast.Span, prefix: str, value: ast.Value | None, next_line: int, suffix: str = "") -> None:
        """A statement ending in a value that may need several lines (a map or a list)."""
        if value is None:
            self.statement(span, prefix + suffix, next_line)
            return
        one_line = prefix + _inline(value) + suffix
        fits = "\n" not in one_line and len(_INDENT * self.depth + one_line) <= _WIDTH
        if not isinstance(value, (ast.MapValue, ast.ListValue)) or (
            fits and not self.has_comment_within(span.line, span.end_line)
        ):
            self.statement(span, one_line, next_line)
            return
        if isinstance(value, ast.MapValue):
            opening, closing = "{", "}"
            entries = [_Entry(e.span, f"{name_or_string(e.key)} = ", e.value) for e in value.entries]
        else:
            opening, closing = "[", "]"
            entries = [_Entry(item.span, "", item) for item in value.items]
        self.block(
            span,
            prefix + opening,
            entries,
            closing + suffix,
            next_line,
            lambda entry, following: self.valued(entry.span, entry.prefix, entry.value, following, ","),
            header_line=value.span.line,
        )

    def block(
        self,
        span: ast.Span,
        header: str,
        children: Sequence[_Entry | _Line],
        closing: str,
        next_line: int,
        print_child: Callable[[Any, int], None],
        header_line: int | None = None,
    ) -> None:
        """`header`, the children one per line, one level deeper, then `closing`.

        `header_line` is the source line of the opening bracket, where a comment
        would trail the header (a triple-quoted string before it can span lines).
        """
        header_line = span.line if header_line is None else header_line
        self.comments_before(span.line)
        starts = [child.span.line for child in children]
        if not children and not self.has_comment_within(span.line, span.end_line):
            self.write(header + closing, span.line)
            self.last_line = span.end_line
            self.trailing(span.end_line, next_line)
            return
        self.write(header, span.line)
        self.last_line = header_line
        self.trailing(header_line, starts[0] if starts else span.end_line)
        self.open_block()
        for index, child in enumerate(children):
            print_child(child, starts[index + 1] if index + 1 < len(children) else span.end_line)
        self.comments_before(span.end_line)
        self.close_block()
        self.write(closing, span.end_line, closing=True)
        self.last_line = span.end_line
        self.trailing(span.end_line, next_line)


@dataclass
class _Entry:
    """An entry of a map or list printed one per line."""

    span: ast.Span
    prefix: str
    value: ast.Value


@dataclass
class _Line:
    """A statement of a block, with how to print it."""

    span: ast.Span
    print: Callable[[_Printer, int], None]


def _print_lines(printer: _Printer, span: ast.Span, header: str, lines: list[_Line], next_line: int) -> None:
    lines.sort(key=lambda line: (line.span.line, line.span.column))
    printer.block(span, header, lines, "}", next_line, lambda line, following: line.print(printer, following))


def _line(span: ast.Span, text: str) -> _Line:
    return _Line(span, lambda printer, next_line: printer.statement(span, text, next_line))


def _valued_line(span: ast.Span, prefix: str, value: ast.Value | None, suffix: str = "") -> _Line:
    return _Line(span, lambda printer, next_line: printer.valued(span, prefix, value, next_line, suffix))


def _covering(names: list[ast.Name]) -> ast.Span:
    first, last = names[0].span, names[-1].span
    return ast.Span(first.file, first.line, first.column, last.end_line, last.end_column)


def _names_line(keyword: str, names: list[ast.Name]) -> list[_Line]:
    if not names:
        return []
    span = _covering(names)
    return [_Line(span, lambda printer, next_line: printer.names(span, keyword, names, next_line))]


# --- declarations ----------------------------------------------------------------------


def _type_decl(printer: _Printer, decl: ast.TypeDecl, next_line: int) -> None:
    lines = [
        _valued_line(f.span, f"{f.name}: {f.type.name}" + (" = " if f.default is not None else ""), f.default)
        for f in decl.fields
    ]
    _print_lines(printer, decl.span, f"type {decl.name} {{", lines, next_line)


def _var_decl(printer: _Printer, decl: ast.VarDecl, next_line: int) -> None:
    prefix = f"var {decl.name}: {decl.type.name}" + (" = " if decl.default is not None else "")
    printer.valued(decl.span, prefix, decl.default, next_line)


def _role_decl(printer: _Printer, decl: ast.RoleDecl, next_line: int) -> None:
    lines = _names_line("services", decl.services)
    if decl.tolerate is not None:
        lines.append(_line(decl.tolerate.span, f"tolerate {_inline(decl.tolerate.value)}"))
    optional = " optional" if decl.optional else ""
    _print_lines(printer, decl.span, f"role {name_or_string(decl.name)}{optional} {{", lines, next_line)


def _service_decl(printer: _Printer, decl: ast.ServiceDecl, next_line: int) -> None:
    lines = [_Line(task.span, lambda p, following, task=task: _task_decl(p, task, following)) for task in decl.tasks]
    _print_lines(printer, decl.span, f"service {decl.name} {{", lines, next_line)


def _anchor_decl(printer: _Printer, decl: ast.AnchorDecl, next_line: int) -> None:
    lines = _names_line("after", decl.after) + _capability_lines(decl.requires, decl.provides)
    _print_lines(printer, decl.span, f"anchor {decl.name} {{", lines, next_line)


def _task_decl(printer: _Printer, task: ast.TaskDecl, next_line: int) -> None:
    lines = _names_line("after", task.after) + _names_line("before", task.before)
    lines += _capability_lines(task.requires, task.provides)
    if task.concurrency is not None:
        lines.append(_line(task.concurrency.span, f"concurrency {task.concurrency.value}"))
    if task.retries is not None:
        delay = f" delay {task.retries.delay.text}" if task.retries.delay else ""
        lines.append(_line(task.retries.span, f"retries {task.retries.count.value}{delay}"))
    if task.timeout is not None:
        lines.append(_line(task.timeout.span, f"timeout {task.timeout.text}"))
    if task.when is not None:
        when = task.when
        merged = len(when.kinds()) > 1  # statements merged into one node: each line where its part was
        if when.expr is not None:
            lines.append(_line(when.expr.span if merged else when.span, f"when {_string(when.expr)}"))
        if when.changed:
            lines.append(
                _line(_covering(when.changed) if merged else when.span, f"when changed({_names(when.changed)})")
            )
        if when.ansible is not None:
            lines.append(_line(when.ansible.span if merged else when.span, f"when ansible {_string(when.ansible)}"))
        if when.notified:
            notifiers = ", ".join(n.name.value + (f" {_string(n.topic)}" if n.topic else "") for n in when.notified)
            span = _covering([n.name for n in when.notified]) if merged else when.span
            lines.append(_line(span, f"when notified({notifiers})"))
    if task.become:
        lines.append(_line(task.become_span or task.name_span, "become"))
    lines += [_action_line(action) for action in task.actions]
    once = " once" if task.once else ""
    _print_lines(printer, task.span, f"task {task.name}{once} {{", lines, next_line)


def _capability_lines(requires: list[ast.Requirement], provides: list[ast.Provision]) -> list[_Line]:
    lines = [
        _line(r.span, f"requires {r.name}{_type_suffix(r.type)}{_scope(r.scope)}" + (" optional" if r.optional else ""))
        for r in requires
    ]
    for provision in provides:
        fields = None
        if provision.fields:
            entries = [ast.MapEntry(f.name, f.value, f.span) for f in provision.fields]
            fields = ast.MapValue(entries, provision.span)
        prefix = f"provides {provision.name}{_type_suffix(provision.type)}" + (" " if fields is not None else "")
        lines.append(_valued_line(provision.span, prefix, fields))
    return lines


def _type_suffix(type_name: ast.Name | None) -> str:
    return f": {type_name.value}" if type_name else ""


def _scope(scope: ast.Scope) -> str:
    if scope.kind == "same_host":
        return " on same host"
    if scope.kind == "any":
        return " on any"
    if scope.kind == "role" and scope.role is not None:
        return f" on role {name_or_string(scope.role.value)}"
    return ""


def _action_line(action: ast.Action) -> _Line:
    if isinstance(action, ast.Run):
        return _line(action.span, f"run {_string(action.command)}")
    if isinstance(action, (ast.Copy, ast.Template)):
        keyword = "copy" if isinstance(action, ast.Copy) else "template"
        text = f"{keyword} {_string(action.src)} to {_string(action.dest)}"
        text += f" mode {_string(action.mode)}" if action.mode else ""
        text += f" owner {_string(action.owner)}" if action.owner else ""
        return _line(action.span, text)
    if isinstance(action, ast.Playbook):
        prefix = f"playbook {_string(action.path)}" + (" vars " if action.vars is not None else "")
        return _valued_line(action.span, prefix, action.vars)
    if isinstance(action, ast.AnsibleModule):
        return _valued_line(action.span, f"ansible {action.module} ", action.args)
    name = action.name if _DOTTED.fullmatch(action.name) else json.dumps(action.name, ensure_ascii=False)
    return _valued_line(action.span, f"role {name}" + (" vars " if action.vars is not None else ""), action.vars)


_ITEM_PRINTERS: dict[type, Callable[[_Printer, ast.Item, int], None]] = {
    ast.TypeDecl: _type_decl,  # type: ignore[dict-item]  # each printer takes its own Item type; the printer looks it up by type(item)
    ast.VarDecl: _var_decl,  # type: ignore[dict-item]  # each printer takes its own Item type; the printer looks it up by type(item)
    ast.RoleDecl: _role_decl,  # type: ignore[dict-item]  # each printer takes its own Item type; the printer looks it up by type(item)
    ast.ServiceDecl: _service_decl,  # type: ignore[dict-item]  # each printer takes its own Item type; the printer looks it up by type(item)
    ast.AnchorDecl: _anchor_decl,  # type: ignore[dict-item]  # each printer takes its own Item type; the printer looks it up by type(item)
    ast.StrictDecl: lambda printer, decl, next_line: printer.statement(decl.span, "strict", next_line),
}
