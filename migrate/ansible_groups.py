"""Groups made at run time (`group_by`, `add_host`) and the plays that target them.

Ansible can make a group while a playbook runs: `group_by: key=enable_mariadb_{{ enable_mariadb | bool }}`
puts each host that runs it into the group its key renders to, and a later
play on `mariadb:&enable_mariadb_True` runs on the members. No inventory has
those groups, so a play on one becomes:

- placed on the static part of its pattern (the inventory groups it names),
  or, where a union term is a run-time group, on the hosts of the play that
  makes the group;
- gated on every host by the pattern as a condition: each `group_by` that
  may make a group is registered, and membership is read from that result
  (`'G' in ... add_group`), handed over to the later orchc tasks like any
  registered variable, so Ansible decides on the host, at run time, exactly
  as it decided membership;
- and, where each `group_by` that may make the group renders its key from
  variables that no task sets (inventory, `group_vars/`, extra vars), given the
  same condition on the keys themselves as a `when ansible`, which orchc decides
  when it compiles for every host whose variables it knows: a host the key puts
  in another group has no instance; on the others the run-time gate still decides.

`add_host` adds hosts that no inventory has; orchc places by the inventory,
so its groups are treated as inventory groups (the report says which hosts to
add there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import jinja2

from orchc.migrate.ansible_load import Play, Playbook, Task
from orchc.migrate.ansible_vars import defines, defines_patterns, known_only_when_running, may_set, template_names

_TEMPLATE = re.compile(r"{{(.*?)}}")
_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass
class GroupMaker:
    """One `group_by` task: the key templates it may render (one per loop item) and the result it registers."""

    keys: list[str]
    register: str
    play_hosts: str  # the host pattern of the play it runs in
    source: str
    run_time_only: str = ""  # why its keys can only be rendered when it runs ("": from variables no task sets)

    def may_make(self, group: str) -> bool:
        return any(_matches(key, group) for key in self.keys)

    def makes(self, group: str) -> str:
        """An Ansible condition: whether its keys, rendered on the host, name `group`."""
        return _any([f"{group!r} == {_expression(key)}" for key in self.keys if _matches(key, group)])


@dataclass
class Target:
    """Where a play's tasks go: a pattern of inventory groups; the condition on the inventory's groups
    that orchc decides when it compiles (an orchc `when`); and the condition on groups made at run time
    that Ansible decides on the host (an Ansible `when`)."""

    static: str
    first_only: bool = False  # `G[0]`: the first host of G, as a `once` task
    rendered: str = ""  # a templated pattern, rendered with the defaults it gives
    compile_gate: str | None = None
    gate: str | None = None
    # the gate on the group_by keys, for orchc to decide when compiling where their variables are known
    known_gate: str | None = None
    run_time_only: list[str] = field(default_factory=list)  # why it has no known_gate, for the report
    notes: list[str] = field(default_factory=list)  # the run-time groups it depends on, for the report
    makers: list[GroupMaker] = field(default_factory=list)  # the group_by tasks it depends on


@dataclass
class RunTimeGroups:
    makers: list[GroupMaker] = field(default_factory=list)
    added: dict[str, list[str]] = field(default_factory=dict)  # add_host group -> hosts, as written

    @classmethod
    def collect(cls, playbook: Playbook) -> RunTimeGroups:
        """Every `group_by` and `add_host` of the playbook; each `group_by` is given a `register`."""
        found = cls()
        set_earlier: dict[str, str] = {}  # names tasks set at run time -> where
        patterns: list[tuple[str, str]] = []  # the literal start of names set at run time that are templated
        for play in playbook.plays:
            for task in _tasks(play):
                if task.module == "group_by":
                    found._maker(task, play, len(found.makers))
                    maker = found.makers[-1]
                    maker.run_time_only = _run_time_only(task, maker.keys, play, set_earlier, patterns)
                elif task.module == "add_host":
                    names = task.args.get("groups", task.args.get("group", task.args.get("groupname", [])))
                    for group in names if isinstance(names, list) else str(names).split(","):
                        hosts = found.added.setdefault(str(group).strip(), [])
                        hosts.append(str(task.args.get("name", task.args.get("hostname", "?"))))
                set_earlier.update(dict.fromkeys(defines(task), task.source))
                patterns += [(pattern, task.source) for pattern in defines_patterns(task)]
        return found

    def _maker(self, task: Task, play: Play, index: int) -> None:
        key = str(task.args.get("key", task.args.get("_raw_params", "")))
        keys = [key]
        items = _loop_items(task)
        if items is not None and re.fullmatch(r"\s*{{\s*item\s*}}\s*", key):
            keys = items
        elif items is not None:
            keys = [key.replace("{{ item }}", item) for item in items] if "{{ item }}" in key else [key]
        register = task.data.get("register")
        if not isinstance(register, str):
            register = f"orchc_group_by_{index + 1}"
            task.data["register"] = register
        self.makers.append(GroupMaker(keys, register, play.hosts, task.source))

    def makers_of(self, group: str) -> list[GroupMaker]:
        """The group_by tasks that may make `group` (none: an inventory group)."""
        return [m for m in self.makers if m.may_make(group)]

    def is_run_time(self, group: str) -> bool:
        return bool(self.makers_of(group))

    def target(self, pattern: str) -> Target:
        """The inventory groups a play's pattern places on, and its gate where the pattern needs one."""
        if "{{" in pattern:
            rendered = _with_defaults(pattern)
            if rendered is None:
                return Target(pattern)  # it needs variables: left to the host mapping, which reports it
            target = self.target(rendered)
            target.rendered = rendered
            return target
        first = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_.-]*)\[0\]", pattern.strip())
        if first is not None and not self.is_run_time(first.group(1)):
            return Target(first.group(1), first_only=True)
        terms = _terms(pattern)
        unions = [t for t in terms if t[0] not in "&!"]
        intersections = [t[1:] for t in terms if t[0] == "&"]
        exclusions = [t[1:] for t in terms if t[0] == "!"]
        dynamic = {t: self.makers_of(t) for t in unions + intersections + exclusions if self.is_run_time(t)}
        if not dynamic and not intersections and not exclusions:
            return Target(pattern)
        if not all(_WORD.match(t) for t in unions + intersections + exclusions):
            return Target(pattern)  # wildcards and ranges: left to the host mapping, which reports them
        static = self._static(unions, depth=0)
        if static == ["all"] and intersections and intersections[0] not in dynamic:
            static = [intersections[0]]
        # Where every union term is an inventory group, the placement is the union already.
        union = _any([self._member(t) for t in unions]) if any(t in dynamic for t in unions) else "true"
        run_time = (
            [union]
            + [self._member(t) for t in intersections if t in dynamic]
            + [f"not {self._member(t)}" for t in exclusions if t in dynamic]
        )
        compiled = [f"{t!r} in host.groups" for t in intersections if t not in dynamic and t != "all"] + [
            f"{t!r} not in host.groups" for t in exclusions if t not in dynamic
        ]
        notes = [f"{g} (made by group_by at {', '.join(m.source for m in makers)})" for g, makers in dynamic.items()]
        makers = [m for m in self.makers if any(m in found for found in dynamic.values())]
        run_time_only = list(
            dict.fromkeys(f"group_by at {m.source}: {m.run_time_only}" for m in makers if m.run_time_only)
        )
        known = None
        if not run_time_only:
            known_union = _any([self._known(t) for t in unions]) if any(t in dynamic for t in unions) else "true"
            known = _all(
                [known_union]
                + [self._known(t) for t in intersections if t in dynamic]
                + [f"not {_parenthesised(self._known(t))}" for t in exclusions if t in dynamic]
            )
        return Target(
            ":".join(dict.fromkeys(static)),
            compile_gate=_all(compiled),
            gate=_all(run_time),
            known_gate=known,
            run_time_only=run_time_only,
            notes=notes,
            makers=makers,
        )

    def _static(self, unions: list[str], depth: int) -> list[str]:
        """Inventory groups whose hosts include every host the union of `unions` may have at run time."""
        found: list[str] = []
        for group in unions:
            makers = self.makers_of(group)
            if group in ("all", "*") or (makers and depth >= 8):
                return ["all"]
            if not makers:
                found.append(group)
            for maker in makers:  # a group made at run time has at most the hosts of the plays that make it
                unions = [t for t in _terms(maker.play_hosts) if t[0] not in "&!"]
                found += self._static(unions or ["all"], depth + 1)
        return list(dict.fromkeys(found)) or ["all"]

    def _member(self, group: str) -> str:
        """A condition that holds on a host of `group`: made at run time, or of the inventory."""
        if group in ("all", "*"):
            return "true"
        makers = self.makers_of(group)
        if not makers:
            return f"{group!r} in group_names"
        return _any(
            [
                f"({group!r} in ((({m.register} | default({{}})).results | default([{m.register} | "
                f"default({{}})])) | map(attribute='add_group', default='') | list))"
                for m in makers
            ]
        )

    def _known(self, group: str) -> str:
        """`_member`'s condition on the keys of the group_by tasks that make `group`, not on their results."""
        makers = self.makers_of(group)
        if not makers:
            return self._member(group)
        return _any([m.makes(group) for m in makers])


