"""`when ansible "EXPR"`: an Ansible condition, decided when compiling where Ansible would decide the same.

EXPR is evaluated for each host by ansible-core's own templar (its filters, tests and lookups) with the
variables Ansible gives the task's playbook when orchc runs it:
- the host's inventory variables and the inventory's groups, as the Plan hands them to Ansible
  (with `inventory_hostname`, `group_names`, `groups` and `hostvars`);
- `group_vars/` and `host_vars/` beside the playbook of the task's first `playbook` action (a task
  with `role` or `ansible` actions runs a playbook orchc writes, with none beside it);
- the project's variables, which orchc hands to Ansible as extra vars, and the `vars { ... }` of that
  action (or of a `role` action); a task whose action vars are templates (rendered per host by orchc)
  is left to the run.

A secret's value never takes part: where a condition, the host's variables or the vars files beside the
playbook name a `secret` variable of the project, the condition is left to the run.

False skips the instance when compiling. True runs it. Where the condition reads what is only known
when the task runs (a fact, a registered result, a variable nobody gave) or Ansible cannot evaluate
it, the instance runs too, and what decides is the task's own run-time condition: a migrated task
keeps its Ansible `when`. Each decision is kept (`ConditionOutcome`) for `orchc check` to show.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchc.compiler.inventory import IMPLICIT_GROUPS, Inventory
from orchc.compiler.render import needs_rendering
from orchc.compiler.units import ReportOnce
from orchc.compiler.values import literal
from orchc.compiler.variables import Variables
from orchc.dsl.ast import AnsibleRole, Playbook, Str, TaskDecl

_UNDEFINED = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


@dataclass
class ConditionOutcome:
    """What compiling decided for one `when ansible` condition, over the tasks that give it: the hosts
    where it is false, true, or left to the run (with why: the variable it lacked, or Ansible's error)."""

    condition: Str  # where it is first written
    tasks: set[str] = field(default_factory=set)
    instances: int = 0  # of those tasks, evaluated
    false: set[str] = field(default_factory=set)
    true: set[str] = field(default_factory=set)
    run_time: dict[str, str] = field(default_factory=dict)  # host -> why it is not decided when compiling

    def summary(self) -> str:
        """One line: where, what it decided on how many hosts, and the condition."""
        tasks = f"{len(self.tasks)} task{'s' if len(self.tasks) != 1 else ''}"
        decided = f"false on {_hosts(self.false)}, true on {_hosts(self.true)}"
        if self.run_time:
            why = "; ".join(dict.fromkeys(self.run_time.values()))
            decided = f"at run time on {_hosts(self.run_time)} ({why}); {decided}"
        return f"{self.condition.span}: {decided} ({tasks}): {self.condition.value}"


def _hosts(hosts: Collection[str]) -> str:
    return f"{len(hosts)} host{'s' if len(hosts) != 1 else ''}"


class AnsibleConditions:
    """Evaluates `when ansible` conditions per host; ansible-core is loaded on first use."""

    def __init__(self, inventory: Inventory, variables: Variables, report: ReportOnce) -> None:
        self.inventory = inventory
        self.extra_vars = dict(variables.values)
        self.report = report
        names = "|".join(map(re.escape, variables.secrets))
        self._secrets = re.compile(rf"\b({names})\b") if names else None  # the project's secret variables
        self._secret_in: dict[Path | str, str | None] = {}  # a vars folder or a host -> a secret it names
        self.outcomes: dict[str, ConditionOutcome] = {}  # by the condition's text, in the order first met
        self._managers: dict[Path | None, Any] = {}  # playbook folder -> its VariableManager
        self._ansible_inventory: Any = None
        self._templars: dict[tuple[_AnsibleRun, str], Any] = {}  # (run, host) -> its Templar
        self._runs: dict[str, _AnsibleRun] = {}  # task id -> how its Ansible runs
        self._decided: dict[tuple[_AnsibleRun, str, str], bool | str] = {}

    def skip(self, task_id: str, decl: TaskDecl, host: str) -> str | None:
        """The reason to skip the instance on `host` when compiling, or None (it runs)."""
        assert decl.when is not None and decl.when.ansible is not None
        condition = decl.when.ansible
        outcome = self.outcomes.setdefault(condition.value, ConditionOutcome(condition))
        outcome.tasks.add(task_id)
        outcome.instances += 1
        run = self._runs.get(task_id)
        if run is None:
            run = self._runs[task_id] = _AnsibleRun.of(decl)
        key = (run, host, condition.value)
        if key not in self._decided:
            self._decided[key] = self._evaluate(condition, run, host)
        decided = self._decided[key]
        if decided is True:
            outcome.true.add(host)
        elif decided is False:
            outcome.false.add(host)
            return f'when ansible "{condition.value}" is false on {host}'
        else:
            outcome.run_time[host] = decided
        return None

    def _evaluate(self, condition: Str, run: _AnsibleRun, host: str) -> bool | str:
        """True or False as Ansible would decide on `host`; else why it cannot be decided when compiling
        (a condition that is no Jinja expression is an error)."""
        from ansible.errors import AnsibleError, AnsibleUndefinedVariable
        from ansible.template import Templar

        if not hasattr(Templar, "evaluate_conditional"):
            return "deciding it when compiling needs ansible-core 2.19 or later"
        from ansible.errors import AnsibleTemplateSyntaxError
        from ansible.template import trust_as_template

        if run.templated:
            return f"its action's vars {', '.join(run.templated)} are rendered per host by orchc"
        secret = self._secret_named(condition.value, run, host)
        if secret is not None:
            return f"it may read the secret '{secret}', whose value compiling does not use"
        manager = self._manager(run.folder)
        with contextlib.redirect_stderr(io.StringIO()):
            try:
                templar = self._templars.get((run, host))
                if templar is None:
                    variables = manager.get_vars(host=self._ansible_inventory.get_host(host))
                    variables.update(_trusted(run.extra_vars))  # the action's vars: extra vars, after the project's
                    templar = self._templars[(run, host)] = Templar(loader=manager._loader, variables=variables)
                return bool(templar.evaluate_conditional(trust_as_template(condition.value)))
            except AnsibleTemplateSyntaxError as exc:
                self.report.error(
                    f"in `when ansible`: not a Jinja expression Ansible can read: {_first_line(exc)}",
                    condition.span,
                    hint="write an Ansible condition, as in a playbook's `when:` (`enable_x | bool`)",
                )
                return "it is not an expression"
            except AnsibleUndefinedVariable as exc:
                found = _UNDEFINED.search(str(exc))
                if found is None:
                    return f"Ansible cannot evaluate it when compiling: {_first_line(exc)}"
                name, attribute = found.groups()
                # an attribute: of a value known only when the play runs (`ansible_facts`, empty until gathered)
                return (
                    f"'{name}' is not known when compiling" if name else f"'.{attribute}' is not known when compiling"
                )
            except AnsibleError as exc:
                return f"Ansible cannot evaluate it when compiling: {_first_line(exc)}"

    def _secret_named(self, condition: str, run: _AnsibleRun, host: str) -> str | None:
        """A secret variable the condition may read: named by it, the action's vars, the host's variables or
        the vars files beside the playbook."""
        if self._secrets is None:
            return None
        found = self._search(condition + " " + " ".join(value for _, value in run.extra))
        if found is not None:
            return found
        if host not in self._secret_in:
            values = next(h.vars for h in self.inventory.hosts if h.name == host)
            self._secret_in[host] = self._search(json.dumps(values))
        if run.folder is not None and run.folder not in self._secret_in:
            files = [f for sub in ("group_vars", "host_vars") for f in sorted((run.folder / sub).rglob("*"))]
            texts = [f.read_text(encoding="utf-8", errors="replace") for f in files if f.is_file()]
            self._secret_in[run.folder] = self._search("\n".join(texts))
        return self._secret_in[host] or (self._secret_in[run.folder] if run.folder is not None else None)

    def _search(self, text: str) -> str | None:
        found = self._secrets.search(text) if self._secrets is not None else None
        return found.group(1) if found else None

    def _manager(self, folder: Path | None) -> Any:
        """Ansible's variables as a run of a playbook in `folder` sees them (None: no playbook beside them)."""
        manager = self._managers.get(folder)
        if manager is not None:
            return manager
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager

        loader = DataLoader()
        if folder is not None:
            loader.set_basedir(str(folder))
        with contextlib.redirect_stderr(io.StringIO()):
            if self._ansible_inventory is None:
                self._ansible_inventory = self._inventory(InventoryManager(loader=loader, sources=[]))
            manager = VariableManager(loader=loader, inventory=self._ansible_inventory)
        manager.safe_basedir = folder is not None  # without a playbook, not the current folder's group_vars
        manager._extra_vars = _trusted(self.extra_vars)  # the project's variables: orchc's extra vars for Ansible
        self._managers[folder] = manager
        return manager

    def _inventory(self, manager: Any) -> Any:
        """The inventory orchc writes for Ansible: every host with its merged variables, every group."""
        for host in self.inventory.hosts:
            manager.add_host(host.name, group="all")
            for name, value in _trusted(host.vars).items():
                manager.get_host(host.name).set_variable(name, value)
        for group, members in self.inventory.groups.items():
            if group not in IMPLICIT_GROUPS:
                manager.add_group(group)
                for member in members:
                    manager.add_host(member, group=group)
        return manager


@dataclass(frozen=True)
class _AnsibleRun:
    """How orchc runs a task's Ansible: the folder of its playbook (None: one orchc writes, with nothing
    beside it) and the action's vars, literal or (by name) templated."""

    folder: Path | None
    extra: tuple[tuple[str, str], ...]  # name -> the value as JSON (hashable)
    templated: tuple[str, ...]

    @property
    def extra_vars(self) -> dict[str, Any]:
        return {name: json.loads(value) for name, value in self.extra}

    @classmethod
    def of(cls, decl: TaskDecl) -> _AnsibleRun:
        action = next((a for a in decl.actions if isinstance(a, (Playbook, AnsibleRole))), None)
        given = literal(action.vars) if action is not None and action.vars is not None else {}
        templated = tuple(sorted(name for name, value in given.items() if _has_template(value)))
        folder = None
        if isinstance(action, Playbook):
            folder = (Path(action.span.file).parent / action.path.value).resolve().parent
        extra = tuple(sorted((name, json.dumps(value)) for name, value in given.items() if name not in templated))
        return cls(folder, extra, templated)


def _trusted(value: Any) -> Any:
    """`value` as Ansible reads it from the files orchc writes for the run (an inventory, an extra vars file):
    every string may be a template."""
    from ansible.template import trust_as_template

    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    return value


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return needs_rendering(value)
    if isinstance(value, list):
        return any(_has_template(item) for item in value)
    return isinstance(value, dict) and any(_has_template(item) for item in value.values())


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
