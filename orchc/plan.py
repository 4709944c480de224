"""The Plan: the portable, deterministic result of compiling `.orch` files.

The Plan is the one contract between the compiler and the backends. A backend
needs nothing but a Plan (and, at run time, the values of its secrets) to run
a deployment. Plans are deterministic: the same inputs give the same bytes.

Paths inside a Plan (source spans, playbook paths) are relative to
`Plan.root`, the folder of the first input.

This module is the Plan's pydantic model, for the commands that read a Plan;
`orchc.plan_data` is the same Plan as plain data, as the compiler builds and
writes it, without pydantic.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

# The `NAME as NAME` imports are re-exported: backends, commands and tests take the Plan's secret markers
# and writer from here too.
from orchc.plan_data import REDACTED as REDACTED
from orchc.plan_data import gc_paused, plan_json, sorted_json_data
from orchc.plan_data import redact as redact
from orchc.plan_data import resolve_secrets as resolve_secrets
from orchc.plan_data import secret_marker as secret_marker
from orchc.plan_data import secret_names as secret_names
from orchc.plan_data import write_plan_json as write_plan_json

SCHEMA_VERSION: Final = "orchc.plan/1"


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
    RunAction | CopyAction | TemplateAction | PlaybookAction | AnsibleModuleAction | AnsibleRoleAction,
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


class Variant(_Model):
    """An instance's actions as rendered with the values of one provider of an `on any` requirement."""

    provider: str  # the provider instance's id
    actions: list[Action] = Field(default_factory=list)
    fingerprint: str


class Placement(_Model):
    """Where and what an instance runs: one host (or none for an anchor) and its rendered actions."""

    host: str | None
    deps: list[str] = Field(default_factory=list)  # what the instance waits for when it runs there
    actions: list[Action] = Field(default_factory=list)
    fingerprint: str
    variants: list[Variant] = Field(default_factory=list)  # as `Instance.variants`, on this host


class Instance(_Model):
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
    variants: list[Variant] = Field(default_factory=list)


class SecretRef(_Model):
    """A secret variable: declared in the Plan by name only, resolved at run time."""

    name: str
    source: SourceSpan


class Plan(_Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    schema_version: Literal["orchc.plan/1"] = Field(SCHEMA_VERSION, alias="schema")
    root: str  # the project folder; relative to the plan.json's folder when the file was written inside it
    hosts: list[Host]
    # Every group of the inventory with its hosts, roles or not: what Ansible's `groups` and
    # `group_names` show the playbooks and modules the Plan runs.
    groups: dict[str, list[str]] = Field(default_factory=dict)
    roles: list[Role]
    tasks: list[Task]
    instances: list[Instance]
    secrets: list[SecretRef] = Field(default_factory=list)
    strict: bool = False  # any failed host fails the run, even within its role's tolerance (`strict`)
    vars: dict[str, Any] = Field(default_factory=dict)  # non-secret variable values

    def to_json(self) -> str:
        """The canonical bytes of the Plan (see `write_plan_json`), as text."""
        return plan_json(self.plain_data()).decode()

    def plain_data(self) -> dict[str, Any]:
        """The Plan as plain data with every key in sorted order, as `write_plan_json` takes it."""
        with gc_paused():
            data: dict[str, Any] = sorted_json_data(self.model_dump_json(by_alias=True))
        return data

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.model_validate_json(text)

    def host(self, name: str) -> Host:
        return self._hosts_by_name()[name]

    def _hosts_by_name(self) -> dict[str, Host]:
        return {h.name: h for h in self.hosts}


def plan_json_schema() -> dict[str, Any]:
    return Plan.model_json_schema(by_alias=True)
