"""Generated playbooks: Ansible tasks kept as Ansible, run by one orchc `playbook` action.

A wrapped task runs as it did in its play: the generated play has the
original play's keywords (become, vars, environment, ...), gathers facts only
when the tasks read them, and a task of a role runs inside that role
(`import_role` with `tasks_from` a generated file in the role's copy), so role
defaults, variables, files and templates resolve as before.

Handlers: each handler is an orchc task placed where Ansible flushes
handlers, gated by `when notified(NOTIFIER "TOPIC")`: it runs if an orchc
task that notifies it reported its topic. A generated playbook keeps the
`notify` of its tasks as written (in blocks and in the files an include kept
whole may pick too) and has a stand-in handler per topic (`meta: noop`,
named by the topic, listening to every name that notifies the handler):
Ansible notifies it exactly when it would notify the handler, and the
`ansible` transport reports the topics it notified. The roles' own handlers
stay out of the generated plays (`handlers_from` an empty file).

Hand-over: a variable set at run time (`register`, `set_fact`) and read by a
task in another orchc task is saved as JSON on the host after its producer and
set again before its consumer. Both live in `orchc_state_dir` (default
`~/.orchc/state`), per inventory host and project, written as the connecting user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchc.migrate.ansible_dump import dump_yaml
from orchc.migrate.ansible_groups import rejoin_tasks
from orchc.migrate.ansible_load import INCLUDE_TASKS, Play, Task, short_module
from orchc.migrate.ansible_vars import needs_facts
from orchc.migrate.yaml_source import LocatedDict

# Play keywords that change how each task runs: the generated play keeps them.
_PLAY_KEYWORDS = (
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "environment",
    "vars",
    "vars_files",
    "module_defaults",
    "collections",
    "remote_user",
    "connection",
    "port",
    "ignore_errors",
    "ignore_unreachable",
    "no_log",
    "check_mode",
    "diff",
    "timeout",
    "gather_subset",
    "gather_timeout",
    "fact_path",
    "force_handlers",
)
STATE_DIR = "{{ orchc_state_dir | default('~/.orchc/state') }}/{{ inventory_hostname }}"


@dataclass(eq=False)  # a handler is itself: two of equal text are still two handlers
class Handler:
    task: Task
    topic: str  # what its notifiers report when they notify it; unique in its play


@dataclass
class GeneratedFiles:
    """Text files the wrapped tasks need, by path in the output folder."""

    files: dict[str, str] = field(default_factory=dict)


def state_path(project: str, name: str) -> str:
    """A file on the host, per host and project: a variable handed over."""
    return f"{STATE_DIR}/{project}.{name}"


@dataclass
class HandOver:
    """Variables set at run time that cross orchc tasks, through a JSON file on the host."""

    saves: list[str] = field(default_factory=list)
    restores: list[str] = field(default_factory=list)

    def restore_tasks(self, project: str) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        for name in self.restores:
            register = f"orchc_handover_{name}"
            tasks += [
                {
                    "name": f"orchc: take over {name}",
                    "become": False,
                    "register": register,
                    "ansible.builtin.slurp": {"src": state_path(project, f"var.{name}.json")},
                    "failed_when": False,
                },
                {
                    "name": f"orchc: set {name}",
                    "when": f"{register}.content is defined",
                    "ansible.builtin.set_fact": {name: f"{{{{ {register}.content | b64decode | from_json }}}}"},
                },
            ]
        return tasks

    def save_tasks(self, project: str) -> list[dict[str, Any]]:
        if not self.saves:
            return []
        steps: list[dict[str, Any]] = [
            {
                "name": "orchc: state folder",
                "ansible.builtin.file": {"path": STATE_DIR, "state": "directory", "mode": "0700"},
            }
        ]
        for name in self.saves:
            path = state_path(project, f"var.{name}.json")
            steps += [
                {
                    "name": f"orchc: hand over {name}",
                    "when": f"{name} is defined",
                    "ansible.builtin.copy": {"content": f"{{{{ {name} | to_json }}}}", "dest": path, "mode": "0600"},
                },
                {
                    "name": f"orchc: {name} is not set",
                    "when": f"{name} is not defined",
                    "ansible.builtin.file": {"path": path, "state": "absent"},
                },
            ]
        for step in steps:  # bookkeeping: it must not make the orchc task look changed
            step["changed_when"] = False
        return [{"name": "orchc: hand over variables", "become": False, "block": steps}]


NO_HANDLERS = "orchc_none"  # the empty handlers file a generated play imports a role with


class PlaybookWriter:
    """Writes the generated playbooks and role task files into the output's `ansible/` and `roles/` folders."""

    def __init__(self, out: GeneratedFiles, handlers: dict[str, list[Handler]], project: str):
        self.out = out
        self.project = project
        self.handlers = handlers

    def write(
        self, play: Play, tasks: list[Task], file_id: str, title: str, handler: Handler | None, handover: HandOver
    ) -> str:
        """Write the playbook for one orchc task; returns its path relative to the output folder."""
        body: list[dict[str, Any]] = []
        for run in _runs_by_role(tasks):
            body += self._run(run, f"{file_id}.{len(body)}" if len(tasks) > 1 else file_id)
        body = (
            handover.restore_tasks(self.project) + rejoin_tasks(play.rejoins) + body + handover.save_tasks(self.project)
        )
        header: dict[str, Any] = {"name": title, "hosts": "all", "gather_facts": _gather_facts(play, tasks)}
        for key in _PLAY_KEYWORDS:
            if key in play.data:
                header[key] = play.data[key]
        header["tasks"] = body
        if self.handlers:  # stand-ins: Ansible notifies them as it would the handlers, the transport reports it
            header["handlers"] = _stand_ins(self.handlers)
        path = f"ansible/{file_id}.yml"
        self.out.files[path] = f"# Generated by `orchc migrate playbook`: {title}\n" + dump_yaml([header])
        return path

    def _run(self, tasks: list[Task], file_id: str) -> list[dict[str, Any]]:
        written = [_as_task(_pinned_include(task)) for task in tasks]
        role = tasks[0].role
        if role is None:
            return written
        tasks_dir = role.path / "tasks"
        folder = tasks[0].task_file.parent
        sub = folder.relative_to(tasks_dir) if folder.is_relative_to(tasks_dir) else Path()
        name = (sub / f"orchc_{file_id}.yml").as_posix()
        self.out.files[f"roles/{role.label}/tasks/{name}"] = dump_yaml(written)
        self.out.files[f"roles/{role.label}/handlers/{NO_HANDLERS}.yml"] = "[]\n"
        include: dict[str, Any] = {
            "name": f"orchc: {role.label} ({tasks[0].source})",
            "ansible.builtin.import_role": {"name": role.label, "tasks_from": name, "handlers_from": NO_HANDLERS},
        }
        if tasks[0].role_params:
            include["vars"] = tasks[0].role_params
        return [include]


