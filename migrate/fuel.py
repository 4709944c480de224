"""`orchc migrate fuel`: Fuel `tasks.yaml` graphs -> `.orch` projects + an inventory with tag groups.

How Fuel's task graph maps onto orchc (Nailgun's serializer and Astute's
traversal, see notes/fuel-and-tripleo.md A1-A3):

- Every task is a service with one task, placed on the inventory groups of its
  `tags`/`roles`/`groups` (see `fuel_placement`); it provides a capability
  named after itself. Tasks that no host carries are left out (Nailgun
  expanded them to no node) and the report lists them.
- `requires`/`required_for` (same node) become `requires X on same host`;
  `cross-depends` become `requires X` (all providers), `on same host` for
  `role: self`, `on role R` per role, `on any` for `policy: any`;
  `cross-depended-by` are the same edges written on the other task.
- `stage` tasks (and `skipped` tasks with no placement) run on Fuel's
  virtual sync node: they become top-level anchors.
- `group` tasks give their roles' fault tolerance (`tolerate`) and add their
  `tasks` to the group's nodes; `strategy` becomes `concurrency`.
- `condition` is kept as a comment: on a first deployment Fuel's `changed()`
  conditions are true, so the task runs.

Files under `graphs/<type>/` are Fuel's custom graphs (provision, deletion,
...): each graph is a separate project folder of the output, so that
deploying never erases a node.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from orchc.dsl import ast, build
from orchc.dsl.build import After, Concurrency, Lines, Statement
from orchc.migrate.emit import ident
from orchc.migrate.fuel_actions import PLACEHOLDER_DEFAULTS, Actions, actions_for
from orchc.migrate.fuel_placement import ALL_NODES, Placement, load_inventory, load_metadata
from orchc.migrate.fuel_tasks import CrossDep, FuelTask, find_task_files, load_tasks
from orchc.migrate.report import Category, Migration, Report
from orchc.migrate.yaml_source import input_error

ANCHOR_TYPES = ("stage",)
ROLES_FILE = "roles"  # <graph>/roles.orch: the roles, and the variables for Nailgun's placeholders
_SWITCH_DEFAULT = re.compile(r"^switch\(.*\btrue\s*=>\s*(\d+)\s*\)$", re.S)


@dataclass(frozen=True, order=True)
class Need:
    """One `requires`: a capability and its scope (ordered as the statements' text sorts)."""

    capability: str
    scope: Literal["all", "any", "role", "same_host"] = "all"
    role: str = ""  # for scope "role"

    def requirement(self) -> ast.Requirement:
        return build.requires(self.capability, self.scope, self.role or None, optional=True)


@dataclass
class Node:
    """A Fuel task as it will be written: where it runs and what it waits for."""

    task: FuelTask
    hosts: list[str]
    groups: list[str]  # orchc roles it is placed on
    needs: set[Need] = field(default_factory=set)
    after_anchors: set[str] = field(default_factory=set)  # stage anchors only

    @property
    def name(self) -> str:
        return ident(self.task.id)

    @property
    def is_anchor(self) -> bool:
        return self.task.type in ANCHOR_TYPES or (self.task.type == "skipped" and not self.task.placement)


def convert_fuel(files: list[Path], metadata: Path, inventory: Path) -> Migration:
    paths = find_task_files(files)
    root = _common_root(paths)
    tasks = [t for p in paths for t in load_tasks(p, str(p.resolve().relative_to(root)))]
    placement = Placement(load_metadata(metadata), load_inventory(inventory))
    report = Report("fuel", [str(p) for p in files] + [str(metadata), str(inventory)])
    out: dict[str, str] = {}
    used_groups: set[str] = set()
    by_graph: dict[str, list[FuelTask]] = defaultdict(list)
    for task in tasks:
        by_graph[task.graph].append(task)
    for graph, graph_tasks in sorted(by_graph.items()):
        converter = _GraphConverter(graph, graph_tasks, placement, report)
        out.update(converter.files())
        used_groups |= converter.used_groups
    out["inventory.yml"] = yaml.safe_dump(placement.inventory_document(used_groups), sort_keys=False)
    for note in placement.notes:
        report.add("assumption", str(inventory), note)
    report.figures.update(
        {"fuel tasks": len(tasks), "graphs": ", ".join(sorted(by_graph)), "hosts": len(placement.inventory.host_order)}
    )
    return Migration(out, report)


def _common_root(paths: list[Path]) -> Path:
    """The folder the report names input files relative to."""
    return Path(os.path.commonpath([p.resolve().parent for p in paths]))


class _GraphConverter:
    """One Fuel graph (deployment, provision, ...) -> one project folder."""

    def __init__(self, graph: str, tasks: list[FuelTask], placement: Placement, report: Report) -> None:
        self.graph, self.placement, self.report = graph, placement, report
        self.groups = {t.id: t for t in tasks if t.type == "group"}
        self.fuel_tolerance: dict[str, FuelTask] = {}  # Fuel role (or primary-<role>) -> its group task
        self.nodes: dict[str, Node] = {}
        self.used_groups: set[str] = set()
        self._noted: set[tuple[str, str, str]] = set()
        self._check_duplicates(tasks)
        self._read_groups()
        for task in tasks:
            if task.type == "group":
                continue
            node = self._place(task)
            if node is not None:
                self.nodes[task.id] = node
        for node in list(self.nodes.values()):
            self._edges(node)

    def _note(self, category: Category, source: str, what: str, why: str = "") -> None:
        """Add to the report once: the same edge can come from several Fuel fields."""
        key = (category, source, what)
        if key not in self._noted:
            self._noted.add(key)
            self.report.add(category, source, what, why)

    # --- placement ------------------------------------------------------------------

    def _check_duplicates(self, tasks: list[FuelTask]) -> None:
        seen: dict[str, FuelTask] = {}
        for task in tasks:
            if task.id in seen:
                file, _, line = task.source.rpartition(":")
                raise input_error(
                    f"task id '{task.id}' is defined twice in the {self.graph} graph (first at {seen[task.id].source})",
                    Path(file),
                    int(line),
                    hint="Fuel task ids are unique within a graph: rename or remove one",
                )
            seen[task.id] = task

    def _read_groups(self) -> None:
        """Each Fuel role's group task (for its tolerance); what of a group does not carry over is reported.

        A group's `tasks` are placed on its nodes by `_place`.
        """
        for group in self.groups.values():
            if group.parameters.get("strategy"):
                self._note(
                    "approximated",
                    group.source,
                    f"strategy of group '{group.id}' is not kept",
                    "in task-based deployment each task's own strategy limits it",
                )
            if group.requires or group.required_for:
                self._note(
                    "approximated",
                    group.source,
                    f"ordering of group '{group.id}' is not kept",
                    "task-based deployment orders tasks by their own dependencies, not by role groups",
                )
            for name in group.placement:
                self.fuel_tolerance[name] = group

    def _tolerance(self, orch_group: str) -> int | str:
        """A role's budget: that of the Fuel group of the role (or primary role) its tag comes from.

        A host leaves the deployment only within the budgets of all its roles, so a
        tag's role gets the budget of the Fuel group its hosts belong to; Fuel gave
        nodes in no group a budget of 0. The group of every node never limits.
        """
        hosts = self.placement.group_hosts(orch_group)
        if orch_group == ALL_NODES:
            return len(hosts)
        tag = next((t for t in self.placement.tag_hosts if ident(t) == orch_group), orch_group)
        if tag in self.fuel_tolerance:
            return self._tolerate(self.fuel_tolerance[tag], hosts, tag)
        budgets = []
        for role in self.placement.tag_roles.get(tag, []):
            primary = f"primary-{role}"
            group = self.fuel_tolerance.get(
                primary if tag.startswith("primary-") and primary in self.fuel_tolerance else role
            )
            budgets.append(self._tolerate(group, hosts, role) if group else 0)
        if len(budgets) > 1:
            budgets = [min(self._count(b, len(hosts)) for b in budgets)]
        return budgets[0] if budgets else 0

    @staticmethod
    def _count(spec: int | str, size: int) -> int:
        return int(size * float(spec[:-1]) / 100) if isinstance(spec, str) else spec

    def _tolerate(self, group: FuelTask, hosts: list[str], role: str) -> int | str:
        size = len(hosts)
        spec = group.fault_tolerance
        if spec is None:
            return size  # Fuel: size + 1, i.e. never exceeded
        text = str(spec).strip()
        if text.endswith("%"):
            same_hosts = set(hosts) == set(self.placement.hosts_of(role))
            return text if same_hosts else self._count(text, len(self.placement.hosts_of(role)))
        number = int(text)
        if number < 0:
            self._note(
                "approximated",
                group.source,
                f"fault_tolerance {number} of group '{group.id}'",
                f"-N means N hosts must succeed: {max(size + number, 0)} of {size} may fail here",
            )
            return max(size + number, 0)
        return number

    def _hosts(self, names: list[str]) -> list[str]:
        hosts = {h for group in self._orch_groups(names) for h in self.placement.group_hosts(group)}
        return sorted(hosts, key=(self.placement.inventory.host_order + ["fuel-master"]).index)

    def _orch_groups(self, names: list[str]) -> list[str]:
        found: list[str] = []
        for name in names:
            group = self.groups.get(name)  # a group task stands for its roles, which are tags
            for g in (
                [x for n in group.placement for x in self.placement.groups_of(n)]
                if group
                else self.placement.groups_of(name)
            ):
                if g not in found and self.placement.group_hosts(g):
                    found.append(g)
        return found

    def _place(self, task: FuelTask) -> Node | None:
        node = Node(task, [], [])
        if node.is_anchor:
            return node
        names = task.placement + [g.id for g in self.groups.values() if task.id in g.group_tasks]
        node.hosts, node.groups = self._hosts(names), self._orch_groups(names)
        if not node.hosts:
            why = (
                f"no host carries {', '.join(task.placement)} in this inventory"
                if task.placement
                else "it names no tags, roles or groups"
            )
            self._note("assumption", task.source, f"task '{task.id}' left out", why)
            return None
        return node

    # --- edges ------------------------------------------------------------------------

    def _resolve(self, name: str) -> list[Node]:
        """The placed tasks and anchors a dependency name (exact or /regex/) names."""
        if len(name) > 1 and name.startswith("/") and name.endswith("/"):
            pattern = re.compile(name[1:-1])
            return [n for task_id, n in self.nodes.items() if pattern.search(task_id)]
        found = self.nodes.get(name)
        return [found] if found else []

    def _edges(self, node: Node) -> None:
        task = node.task
        for name in task.requires:
            for target in self._resolve(name):
                self._same_node(node, target)
        for name in task.required_for:
            for target in self._resolve(name):
                self._same_node(target, node)
        for dep in task.cross_depends:
            for target in self._resolve(dep.name):
                self._cross(node, target, dep)
        for dep in task.cross_depended_by:
            for target in self._resolve(dep.name):
                self._cross_reverse(target, node, dep)
        for expression in task.dynamic_cross:
            self._note(
                "unsupported",
                task.source,
                f"cross-dependencies of '{task.id}' written as yaql",
                f"Nailgun computed them per node ({expression}); the task's other dependencies are kept",
            )

    def _same_node(self, waiter: Node, target: Node) -> None:
        """`requires`/`required_for`: the same node, and the sync node for stages."""
        if target is waiter:
            return
        if target.is_anchor and waiter.is_anchor:
            waiter.after_anchors.add(target.name)
        elif target.is_anchor or waiter.is_anchor:
            waiter.needs.add(Need(target.name))
        else:
            self._on_same_host(waiter, target)

    def _on_same_host(self, waiter: Node, target: Node) -> None:
        """`on same host` where every host of the waiter has the target; else wait for all of it.

        Fuel dropped a same-node dependency on nodes without the target; an orchc
        requirement binds on every host of the task, so the waiter waits for every
        instance of the target instead: never earlier than in Fuel, sometimes later.
        """
        shared = set(target.hosts) & set(waiter.hosts)
        if not shared:
            return
        if set(waiter.hosts) <= set(target.hosts):
            waiter.needs.add(Need(target.name, "same_host"))
            return
        waiter.needs.add(Need(target.name))
        self._note(
            "approximated",
            waiter.task.source,
            f"'{waiter.task.id}' waits for every '{target.task.id}', not only its own node's",
            f"'{target.task.id}' runs on {len(target.hosts)} of its {len(waiter.hosts)} hosts",
        )

    def _cross(self, waiter: Node, target: Node, dep: CrossDep) -> None:
        if target is waiter:
            if dep.role != "self":
                self._note(
                    "approximated",
                    waiter.task.source,
                    f"'{waiter.task.id}' waits for its own instances",
                    "orchc has no edge between instances of one task; `concurrency 1` serialises them",
                )
            return
        if target.is_anchor or waiter.is_anchor or (dep.role_given and dep.role is None):
            self._same_node(waiter, target)
            return
        if dep.role == "self":
            self._on_same_host(waiter, target)
            return
        if dep.any:
            waiter.needs.add(Need(target.name, "any"))
            if dep.role is not None:
                self._note(
                    "approximated",
                    waiter.task.source,
                    f"'{waiter.task.id}' waits for any '{target.task.id}', on any role",
                    f"orchc's `on any` does not combine with a role ({dep.role})",
                )
            return
        if dep.role is None:
            waiter.needs.add(Need(target.name))
            return
        roles = dep.role if isinstance(dep.role, list) else [dep.role]
        for role in self._orch_groups([str(r) for r in roles]):
            if set(self.placement.group_hosts(role)) & set(target.hosts):
                waiter.needs.add(Need(target.name, "role", role))

    def _cross_reverse(self, waiter: Node, target: Node, dep: CrossDep) -> None:
        """`cross-depended-by` on `target`: `waiter` (on nodes of dep.role) waits for `target`."""
        if dep.role == "self" or waiter.is_anchor or target.is_anchor:
            self._cross(waiter, target, CrossDep(dep.name, "self", True, False))
            return
        waiter.needs.add(Need(target.name))
        if dep.role is not None:
            roles = dep.role if isinstance(dep.role, list) else [dep.role]
            role_hosts = set(self._hosts([str(r) for r in roles]))
            if not set(waiter.hosts) <= role_hosts:
                self._note(
                    "approximated",
                    target.task.source,
                    f"every instance of '{waiter.task.id}' waits for '{target.task.id}'",
                    f"Fuel made only its instances on {roles} wait",
                )

    # --- output -----------------------------------------------------------------------

    def files(self) -> dict[str, str]:
        out: dict[str, str] = {}
        by_source: dict[str, list[Node]] = defaultdict(list)
        placeholders: set[str] = set()
        for node in self.nodes.values():
            by_source[node.task.source.rpartition(":")[0]].append(node)
        names = _file_names(list(by_source))
        for source, nodes in by_source.items():
            lines = Lines(f"{names[source]}.orch")
            lines.comment(f"Converted by `orchc migrate fuel` from {source} ({self.graph} graph).")
            lines.blank()
            items: list[ast.Item] = []
            for node in nodes:
                actions = actions_for(node.task)
                placeholders |= actions.placeholders
                out.update({f"{self.graph}/{rel}": text for rel, text in actions.files.items()})
                items.append(self._item(lines, node, actions))
            out[f"{self.graph}/{names[source]}.orch"] = lines.text(items)
        out[f"{self.graph}/{ROLES_FILE}.orch"] = self._roles_text(placeholders)
        return out

    def _item(self, lines: Lines, node: Node, actions: Actions) -> ast.Item:
        task = node.task
        head = [
            f"fuel task '{task.id}' (type {task.type}"
            + (f", version {task.version}" if task.version else "")
            + f") from {task.source}"
        ]
        self._report_task(node, actions, head)
        waits_for_all = {n.capability for n in node.needs if n.scope == "all"}
        needs = [n for n in node.needs if n.scope == "all" or n.capability not in waits_for_all]
        edges: list[After | ast.Requirement | ast.Provision] = (
            [After(sorted(node.after_anchors))] if node.after_anchors else []
        )
        edges += [need.requirement() for need in sorted(needs)]
        edges.append(build.provides(node.name))
        lines.comment("\n".join(head))
        if node.is_anchor:
            return build.anchor(lines, node.name, edges)
        for group in node.groups:
            self.used_groups.add(group)
        start = lines.next()
        body = [*edges, *self._concurrency(task), *actions.settings, *actions.actions]
        return build.service(lines, start, node.name, [build.task(lines, ident(task.type), body)])

    def _report_task(self, node: Node, actions: Actions, head: list[str]) -> None:
        task = node.task
        for category, what, why in actions.notes:
            self._note(category, task.source, what, why)
        if actions.actions:
            wrapped = any(isinstance(action, ast.AnsibleModule) for action in actions.actions)
            self._note(
                "wrapped" if wrapped else "native",
                task.source,
                f"task '{task.id}' ({task.type})",
                "an Ansible module does it, with the same effect" if wrapped else "",
            )
        if task.condition:
            head.append(f"condition (yaql; true on a first deployment, so the task runs): {task.condition}")
            self._note(
                "approximated",
                task.source,
                f"condition of '{task.id}' kept as a comment",
                "on a first deployment Fuel's changed() conditions are true and the task runs; "
                "orchc re-runs a task when its fingerprint changes",
            )
        if task.version is None and task.type not in ("stage", "skipped", "group"):
            self._note(
                "assumption",
                task.source,
                f"task '{task.id}' has no version",
                "Fuel needs version >= 2.0.0 for task-based deployment; converted as if it had one",
            )
        for key, data in task.extra.items():
            head.append(f"{key}: {data}")
            self._note(
                "unsupported" if key.startswith("test_") else "approximated",
                task.source,
                f"`{key}` of '{task.id}' kept as a comment",
                _EXTRA_REASONS.get(key, ""),
            )

    def _concurrency(self, task: FuelTask) -> list[Statement]:
        strategy = task.parameters.get("strategy") or {}
        kind, amount = strategy.get("type"), strategy.get("amount")
        if kind == "one_by_one":
            return [Concurrency(1)]
        if kind != "parallel" or amount is None:
            return []
        if isinstance(amount, int):
            return [Concurrency(amount)] if amount > 0 else []
        expression = str(amount.get("yaql_exp", amount) if isinstance(amount, dict) else amount).strip()
        first_deploy = _SWITCH_DEFAULT.match(expression)
        if first_deploy and "deployed_before" in expression:
            self._note(
                "approximated",
                task.source,
                f"strategy amount of '{task.id}' is yaql",
                f"took {first_deploy.group(1)}, its value on a first deployment ({' '.join(expression.split())})",
            )
            return [Concurrency(int(first_deploy.group(1)))]
        self._note(
            "unsupported",
            task.source,
            f"strategy amount of '{task.id}' is yaql",
            f"no limit kept ({' '.join(expression.split())})",
        )
        return []

    def _roles_text(self, placeholders: set[str]) -> str:
        lines = Lines(f"{ROLES_FILE}.orch")
        lines.comment(f"Roles of the Fuel {self.graph} graph: one per tag group of inventory.yml.")
        items: list[ast.Item] = []
        for name in sorted(placeholders):
            lines.blank()
            items.append(build.var(lines, name.lower(), "str", build.string(PLACEHOLDER_DEFAULTS[name])))
            self._note(
                "assumption",
                f"{self.graph}/roles.orch",
                f"Nailgun placeholder {{{name}}} is the variable `{name.lower()}`",
                f"default {PLACEHOLDER_DEFAULTS[name]!r}; set it with -e {name.lower()}=VALUE",
            )
        services: dict[str, list[str]] = defaultdict(list)
        for node in self.nodes.values():
            for group in node.groups:
                services[group].append(node.name)
        for group in sorted(services):
            tolerance = self._tolerance(group)
            lines.blank()
            if group == ALL_NODES:
                lines.comment(
                    "Every node (Fuel's '*' and '/.*/'). Its budget never limits: each node's own Fuel group does."
                )
            items.append(build.role(lines, group, services[group], tolerance if tolerance != 0 else None))
        return lines.text(items)


_EXTRA_REASONS = {
    "test_pre": "orchc has no pre-check hook; add the command as a `run` before the task's action if needed",
    "test_post": "orchc has no post-check hook; add the command as a `run` after the task's action if needed",
    "refresh_on": "orchc re-runs a task when its fingerprint changes, not on Puppet refresh events",
    "reexecute_on": "orchc re-runs a task when its fingerprint changes, not on LCM events",
    "fail_on_error": "orchc stops a host's remaining tasks when one fails",
}


def _file_names(sources: list[str]) -> dict[str, str]:
    """A short, unique .orch file name per source tasks.yaml (its folder's name)."""
    names: dict[str, str] = {}
    for source in sorted(sources):
        parts = Path(source).parts
        name = ident(parts[-2]) if len(parts) >= 2 else "tasks"
        if name in names.values() or name == ROLES_FILE:
            name = ident("_".join(parts[-3:-1]))
        names[source] = name
    return names
