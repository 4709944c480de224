"""Shared fixtures. Fixture modules that start real parts (sshd, ...) are plugins listed here."""

from pathlib import Path

import pytest

pytest_plugins: list[str] = ["sshd", "postgres"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    corpus = SHARED / "corpus"
    if not corpus.is_dir():
        pytest.skip("../shared/corpus is not beside the checkout")
    return corpus
