"""What an Ansible task reads and writes: run-time variables, paths, facts.

Each orchc task runs Ansible separately, so a variable one task sets at run
time (`register`, `set_fact`, `include_vars`) is gone for the next. The
converter uses `defines`/`uses` to keep such producer/consumer tasks together
in one orchc task, and `touches` to tell whether two neighbours really depend
on each other (for the report's `ordering` entries).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jinja2
import jinja2.meta
from ansible.parsing.splitter import parse_kv

from orchc.migrate.ansible_load import Task, block_tasks
from orchc.migrate.yaml_source import leaves

_ENV = jinja2.Environment()
_EXPRESSION_KEYS = ("when", "changed_when", "failed_when", "until")
EXPRESSION_ARGS = {"assert": ("that",), "debug": ("var",)}  # module arguments that are bare Jinja expressions
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FACT_NAMES = re.compile(
    r"^(ansible_facts|ansible_(?!host$|port$|user$|connection$|become|python_interpreter$|ssh_)\w+|facter_\w+|ohai_\w+)$"
)
_PATH_ARGS = ("path", "dest", "src", "file", "name", "creates", "removes", "chdir")


def strings(data: Any) -> Iterator[str]:
    return (leaf for leaf in leaves(data) if isinstance(leaf, str))


def template_names(text: str) -> set[str]:
    try:
        return set(jinja2.meta.find_undeclared_variables(_ENV.parse(text)))
    except jinja2.TemplateError:
        return set(_WORD.findall(text))


def _expressions(data: dict[str, Any], args: dict[str, Any] | None = None) -> Iterator[Any]:
    """The bare Jinja expressions of a task as written (conditions, `assert: that`, `debug: var`), blocks included."""
    for sub in [data, *block_tasks(data)]:
        yield from _own_expressions(sub, args if sub is data else None)


def _own_expressions(data: dict[str, Any], args: dict[str, Any] | None) -> Iterator[Any]:
    for key, value in data.items():
        if key in _EXPRESSION_KEYS:
            yield from value if isinstance(value, list) else [value]
        elif key.rsplit(".", 1)[-1] in EXPRESSION_ARGS:
            given = (
                args
                if args is not None
                else value
                if isinstance(value, dict)
                else dict(parse_kv(value))
                if isinstance(value, str)
                else {}
            )
            for arg in EXPRESSION_ARGS[key.rsplit(".", 1)[-1]]:
                found = given.get(arg)
                yield from found if isinstance(found, list) else [found]


def uses(task: Task) -> set[str]:
    """Names the task's templates and conditions read (loop variables excluded)."""
    names: set[str] = set()
    for expression in _expressions(task.data, task.args if task.module in EXPRESSION_ARGS else None):
        if isinstance(expression, str):
            names |= template_names(expression if "{{" in expression else "{{ " + expression + " }}")
    for key, value in task.data.items():
        if key not in _EXPRESSION_KEYS:
            for text in strings(value):
                if "{{" in text or "{%" in text:
                    names |= template_names(text)
    src = task.args.get("src")
    if task.module == "template" and isinstance(src, str):
        template = task.find_source(src, "templates")
        if template is not None:
            names |= template_names(template.read_text(encoding="utf-8", errors="replace"))
    loop_control = task.data.get("loop_control") or {}
    names -= {"item", str(loop_control.get("loop_var", "item")), "ansible_loop"}
    return names.union(*(uses(t) for t in task.candidate_tasks))


def _set_names(data: dict[str, Any]) -> set[str]:
    """Names one task as written (a dict) registers or sets with set_fact."""
    names = {data["register"]} if isinstance(data.get("register"), str) else set()
    facts = data.get("set_fact", data.get("ansible.builtin.set_fact"))
    if isinstance(facts, dict):
        names |= {str(k) for k in facts if k != "cacheable"}
    return names


def defines(task: Task) -> set[str]:
    """Names the task sets for later tasks at run time."""
    names = _set_names(task.data).union(*(_set_names(sub) for sub in block_tasks(task.data)))
    if task.module == "set_fact":
        names |= {str(k) for k in task.args if k != "cacheable"}
    if task.module == "include_vars" and "name" in task.args:
        names.add(str(task.args["name"]))
    return names.union(*(defines(t) for t in task.candidate_tasks))


