"""Generated playbooks: Ansible tasks kept as Ansible, run by one orchc `playbook` action.

A wrapped task runs as it did in its play: the generated play has the
original play's keywords (become, vars, environment, ...), gathers facts only
when the tasks read them, and a task of a role runs inside that role
(`import_role` with `tasks_from` a generated file in the role's copy), so role
defaults, variables, files and templates resolve as before.

Handlers: each handler is an orchc task placed where Ansible flushes
handlers. Where the orchc tasks that notify it end changed exactly when
Ansible would notify it, it is gated natively, `when notified(...)` (a
`native` handler). Otherwise a task that notifies it records the notification
in a flag file on the host when it changed, and the handler's orchc task runs
the handler only if the flag is there, then removes it.

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
from orchc.migrate.ansible_load import INCLUDE_TASKS, Play, Role, Task, short_module, walk_entries
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
    flag: str  # file on the host that says "notified", unless `native`
    native: bool = True  # gated by `when notified(...)`: no flag


@dataclass
class GeneratedFiles:
    """Text files the wrapped tasks need, by path in the output folder."""

    files: dict[str, str] = field(default_factory=dict)


def state_path(project: str, name: str) -> str:
    """A file on the host, per host and project: a handler's flag, or a variable handed over."""
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


def _notified_flags(
    data: LocatedDict | dict[str, Any], handlers: dict[str, list[Handler]], native: bool = False
) -> list[str]:
    """The flags of the handlers the task notifies that are gated by flags (`native`: of the others)."""
    names = data.get("notify") or []
    names = names if isinstance(names, list) else [names]
    return [h.flag for name in names for h in handlers.get(str(name), []) if h.native == native]


def rewrite_notify(
    data: LocatedDict | dict[str, Any], handlers: dict[str, list[Handler]], counter: list[int]
) -> list[dict[str, Any]]:
    """The task without `notify`, followed by tasks that record the notification when it changed."""
    task = dict(data)
    task.pop("listen", None)
    for section in ("block", "rescue", "always"):
        if isinstance(task.get(section), list):
            task[section] = [t for sub in task[section] for t in rewrite_notify(sub, handlers, counter)]
    flags = _notified_flags(data, handlers)
    if not flags:
        if _notified_flags(data, handlers, native=True):
            task.pop("notify")  # orchc notifies them: `when notified(...)`
        return [task]
    task.pop("notify")
    if not isinstance(task.get("register"), str):
        counter[0] += 1
        task["register"] = f"orchc_notify_{counter[0]}"
    # Flags are written as the connecting user on the play's host (never delegated, never become),
    # so that the handler's orchc task finds them whatever the notifier ran as.
    record = {
        "name": "orchc: record the notification",
        "when": f"{task['register']} is changed",
        "become": False,
        "block": [
            {
                "name": "orchc: notification folder",
                "ansible.builtin.file": {"path": STATE_DIR, "state": "directory", "mode": "0700"},
            }
        ]
        + [
            {"name": "orchc: notify", "ansible.builtin.file": {"path": flag, "state": "touch", "mode": "0600"}}
            for flag in dict.fromkeys(flags)
        ],
    }
    return [task, record]


class PlaybookWriter:
    """Writes the generated playbooks and role task files into the output's `ansible/` and `roles/` folders."""

    def __init__(self, out: GeneratedFiles, handlers: dict[str, list[Handler]], project: str):
        self.out = out
        self.project = project
        self.handlers = handlers
        self.counter = [0]

    def write(
        self, play: Play, tasks: list[Task], file_id: str, title: str, handler: Handler | None, handover: HandOver
    ) -> str:
        """Write the playbook for one orchc task; returns its path relative to the output folder."""
        body: list[dict[str, Any]] = []
        for run in _runs_by_role(tasks):
            body += self._run(run, f"{file_id}.{len(body)}" if len(tasks) > 1 else file_id)
        if handler is not None and not handler.native:
            body = [
                {
                    "name": "orchc: was this handler notified?",
                    "become": False,
                    "ansible.builtin.stat": {"path": handler.flag, "get_checksum": False},
                    "register": "orchc_notified",
                },
                {
                    "name": str(handler.task.data.get("name", "handler")),
                    "when": "orchc_notified.stat.exists",
                    "block": body
                    + [
                        {
                            "name": "orchc: handler done",
                            "become": False,
                            "ansible.builtin.file": {"path": handler.flag, "state": "absent"},
                        }
                    ],
                },
            ]
        body = (
            handover.restore_tasks(self.project) + rejoin_tasks(play.rejoins) + body + handover.save_tasks(self.project)
        )
        header: dict[str, Any] = {"name": title, "hosts": "all", "gather_facts": _gather_facts(play, tasks)}
        for key in _PLAY_KEYWORDS:
            if key in play.data:
                header[key] = play.data[key]
        header["tasks"] = body
        path = f"ansible/{file_id}.yml"
        self.out.files[path] = f"# Generated by `orchc migrate playbook`: {title}\n" + dump_yaml([header])
        return path

    def rewrite_candidates(self, role: Role, entries: dict[Path, list[Any]]) -> None:
        """Task files of `role` that an include kept whole may pick, written over their copy with each
        notification recorded as a flag (as the converted tasks do), when they notify."""
        for path, items in entries.items():
            if path.is_relative_to(role.path) and any(_notified_flags(e, self.handlers) for e in walk_entries(items)):
                written = [
                    t
                    for entry in items
                    if isinstance(entry, dict)
                    for t in rewrite_notify(entry, self.handlers, self.counter)
                ]
                self.out.files[f"roles/{role.label}/{path.relative_to(role.path).as_posix()}"] = dump_yaml(written)

    def _run(self, tasks: list[Task], file_id: str) -> list[dict[str, Any]]:
        written = [t for task in tasks for t in rewrite_notify(_pinned_include(task), self.handlers, self.counter)]
        role = tasks[0].role
        if role is None:
            return written
        tasks_dir = role.path / "tasks"
        folder = tasks[0].task_file.parent
        sub = folder.relative_to(tasks_dir) if folder.is_relative_to(tasks_dir) else Path()
        name = (sub / f"orchc_{file_id}.yml").as_posix()
        self.out.files[f"roles/{role.label}/tasks/{name}"] = dump_yaml(written)
        include: dict[str, Any] = {
            "name": f"orchc: {role.label} ({tasks[0].source})",
            "ansible.builtin.import_role": {"name": role.label, "tasks_from": name},
        }
        if tasks[0].role_params:
            include["vars"] = tasks[0].role_params
        return [include]


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
