"""The parser: every construct of the language, spans, strings, and the extensions others rely on."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchc.dsl import ast
from orchc.dsl.diagnostics import DiagnosticError
from orchc.dsl.keywords import keywords
from orchc.dsl.parser import parse_file, parse_files, parse_text

DESIGN_EXAMPLE = """\
# comment
import "common.orch"                 # relative to this file

type database {                      # capability type: named, typed fields
  host: str
  port: int = 3306
}
type endpoint {
  url: str
}

var region: str = "RegionOne"        # typed variable with default
var admin_password: secret           # no default: must be supplied at run time

role controller {                    # a role = an inventory group
  services keystone, mariadb
  tolerate 0                         # failed hosts allowed: N or "N%"
}
role compute {
  services nova_compute              # defined in another file
  tolerate "10%"
}

service mariadb {
  task install {
    run "dnf install -y mariadb-server"
  }
  task start {
    after install                    # same service, same host
    run "systemctl enable --now mariadb"
    provides db: database { host = "{{ host.address }}" }
  }
}

service keystone {
  task install {
    run "dnf install -y openstack-keystone httpd"
  }
  task db_sync once {                # exactly one host of the placement
    after install
    requires db: database            # default scope: every provider, anywhere
    run "keystone-manage db_sync --hosts {{ db | map(attribute='host') | join(',') }}"
    retries 3 delay 5s
    timeout 10m
  }
  task configure {
    after install
    template "files/keystone.conf.j2" to "/etc/keystone/keystone.conf" mode "0640"
    copy "files/policy.yaml" to "/etc/keystone/policy.yaml"
  }
  task start {
    after configure, db_sync
    concurrency 1                    # at most 1 host at a time (rolling)
    run "systemctl restart httpd"
    provides keystone_api: endpoint { url = "http://{{ host.address }}:5000" }
  }
  task extras {
    after start
    playbook "legacy/keystone-extras.yml"   # ansible-runner, limited to this task's hosts
  }
}

