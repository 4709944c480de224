"""The keywords of the language, read from the grammar (`grammar/orch.lark`) as lark compiled it.

One place for every list of words: the lexer's keywords, the words that start a
statement or a declaration (which the syntax errors name and skip), and the
words a converter must not use as a bare name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark.lexer import PatternStr


def keyword_terminals(terminals: Iterable[Any]) -> dict[str, str]:
    """The terminals that are words of the language: terminal name -> the word (`TASK` -> `task`)."""
    return {
        t.name: t.pattern.value
        for t in terminals
        if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()
    }


@dataclass(frozen=True)
class Keywords:
    words: frozenset[str]  # every keyword
    declarations: frozenset[str]  # words that start a declaration: a block, `var` or `import`
    block_terminals: frozenset[str]  # terminals of the words that open a named block (`TASK`, ...)
    statements: frozenset[str]  # words that start a one-line statement (of a task or a role, `var`, `import`)
    homes: dict[str, str]  # a word that starts a statement -> where that statement belongs ("a task")


# Rules whose alternatives are the statements of a place, and how a message names that place.
_PLACES = {"task_stmt": "a task", "role_stmt": "a role", "task_decl": "a service", "item": "the top level"}
_ONE_LINE = ("task_stmt", "role_stmt", "var_decl", "import_decl")


@cache
def keywords() -> Keywords:
    """The keywords of the parser's grammar."""
    from orchc.dsl.parser import grammar  # the parser imports this module for its lexer

    lark = grammar()
    words = keyword_terminals(lark.terminals)
    rules: dict[str, list[list[Any]]] = {}
    for rule in lark.rules:
        rules.setdefault(rule.origin.name, []).append(rule.expansion)

    def leading(name: str) -> set[str]:
        """The terminals that start the rule `name`, through rules that are one other rule."""
        found: set[str] = set()
        for expansion in rules.get(name, []):
            first = expansion[0] if expansion else None
            if first is not None and first.is_term:
                found.add(first.name)
            elif first is not None and len(expansion) == 1:
                found |= leading(first.name)
        return found & words.keys()

    blocks = {
        name
        for name, expansions in rules.items()
        for expansion in expansions
        if len(expansion) > 2
        and expansion[0].is_term
        and expansion[0].name in words
        and any(s.name == "LBRACE" for s in expansion[1:4])
    }
    block_terminals = {t for name in blocks for t in leading(name)}
    homes: dict[str, list[str]] = {}
    for place, description in _PLACES.items():
        for terminal in sorted(leading(place)):
            homes.setdefault(words[terminal], []).append(description)
    return Keywords(
        words=frozenset(words.values()),
        declarations=frozenset(words[t] for t in block_terminals | leading("var_decl") | leading("import_decl")),
        block_terminals=frozenset(block_terminals),
        statements=frozenset(words[t] for name in _ONE_LINE for t in leading(name)),
        homes={word: " or ".join(places) for word, places in homes.items()},
    )
