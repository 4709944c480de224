"""`orchc fmt`: canonical layout, comments kept, idempotent, and never a change of meaning."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchc.dsl.ast import without_positions
from orchc.dsl.format import format_source
from orchc.dsl.parser import parse_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def fmt(text: str) -> str:
    return format_source(text, "t.orch")


def test_canonical_layout() -> None:
    messy = ('import "a.orch"\nvar x: int=1\nvar y: str\nservice web{task install{run "dnf install -y httpd"}'
             'task start once{after install,x\nretries 3 delay 5s timeout 10m become when "host.vars.a"\n'
             'provides api: endpoint{url="http://{{ host.address }}",port=80}\n'
             'ansible ansible.builtin.file {path="/srv",state="directory",mode="0755",owner="web",group="web",'
             'recurse=true}\n'
             'run """a\n  b"""}}\nrole r{services web,db tolerate "10%"}anchor ready{requires api on any}')
    assert fmt(messy) == '''\
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


def test_strings_are_requoted_canonically() -> None:
    text = fmt('service s { task t { run "tab\\there \\u00e9 \\/ \\"q\\"" copy "a" to "b" } }')
    assert 'run "tab\\there é / \\"q\\""' in text


def test_comments_are_kept_in_place() -> None:
    source = '''\
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
'''
    assert fmt(source) == '''\
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
'''


def test_blank_lines_inside_blocks_are_kept_once() -> None:
    text = fmt('service s {\n  task a {\n    run "1"\n\n\n\n    run "2"\n  }\n}\n')
    assert text == 'service s {\n  task a {\n    run "1"\n\n    run "2"\n  }\n}\n'


def test_empty_blocks_and_values() -> None:
    assert fmt("service s {}\nrole r {   }") == "service s {}\n\nrole r {}\n"
    assert fmt('service s { task t { ansible ping {} } }') == \
        'service s {\n  task t {\n    ansible ping {}\n  }\n}\n'


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*") if list(p.rglob("*.orch"))))
def test_examples_are_already_formatted_or_format_stably(example: str) -> None:
    for path in sorted((EXAMPLES / example).rglob("*.orch")):
        source = path.read_text(encoding="utf-8")
        once = fmt(source)
        assert fmt(once) == once
        assert without_positions(parse_text(once, "t.orch")) == without_positions(parse_text(source, "t.orch"))
        assert Counter(c.text for c in parse_text(once, "t").comments) == \
            Counter(c.text for c in parse_text(source, "t").comments)


def _without_sources(data: object) -> object:
    if isinstance(data, dict):
        return {k: _without_sources(v) for k, v in data.items() if k != "source"}
    if isinstance(data, list):
        return [_without_sources(v) for v in data]
    return data


@pytest.mark.parametrize("example", ["openstack-mini", "webapp"])
def test_formatting_an_example_never_changes_its_plan(example: str, tmp_path: Path, run_fmt) -> None:  # type: ignore[no-untyped-def]
    compiler = pytest.importorskip("orchc.compiler")
    source = EXAMPLES / example
    if not (source / "inventory.yml").exists():
        pytest.skip(f"examples/{example} is not there yet")
    copy = tmp_path / example
    shutil.copytree(source, copy)
    before = compiler.compile_project([copy], copy / "inventory.yml").plan
    assert run_fmt(str(copy)).status == 0
    after = compiler.compile_project([copy], copy / "inventory.yml").plan
    assert _without_sources(json.loads(after.to_json())) == _without_sources(json.loads(before.to_json()))


# --- the command -----------------------------------------------------------------------


@dataclass
class Outcome:
    status: int
    stdout: str
    stderr: str


@pytest.fixture
def run_fmt(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run `orchc fmt ARGS` in this process, in tmp_path, as the console script does."""
    from orchc.cli import main

    def run(*args: str) -> Outcome:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "argv", ["orchc", "fmt", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        return Outcome(int(exited.value.code or 0), out, err)
    return run


def test_fmt_command_rewrites_then_check_passes(tmp_path: Path, run_fmt) -> None:  # type: ignore[no-untyped-def]
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


def test_fmt_command_on_a_missing_path_or_an_empty_folder(tmp_path: Path, run_fmt) -> None:  # type: ignore[no-untyped-def]
    done = run_fmt("nowhere")
    assert done.status == 1 and "error: no such file or folder: nowhere" in done.stderr
    (tmp_path / "empty").mkdir()
    assert run_fmt("empty") == Outcome(0, "no .orch files in empty\n", "")


# --- property: random valid sources ---------------------------------------------------------

names = st.sampled_from(["a", "web", "db_sync", "x1", "host", "mode", "run", "_p", "service", "to", "on", "vars", "type"])
separators = st.sampled_from([" ", " ", "\n", "\n\n    ", "\t", "  # note\n", "\n# own line\n"])
plain_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
triple_text = st.text(st.sampled_from('ab "\n\\{}#'), max_size=12).filter(
    lambda t: '"""' not in t and not t.endswith('"'))
strings = st.one_of(plain_text.map(lambda t: json.dumps(t, ensure_ascii=False)),
                    triple_text.map(lambda t: f'"""{t}"""'))
scalars = st.one_of(strings, st.integers(-10, 5000).map(str), st.sampled_from(["1.5", "0.25", "-2.0"]),
                    st.sampled_from(["500ms", "5s", "10m", "1h30m", "true", "false", "null"]))
keys = st.one_of(names, st.sampled_from(['"a-b"', '"x y"']))
values = st.recursive(
    scalars.map(lambda s: [s]),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: ["[", *_joined(items, ","), "]"]),
        st.lists(st.tuples(keys, inner), max_size=3).map(
            lambda entries: ["{", *_joined([[k, "=", *v] for k, v in entries], ","), "}"])),
    max_leaves=6)
