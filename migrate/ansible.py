"""`orchc migrate playbook`: an Ansible playbook as an `.orch` project that does the same.

The conversion, top-down:
1. `ansible_load` reads the playbook into plays of flat task lists (roles, includes
   and blocks expanded, keywords inherited), split where Ansible flushes handlers.
2. Tasks that share run-time state (a registered or `set_fact` variable read by
   a later task) are kept together: each group becomes one orchc task (`Unit`).
   Across services and plays, such a variable is handed over through a file on the host.
3. Each unit becomes a native action or an inline `ansible` action when that is
   exact (`ansible_native`), else a generated playbook (`ansible_wrap`).
4. Units are chained in Ansible's order per host: `after` inside a service,
   a capability `requires ... on same host` between services of a play, and a
   plain `requires` (every host) between plays. Edges with no data dependency
   found are listed in the report as `ordering`: the parallelism a user could unlock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from orchc.dsl import ast, build
from orchc.dsl.build import After, Become, Concurrency, Lines, Statement
from orchc.migrate import emit
from orchc.migrate.ansible_dump import dump_yaml
from orchc.migrate.ansible_groups import RunTimeGroups, Target, gate_play
from orchc.migrate.ansible_hosts import map_hosts
from orchc.migrate.ansible_load import (
    INCLUDE_TASKS,
    Play,
    Playbook,
    PlaybookLoader,
    Task,
    block_tasks,
    default_roles_path,
    is_templated,
    role_file,
    role_yaml,
)
from orchc.migrate.ansible_native import convert
from orchc.migrate.ansible_vars import (
    defines,
    defines_patterns,
    defines_unknown,
    may_set,
    reads_earlier,
    share_path,
    strings,
    touches,
    uses,
)
from orchc.migrate.ansible_wrap import GeneratedFiles, Handler, HandOver, PlaybookWriter
from orchc.migrate.report import Migration, Report


@dataclass
class Unit:
    """One orchc task: Ansible tasks that run together."""

    tasks: list[Task]
    group: str
    handler: Handler | None = None
    notifiers: list[Unit] = field(default_factory=list)  # a handler's: the units that notify it in its flush
    service: str = ""
    name: str = ""
    once: bool = False
    ordering: list[Statement] = field(default_factory=list)  # `after` / `requires` statements
    provides: list[ast.Provision] = field(default_factory=list)
    body: list[Statement] = field(default_factory=list)  # settings and the action

    @property
    def source(self) -> str:
        return self.tasks[0].source

    @property
    def label(self) -> str:
        return f"{self.service}.{self.name}"


def convert_playbook(path: Path, roles_path: list[Path] | None = None) -> Migration:
    """Convert `path` (site.yml) and everything it imports; raises DiagnosticError for bad input."""
    return PlaybookConverter(path, roles_path if roles_path is not None else default_roles_path(path)).run()


class PlaybookConverter:
    def __init__(self, path: Path, roles_path: list[Path]):
        self.path = path
        self.project = emit.ident(path.stem)
        self.loader = PlaybookLoader(roles_path, Path.cwd())
        self.report = Report("playbook", [str(path)])
        self.generated = GeneratedFiles()
        self.services: dict[str, list[Unit]] = {}  # service name -> units in order
        self.service_of: dict[tuple[int, str], str] = {}
        self.task_names: dict[str, set[str]] = {}
        self.set_earlier: dict[str, Task] = {}  # variables set at run time by earlier segments -> by which task
        self.saves: dict[int, set[str]] = {}  # id(task) -> variables it hands over to later orchc tasks
        self.restores: dict[int, set[str]] = {}  # id(task) -> variables it takes over from earlier orchc tasks
        self._extra_copies: dict[str, Path] = {}  # playbook-level files read by native copies

    def run(self) -> Migration:
        playbook = self.loader.load(self.path)
        for note in playbook.notes:
            self.report.add(note.kind, note.source, note.what, note.why)
        targets = self._targets(playbook)
        hosts = map_hosts([t.static for t in targets], [p.source for p in playbook.plays], self.report)
        chain: list[tuple[int, Unit]] = []
        roles: dict[str, list[str]] = {}
        tolerances: dict[str, list[int | str]] = {}
        play_units = [self._play_units(play) for play in playbook.plays]  # first, so every hand-over is known
        for index, (play, (units, writer)) in enumerate(zip(playbook.plays, play_units, strict=True)):
            for unit in units:
                unit.service = self._service(index, play, unit.group)
                unit.name = self._task_name(unit)
                self._actions(unit, play, writer)
                if unit.handler is not None:
                    topic = unit.handler.topic
                    unit.body.insert(0, build.when_notified([(_relative_name(n, unit), topic) for n in unit.notifiers]))
                if targets[index].known_gate is not None:
                    unit.body.insert(0, build.when_ansible(targets[index].known_gate))
                if targets[index].compile_gate is not None:
                    unit.body.insert(0, build.when(targets[index].compile_gate))
                unit.once = unit.once or targets[index].first_only
            tolerance = self._tolerance(play)
            for role in hosts.roles_of[targets[index].static]:
                roles.setdefault(role, [])
                roles[role] += [s for s in dict.fromkeys(u.service for u in units) if s not in roles[role]]
                tolerances.setdefault(role, []).append(tolerance)
            self._play_settings(play, units)
            chain += [(index, u) for u in units]
        self._link(chain)
        text = self._render(roles, tolerances)
        copies = self._copies(playbook)  # first: it writes the roles' meta without dependencies
        files = {f"{self.project}.orch": text, "inventory.yml": hosts.inventory_yaml(), **self.generated.files}
        self._figures(chain)
        return Migration(files, self.report, copies)

    def _targets(self, playbook: Playbook) -> list[Target]:
        """Each play's inventory groups; a play on groups made at run time is gated on membership."""
        groups = RunTimeGroups.collect(playbook)
        for group, added in groups.added.items():
            self.report.add(
                "assumption",
                playbook.plays[0].source if playbook.plays else str(self.path),
                f"add_host adds {', '.join(added)} to group {group}",
                f"orchc places by the inventory: put those hosts in group {group} there",
            )
        targets = [groups.target(play.hosts) for play in playbook.plays]
        for play, target in zip(playbook.plays, targets, strict=True):
            if target.rendered:
                self.report.add(
                    "assumption",
                    play.source,
                    f"hosts: {play.hosts!r} -> {target.rendered!r}",
                    "rendered with the defaults it gives; the variables it reads are not known when "
                    "converting: edit the roles if you deploy with other values",
                )
            if target.first_only:
                self.report.add(
                    "native",
                    play.source,
                    f"hosts: {play.hosts!r} -> every task `once` on {target.static}",
                    "orchc's once runs on the group's first host, as the pattern names",
                )
            if target.gate is not None:
                gate_play(play, target)
                self.report.add(
                    "assumption",
                    play.source,
                    f"hosts: {play.hosts!r} -> {target.static}, each task "
                    f"gated at run time on {'; '.join(target.notes)}",
                    "Ansible decides membership on each host when the task runs, as the play would",
                )
                self.report.add(
                    "assumption",
                    play.source,
                    f"hosts: {play.hosts!r} -> decided when compiling where the group_by keys' variables are "
                    f"known: when ansible {target.known_gate!r}"
                    if target.known_gate is not None
                    else f"hosts: {play.hosts!r} -> decided at run time only: {'; '.join(target.run_time_only)}",
                    "orchc check/compile -i INVENTORY renders the keys on each host from the inventory's variables, "
                    "group_vars/ and host_vars/ beside the playbooks and the project's variables, and says which hosts "
                    "it decided and which variable it lacked for the others"
                    if target.known_gate is not None
                    else "the keys' variables may differ when the group_by runs from what orchc knows when compiling",
                )
            if target.compile_gate is not None:
                self.report.add(
                    "assumption",
                    play.source,
                    f"hosts: {play.hosts!r} -> {target.static}, each task when {target.compile_gate!r}",
                    "the inventory's groups, checked when orchc compiles",
                )
        return targets

    # --- units -------------------------------------------------------------------------

    def _play_units(self, play: Play) -> tuple[list[Unit], PlaybookWriter]:
        handlers, order = self._handlers(play)
        units: list[Unit] = []
        for segment in play.segments:
            flushed = self._group(segment.tasks)
            units += flushed
            notified = {id(h) for t in segment.tasks for h in self._notified(t, handlers)}
            for handler in order:  # a handler may notify handlers defined after it, as in Ansible's flush
                if id(handler) in notified:
                    notified |= {id(h) for h in self._notified(handler.task, handlers)}
            for handler in order:
                if id(handler) in notified:
                    self._take_over(handler.task, uses(handler.task))
                    unit = Unit([handler.task], handler.task.group, handler)
                    unit.notifiers = [u for u in flushed if any(handler in _may_notify(t, handlers) for t in u.tasks)]
                    if _runs_once(handler.task):
                        self.report.add(
                            "approximated",
                            handler.task.source,
                            f"run_once handler '{handler.task.name}' -> once",
                            "Ansible runs it once, on the first host notified; orchc on the group's first host, "
                            "if it was notified there",
                        )
                    units.append(unit)
                    flushed.append(unit)  # a handler may notify the handlers after it in the flush
                    # what it sets (a set_fact handler) reaches the tasks after the flush through a hand-over
                    self.set_earlier.update({name: handler.task for name in defines(handler.task)})
        return units, PlaybookWriter(self.generated, handlers, self.project)

    def _handlers(self, play: Play) -> tuple[dict[str, list[Handler]], list[Handler]]:
        """Every name a `notify` may use -> the handlers it notifies, as Ansible finds them; and the handlers
        in the order Ansible runs them. A handler *name* (also `role : name`) notifies one handler: looking
        through the last-loaded handler list first (the play's own after each role's), the first of that name.
        A `listen` topic notifies every handler that listens to it, but only one of each name."""
        order = [Handler(task, topic) for task, topic in zip(play.handlers, _topics(play.handlers), strict=True)]
        lists: dict[str, list[Handler]] = {}  # handler lists (a role's, the play's own) in the order loaded
        for handler in order:
            lists.setdefault(handler.task.group, []).append(handler)
        by_name: dict[str, list[Handler]] = {}
        by_topic: dict[str, list[Handler]] = {}
        seen: dict[str, set[str]] = {}
        for handler in (h for handlers in reversed(lists.values()) for h in handlers):
            name = handler.task.data.get("name")
            if name:
                roles = handler.task.role.names if handler.task.role else []
                keys = [str(name)] + [f"{role} : {name}" for role in roles]
                for key in keys:
                    by_name.setdefault(key, [handler])
            listens = [str(t) for t in _list(handler.task.data.get("listen"))]
            if handler.task.role is not None:  # a role's topics are also heard namespaced: `role : topic`
                listens += [f"{role} : {t}" for role in handler.task.role.names for t in listens]
            for topic in listens:
                if not name or str(name) not in seen.get(topic, set()):
                    seen.setdefault(topic, set()).add(str(name))
                    by_topic.setdefault(topic, []).append(handler)
        keys = dict.fromkeys([*by_name, *by_topic])  # in a stable order: the stand-in handlers are written in it
        return {
            key: by_name.get(key, []) + [h for h in by_topic.get(key, []) if h not in by_name.get(key, [])]
            for key in keys
        }, order

    def _notified(self, task: Task, handlers: dict[str, list[Handler]]) -> list[Handler]:
        for name in _list(task.data.get("notify")):
            if str(name) not in handlers:
                self.report.add(
                    "unsupported",
                    task.source,
                    f"notify '{name}'",
                    "no handler of that name or `listen` topic in the play; nothing is notified",
                )
        return _may_notify(task, handlers)

    def _group(self, tasks: list[Task]) -> list[Unit]:
        """Consecutive tasks of one service that hand run-time variables to each other become one unit;
        a variable read in another service or a later play is handed over through a file on the host."""
        joined = [False] * len(tasks)  # joined[i]: task i runs in the same unit as task i - 1
        producers: dict[str, int] = {}  # name -> the last task that sets it
        # name -> the first task that may have set the value a reader sees: the last that sets it for sure,
        # or an earlier one when those after it set it only under a `when`
        first_producers: dict[str, int] = {}
        unnamed: list[tuple[list[str], int]] = []  # tasks that set names known only at run time
        for position, task in enumerate(tasks):
            later: set[str] = set()
            for name in sorted(reads_earlier(task)):
                start = first_producers.get(name)
                if start is None:  # perhaps set by tasks whose names are templated (`set_fact: "{{ item }}=1"`);
                    # only the later tasks of the same service see those
                    start = _first_that_may_set(
                        [
                            (patterns, at)
                            for patterns, at in unnamed
                            if all(t.group == task.group for t in tasks[at : position + 1])
                        ],
                        name,
                    )
                if start is not None and all(t.group == task.group for t in tasks[start : position + 1]):
                    joined[start + 1 : position + 1] = [True] * (position - start)
                elif start is not None:
                    self.set_earlier[name] = tasks[producers.get(name, start)]
                    later.add(name)
                elif name in self.set_earlier:
                    later.add(name)
            self._take_over(task, later)
            for name in defines(task):
                producers[name] = position
                if not task.data.get("when") or name not in first_producers:
                    first_producers[name] = position
            if defines_unknown(task):
                unnamed.append((defines_patterns(task), position))
                self.report.add(
                    "approximated",
                    task.source,
                    f"{task.module} may set variables",
                    "names not known before it runs: later tasks of the service that may read them run "
                    "in the same orchc task; other services and plays do not see them",
                )
        self.set_earlier.update({name: tasks[position] for name, position in producers.items()})
        units: list[Unit] = []
        for task, join in zip(tasks, joined, strict=True):
            if join:
                units[-1].tasks.append(task)
            else:
                units.append(Unit([task], task.group))
        return units

    def _take_over(self, consumer: Task, names: set[str]) -> None:
        """`consumer` reads `names`, set at run time by tasks that run in other orchc tasks."""
        for name in sorted(names & set(self.set_earlier)):
            producer = self.set_earlier[name]
            self.saves.setdefault(id(producer), set()).add(name)
            self.restores.setdefault(id(consumer), set()).add(name)
            self.report.add(
                "approximated",
                consumer.source,
                f"`{name}` handed over from {producer.source}",
                "set at run time by another orchc task: saved to a file on the host and read back",
            )

    def _actions(self, unit: Unit, play: Play, writer: PlaybookWriter) -> None:
        task = unit.tasks[0]
        once = [_runs_once(t) for t in unit.tasks]
        unit.once = all(once)
        if any(once) and not all(once):
            self.report.add(
                "approximated",
                unit.source,
                "run_once on some of the tasks kept together",
                "the orchc task runs on every host; Ansible's run_once inside it picks one host per call",
            )
        converted = None
        handover = HandOver(
            saves=sorted(set().union(*(self.saves.get(id(t), set()) for t in unit.tasks))),
            restores=sorted(set().union(*(self.restores.get(id(t), set()) for t in unit.tasks))),
        )
        if (
            len(unit.tasks) == 1
            and unit.handler is None
            and "notify" not in task.data
            and "block" not in task.data
            and not handover.saves
        ):
            content_file = f"files/{unit.service}/{unit.name}"
            converted = convert(task, self._copy_source(task), content_file)
            if converted is not None and converted.native and "content" in task.args:
                content = task.args["content"]
                self.generated.files[content_file] = content if isinstance(content, str) else dump_yaml(content)
        if converted is not None:
            if task.data.get("become") is True:
                unit.body.append(Become())
            if isinstance(task.data.get("throttle"), int) and task.data["throttle"] > 0:
                unit.body.append(Concurrency(task.data["throttle"]))
            unit.body.append(converted.action)
            if converted.native:
                self.report.add("native", unit.source, f"{task.module} -> {converted.keyword}")
                if converted.note and " " in converted.note:
                    self.report.add("assumption", unit.source, converted.note)
            else:
                self.report.add("wrapped", unit.source, f"{task.module} as an inline ansible action")
            return
        title = f"{unit.label} ({unit.source})"
        path = writer.write(play, unit.tasks, f"{unit.service}.{unit.name}", title, unit.handler, handover)
        unit.body.append(build.playbook(path))
        self.report.add("wrapped", unit.source, f"{_describe(unit)} as a generated playbook", _why_wrapped(unit))
        for t in unit.tasks:
            if t.module in _PLAY_WIDE and t.args.get("_raw_params") != "noop":
                self.report.add(
                    "unsupported", t.source, f"{t.module} {t.args.get('_raw_params', '')}".strip(), _PLAY_WIDE[t.module]
                )
            if "delegate_to" in t.data or "local_action" in t.data:
                self.report.add(
                    "approximated",
                    t.source,
                    "delegate_to kept inside the wrapped Ansible task",
                    "orchc places the task on the play's hosts; the delegate must be in the inventory",
                )

    def _copy_source(self, task: Task) -> str | None:
        """Where a native `copy` reads its file, relative to the output folder (role copies keep their layout)."""
        src = task.args.get("src") if task.module == "copy" else None
        found = task.find_source(src, "files") if isinstance(src, str) and not src.endswith("/") else None
        if found is None:
            return None
        if task.role is not None and found.is_relative_to(task.role.path):
            return (Path("roles") / task.role.label / found.relative_to(task.role.path)).as_posix()
        rel = f"files/{self.project}/{found.name}"
        self._extra_copies[rel] = found
        return rel

    # --- names --------------------------------------------------------------------------

    def _service(self, index: int, play: Play, group: str) -> str:
        key = (index, group)
        if key not in self.service_of:
            base = emit.ident((group if group != play.name or play.data.get("name") else f"play_{index + 1}").lower())
            name, n = base, 2
            while name in self.services:
                name, n = f"{base}_{n}", n + 1
            self.service_of[key] = name
            self.services[name] = []
        return self.service_of[key]

    def _task_name(self, unit: Unit) -> str:
        task = unit.tasks[0]
        text = str(task.data.get("name") or task.module or "block").lower()
        base = emit.ident(("handler_" if unit.handler else "") + text)[:48].rstrip("_") or "task"
        used = self.task_names.setdefault(unit.service, set())
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        self.services[unit.service].append(unit)
        return name

    # --- ordering -----------------------------------------------------------------------

    def _link(self, chain: list[tuple[int, Unit]]) -> None:
        for (play_a, a), (play_b, b) in pairwise(chain):
            if play_a == play_b and a.service == b.service:
                b.ordering.append(After([a.name]))
            else:
                capability = emit.ident(f"{a.service}_{a.name}_done")
                a.provides.append(build.provides(capability))
                scope = "same_host" if play_a == play_b and not a.once else "all"
                b.ordering.append(build.requires(capability, scope, optional=True))  # its play may run nowhere
            if not _depends(a, b):
                self.report.add(
                    "ordering",
                    b.source,
                    f"`{b.label}` after `{a.label}`",
                    "only textual order: no variable, module, path or handler in common"
                    + ("" if play_a == play_b else " (play boundary)"),
                )

    def _play_settings(self, play: Play, units: list[Unit]) -> None:
        serial = play.data.get("serial")
        if serial is None or serial in (0, "0"):
            return
        if isinstance(serial, int) and serial > 0:
            for unit in units:
                if not any(isinstance(s, Concurrency) for s in unit.body):
                    unit.body.insert(0, Concurrency(serial))
            self.report.add(
                "approximated",
                play.source,
                f"serial: {serial} -> concurrency {serial} on each task",
                "Ansible runs the whole play on one batch of hosts before the next; orchc caps each "
                "task at that many hosts at a time, so hosts of the next batch may start earlier",
            )
        else:
            self.report.add(
                "unsupported",
                play.source,
                f"serial: {serial}",
                "a computed, percentage or list batch size has no orchc equivalent; no limit is set",
            )

    def _tolerance(self, play: Play) -> int | str:
        if play.data.get("any_errors_fatal") in (True, "yes", "true"):
            self.report.add(
                "approximated",
                play.source,
                "any_errors_fatal -> tolerate 0",
                "orchc stops gracefully: running tasks finish, nothing new starts",
            )
            return 0
        percentage = play.data.get("max_fail_percentage")
        if isinstance(percentage, int):
            return f"{percentage}%"
        if percentage is not None:
            self.report.add(
                "unsupported",
                play.source,
                f"max_fail_percentage: {str(percentage).strip()}",
                "computed at run time; Ansible's default (failed hosts leave, others go on) is used",
            )
        return "100%"

    # --- output ---------------------------------------------------------------------------

    def _render(self, roles: dict[str, list[str]], tolerances: dict[str, list[int | str]]) -> str:
        lines = Lines(f"{self.project}.orch")
        lines.comment(f"Converted from {self.path.name} by `orchc migrate playbook`; see migration-report.md.")
        lines.blank()
        lines.comment(
            "A failed host fails the run, as ansible-playbook's exit status says (`orchc run --no-strict`: not)."
        )
        items: list[ast.Item] = [ast.StrictDecl(lines.next())]
        for role, services in roles.items():
            if services:  # as in Ansible, a play on a group the inventory lacks runs nowhere: `optional`
                tolerance = min(tolerances[role], key=lambda t: -1 if t == 0 else int(str(t).rstrip("%")))
                items.append(build.role(lines, role, services, tolerance))
        for name, units in self.services.items():
            if units:
                start = lines.next()
                items.append(build.service(lines, start, name, [self._task(lines, unit) for unit in units]))
        return lines.text(items)

    def _task(self, lines: Lines, unit: Unit) -> ast.TaskDecl:
        task = unit.tasks[0]
        lines.comment(f"{unit.source} {task.name}" + (f" (+{len(unit.tasks) - 1} more)" if len(unit.tasks) > 1 else ""))
        tags = [str(t) for t in _list(task.data.get("tags"))]
        if tags:
            lines.comment("tags: " + ", ".join(tags))
        return build.task(lines, unit.name, unit.ordering + unit.provides + unit.body, unit.once)

    def _copies(self, playbook: Playbook) -> dict[str, Path]:
        """Roles, and the files beside the playbooks that Ansible reads from there, copied as they are."""
        copies = {**self._extra_copies, **playbook.beside_playbook}
        for play in playbook.plays:
            for name in _list(play.data.get("vars_files")):
                if isinstance(name, str) and not is_templated(name) and (play.playbook_dir / name).is_file():
                    copies[f"ansible/{name}"] = play.playbook_dir / name
            for task in (t for segment in play.segments for t in segment.tasks):
                # an include kept whole (a loop over it) reads its file at run time, beside the generated playbook
                name = task.args.get("file", task.args.get("_raw_params"))
                if (
                    task.dynamic
                    and task.role is None
                    and task.module in INCLUDE_TASKS
                    and isinstance(name, str)
                    and not is_templated(name)
                    and not name.startswith("/")
                ):
                    found = task.task_file.parent / name
                    if found.is_file() and found.resolve().is_relative_to(play.playbook_dir.resolve()):
                        copies[f"ansible/{found.resolve().relative_to(play.playbook_dir.resolve()).as_posix()}"] = found
        for role in playbook.roles.values():
            copies[f"roles/{role.label}"] = role.path
            kinds = [kind for kind in ("defaults", "vars") if role_yaml(role, kind, self.loader)]
            if kinds:
                self.report.add(
                    "assumption",
                    f"{self.loader.shown(role_file(role, kinds[0], 'main'))}:1",
                    f"{' and '.join(kinds)} of role {role.label} stay in the role's copy",
                    "Ansible's precedence is kept (inventory values win over role defaults); as orchc "
                    "vars they would reach Ansible as extra vars and override everything",
                )
            meta = role_yaml(role, "meta", self.loader)
            if isinstance(meta, dict) and meta.get("dependencies"):
                # Dependencies are orchc services of their own, ordered before this one.
                self.generated.files[f"roles/{role.label}/meta/main.yml"] = dump_yaml({**meta, "dependencies": []})
        for folder in playbook.playbook_dirs:
            for sub in (
                "group_vars",
                "host_vars",
                "library",
                "module_utils",
                "filter_plugins",
                "action_plugins",
                "lookup_plugins",
                "files",
                "templates",
                "vars",
            ):
                if (folder / sub).is_dir() and f"ansible/{sub}" not in copies:
                    copies[f"ansible/{sub}"] = folder / sub
        return copies

    def _figures(self, chain: list[tuple[int, Unit]]) -> None:
        self.report.figures["orchc tasks"] = len(chain)
        self.report.figures["handlers"] = sum(1 for _, unit in chain if unit.handler is not None)
        self.report.figures["ordering edges"] = max(len(chain) - 1, 0)
        self.report.figures["ordering edges from textual order only"] = self.report.counts()["ordering"]


