"""`orchc fmt`: canonical layout, comments kept, idempotent, and never a change of meaning."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from orch_strategies import sources
from orchc.dsl.ast import without_positions
from orchc.dsl.diagnostics import DiagnosticError
from orchc.dsl.format import format_source
from orchc.dsl.parser import parse_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def fmt(text: str) -> str:
    return format_source(text, "t.orch")


def test_canonical_layout() -> None:
    messy = (
        'import "a.orch"\nvar x: int=1\nvar y: str\nservice web{task install{run "dnf install -y httpd"}'
        'task start once{after install,x\nretries 3 delay 5s timeout 10m become when "host.vars.a"\n'
        'provides api: endpoint{url="http://{{ host.address }}",port=80}\n'
        'ansible ansible.builtin.file {path="/srv",state="directory",mode="0755",owner="web",group="web",'
        "recurse=true}\n"
        'run """a\n  b"""}}\nrole r{services web,db tolerate "10%"}anchor ready{requires api on any}'
    )
    assert (
        fmt(messy)
        == '''\
import "a.orch"

var x: int = 1
var y: str

service web {
  task install {
    run "dnf install -y httpd"
  }
  task start once {
    after install, x
    retries 3 delay 5s
    timeout 10m
    become
    when "host.vars.a"
    provides api: endpoint { url = "http://{{ host.address }}", port = 80 }
    ansible ansible.builtin.file {
      path = "/srv",
      state = "directory",
      mode = "0755",
      owner = "web",
      group = "web",
      recurse = true,
    }
    run """a
  b"""
  }
}

role r {
  services web, db
  tolerate "10%"
}

anchor ready {
  requires api on any
}
'''
    )


def test_each_when_statement_keeps_its_line() -> None:
    text = (
        'service s {\n  task t {\n    when ansible "x | bool"  # decided when compiling\n    when "y"\n'
        "    when notified(config, db.config)\n  }\n}\n"
    )
    assert fmt(text) == text
    assert fmt('service s { task t { when "y"  when ansible "x | bool" } }') == (
        'service s {\n  task t {\n    when "y"\n    when ansible "x | bool"\n  }\n}\n'
    )


def test_strings_are_requoted_canonically() -> None:
    text = fmt('service s { task t { run "tab\\there \\u00e9 \\/ \\"q\\"" copy "a" to "b" } }')
    assert 'run "tab\\there é / \\"q\\""' in text


def test_comments_are_kept_in_place() -> None:
    source = """\
# header

import "a.orch"  # why a
service s { # about s
  # before t
  task t { run "x" } # after t


  task u {
    after t,   # inside a list
      t2
    ansible file { path = "/x", # the path
      state = "absent" }
    # last in u
  }
}
# end
"""
    assert (
        fmt(source)
        == """\
# header

import "a.orch"  # why a

