"""Where every `orchc` command writes its messages for people: one rich console on stderr."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@cache
def stderr() -> Console:
    """The console, made on first use: most runs print nothing there (saves rich's ~25 ms import)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)
