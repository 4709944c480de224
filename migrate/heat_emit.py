""".orch text and playbooks for one tree (deploy, update or upgrade) of converted TripleO services.

Each unit becomes a task running its playbook (`playbooks/<service>.<phase>.yml`).
How tasks wait for each other is the one thing that differs between the modes:

- faithful (default): one anchor per phase, chained in TripleO's order, plus a
  `stepN` anchor closing each step. Every unit requires the anchor before its
  phase and provides its own done signal, which its phase's anchor requires:
  the global barriers TripleO had, as a graph. Inside a phase, a host runs its
  services in its role's order, as TripleO's task files did.
- relaxed (`--relax`): a service's units follow each other (`after`), and a unit
  that starts step N waits only for step N-1 of the services its data names
  (`OrchService.depends_on`) and, for a service's undercloud part, the step
  it ran next to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from orchc.dsl import ast, build
from orchc.dsl.build import After, Concurrency, Lines, Statement
from orchc.migrate.emit import ident
from orchc.migrate.heat_intrinsics import Unresolved
from orchc.migrate.heat_steps import POST_DEPLOY_STEP, Phase, Unit

PLAYBOOKS = "playbooks"
UNDERCLOUD_ROLE = "undercloud"  # where external (undercloud) tasks run


@dataclass
class OrchService:
    name: str
    roles: list[str]
    units: list[Unit]  # in phase order
    source: str
    depends_on: dict[str, str] = field(default_factory=dict)  # other service -> why (relaxed mode)
    runs_before: str | None = None  # the service whose step N follows this one's step N (undercloud part)
    concurrency: int | None = None  # update_serial
    endpoint_refs: dict[str, str] = field(default_factory=dict)  # EndpointMap key its data uses -> where
    config_for: dict[str, str] = field(default_factory=dict)  # services it configures -> where
    waits_for: dict[str, str] = field(default_factory=dict)  # services TripleO's machinery ties it to -> why


def emit_tree(
    services: list[OrchService],
    roles: dict[str, list[str]],
    relax: bool,
    group_vars: dict[str, dict[str, Any]],
    secrets: set[str],
    prefix: str = "",
) -> dict[str, str]:
    """The files of one .orch tree (paths relative to its folder, under `prefix`).

    `secrets` are the hidden Heat parameters: each becomes a `var NAME: secret`, passed to the
    playbooks that use it (directly or through a group variable they name) as
    `NAME = "{{ vars.NAME }}"`, so its value comes at run time and never reaches a file, the Plan
    or the journal.
    """
    files: dict[str, str] = {}
    in_variable: dict[str, set[str]] = {}  # group variable -> the secrets its value uses
    for group, variables in group_vars.items():
        if variables:
            files[f"{prefix}{PLAYBOOKS}/group_vars/{group}.yml"] = playbook_yaml(variables)
        for name, data in variables.items():
            in_variable.setdefault(name, set()).update(_secrets_in(playbook_yaml(data), secrets))
    used: dict[tuple[str, str], list[str]] = {}
    for service in services:
        for unit in service.units:
            text = playbook_yaml([unit.play])
            files[prefix + _playbook_path(service, unit)] = text
            through = {s for name, names in in_variable.items() if re.search(rf"\b{name}\b", text) for s in names}
            used[(service.name, unit.phase.name)] = sorted(_secrets_in(text, secrets) | through)
    edges = _relaxed_edges(services) if relax else _faithful_edges(services, roles)
    declared = sorted({name for names in used.values() for name in names})
    files[prefix + "overcloud.orch"] = _overcloud_text(services, roles, declared, relax)
    for service in services:
        files[f"{prefix}{service.name}.orch"] = _service_text(service, edges, used)
    return files


def _secrets_in(text: str, secrets: set[str]) -> set[str]:
    return {name for name in secrets if re.search(r"\{\{ " + re.escape(name) + r"\b", text)}


def playbook_yaml(data: Any) -> str:
    return yaml.safe_dump(_finalize(data), sort_keys=False, width=120, allow_unicode=True, default_flow_style=False)


def _finalize(data: Any) -> Any:
    if isinstance(data, Unresolved):
        return data.jinja()
    if isinstance(data, dict):
        return {k: _finalize(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finalize(v) for v in data]
    return data


def _playbook_path(service: OrchService, unit: Unit) -> str:
    return f"{PLAYBOOKS}/{service.name}.{unit.phase.name}.yml"


@dataclass
class _Edges:
    after: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (service, task) -> tasks
    requires: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    provides: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def add(self, kind: dict[tuple[str, str], list[str]], service: str, task: str, name: str) -> None:
        names = kind.setdefault((service, task), [])
        if name not in names:
            names.append(name)


# --- faithful: global barriers as anchors ------------------------------------------


def _anchor_chain(services: list[OrchService]) -> list[tuple[str, Phase | None]]:
    """Anchors in order: each phase's, and `stepN` closing step N; (name, phase or None for stepN)."""
    phases = sorted({u.phase for s in services for u in s.units})
    chain: list[tuple[str, Phase | None]] = []
    for position, phase in enumerate(phases):
        chain.append((phase.name, phase))
        following = phases[position + 1] if position + 1 < len(phases) else None
        if (following is None or following.step != phase.step) and phase.step != POST_DEPLOY_STEP:
            chain.append((f"step{phase.step}", None))
    return chain


