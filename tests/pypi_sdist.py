"""A source distribution from PyPI, downloaded once into the git-ignored corpus-cache/.

Used by the corpus tests and by the bench/ scripts that convert real projects.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def sdist_archive(name: str, version: str, archive: Path) -> Path:
    """`archive`, NAME VERSION's source distribution, downloaded with pip into its folder on first use.
    Raises RuntimeError, in one line saying what pip said and what to do, if it cannot."""
    if archive.is_file():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    command = ["pip", "download", "--no-deps", "--no-binary", ":all:", f"{name}=={version}", "-d", str(archive.parent)]
    result = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True)
    if result.returncode != 0 or not archive.is_file():
        reason = next((line for line in reversed(result.stderr.splitlines()) if line.strip()), "no output")
        raise RuntimeError(
            f"{name} {version} could not be downloaded from PyPI into {archive.parent} (offline?): "
            f"pip says: {reason.strip()}. Run the tests once with network access, or put {archive.name} there"
        )
    return archive
