"""tests/taskcore_corpus.py: offline, the Task-Core tests are skipped with a reason that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskcore_corpus import VERSION, taskcore_source


def test_without_pypi_the_reason_says_what_failed_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # the discard port: nothing answers
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(RuntimeError) as failure:
        taskcore_source(tmp_path / "cache")
    reason = str(failure.value)
    assert reason.startswith(
        f"task-core {VERSION} could not be downloaded from PyPI into {tmp_path / 'cache'} (offline?): pip says: "
    )
    assert reason.endswith(f"Run the tests once with network access, or put task-core-{VERSION}.tar.gz there")
    assert "\n" not in reason
