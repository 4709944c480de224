"""The inputs of an instance's fingerprint, each digested apart, so that `orchc plan` can name what changed.

A task's *written* inputs are the same on every host (`Task.inputs`): each
action as written (`action:1` ...), the files it reads (`template:PATH`,
`file:PATH`, `playbook:PATH`, `role:NAME`, their digests) and its settings
(`setting:retries` ...). An instance's *context* inputs (`Instance.inputs`)
are the values its templates read: variables (`var:NAME`), capability fields
(`cap:NAME.FIELD`) and host fields (`host:vars.root`, `host:role`).

The names a task reads are found once per task, in the text of its templates
(an over-approximation: a name written in a template counts as read); their
digests are made once per value. Secrets have no entry: their values never
reach the Plan, so they are not part of a fingerprint either. A digest is
the first 16 hex digits of a sha256 of the value's JSON: enough to tell that
a value changed, and the values digested are all in the Plan already.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from orchc.compiler.actions import ActionError, ActionLowerer
from orchc.dsl import ast
from orchc.dsl.ast import AnchorDecl, TaskDecl

DIGEST_CHARS = 16

_BLOCK = re.compile(r"\{[{%](.*?)[}%]\}", re.DOTALL)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_PATH = re.compile(r"(?<![\w.])[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def canonical_json(value: Any) -> str:
    """The one JSON text of `value` that digests are taken of (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def digest(value: Any) -> str:
    return sha256(value)[:DIGEST_CHARS]


def names_in(text: str) -> list[tuple[str, ...]]:
    """The dotted name paths inside the Jinja blocks of `text` (`host.vars.root`, `db`), quoted strings left out."""
    paths: list[tuple[str, ...]] = []
    if "{" not in text:
        return paths
    for block in _BLOCK.findall(text):
        for match in _PATH.finditer(_QUOTED.sub("", block)):
            paths.append(tuple(match.group(0).split(".")))
    return paths


def written(value: Any) -> Any:
    """An AST value (or action) as plain data: what the user wrote, without source positions."""
    if isinstance(value, ast.Run):  # most actions: no need to walk the dataclass
        return {"command": value.command.value}
    if isinstance(value, ast.Str):
        return value.value
    if isinstance(value, ast.ListValue):
        return [written(item) for item in value.items]
    if isinstance(value, ast.MapValue):
        return {entry.key: written(entry.value) for entry in value.entries}
    if isinstance(value, ast.Null):
        return None
    if isinstance(value, ast.Duration):
        return value.seconds
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: written(getattr(value, f.name)) for f in dataclasses.fields(value) if "span" not in f.name}
    return getattr(value, "value", value)


@dataclass(frozen=True)
class Reads:
    """What a task's templates read from their context."""

    variables: tuple[str, ...]
    capabilities: tuple[str, ...]
    host_paths: tuple[tuple[str, ...], ...]  # below `host`: ("vars", "root"), ("address",)
    role: bool


