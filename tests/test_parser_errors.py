"""Syntax errors: each bad input gives a diagnostic with file:line:col, the line, a caret and a fix.

The rendered diagnostics are syrupy snapshots (`pytest --snapshot-update` rewrites them).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from syrupy.assertion import SnapshotAssertion

from orch_strategies import sources
from orchc.dsl.diagnostics import DiagnosticError, SourceCache, render_all
from orchc.dsl.parser import parse_text

BAD_INPUTS = {
    "missing_brace_before_next_task": 'service web {\n  task install {\n    run "dnf install -y httpd"\n\n'
    '  task start {\n    run "systemctl start httpd"\n  }\n}\n',
    "missing_brace_at_end_of_file": 'service web {\n  task start {\n    run "systemctl start httpd"\n  }\n',
    "unknown_statement_in_task": "service web {\n  task start {\n    requries db\n  }\n}\n",
    "unknown_declaration": "servce web {\n}\n",
    "unknown_statement_in_role": "role web {\n  service nginx\n}\n",
    "statement_out_of_place": "service web {\n  task start {\n    services nginx\n  }\n}\n",
    "unterminated_string": 'service web {\n  task start {\n    run "systemctl start httpd\n  }\n}\n',
    "unterminated_multiline_string": 'service web {\n  task start {\n    run """systemctl\n  }\n}\n',
    "bad_duration_unit": "service web {\n  task start {\n    timeout 10x\n  }\n}\n",
    "duration_without_unit": "service web {\n  task start {\n    retries 3 delay 5\n  }\n}\n",
    "bad_number": "type database {\n  port: int = 33o6\n}\n",
    "semicolon": 'service web {\n  task start {\n    run "a";\n  }\n}\n',
    "bad_character": "service web {\n  task start @ {\n  }\n}\n",
    "bare_word_as_value": "service web {\n  task start {\n    ansible file { state = directory }\n  }\n}\n",
    "missing_to_in_copy": 'service web {\n  task start {\n    copy "a" "/etc/a"\n  }\n}\n',
    "misspelt_scope": "service web {\n  task start {\n    requires db on rol controller\n  }\n}\n",
    "unclosed_map": 'service web {\n  task start {\n    ansible file { path = "/x"\n  }\n}\n',
    "unclosed_map_before_next_task": 'service web {\n  task start {\n    ansible file { path = "/x"\n  }\n'
    "  task stop {\n  }\n}\n",
    "unknown_escape": 'service web {\n  task start {\n    run "grep \\d+ file"\n  }\n}\n',
    "statement_given_twice": "service web {\n  task start {\n    timeout 1m\n    timeout 2m\n  }\n}\n",
    "import_after_declarations": 'service web {\n}\nimport "other.orch"\n',
}


def rendered(name: str, text: str, tmp_path: Path) -> str:
    (tmp_path / f"{name}.orch").write_text(text, encoding="utf-8")
    with pytest.raises(DiagnosticError) as error:
        parse_text(text, f"{name}.orch")
    return render_all(error.value.diagnostics, SourceCache(tmp_path))


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_syntax_error_diagnostic(name: str, tmp_path: Path, snapshot: SnapshotAssertion) -> None:
    assert rendered(name, BAD_INPUTS[name], tmp_path) == snapshot


def test_every_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    for name, text in BAD_INPUTS.items():
        first_line = rendered(name, text, tmp_path).splitlines()[0]
        assert first_line.startswith(f"{name}.orch:") and ": error: " in first_line, first_line


def test_orchc_fmt_on_broken_files_exits_1_with_every_diagnostic(tmp_path: Path) -> None:
    """A real `orchc` process: status 1, every file's diagnostics, no traceback; good files are still formatted."""
    (tmp_path / "a.orch").write_text("service a {\n", encoding="utf-8")
    (tmp_path / "b.orch").write_text("servce b {}\n", encoding="utf-8")
    (tmp_path / "c.orch").write_text("service   c {}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "orchc", "fmt", "."], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "a.orch:1:12: error: expected '}' to close service 'a' (opened at 1:1)" in done.stderr
    assert "b.orch:1:1: error: unknown statement 'servce' at the top level" in done.stderr
    assert "Traceback" not in done.stderr
    assert "reformatted c.orch" in done.stdout
    assert (tmp_path / "c.orch").read_text(encoding="utf-8") == "service c {}\n"


def errors_in(text: str) -> list[tuple[int, str]]:
    """(line, message) of every diagnostic of one parse."""
    with pytest.raises(DiagnosticError) as error:
        parse_text(text, "multi.orch")
    return [(d.span.line if d.span else 0, d.message) for d in error.value.diagnostics]


def test_several_misspelt_statements_are_reported_in_one_run() -> None:
    text = (
        'service web {\n  task a {\n    requries db\n    run "x";\n    tmeout 10m\n  }\n'
        '  task b {\n    provdes x { a = 1 }\n    run "y"\n    timeout 1m\n    timeout 2m\n  }\n}\n'
    )
    assert errors_in(text) == [
        (3, "unknown statement 'requries' in task 'a'"),
        (4, "unexpected character ';' in task 'a'"),
        (5, "unknown statement 'tmeout' in task 'a'"),
        (8, "unknown statement 'provdes' in task 'b'"),
        (11, "'timeout' is given twice"),
    ]


def test_a_misspelt_block_stops_at_the_first_error() -> None:
    assert errors_in('service web {\n  tsk a {\n    run "x"\n  }\n}\n') == [
        (2, "unknown statement 'tsk' in service 'web'")
    ]


# --- property: broken sources give diagnostics, never a crash ------------------------------

_DEBRIS = [
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ",",
    "=",
    ":",
    ".",
    '"',
    '"""',
    "#",
    ";",
    "@",
    "10x",
    "5",
    "run",
    "task",
    "service",
    "to",
    "on",
    "when",
    "-",
    "\\",
    "\n",
    "é",
]


@st.composite
def broken_sources(draw: st.DrawFn) -> str:
    text = draw(sources())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()) and at < len(text):
            text = text[:at] + text[at + draw(st.integers(1, 6)) :]
        else:
            text = text[:at] + draw(st.sampled_from(_DEBRIS)) + text[at:]
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_sources())
def test_broken_sources_give_located_diagnostics(text: str) -> None:
    try:
        parse_text(text, "broken.orch")
    except DiagnosticError as error:
        assert error.diagnostics
        for diagnostic in error.diagnostics:
            assert diagnostic.span is not None and diagnostic.span.file == "broken.orch"
            assert 1 <= diagnostic.span.line <= text.count("\n") + 1
            assert diagnostic.message and diagnostic.hint


def test_a_mistake_inside_a_statement_does_not_hide_the_next_ones() -> None:
    text = (
        'var x: int = 3o\nservice web {\n  task a {\n    timeout 10x\n    copy "a" "b"\n    run "x" @\n'
        "    retries 3 delay 5\n    ansible file { path = foo }\n    requires db on rol c\n  }\n"
        "  task b {\n    provides x { a = 1 }\n  }\n}\n"
    )
    assert errors_in(text) == [
        (1, "bad number '3o'"),
        (4, "bad duration '10x'"),
        (5, "expected 'to', got string \"b\" in task 'a'"),
        (6, "unexpected character '@' in task 'a'"),
        (7, "bad duration '5'"),
        (8, "expected a value, got the word 'foo'"),
        (9, "unexpected 'rol' after 'on' in task 'a'"),
    ]
