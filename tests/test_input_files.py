"""Files given to orchc that are not `.orch` syntax — a plan.json, --secrets, a .orch file that is not UTF-8, a
very long line — are diagnostics at their file:line:col, with what is wrong and how to fix it (issue 13.3, 13.6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compile_helpers import write_project
from test_diagnostics import run_cli

UTF8_HINT = "  hint: the file must be UTF-8: save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)\n"
SECRET_PROJECT = 'var pw: secret\nrole web { services app }\nservice app { task t { run "echo {{ pw }}" } }\n'


@pytest.mark.parametrize("command", ["run", "graph", "simulate", "check", "compile"])
def test_a_plan_that_is_not_utf8(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plan.json").write_bytes(b'{"schema": "orchc.plan/1",\n "root": "\x1b[2J\xb6\x00"}')
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli([command, "plan.json"], monkeypatch, capsys)
    assert (status, stderr) == (
        1,
        "plan.json:2:15: error: cannot read plan.json: it is not UTF-8 text (byte 0xb6)\n"
        '  2 |  "root": "\ufffd[2J\ufffd\ufffd"}\n'  # no control characters
        "    |               ^\n" + UTF8_HINT + "\n1 error\n",
    )


def test_an_orch_file_that_is_not_utf8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path, "role web { services app }\n")
    (tmp_path / "app.orch").write_bytes('service app {\n\ttask t { run "caf\xe9" }\n}\n'.encode("latin-1"))
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli(["check", "."], monkeypatch, capsys)
    assert (status, stderr) == (
        1,
        "app.orch:2:19: error: cannot read app.orch: it is not UTF-8 text (byte 0xe9)\n"
        '  2 |  task t { run "caf\ufffd" }\n'
        "    |                   ^\n" + UTF8_HINT + "\n1 error\n",
    )


def test_a_very_long_line_is_shown_around_the_mistake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    long = "x" * 500_000
    write_project(tmp_path, f'role web {{ services app }}\nservice app {{ task t {{ run "{long}" aftr y }} }}\n')
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli(["check", "."], monkeypatch, capsys)
    assert status == 1 and len(stderr) < 1000
    assert stderr.startswith(
        "site.orch:2:500031: error: unknown statement 'aftr' in task 't'\n"
        f'  2 | ...{"x" * 88}" aftr y }} }}\n'
        f"    | {' ' * 93}^^^^\n"
    )


@pytest.mark.parametrize(
    "name, content, expected",
    [
        (
            "bad.yml",
            b"pw: [s3cret\nother: 1\n",
            "bad.yml:2:6: error: invalid YAML: expected ',' or ']', but got ':'\n  2 | other: 1\n    |      ^\n"
            "  note: bad.yml:1:5: while parsing a flow sequence\n  hint: fix the YAML syntax at this point\n",
        ),
        (
            "nothere.yml",
            None,
            "error: cannot read nothere.yml: No such file or directory\n  hint: check the path you gave\n",
        ),
        (
            "latin1.yml",
            b"pw: s\xe9cret\n",
            "latin1.yml:1:6: error: cannot read latin1.yml: it is not UTF-8 text (byte 0xe9)\n"
            "  1 | pw: s\ufffdcret\n    |      ^\n" + UTF8_HINT,
        ),
        (
            "list.yml",
            b"- pw\n",
            "list.yml:1:1: error: the secrets file must be a YAML map of names to values, not a "
            "list\n  1 | - pw\n    | ^\n  hint: write one `db_password: s3cret` per line\n",
        ),
    ],
)
def test_a_bad_secrets_file(
    name: str,
    content: bytes | None,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_project(tmp_path, SECRET_PROJECT)
    if content is not None:
        (tmp_path / name).write_bytes(content)
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli(["run", ".", "--secrets", name], monkeypatch, capsys)
    assert (status, stderr) == (1, expected + "\n1 error\n")
    assert not (tmp_path / ".orchc").exists()


def test_a_window_in_the_middle_of_a_long_line_has_an_ellipsis_on_each_side(tmp_path: Path) -> None:
    from orchc.dsl.diagnostics import Diagnostic, SourceCache, render
    from orchc.dsl.span import Span

    (tmp_path / "long.txt").write_text("a" * 500 + "WRONG" + "b" * 500 + "\n")
    shown = render(Diagnostic("error", "wrong", Span(str(tmp_path / "long.txt"), 1, 501, 1, 506)), SourceCache())
    assert shown.splitlines()[1:] == [f"  1 | ...{'a' * 25}WRONG{'b' * 70}...", f"    | {' ' * 28}^^^^^"]


@pytest.mark.parametrize(
    "content, expected",
    [
        (
            b"site.app: \xff\n",
            "d.yml:1:11: error: cannot read d.yml: it is not UTF-8 text (byte 0xff)\n"
            "  1 | site.app: \ufffd\n    |           ^\n" + UTF8_HINT,
        ),
        (
            b"site.app: [\n",
            "d.yml:2:1: error: invalid YAML: expected the node content, but found '<stream end>'\n"
            "  hint: fix the YAML syntax at this point\n",
        ),
    ],
)
def test_a_bad_durations_file(
    content: bytes, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path, SECRET_PROJECT)
    (tmp_path / "d.yml").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli(["simulate", ".", "--durations", "d.yml"], monkeypatch, capsys)
    assert (status, stderr) == (1, expected + "\n1 error\n")