# --- helpers --------------------------------------------------------------------------------------


def _first_that_may_set(unnamed: list[tuple[list[str], int]], name: str) -> int | None:
    """Of the tasks that set templated names, the first that may have set `name`, among those whose known
    start of the name matches it best (`path_{{ item }}` before `{{ item }}` for `path_a`): each of them may
    have set it, so from that one on the tasks run together."""
    matches = [
        (max(len(p) for p in patterns if may_set([p], name)), at) for patterns, at in unnamed if may_set(patterns, name)
    ]
    best = max((length for length, _ in matches), default=0)
    return next((at for length, at in matches if length == best), None)


def _list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _may_notify(task: Task, handlers: dict[str, list[Handler]]) -> list[Handler]:
    """The handlers `task` may notify: by name or topic, itself, from a task of its block or of a file an
    include kept whole may pick."""
    notifying = [task.data, *block_tasks(task.data), *(c.data for c in task.candidate_tasks)]
    return [h for data in notifying for name in _list(data.get("notify")) for h in handlers.get(str(name), [])]


def _topics(tasks: list[Task]) -> list[str]:
    """Each handler's topic: its name, as `role : name` where the play has two of that name, unique."""
    names = [str(t.data.get("name") or next(iter(_list(t.data.get("listen"))), "handler")) for t in tasks]
    topics: list[str] = []
    for task, name in zip(tasks, names, strict=True):
        topic = f"{task.role.label} : {name}" if names.count(name) > 1 and task.role is not None else name
        unique, n = topic, 2
        while unique in topics:
            unique, n = f"{topic} ({n})", n + 1
        topics.append(unique)
    return topics


