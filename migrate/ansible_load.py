"""Read an Ansible playbook the way ansible-playbook does, into flat task lists.

Plays, `import_playbook`, roles (with `meta/main.yml` dependencies), static
`import_tasks`/`include_tasks` with literal file names, and blocks without
`rescue`/`always` are expanded; every expanded task carries the keywords it
inherited (`when` conditions are ANDed, tags united, vars merged), so that
running it alone means what it meant in place. What stays dynamic (templated
file or role names, looped includes, blocks with rescue/always) is kept as one
task, and the loader says so in `notes` for the report.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ansible.parsing.splitter import parse_kv
from ansible.playbook.block import Block
from ansible.playbook.play import Play as AnsiblePlay
from ansible.playbook.task import Task as AnsibleTask

from orchc.dsl.diagnostics import Diagnostic, DiagnosticError
from orchc.migrate.yaml_source import LocatedDict, YamlDialect, load_yaml

TASK_KEYWORDS = frozenset(AnsibleTask.fattributes) | {"args", "action", "local_action", "listen", "with_first_found"}
BLOCK_KEYWORDS = frozenset(Block.fattributes)
PLAY_KEYWORDS = frozenset(AnsiblePlay.fattributes) | {
    "import_playbook",
    "ansible.builtin.import_playbook",
    "vars_prompt",
    "user",
}  # `user`: the old spelling of remote_user
ROLE_ENTRY_KEYWORDS = frozenset(Block.fattributes) - {"block", "rescue", "always", "name"}
# Modules whose `k=v` text Ansible keeps as the command line (ansible.parsing.mod_args FREEFORM_ACTIONS); for
# the others (set_fact, add_host, include_vars, ...) every `k=v` is an argument, the rest is `_raw_params`.
FREE_FORM_MODULES = frozenset({"command", "shell", "raw", "script", "win_command", "win_shell"})
INCLUDE_TASKS = frozenset({"include_tasks", "import_tasks", "include"})
INCLUDE_ROLE = frozenset({"include_role", "import_role"})
MAX_DEPTH = 40
# Play keywords every task of the play inherits (what the task runs as, where, with which environment).
INHERITED_PLAY_KEYWORDS = frozenset(
    {
        "become",
        "become_user",
        "become_method",
        "become_flags",
        "become_exe",
        "environment",
        "module_defaults",
        "collections",
        "remote_user",
        "connection",
        "port",
        "check_mode",
        "diff",
        "ignore_errors",
        "ignore_unreachable",
        "no_log",
        "timeout",
        "user",
    }
)

# Playbooks as Ansible reads them: `!unsafe` and `!vault` values are kept.
ANSIBLE_YAML = YamlDialect(
    libyaml=False,
    keep_ansible_tags=True,
    keys_as_text=True,
    syntax_hint="fix the YAML syntax; `ansible-playbook --syntax-check` shows the same",
)

NoteKind = Literal["unsupported", "approximated"]


def short_module(name: str) -> str:
    """`ansible.builtin.copy` -> `copy`; other collections keep their full name."""
    for prefix in ("ansible.builtin.", "ansible.legacy."):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def is_templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@dataclass
class Role:
    """A role folder found on the roles path."""

    name: str  # as referenced
    path: Path

    @property
    def label(self) -> str:
        """The role's folder name; a collection's role (`ansible_collections/NS/COL/roles/NAME`): `NS.COL.NAME`."""
        parts = self.path.parts
        if len(parts) > 5 and parts[-2] == "roles" and parts[-5] == "ansible_collections":
            return ".".join((parts[-4], parts[-3], parts[-1]))
        return self.path.name

    @property
    def names(self) -> list[str]:
        """What a handler's `role : name` may start with: the role's name, and a collection role's short name."""
        return list(dict.fromkeys([self.label, self.path.name]))


