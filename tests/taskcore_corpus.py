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


def taskcore_source() -> Path:
    """The unpacked sdist folder; downloads it with pip on first use. Raises RuntimeError if it cannot."""
    folder = CACHE / f"task-core-{VERSION}"
    if (folder / "examples").is_dir():
        return folder
    CACHE.mkdir(exist_ok=True)
    archive = CACHE / f"task-core-{VERSION}.tar.gz"
    if not archive.is_file():
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                                 f"task-core=={VERSION}", "-d", str(CACHE)], capture_output=True, text=True)
        if result.returncode != 0 or not archive.is_file():
            raise RuntimeError(f"pip download task-core=={VERSION} failed: {result.stderr.strip()[-300:]}")
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")
    return folder


def in_ci() -> bool:
    return bool(os.environ.get("CI"))