def _runs_once(task: Task) -> bool:
    return task.data.get("run_once") in (True, "yes", "true")


def _relative_name(notifier: Unit, unit: Unit) -> str:
    """How `unit` names a task of its play in `when notified`: by name in its service, else `service.task`."""
    return notifier.name if notifier.service == unit.service else f"{notifier.service}.{notifier.name}"


def _describe(unit: Unit) -> str:
    if unit.handler is not None:
        return f"handler '{unit.tasks[0].name}'"
    if len(unit.tasks) > 1:
        return f"{len(unit.tasks)} tasks sharing run-time variables"
    return "block with rescue/always" if "block" in unit.tasks[0].data else f"{unit.tasks[0].module}"


# Tasks whose effect reaches past their own task in Ansible: in orchc each runs alone.
_PLAY_WIDE = {
    "add_host": "adds hosts at run time; orchc places services by your inventory: add the hosts there",
    "meta": "meta actions other than flush_handlers act on the generated play only (end_play/end_host do not "
    "stop later orchc tasks)",
}

_WHY_KEYWORDS = {
    "when": "`when` is evaluated by Ansible at run time",
    "loop": "loop kept inside Ansible",
    "notify": "notifies a handler",
    "register": "registers a result",
    "delegate_to": "delegate_to",
    "changed_when": "changed_when",
    "failed_when": "failed_when",
    "ignore_errors": "ignore_errors",
    "until": "retries until a condition",
    "environment": "environment",
    "vars": "task vars",
    "become_user": "become_user",
    "rescue": "rescue",
    "always": "always",
    "async": "async",
}


