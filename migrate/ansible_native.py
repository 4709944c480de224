"""One Ansible task as a native orchc action or an inline `ansible MODULE { ... }`, when that is exact.

orchc renders every string of a `.orch` file with Jinja2 at compile time, over
orchc variables; Ansible renders at run time, over inventory, facts and role
variables. So a task converts inline only when nothing in it is templated.
Native actions are further limited to modules whose result orchc reports the
same way: `command`/`shell` (always "changed"), `copy` of a file or literal
content, `systemd`/`service` restarts and reloads (always "changed"). Anything
else (the caller wraps it in a generated playbook) keeps Ansible's meaning.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible

from orchc.dsl import ast, build
from orchc.migrate.ansible_load import TASK_KEYWORDS, Task
from orchc.migrate.ansible_vars import EXPRESSION_ARGS, strings
from orchc.migrate.yaml_source import Unsafe, Vault, leaves

_BUILTIN_MODULES = frozenset(p[:-3] for p in os.listdir(Path(ansible.__file__).parent / "modules") if p.endswith(".py"))
# Keywords a task may carry and still run as one orchc action with the same meaning.
_PLAIN_KEYWORDS = frozenset({"name", "tags", "run_once", "register", "throttle", "become"})
# Modules that change what later tasks of the play see, or read files from the controller: never inline.
_CONTEXT_MODULES = frozenset(
    {
        "set_fact",
        "include_vars",
        "include_tasks",
        "import_tasks",
        "include",
        "include_role",
        "import_role",
        "meta",
        "add_host",
        "group_by",
        "set_stats",
        "setup",
        "gather_facts",
        "copy",
        "template",
        "script",
        "unarchive",
        "assemble",
        "patch",
        "synchronize",
        "fetch",
        "pause",
        "async_status",
    }
)
_LITERAL_LOOPS = ("loop", "with_items", "with_list")
_ITEM = re.compile(r"\{\{\s*item\s*\}\}")
_DOTTED_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_NATIVE_MODULES = frozenset({"command", "shell", "copy", "service", "systemd", "systemd_service"})


@dataclass
class Converted:
    """An orchc action for a task, and how it maps."""

    action: ast.Action
    native: bool  # True: a native action; False: an inline `ansible` action
    note: str = ""  # what the report says about it

    @property
    def keyword(self) -> str:
        """The action's keyword, for the report: `run`, `copy`."""
        return "run" if isinstance(self.action, ast.Run) else "copy"


def _templated(data: Any) -> bool:
    return any(("{{" in s or "{%" in s or "{#" in s) for s in strings(data))


def _special(data: Any) -> bool:
    return any(isinstance(leaf, (Unsafe, Vault)) for leaf in leaves(data))


def plain_keywords(task: Task) -> bool:
    """The task uses no keyword that changes how or whether the module runs (a literal loop aside)."""
    keywords = {k for k in task.data if k in TASK_KEYWORDS} - {"args", "action", *_LITERAL_LOOPS}
    become = task.data.get("become", False)
    return (
        keywords <= _PLAIN_KEYWORDS
        and not task.dynamic
        and isinstance(become, bool)
        and not _templated(task.data.get("throttle"))
    )


def convert(task: Task, copy_source: str | None, content_file: str | None) -> Converted | None:
    """The action for `task` if it maps exactly, else None (the caller wraps it).

    `copy_source` is the orchc-relative path of the file a `copy` reads (None if not found);
    `content_file` the path to write `copy: content=` into.
    """
    if not plain_keywords(task) or task.module is None or _special(task.args):
        return None
    loop_keys = [k for k in task.data if k in _LITERAL_LOOPS]
    if loop_keys:
        return _command_loop(task, task.data[loop_keys[0]]) if len(loop_keys) == 1 else None
    if _templated(task.args):
        return None
    if task.module in _NATIVE_MODULES:
        native = _native(task, copy_source, content_file)
        if native is not None or task.module in ("command", "shell", "copy"):
            return native
    return _inline(task)