@dataclass
class Task:
    """One Ansible task, or a block kept whole, as it would run in its place."""

    data: LocatedDict  # the task as Ansible reads it, with inherited keywords merged in
    source: str  # file:line
    task_file: Path  # the file it is written in
    role: Role | None  # the role whose files/templates/defaults it sees
    role_params: dict[str, Any]  # params of the role application (`roles: [{role: x, port: 1}]`)
    group: str  # the service it belongs to: a role application or the play's own tasks
    module: str | None = None  # short module name; None for a block kept whole
    args: dict[str, Any] = field(default_factory=dict)
    dynamic: str = ""  # why it could not be expanded statically, if it is an include kept whole
    # an include kept whole: the task files it may pick (their entries as written), and their tasks
    candidates: dict[Path, list[Any]] = field(default_factory=dict)
    candidate_tasks: list[Task] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.data.get("name") or (self.module or "block"))

    def find_source(self, src: str, kind: Literal["files", "templates"]) -> Path | None:
        """The controller file a `copy`/`template` src names, searched as Ansible does (role first)."""
        if src.startswith("/") or is_templated(src):
            return None
        folders = [self.role.path / kind, self.role.path, self.role.path / "tasks"] if self.role else []
        folders += [self.task_file.parent / kind, self.task_file.parent]
        return next((folder / src for folder in folders if (folder / src).is_file()), None)


@dataclass
class Segment:
    """Tasks that run in order, followed by a flush of the handlers they notified."""

    tasks: list[Task] = field(default_factory=list)


@dataclass
class Play:
    name: str
    source: str
    hosts: str
    data: LocatedDict
    playbook_dir: Path
    segments: list[Segment]
    handlers: list[Task]
    groups: list[str]  # service labels in order of first appearance
    # Registered `group_by` results whose groups the play's tasks join again, so that they see the
    # groups made at run time in earlier orchc tasks (`group_names`); see ansible_groups.
    rejoins: list[str] = field(default_factory=list)


@dataclass
class Note:
    kind: NoteKind
    source: str
    what: str
    why: str = ""


@dataclass
class Playbook:
    plays: list[Play]
    notes: list[Note]
    roles: dict[str, Role]  # every role used, by label
    playbook_dirs: list[Path]  # folders of every playbook read (group_vars/host_vars beside them)
    # task files a role includes that Ansible found beside the playbook: by path in the output's ansible/ folder
    beside_playbook: dict[str, Path] = field(default_factory=dict)


