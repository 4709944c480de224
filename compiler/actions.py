"""Actions: from the syntax tree to the Plan, rendered for one host.

Files named by `copy`/`template`/`playbook` are relative to the `.orch` file
that names them and must exist; `role NAME` is looked up in `roles/` beside
that file, then in ANSIBLE_ROLES_PATH. Paths in the Plan are relative to its
root. Ansible actions carry a digest of the files they run, so that editing a
playbook or a role changes the instance's fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from orchc.compiler.render import Mode, Renderer, RenderError, needs_rendering
from orchc.dsl import ast
from orchc.dsl.ast import MapValue, Span, Str
from orchc.plan import (
    Action,
    AnsibleModuleAction,
    AnsibleRoleAction,
    CopyAction,
    PlaybookAction,
    RunAction,
    TemplateAction,
)

# What a playbook may use from beside it, by Ansible's conventions.
PLAYBOOK_FOLDERS = (
    "roles",
    "tasks",
    "handlers",
    "templates",
    "files",
    "vars",
    "group_vars",
    "host_vars",
    "library",
    "filter_plugins",
    "module_utils",
)


def needs_context(action: ast.Action) -> bool:
    """Whether lowering `action` renders something, so that it may differ from one host to another."""
    if isinstance(action, ast.Template):
        return True  # its file is a template
    if isinstance(action, ast.Run):
        return value_needs_context(action.command)
    if isinstance(action, ast.Copy):
        return any(value_needs_context(text) for text in (action.dest, action.mode, action.owner) if text)
    if isinstance(action, ast.AnsibleModule):
        return value_needs_context(action.args)
    return action.vars is not None and value_needs_context(action.vars)


def value_needs_context(value: ast.Value) -> bool:
    """Whether `value` renders differently in different template contexts (holds a template)."""
    if isinstance(value, Str):
        return needs_rendering(value.value)
    if isinstance(value, ast.ListValue):
        return any(value_needs_context(item) for item in value.items)
    if isinstance(value, MapValue):
        return any(value_needs_context(entry.value) for entry in value.entries)
    return False


class ActionError(Exception):
    """An action cannot be lowered: message, where, and how to fix it."""

    def __init__(self, message: str, span: Span, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint


@dataclass
class ActionLowerer:
    renderer: Renderer
    root: Path  # the Plan's root folder
    _files: dict[Path, bytes] = field(default_factory=dict)
    _digests: dict[tuple[Path, ...], str] = field(default_factory=dict)

    def lower(self, action: ast.Action, context: dict[str, Any]) -> Action:
        """The Plan action for one host; raises ActionError."""
        if isinstance(action, ast.Run):
            return RunAction(command=self._render(action.command, context, "run"))
        if isinstance(action, ast.Copy):
            data = self._read(action.src)
            encoding: Literal["utf-8", "base64"]
            try:
                content, encoding = data.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                content, encoding = base64.b64encode(data).decode("ascii"), "base64"
            return CopyAction(
                content=content,
                dest=self._render(action.dest, context),
                encoding=encoding,
                mode=self._option(action.mode, context),
                owner=self._option(action.owner, context),
                src=action.src.value,
            )
        if isinstance(action, ast.Template):
            source = self.file_text(action.src)
            try:
                content = self.renderer.render(source, context)
            except RenderError as exc:
                raise ActionError(
                    f"in template '{action.src.value}': {exc.message}", action.src.span, exc.hint
                ) from None
            return TemplateAction(
                content=content,
                dest=self._render(action.dest, context),
                mode=self._option(action.mode, context),
                owner=self._option(action.owner, context),
                src=action.src.value,
            )
        if isinstance(action, ast.Playbook):
            return PlaybookAction(
                digest=self.playbook_digest(action.path),
                path=self._relative(self._existing(action.path, "playbook")),
                vars=self._map(action.vars, context),
            )
        if isinstance(action, ast.AnsibleModule):
            return AnsibleModuleAction(args=self._map(action.args, context), module=action.module)
        if isinstance(action, ast.AnsibleRole):
            return AnsibleRoleAction(
                digest=self.role_digest(action), name=action.name, vars=self._map(action.vars, context)
            )
        raise TypeError(f"unknown action {action!r}")

    def playbook_digest(self, path: Str) -> str:
        """sha256 of a playbook and the Ansible folders beside it."""
        playbook = self._existing(path, "playbook")
        return self._digest(playbook, *(playbook.parent / folder for folder in PLAYBOOK_FOLDERS))

    def role_digest(self, action: ast.AnsibleRole) -> str:
        return self._digest(self._find_role(action))

    def file_digest(self, path: Str) -> str:
        """sha256 of a file that a `copy` or a `template` reads."""
        return hashlib.sha256(self._read(path)).hexdigest()

    def file_text(self, path: Str) -> str:
        return self._read(path).decode("utf-8", errors="replace")

    def _option(self, text: Str | None, context: dict[str, Any]) -> str | None:
        """A file option (`mode`, `owner`) rendered, or None where none is written."""
        return self._render(text, context) if text else None

    def _render(self, text: Str, context: dict[str, Any], mode: Mode = "plain") -> str:
        try:
            return self.renderer.render(text.value, context, mode)
        except RenderError as exc:
            raise ActionError(exc.message, text.span, exc.hint) from None

    def value(self, value: ast.Value, context: dict[str, Any]) -> Any:
        if isinstance(value, Str):
            return self._render(value, context)
        if isinstance(value, ast.ListValue):
            return [self.value(item, context) for item in value.items]
        if isinstance(value, MapValue):
            return self._map(value, context)
        if isinstance(value, ast.Null):
            return None
        if isinstance(value, ast.Duration):
            return value.seconds
        return value.value

    def _map(self, value: MapValue | None, context: dict[str, Any]) -> dict[str, Any]:
        if value is None:
            return {}
        return {entry.key: self.value(entry.value, context) for entry in value.entries}

    def _existing(self, path: Str, what: str) -> Path:
        target = Path(os.path.normpath(Path(path.span.file).parent / path.value))
        if not target.is_file():
            raise ActionError(
                f"{what} file '{path.value}' not found (looked for '{target}')",
                path.span,
                hint=f"{what} paths are relative to the .orch file that names them",
            )
        return target

    def _read(self, path: Str) -> bytes:
        target = self._existing(path, "source")
        if target not in self._files:
            self._files[target] = target.read_bytes()
        return self._files[target]

    def _relative(self, path: Path) -> str:
        return Path(os.path.relpath(path.resolve(), self.root)).as_posix()

    def _digest(self, *paths: Path) -> str:
        """sha256 over the files at `paths` (files, or folders walked in order; hidden ones left out)."""
        if paths not in self._digests:
            digest = hashlib.sha256()
            for top in paths:
                files = (
                    [top]
                    if top.is_file()
                    else sorted(
                        p
                        for p in top.rglob("*")
                        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(top).parts)
                    )
                )
                for file in files:
                    digest.update(f"{file.relative_to(top.parent).as_posix()}\0".encode())
                    digest.update(hashlib.sha256(file.read_bytes()).digest())
            self._digests[paths] = digest.hexdigest()
        return self._digests[paths]

    def _find_role(self, action: ast.AnsibleRole) -> Path:
        beside = Path(action.span.file).parent / "roles"
        search = [beside] + [Path(p) for p in os.environ.get("ANSIBLE_ROLES_PATH", "").split(os.pathsep) if p]
        for folder in search:
            if (folder / action.name).is_dir():
                return folder / action.name
        raise ActionError(
            f"Ansible role '{action.name}' not found",
            action.span,
            hint=f"looked in {', '.join(str(p) for p in search)}; "
            "put it in roles/ beside this file or set ANSIBLE_ROLES_PATH",
        )
