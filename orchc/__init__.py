"""orchc: deployment orchestration as a dependency graph.

Use it from Python through `orchc.api`, whose names are also this package's
(`orchc.load_project`, `orchc.compile_project`, `orchc.run`, ...). Where each
idea lives: `orchc.dsl` (text -> AST), `orchc.compiler` (AST -> Plan),
`orchc.plan` (the Plan IR's schema) and `orchc.plan_json` (its writer),
`orchc.backends` (run a Plan), `orchc.migrate` (foreign formats -> .orch
text); `orchc.project` and `orchc.secrets` (a run's inputs), `orchc.cli` and
its `cmd_*` modules (the command line).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers see; at run time `__getattr__` imports the API on first use
    from orchc.api import *  # noqa: F403


def __getattr__(name: str) -> Any:
    """A name of `orchc.api`, imported on first use: every `orchc` command and `orchc.dsl` import starts here,
    and most of them need neither the engine nor asyncio."""
    # `from orchc import cmd_run` asks here first: a sub-module is left to the import system.
    if name.startswith("_") or importlib.util.find_spec(f"{__name__}.{name}") is not None:
        raise AttributeError(f"module 'orchc' has no attribute '{name}'")
    api = importlib.import_module("orchc.api")
    if name not in api.__all__:
        raise AttributeError(f"module 'orchc' has no attribute '{name}'")
    return getattr(api, name)