anchor control_plane_ready {         # no action: a synchronisation point
  requires keystone_api on role controller
}
"""


def parse(text: str) -> ast.Module:
    return parse_text(text, "t.orch")


def task_of(body: str) -> ast.TaskDecl:
    service = parse(f"service s {{ task t {{ {body} }} }}").items[0]
    assert isinstance(service, ast.ServiceDecl)
    return service.tasks[0]


def value_of(text: str) -> ast.Value:
    var = parse(f"var v: any = {text}").items[0]
    assert isinstance(var, ast.VarDecl) and var.default is not None
    return var.default


def test_design_example_parses_completely() -> None:
    module = parse(DESIGN_EXAMPLE)
    assert [i.path.value for i in module.imports] == ["common.orch"]
    kinds = [(type(i).__name__, i.name) for i in module.items]
    assert kinds == [
        ("TypeDecl", "database"),
        ("TypeDecl", "endpoint"),
        ("VarDecl", "region"),
        ("VarDecl", "admin_password"),
        ("RoleDecl", "controller"),
        ("RoleDecl", "compute"),
        ("ServiceDecl", "mariadb"),
        ("ServiceDecl", "keystone"),
        ("AnchorDecl", "control_plane_ready"),
    ]
    database = module.items[0]
    assert [(f.name, f.type.name) for f in database.fields] == [("host", "str"), ("port", "int")]
    assert database.fields[1].default == ast.Int(3306, database.fields[1].default.span)
    keystone = module.items[7]
    db_sync = keystone.tasks[1]
    assert db_sync.once and [n.value for n in db_sync.after] == ["install"]
    assert db_sync.requires[0].name == "db" and db_sync.requires[0].type.value == "database"
    assert db_sync.requires[0].scope.kind == "all"
    assert db_sync.retries.count.value == 3 and db_sync.retries.delay.seconds == 5
    assert db_sync.timeout.seconds == 600 and db_sync.timeout.text == "10m"
    start = keystone.tasks[3]
    assert [n.value for n in start.after] == ["configure", "db_sync"] and start.concurrency.value == 1
    assert start.provides[0].fields[0].name == "url"
    anchor = module.items[8]
    assert anchor.requires[0].scope.kind == "role" and anchor.requires[0].scope.role.value == "controller"
    assert len(module.comments) == 14 and module.comments[0] == ast.Comment("# comment", 1, 1)


def test_layout_is_free_form() -> None:
    one_line = parse('service s { task a { run "x" } task b { after a run "y" } }')
    spread = parse('service s\n{\n task a\n {\n run\n "x"\n }\n task b {\n after\n a\n run "y" } }')
    assert ast.without_positions(one_line) == ast.without_positions(spread)


def test_every_task_statement() -> None:
    task = task_of("""
        after a, b  before c  requires x  requires y: t on same host  requires z on role r
        requires w on any  provides p  provides q: t { f = 1, g = "v", }
        concurrency 2  retries 3 delay 500ms  timeout 1h30m  when "host.vars.ssd"  when changed(v, w)
        become""")
    assert [n.value for n in task.after] == ["a", "b"] and [n.value for n in task.before] == ["c"]
    assert [(r.name, r.type and r.type.value, r.scope.kind) for r in task.requires] == [
        ("x", None, "all"),
        ("y", "t", "same_host"),
        ("z", None, "role"),
        ("w", None, "any"),
    ]
    assert task.requires[2].scope.role.value == "r"
    assert [(p.name, [f.name for f in p.fields]) for p in task.provides] == [("p", []), ("q", ["f", "g"])]
    assert task.concurrency.value == 2
    assert task.retries.delay.seconds == 0.5 and task.timeout.seconds == 5400
    assert task.when.expr.value == "host.vars.ssd" and [n.value for n in task.when.changed] == ["v", "w"]
    assert task.become and task.become_span is not None


def test_every_action() -> None:
    task = task_of("""
        run "a"
        copy "src" to "/dst" mode "0644" owner "root"
        template "t.j2" to "/etc/t" owner "me"
        playbook "p.yml" vars { x = 1 }
        playbook "q.yml"
        ansible ansible.builtin.file { path = "/x", state = "directory" }
        ansible community.general.ini_file { section = null }
        role geerlingguy.mysql vars { mysql_port = 3306 }
        role "ansible-role-x"
        role common""")
    kinds = [type(a).__name__ for a in task.actions]
    assert kinds == [
        "Run",
        "Copy",
        "Template",
        "Playbook",
        "Playbook",
        "AnsibleModule",
        "AnsibleModule",
        "AnsibleRole",
        "AnsibleRole",
        "AnsibleRole",
    ]
    run, copy, template, playbook, bare_playbook, module, dotted, role, quoted_role, plain_role = task.actions
    assert (copy.src.value, copy.dest.value, copy.mode.value, copy.owner.value) == ("src", "/dst", "0644", "root")
    assert template.mode is None and template.owner.value == "me"
    assert playbook.vars.entries[0].key == "x" and bare_playbook.vars is None
    assert module.module == "ansible.builtin.file" and [e.key for e in module.args.entries] == ["path", "state"]
    assert dotted.module == "community.general.ini_file" and isinstance(dotted.args.entries[0].value, ast.Null)
    assert role.name == "geerlingguy.mysql" and role.vars.entries[0].value.value == 3306
    assert quoted_role.name == "ansible-role-x" and plain_role.name == "common" and plain_role.vars is None


def test_task_with_no_action_is_an_anchor_task() -> None:
    task = task_of("after a")
    assert task.actions == [] and task.once is False


def test_anchor_declaration() -> None:
    module = parse("anchor ready { after other requires api on role controller provides done: t { a = 1 } }")
    anchor = module.items[0]
    assert isinstance(anchor, ast.AnchorDecl)
    assert [n.value for n in anchor.after] == ["other"]
    assert anchor.provides[0].type.value == "t" and anchor.provides[0].fields[0].value.value == 1


def test_values() -> None:
    assert value_of('"s"') == ast.Str("s", value_of('"s"').span)
    assert value_of("-3").value == -3 and value_of("2.5").value == 2.5
    assert value_of("true").value is True and value_of("false").value is False
    assert isinstance(value_of("null"), ast.Null)
    listed = value_of('[1, "a", [true], { k = null }, ]')
    assert [type(i).__name__ for i in listed.items] == ["Int", "Str", "ListValue", "MapValue"]
    mapped = value_of('{ a = 1, "b-c" = 2, mode = 3, host = 4 }')
    assert [e.key for e in mapped.entries] == ["a", "b-c", "mode", "host"]
    assert value_of("{}").entries == [] and value_of("[]").items == []


@pytest.mark.parametrize(
    "text, seconds", [("500ms", 0.5), ("5s", 5), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("1.5s", 1.5)]
)
def test_durations(text: str, seconds: float) -> None:
    duration = value_of(text)
    assert isinstance(duration, ast.Duration) and duration.seconds == seconds and duration.text == text


def test_string_escapes() -> None:
    assert value_of(r'"a\nb\tc\"d\\e\u00e9\r\/"').value == 'a\nb\tc"d\\e\u00e9\r/'
    assert value_of('"{{ x }} #not a comment"').value == "{{ x }} #not a comment"


def test_triple_quoted_strings_keep_text_as_written() -> None:
    value = value_of('"""line one\n  "quoted" \\n kept\nend"""')
    assert value.triple and value.value == 'line one\n  "quoted" \\n kept\nend'
    assert value.span.line == 1 and value.span.end_line == 3
    assert value_of('""""""').value == "" and value_of('""').value == ""


def test_spans_are_one_based_with_exclusive_end() -> None:
    module = parse('service web {\n  task start {\n    run "x"\n  }\n}\n')
    service = module.items[0]
    task = service.tasks[0]
    assert service.span == ast.Span("t.orch", 1, 1, 5, 2)
    assert service.name_span == ast.Span("t.orch", 1, 9, 1, 12)
    assert task.span == ast.Span("t.orch", 2, 3, 4, 4) and task.name_span == ast.Span("t.orch", 2, 8, 2, 13)
    assert task.actions[0].span == ast.Span("t.orch", 3, 5, 3, 12)
    assert task.actions[0].command.span == ast.Span("t.orch", 3, 9, 3, 12)
    assert str(task.name_span) == "t.orch:2:8"


def _spans_missing(node: object, path: str = "module") -> list[str]:
    """Every node field named like a span that is None (Scope 'all' and become_span excepted)."""
    missing: list[str] = []
    if isinstance(node, list):
        for index, item in enumerate(node):
            missing += _spans_missing(item, f"{path}[{index}]")
    elif dataclasses.is_dataclass(node):
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if field.name in ("span", "name_span") and value is None:
                if not (isinstance(node, ast.Scope) and node.kind == "all"):
                    missing.append(f"{path}.{field.name}")
            missing += _spans_missing(value, f"{path}.{field.name}")
    return missing


def test_every_node_has_a_span() -> None:
    module = parse(
        DESIGN_EXAMPLE
        + """
        service extra { task t once { before x ansible m { a = [1, 2.5, null, { b = true }] }
        role r vars { v = 1s } when changed(a) become } }"""
    )
    assert _spans_missing(module) == []


def test_keywords_are_names_where_a_name_is_expected() -> None:
    module = parse("""type t { host: str mode: int }
        service template { task run { ansible copy { mode = "0644", owner = "me", to = 1 } } }""")
    assert [f.name for f in module.items[0].fields] == ["host", "mode"]
    service = module.items[1]
    assert service.name == "template" and service.tasks[0].name == "run"
    assert [e.key for e in service.tasks[0].actions[0].args.entries] == ["mode", "owner", "to"]


def test_keywords_are_names_after_a_value_in_a_type() -> None:
    """LALR merges lookaheads: after a default value, `mode` (as in `copy ... mode`) must stay a field name."""
    module = parse('type t { a: str = "" mode: int = 1 service: list = [1] var: map = {} type: str to: str }')
    assert [f.name for f in module.items[0].fields] == ["a", "mode", "service", "var", "type", "to"]


def test_a_keyword_is_a_whole_word() -> None:
    with pytest.raises(DiagnosticError) as error:
        parse('service s { task t { runner "x" } }')
    assert "unknown statement 'runner'" in error.value.diagnostics[0].message


def test_keyword_list_matches_the_grammar() -> None:
    import re

    from orchc.grammar import grammar_text

    literals = set(re.findall(r'"([a-z]+)"', grammar_text()))
    assert literals == keywords().words
    assert "role" in keywords().homes and keywords().homes["role"] == "a task or the top level"


def test_repeated_statements_merge_and_singletons_are_checked() -> None:
    task = task_of('after a after b when "x" when changed(v) when ansible "enable_x | bool"')
    assert [n.value for n in task.after] == ["a", "b"]
    assert task.when.expr.value == "x" and task.when.changed[0].value == "v"
    assert task.when.ansible.value == "enable_x | bool"
    with pytest.raises(DiagnosticError) as twice:
        task_of('when ansible "a" when "b" when ansible "c"')
    assert [d.message for d in twice.value.diagnostics] == ["'when ansible' is given twice"]
    role = parse("role r { services a services b }").items[0]
    assert [n.value for n in role.services] == ["a", "b"]
    with pytest.raises(DiagnosticError) as error:
        task_of("concurrency 1 concurrency 2 retries 1 retries 2")
    assert [d.message for d in error.value.diagnostics] == ["'concurrency' is given twice", "'retries' is given twice"]


def test_parse_file_names_the_path_as_given(tmp_path: Path) -> None:
    path = tmp_path / "a.orch"
    path.write_text('service s { task t { run "x" } }', encoding="utf-8")
    module = parse_file(path)
    assert module.file == str(path) and module.items[0].span.file == str(path)


def test_parse_files_reports_every_broken_file(tmp_path: Path) -> None:
    (tmp_path / "good.orch").write_text("service s { }", encoding="utf-8")
    (tmp_path / "bad1.orch").write_text("service s {", encoding="utf-8")
    (tmp_path / "bad2.orch").write_text("servce s { }", encoding="utf-8")
    paths = [tmp_path / n for n in ("good.orch", "bad1.orch", "bad2.orch", "missing.orch")]
    modules, diagnostics = parse_files(paths)
    assert [m.items[0].name for m in modules] == ["s"]
    assert [Path(d.span.file).name if d.span else None for d in diagnostics] == ["bad1.orch", "bad2.orch", None]
    assert diagnostics[2].message.startswith("cannot read")


def test_empty_and_comment_only_files() -> None:
    assert parse("").items == [] and parse("").imports == []
    module = parse("# only a comment\n")
    assert module.items == [] and module.comments == [ast.Comment("# only a comment", 1, 1)]


def test_grammar_is_strict_lalr():
    """No shift/reduce conflict and no two terminals that match the same text: lark's strict mode,
    which needs interegular, so the parser itself does not ask for it."""
    from lark import Lark

    from orchc.grammar import grammar_text

    Lark(grammar_text(), parser="lalr", lexer="contextual", strict=True, keep_all_tokens=True)


def test_parses_without_interegular(tmp_path):
    """A plain `pip install orchc` has no interegular (a test extra): the parser must not need it."""
    program = (
        "import sys; sys.modules['interegular'] = None\n"
        "from orchc.dsl.parser import parse_text\n"
        "print(parse_text('service a { task b { } }', 'x.orch').items[0].name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env={**os.environ, "TMPDIR": str(tmp_path)}
    )  # no lark cache from before
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a\n"