def reads_earlier(task: Task) -> set[str]:
    """Names the task reads that earlier tasks may have set: what it uses, except the results it registers itself
    (`until: result.rc == 0`). A `set_fact` that reads the name it sets (a counter) reads the earlier value."""
    registered = {d["register"] for d in [task.data, *block_tasks(task.data)] if isinstance(d.get("register"), str)}
    return uses(task) - registered


def defines_unknown(task: Task) -> bool:
    """True when the task sets variables whose names cannot be known before it runs."""
    return bool(defines_patterns(task))


# Names no task sets: Jinja globals, Ansible's magic variables and facts.
_NOT_SET_BY_TASKS = frozenset(
    {
        "lookup",
        "query",
        "q",
        "range",
        "dict",
        "lipsum",
        "cycler",
        "joiner",
        "namespace",
        "now",
        "undef",
        "omit",
        "hostvars",
        "groups",
        "group_names",
        "inventory_hostname",
        "inventory_hostname_short",
        "play_hosts",
        "playbook_dir",
        "role_path",
        "role_name",
        "ansible_play_hosts",
        "ansible_play_batch",
        "ansible_check_mode",
        "true",
        "false",
        "True",
        "False",
        "none",
        "None",
    }
)


def defines_patterns(task: Task) -> list[str]:
    """The literal start of each name the task sets whose name is templated (`"{{ item }}=moo"`,
    `"path_{{ idx }}": ...`), "" when nothing of it is known (an include kept whole, include_vars of a
    templated file): any later reader of a matching name may read what this task set."""
    found = []
    keys: list[str] = []
    if task.module == "set_fact":
        raw = task.args.get("_raw_params")
        if isinstance(raw, str):
            found.append(raw[: raw.find("{{")] if "{{" in raw else raw.split("=", 1)[0])
        keys = [str(k) for k in task.args if k not in ("cacheable", "_raw_params")]
    if isinstance(task.data.get("register"), str):
        keys.append(task.data["register"])
    found += [k[: k.find("{{")] for k in keys if "{{" in k]
    if task.module == "include_vars" and "name" not in task.args:
        found.append("")
    if task.dynamic:
        found.append("")
    return found


def may_set(patterns: list[str], name: str) -> bool:
    """True when a task with these `defines_patterns` may set `name`."""
    if name in _NOT_SET_BY_TASKS or _FACT_NAMES.match(name):
        return False
    return any(name.startswith(p) for p in patterns)


def known_only_when_running(name: str) -> bool:
    """A fact or a variable of the running play (`ansible_play_batch`): nothing before the run knows it."""
    return bool(_FACT_NAMES.match(name)) or name in ("play_hosts", "ansible_loop", "ansible_index_var")


def needs_facts(task: Task) -> bool:
    return (
        any(_FACT_NAMES.match(name) or name == "hostvars" for name in uses(task))
        or bool(task.dynamic)
        or task.module in ("include_role", "import_role")
    )


def touches(task: Task) -> set[str]:
    """Paths and names the task works on, to tell whether two neighbours share anything."""
    found = set()
    for key in _PATH_ARGS:
        value = task.args.get(key)
        for text in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
            if isinstance(text, str):
                found.add(text.rstrip("/"))
    for text in strings(task.args.get("_raw_params", "")) if task.module in ("command", "shell") else []:
        found |= {word.rstrip("/") for word in text.split() if word.startswith("/")}
    return found


def _pattern(path: str) -> tuple[str, bool]:
    """A path's literal part and whether it ends in a template that could be anything (`{{ root }}/{{ item }}`)."""
    cut = path.find("{{", 1)
    return (path[:cut], True) if cut > 0 else (path, False)


def share_path(a: set[str], b: set[str]) -> bool:
    """True when some path of `a` may be, contain or lie inside some path of `b`."""
    for x, x_open in map(_pattern, a):
        for y, y_open in map(_pattern, b):
            if (
                x == y
                or x.startswith(y.rstrip("/") + "/")
                or y.startswith(x.rstrip("/") + "/")
                or (x_open and y.startswith(x))
                or (y_open and x.startswith(y))
            ):
                return True
    return False