def _run_time_only(
    task: Task, keys: list[str], play: Play, set_earlier: dict[str, str], patterns: list[tuple[str, str]]
) -> str:
    """Why a group_by's keys may render differently when it runs than from the variables known when compiling
    (the inventory's, group_vars/ beside the playbooks, extra vars); "" if they render the same."""
    if not any("{{" in key for key in keys):
        return "its key is literal: a host joins if the task runs there (its `when`, a notification)"
    if task.role is not None:
        return f"it runs in role {task.role.label}, whose defaults and vars are not read when compiling"
    if any(key in play.data for key in ("vars", "vars_files", "vars_prompt")) or "vars" in task.data:
        return "its play or task sets vars"
    if _loop_items(task) is None and any(key in task.data for key in ("loop", "with_items", "with_list")):
        return "its loop items are computed at run time"
    if "delegate_to" in task.data or "run_once" in task.data:
        return "it is delegated or runs once"
    names = sorted(set().union(*(template_names(key) for key in keys)) - {"item"})
    running = next((name for name in names if known_only_when_running(name)), None)
    if running is not None:
        return f"'{running}' is known only when the play runs (a fact or a variable of the play)"
    for name in names:
        source = set_earlier.get(name) or next((s for p, s in patterns if may_set([p], name)), None)
        if source is not None:
            return f"'{name}' is set at run time by the task at {source}"
    return ""


