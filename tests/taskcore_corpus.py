"""Task-Core 0.2.1's source distribution from PyPI, unpacked once under corpus-cache/ (git ignores it).

Used by the taskcore migration tests and by bench/taskcore_scale.py. Where PyPI
cannot be reached the tests skip, except in CI (`CI` set), where they fail.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from pypi_sdist import sdist_archive

VERSION = "0.2.1"
CACHE = Path(__file__).resolve().parent.parent / "corpus-cache"


def taskcore_source(cache: Path = CACHE) -> Path:
    """The unpacked sdist folder; downloads it with pip on first use. Raises RuntimeError, saying why and what
    to do, if it cannot."""
    folder = cache / f"task-core-{VERSION}"
    if (folder / "examples").is_dir():
        return folder
    archive = sdist_archive("task-core", VERSION, cache / f"task-core-{VERSION}.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(cache, filter="data")
    return folder


def in_ci() -> bool:
    return bool(os.environ.get("CI"))
