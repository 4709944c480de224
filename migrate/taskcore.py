"""`orchc migrate taskcore`: Task-Core services + roles.yaml + inventory.yaml -> `.orch` + `inventory.yml`.

The mapping (notes/taskcore-and-directord.md):

- A Task-Core service placed on some role becomes an orchc service placed on
  the same roles (inventory groups of the written `inventory.yml`). Services no
  role lists are left out, as Task-Core skipped them.
- `provides`/`requires` become untyped capabilities 1:1; `needed-by: [X]` is
  the reverse edge: whoever provides X requires this task's capabilities.
- Drivers: `directord` jobs become actions (`taskcore_directord`), a task with
  `--run-once` jobs is split into per-host and `once` tasks chained by
  `after`; `ansible_runner` becomes `playbook`; `print`, `noop` and `service`
  (which only log) become tasks with no action.
- `local` commands run on the controller: Task-Core ran them once, on the
  machine running it, so each becomes a task of a `<service>_local` service
  placed on the role `taskcore_controller`, whose one host is `localhost` with
  a local connection.
"""

from __future__ import annotations

import math
import re
import shlex
from collections import defaultdict
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import yaml

from orchc.dsl import ast, build
from orchc.dsl.build import After, Lines, Note, Statement, Timeout
from orchc.migrate.emit import ident
from orchc.migrate.report import Migration, Report
from orchc.migrate.taskcore_args import Args
from orchc.migrate.taskcore_directord import Job, JobTranslator, parse_job
from orchc.migrate.taskcore_input import TcProject, TcService, TcTask, load_project
from orchc.migrate.yaml_source import input_error, leaves, load_yaml

CONTROLLER_ROLE = "taskcore_controller"
CONTROLLER_HOST = "localhost"
_VAR_TYPES = ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "map"))


@dataclass
class OrchTask:
    """One orchc task written for (part of) a Task-Core task."""

    name: str
    once: bool = False
    after: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    lines: list[ast.Action | Note] = field(default_factory=list)
    timeout: int | None = None
    header: list[str] = field(default_factory=list)  # comments above the task

    def build(self, lines: Lines) -> ast.TaskDecl:
        body: list[Statement] = [After(self.after)] if self.after else []
        body += [build.requires(r) for r in self.requires] + [build.provides(p) for p in self.provides]
        body += [Timeout(self.timeout)] if self.timeout else []
        for line in self.header:
            lines.comment(line)
        return build.task(lines, self.name, [*body, *self.lines], self.once)


def convert_taskcore(services: Path, roles: Path, inventory: Path) -> Migration:
    project = load_project(services, roles, inventory)
    report = Report("taskcore", [str(services), str(roles), str(inventory)])
    return _Converter(project, report).migration()


