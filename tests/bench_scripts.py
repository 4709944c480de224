"""The benchmark scripts of bench/, loaded as modules so that slow tests run the same code."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_bench(project_root: Path, name: str) -> ModuleType:
    """bench/NAME.py as a module."""
    spec = importlib.util.spec_from_file_location(name, project_root / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
