"""`orchc` commands that run a Plan and look at runs: run, status, simulate, report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchc import exitcodes
from orchc.command import Command
from orchc.console import outlive_terminal, stderr
from orchc.inputs import (
    ExtraVarsOption,
    InventoryOption,
    ProjectArg,
    VarsFilesOption,
    input_values,
    is_plan_file,
    plan_of_inputs,
    writing,
)
from orchc.project import journal_spec

if TYPE_CHECKING:
    from rich.console import Console

    from orchc.api import RunOptions, Status
    from orchc.backends.history import InstanceHistory
    from orchc.backends.journal import Journal
    from orchc.backends.progress import ViewOptions
    from orchc.backends.runner import Observer, Verdict
    from orchc.plan import Plan

# The engine (orchc.api), the journal and rich's tables are imported by the
# commands that use them: every `orchc` start-up would otherwise pay for asyncio and rich.

EXIT_STATUS = {"succeeded": exitcodes.OK, "failed": exitcodes.DEPLOY_FAILED, "interrupted": exitcodes.INTERRUPTED}


class StrategyName(str, Enum):
    graph = "graph"
    steps = "steps"


def stdout_console() -> Console:
    """Stdout; tables are not squeezed to 80 columns when piped."""
    from rich.console import Console

    console = Console(file=outlive_terminal("stdout"), highlight=False)
    return console if console.is_terminal else Console(file=outlive_terminal("stdout"), highlight=False, width=200)


def fail(message: str, hint: str | None = None) -> typer.Exit:
    """Print an error that has no source position and give the exit for invalid input."""
    stderr().print(f"orchc: error: {message}", markup=False)
    if hint:
        stderr().print(f"  hint: {hint}", markup=False)
    return typer.Exit(exitcodes.INVALID_INPUT)


@contextmanager
def errors_printed() -> Iterator[None]:
    """orchc's errors that have no source position (a journal in use or damaged, a --limit that selects
    nothing, a transport that cannot load) printed for the user: exit 1."""
    from orchc.backends.journal import JournalError
    from orchc.backends.limit import LimitError
    from orchc.backends.shard import ShardError
    from orchc.backends.transports import TransportUnavailable

    try:
        yield
    except (JournalError, LimitError, ShardError) as exc:
        raise fail(str(exc), exc.hint) from None
    except TransportUnavailable as exc:
        raise fail(str(exc)) from None


def run(
    path: ProjectArg,
    inventory: InventoryOption = None,
    extra_vars: ExtraVarsOption = [],
    vars_files: VarsFilesOption = [],
    journal: str | None = typer.Option(
        None,
        "--journal",
        envvar="ORCHC_JOURNAL",
        help="Journal: a SQLite file [.orchc/journal.db], or a postgresql:// URL that several "
        "controllers share (runs of the same Plan there form one run).",
    ),
    strategy: StrategyName = typer.Option(
        StrategyName.graph, "--strategy", help="graph: as dependencies allow; steps: layers with barriers."
    ),
    forks: int = typer.Option(50, "--forks", min=1, help="Instances running at once, in all."),
    host_slots: int = typer.Option(1, "--host-slots", min=1, help="Instances running at once on one host."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would run and why; run nothing."),
    force: bool = typer.Option(False, "--force", help="Run instances that are up to date, too."),
    limit: str | None = typer.Option(
        None,
        "--limit",
        "-l",
        metavar="PATTERN",
        help="Run on these hosts only: host or role names or globs, separated by "
        "',' ('!' leaves out), as Ansible's --limit.",
    ),
    strict: bool | None = typer.Option(
        None,
        "--strict/--no-strict",
        help="Exit 3 if anything failed, even within a role's `tolerate` (as "
        "ansible-playbook fails on any host). Default: as the project says "
        "(`strict`, which migrated playbooks have).",
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Check mode, as in Ansible: commands are not run, files are "
        "compared, not written; the journal is not touched.",
    ),
    diff: bool = typer.Option(
        False,
        "--diff",
        help="Show a unified diff of each file a copy or template changes (with --check: would change).",
    ),
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        help="More output, as Ansible's: -v each ending's output, -vv what each instance runs, "
        "-vvv how hosts are reached.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Show failures and the summary only."),
    events: Path | None = typer.Option(None, "--events", help="Write every transition to FILE (JSON Lines)."),
    secrets: Path | None = typer.Option(None, "--secrets", help="YAML map of secret values."),
    accept_new_host_keys: bool = typer.Option(
        False, "--accept-new-host-keys", help="Trust and remember unknown SSH host keys."
    ),
    known_hosts: Path | None = typer.Option(
        None,
        "--known-hosts",
        metavar="FILE",
        help="SSH known_hosts file [host var orchc_known_hosts, else ~/.ssh/known_hosts].",
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        metavar="K/N",
        help="Shared run (PostgreSQL journal): take the K-th of N slices of the hosts, and the hosts of "
        "controllers that died. Default: take hosts as work comes.",
    ),
    lease: float = typer.Option(
        10.0,
        "--lease",
        min=0.5,
        metavar="SECONDS",
        help="Shared run: how long this controller's lease lasts without renewal before the others take its work.",
    ),
) -> None:
    """Run a deployment; resumes from the journal (what succeeded and did not change is skipped)."""
    from orchc import api
    from orchc.backends import progress
    from orchc.pinned import is_pinned, load_pinned

    pinned = None
    if is_plan_file(path) and is_pinned(path):  # `orchc plan -o`: exactly what it showed
        if limit is not None or force:
            raise fail(
                "a pinned plan runs with the --force and --limit it was made with",
                hint="leave them out, or make another plan with `orchc plan PATH --limit ... -o FILE`",
            )
        plan, pinned = load_pinned(path)
        limit, force = pinned.limit, pinned.force
    else:
        plan = plan_of_inputs(path, inventory, extra_vars, vars_files)
    options = api.RunOptions(
        diff=diff,
        journal=journal_spec(journal, path),
        strategy=strategy.value,
        forks=forks,
        host_slots=host_slots,
        force=force,
        limit=limit,
        strict=strict,
        check=check,
        secrets=input_values(extra_vars, vars_files),
        secrets_file=secrets,
        accept_new_host_keys=accept_new_host_keys,
        known_hosts=known_hosts,
        owns_process=True,
        shard=shard,
        lease_seconds=lease,
        pinned=pinned,
    )
    if dry_run:
        with errors_printed():
            _print_dry_run(plan, api.dry_run(plan, options))
        return
    console = stdout_console()
    view = progress.ViewOptions(
        verbosity=progress.QUIET if quiet else min(verbose, progress.CONNECTIONS),
        check_mode=check,
        diff=diff,
        strategy=strategy.value,
    )
    observers: list[Observer] = [_view(console, view, plan, options)]
    with errors_printed():
        if events is not None:
            try:
                observers.append(progress.EventsFile(events))
            except OSError as exc:
                raise fail(f"cannot write events to {events}: {exc.strerror or exc}") from None
        result = api.run(plan, options, observers)
    if check:
        console.print("check mode: nothing was changed on the hosts, and the journal was not touched")
    raise typer.Exit(EXIT_STATUS[result.outcome])


def _view(console: Console, view: ViewOptions, plan: Plan, options: RunOptions) -> Observer:
    """The live board on a terminal (its ETA primed with the journal's durations), else the plain log."""
    from orchc.backends import progress

    if view.verbosity == progress.QUIET or not console.is_terminal:
        return progress.PlainLog(console, view)
    from orchc.backends import simulate
    from orchc.backends.journal import journal_written
    from orchc.backends.live import LiveView

    prior = None
    spec = journal_spec(options.journal, plan)
    if journal_written(spec):
        with _journal(spec) as store:
            prior = simulate.durations_from_journal(store)
    return LiveView(console, view, prior, options.limits)


def _print_dry_run(plan: Plan, verdicts: list[Verdict]) -> None:
    from rich.table import Table

    from orchc.backends.progress import describe_action

    console = stdout_console()
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("instance", "host", "would", "why", "what"):
        table.add_column(column)
    runs = 0
    for v in verdicts:
        what = "; ".join(describe_action(a) for a in v.instance.actions) if v.runs else ""
        runs += v.runs
        table.add_row(
            v.instance.id, v.instance.host or "-", "[yellow]run[/]" if v.runs else "[cyan]skip[/]", v.reason, what
        )
    console.print(table)
    console.print(f"\n{runs} of {len(plan.instances)} instances would run (dry run: nothing was run)")


@contextmanager
def _journal(spec: str | Path, existing: bool = False) -> Iterator[Journal]:
    """The journal, open for the block (`existing`: one a run wrote). What is wrong with it (missing, in use,
    damaged, a server that does not answer) is the user's to fix: exit 1."""
    from orchc.backends.journal import existing_journal, open_journal

    with errors_printed():
        store = existing_journal(spec) if existing else open_journal(spec)
        try:
            yield store
        finally:
            store.close()


JournalOption = Annotated[
    str | None,
    typer.Option(
        "--journal",
        envvar="ORCHC_JOURNAL",
        help="Journal: a SQLite file (default: .orchc/journal.db in PATH) or a postgresql:// URL.",
    ),
]
WhereArg = Annotated[Path, typer.Argument(help="The project folder (or input file) whose journal to read.")]


def status(
    path: WhereArg = Path("."),
    journal: JournalOption = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only instances whose latest outcome is a failure.")] = False,
    host: Annotated[
        list[str], typer.Option("--host", metavar="HOST", help="Only these hosts (names or globs; repeatable).")
    ] = [],
    role: Annotated[list[str], typer.Option("--role", metavar="ROLE", help="Only the hosts of these roles.")] = [],
    run_id: Annotated[
        int | None, typer.Option("--run", metavar="N", help="As the journal stood when run N ended.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one object per instance).")] = False,
) -> None:
    """Show each instance's latest real outcome (a skip does not hide it) and when it last changed."""
    from orchc import api

    with errors_printed():
        read = api.status(journal_spec(journal, path), up_to_run=run_id)
    if run_id is not None and (read.last_run is None or read.last_run.id != run_id):
        raise fail(f"the journal has no run {run_id}", hint=f"runs in the journal: {_run_ids(read)}")
    chosen = _chosen_instances(read, failed, host, role)
    if as_json:
        typer.echo(json.dumps([_status_object(iid, read.histories[iid]) for iid in chosen], indent=2))
        return
    _print_status(read, chosen)


def _run_ids(read: Status) -> str:
    return ", ".join(str(r.id) for r in read.runs) or "none"


def _chosen_instances(read: Status, failed: bool, hosts: list[str], roles: list[str]) -> list[str]:
    """The instances the filters keep, hosts grouped by role, then instances by name."""
    import fnmatch

    from orchc.backends.host_groups import host_order, natural_key

    graph = read.graph
    if roles:
        known = graph.roles if graph is not None else {}
        unknown = [r for r in roles if r not in known]
        if unknown:
            raise fail(
                f"no role {', '.join(map(repr, unknown))} in the last run's Plan",
                hint=f"roles: {', '.join(known) or 'none recorded (the run was made by an older orchc)'}",
            )
    role_hosts = {h for r in roles for h in graph.roles[r]} if graph is not None and roles else None
    order = host_order(graph.hosts, graph.roles.items()) if graph is not None else {}

    def kept(iid: str) -> bool:
        history = read.histories[iid]
        where = history.outcome.host or ""
        return (
            (not failed or history.outcome.state.is_failure)
            and (not hosts or any(fnmatch.fnmatchcase(where, pattern) for pattern in hosts))
            and (role_hosts is None or where in role_hosts)
        )

    def place(iid: str) -> tuple[int, tuple[tuple[int, int | str], ...], str]:
        where = read.histories[iid].outcome.host or ""
        return order.get(where, len(order)), natural_key(where), iid

    return sorted(filter(kept, read.histories), key=place)


def _status_object(iid: str, history: InstanceHistory) -> dict[str, Any]:
    t, changed = history.outcome, history.changed
    return {
        "instance": iid,
        "host": t.host,
        "state": str(t.state),
        "run": t.run,
        "time": _iso(t.time),
        "attempts": t.attempt,
        "duration": None if history.duration is None else round(history.duration, 3),
        "message": t.message,
        "last_changed": None if changed is None else {"run": changed.run, "time": _iso(changed.time)},
        "latest": {"run": history.latest.run, "state": str(history.latest.state), "message": history.latest.message},
    }


def _iso(epoch: float) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _print_status(read: Status, chosen: list[str]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from orchc.backends.progress import STATE_STYLES, STATE_WORDS, duration

    console = stdout_console()
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("instance", "host", "state", "attempts", "duration", "when", "run", "last changed", "since"):
        table.add_column(column)
    table.add_column("message", overflow="fold")
    for iid in chosen:
        history = read.histories[iid]
        t = history.outcome
        style = STATE_STYLES.get(t.state, "")
        word = STATE_WORDS[t.state]
        table.add_row(
            iid,
            t.host or "-",
            f"[{style}]{word}[/]" if style else word,
            str(t.attempt or ""),
            duration(history.duration) if history.duration is not None else "",
            _local(t.time),
            str(t.run),
            _last_changed(history),
            escape(history.since_outcome),
            escape(t.message),
        )
    console.print(table)
    shown = len(chosen)
    if shown != len(read.histories):
        console.print(f"\n{shown} of {len(read.histories)} instances shown", markup=False)
    last = read.last_run
    if last is not None:
        console.print(
            f"\nlast run {last.id}: {last.outcome or 'did not end (crashed, or still running)'}", markup=False
        )
        for note in last.notes:
            console.print(f"  {note}", markup=False)


def _last_changed(history: InstanceHistory) -> str:
    changed = history.changed
    if changed is None:
        return "never"
    return f"run {changed.run}" if changed is history.outcome else f"run {changed.run}, {_local(changed.time)}"


def _local(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def simulate(
    path: ProjectArg,
    inventory: InventoryOption = None,
    extra_vars: ExtraVarsOption = [],
    vars_files: VarsFilesOption = [],
    journal: JournalOption = None,
    durations: Annotated[
        Path | None,
        typer.Option(
            "--durations", help="YAML/JSON map of instance or task id to seconds (40) or a duration (30s, 1m30s)."
        ),
    ] = None,
    forks: int = typer.Option(50, "--forks", min=1),
    host_slots: int = typer.Option(1, "--host-slots", min=1),
) -> None:
    """Simulate the run: makespan of graph and steps against the lower bound."""
    from orchc.api import check_plan
    from orchc.backends import simulate as sim
    from orchc.dsl.diagnostics import SourceCache, render_all
    from orchc.durations import durations_from_file

    plan = plan_of_inputs(path, inventory, extra_vars, vars_files)
    check_plan(plan)
    chosen: sim.Durations | None
    if durations is not None:
        from_file = durations_from_file(durations)
        unknown = from_file.unknown_ids(plan)
        if unknown:
            stderr().print(render_all(unknown, SourceCache()), markup=False)
        chosen = from_file.durations
    else:
        spec = journal_spec(journal, path)
        chosen = None
        if not isinstance(spec, Path) or spec.is_file():
            with _journal(spec) as store:
                chosen = sim.durations_from_journal(store)
        chosen = chosen or sim.Durations({}, f"the default ({sim.DEFAULT_SECONDS:g}s each)")
    typer.echo(sim.format_simulation(plan, sim.simulate(plan, chosen, host_slots=host_slots, forks=forks)))


def report(
    path: WhereArg = Path("."),
    journal: JournalOption = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path("report.html"),
    run_id: Annotated[
        int | None, typer.Option("--run", help="Only this run; default: every run, the last shown.")
    ] = None,
) -> None:
    """Write an HTML report of the journal's runs: timeline per host, critical path, failures, task durations."""
    from orchc.backends.report import journal_report

    with _journal(journal_spec(journal, path), existing=True) as store:
        runs = store.runs()
        chosen = [r for r in runs if run_id is None or r.id == run_id]
        if not chosen:
            raise fail(
                f"the journal has no run {run_id}" if run_id is not None else "the journal has no run yet",
                hint=f"runs in the journal: {', '.join(str(r.id) for r in runs) or 'none'}",
            )
        text = journal_report(store, chosen)
    with writing(output):
        output.write_text(text, encoding="utf-8")
    which = (
        f"run {chosen[0].id}" if len(chosen) == 1 else f"runs {chosen[0].id}-{chosen[-1].id}, run {chosen[-1].id} shown"
    )
    size = len(text.encode())
    typer.echo(f"wrote {output} ({which}; {size / 1e6:.1f} MB)" if size >= 1e5 else f"wrote {output} ({which})")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command(cls=Command)(run)
    app.command(cls=Command)(status)
    app.command(cls=Command)(simulate)
    app.command(cls=Command)(report)
