"""The Plan: the portable, deterministic result of compiling `.orch` files.

The Plan is the one contract between the compiler and the backends. A backend
needs nothing but a Plan (and, at run time, the values of its secrets) to run
a deployment. Plans are deterministic: the same inputs give the same bytes.

Paths inside a Plan (source spans, playbook paths) are relative to
`Plan.root`, the folder of the first input.

This module is the Plan's schema, its one field list: stdlib dataclasses that
the compiler builds directly (cheaply, without validation), that pydantic
validates (`validate_plan`, `Plan.from_json`) and describes (`plan_json_schema`),
and that `orchc.plan_json` writes as canonical JSON. Each declares its fields
in name order, the order the JSON writes them in, and keeps its free-form maps
(variables, module arguments) in name order however they were given.
"""

from __future__ import annotations

import gc
import json
import re
import shlex
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeVar, dataclass_transform

import pydantic_core
from pydantic import ConfigDict, Field

if TYPE_CHECKING:
    from pydantic import TypeAdapter

SCHEMA_VERSION: Final = "orchc.plan/1"

_T = TypeVar("_T")


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
def _plan_type(cls: type[_T]) -> type[_T]:
    """A dataclass of the Plan: keyword-only fields in name order, no field but these when validated."""
    names = list(cls.__annotations__)
    if names != sorted(names):
        raise TypeError(f"{cls.__name__} declares its fields out of name order: {names}")
    # Revalidated: `validate_plan` checks the fields of objects already made.
    cls.__pydantic_config__ = ConfigDict(extra="forbid", revalidate_instances="always")  # type: ignore[attr-defined]  # where pydantic reads a dataclass's settings
    return dataclass(slots=True, kw_only=True)(cls)


_PLAIN_SCALARS = (str, int, float, bool, type(None))


def canonical_value(value: Any) -> Any:
    """A free-form value (variables, host vars, action maps) as the Plan holds it: every map's keys
    in sorted order. Anything but str-keyed dicts, lists and JSON scalars (dates, tuples, int
    keys...) is first turned into what pydantic writes for it."""
    if type(value) is dict and all(type(key) is str for key in value):
        return {key: canonical_value(value[key]) for key in sorted(value)}
    if type(value) is list:
        return [canonical_value(item) for item in value]
    if type(value) in _PLAIN_SCALARS:
        return value
    return json.loads(pydantic_core.to_json(value, inf_nan_mode="null"), object_pairs_hook=_sorted_object)


def _sorted_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return dict(sorted(pairs))


def _canonical_maps(plan_object: Any, *names: str) -> None:
    """Hold the free-form maps `names` of `plan_object` in name order (see `canonical_value`)."""
    for name in names:
        setattr(plan_object, name, canonical_value(getattr(plan_object, name)))


@_plan_type
class SourceSpan:
    """Where something was written: file (relative to the Plan root), 1-based line and column."""

    column: int
    end_column: int
    end_line: int
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@_plan_type
class Host:
    """A machine of the inventory, with what a transport needs to reach it."""

    address: str
    connection: Literal["ssh", "local"] = "ssh"
    name: str
    port: int | None = None
    user: str | None = None
    # Every inventory variable of the host (group vars merged, Ansible's
    # precedence), connection variables included, so that Ansible reaches the
    # host the same way. Password-like variables are never copied here.
    vars: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _canonical_maps(self, "vars")


@_plan_type
class Role:
    """An inventory group that services are placed on, with its fault-tolerance budget."""

    hosts: list[str]
    name: str
    services: list[str]
    tolerate: int = 0  # failed hosts allowed, resolved from "N" or "N%"
    tolerate_spec: str = "0"  # as written, for messages


# --- actions -------------------------------------------------------------------


@_plan_type
class RunAction:
    command: str
    kind: Literal["run"] = "run"


@_plan_type
class CopyAction:
    content: str
    dest: str
    encoding: Literal["utf-8", "base64"] = "utf-8"
    kind: Literal["copy"] = "copy"
    mode: str | None = None
    owner: str | None = None
    src: str  # as written, for messages


@_plan_type
class TemplateAction:
    """A Jinja2 template rendered on the controller at compile time."""

    content: str
    dest: str
    kind: Literal["template"] = "template"
    mode: str | None = None
    owner: str | None = None
    src: str


