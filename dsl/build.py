"""Syntax trees made by programs (the converters), laid out as if they had been written.

The formatter (`dsl/format.py`) places statements, blank lines and comments
by the source lines of the nodes. `Lines` hands out lines in the order the
parts of a file are to be printed, so that `format_module` prints a built tree
in that layout: `blank()` leaves a blank line, `comment()` puts comment lines
above what comes next. Values need no lines of their own: a value prints on its
statement's line, or one entry per line where it is too long.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from orchc.dsl import ast
from orchc.dsl.format import format_module

NOWHERE = ast.Span("<built>", 0, 0, 0, 0)  # the span of a value: it prints on the line of its statement


class Lines:
    """The lines of one built file, handed out in print order, and its comments."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.last = 0
        self.comments: list[ast.Comment] = []

    def next(self) -> ast.Span:
        self.last += 1
        return ast.Span(self.file, self.last, 1, self.last, 1)

    def blank(self) -> None:
        self.last += 1

    def comment(self, text: str) -> None:
        """`text` as comment lines, one per line of it."""
        for line in text.splitlines() or [""]:
            self.comments.append(ast.Comment(("# " + line).rstrip(), self.next().line, 1))

    def close(self, start: ast.Span) -> ast.Span:
        """The span of a block opened at `start`, closed on the next line."""
        return ast.Span(self.file, start.line, 1, self.next().line, 1)

    def text(self, items: list[ast.Item]) -> str:
        """The file's text in `orchc fmt` layout."""
        return format_module(ast.Module(self.file, [], items, self.comments))


# --- values ------------------------------------------------------------------------------------


def string(text: str) -> ast.Str:
    """A string; multi-line text is written triple-quoted where it can be."""
    triple = "\n" in text and '"""' not in text and not text.endswith('"') and "\\" not in text
    return ast.Str(text, NOWHERE, triple)


def value(data: Any) -> ast.Value:
    """The value of YAML data: strings, numbers, booleans, null, lists and maps; anything else as its text."""
    if isinstance(data, bool):
        return ast.Bool(data, NOWHERE)
    if isinstance(data, int):
        return ast.Int(data, NOWHERE)
    if isinstance(data, float):
        return ast.Float(data, NOWHERE)
    if data is None:
        return ast.Null(NOWHERE)
    if isinstance(data, (list, tuple)):
        return ast.ListValue([value(item) for item in data], NOWHERE)
    if isinstance(data, dict):
        return mapping(data)
    return string(str(data))


def mapping(data: dict[Any, Any]) -> ast.MapValue:
    return ast.MapValue([ast.MapEntry(str(k), value(v), NOWHERE) for k, v in data.items()], NOWHERE)


# --- statements ---------------------------------------------------------------------------------


@dataclass
class After:
    names: list[str]


@dataclass
class Concurrency:
    count: int


@dataclass
class Become:
    pass


@dataclass
class Timeout:
    seconds: int


@dataclass
class Note:
    """Comment lines among the statements."""

    text: str


Statement = (
    After
    | Concurrency
    | Become
    | Timeout
    | Note
    | ast.Retries
    | ast.Requirement
    | ast.Provision
    | ast.When
    | ast.Action
)


def seconds(count: int) -> ast.Duration:
    return ast.Duration(float(count), f"{count}s", NOWHERE)


def retries(count: int, delay: int | None = None) -> ast.Retries:
    return ast.Retries(ast.Int(count, NOWHERE), seconds(delay) if delay is not None else None, NOWHERE)


def requires(
    name: str, kind: Literal["all", "same_host", "role", "any"] = "all", role: str | None = None, optional: bool = False
) -> ast.Requirement:
    scope = ast.Scope(kind, ast.Name(role, NOWHERE) if role is not None else None, None)
    return ast.Requirement(name, None, scope, NOWHERE, optional=optional)


def provides(name: str) -> ast.Provision:
    return ast.Provision(name, None, [], NOWHERE)


def when(expression: str) -> ast.When:
    return ast.When(string(expression), [], NOWHERE)


def when_ansible(condition: str) -> ast.When:
    return ast.When(None, [], NOWHERE, ansible=string(condition))