def _expression(key: str) -> str:
    """A key template as one Jinja expression: `a_{{ x | bool }}` -> `'a_' ~ (x | bool)`."""
    parts = _TEMPLATE.split(key)
    pieces = [repr(part) if n % 2 == 0 else f"({part.strip(' -+')})" for n, part in enumerate(parts) if part or n % 2]
    return " ~ ".join(pieces) if len(pieces) > 1 or parts == [key] else f"({pieces[0]} | string)"


def _parenthesised(condition: str) -> str:
    return condition if condition == "true" or condition.startswith("(") else f"({condition})"


def gate_play(play: Play, target: Target) -> None:
    """Every task and handler of the play runs only where the target's gate holds (checked first), and
    rejoins the run-time groups it depends on."""
    for task in _tasks(play):
        when = task.data.get("when")
        task.data["when"] = [target.gate] + (when if isinstance(when, list) else [when] if when is not None else [])
    play.rejoins = [m.register for m in target.makers]


def rejoin_tasks(registers: list[str]) -> list[dict[str, object]]:
    """Tasks that put the host again into the groups the registered `group_by` results made for it."""
    return [
        {
            "name": f"orchc: rejoin the groups {register} made",
            "ansible.builtin.group_by": {"key": "{{ item }}"},
            "changed_when": False,
            "loop": f"{{{{ (({register} | default({{}})).results | default([{register} | default({{}})])) "
            "| map(attribute='add_group', default='') | select | list }}",
        }
        for register in registers
    ]


def _terms(pattern: str) -> list[str]:
    """The terms of a host pattern (`a:&b,!c`), as Ansible splits it."""
    return [t.strip() for t in re.split(r"[:,]", pattern) if t.strip()]


def _tasks(play: Play) -> list[Task]:
    return [t for segment in play.segments for t in segment.tasks] + play.handlers


def _loop_items(task: Task) -> list[str] | None:
    for key in ("loop", "with_items", "with_list"):
        items = task.data.get(key)
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return [str(i) for i in items]
    return None


def _matches(key: str, group: str) -> bool:
    """Whether `key` (a template) may render to `group`: its literal parts in place, anything for the rest."""
    parts = _TEMPLATE.split(key)
    regex = "".join(re.escape(part) if n % 2 == 0 else ".+?" for n, part in enumerate(parts))
    return "{%" not in key and re.fullmatch(regex, group) is not None


def _with_defaults(pattern: str) -> str | None:
    """A templated pattern rendered with the defaults it names (`{{ target | default('overcloud') }}`), empty
    terms (a default of `[]`) left out; None where it reads a variable without a default."""
    try:
        text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(pattern).render()
    except (jinja2.TemplateError, TypeError, ValueError):
        return None
    terms = [t.strip() for t in re.split(r"[:,]", text) if t.strip() not in ("", "[]")]
    return ":".join(terms) if terms and "{{" not in text else None


def _all(conditions: list[str]) -> str | None:
    return " and ".join(c for c in conditions if c != "true") or None


def _any(conditions: list[str]) -> str:
    if "true" in conditions:
        return "true"
    return conditions[0] if len(conditions) == 1 else "(" + " or ".join(conditions) + ")"
