"""The layers hold: the backends run a Plan and import neither the language nor the compiler."""

from __future__ import annotations

import ast
from pathlib import Path

BACKENDS = Path(__file__).resolve().parent.parent / "backends"
FORBIDDEN = ("orchc.dsl", "orchc.compiler")


def imported_modules(source: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_backend_module_imports_the_dsl_or_the_compiler() -> None:
    found = {
        f"{source.name}: {name}"
        for source in sorted(BACKENDS.glob("*.py"))
        for name in imported_modules(source)
        if any(name == layer or name.startswith(layer + ".") for layer in FORBIDDEN)
    }
    assert not found


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from orchc import dsl\n    import orchc.compiler.render\n")
    assert {"orchc.dsl", "orchc.compiler.render"} <= imported_modules(source)
