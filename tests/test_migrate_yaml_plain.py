"""The plain-YAML reader gives what PyYAML gives (data, types, places), or leaves the text to PyYAML."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from orchc.migrate import yaml_source
from orchc.migrate.yaml_plain import read_plain
from orchc.migrate.yaml_source import LocatedDict, LocatedList, load_yaml_text

PLAIN = [
    "id: a\ntype: service\nversion: 1.0.0\n",
    "tasks:\n- id: t\n  provides:\n  - a.b\n  requires: []\n  message: a -> b, c [d] {e} http://x a#b\n",
    "tasks:\n  - id: t\n    jobs:\n      - RUN: echo hi\n\n  - id: u\n    driver: print\n",
    "# a comment\nhosts:\n  h1:\n    role: r\n  # between\n  h2: {}\n",
    "- a\n-   b\n- c: d\n  e: f\n-\n- g:\n  - h\n- i:\n",
    "a:\nb:   spaced   \n",
    "  indented: document\n  second: key\n",
    "k/v: x\nneeded-by:\n  -   one\n  - two\n",
]

NOT_PLAIN = [
    "a: 1\n",
    "a: yes\n",
    "a: null\n",
    "a: 2020-01-01\n",
    "a: 'quoted'\n",
    'a: "quoted"\n',
    "a: &x b\n",
    "a: !t b\n",
    "a: |\n  block\n",
    "a: b # comment\n",
    "a: [b]\n",
    "a: {b: c}\n",
    "a: b\n  continued\n",
    "a: b: c\n",
    "a:\tb\n",
    "a: é\n",
    "\ufeffa: b\n",
    "a: b\r\n",
    "- - a\n",
    "? a\n: b\n",
    "<<: {}\n",
    "1: a\n",
    "on: a\n",
    "---\na: b\n",
    "a: b\n...\n",
    "%YAML 1.1\n---\na: b\n",
    "",
    "# only a comment\n",
    "scalar\n",
    "a b: c\n",
    "a: -b\n",
    "a: -\n",
    "a: b:\n",
    "a:\n  - b\n  c: d\n",
    "a:\n- b\n  - c\n",
    "a: b\n - c\n",
]


def _tree(data: Any) -> Any:
    """Data with the type and place of every map and list, to compare two loads."""
    if isinstance(data, (LocatedDict, LocatedList)):
        place = (type(data).__name__, data.file, data.line, data.column)
        items = [(k, _tree(v)) for k, v in data.items()] if isinstance(data, dict) else [_tree(v) for v in data]
        return place, items
    return type(data).__name__, data


def _pyyaml(text: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(yaml_source, "read_plain", lambda *args: None)
        return load_yaml_text(text, "f.yaml")


@pytest.mark.parametrize("text", PLAIN)
def test_plain_text_reads_as_pyyaml_reads_it(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = read_plain(text, "f.yaml", LocatedDict, LocatedList)
    assert plain is not None
    assert _tree(plain) == _tree(_pyyaml(text, monkeypatch))


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_other_yaml_is_left_to_pyyaml(text: str) -> None:
    assert read_plain(text, "f.yaml", LocatedDict, LocatedList) is None


WORDS = [
    "a",
    "id",
    "x-y",
    "a.b",
    "k/v",
    "_",
    "print",
    "a -> b",
    "1.0.0",
    "http://x",
    "a#b",
    "a,b",
    "with space",
    "x" * 90,
    [],
    {},
]
KEYS = ["a", "b", "id", "x-y", "a.b", "k/v", "_", "needed-by", "x" * 90]
OTHERS = ["1", "yes", "null", "a: b", "a #b", "-a", "'q'", "é", "", "with space", "on", None]  # for PyYAML


def _random_data(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice(WORDS if rng.random() < 0.95 else OTHERS)
    if roll < 0.65:
        return {
            rng.choice(KEYS if rng.random() < 0.95 else OTHERS[:-1]): _random_data(rng, depth + 1)
            for _ in range(rng.randint(1, 4))
        }
    return [_random_data(rng, depth + 1) for _ in range(rng.randint(1, 4))]


def _random_layout(rng: random.Random, text: str) -> str:
    """Blank lines, comments, trailing spaces, wider gaps after `-` and `:`, lines moved in or out."""
    lines = []
    for line in text.split("\n"):
        roll = rng.random()
        lines += [""] if roll < 0.05 else [" " * rng.randint(0, 6) + "# c"] if roll < 0.08 else []
        line = (
            line + "  "
            if roll < 0.12
            else line.replace("- ", "-   ", 1)
            if roll < 0.16
            else line.replace(": ", ":  ", 1)
            if roll < 0.2
            else " " + line
            if roll < 0.22
            else line[1:]
            if roll < 0.24
            else line
        )
        lines.append(line)
    return "\n".join(lines)


def test_random_documents_read_as_pyyaml_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(8)
    read = 0
    for _ in range(1500):
        data = _random_data(rng)
        text = yaml.safe_dump(data, default_flow_style=False, indent=rng.choice([2, 4]))
        text = _random_layout(rng, text) if rng.random() < 0.5 else text
        plain = read_plain(text, "f.yaml", LocatedDict, LocatedList)
        if plain is None:
            continue
        read += 1
        assert _tree(plain) == _tree(_pyyaml(text, monkeypatch)), text
    assert read > 100
