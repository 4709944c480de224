"""The converters' YAML loader: where every mapping and list came from, dialects, and bad input as diagnostics."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchc.dsl.diagnostics import DiagnosticError
from orchc.dsl.span import Span
from orchc.migrate.yaml_source import (
    LocatedDict,
    LocatedList,
    Unsafe,
    Vault,
    YamlDialect,
    line_of,
    load_yaml,
    load_yaml_text,
    where_of,
)

BOTH_PARSERS = [YamlDialect(), YamlDialect(libyaml=False)]


def _error(text: str, dialect: YamlDialect = YamlDialect()) -> tuple[str, int, int, str]:
    with pytest.raises(DiagnosticError) as caught:
        load_yaml_text(text, "in.yaml", dialect)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.span is not None and diagnostic.hint
    return diagnostic.span.file, diagnostic.span.line, diagnostic.span.column, diagnostic.message


@pytest.mark.parametrize("dialect", BOTH_PARSERS, ids=["libyaml", "python"])
def test_mappings_and_lists_know_file_line_and_column(dialect: YamlDialect) -> None:
    data = load_yaml_text("top:\n  items:\n    - {a: 1}\n    - [x, y]\n", "site.yml", dialect)
    assert isinstance(data, LocatedDict) and data.where == "site.yml:1"
    items = data["top"]["items"]
    assert isinstance(items, LocatedList) and (items.file, items.line, items.column) == ("site.yml", 3, 5)
    assert items[0].where == "site.yml:3" and items[0].column == 7
    assert line_of(items[1]) == 4 and where_of(items[1], "?") == "site.yml:4"
    assert data == {"top": {"items": [{"a": 1}, ["x", "y"]]}}


def test_plain_values_have_no_place() -> None:
    assert line_of("text") == 1 and where_of(3, "f:9") == "f:9"


def test_anchors_and_merge_keys() -> None:
    data = load_yaml_text("base: &b {x: 1}\nuse: {<<: *b, y: 2}\nagain: *b\n", "f.yml")
    assert data["use"] == {"x": 1, "y": 2} and data["use"].line == 2
    assert data["again"] is data["base"]


def test_a_node_that_contains_itself_is_a_diagnostic() -> None:
    assert _error("loop: &l [*l]\n") == ("in.yaml", 1, 7, "invalid YAML: found unconstructable recursive node")


def test_loaded_data_dumps_as_plain_yaml() -> None:
    data = load_yaml_text("a: [1, {b: c}]\n", "f.yml")
    assert yaml.safe_dump(data) == yaml.safe_dump({"a": [1, {"b": "c"}]})


def test_dates_are_dates_unless_the_dialect_keeps_them_as_text() -> None:
    assert load_yaml_text("v: 2016-10-14\n", "f")["v"] == datetime.date(2016, 10, 14)
    assert load_yaml_text("v: 2016-10-14\n", "f", YamlDialect(timestamps_as_str=True))["v"] == "2016-10-14"


def test_ansible_tags_are_kept_in_the_ansible_dialect() -> None:
    text = "a: !unsafe '{{ x }}'\nb: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\nc: !other text\nd: !other {k: v}\n"
    data = load_yaml_text(text, "f.yml", YamlDialect(keep_ansible_tags=True))
    assert type(data["a"]) is Unsafe and type(data["b"]) is Vault and type(data["c"]) is str
    assert isinstance(data["d"], LocatedDict) and data["d"].line == 5
    message = _error("a: !unsafe x\n")[3]  # outside the Ansible dialect, a local tag is an error
    assert message.startswith("invalid YAML: could not determine a constructor for the tag '!unsafe'")


def test_keys_as_text() -> None:
    data = load_yaml_text("? [1, 2]\n: list\n2020-01-01: date\n", "f", YamlDialect(keys_as_text=True))
    assert data == {"[1, 2]": "list", "2020-01-01": "date"}


@pytest.mark.parametrize("dialect", BOTH_PARSERS, ids=["libyaml", "python"])
def test_syntax_error_is_at_its_line_and_column(dialect: YamlDialect) -> None:
    file, line, column, message = _error("a: 1\nb: [1, 2\n", dialect)
    assert (file, line, column) == ("in.yaml", 3, 1) and message.startswith("invalid YAML: ")


@pytest.mark.parametrize("dialect", BOTH_PARSERS, ids=["libyaml", "python"])
def test_unhashable_key_is_a_diagnostic(dialect: YamlDialect) -> None:
    assert _error("a: 1\n? [x]\n: 2\n", dialect) == ("in.yaml", 2, 3, "invalid YAML: found unhashable key")


@pytest.mark.parametrize("dialect", BOTH_PARSERS, ids=["libyaml", "python"])
def test_control_character_is_at_its_line_and_column(dialect: YamlDialect) -> None:
    file, line, column, message = _error("a: 1\nb: x\x07\n", dialect)
    assert (file, line, column) == ("in.yaml", 2, 5)
    assert message.startswith("invalid YAML: unacceptable character #x0007")


def test_syntax_hint_comes_from_the_dialect() -> None:
    with pytest.raises(DiagnosticError) as caught:
        load_yaml_text("[", "f", YamlDialect(syntax_hint="try again"))
    assert caught.value.diagnostics[0].hint == "try again"


def test_missing_and_non_utf8_files_are_diagnostics(tmp_path: Path) -> None:
    with pytest.raises(DiagnosticError) as caught:
        load_yaml(tmp_path / "nowhere.yaml", "nowhere.yaml")
    assert caught.value.diagnostics[0].message == "cannot read nowhere.yaml: No such file or directory"
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(DiagnosticError) as caught:
        load_yaml(latin1)
    assert caught.value.diagnostics[0].message == f"cannot read {latin1}: it is not UTF-8 text (byte 0xe9)"
    assert caught.value.diagnostics[0].span == Span(str(latin1), 1, 10, 1, 11)


def test_cli_control_character_in_a_playbook_exits_1(tmp_path: Path) -> None:
    playbook = tmp_path / "site.yml"
    playbook.write_text("- hosts: all\n  tasks:\n    - command: echo \x07\n")
    result = subprocess.run(
        [sys.executable, "-m", "orchc", "migrate", "playbook", str(playbook), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "site.yml:3:21: error: invalid YAML: unacceptable character #x0007" in output
    assert "Traceback" not in output and "internal error" not in output
