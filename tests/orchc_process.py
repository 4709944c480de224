"""`orchc` run as a separate process, as a user runs it (for tests whose subject is the process itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def orchc(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