@dataclass
class InputDigests:
    variables: dict[str, Any]  # non-secret values by name
    lowerer: ActionLowerer
    _var: dict[str, str] = field(default_factory=dict)
    _host: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)
    _cap: dict[int, tuple[Any, dict[str, str]]] = field(default_factory=dict)  # id(value) -> value, its fields
    _reads: dict[int, Reads] = field(default_factory=dict)  # id(decl) -> what it reads
    _shared: dict[tuple[Reads, str | None, Any], dict[str, str]] = field(default_factory=dict)
    _written: dict[int, tuple[ast.Action, Any]] = field(default_factory=dict)  # id(action) -> it, as written
    _settings: dict[tuple[str, Any], str] = field(default_factory=dict)  # (setting, value) -> its digest

    def written_inputs(self, decl: TaskDecl | AnchorDecl, settings: dict[str, Any]) -> dict[str, str]:
        """The task's inputs that are the same on every host (`Task.inputs`)."""
        if not isinstance(decl, TaskDecl):
            return {}
        inputs = {}
        for name, value in settings.items():
            if (name, value) not in self._settings:
                self._settings[name, value] = digest(value)
            inputs[f"setting:{name}"] = self._settings[name, value]
        for number, action in enumerate(decl.actions, 1):
            inputs[f"action:{number}"] = digest(self._written_action(action))
            try:
                inputs.update(self._files(action))
            except ActionError:
                pass  # reported when the action was lowered
        return dict(sorted(inputs.items()))

    def _files(self, action: ast.Action) -> dict[str, str]:
        if isinstance(action, ast.Template):
            name, full = f"template:{action.src.value}", self.lowerer.file_digest(action.src)
        elif isinstance(action, ast.Copy):
            name, full = f"file:{action.src.value}", self.lowerer.file_digest(action.src)
        elif isinstance(action, ast.Playbook):
            name, full = f"playbook:{action.path.value}", self.lowerer.playbook_digest(action.path)
        elif isinstance(action, ast.AnsibleRole):
            name, full = f"role:{action.name}", self.lowerer.role_digest(action)
        else:
            return {}
        return {name: full[:DIGEST_CHARS]}

    def context_inputs(self, decl: TaskDecl | AnchorDecl, context: dict[str, Any]) -> dict[str, str]:
        """The values an instance's templates read in `context` (`Instance.inputs`)."""
        if not context or not isinstance(decl, TaskDecl):
            return {}
        reads = self._reads_of(decl)
        host = context.get("host")
        if reads.capabilities:
            return self._context_inputs(reads, context)
        # What it reads is the same for every task that reads the same names on the host: one dict for them.
        key = (reads, host["name"] if host is not None else None, context.get("role"))
        shared = self._shared.get(key)
        if shared is None:
            shared = self._shared[key] = self._context_inputs(reads, context)
        return shared

    def _context_inputs(self, reads: Reads, context: dict[str, Any]) -> dict[str, str]:
        inputs: dict[str, str] = {}
        for name in reads.variables:
            if name not in self._var:
                self._var[name] = digest(self.variables[name])
            inputs[f"var:{name}"] = self._var[name]
        for name in reads.capabilities:
            if name in context:
                inputs.update(self._capability(name, context[name]))
        host = context.get("host")
        if host is not None:
            for path in reads.host_paths:
                key = (host["name"], path)
                if key not in self._host:
                    self._host[key] = digest(_at(host, path))
                inputs[f"host:{'.'.join(path)}"] = self._host[key]
            if reads.role:
                inputs["host:role"] = digest(context.get("role"))
        return dict(sorted(inputs.items()))

    def _capability(self, name: str, value: Any) -> dict[str, str]:
        """One digest per field of a required capability: of its value, or of every provider's (a list)."""
        known = self._cap.get(id(value))
        if known is None or known[0] is not value:
            items = value if isinstance(value, list) else [value]
            fields = sorted({key for item in items if isinstance(item, dict) for key in item})
            per_field = {
                f"cap:{name}.{key}": digest([item.get(key) if isinstance(item, dict) else None for item in items])
                for key in fields
            }
            known = self._cap[id(value)] = (value, per_field)
        return known[1]

    def _written_action(self, action: ast.Action) -> Any:
        known = self._written.get(id(action))
        if known is None or known[0] is not action:
            known = self._written[id(action)] = (action, written(action))
        return known[1]

    def _reads_of(self, decl: TaskDecl) -> Reads:
        reads = self._reads.get(id(decl))
        if reads is None:
            reads = self._reads[id(decl)] = self._find_reads(decl)
        return reads

    def _find_reads(self, decl: TaskDecl) -> Reads:
        texts = [text for action in decl.actions for text in _strings(self._written_action(action))]
        for action in decl.actions:
            if isinstance(action, ast.Template):
                try:
                    texts.append(self.lowerer.file_text(action.src))
                except ActionError:
                    pass
        required = {requirement.name for requirement in decl.requires}
        variables, capabilities, host_paths, role = set(), set(), set(), False
        for text in texts:
            for path in names_in(text):
                head = path[0]
                if head in required:
                    capabilities.add(head)
                elif head == "host":
                    host_paths.add(path[1:3])
                elif head == "role":
                    role = True
                elif head == "vars" and len(path) > 1 and path[1] in self.variables:
                    variables.add(path[1])
                elif head in self.variables:
                    variables.add(head)
        return Reads(tuple(sorted(variables)), tuple(sorted(capabilities)), tuple(sorted(host_paths)), role)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    return []


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