class PlaybookLoader:
    """Walks one playbook and everything it imports."""

    def __init__(self, roles_path: list[Path], root: Path):
        self.roles_path = roles_path
        self.root = root.resolve()  # file names in sources and diagnostics are shown relative to it
        self.notes: list[Note] = []
        self.roles: dict[str, Role] = {}
        self.playbook_dirs: list[Path] = []
        self.beside_playbook: dict[str, Path] = {}

    # --- playbooks and plays ---------------------------------------------------------

    def load(self, path: Path) -> Playbook:
        plays = self._playbook(path, depth=0)
        return Playbook(plays, self.notes, self.roles, self.playbook_dirs, self.beside_playbook)

    def shown(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    def read_yaml(self, path: Path) -> Any:
        """The YAML document in `path`, its mappings and lists knowing the file (as shown) and line."""
        return load_yaml(path, self.shown(path), ANSIBLE_YAML)

    def note(self, kind: NoteKind, source: str, what: str, why: str = "") -> None:
        self.notes.append(Note(kind, source, what, why))

    def _playbook(self, path: Path, depth: int) -> list[Play]:
        data = self.read_yaml(path)
        if path.parent not in self.playbook_dirs:
            self.playbook_dirs.append(path.parent)
        if data is None:
            return []
        if not isinstance(data, list):
            line = getattr(data, "line", 1)
            raise _bad_input(
                self.shown(path),
                line,
                "a playbook must be a list of plays",
                "start each play with `- hosts: GROUP` (or `- import_playbook: FILE`)",
            )
        plays: list[Play] = []
        for index, entry in enumerate(data):
            if not isinstance(entry, LocatedDict):
                raise _bad_input(
                    self.shown(path),
                    getattr(data, "line", 1),
                    f"play #{index + 1} is a {type(entry).__name__}, not a mapping",
                    "each list item must be a play: `- hosts: GROUP`",
                )
            imported = entry.get("import_playbook", entry.get("ansible.builtin.import_playbook"))
            if imported is not None:
                plays += self._import_playbook(entry, imported, path, depth)
            else:
                plays.append(self._play(entry, path, len(plays)))
        return plays

    def _import_playbook(self, entry: LocatedDict, imported: Any, path: Path, depth: int) -> list[Play]:
        if not isinstance(imported, str) or is_templated(imported):
            self.note(
                "unsupported",
                entry.where,
                f"import_playbook {imported!r}",
                "the file name is computed at run time; convert that playbook separately",
            )
            return []
        target = path.parent / imported
        if not target.is_file():
            raise _bad_input(
                entry.file, entry.line, f"imported playbook {imported!r} not found", f"looked for {target}"
            )
        if depth > MAX_DEPTH:
            raise _bad_input(
                entry.file,
                entry.line,
                f"import_playbook nests more than {MAX_DEPTH} levels deep",
                "a playbook imports itself, directly or through others: remove that import",
            )
        for key in entry:
            if key not in ("import_playbook", "ansible.builtin.import_playbook", "name", "vars", "tags"):
                self.note("unsupported", entry.where, f"`{key}` on import_playbook", "orchc ignores it")
        plays = self._playbook(target, depth + 1)
        for play in plays:
            if "vars" in entry:
                play.data["vars"] = {**vars_dict(play.data.get("vars")), **vars_dict(entry["vars"])}
            if "tags" in entry:
                play.data["tags"] = _as_list(play.data.get("tags")) + _as_list(entry["tags"])
        return plays

    def _play(self, data: LocatedDict, path: Path, index: int) -> Play:
        source = data.where
        unknown = [k for k in data if k not in PLAY_KEYWORDS]
        if unknown:
            raise _bad_input(
                data.file,
                data.line,
                f"unknown play keyword '{unknown[0]}'",
                "ansible-playbook rejects it too; known keywords: hosts, tasks, roles, vars, ...",
            )
        if "hosts" not in data:
            raise _bad_input(data.file, data.line, "play has no `hosts`", "add `hosts: GROUP` to the play")
        hosts = data["hosts"]
        hosts = ":".join(str(h) for h in hosts) if isinstance(hosts, list) else str(hosts)
        name = str(data.get("name") or f"play {index + 1} on {hosts}")
        if data.get("vars_prompt"):
            self.note(
                "unsupported",
                source,
                "vars_prompt",
                "orchc runs unattended: give these variables with "
                "`orchc run -e NAME=VALUE` (they reach Ansible as extra vars) or in the inventory",
            )
        play = Play(name, source, hosts, data, path.parent, [Segment()], [], [])
        own_group = name
        play_keywords = {k: v for k, v in data.items() if k in INHERITED_PLAY_KEYWORDS}
        for section in ("pre_tasks", "roles", "tasks", "post_tasks"):
            entries = data.get(section) or []
            if not isinstance(entries, list):
                raise _bad_input(data.file, data.line, f"`{section}` must be a list")
            if section == "roles":
                for entry in entries:
                    self._role_entry(play, entry, data, path)
            else:
                for task in self._tasks(entries, path, None, {}, own_group, play_keywords, play, depth=0):
                    self._append(play, task)
            if section != "roles" and play.segments[-1].tasks:
                play.segments.append(Segment())
        # Ansible runs the roles' handlers first, then the play's own.
        play.handlers += self._tasks(
            data.get("handlers") or [], path, None, {}, own_group, play_keywords, play, depth=0, handlers=True
        )
        play.segments = [s for s in play.segments if s.tasks]
        return play

    def _append(self, play: Play, task: Task) -> None:
        if task.module == "meta" and str(task.args.get("_raw_params", "")).strip() == "flush_handlers":
            play.segments.append(Segment())
            return
        if task.group not in play.groups:
            play.groups.append(task.group)
        play.segments[-1].tasks.append(task)

    # --- roles -------------------------------------------------------------------------

    def find_role(self, name: str, near: Path) -> Role | None:
        candidates = [near / "roles" / name, *(p / name for p in self.roles_path), near / name]
        if "/" in name:
            candidates.insert(0, near / name)
        if name.count(".") == 2:  # NS.COL.NAME: a collection's role, beside the playbook or on the collections path
            namespace, collection, short = name.split(".")
            candidates += [
                folder / "ansible_collections" / namespace / collection / "roles" / short
                for folder in [near / "collections", *collections_path()]
            ]
        for folder in candidates:
            if folder.is_dir():
                role = Role(name, folder.resolve())
                self.roles.setdefault(role.label, role)
                return self.roles[role.label]
        return None

    def _role_entry(self, play: Play, entry: Any, play_data: LocatedDict, path: Path) -> None:
        where = entry.where if isinstance(entry, LocatedDict) else play_data.where
        if isinstance(entry, str):
            entry = LocatedDict(role=entry)
            entry.file, entry.line = play_data.file, play_data.line
        name = entry.get("role", entry.get("name"))
        if not isinstance(name, str) or is_templated(name):
            self.note("unsupported", where, f"role {name!r}", "the role name is computed at run time")
            return
        keywords = {k: v for k, v in entry.items() if k in ROLE_ENTRY_KEYWORDS and k != "vars"}
        params = _role_params(entry)
        for key, value in play_data.items():
            if key in INHERITED_PLAY_KEYWORDS:
                keywords.setdefault(key, value)
        for task in self._apply_role(
            name, path.parent, where, keywords, params, None, play, depth=0, tasks_from="main", seen=set()
        ):
            self._append(play, task)

    def _apply_role(
        self,
        name: str,
        near: Path,
        where: str,
        keywords: dict[str, Any],
        params: dict[str, Any],
        group: str | None,
        play: Play,
        depth: int,
        tasks_from: str,
        seen: set[str],
        handlers_from: str = "main",
    ) -> list[Task]:
        role = self.find_role(name, near)
        if role is None:
            self.note(
                "unsupported",
                where,
                f"role '{name}'",
                "not found on the roles path (pass --roles-path, or install it); its tasks are not converted",
            )
            return []
        if depth > MAX_DEPTH:
            file, line = where.rsplit(":", 1)
            raise _bad_input(
                file,
                int(line),
                f"role dependencies nest more than {MAX_DEPTH} levels deep",
                "a role depends on itself, directly or through others: fix meta/main.yml",
            )
        tasks: list[Task] = []
        meta = role_yaml(role, "meta", self)
        for dep in (meta or {}).get("dependencies") or []:
            dep_name = (
                dep
                if isinstance(dep, str)
                else (dep.get("role") or dep.get("name"))
                if isinstance(dep, LocatedDict)
                else None
            )
            dep_where = dep.where if isinstance(dep, LocatedDict) else where
            if not isinstance(dep_name, str) or is_templated(dep_name):
                self.note("unsupported", dep_where, f"role dependency {dep_name!r}", "the name is computed at run time")
                continue
            dep_params = _role_params(dep) if isinstance(dep, LocatedDict) else {}
            key = f"{dep_name}|{sorted(dep_params.items(), key=str)}"
            if key in seen:
                continue
            seen.add(key)
            dep_keywords = {
                **keywords,
                **({k: v for k, v in dep.items() if k in ROLE_ENTRY_KEYWORDS} if isinstance(dep, LocatedDict) else {}),
            }
            tasks += self._apply_role(
                dep_name, role.path.parent, dep_where, dep_keywords, dep_params, None, play, depth + 1, "main", seen
            )
        label = group or self._group_label(play, role.label)
        task_file = role_file(role, "tasks", tasks_from)
        if task_file is not None:
            tasks += self._tasks(
                self.read_yaml(task_file) or [], task_file, role, params, label, keywords, play, depth + 1
            )
        elif tasks_from != "main":
            self.note("unsupported", where, f"tasks_from '{tasks_from}' of role '{name}'", "no such task file")
        handler_file = role_file(role, "handlers", handlers_from)
        if handler_file is not None and not any(h.role == role for h in play.handlers):
            play.handlers += self._tasks(
                self.read_yaml(handler_file) or [],
                handler_file,
                role,
                params,
                label,
                {},
                play,
                depth + 1,
                handlers=True,
            )
        return tasks

    def _group_label(self, play: Play, label: str) -> str:
        """A role applied twice in one play runs twice: give the second application its own service."""
        used = {t.group for s in play.segments for t in s.tasks}
        if label not in used:
            return label
        n = 2
        while f"{label}#{n}" in used:
            n += 1
        return f"{label}#{n}"

    # --- task lists -------------------------------------------------------------------------

    def _tasks(
        self,
        entries: Any,
        task_file: Path,
        role: Role | None,
        params: dict[str, Any],
        group: str,
        inherited: dict[str, Any],
        play: Play,
        depth: int,
        handlers: bool = False,
    ) -> list[Task]:
        shown = self.shown(task_file)
        if not isinstance(entries, list):
            raise _bad_input(
                shown,
                getattr(entries, "line", 1),
                "a task list must be a YAML list",
                "write tasks as `- name: ...` items",
            )
        if depth > MAX_DEPTH:
            raise _bad_input(
                shown,
                getattr(entries, "line", 1),
                f"includes nest more than {MAX_DEPTH} levels deep",
                "a task file includes itself, directly or through others: remove that include",
            )
        tasks: list[Task] = []
        for entry in entries:
            if not isinstance(entry, LocatedDict):
                raise _bad_input(shown, getattr(entries, "line", 1), f"a task must be a mapping, not {entry!r}")
            tasks += self._task(entry, task_file, role, params, group, inherited, play, depth, handlers)
        return tasks

    def _task(
        self,
        entry: LocatedDict,
        task_file: Path,
        role: Role | None,
        params: dict[str, Any],
        group: str,
        inherited: dict[str, Any],
        play: Play,
        depth: int,
        handlers: bool,
    ) -> list[Task]:
        data = merge_inherited(entry, inherited)
        if "block" in entry:
            if entry.get("rescue") or entry.get("always") or handlers:
                return [Task(data, entry.where, task_file, role, params, group)]
            keywords = {k: v for k, v in entry.items() if k not in ("block", "rescue", "always", "name")}
            return self._tasks(
                entry["block"] or [],
                task_file,
                role,
                params,
                group,
                merge_inherited(keywords, inherited),
                play,
                depth + 1,
                handlers,
            )
        module, args = module_and_args(entry)
        if module is None:
            raise _bad_input(
                entry.file,
                entry.line,
                "no module in this task",
                "a task needs exactly one module key, e.g. `ansible.builtin.command: ...`",
            )
        task = Task(data, entry.where, task_file, role, params, group, short_module(module), args)
        if (task.module in INCLUDE_TASKS and not handlers) or task.module == "import_tasks":
            # in `handlers:`, import_tasks is static too: each imported task is a handler of its own name
            return self._include_tasks(task, entry, inherited, play, depth, handlers)
        if task.module in INCLUDE_ROLE and not handlers:
            return self._include_role(task, entry, inherited, play, depth)
        if task.module in INCLUDE_TASKS and not _dynamic_reason(
            task, name := task.args.get("file", task.args.get("_raw_params")), {"file", "_raw_params"}
        ):  # a handler that includes tasks runs the file whole
            target = self._find_task_file(str(name), task, play)
            self._keep_candidates(task, [target] if target else [])
        return [task]

    def _include_tasks(
        self, task: Task, entry: LocatedDict, inherited: dict[str, Any], play: Play, depth: int, handlers: bool = False
    ) -> list[Task]:
        name = task.args.get("file", task.args.get("_raw_params"))
        dynamic = _dynamic_reason(
            task, name, {"file", "_raw_params", "apply"} if task.module != "include" else {"_raw_params"}
        )
        if dynamic:
            task.dynamic = dynamic
            literal = None if is_templated(name) else self._find_task_file(str(name), task, play)
            self._keep_candidates(task, [literal] if literal else _candidate_task_files(task))
            return [task]
        target = self._find_task_file(str(name), task, play)
        if target is None:
            self.note(
                "unsupported", task.source, f"{task.module} '{name}'", "file not found; its tasks are not converted"
            )
            return []
        if task.module != "import_tasks":
            self.note(
                "approximated",
                task.source,
                f"{task.module} '{name}' expanded statically",
                "the include's `when` is now checked for each included task, as with import_tasks",
            )
        keywords = {k: v for k, v in entry.items() if k in TASK_KEYWORDS and k not in ("name", "args", "action")}
        return self._tasks(
            self.read_yaml(target) or [],
            target,
            task.role,
            task.role_params,
            task.group,
            merge_inherited(keywords, inherited),
            play,
            depth + 1,
            handlers,
        )

    def _find_task_file(self, name: str, task: Task, play: Play) -> Path | None:
        """The file an include of `name` reads, searched as Ansible does: beside the including file, in its role,
        then beside the playbook (kept for the output: the generated playbooks run from its ansible/ folder)."""
        folders = [task.task_file.parent] + ([task.role.path / "tasks", task.role.path] if task.role else [])
        found = next((folder / name for folder in folders if (folder / name).is_file()), None)
        if found is None and (play.playbook_dir / name).is_file():
            found = play.playbook_dir / name
            if task.role is not None and found.resolve().is_relative_to(play.playbook_dir.resolve()):
                self.beside_playbook[f"ansible/{Path(name).as_posix()}"] = found
        return found

    def _keep_candidates(self, task: Task, files: list[Path]) -> None:
        """`task`, an include kept whole, may run the tasks of `files`: keep them, to know what they read,
        set and notify. A file that is not valid YAML is left out: the include may never pick it."""
        for path in files:
            try:
                task.candidates[path] = _as_list(self.read_yaml(path))
            except DiagnosticError:
                continue
            for entry in walk_entries(task.candidates[path]):
                module, args = module_and_args(entry) if "block" not in entry else (None, {})
                if module is not None:
                    task.candidate_tasks.append(
                        Task(
                            entry,
                            entry.where,
                            path,
                            task.role,
                            task.role_params,
                            task.group,
                            short_module(module),
                            args,
                        )
                    )

    def _include_role(
        self, task: Task, entry: LocatedDict, inherited: dict[str, Any], play: Play, depth: int
    ) -> list[Task]:
        name = task.args.get("name")
        dynamic = _dynamic_reason(
            task,
            name,
            {
                "name",
                "tasks_from",
                "handlers_from",
                "vars_from",
                "defaults_from",
                "public",
                "allow_duplicates",
                "rolespec_validate",
            },
        )
        if dynamic:
            task.dynamic = dynamic
            return [task]
        near = task.role.path.parent if task.role else play.playbook_dir
        keywords = {k: v for k, v in entry.items() if k in ROLE_ENTRY_KEYWORDS and k not in ("name", "vars")}
        params = vars_dict(entry.get("vars"))
        tasks_from = str(task.args.get("tasks_from", "main"))
        if task.module == "include_role":
            self.note(
                "approximated",
                task.source,
                f"include_role '{name}' expanded statically",
                "its `when` is now checked for each of the role's tasks, as with import_role",
            )
        return self._apply_role(
            str(name),
            near,
            task.source,
            merge_inherited(keywords, inherited),
            params,
            task.group,
            play,
            depth + 1,
            tasks_from,
            set(),
            str(task.args.get("handlers_from", "main")),
        )


# --- helpers ----------------------------------------------------------------------------------


def _bad_input(file: str, line: int, message: str, hint: str | None = None) -> DiagnosticError:
    from orchc.dsl.ast import Span

    return DiagnosticError([Diagnostic("error", message, Span(file, line, 1, line, 1), hint)])


def _role_params(entry: LocatedDict) -> dict[str, Any]:
    """What a `roles:` entry or a dependency passes to the role: its non-keyword keys and its `vars`."""
    params = {k: v for k, v in entry.items() if k not in ROLE_ENTRY_KEYWORDS and k not in ("role", "name")}
    return {**params, **vars_dict(entry.get("vars"))}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def vars_dict(value: Any) -> dict[str, Any]:
    """`vars:` as a mapping (Ansible also accepts a list of mappings)."""
    if isinstance(value, list):
        return {k: v for item in value if isinstance(item, dict) for k, v in item.items()}
    return dict(value) if isinstance(value, dict) else {}


def merge_inherited(child: LocatedDict | dict[str, Any], parent: dict[str, Any]) -> LocatedDict:
    """`child` with a parent's (block, include, role) keywords, as Ansible applies them."""
    merged = LocatedDict(child)
    if isinstance(child, LocatedDict):
        merged.file, merged.line, merged.column = child.file, child.line, child.column
    for key, value in parent.items():
        if key == "when":
            merged["when"] = _as_list(value) + _as_list(child.get("when"))
        elif key == "tags":
            merged["tags"] = list(dict.fromkeys(_as_list(value) + _as_list(child.get("tags"))))
        elif key == "vars":
            merged["vars"] = {**vars_dict(value), **vars_dict(child.get("vars"))}
        elif key not in child:
            merged[key] = value
    return merged


def module_and_args(entry: LocatedDict) -> tuple[str | None, dict[str, Any]]:
    """The module a task calls and its arguments, from any of Ansible's spellings."""
    extra = dict(entry.get("args") or {}) if isinstance(entry.get("args"), dict) else {}
    for spelling in ("action", "local_action"):
        if spelling in entry:
            value = entry[spelling]
            if isinstance(value, dict):
                value = dict(value)
                module = str(value.pop("module", ""))
                return module or None, {**value, **extra}
            module, _, rest = str(value).strip().partition(" ")
            return module, {**_kv(short_module(module), rest), **extra}
    candidates = [k for k in entry if k not in TASK_KEYWORDS and not str(k).startswith("with_")]
    if not candidates:
        return None, {}
    module = str(candidates[0])
    value = entry[module]
    if isinstance(value, dict):
        return module, {**value, **extra}
    if value is None:
        return module, extra
    return module, {**_kv(short_module(module), str(value)), **extra}


def _kv(module: str, text: str) -> dict[str, Any]:
    try:
        return dict(parse_kv(text, check_raw=module in FREE_FORM_MODULES))
    except Exception:  # ansible's splitter rejects unbalanced quotes: keep the text as Ansible would show it
        return {"_raw_params": text}


def _dynamic_reason(task: Task, name: Any, allowed: set[str]) -> str:
    if not isinstance(name, str) or not name:
        return "its file name is not a literal string"
    if is_templated(name):
        return f"its name {name!r} is computed at run time"
    if any(k.startswith("with_") or k == "loop" for k in task.data):
        return "it is looped"
    extra = set(task.args) - allowed
    if extra or "apply" in task.args:
        return f"it uses {', '.join(sorted(extra | ({'apply'} & set(task.args))))}"
    return ""


def collections_path() -> list[Path]:
    """Where Ansible looks for collections: ANSIBLE_COLLECTIONS_PATH, else its defaults."""
    setting = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.environ.get("ANSIBLE_COLLECTIONS_PATHS")
    folders = setting.split(os.pathsep) if setting else ["~/.ansible/collections", "/usr/share/ansible/collections"]
    return [Path(folder).expanduser() for folder in folders if folder]


def walk_entries(entries: list[Any]) -> Iterator[dict[str, Any]]:
    """Every task of a task file as written, the tasks inside its blocks included."""
    for entry in entries:
        if isinstance(entry, dict):
            yield entry
            yield from block_tasks(entry)


def block_tasks(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The tasks inside a task's `block`, `rescue` and `always`, nested blocks included."""
    for section in ("block", "rescue", "always"):
        inner = data.get(section)
        yield from walk_entries(inner if isinstance(inner, list) else [])


def _candidate_task_files(task: Task) -> list[Path]:
    """The task files an include of a computed name may pick: those beside the including file and in its role."""
    folders = dict.fromkeys([task.task_file.parent] + ([task.role.path / "tasks"] if task.role else []))
    return sorted(path for folder in folders for path in folder.glob("*.y*ml") if path != task.task_file)


def role_file(role: Role, kind: str, name: str) -> Path | None:
    base = role.path / kind / name
    for candidate in (base, base.with_name(base.name + ".yml"), base.with_name(base.name + ".yaml")):
        if candidate.is_file():
            return candidate
    return None


def role_yaml(role: Role, kind: str, loader: PlaybookLoader, name: str = "main") -> Any:
    """The role's `KIND/NAME.yml` (meta, defaults, vars), or None."""
    path = role_file(role, kind, name)
    return loader.read_yaml(path) if path else None


def default_roles_path(playbook: Path) -> list[Path]:
    """ANSIBLE_ROLES_PATH, then `roles_path` of the nearest ansible.cfg above the playbook."""
    paths = [Path(p).expanduser() for p in os.environ.get("ANSIBLE_ROLES_PATH", "").split(":") if p]
    for folder in [playbook.resolve().parent, *playbook.resolve().parents]:
        cfg = folder / "ansible.cfg"
        if cfg.is_file():
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(cfg, encoding="utf-8")
            except configparser.Error:
                break
            value = parser.get("defaults", "roles_path", fallback="")
            paths += [(folder / Path(p).expanduser()) for p in re.split(r"[:,]", value) if p.strip()]
            break
    return paths
