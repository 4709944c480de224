"""What a run shows while it runs and when it ends.

- `LiveView` (in `live`): on a terminal, a board redrawn in place.
- `PlainLog`: when stdout is not a terminal (CI, pipes), or with `-q`, one line per event:
  `[ 12/40] changed   keystone.install@ctl1 (2.3s)`.
- `EventsFile`: `--events FILE`, one JSON object per transition (JSON Lines).
- `print_summary`: at the end, counts per state, hosts that left, the outcome.

Verbosity, as Ansible's: `-q` shows failures and the summary only; the default
one line per ending; `-v` adds each ending's output; `-vv` what each instance
runs as it starts; `-vvv` how each host is reached. A failure's message and
output are shown once, when it fails — like ninja, next to what failed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.text import Text

from orchc.backends.engine import Scheduler
from orchc.backends.journal import Transition
from orchc.backends.runner import RunResult
from orchc.backends.state import State
from orchc.plan import Action, Host, Plan

STATE_STYLES = {
    State.OK: "green",
    State.CHANGED: "yellow",
    State.SKIPPED: "cyan",
    State.FAILED: "bold red",
    State.DEP_FAILED: "red",
    State.UNREACHABLE: "bold magenta",
    State.RUNNING: "blue",
    State.PENDING: "dim",
}
# The states as people read them; the journal and the JSON events keep the words of `State`.
STATE_WORDS = {
    State.PENDING: "waiting",
    State.READY: "ready",
    State.RUNNING: "running",
    State.OK: "ok",
    State.CHANGED: "changed",
    State.SKIPPED: "skipped",
    State.FAILED: "failed",
    State.DEP_FAILED: "not run (dependency failed)",
    State.UNREACHABLE: "unreachable",
}
STDERR_TAIL_LINES = 12
STILL_RUNNING_SHOWN = 5

QUIET, NORMAL, VERBOSE, ACTIONS, CONNECTIONS = -1, 0, 1, 2, 3


@dataclass(frozen=True)
class ViewOptions:
    """How much a run shows (`-q`, `-v`...), and what kind of run it is."""

    verbosity: int = NORMAL
    check_mode: bool = False  # a check run is not in the journal: it has no number
    diff: bool = False
    strategy: str = "graph"

    def run_name(self, run_id: int) -> str:
        return "check run" if self.check_mode else f"run {run_id}"

    def run_title(self, run_id: int) -> str:
        return "check run (not recorded in the journal)" if self.check_mode else f"run {run_id}"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def describe_action(action: Action) -> str:
    """One line saying what an action does."""
    if action.kind == "run":
        first = action.command.strip().splitlines()[0] if action.command.strip() else ""
        return f"run {first[:60]}"
    if action.kind in ("copy", "template"):
        return f"{action.kind} {action.src} -> {action.dest}"
    if action.kind == "playbook":
        return f"playbook {action.path}"
    return f"{action.kind} {getattr(action, 'module', getattr(action, 'name', ''))}"


def describe_host(host: Host) -> str:
    """How a host is reached (`-vvv`)."""
    if host.connection == "local":
        return "local connection"
    user = f"{host.user}@" if host.user else ""
    return f"ssh {user}{host.address}" + (f":{host.port}" if host.port else "")


class Tally:
    """Counts shared by the views: latest state per instance, done/total, timings."""

    def __init__(self, plan: Plan) -> None:
        self.total = len(plan.instances)
        self.started = time.monotonic()
        self.state: dict[str, State] = {}
        self.done = 0
        self.elsewhere = 0  # of `done`, ended by the other controllers of a shared run
        self.failures = 0
        self.running_since: dict[str, float] = {}

    def update(self, t: Transition, elsewhere: bool = False) -> None:
        before = self.state.get(t.instance)
        self.state[t.instance] = t.state
        was_final = before is not None and before.is_final
        self.done += t.state.is_final - was_final
        self.elsewhere += elsewhere and t.state.is_final and not was_final
        self.failures += t.state.is_own_failure - (before is not None and before.is_own_failure)
        if t.state == State.RUNNING:
            self.running_since.setdefault(t.instance, time.monotonic())

    def took(self, instance: str) -> float | None:
        since = self.running_since.get(instance)
        return None if since is None else time.monotonic() - since

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Steps:
    """`--strategy steps`: the step (barrier layer) a run is in — the earliest layer with work not ended."""

    def __init__(self, plan: Plan) -> None:
        scheduler = Scheduler(plan)
        self.layer = dict(zip(scheduler.ids, scheduler.layer, strict=True))
        self.count = max(self.layer.values(), default=-1) + 1
        self._left = Counter(self.layer.values())
        self.current = 0

    def ended(self, instance: str) -> bool:
        """Note an instance's ending; True if the run moved to a later step."""
        self._left[self.layer[instance]] -= 1
        before = self.current
        while self.current < self.count - 1 and self._left[self.current] == 0:
            self.current += 1
        return self.current != before

    @property
    def marker(self) -> str:
        return f"step {self.current + 1}/{self.count}"