service s {  # about s
  # before t
  task t {
    run "x"
  }  # after t

  task u {
    # inside a list
    after t, t2
    ansible file {
      path = "/x",  # the path
      state = "absent",
    }
    # last in u
  }
}
# end
"""
    )


def test_long_name_lists_wrap_after_a_comma() -> None:
    names = [f"service_number_{i}" for i in range(12)]
    text = fmt("role r { services " + ", ".join(names) + " }")
    assert text == (
        "role r {\n"
        "  services service_number_0, service_number_1, service_number_2, service_number_3, "
        "service_number_4,\n"
        "      service_number_5, service_number_6, service_number_7, service_number_8, "
        "service_number_9,\n"
        "      service_number_10, service_number_11\n"
        "}\n"
    )
    assert fmt(text) == text
    assert [n.value for n in parse_text(text, "t").items[0].services] == names


def test_blank_lines_inside_blocks_are_kept_once() -> None:
    text = fmt('service s {\n  task a {\n    run "1"\n\n\n\n    run "2"\n  }\n}\n')
    assert text == 'service s {\n  task a {\n    run "1"\n\n    run "2"\n  }\n}\n'


def test_empty_blocks_and_values() -> None:
    assert fmt("service s {}\nrole r {   }") == "service s {}\n\nrole r {}\n"
    assert fmt("service s { task t { ansible ping {} } }") == "service s {\n  task t {\n    ansible ping {}\n  }\n}\n"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*") if list(p.rglob("*.orch"))))
def test_examples_are_already_formatted_or_format_stably(example: str) -> None:
    for path in sorted((EXAMPLES / example).rglob("*.orch")):
        source = path.read_text(encoding="utf-8")
        once = fmt(source)
        assert fmt(once) == once
        assert without_positions(parse_text(once, "t.orch")) == without_positions(parse_text(source, "t.orch"))
        assert Counter(c.text for c in parse_text(once, "t").comments) == Counter(
            c.text for c in parse_text(source, "t").comments
        )


def _without_sources(data: object) -> object:
    if isinstance(data, dict):
        return {k: _without_sources(v) for k, v in data.items() if k != "source"}
    if isinstance(data, list):
        return [_without_sources(v) for v in data]
    return data


@pytest.mark.parametrize(
    "example", sorted(p.parent.name for p in EXAMPLES.glob("*/inventory.yml") if list(p.parent.rglob("*.orch")))
)
def test_formatting_an_example_never_changes_its_plan(example: str, tmp_path: Path, run_fmt: RunFmt) -> None:
    compiler = pytest.importorskip("orchc.compiler")
    source = EXAMPLES / example
    copy = tmp_path / example
    shutil.copytree(source, copy)
    try:
        before = compiler.compile_project([copy], copy / "inventory.yml").plan
    except DiagnosticError:
        pytest.skip(f"examples/{example} does not compile on its own (it needs variables)")
    assert run_fmt(str(copy)).status == 0
    after = compiler.compile_project([copy], copy / "inventory.yml").plan
    assert _without_sources(json.loads(after.to_json())) == _without_sources(json.loads(before.to_json()))


# --- the command -----------------------------------------------------------------------


@dataclass
class Outcome:
    status: int
    stdout: str
    stderr: str


RunFmt = Callable[..., Outcome]


@pytest.fixture
def run_fmt(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> RunFmt:
    """Run `orchc fmt ARGS` in this process, in tmp_path, as the console script does."""
    from orchc.cli import main

    def run(*args: str, stdin: str = "") -> Outcome:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "argv", ["orchc", "fmt", *args])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        return Outcome(int(exited.value.code or 0), out, err)

    return run


def test_fmt_command_rewrites_then_check_passes(tmp_path: Path, run_fmt: RunFmt) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.orch").write_text("service a { }\n", encoding="utf-8")
    (tmp_path / "sub" / "b.orch").write_text("service b {}\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("service   c {}", encoding="utf-8")

    checked = run_fmt(".", "--check")
    assert checked.status == 1
    assert checked.stdout == "would reformat a.orch\n1 file would be reformatted, 1 file already formatted\n"
    assert (tmp_path / "a.orch").read_text(encoding="utf-8") == "service a { }\n"

    done = run_fmt(".")
    assert done.status == 0 and done.stdout == "reformatted a.orch\n1 file reformatted, 1 file left unchanged\n"
    assert (tmp_path / "a.orch").read_text(encoding="utf-8") == "service a {}\n"

    assert run_fmt(".", "--check").status == 0
    assert run_fmt("sub/b.orch", "--check").status == 0
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "service   c {}"


def test_fmt_command_from_stdin_to_stdout(run_fmt: RunFmt) -> None:
    assert run_fmt("-", stdin="service   a { }") == Outcome(0, "service a {}\n", "")
    assert run_fmt("-", "--check", stdin="service   a { }").status == 1
    assert run_fmt("-", "--check", stdin="service a {}\n").status == 0
    broken = run_fmt("-", stdin="servce a {}")
    assert broken.status == 1 and "<stdin>:1:1: error: unknown statement 'servce'" in broken.stderr


def test_fmt_diff_prints_a_patch_and_changes_nothing(tmp_path: Path, run_fmt: RunFmt) -> None:
    (tmp_path / "a.orch").write_text("service a { }", encoding="utf-8")  # no newline at the end
    (tmp_path / "b.orch").write_text("service b {}\n", encoding="utf-8")

    shown = run_fmt(".", "--diff")
    assert shown.status == 1
    assert shown.stdout == (
        "--- a.orch\n+++ a.orch\n@@ -1 +1 @@\n-service a { }\n\\ No newline at end of file\n+service a {}\n"
    )
    assert shown.stderr == "1 file would be reformatted, 1 file already formatted\n"
    assert (tmp_path / "a.orch").read_text(encoding="utf-8") == "service a { }"

    if shutil.which("patch"):  # the diff is a patch: applied, the file is formatted
        subprocess.run(["patch", "-p0", "--quiet"], input=shown.stdout, text=True, cwd=tmp_path, check=True)
        assert run_fmt(".", "--diff") == Outcome(0, "", "0 files would be reformatted, 2 files already formatted\n")


def test_fmt_diff_from_stdin(run_fmt: RunFmt) -> None:
    shown = run_fmt("-", "--diff", stdin="service   a {}\n")
    assert shown == Outcome(1, "--- <stdin>\n+++ <stdin>\n@@ -1 +1 @@\n-service   a {}\n+service a {}\n", "")
    assert run_fmt("-", "--diff", stdin="service a {}\n") == Outcome(0, "", "")


def test_fmt_command_on_a_missing_path_or_an_empty_folder(tmp_path: Path, run_fmt: RunFmt) -> None:
    done = run_fmt("nowhere")
    assert done.status == 1 and "error: no such file or folder: nowhere" in done.stderr
    (tmp_path / "empty").mkdir()
    assert run_fmt("empty") == Outcome(0, "no .orch files in empty\n", "")


# --- property: random valid sources (tests/orch_strategies.py) ------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources())
def test_fmt_is_idempotent_and_keeps_meaning_and_comments(source: str) -> None:
    formatted = fmt(source)
    assert fmt(formatted) == formatted
    assert without_positions(parse_text(formatted, "t.orch")) == without_positions(parse_text(source, "t.orch"))
    assert Counter(c.text for c in parse_text(formatted, "t").comments) == Counter(
        c.text for c in parse_text(source, "t").comments
    )
