"""Task-Core 0.2.1's source distribution from PyPI, unpacked once under corpus-cache/ (git ignores it).

Used by the taskcore migration tests and by bench/taskcore_scale.py. Where PyPI
cannot be reached the tests skip, except in CI (`CI` set), where they fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

VERSION = "0.2.1"
CACHE = Path(__file__).resolve().parent.parent / "corpus-cache"


def taskcore_source(cache: Path = CACHE) -> Path:
    """The unpacked sdist folder; downloads it with pip on first use. Raises RuntimeError, saying why and what
    to do, if it cannot."""
    folder = cache / f"task-core-{VERSION}"
    if (folder / "examples").is_dir():
        return folder
    cache.mkdir(exist_ok=True)
    archive = cache / f"task-core-{VERSION}.tar.gz"
    if not archive.is_file():
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"task-core=={VERSION}",
                "-d",
                str(cache),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0 or not archive.is_file():
            reason = next((line for line in reversed(result.stderr.splitlines()) if line.strip()), "no output")
            raise RuntimeError(
                f"task-core {VERSION} could not be downloaded from PyPI into {cache} (offline?): "
                f"pip says: {reason.strip()}. Run the tests once with network access, or put "
                f"{archive.name} there"
            )
    with tarfile.open(archive) as tar:
        tar.extractall(cache, filter="data")
    return folder


def in_ci() -> bool:
    return bool(os.environ.get("CI"))
