"""Helpers for compiler tests: write a small project into a temporary folder and compile it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchc.compiler import CompileResult, compile_project
from orchc.dsl.diagnostics import DiagnosticError

INVENTORY = """\
all:
  vars:
    ansible_connection: local
  children:
    web:
      hosts:
        w1: {root: /tmp/w1}
        w2: {root: /tmp/w2}
        w3: {root: /tmp/w3}
    db:
      hosts:
        d1: {root: /tmp/d1}
        d2: {root: /tmp/d2}
"""


def write_project(
    folder: Path, orch: str, inventory: str = INVENTORY, files: dict[str, str | bytes] | None = None
) -> Path:
    """site.orch + inventory.yml (+ extra files) in `folder`; returns the .orch path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yml").write_text(inventory)
    for name, content in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    site = folder / "site.orch"
    site.write_text(orch)
    return site


def compile_text(folder: Path, orch: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> CompileResult:
    site = write_project(folder, orch, **kwargs)
    return compile_project([site], folder / "inventory.yml", variables)


def compile_errors(folder: Path, orch: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> list[str]:
    """The error messages of a project that must not compile."""
    with pytest.raises(DiagnosticError) as failure:
        compile_text(folder, orch, variables, **kwargs)
    return [d.message for d in failure.value.diagnostics if d.severity == "error"]
