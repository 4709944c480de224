"""hypothesis strategies for `.orch` sources: every construct, in random layouts, with comments.

`sources()` draws valid source text: tokens of random modules joined by random
whitespace, newlines and comments.
"""

from __future__ import annotations

import json
import random

from hypothesis import strategies as st

# keywords among the names: the contextual lexer keeps them names where a name is expected
names = st.sampled_from(
    ["a", "web", "db_sync", "x1", "_p", "host", "mode", "run", "service", "to", "on", "vars", "type"]
)
separators = st.sampled_from([" ", " ", "\n", "\n\n    ", "\t", "  # note\n", "\n# own line\n"])
plain_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
triple_text = st.text(st.sampled_from('ab "\n\\{}#'), max_size=12).filter(
    lambda t: '"""' not in t and not t.endswith('"')
)
strings = st.one_of(
    plain_text.map(lambda t: json.dumps(t, ensure_ascii=False)), triple_text.map(lambda t: f'"""{t}"""')
)
scalars = st.one_of(
    strings,
    st.integers(-10, 5000).map(str),
    st.sampled_from(["1.5", "0.25", "-2.0"]),
    st.sampled_from(["500ms", "5s", "10m", "1h30m", "true", "false", "null"]),
)
keys = st.one_of(names, st.sampled_from(['"a-b"', '"x y"']))
values = st.recursive(
    scalars.map(lambda s: [s]),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: ["[", *_joined(items, ","), "]"]),
        st.lists(st.tuples(keys, inner), max_size=3).map(
            lambda entries: ["{", *_joined([[k, "=", *v] for k, v in entries], ","), "}"]
        ),
    ),
    max_leaves=6,
)
map_values = st.lists(st.tuples(keys, values), max_size=3).map(
    lambda entries: ["{", *_joined([[k, "=", *v] for k, v in entries], ","), "}"]
)
name_lists = st.lists(names, min_size=1, max_size=3).map(lambda ns: _joined([[n] for n in ns], ","))


def _joined(parts: list[list[str]], separator: str) -> list[str]:
    tokens: list[str] = []
    for index, part in enumerate(parts):
        tokens += part + ([separator] if index + 1 < len(parts) else [])
    return tokens


def _optional(strategy: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), strategy)


type_suffix = _optional(names.map(lambda n: [":", n]))
scopes = _optional(
    st.one_of(st.just(["on", "same", "host"]), names.map(lambda n: ["on", "role", n]), st.just(["on", "any"]))
)
file_options = st.lists(st.sampled_from(["mode", "owner"]), unique=True, max_size=2).flatmap(
    lambda keywords: st.tuples(*[strings for _ in keywords]).map(
        lambda texts: [t for k, s in zip(keywords, texts, strict=True) for t in (k, s)]
    )
)
repeatable_statements = st.one_of(
    name_lists.map(lambda ns: ["after", *ns]),
    name_lists.map(lambda ns: ["before", *ns]),
    st.tuples(names, type_suffix, scopes, _optional(st.just(["optional"]))).map(
        lambda t: ["requires", t[0], *t[1], *t[2], *t[3]]
    ),
    st.tuples(names, type_suffix, _optional(map_values)).map(lambda t: ["provides", t[0], *t[1], *t[2]]),
    strings.map(lambda s: ["run", s]),
    st.tuples(st.sampled_from(["copy", "template"]), strings, strings, file_options).map(
        lambda t: [t[0], t[1], "to", t[2], *t[3]]
    ),
    st.tuples(strings, _optional(map_values.map(lambda m: ["vars", *m]))).map(lambda t: ["playbook", t[0], *t[1]]),
    st.tuples(st.sampled_from(["ping", "ansible.builtin.file", "community.general.ini_file"]), map_values).map(
        lambda t: ["ansible", t[0], *t[1]]
    ),
    st.tuples(
        st.sampled_from(["common", "geerlingguy.mysql", '"ansible-role-x"']),
        _optional(map_values.map(lambda m: ["vars", *m])),
    ).map(lambda t: ["role", t[0], *t[1]]),
)
notifiers = st.tuples(names, _optional(names.map(lambda n: [".", n]))).map(lambda t: [t[0], *t[1]])  # `a`, `a.b`
single_statements = st.fixed_dictionaries(
    {},
    optional={
        "concurrency": st.integers(0, 9).map(lambda n: ["concurrency", str(n)]),
        "retries": st.tuples(st.integers(0, 9), _optional(st.just(["delay", "5s"]))).map(
            lambda t: ["retries", str(t[0]), *t[1]]
        ),
        "timeout": st.sampled_from(["10m", "1h30m", "500ms"]).map(lambda d: ["timeout", d]),
        "when": strings.map(lambda s: ["when", s]),
        "changed": name_lists.map(lambda ns: ["when", "changed", "(", *ns, ")"]),
        "notified": st.lists(notifiers, min_size=1, max_size=3).map(
            lambda ns: ["when", "notified", "(", *_joined(ns, ","), ")"]
        ),
        "become": st.just(["become"]),
    },
)
tasks = st.tuples(
    names,
    st.booleans(),
    st.lists(repeatable_statements, max_size=4),
    single_statements,
    st.randoms(use_true_random=False),
).map(lambda t: _task(t[0], t[1], t[2], list(t[3].values()), t[4]))


def _task(name: str, once: bool, repeated: list[list[str]], singles: list[list[str]], rng: random.Random) -> list[str]:
    statements = repeated + singles
    rng.shuffle(statements)
    return ["task", name, *(["once"] if once else []), "{", *[t for s in statements for t in s], "}"]


items = st.one_of(
    st.lists(tasks, max_size=3).map(lambda ts: ["service", "s", "{", *[t for task in ts for t in task], "}"]),
    st.lists(st.tuples(names, names, _optional(values.map(lambda v: ["=", *v]))), max_size=3).map(
        lambda fs: ["type", "t", "{", *[t for n, ty, d in fs for t in (n, ":", ty, *d)], "}"]
    ),
    st.tuples(names, names, _optional(values.map(lambda v: ["=", *v]))).map(lambda t: ["var", t[0], ":", t[1], *t[2]]),
    st.tuples(
        st.lists(name_lists, max_size=2),
        _optional(st.sampled_from(["0", "3", '"10%"']).map(lambda v: ["tolerate", v])),
        _optional(st.just(["optional"])),
    ).map(lambda t: ["role", "r", *t[2], "{", *[x for ns in t[0] for x in ("services", *ns)], *t[1], "}"]),
    st.lists(
        st.one_of(
            name_lists.map(lambda ns: ["after", *ns]),
            st.tuples(names, scopes).map(lambda t: ["requires", t[0], *t[1]]),
            names.map(lambda n: ["provides", n]),
        ),
        max_size=3,
    ).map(lambda ss: ["anchor", "ready", "{", *[t for s in ss for t in s], "}"]),
)
items = st.one_of(items, st.just(["strict"]))
modules = st.tuples(st.lists(strings.map(lambda s: ["import", s]), max_size=2), st.lists(items, max_size=3)).map(
    lambda t: [x for part in t[0] + t[1] for x in part]
)


@st.composite
def sources(draw: st.DrawFn) -> str:
    tokens = draw(modules)
    gaps = draw(st.lists(separators, min_size=len(tokens) + 1, max_size=len(tokens) + 1))
    return "".join(gap + token for gap, token in zip(gaps, tokens + [""], strict=True))