map_values = st.lists(st.tuples(keys, values), max_size=3).map(
    lambda entries: ["{", *_joined([[k, "=", *v] for k, v in entries], ","), "}"])
name_lists = st.lists(names, min_size=1, max_size=3).map(lambda ns: _joined([[n] for n in ns], ","))


def _joined(parts: list[list[str]], separator: str) -> list[str]:
    tokens: list[str] = []
    for index, part in enumerate(parts):
        tokens += part + ([separator] if index + 1 < len(parts) else [])
    return tokens


def _optional(strategy: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), strategy)


type_suffix = _optional(names.map(lambda n: [":", n]))
scopes = _optional(st.one_of(st.just(["on", "same", "host"]), names.map(lambda n: ["on", "role", n]),
                             st.just(["on", "any"])))
file_options = st.lists(st.sampled_from(["mode", "owner"]), unique=True, max_size=2).flatmap(
    lambda keywords: st.tuples(*[strings for _ in keywords]).map(
        lambda texts: [t for k, s in zip(keywords, texts) for t in (k, s)]))
repeatable_statements = st.one_of(
    name_lists.map(lambda ns: ["after", *ns]),
    name_lists.map(lambda ns: ["before", *ns]),
    st.tuples(names, type_suffix, scopes).map(lambda t: ["requires", t[0], *t[1], *t[2]]),
    st.tuples(names, type_suffix, _optional(map_values)).map(lambda t: ["provides", t[0], *t[1], *t[2]]),
    strings.map(lambda s: ["run", s]),
    st.tuples(st.sampled_from(["copy", "template"]), strings, strings, file_options).map(
        lambda t: [t[0], t[1], "to", t[2], *t[3]]),
    st.tuples(strings, _optional(map_values.map(lambda m: ["vars", *m]))).map(lambda t: ["playbook", t[0], *t[1]]),
    st.tuples(st.sampled_from(["ping", "ansible.builtin.file", "community.general.ini_file"]), map_values).map(
        lambda t: ["ansible", t[0], *t[1]]),
    st.tuples(st.sampled_from(["common", "geerlingguy.mysql", '"ansible-role-x"']),
              _optional(map_values.map(lambda m: ["vars", *m]))).map(lambda t: ["role", t[0], *t[1]]),
)
single_statements = st.fixed_dictionaries({}, optional={
    "concurrency": st.integers(0, 9).map(lambda n: ["concurrency", str(n)]),
    "retries": st.tuples(st.integers(0, 9), _optional(st.just(["delay", "5s"]))).map(
        lambda t: ["retries", str(t[0]), *t[1]]),
    "timeout": st.sampled_from(["10m", "1h30m", "500ms"]).map(lambda d: ["timeout", d]),
    "when": strings.map(lambda s: ["when", s]),
    "changed": name_lists.map(lambda ns: ["when", "changed", "(", *ns, ")"]),
    "become": st.just(["become"]),
})
tasks = st.tuples(names, st.booleans(), st.lists(repeatable_statements, max_size=4), single_statements,
                  st.randoms(use_true_random=False)).map(
    lambda t: _task(t[0], t[1], t[2], list(t[3].values()), t[4]))


def _task(name: str, once: bool, repeated: list[list[str]], singles: list[list[str]], rng) -> list[str]:  # type: ignore[no-untyped-def]
    statements = repeated + singles
    rng.shuffle(statements)
    return ["task", name, *(["once"] if once else []), "{", *[t for s in statements for t in s], "}"]


items = st.one_of(
    st.lists(tasks, max_size=3).map(lambda ts: ["service", "s", "{", *[t for task in ts for t in task], "}"]),
    st.lists(st.tuples(names, names, _optional(values.map(lambda v: ["=", *v]))), max_size=3).map(
        lambda fs: ["type", "t", "{", *[t for n, ty, d in fs for t in (n, ":", ty, *d)], "}"]),
    st.tuples(names, names, _optional(values.map(lambda v: ["=", *v]))).map(
        lambda t: ["var", t[0], ":", t[1], *t[2]]),
    st.tuples(st.lists(name_lists, max_size=2), _optional(st.sampled_from(["0", "3", '"10%"']).map(
        lambda v: ["tolerate", v]))).map(
        lambda t: ["role", "r", "{", *[x for ns in t[0] for x in ("services", *ns)], *t[1], "}"]),
    st.lists(st.one_of(name_lists.map(lambda ns: ["after", *ns]),
                       st.tuples(names, scopes).map(lambda t: ["requires", t[0], *t[1]]),
                       names.map(lambda n: ["provides", n])), max_size=3).map(
        lambda ss: ["anchor", "ready", "{", *[t for s in ss for t in s], "}"]),
)
modules = st.tuples(st.lists(strings.map(lambda s: ["import", s]), max_size=2), st.lists(items, max_size=3)).map(
    lambda t: [x for part in t[0] + t[1] for x in part])


@st.composite
def sources(draw: st.DrawFn) -> str:
    tokens = draw(modules)
    gaps = draw(st.lists(separators, min_size=len(tokens) + 1, max_size=len(tokens) + 1))
    return "".join(gap + token for gap, token in zip(gaps, tokens + [""]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources())
def test_fmt_is_idempotent_and_keeps_meaning_and_comments(source: str) -> None:
    formatted = fmt(source)
    assert fmt(formatted) == formatted
    assert without_positions(parse_text(formatted, "t.orch")) == without_positions(parse_text(source, "t.orch"))
    assert Counter(c.text for c in parse_text(formatted, "t").comments) == \
        Counter(c.text for c in parse_text(source, "t").comments)