@_plan_type
class PlaybookAction:
    # sha256 of the playbook and the Ansible folders beside it (roles/, tasks/, ...):
    # part of the fingerprint, so editing them makes the instance run again.
    digest: str = ""
    kind: Literal["playbook"] = "playbook"
    path: str  # relative to Plan.root
    vars: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _canonical_maps(self, "vars")


@_plan_type
class AnsibleModuleAction:
    args: dict[str, Any] = field(default_factory=dict)
    kind: Literal["ansible"] = "ansible"
    module: str

    def __post_init__(self) -> None:
        _canonical_maps(self, "args")


@_plan_type
class AnsibleRoleAction:
    digest: str = ""  # sha256 of the role's folder, as for playbooks
    kind: Literal["role"] = "role"
    name: str
    vars: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _canonical_maps(self, "vars")


Action = Annotated[
    RunAction | CopyAction | TemplateAction | PlaybookAction | AnsibleModuleAction | AnsibleRoleAction,
    Field(discriminator="kind"),
]

ANSIBLE_ACTION_KINDS = frozenset({"playbook", "ansible", "role"})


# --- tasks and instances -------------------------------------------------------


@_plan_type
class Task:
    """A task as written: the settings its instances share."""

    anchor: bool = False  # no action: a synchronisation point
    become: bool = False
    concurrency: int | None = None  # running instances of this task across all hosts
    delay: float = 0.0  # seconds between retries
    id: str  # "service.task", or the anchor's name for a top-level anchor
    # Digests of what its instances' fingerprints are made from that is the same on every host, by
    # input: "action:1" (as written), "template:PATH", "file:PATH", "playbook:PATH", "role:NAME",
    # "setting:retries"... (see `orchc.compiler.inputs`).
    inputs: dict[str, str] = field(default_factory=dict)
    name: str
    once: bool = False
    retries: int = 0
    service: str | None
    source: SourceSpan
    timeout: float | None = None  # seconds per attempt


@_plan_type
class Variant:
    """An instance's actions as rendered with the values of one provider of an `on any` requirement."""

    actions: list[Action] = field(default_factory=list)
    fingerprint: str
    provider: str  # the provider instance's id


@_plan_type
class Placement:
    """Where and what an instance runs: one host (or none for an anchor) and its rendered actions."""

    actions: list[Action] = field(default_factory=list)
    deps: list[str] = field(default_factory=list)  # what the instance waits for when it runs there
    fingerprint: str
    host: str | None
    variants: list[Variant] = field(default_factory=list)  # as `Instance.variants`, on this host


@_plan_type
class Instance:
    """One task on one host: the unit the engine schedules.

    `deps` must all end successfully (skipped counts as success). Each group in
    `any_of` needs one successful member (`requires ... on any`). A dependency
    on an instance of a host that left the deployment (within its role's
    tolerance) no longer holds the instance back.

    A `once` instance lists the other hosts it may move to, in order, as
    `alternates`, each with its own rendered actions and dependencies (what
    its task is after, on that host).

    An instance whose templates use the fields of an `on any` requirement, and
    whose providers' fields differ, lists in `variants` its actions rendered
    with each provider's fields, in inventory order; it runs the variant of
    the provider that met the requirement. Its own `actions` and `fingerprint`
    are the first variant's.

    An instance with `notified_by` runs only when notified: its fingerprint does
    not decide whether it runs (see `backends.notify`).
    """

    actions: list[Action] = field(default_factory=list)
    alternates: list[Placement] = field(default_factory=list)
    any_of: list[list[str]] = field(default_factory=list)
    # What decides "up to date" on a re-run: the fingerprint, or for
    # `when changed(VAR, ...)` a digest of those inputs only.
    change_key: str
    deps: list[str] = field(default_factory=list)
    fingerprint: str  # sha256 of what the instance does
    host: str | None
    id: str  # "service.task@host", or the anchor name
    # Digests of the values its templates read, by input: "var:NAME", "cap:NAME.FIELD", "host:vars.X"
    # (with its task's `inputs`, what `orchc plan` compares to name what changed; never a secret).
    inputs: dict[str, str] = field(default_factory=dict)
    # `when notified(...)`: the instances that notify it (also among its deps, on every host it may run
    # on); it runs only if one of those it waits for where it runs ended changed (a pending notification
    # of an earlier run counts). Empty: not gated.
    notified_by: list[str] = field(default_factory=list)
    # Those of `notified_by` that count only if they reported one of these topics (handlers an Ansible
    # playbook or role they run notified); the others count when they end changed.
    notify_topics: dict[str, list[str]] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # names referenced by its actions
    skip: str | None = None  # reason the instance is skipped at compile time
    task: str
    variants: list[Variant] = field(default_factory=list)


