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
  as it decided membership.

`add_host` adds hosts that no inventory has; orchc places by the inventory,
so its groups are treated as inventory groups (the report says which hosts to
add there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import jinja2

from orchc.migrate.ansible_load import Play, Playbook, Task

_TEMPLATE = re.compile(r"{{(.*?)}}")
_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass
class GroupMaker:
    """One `group_by` task: the key templates it may render (one per loop item) and the result it registers."""

    keys: list[str]
    register: str
    play_hosts: str  # the host pattern of the play it runs in
    source: str

    def may_make(self, group: str) -> bool:
        return any(_matches(key, group) for key in self.keys)


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
        for play in playbook.plays:
            for task in _tasks(play):
                if task.module == "group_by":
                    found._maker(task, play, len(found.makers))
                elif task.module == "add_host":
                    names = task.args.get("groups", task.args.get("group", task.args.get("groupname", [])))
                    for group in names if isinstance(names, list) else str(names).split(","):
                        hosts = found.added.setdefault(str(group).strip(), [])
                        hosts.append(str(task.args.get("name", task.args.get("hostname", "?"))))
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
        return Target(
            ":".join(dict.fromkeys(static)),
            compile_gate=_all(compiled),
            gate=_all(run_time),
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