def _why_wrapped(unit: Unit) -> str:
    if unit.handler is not None:
        return "the handler's task; it runs only if a task that notifies it reported its topic (`when notified`)"
    reasons = []
    for task in unit.tasks:
        if task.dynamic:
            reasons.append(f"{task.module} kept whole: {task.dynamic}")
        reasons += [why for key, why in _WHY_KEYWORDS.items() if key in task.data]
        reasons += ["loop kept inside Ansible" for key in task.data if str(key).startswith("with_")]
        if any("{{" in s or "{%" in s for s in strings(task.args)):
            reasons.append("arguments are templated at run time")
    if not reasons:
        reasons.append(_module_reason(unit.tasks[0]))
    return "; ".join(dict.fromkeys(reasons))


def _module_reason(task: Task) -> str:
    if task.module in ("set_fact", "include_vars", "add_host", "group_by"):
        return f"{task.module} changes what the rest of the play sees"
    if task.module == "command":
        return "the command module expands $VARIABLES and ~ in its arguments itself; `run` would differ"
    if "." not in str(task.module) and task.role is not None:
        return f"module {task.module} comes from the role's library or a collection the role names"
    if any(
        k in task.data
        for k in (
            "become_user",
            "become_method",
            "environment",
            "module_defaults",
            "remote_user",
            "connection",
            "collections",
        )
    ):
        return "play or task settings (become_user, environment, ...) stay with Ansible"
    return f"{task.module} has no exact orchc form in its arguments as written"


def _depends(a: Unit, b: Unit) -> bool:
    """True when b reads something a writes, uses the same module, or touches the same path."""
    if b.handler is not None or a.handler is not None:
        return True
    written = set().union(*(defines(t) for t in a.tasks))
    read = set().union(*(uses(t) for t in b.tasks))
    if written & read or any(defines_unknown(t) or "block" in t.data for t in a.tasks + b.tasks):
        return True
    if {t.module for t in a.tasks} & {t.module for t in b.tasks}:
        return True
    return share_path(set().union(*(touches(t) for t in a.tasks)), set().union(*(touches(t) for t in b.tasks)))