@_plan_type
class SecretRef:
    """A secret variable: declared in the Plan by name only, resolved at run time."""

    name: str
    source: SourceSpan


@_plan_type
class Plan:
    # Every group of the inventory with its hosts, roles or not: what Ansible's `groups` and
    # `group_names` show the playbooks and modules the Plan runs.
    groups: dict[str, list[str]] = field(default_factory=dict)
    hosts: list[Host]
    instances: list[Instance]
    roles: list[Role]
    root: str  # the project folder; relative to the plan.json's folder when the file was written inside it
    schema: Literal["orchc.plan/1"] = SCHEMA_VERSION
    secrets: list[SecretRef] = field(default_factory=list)
    strict: bool = False  # any failed host fails the run, even within its role's tolerance (`strict`)
    tasks: list[Task]
    vars: dict[str, Any] = field(default_factory=dict)  # non-secret variable values

    def __post_init__(self) -> None:
        _canonical_maps(self, "groups", "vars")

    def to_json(self) -> str:
        """The canonical bytes of the Plan (see `orchc.plan_json`), as text."""
        from orchc.plan_json import plan_json

        return plan_json(self).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """The Plan of a JSON text, validated; raises pydantic's ValidationError."""
        with gc_paused():
            plan: Plan = type_adapter(Plan).validate_json(text)
        return plan

    def host(self, name: str) -> Host:
        return self._hosts_by_name()[name]

    def _hosts_by_name(self) -> dict[str, Host]:
        return {h.name: h for h in self.hosts}


@cache
def type_adapter(kind: Any) -> TypeAdapter[Any]:
    """pydantic's validator and serialiser of `kind` (the Plan or a part of it), built on first use."""
    from pydantic import TypeAdapter  # only for the commands that validate or write a Plan

    return TypeAdapter(kind)


def validate_plan(plan: Plan) -> Plan:
    """A copy of `plan` checked against its schema field by field, as a Plan read from JSON is (the compiler
    builds its Plans without validation); raises pydantic's ValidationError."""
    with gc_paused():
        validated: Plan = type_adapter(Plan).validate_python(plan, strict=True)
    return validated


def plan_json_schema() -> dict[str, Any]:
    return type_adapter(Plan).json_schema()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Building, validating or writing a large Plan allocates many long-lived objects and frees few:
    Python's cyclic GC would scan them again and again (more than half the time at 20k instances).
    Reference counting still frees."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- secret references inside strings ------------------------------------------

# The compiler writes a marker where a secret is interpolated; the runner
# replaces it with the value just before an action runs. `:sh` marks a place
# inside a `run` command, where the value is shell-quoted.
_SECRET_MARKER = re.compile(r"@@secret:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<sh>:sh)?@@")


def secret_marker(name: str, shell_quoted: bool) -> str:
    return f"@@secret:{name}{':sh' if shell_quoted else ''}@@"


def secret_names(text: str) -> set[str]:
    return {m.group("name") for m in _SECRET_MARKER.finditer(text)}


def resolve_secrets(text: str, values: Mapping[str, str]) -> str:
    """Put secret values in place of their markers (KeyError for a missing one)."""

    def substitute(m: re.Match[str]) -> str:
        value = values[m.group("name")]
        return shlex.quote(value) if m.group("sh") else value

    return _SECRET_MARKER.sub(substitute, text)


REDACTED = "********"


def redact(text: str, values: Mapping[str, str]) -> str:
    """Hide every secret value that appears in output."""
    for value in sorted((v for v in values.values() if v), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
