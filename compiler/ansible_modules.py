"""Ansible module names, resolved when the project compiles, by ansible-core's own plugin loader.

`ansible MODULE { ... }` runs MODULE as a task of a playbook in the folder of the `.orch` file that
names it, so its name resolves as ansible-playbook would resolve it there: `library/` and
`action_plugins/` beside that file, the collections in `collections/` beside it, ANSIBLE_LIBRARY and
ANSIBLE_COLLECTIONS_PATH (or their ansible.cfg settings, or Ansible's defaults), ansible-core's own
modules. A name none of them holds is an error at compile time, not a failed run. Each distinct name is
resolved once per folder; projects without `ansible` actions never load ansible-core's plugin loader.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchc.compiler.symbols import Symbols
from orchc.dsl.ast import AnsibleModule
from orchc.dsl.diagnostics import Diagnostics, did_you_mean

_compilations = itertools.count()


@dataclass(frozen=True)
class _Problem:
    message: str
    hint: str


def check_modules(symbols: Symbols, diagnostics: Diagnostics) -> None:
    """An error at each `ansible` action whose module ansible-core cannot resolve."""
    actions = [
        action
        for tasks in symbols.tasks.values()
        for task in tasks.values()
        for action in task.actions
        if isinstance(action, AnsibleModule)
    ]
    folders: dict[str, _Folder] = {}
    problems: dict[tuple[str, str], _Problem | None] = {}
    for action in actions:
        folder = os.path.dirname(os.path.abspath(action.span.file))
        key = (folder, action.module)
        if key not in problems:
            if folder not in folders:
                folders[folder] = _Folder(folder)
            problems[key] = folders[folder].problem(action.module)
        problem = problems[key]
        if problem is not None:
            diagnostics.error(problem.message, action.name_span, hint=problem.hint)


class _Folder:
    """ansible-core's view from one folder: ansible-playbook's for a playbook there."""

    def __init__(self, folder: str) -> None:
        from ansible import constants
        from ansible.plugins.loader import PluginLoader, init_plugin_loader
        from ansible.utils.collection_loader import AnsibleCollectionConfig

        if AnsibleCollectionConfig.collection_finder is None:
            init_plugin_loader()
        self.folder = folder
        # Loaders of its own, under class names of their own (ansible-core caches what a loader finds by
        # class name): the global loaders keep every folder they are given, and neither another project's
        # library/ nor this one's as it was at an earlier compilation may resolve a name now.
        key = f"orchc:{next(_compilations)}:{folder}"
        self.modules = PluginLoader(f"{key}:module", "ansible.modules", constants.DEFAULT_MODULE_PATH, "library")
        self.actions = PluginLoader(
            f"{key}:action",
            "ansible.plugins.action",
            constants.DEFAULT_ACTION_PLUGIN_PATH,
            "action_plugins",
            required_base_class="ActionBase",
        )
        for loader in (self.modules, self.actions):
            if os.path.isdir(os.path.join(folder, loader.subdir)):
                loader.add_directory(os.path.join(folder, loader.subdir))

    def problem(self, name: str) -> _Problem | None:
        """Why `name` names no module or action plugin from here, or None if it does."""
        from ansible.errors import AnsibleError

        self._use_collections_beside()
        errors: list[BaseException] = []
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # its warnings: what the diagnostic says better
                for loader in (self.modules, self.actions):
                    found = loader.find_plugin_with_context(name)
                    if found.resolved:
                        return None
                    errors += found.raw_error_list
        except AnsibleError as exc:  # removed from its collection, or redirected in a loop
            return _Problem(
                f"Ansible module '{name}' cannot be used: {exc.message}",
                hint="use the module its message names instead",
            )
        return self._unknown(name, errors)

    def _use_collections_beside(self) -> None:
        """`collections/` beside this folder first, as for a playbook here; what was imported from another
        folder's `collections/` is forgotten, so that it resolves no name here."""
        from ansible.utils.collection_loader import AnsibleCollectionConfig

        previous = AnsibleCollectionConfig.playbook_paths
        if previous == [os.path.join(self.folder, "collections")]:
            return
        for name, module in list(sys.modules.items()):
            files = list(getattr(module, "__path__", None) or [getattr(module, "__file__", None) or ""])
            if name.startswith("ansible_collections.") and any(
                file.startswith(os.path.join(path, "")) for file in files for path in previous
            ):
                del sys.modules[name]
        AnsibleCollectionConfig.playbook_paths = [self.folder]

    def _unknown(self, name: str, errors: list[BaseException]) -> _Problem:
        from ansible import constants

        parts = name.split(".")
        if len(parts) == 1:
            looked = (
                f"no module of that name in ansible-core, library/ beside this file or ANSIBLE_LIBRARY "
                f"({os.pathsep.join(self._library_paths()) or 'none'}); a collection's module is named "
                "with its collection (`community.general.ufw`)"
            )
            return _Problem(
                f"unknown Ansible module '{name}'",
                hint=did_you_mean(name, _builtin_modules() + self._library_modules()) or looked,
            )
        if len(parts) == 2:
            return _Problem(
                f"'{name}' is not an Ansible module name",
                hint="write a module's name (`lineinfile`), or its full name with its collection's "
                "(`community.general.ufw`)",
            )
        collection = ".".join(parts[:2])
        missing = {f"ansible_collections.{parts[0]}", f"ansible_collections.{collection}"}  # namespace, collection
        if any(isinstance(exc, ModuleNotFoundError) and exc.name in missing for exc in errors):
            return _Problem(
                f"unknown Ansible module '{name}': collection '{collection}' is not installed",
                hint=f"install it (`ansible-galaxy collection install {collection}`), or put it "
                "in collections/ beside this file or in ANSIBLE_COLLECTIONS_PATH "
                f"({os.pathsep.join(constants.COLLECTIONS_PATHS) or 'empty'})",
            )
        candidates = [f"ansible.builtin.{module}" for module in _builtin_modules()]
        candidates += [f"{collection}.{module}" for module in _collection_modules(collection)]
        return _Problem(
            f"unknown Ansible module '{name}'",
            hint=did_you_mean(name, candidates) or f"collection '{collection}' has no module '{parts[-1]}'",
        )

    def _library_paths(self) -> list[str]:
        from ansible import constants

        beside = os.path.join(self.folder, "library")
        return ([beside] if os.path.isdir(beside) else []) + list(constants.DEFAULT_MODULE_PATH)

    def _library_modules(self) -> list[str]:
        return [name for folder in self._library_paths() for name in _module_names(Path(folder))]


def _builtin_modules() -> list[str]:
    import ansible.modules

    return _module_names(Path(ansible.modules.__path__[0]))


def _collection_modules(collection: str) -> list[str]:
    """The modules of an installed collection, as its package (found by ansible-core's finder) holds them."""
    import importlib

    try:
        package: Any = importlib.import_module(f"ansible_collections.{collection}")
    except ImportError:
        return []
    return [name for folder in package.__path__ for name in _module_names(Path(folder) / "plugins" / "modules")]


def _module_names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return [path.stem for path in folder.iterdir() if path.is_file() and not path.name.startswith(("_", "."))]
