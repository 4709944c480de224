"""The Plan: the portable, deterministic result of compiling `.orch` files.

The Plan is the one contract between the compiler and the backends. A backend
needs nothing but a Plan (and, at run time, the values of its secrets) to run
a deployment. Plans are deterministic: the same inputs give the same bytes.

Paths inside a Plan (source spans, playbook paths) are relative to
`Plan.root`, the folder of the first input.
"""

from __future__ import annotations

import gc
import io
import json
import math
import re
import shlex
from contextlib import contextmanager
from typing import Annotated, Any, BinaryIO, Iterator, Literal, Mapping, Union

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "orchc.plan/1"


class _Model(BaseModel):
    # Validators are built on first use: `orchc compile` and `orchc migrate` build few or none (saves ~20 ms).
    model_config = ConfigDict(extra="forbid", frozen=False, defer_build=True)


class SourceSpan(_Model):
    """Where something was written: file (relative to the Plan root), 1-based line and column."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Host(_Model):
    """A machine of the inventory, with what a transport needs to reach it."""

    name: str
    address: str
    port: int | None = None
    user: str | None = None
    connection: Literal["ssh", "local"] = "ssh"
    # Every inventory variable of the host (group vars merged, Ansible's
    # precedence), connection variables included, so that Ansible reaches the
    # host the same way. Password-like variables are never copied here.
    vars: dict[str, Any] = Field(default_factory=dict)


class Role(_Model):
    """An inventory group that services are placed on, with its fault-tolerance budget."""

    name: str
    hosts: list[str]
    services: list[str]
    tolerate: int = 0  # failed hosts allowed, resolved from "N" or "N%"
    tolerate_spec: str = "0"  # as written, for messages


# --- actions -------------------------------------------------------------------


class RunAction(_Model):
    kind: Literal["run"] = "run"
    command: str


class CopyAction(_Model):
    kind: Literal["copy"] = "copy"
    src: str  # as written, for messages
    dest: str
    content: str
    encoding: Literal["utf-8", "base64"] = "utf-8"
    mode: str | None = None
    owner: str | None = None


class TemplateAction(_Model):
    """A Jinja2 template rendered on the controller at compile time."""

    kind: Literal["template"] = "template"
    src: str
    dest: str
    content: str
    mode: str | None = None
    owner: str | None = None


class PlaybookAction(_Model):
    kind: Literal["playbook"] = "playbook"
    path: str  # relative to Plan.root
    vars: dict[str, Any] = Field(default_factory=dict)
    # sha256 of the playbook and the Ansible folders beside it (roles/, tasks/, ...):
    # part of the fingerprint, so editing them makes the instance run again.
    digest: str = ""


class AnsibleModuleAction(_Model):
    kind: Literal["ansible"] = "ansible"
    module: str
    args: dict[str, Any] = Field(default_factory=dict)


class AnsibleRoleAction(_Model):
    kind: Literal["role"] = "role"
    name: str
    vars: dict[str, Any] = Field(default_factory=dict)
    digest: str = ""  # sha256 of the role's folder, as for playbooks


Action = Annotated[
    Union[RunAction, CopyAction, TemplateAction, PlaybookAction, AnsibleModuleAction, AnsibleRoleAction],
    Field(discriminator="kind"),
]

ANSIBLE_ACTION_KINDS = frozenset({"playbook", "ansible", "role"})


# --- tasks and instances -------------------------------------------------------


class Task(_Model):
    """A task as written: the settings its instances share."""

    id: str  # "service.task", or the anchor's name for a top-level anchor
    service: str | None
    name: str
    once: bool = False
    anchor: bool = False  # no action: a synchronisation point
    concurrency: int | None = None  # running instances of this task across all hosts
    retries: int = 0
    delay: float = 0.0  # seconds between retries
    timeout: float | None = None  # seconds per attempt
    become: bool = False
    source: SourceSpan


class Placement(_Model):
    """Where and what an instance runs: one host (or none for an anchor) and its rendered actions."""

    host: str | None
    actions: list[Action] = Field(default_factory=list)
    fingerprint: str


class Instance(_Model):
    """One task on one host: the unit the engine schedules.

    `deps` must all end successfully (skipped counts as success). Each group in
    `any_of` needs one successful member (`requires ... on any`). A dependency
    on an instance of a host that left the deployment (within its role's
    tolerance) no longer holds the instance back.

    A `once` instance lists the other hosts it may move to, in order, as
    `alternates`, each with its own rendered actions.
    """

    id: str  # "service.task@host", or the anchor name
    task: str
    host: str | None
    deps: list[str] = Field(default_factory=list)
    any_of: list[list[str]] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    fingerprint: str  # sha256 of what the instance does
    # What decides "up to date" on a re-run: the fingerprint, or for
    # `when changed(VAR, ...)` a digest of those inputs only.
    change_key: str
    skip: str | None = None  # reason the instance is skipped at compile time
    secrets: list[str] = Field(default_factory=list)  # names referenced by its actions
    alternates: list[Placement] = Field(default_factory=list)


class SecretRef(_Model):
    """A secret variable: declared in the Plan by name only, resolved at run time."""

    name: str
    source: SourceSpan


class Plan(_Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    schema_version: Literal["orchc.plan/1"] = Field(SCHEMA_VERSION, alias="schema")
    root: str
    hosts: list[Host]
    roles: list[Role]
    tasks: list[Task]
    instances: list[Instance]
    secrets: list[SecretRef] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)  # non-secret variable values

    def to_json(self) -> str:
        """The canonical bytes of the Plan (see `write_plan_json`), as text."""
        return plan_json(self.plain_data()).decode()

    def plain_data(self) -> dict[str, Any]:
        """The Plan as plain data with every key in sorted order, as `write_plan_json` takes it."""
        with gc_paused():
            return json.loads(self.model_dump_json(by_alias=True), object_pairs_hook=_sorted_object)

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        return cls.model_validate_json(text)

    def host(self, name: str) -> Host:
        return self._hosts_by_name()[name]

    def _hosts_by_name(self) -> dict[str, Host]:
        return {h.name: h for h in self.hosts}


# --- the canonical JSON of a Plan ----------------------------------------------


def write_plan_json(data: dict[str, Any], stream: BinaryIO) -> None:
    """Write the canonical bytes of a Plan given as plain data whose keys are all in sorted order (see
    `canonical_value`): `json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)`, faster.

    Python's encoder is pure Python once it indents (a second for a 25k-instance
    Plan); pydantic-core's indents in Rust and writes the same bytes, except for
    floats that Python writes with an exponent (1e-05 against 0.00001): those
    take Python's encoder. NaN and infinities are written as null, as pydantic does.
    """
    if any(_has_float_with_exponent(value) for value in _float_bearing_values(data)):
        plain = json.loads(pydantic_core.to_json(data, inf_nan_mode="null"))
        stream.write((json.dumps(plain, indent=2, ensure_ascii=False) + "\n").encode())
        return
    stream.write(pydantic_core.to_json(data, indent=2, inf_nan_mode="null"))
    stream.write(b"\n")  # apart: adding it to the bytes would copy the whole Plan


def plan_json(data: dict[str, Any]) -> bytes:
    """The canonical bytes of a Plan given as plain data (see `write_plan_json`)."""
    stream = io.BytesIO()
    write_plan_json(data, stream)
    return stream.getvalue()


def _float_bearing_values(data: dict[str, Any]) -> Iterator[Any]:
    """Every value of a Plan's data that may hold a float: the float fields and the free-form maps."""
    yield data["vars"]
    for host in data["hosts"]:
        yield host["vars"]
    for task in data["tasks"]:
        yield task["delay"]
        yield task["timeout"]
    for instance in data["instances"]:
        if instance["actions"] or instance["alternates"]:
            for actions in (instance["actions"], *(p["actions"] for p in instance["alternates"])):
                for action in actions:
                    yield action.get("vars")
                    yield action.get("args")


def _has_float_with_exponent(value: Any) -> bool:
    if type(value) is float:
        return math.isfinite(value) and value != 0 and not 1e-4 <= abs(value) < 1e16
    if type(value) is dict:
        return any(_has_float_with_exponent(item) for item in value.values())
    if type(value) is list:
        return any(_has_float_with_exponent(item) for item in value)
    return False


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


@contextmanager
def gc_paused() -> Iterator[None]:
    """Building or writing a large Plan allocates many long-lived objects and frees few: Python's
    cyclic GC would scan them again and again (more than half the time at 20k instances).
    Reference counting still frees."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def plan_json_schema() -> dict[str, Any]:
    return Plan.model_json_schema(by_alias=True)


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