def failure_lines(t: Transition) -> list[str]:
    """What a failure shows, once: its message and the tail of its output."""
    lines = [f"  {t.message}"] if t.message else []
    tail = (t.stderr_tail or t.stdout_tail).rstrip("\n").splitlines()[-STDERR_TAIL_LINES:]
    return lines + [f"  | {line}" for line in tail]


def output_lines(t: Transition) -> list[str]:
    """An ending's whole output tail (`-v`)."""
    return [f"  | {line}" for line in (t.stdout_tail + t.stderr_tail).rstrip("\n").splitlines()]


def diff_text(diff: str) -> Text:
    text = Text()
    for line in diff.rstrip("\n").splitlines(keepends=True):
        style = (
            "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" if line[:1] == "@" else ""
        )
        text.append(line, style=style)
    return text


class PlainLog:
    """One line per transition, for logs and pipes (with -q: failures and the summary only)."""

    def __init__(self, console: Console, options: ViewOptions = ViewOptions()) -> None:
        self.console = console
        self.options = options

    def run_started(self, plan: Plan, run_id: int) -> None:
        self.tally = Tally(plan)
        self.instances = {inst.id: inst for inst in plan.instances}
        self.hosts = {h.name: h for h in plan.hosts}
        self.hosts_described: set[str] = set()
        self.steps = Steps(plan) if self.options.strategy == "steps" else None
        self.run_id = run_id
        self.console.print(
            f"{self.options.run_title(run_id)}: {self.tally.total} instances on {len(plan.hosts)} hosts", markup=False
        )
        if self.steps is not None:
            self._write(f"--- {self.steps.marker} ---")

    def _write(self, line: str) -> None:
        # Plain text: this runs once per transition, and rich's rendering of each line cost a third of a
        # large run's time.
        self.console.file.write(line + "\n")

    def transition(self, t: Transition) -> None:
        self.tally.update(t)
        verbosity = self.options.verbosity
        if verbosity == QUIET and not t.state.is_own_failure:
            return
        took = self.tally.took(t.instance) if t.state.is_final else None
        width = len(str(self.tally.total))
        line = f"[{self.tally.done:>{width}}/{self.tally.total}] {STATE_WORDS[t.state]:<11} {t.instance}"
        if t.attempt > 1 and t.state == State.RUNNING:
            line += f" (attempt {t.attempt})"
        if took is not None:
            line += f" ({duration(took)})"
        if t.message and not t.state.is_own_failure:
            line += f"  {t.message}"
        self._write(line)
        if t.state.is_own_failure:
            for extra in failure_lines(t):
                self._write(extra)
        elif verbosity >= VERBOSE and t.state.ran:
            for extra in output_lines(t):
                self._write(extra)
        if t.state == State.RUNNING and verbosity >= ACTIONS:
            self._describe_start(t)
        if self.steps is not None and t.state.is_final and self.steps.ended(t.instance):
            self._write(f"--- {self.steps.marker} (every instance of the step before ended) ---")

    def ended_elsewhere(self, t: Transition) -> None:
        """Counted: the log keeps to what this controller did."""
        self.tally.update(t, elsewhere=True)

    def _describe_start(self, t: Transition) -> None:
        if self.options.verbosity >= CONNECTIONS and t.host and t.host not in self.hosts_described:
            self.hosts_described.add(t.host)
            self._write(f"  {t.host}: {describe_host(self.hosts[t.host])}")
        for action in self.instances[t.instance].actions:
            self._write(f"  - {describe_action(action)}")

    def notice(self, message: str) -> None:
        self.console.print(Text(message, style="bold yellow"))

    def still_running(self, instances: list[tuple[str, float]]) -> None:
        if self.options.verbosity == QUIET:
            return
        shown = ", ".join(f"{iid} ({duration(seconds)})" for iid, seconds in instances[:STILL_RUNNING_SHOWN])
        more = len(instances) - STILL_RUNNING_SHOWN
        self.console.print(Text(f"still running: {shown}" + (f" (+{more} more)" if more > 0 else ""), style="dim"))

    def output(self, instance: str, line: str) -> None:
        """A log keeps to transitions: the journal has each instance's output."""

    def diff(self, instance: str, text: str) -> None:
        if self.options.verbosity > QUIET:
            self.console.print(Text(f"{instance}:", style="bold"), diff_text(text), sep="\n")

    def run_ended(self, result: RunResult) -> None:
        print_summary(self.console, result, self.options)


