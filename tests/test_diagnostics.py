"""Every bad input of issue 2 (point 6): the CLI's stderr and exit status, snapshotted.

Each case is a small project under tests/data/diagnostics/<case>/ with its
inventory beside it. The CLI runs in-process, from the case's folder, so
paths in the messages are short and stable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from orchc import cli

CASES_DIR = Path(__file__).parent / "data" / "diagnostics"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())
WARNING_ONLY = {"service_on_no_role"}


def run_cli(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run `orchc ARGS` as the console script does; return (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["orchc", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def test_the_eighteen_cases_of_the_issue_are_all_here() -> None:
    assert len(CASES) == 18


@pytest.mark.parametrize("case", CASES)
def test_diagnostic(case: str, snapshot, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(CASES_DIR / case)
    status, stdout, stderr = run_cli(["check", "."], monkeypatch, capsys)
    assert "Traceback" not in stderr
    assert status == (0 if case in WARNING_ONLY else 1)
    assert ("site.orch:" in stderr) or ("b.orch:" in stderr)
    assert f"exit {status}\n{stderr}" == snapshot
