"""The syntax tree of a `.orch` file.

The parser builds these nodes; the formatter prints them back; the compiler
resolves and lowers them to a Plan. Every node carries the span it was
written at, so that any later pass can point at the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Literal

from orchc.dsl.span import Span

# --- values ---------------------------------------------------------------------


@dataclass
class Str:
    value: str  # escapes already decoded; Jinja2 expressions left as written
    span: Span
    triple: bool = False  # written as """..."""


@dataclass
class Int:
    value: int
    span: Span


@dataclass
class Float:
    value: float
    span: Span


@dataclass
class Bool:
    value: bool
    span: Span


@dataclass
class Null:
    """`null` (extension): an absent value, as in YAML, for Ansible module arguments."""

    span: Span


@dataclass
class Duration:
    seconds: float
    text: str  # as written, e.g. "10m"
    span: Span


_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")  # the grammar's DURATION: 90s, 1m30s, 500ms
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float | None:
    """The seconds of a duration as the language writes it (`90s`, `1m30s`, `500ms`); None if `text` is none."""
    if _DURATION.fullmatch(text) is None:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text))


@dataclass
class ListValue:
    items: list[Value]
    span: Span


@dataclass
class MapEntry:
    key: str
    value: Value
    span: Span


@dataclass
class MapValue:
    entries: list[MapEntry]
    span: Span


Value = Str | Int | Float | Bool | Null | Duration | ListValue | MapValue


@dataclass
class Name:
    """A reference to something declared elsewhere (a task, role, type, ...)."""

    value: str
    span: Span


# --- declarations -----------------------------------------------------------------


@dataclass
class Import:
    path: Str
    span: Span


@dataclass
class TypeRef:
    """`str`, `int`, `float`, `bool`, `secret`, `list`, `map`, or a capability type's name."""

    name: str
    span: Span


@dataclass
class FieldDecl:
    name: str
    type: TypeRef
    default: Value | None
    span: Span
    name_span: Span | None = None


@dataclass
class TypeDecl:
    name: str
    fields: list[FieldDecl]
    span: Span
    name_span: Span | None = None


@dataclass
class VarDecl:
    name: str
    type: TypeRef
    default: Value | None
    span: Span
    name_span: Span | None = None


@dataclass
class Tolerate:
    value: Int | Str  # N, or "N%"
    span: Span


@dataclass
class RoleDecl:
    name: str
    services: list[Name]
    tolerate: Tolerate | None
    span: Span
    name_span: Span | None = None
    optional: bool = False  # `role NAME optional`: may be missing from the inventory (it then places nothing)


@dataclass
class Scope:
    """Which providers a requirement waits for."""

    kind: Literal["all", "same_host", "role", "any"]
    role: Name | None  # for kind == "role"
    span: Span | None


@dataclass
class Requirement:
    name: str
    type: Name | None
    scope: Scope
    span: Span
    name_span: Span | None = None
    optional: bool = False  # `requires CAP optional`: no provider on any host is nothing to wait for


@dataclass
class FieldAssign:
    name: str
    value: Value
    span: Span


@dataclass
class Provision:
    name: str
    type: Name | None
    fields: list[FieldAssign]
    span: Span
    name_span: Span | None = None


# --- actions ------------------------------------------------------------------------


@dataclass
class Run:
    command: Str
    span: Span


@dataclass
class Copy:
    src: Str
    dest: Str
    mode: Str | None
    owner: Str | None
    span: Span


@dataclass
class Template:
    src: Str
    dest: Str
    mode: Str | None
    owner: Str | None
    span: Span


@dataclass
class Playbook:
    path: Str
    vars: MapValue | None
    span: Span


@dataclass
class AnsibleModule:
    module: str
    args: MapValue
    span: Span
    name_span: Span  # the module's name


@dataclass
class AnsibleRole:
    """`role NAME [vars { ... }]` inside a task: apply an Ansible role (extension)."""

    name: str
    vars: MapValue | None
    span: Span


Action = Run | Copy | Template | Playbook | AnsibleModule | AnsibleRole


# --- tasks, services, anchors -----------------------------------------------------------


@dataclass
class Notifier:
    """One notifier of `when notified(...)`: a task, `service.task` or a capability, and the topic it must
    report having notified (`config "restart api"`), if any."""

    name: Name
    topic: Str | None = None

    @property
    def span(self) -> Span:
        end = (self.topic or self.name).span
        return Span(self.name.span.file, self.name.span.line, self.name.span.column, end.end_line, end.end_column)


@dataclass
class When:
    """`when "EXPR"` (compile-time, per host), `when changed(VAR, ...)` (re-run on change), `when ansible
    "EXPR"` (an Ansible condition, decided when compiling where Ansible's variables are known) or `when
    notified(NOTIFIER, ...)` (run only if a notifier ended changed), each once."""

    expr: Str | None
    changed: list[Name]
    span: Span
    ansible: Str | None = None
    notified: list[Notifier] = field(default_factory=list)

    def kinds(self) -> list[str]:
        """The statements it holds, as written: `when`, `when changed`, `when ansible`, `when notified`."""
        found = [("when", self.expr is not None), ("when changed", bool(self.changed))]
        found += [("when ansible", self.ansible is not None), ("when notified", bool(self.notified))]
        return [kind for kind, given in found if given]

    def merged(self, other: When) -> When:
        """This node with the statements of `other` (a kind `other` repeats keeps this one's)."""
        return When(
            self.expr or other.expr,
            self.changed or other.changed,
            self.span,
            self.ansible or other.ansible,
            self.notified or other.notified,
        )


@dataclass
class Retries:
    count: Int
    delay: Duration | None
    span: Span


@dataclass
class TaskDecl:
    name: str
    once: bool
    after: list[Name]
    before: list[Name]
    requires: list[Requirement]
    provides: list[Provision]
    actions: list[Action]
    concurrency: Int | None
    retries: Retries | None
    timeout: Duration | None
    when: When | None
    become: bool
    span: Span
    name_span: Span
    become_span: Span | None = None  # where `become` was written, for the formatter


@dataclass
class ServiceDecl:
    name: str
    tasks: list[TaskDecl]
    span: Span
    name_span: Span


@dataclass
class AnchorDecl:
    """A top-level synchronisation point: one instance, no host, no action."""

    name: str
    after: list[Name]  # other anchors
    requires: list[Requirement]
    provides: list[Provision]
    span: Span
    name_span: Span


@dataclass
class StrictDecl:
    """`strict`: any failed host fails the run, even one its role tolerates."""

    span: Span


Item = TypeDecl | VarDecl | RoleDecl | ServiceDecl | AnchorDecl | StrictDecl


@dataclass
class Comment:
    text: str  # including the leading '#'
    line: int
    column: int


@dataclass
class Module:
    """One `.orch` file."""

    file: str
    imports: list[Import]
    items: list[Item]
    comments: list[Comment] = field(default_factory=list)


_POSITION_FIELDS = frozenset({"span", "name_span", "become_span", "file", "comments"})


def without_positions(node: object) -> object:
    """The tree as plain data without spans, file names and comments: to compare two parses."""
    if is_dataclass(node) and not isinstance(node, type):
        return (
            type(node).__name__,
            {f.name: without_positions(getattr(node, f.name)) for f in fields(node) if f.name not in _POSITION_FIELDS},
        )
    if isinstance(node, list):
        return [without_positions(item) for item in node]
    return node
