"""Heat intrinsic functions, evaluated statically as Heat would (orchc.migrate.heat_intrinsics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchc.migrate.heat_intrinsics import Library, Stack, Unresolved

TEMPLATE = """
heat_template_version: wallaby
parameters:
  Known: {type: string, default: known}
  Flag: {type: boolean, default: 'true'}
  Items: {type: comma_delimited_list, default: 'a,b'}
  Count: {type: number, default: '3'}
  Missing: {type: string}
  Secret: {type: string, hidden: true, default: s3cret}
conditions:
  flag_on: {get_param: Flag}
  missing_set: {not: {equals: [{get_param: Missing}, '']}}
  guessing: {yaql: {expression: '$.data', data: true}}
outputs:
  out:
    value: VALUE
"""


def evaluate(tmp_path: Path, value: Any) -> tuple[Any, list[tuple[str, str, str, str]]]:
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE.replace("VALUE", yaml.safe_dump(value, default_flow_style=True).strip()))
    notes: list[tuple[str, str, str, str]] = []
    stack = Stack(Library({}, {}, lambda *note: notes.append(note), root=tmp_path), path, {})
    return stack.output("out"), notes


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"get_param": "Known"}, "known"),
        ({"get_param": "Flag"}, True),
        ({"get_param": "Items"}, ["a", "b"]),
        ({"get_param": "Count"}, 3),
        ({"list_join": ["-", [{"get_param": "Known"}, "x"], ["y"]]}, "known-x-y"),
        ({"list_join": [",", {"get_param": "Missing"}]}, '{{ Missing | join(",") }}'),
        ({"str_replace": {"template": "http://HOST:PORT", "params": {"HOST": "h", "PORT": 80}}}, "http://h:80"),
        ({"str_replace": {"template": "x=$V", "params": {"$V": {"get_param": ["Missing", "a"]}}}}, "x={{ Missing.a }}"),
        ({"map_merge": [{"a": 1}, {"b": 2}, {"a": 3}]}, {"a": 3, "b": 2}),
        ({"list_concat": [[1], [2, 3]]}, [1, 2, 3]),
        ({"list_concat_unique": [[1, 2], [2, 3]]}, [1, 2, 3]),
        ({"if": ["flag_on", "yes", "no"]}, "yes"),
        ([1, {"if": [{"not": "flag_on"}, 2]}, 3], [1, 3]),
        ({"and": ["flag_on", {"equals": [{"get_param": "Known"}, "known"]}]}, True),
        ({"or": ["guessing", "flag_on"]}, True),
        ({"and": ["guessing", {"not": "flag_on"}]}, False),
        ({"repeat": {"for_each": {"<%n%>": [1, 2]}, "template": "item<%n%>"}}, ["item1", "item2"]),
        ({"make_url": {"scheme": "https", "host": "::1", "port": 5000, "path": "/v3"}}, "https://[::1]:5000/v3"),
        ({"str_split": [",", "a,b,c", 1]}, "b"),
        ({"filter": [[None], [1, None, 2]]}, [1, 2]),
        ({"map_replace": [{"k": "v"}, {"keys": {"k": "K"}, "values": {"v": "V"}}]}, {"K": "V"}),
        ({"get_param": "Missing"}, Unresolved("Missing")),
        ({"get_param": ["Missing", "a", 0]}, Unresolved("Missing", ("a", 0))),
    ],
)
def test_static_values(tmp_path: Path, value: Any, expected: Any) -> None:
    assert evaluate(tmp_path, value)[0] == expected


def test_hidden_parameters_are_never_resolved(tmp_path: Path) -> None:
    result, notes = evaluate(tmp_path, {"get_param": "Secret"})
    assert result == Unresolved("Secret")
    assert [(n[0], n[2]) for n in notes] == [("assumption", "secret parameter Secret is not written out")]


def test_undecidable_if_is_kept_as_written_and_reported(tmp_path: Path) -> None:
    value = {"if": ["missing_set", "a", "b"]}
    result, notes = evaluate(tmp_path, value)
    assert result == value
    assert ("unsupported", "t.yaml:16", "if kept as written") in [n[:3] for n in notes]
    result, notes = evaluate(tmp_path, {"if": ["guessing", "a", "b"]})
    assert result == {"if": ["guessing", "a", "b"]}
    assert "orchc does not evaluate yaql expressions" in [n[3] for n in notes]


def test_missing_parameter_is_reported_once_with_its_line(tmp_path: Path) -> None:
    _, notes = evaluate(tmp_path, [{"get_param": "Missing"}, {"get_param": "Missing"}])
    assert notes == [
        (
            "assumption",
            "t.yaml:8",
            "parameter Missing has no value",
            "kept as the Ansible variable {{ Missing }}: give it with --param-file or in the inventory",
        )
    ]