def _faithful_edges(services: list[OrchService], roles: dict[str, list[str]]) -> _Edges:
    edges = _Edges()
    chain = _anchor_chain(services)
    before: dict[str, str] = {}  # phase name -> the anchor it waits for
    for position, (name, phase) in enumerate(chain):
        if phase is not None and position > 0:
            before[name] = chain[position - 1][0]
    for service in services:
        for unit in service.units:
            task = unit.phase.name
            if task in before:
                edges.add(edges.requires, service.name, task, f"{before[task]}_done")
            edges.add(edges.provides, service.name, task, _work(service, unit))
    _host_order(services, roles, edges)
    return edges


def _host_order(services: list[OrchService], roles: dict[str, list[str]], edges: _Edges) -> None:
    """Inside a phase, TripleO ran a host's services one after another in its role's order: keep that order.

    Each unit waits, on its own host, for the unit of the nearest earlier service of the role
    that runs on every host it runs on (orchc's `requires ... on same host`); an order that
    another role contradicts is left out rather than made a cycle.
    """
    by_name = {s.name: s for s in services}
    for phase in sorted({u.phase for s in services for u in s.units}):
        in_phase = {s.name: u for s in services for u in s.units if u.phase == phase}
        followed = {name for name, unit in in_phase.items() if not unit.once}  # a `once` unit is on one host
        before: dict[str, set[str]] = {}  # service -> services ordered before it in this phase
        for names in roles.values():
            ordered = [n for n in names if n in in_phase]
            for position, name in enumerate(ordered):
                earlier = [
                    n for n in ordered[:position] if n in followed and set(by_name[n].roles) >= set(by_name[name].roles)
                ]
                if not earlier or name in _closure(before, earlier[-1]):
                    continue
                before.setdefault(name, set()).add(earlier[-1])
                edges.add(
                    edges.requires,
                    name,
                    phase.name,
                    f"{_work(by_name[earlier[-1]], in_phase[earlier[-1]])} on same host",
                )


def _closure(before: dict[str, set[str]], name: str) -> set[str]:
    """Every service ordered (transitively) before `name`."""
    seen: set[str] = set()
    stack = [name]
    while stack:
        for other in before.get(stack.pop(), set()) - seen:
            seen.add(other)
            stack.append(other)
    return seen


def _work(service: OrchService, unit: Unit) -> str:
    """The signal of one unit's work being done everywhere (a capability has one provider task)."""
    return f"{service.name}_{unit.phase.name}_done"