def _native(task: Task, copy_source: str | None, content_file: str | None) -> Converted | None:
    args = task.args
    if task.module in ("command", "shell"):
        return _command(task.module, args)
    if (
        task.module == "copy"
        and set(args) <= {"src", "content", "dest", "mode", "owner"}
        and "dest" in args
        and not str(args["dest"]).endswith("/")
        and ("src" in args) != ("content" in args)
    ):
        source = copy_source if "src" in args and copy_source else content_file if "content" in args else None
        if source is None:
            return None
        mode = args.get("mode")
        if mode is not None:
            mode = format(mode, "#o").replace("0o", "0") if isinstance(mode, int) else str(mode)
        owner = str(args["owner"]) if "owner" in args else None
        return Converted(build.copy(source, str(args["dest"]), mode, owner), True, "copy")
    if (
        task.module in ("systemd", "service", "systemd_service")
        and set(args) <= {"name", "state", "daemon_reload"}
        and args.get("state") in ("restarted", "reloaded")
        and isinstance(args.get("name"), str)
    ):
        verb = "restart" if args["state"] == "restarted" else "reload"
        command = f"systemctl {verb} {shlex.quote(args['name'])}"
        if args.get("daemon_reload") in (True, "yes", "true"):
            command = "systemctl daemon-reload && " + command
        note = (
            "the host runs systemd (Ansible's service module picks the init system)" if task.module == "service" else ""
        )
        return Converted(build.run(command), True, note)
    return None


def _command_loop(task: Task, items: Any) -> Converted | None:
    """`command`/`shell` over a literal list: one script that runs every item, as Ansible does, and fails
    at the end if any item failed. Each item runs in its own subshell, as in its own process."""
    scalars = (
        isinstance(items, list)
        and items
        and all(isinstance(i, (str, int, float)) and not isinstance(i, bool) for i in items)
    )
    if task.module not in ("command", "shell") or not scalars or _templated(items):
        return None
    lines = []
    for item in items:
        args = {k: _ITEM.sub(lambda _: str(item), v) if isinstance(v, str) else v for k, v in task.args.items()}  # noqa: B023 - re.sub calls it now
        line = None if _templated(args) else _command_line(task.module, args)
        if line is None:
            return None
        lines.append(f"( {line}\n) || rc=1")
    script = "rc=0\n" + "\n".join(lines) + "\nexit $rc"
    return Converted(build.run(script), True, f"{task.module} loop")


def _command(module: str, args: dict[str, Any]) -> Converted | None:
    line = _command_line(module, args)
    return Converted(build.run(line), True, module) if line is not None else None


def _command_line(module: str, args: dict[str, Any]) -> str | None:
    """The shell line that does what `command`/`shell` with these arguments does, or None."""
    if not set(args) <= {"_raw_params", "cmd", "argv", "chdir"}:
        return None
    if "argv" in args:
        if module != "command" or not isinstance(args["argv"], list):
            return None
        words = [str(w) for w in args["argv"]]
    else:
        line = args.get("cmd", args.get("_raw_params"))
        if not isinstance(line, str) or not line.strip():
            return None
        if module == "shell":
            words = []
        else:
            try:
                words = shlex.split(line)
            except ValueError:
                return None
    if module == "command":
        # The command module expands $VARS and ~ in its arguments and uses no shell: keep that exact.
        if any("$" in w or w.startswith("~") for w in words):
            return None
        line = shlex.join(words)
    if "chdir" in args:
        line = f"cd {shlex.quote(str(args['chdir']))} || exit 1\n{line}"
    return line


# Module arguments that name a file on the host: a relative one is relative to the playbook's folder.
_RELATIVE_TO_PLAYBOOK = ("path", "dest", "creates", "removes", "chdir")


def _inline(task: Task) -> Converted | None:
    module = task.module or ""
    if module in _CONTEXT_MODULES or "_raw_params" in task.args:
        return None
    if any(task.args.get(arg) not in (None, "", []) for arg in EXPRESSION_ARGS.get(module, ())):
        return None  # `assert: that`, `debug: var`: Ansible evaluates them at run time, over the role's variables
    if any(
        isinstance(task.args.get(arg), str) and not task.args[arg].startswith(("/", "~"))
        for arg in _RELATIVE_TO_PLAYBOOK
    ):
        return None  # a relative path names a file beside the playbook (on a local connection): keep one there
    if module in _BUILTIN_MODULES:
        module = "ansible.builtin." + module
    elif not _DOTTED_NAME.match(module):
        return None  # a module from a role's library/ or a plugin path needs the role around it
    args = {str(k): v for k, v in task.args.items()}
    return Converted(build.ansible(module, args), False, "inline ansible module")