def when_notified(notifiers: list[tuple[str, str | None]]) -> ast.When:
    """`when notified(...)`: each notifier a task of the same service, `service.task` or a capability, with
    the topic it must report, if any."""
    return ast.When(
        None,
        [],
        NOWHERE,
        notified=[
            ast.Notifier(ast.Name(name, NOWHERE), None if topic is None else ast.Str(topic, NOWHERE))
            for name, topic in notifiers
        ],
    )


def run(command: str) -> ast.Run:
    return ast.Run(string(command), NOWHERE)


def copy(
    src: str, dest: str, mode: str | None = None, owner: str | None = None, template: bool = False
) -> ast.Copy | ast.Template:
    """`copy`, or with `template` the `template` action."""
    node = ast.Template if template else ast.Copy
    return node(
        string(src),
        string(dest),
        string(mode) if mode is not None else None,
        string(owner) if owner is not None else None,
        NOWHERE,
    )


def ansible(module: str, args: dict[str, Any]) -> ast.AnsibleModule:
    return ast.AnsibleModule(module, mapping(args), NOWHERE, NOWHERE)


def playbook(path: str, variables: dict[str, Any] | None = None) -> ast.Playbook:
    return ast.Playbook(string(path), mapping(variables) if variables else None, NOWHERE)


# --- declarations ----------------------------------------------------------------------------------


def task(lines: Lines, name: str, statements: list[Statement], once: bool = False) -> ast.TaskDecl:
    """A task whose statements print in the order given."""
    start = lines.next()
    decl = ast.TaskDecl(name, once, [], [], [], [], [], None, None, None, None, False, start, start)
    for statement in statements:
        if isinstance(statement, Note):
            lines.comment(statement.text)
        else:
            _place(decl, statement, lines.next())
    decl.span = lines.close(start)
    return decl


def anchor(lines: Lines, name: str, statements: list[After | ast.Requirement | ast.Provision]) -> ast.AnchorDecl:
    body = task(lines, name, list(statements))  # an anchor's statements are the first kinds of a task's
    return ast.AnchorDecl(name, body.after, body.requires, body.provides, body.span, body.name_span)


def _place(decl: ast.TaskDecl, statement: Statement, span: ast.Span) -> None:
    if isinstance(statement, After):
        decl.after += [ast.Name(name, span) for name in statement.names]
    elif isinstance(statement, Concurrency):
        decl.concurrency = ast.Int(statement.count, span)
    elif isinstance(statement, Become):
        decl.become, decl.become_span = True, span
    elif isinstance(statement, Timeout):
        decl.timeout = replace(seconds(statement.seconds), span=span)
    elif isinstance(statement, ast.Retries):
        decl.retries = replace(statement, span=span)
    elif isinstance(statement, ast.Requirement):
        decl.requires.append(replace(statement, span=span))
    elif isinstance(statement, ast.Provision):
        decl.provides.append(replace(statement, span=span))
    elif isinstance(statement, ast.When):
        placed = replace(
            statement,
            span=span,
            expr=statement.expr and replace(statement.expr, span=span),
            ansible=statement.ansible and replace(statement.ansible, span=span),
            notified=[
                ast.Notifier(replace(n.name, span=span), n.topic and replace(n.topic, span=span))
                for n in statement.notified
            ],
        )
        decl.when = placed if decl.when is None else decl.when.merged(placed)
    else:
        decl.actions.append(replace(statement, span=span))


def service(lines: Lines, start: ast.Span, name: str, tasks: list[ast.TaskDecl]) -> ast.ServiceDecl:
    """A service opened at `start` (a line taken before its tasks), closed after them."""
    return ast.ServiceDecl(name, tasks, lines.close(start), start)


def role(
    lines: Lines, group: str, services: list[str], tolerate: int | str | None = None, optional: bool = True
) -> ast.RoleDecl:
    start = lines.next()
    listed = lines.next()
    names = [ast.Name(name, listed) for name in services]
    budget = None
    if tolerate is not None:
        span = lines.next()
        budget = ast.Tolerate(ast.Int(tolerate, span) if isinstance(tolerate, int) else ast.Str(tolerate, span), span)
    return ast.RoleDecl(group, names, budget, lines.close(start), start, optional)


def var(lines: Lines, name: str, type_name: str, default: ast.Value | None = None) -> ast.VarDecl:
    return ast.VarDecl(name, ast.TypeRef(type_name, NOWHERE), default, lines.next())