def _anchors(lines: Lines, services: list[OrchService]) -> list[ast.Item]:
    lines.comment("TripleO's global barriers: every phase waits for the whole previous phase.")
    lines.blank()
    anchors: list[ast.Item] = []
    previous = None
    for name, phase in _anchor_chain(services):
        statements: list[After | ast.Requirement | ast.Provision] = [After([previous])] if previous else []
        statements += [
            build.requires(_work(s, u), optional=True) for s in services for u in s.units if u.phase == phase
        ]
        anchors.append(build.anchor(lines, name, [*statements, build.provides(f"{name}_done")]))
        previous = name
    return anchors


# --- relaxed: per-service chains and the dependencies the data shows ----------------


def _relaxed_edges(services: list[OrchService]) -> _Edges:
    edges = _Edges()
    by_name = {s.name: s for s in services}
    needed: set[tuple[str, int]] = set()  # (service, step) whose completion someone waits for
    for service in services:
        previous = None
        for unit in service.units:
            if previous is not None:
                edges.add(edges.after, service.name, unit.phase.name, previous.phase.name)
            if previous is None or previous.phase.step != unit.phase.step:
                for other, step in _waits(service, unit.phase.step, by_name):
                    edges.add(edges.requires, service.name, unit.phase.name, f"{other}_step{step}")
                    needed.add((other, step))
            previous = unit
    for other, step in sorted(needed):
        provider = _last_unit_until(by_name[other], step)
        edges.add(edges.provides, other, provider.phase.name, f"{other}_step{step}")
    return edges


def _waits(service: OrchService, step: int, by_name: dict[str, OrchService]) -> list[tuple[str, int]]:
    """(service, step) pairs a unit starting `step` of `service` waits for, when they have any unit."""
    waits = [(other, step - 1) for other in service.depends_on]
    waits += [(s.name, step) for s in by_name.values() if s.runs_before == service.name]
    return [(other, n) for other, n in waits if n >= 0 and other in by_name and _last_unit_until(by_name[other], n)]


def _last_unit_until(service: OrchService, step: int) -> Unit | None:
    units = [u for u in service.units if u.phase.step <= step]
    return units[-1] if units else None


# --- text --------------------------------------------------------------------------


def _overcloud_text(services: list[OrchService], roles: dict[str, list[str]], secrets: list[str], relax: bool) -> str:
    """The roles; those of roles_data are `optional`, as TripleO deploys a role that has no nodes as nothing."""
    lines = Lines("overcloud.orch")
    lines.comment("Converted from TripleO by `orchc migrate heat`; see migration-report.md.")
    lines.blank()
    items: list[ast.Item] = [
        build.role(lines, ident(role), names, optional=role != UNDERCLOUD_ROLE) for role, names in roles.items()
    ]
    if secrets:
        lines.comment("Hidden Heat parameters: give them at run time (--secrets FILE or ORCHC_SECRET_<NAME>).")
        lines.blank()
        items += [build.var(lines, name, "secret") for name in secrets]
    return lines.text(items + ([] if relax else _anchors(lines, services)))


def _service_text(service: OrchService, edges: _Edges, used: dict[tuple[str, str], list[str]]) -> str:
    lines = Lines(f"{service.name}.orch")
    lines.comment(f"{service.name}: {service.source} (roles: {', '.join(service.roles)})")
    start = lines.next()
    tasks = []
    for unit in service.units:
        key = (service.name, unit.phase.name)
        statements: list[Statement] = [After(edges.after[key])] if edges.after.get(key) else []
        statements += [build.requires(name, optional=True) for name in edges.requires.get(key, [])]
        statements += [build.provides(name) for name in edges.provides.get(key, [])]
        if service.concurrency:
            statements.append(Concurrency(service.concurrency))
        variables: dict[str, Any] = {"step": unit.step_var} if unit.step_var is not None else {}
        variables.update({name: f"{{{{ vars.{name} }}}}" for name in used[key]})
        statements.append(build.playbook(_playbook_path(service, unit), variables))
        tasks.append(build.task(lines, unit.phase.name, statements, unit.once))
    return lines.text([build.service(lines, start, service.name, tasks)])
