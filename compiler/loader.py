"""Find the `.orch` files of a project, parse them and follow their imports.

Inputs are files or folders (every `*.orch` below, sorted). Imports are
relative to the importing file and loaded once each; a missing import and an
import cycle are errors at the `import` line.
"""

from __future__ import annotations

import os
from operator import attrgetter
from pathlib import Path

from orchc.dsl.ast import Import, Module
from orchc.dsl.diagnostics import Diagnostic, DiagnosticError, Diagnostics


def input_files(inputs: list[Path], diagnostics: Diagnostics) -> dict[Path, Path]:
    """The `.orch` files named by the inputs, in order, each once (hidden folders such as .orchc/ skipped).

    Keyed by resolved path, each file as it was found.
    """
    files: list[tuple[Path, Path]] = []
    for path in inputs:
        if path.is_dir():
            found = _orch_files_below(path)
            if not found:
                diagnostics.error(
                    f"no .orch files in folder '{path}'", hint="give a folder that holds .orch files, or one .orch file"
                )
            files.extend(found)
        elif path.is_file():
            files.append((path, path.resolve()))
        else:
            diagnostics.extend([missing_input(path)])
    unique: dict[Path, Path] = {}
    for file, key in files:
        unique.setdefault(key, file)
    return unique


def _orch_files_below(folder: Path) -> list[tuple[Path, Path]]:
    """Each `*.orch` file below `folder` with its resolved path, sorted; hidden files and folders skipped.

    Walks the folders itself, so that only symbolic links need resolving (a stat per path component).
    """
    found: list[tuple[Path, Path]] = []
    _scan(folder, folder.resolve(), found)
    return found


def _scan(folder: Path, resolved: Path, found: list[tuple[Path, Path]]) -> None:
    """Like `Path.rglob`: folders behind symbolic links are not entered, unreadable folders are skipped.

    Entries are taken in order of name, so the files come sorted as paths are.
    """
    try:
        with os.scandir(folder) as entries:
            visible = sorted((entry for entry in entries if not entry.name.startswith(".")), key=attrgetter("name"))
    except PermissionError:
        return
    for entry in visible:
        if entry.is_dir(follow_symlinks=False):
            _scan(folder / entry.name, resolved / entry.name, found)
        elif entry.name.endswith(".orch") and entry.is_file():
            file = folder / entry.name
            found.append((file, file.resolve() if entry.is_symlink() else resolved / entry.name))


def missing_input(path: Path) -> Diagnostic:
    return Diagnostic("error", f"input '{path}' does not exist", hint="give a .orch file or a folder of them")


class _Loader:
    def __init__(self, diagnostics: Diagnostics) -> None:
        self.diagnostics = diagnostics
        self.modules: dict[Path, Module | None] = {}  # resolved path -> parsed module (None: failed)
        self.order: list[Module] = []
        self.visiting: list[tuple[Path, Import | None]] = []  # the import chain being loaded

    def load(self, path: Path, key: Path, via: Import | None) -> None:
        """Parse `path` (resolved: `key`) and what it imports, unless it is loaded already."""
        chain = [p for p, _ in self.visiting]
        if key in chain:
            self._report_cycle(chain[chain.index(key) :] + [key], via)
            return
        if key in self.modules:
            return
        module = self._parse(path)
        self.modules[key] = module
        if module is None:
            return
        self.order.append(module)
        self.visiting.append((key, via))
        for imported in module.imports:
            target = Path(os.path.normpath(Path(module.file).parent / imported.path.value))
            if not target.is_file():
                self.diagnostics.error(
                    f"import '{imported.path.value}' not found (looked for '{target}')",
                    imported.path.span,
                    hint="import paths are relative to the file that imports them",
                )
                continue
            self.load(target, target.resolve(), imported)
        self.visiting.pop()

    def _parse(self, path: Path) -> Module | None:
        from orchc.dsl.parser import parse_file

        try:
            return parse_file(path, comments=False)  # the compiler reads no comments
        except DiagnosticError as exc:
            self.diagnostics.extend(exc.diagnostics)
            return None

    def _report_cycle(self, cycle: list[Path], via: Import | None) -> None:
        names = " -> ".join(_display(p) for p in cycle)
        self.diagnostics.error(
            f"import cycle: {names}",
            via.span if via else None,
            hint="move what both files need into a third file that both import",
        )


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def load_modules(inputs: list[Path], diagnostics: Diagnostics) -> list[Module]:
    """Parse the inputs and everything they import, each file once, in a stable order."""
    loader = _Loader(diagnostics)
    for key, file in input_files(inputs, diagnostics).items():
        loader.load(file, key, None)
    return loader.order