def _stand_ins(handlers: dict[str, list[Handler]]) -> list[dict[str, Any]]:
    """A handler per topic that does nothing, named by it and listening to every name that notifies it."""
    names: dict[str, list[str]] = {}
    for name, found in handlers.items():
        for handler in found:
            names.setdefault(handler.topic, []).append(name)
    return [{"name": topic, "listen": sorted(heard), "ansible.builtin.meta": "noop"} for topic, heard in names.items()]


def _as_task(data: LocatedDict | dict[str, Any]) -> dict[str, Any]:
    """A task of the play as a task of a generated play: a handler's `listen` has no meaning there."""
    return {key: value for key, value in data.items() if key != "listen"}


def _pinned_include(task: Task) -> LocatedDict | dict[str, Any]:
    """The task as written; a handler's include of a file of its role named from the role's folder, as the
    generated file that runs it lives in the role's tasks/, not where the include was written (handlers/)."""
    files = list(task.candidates)
    if (
        task.dynamic
        or task.role is None
        or task.module not in INCLUDE_TASKS
        or len(files) != 1
        or not files[0].is_relative_to(task.role.path)
    ):
        return task.data
    pinned = "{{ role_path }}/" + files[0].relative_to(task.role.path).as_posix()
    key = next(k for k in task.data if short_module(str(k)) == task.module)
    value = task.data[key]
    return {**task.data, key: {**value, "file": pinned} if isinstance(value, dict) else pinned}


def _runs_by_role(tasks: list[Task]) -> list[list[Task]]:
    runs: list[list[Task]] = []
    for task in tasks:
        if runs and runs[-1][0].role == task.role and runs[-1][0].role_params == task.role_params:
            runs[-1].append(task)
        else:
            runs.append([task])
    return runs


def _gather_facts(play: Play, tasks: list[Task]) -> Any:
    gather = play.data.get("gather_facts", True)
    if gather is False or gather in ("no", "false", "False"):
        return False
    return gather if any(needs_facts(t) for t in tasks) else False