class _Converter:
    def __init__(self, project: TcProject, report: Report) -> None:
        self.project, self.report = project, report
        self.placed = sorted((s for s in project.services.values() if s.hosts), key=lambda s: s.id)
        for service in sorted(project.services.values(), key=lambda s: s.id):
            if not service.hosts:
                report.add(
                    "assumption",
                    service.path.name,
                    f"service '{service.id}' left out",
                    "no role of the inventory lists it (Task-Core skipped it too)",
                )
        self.capabilities = _capability_names([t for s in self.placed for t in s.tasks])
        self.providers = self._providers()
        self.extra_requires = self._needed_by()
        self.args = self._collect_args()
        self.translator = JobTranslator(self.args, project.services_dir)
        self.local_services: list[str] = []

    # --- graph ------------------------------------------------------------------------------

    def _providers(self) -> dict[str, tuple[TcService, TcTask]]:
        providers: dict[str, tuple[TcService, TcTask]] = {}
        for service in self.placed:
            for task in service.tasks:
                for capability in task.provides:
                    if capability in providers:
                        other = providers[capability]
                        raise self._error(
                            service,
                            task,
                            f"'{capability}' is provided twice: by "
                            f"{other[0].id}.{other[1].id} and {service.id}.{task.id}",
                            "each capability has one producer in Task-Core (taskflow refuses two)",
                        )
                    providers[capability] = (service, task)
        return providers

    def _needed_by(self) -> dict[int, list[str]]:
        """id(task) -> capabilities it must also require, from other tasks' `needed-by`."""
        extra: dict[int, list[str]] = defaultdict(list)
        for service in self.placed:
            for task in service.tasks:
                for needed in task.needed_by:
                    if not task.provides:
                        self.report.add(
                            "unsupported",
                            task.source,
                            f"needed-by {needed} of '{task.id}' ignored",
                            "the task provides nothing to require (Task-Core ignored it too)",
                        )
                    elif needed in self.providers:
                        extra[id(self.providers[needed][1])] += task.provides
        return extra

    def _requires(self, service: TcService, task: TcTask) -> list[str]:
        names = list(dict.fromkeys(task.requires + self.extra_requires.get(id(task), [])))
        for name in names:
            if name not in self.providers:
                raise self._error(
                    service,
                    task,
                    f"task '{task.id}' requires '{name}', which no placed service provides",
                    "place the service that provides it on a role, or remove the requirement "
                    "(Task-Core stops with MissingDependencies)",
                )
        return [self.capabilities[n] for n in names]

    def _error(self, service: TcService, task: TcTask, message: str, hint: str) -> Exception:
        return input_error(message, service.path, int(task.source.rpartition(":")[2]), hint=hint)

    # --- args ---------------------------------------------------------------------------------

    def _collect_args(self) -> Args:
        """Every Directord arg of the placed services, before translating any job."""
        args = Args()
        added: dict[str, Path] = {}  # destination of an ADD -> the local file
        for service, task in self._run_order():
            if task.driver == "directord":
                for job in task.data.get("jobs") or []:
                    self._collect(parse_job(job), service, task, args, added)
        return args

    def _run_order(self) -> list[tuple[TcService, TcTask]]:
        """Tasks in an order Task-Core could run them, so that args are set before they are read."""
        by_id = {id(t): (s, t) for s in self.placed for t in s.tasks}
        order = TopologicalSorter(
            {
                key: [
                    id(self.providers[r][1])
                    for r in task.requires + self.extra_requires.get(key, [])
                    if r in self.providers
                ]
                for key, (_, task) in by_id.items()
            }
        )
        try:
            return [by_id[key] for key in order.static_order()]
        except CycleError:
            return list(by_id.values())  # the compiler reports the cycle on the converted files

    def _collect(self, step: Any, service: TcService, task: TcTask, args: Args, added: dict[str, Path]) -> None:
        words = step.rest.split()
        if step.verb in ("ADD", "COPY") and len(words) >= 2 and not step.flags.get("--blueprint"):
            added[words[-1]] = (self.project.services_dir / words[0]).resolve()
        elif step.verb == "CACHEFILE" and step.rest in added:
            data = load_yaml(added[step.rest])
            if isinstance(data, dict):
                args.options.update(data)
        elif step.verb == "CACHEFILE":
            self.report.add(
                "unsupported",
                task.source,
                f"CACHEFILE {step.rest}",
                "no ADD of this service copies a local file there, so its values are unknown",
            )
        elif step.verb == "ARG" and words:
            name, _, raw = step.rest.partition(" ")
            error = args.set_arg(name, " ".join(shlex.split(raw)), service.hosts)
            if error:
                self.report.add("unsupported", task.source, f"ARG {name}", error)
        elif step.verb == "RUN":
            args.runtime.update(str(step.flags[f]) for f in ("--stdout-arg", "--stderr-arg") if f in step.flags)
        elif step.verb == "QUERY" and words:
            args.queried.add(words[0])

    # --- tasks ----------------------------------------------------------------------------------

    def _tasks(self, service: TcService, task: TcTask) -> list[OrchTask]:
        """The orchc task(s) of one Task-Core task; requires go on the first, provides on the last."""
        name = ident(task.id)
        header = [f"task-core task '{task.id}' (driver {task.driver}) from {task.source}"]
        if task.driver == "directord":
            parts = self._directord(task, name, service.hosts)
        elif task.driver == "ansible_runner":
            parts = [OrchTask(name, lines=self._playbook(task))]
        else:
            parts = [OrchTask(name, header=self._log_only(task))]
        parts[0].header = header + parts[0].header
        parts[0].requires = self._requires(service, task)
        parts[-1].provides = [self.capabilities[p] for p in task.provides]
        return parts

    def _log_only(self, task: TcTask) -> list[str]:
        """`print`, `noop`, `service`: Task-Core only logged; the task is a synchronisation point."""
        messages = (
            [str(task.data.get("message"))]
            if task.driver == "print"
            else [str(j.get("echo")) for j in task.data.get("jobs") or [] if isinstance(j, dict) and "echo" in j]
        )
        self.report.add("native", task.source, f"{task.driver} task '{task.id}'", "a task with no action")
        return [f"logs: {m}" for m in messages]

    def _directord(self, task: TcTask, name: str, hosts: list[str]) -> list[OrchTask]:
        env: dict[str, str] = {}
        jobs = [self.translator.translate(job, hosts, env) for job in task.data.get("jobs") or []]
        for job in jobs:
            for category, what, why in job.notes:
                self.report.add(category, task.source, what, why)
        segments: list[tuple[bool, list[Job]]] = []  # (once, jobs): consecutive jobs of one kind
        for job in jobs:
            mode = segments[-1][0] if segments else job.once
            has_lines = bool(segments) and any(j.lines for j in segments[-1][1])
            if segments and (mode == job.once or not job.lines or not has_lines):
                segments[-1] = (job.once if job.lines and not has_lines else mode, segments[-1][1] + [job])
            else:
                segments.append((job.once, [job]))
        parts: list[OrchTask] = []
        for index, (once, segment) in enumerate(segments or [(False, [])]):
            timeouts = [j.timeout for j in segment if j.timeout]
            part = OrchTask(
                name if index == 0 else f"{name}_{index + 1}",
                once=once,
                lines=[line for j in segment for line in j.lines],
                timeout=max(timeouts) if timeouts else None,
            )
            if parts:
                part.after = [parts[-1].name]
            parts.append(part)
        if any(p.once for p in parts):
            self.report.add(
                "native", task.source, f"--run-once jobs of '{task.id}'", "split into `once` tasks chained by `after`"
            )
        return parts

    def _playbook(self, task: TcTask) -> list[ast.Action | Note]:
        playbook = str(task.data.get("playbook", ""))
        base = Path(task.data.get("working_dir") or self.project.services_dir)
        local = (base / playbook) if not Path(playbook).is_absolute() else Path(playbook)
        if not local.is_file():
            self.report.add(
                "unsupported",
                task.source,
                f"playbook '{playbook}' of '{task.id}' not found",
                "copy it beside the converted services and add a `playbook` action",
            )
            return [Note(f"not converted: playbook {playbook}")]
        target = f"files/playbooks/{local.name}"
        self.translator.copies[target] = local.resolve()
        for key in ("inventory", "runner_options", "task_options", "global_fact_cache"):
            if key in task.data:
                self.report.add(
                    "approximated",
                    task.source,
                    f"ansible_runner `{key}` of '{task.id}' not kept",
                    "orchc runs the playbook against its own inventory, limited to the task's hosts",
                )
        self.report.add("wrapped", task.source, f"ansible_runner task '{task.id}'", f"playbook {target}")
        return [build.playbook(target)]

    def _local_task(self, service: TcService, task: TcTask) -> OrchTask:
        codes = [int(c) for c in task.data.get("returncodes") or [0]]
        command = str(task.data.get("command", "")).strip()
        if codes != [0]:
            accepted = "|".join(str(c) for c in codes)
            command = f"{command}\nrc=$?; case $rc in {accepted}) exit 0;; *) exit $rc;; esac"
        self.report.add(
            "native",
            task.source,
            f"local task '{task.id}'",
            f"runs on the controller: service {ident(service.id)}_local on role {CONTROLLER_ROLE}",
        )
        if "{{" in command or "{%" in command or "{#" in command:
            command = "{% raw %}" + command + "{% endraw %}"  # Task-Core ran it as written, with no templating
        part = OrchTask(
            ident(task.id),
            lines=[build.run(command)],
            header=[f"task-core task '{task.id}' (driver local) from {task.source}"],
        )
        part.requires = self._requires(service, task)
        part.provides = [self.capabilities[p] for p in task.provides]
        return part

    # --- output -----------------------------------------------------------------------------------

    def migration(self) -> Migration:
        files: dict[str, str] = {}
        for service in self.placed:
            files[f"{ident(service.id)}.orch"] = self._service_text(service)
        files["roles.orch"] = self._roles_text()
        files["inventory.yml"] = _inventory_text(self._inventory())
        files.update(self.translator.files)
        self.report.figures.update(
            {"services": len(self.placed), "hosts": len(self.project.hosts), "capabilities": len(self.capabilities)}
        )
        return Migration(files, self.report, copies=dict(self.translator.copies))

    def _service_text(self, service: TcService) -> str:
        remote = [p for t in service.tasks if t.driver != "local" for p in self._tasks(service, t)]
        local = [self._local_task(service, t) for t in service.tasks if t.driver == "local"]
        lines = Lines(f"{ident(service.id)}.orch")
        lines.comment(
            f"Task-Core service '{service.id}' from {service.path.name}, on roles "
            f"{', '.join(service.roles)}. Converted by `orchc migrate taskcore`."
        )
        items: list[ast.Item] = []
        for name, parts, blank in ((ident(service.id), remote, False), (f"{ident(service.id)}_local", local, True)):
            if parts:
                if blank:  # the remote service follows the comment directly
                    lines.blank()
                start = lines.next()
                tasks: list[ast.TaskDecl] = []
                for part in parts:
                    if tasks:  # a blank line between tasks
                        lines.blank()
                    tasks.append(part.build(lines))
                items.append(build.service(lines, start, name, tasks))
        if local:
            self.local_services.append(f"{ident(service.id)}_local")
        return lines.text(items)

    def _roles_text(self) -> str:
        lines = Lines("roles.orch")
        lines.comment("Roles and variables of the converted Task-Core deployment.")
        items: list[ast.Item] = []
        for name, data in sorted(self.args.global_vars().items()):
            if ident(name) != name:
                self.report.add("unsupported", "roles.orch", f"arg '{name}' is not a valid variable name", "")
                continue
            if any(isinstance(leaf, float) and not math.isfinite(leaf) for leaf in leaves(data)):
                self.report.add(
                    "unsupported",
                    "roles.orch",
                    f"arg '{name}' holds {data!r}",
                    ".orch numbers are finite (no nan or infinity)",
                )
                continue
            kind = next(k for t, k in _VAR_TYPES if isinstance(data, t)) if data is not None else "str"
            lines.blank()
            items.append(build.var(lines, name, kind, build.value(data if data is not None else "")))
        if any("password" in n or n.endswith("_pass") for n in self.args.global_vars()):
            self.report.add(
                "assumption",
                "roles.orch",
                "passwords are plain variables with their Task-Core values",
                "declare them `secret` and pass them with --secrets to keep them out of the Plan",
            )
        for role, services in self.project.roles.items():
            placed = [
                ident(s)
                for s in services
                if self.project.services[s].hosts and any(t.driver != "local" for t in self.project.services[s].tasks)
            ]
            if placed and any(r == role for r in self.project.hosts.values()):
                lines.blank()
                items.append(build.role(lines, ident(role), placed, optional=False))
        if self.local_services:
            lines.blank()
            items.append(build.role(lines, CONTROLLER_ROLE, self.local_services, optional=False))
        return lines.text(items)

    def _inventory(self) -> dict[str, Any]:
        host_vars = self.args.host_vars()
        children: dict[str, Any] = {}
        for host, role in self.project.hosts.items():
            group = children.setdefault(ident(role), {"hosts": {}})
            group["hosts"][host] = host_vars.get(host, {})
        if self.local_services:
            children[CONTROLLER_ROLE] = {"hosts": {CONTROLLER_HOST: {"ansible_connection": "local"}}}
        return {"all": {"children": children}}