class EventsFile:
    """`--events FILE`: one JSON object per transition."""

    def __init__(self, path: Path) -> None:
        self.out: IO[str] = path.open("a", encoding="utf-8")

    def run_started(self, plan: Plan, run_id: int) -> None:
        self._write({"event": "run_started", "run": run_id, "instances": len(plan.instances)})

    def transition(self, t: Transition) -> None:
        self._write(
            {
                "event": "transition",
                "run": t.run,
                "instance": t.instance,
                "host": t.host,
                "state": t.state,
                "attempt": t.attempt,
                "rc": t.rc,
                "message": t.message,
                "time": t.time,
            }
        )

    def ended_elsewhere(self, t: Transition) -> None:
        """The events are this controller's: the journal has the whole run."""

    def notice(self, message: str) -> None:
        self._write({"event": "notice", "message": message})

    def still_running(self, instances: list[tuple[str, float]]) -> None:
        self._write({"event": "still_running", "instances": {iid: round(s, 1) for iid, s in instances}})

    def output(self, instance: str, line: str) -> None:
        """Events are transitions: the journal has each instance's output."""

    def diff(self, instance: str, text: str) -> None:
        self._write({"event": "diff", "instance": instance, "diff": text})

    def run_ended(self, result: RunResult) -> None:
        counts = Counter(result.states.values())
        self._write(
            {
                "event": "run_ended",
                "run": result.run_id,
                "outcome": result.outcome,
                "elapsed": round(result.elapsed, 3),
                "counts": dict(sorted(counts.items())),
                "left_hosts": result.left_hosts,
            }
        )
        self.out.close()

    def _write(self, obj: dict) -> None:
        obj.setdefault("time", time.time())
        obj["timestamp"] = datetime.fromtimestamp(obj["time"], UTC).isoformat(timespec="milliseconds")
        self.out.write(json.dumps(obj, sort_keys=True) + "\n")
        self.out.flush()


def print_summary(console: Console, result: RunResult, options: ViewOptions = ViewOptions()) -> None:
    """Counts per state (in words), the notes, the outcome; each failure was shown when it happened."""
    counts = Counter(result.states.values())
    parts = Text("\n")
    for state in (state for state in State if state.is_final):
        if counts[state]:
            parts.append(f"{STATE_WORDS[state]} {counts[state]}", style=STATE_STYLES[state])
            parts.append("  ")
    console.print(parts)
    for note in result.notes:
        console.print(Text(note, style="red" if note.startswith("stopped") else "yellow"))
    style = {"succeeded": "bold green", "failed": "bold red", "interrupted": "bold yellow"}[result.outcome]
    tail = {"succeeded": "", "failed": "", "interrupted": " — run `orchc run` again to resume"}[result.outcome]
    name = options.run_name(result.run_id)
    console.print(Text(f"{name} {result.outcome} after {duration(result.elapsed)}{tail}", style=style))