def _inventory_text(data: dict[str, Any]) -> str:
    """`yaml.safe_dump(data, sort_keys=False)`; written here when every key and value is a plain word or an
    empty map (Task-Core's hosts, usually): 0.02 s less than PyYAML's emitter for 1000 hosts."""
    lines: list[str] = []
    return "".join(lines) if _plain_yaml(data, "", lines) else yaml.safe_dump(data, sort_keys=False)


def _plain_yaml(data: dict[str, Any], indent: str, lines: list[str]) -> bool:
    """Append the YAML lines of `data` as PyYAML writes them; False if it holds anything but plain words."""
    for key, value in data.items():
        if not _plain_word(key):
            return False
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{key}:\n")
            if not _plain_yaml(value, indent + "  ", lines):
                return False
        elif isinstance(value, dict):
            lines.append(f"{indent}{key}: {{}}\n")
        elif _plain_word(value):
            lines.append(f"{indent}{key}: {value}\n")
        else:
            return False
    return True


_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}")  # no character YAML would quote; short: a simple key
_RESOLVER = yaml.resolver.Resolver()


def _plain_word(text: Any) -> bool:
    """A string PyYAML writes unquoted: word characters, and YAML reads it back as a string (not `1.5`, `yes`)."""
    return (
        isinstance(text, str)
        and _WORD.fullmatch(text) is not None
        and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"
    )


def _capability_names(tasks: list[TcTask]) -> dict[str, str]:
    """Task-Core names (`openstack-keystone.init`) -> unique orchc identifiers (`openstack_keystone_init`)."""
    names: dict[str, str] = {}
    taken: set[str] = set()  # names.values(), looked up in constant time
    for task in tasks:
        for name in task.provides + task.requires + task.needed_by:
            if name in names:
                continue
            candidate, n = ident(name), 2
            while candidate in taken:
                candidate, n = f"{ident(name)}_{n}", n + 1
            names[name] = candidate
            taken.add(candidate)
    return names
