"""What a run shows while it runs and when it ends.

- `LiveView`: on a terminal, a rich table redrawn in place — per host its
  current task and done/total — under a line with done/total, failures so far,
  elapsed time and an ETA.
- `PlainLog`: when stdout is not a terminal (CI, pipes), one line per event:
  `[ 12/40] changed   keystone.install@ctl1 (2.3s)`.
- `EventsFile`: `--events FILE`, one JSON object per transition (JSON Lines).
- `print_summary`: at the end, counts per state, hosts that left, and for each
  failed instance its message and the tail of its stderr — like ninja, failure
  output is shown next to what failed, not interleaved.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchc.backends.journal import Transition
from orchc.backends.runner import RunResult
from orchc.backends.state import State
from orchc.plan import Plan

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
STDERR_TAIL_LINES = 12
STILL_RUNNING_SHOWN = 5
LATEST_LINE_SHOWN = 80  # characters of a running instance's latest output line in the live view


class Tally:
    """Counts shared by the views: latest state per instance, done/total, timings."""

    def __init__(self, plan: Plan) -> None:
        self.total = len(plan.instances)
        self.started = time.monotonic()
        self.state: dict[str, State] = {}
        self.done = 0
        self.failures = 0
        self.running_since: dict[str, float] = {}

    def update(self, t: Transition) -> None:
        before = self.state.get(t.instance)
        self.state[t.instance] = t.state
        self.done += t.state.is_final - (before is not None and before.is_final)
        self.failures += t.state.is_own_failure - (before is not None and before.is_own_failure)
        if t.state == State.RUNNING:
            self.running_since.setdefault(t.instance, time.monotonic())

    def took(self, instance: str) -> float | None:
        since = self.running_since.get(instance)
        return None if since is None else time.monotonic() - since

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def eta(self) -> float | None:
        if not self.done or self.done >= self.total:
            return None
        return self.elapsed / self.done * (self.total - self.done)


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class PlainLog:
    """One line per transition, for logs and pipes."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def run_started(self, plan: Plan, run_id: int) -> None:
        self.tally = Tally(plan)
        self.console.print(f"run {run_id}: {self.tally.total} instances on {len(plan.hosts)} hosts", markup=False)

    def transition(self, t: Transition) -> None:
        # Written as plain text: this runs once per transition, and rich's
        # rendering of each line cost a third of a large run's time.
        self.tally.update(t)
        took = self.tally.took(t.instance) if t.state.is_final else None
        width = len(str(self.tally.total))
        line = f"[{self.tally.done:>{width}}/{self.tally.total}] {t.state:<11} {t.instance}"
        if t.attempt > 1 and t.state == State.RUNNING:
            line += f" (attempt {t.attempt})"
        if took is not None:
            line += f" ({duration(took)})"
        if t.message:
            line += f"  {t.message}"
        self.console.file.write(line + "\n")

    def notice(self, message: str) -> None:
        self.console.print(Text(message, style="bold yellow"))

    def still_running(self, instances: list[tuple[str, float]]) -> None:
        shown = ", ".join(f"{iid} ({duration(seconds)})" for iid, seconds in instances[:STILL_RUNNING_SHOWN])
        more = len(instances) - STILL_RUNNING_SHOWN
        self.console.print(Text(f"still running: {shown}" + (f" (+{more} more)" if more > 0 else ""), style="dim"))

    def output(self, instance: str, line: str) -> None:
        """A log keeps to transitions: the journal has each instance's output."""

    def run_ended(self, result: RunResult) -> None:
        print_summary(self.console, result)


class LiveView:
    """A table redrawn in place on a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def run_started(self, plan: Plan, run_id: int) -> None:
        self.run_id = run_id
        self.tally = Tally(plan)
        self.hosts = [h.name for h in plan.hosts]
        self.host_total = Counter(inst.host for inst in plan.instances if inst.host)
        self.host_done: Counter[str] = Counter()
        self.current: dict[str, str] = {}  # host → instance running there (the latest started)
        self.latest: dict[str, str] = {}  # running instance → the latest line it printed
        self.host_of: dict[str, str | None] = {}
        self.live = Live(
            self._render(), console=self.console, refresh_per_second=4, transient=True, get_renderable=self._render
        )
        self.live.start()

    def transition(self, t: Transition) -> None:
        before = self.tally.state.get(t.instance)
        self.tally.update(t)
        if t.host:
            if t.state.is_final and not (before is not None and before.is_final):
                self.host_done[t.host] += 1
            if t.state == State.RUNNING:
                self.current[t.host] = t.instance
            elif self.current.get(t.host) == t.instance:
                del self.current[t.host]
        if t.state != State.RUNNING:
            self.latest.pop(t.instance, None)
        if t.state.is_own_failure:
            self.live.console.print(Text(f"{t.state}: {t.instance}  {t.message}", style=STATE_STYLES[t.state]))

    def notice(self, message: str) -> None:
        self.live.console.print(Text(message, style="bold yellow"))

    def still_running(self, instances: list[tuple[str, float]]) -> None:
        """The live table already shows what runs."""

    def output(self, instance: str, line: str) -> None:
        self.latest[instance] = line

    def run_ended(self, result: RunResult) -> None:
        self.live.stop()
        print_summary(self.console, result)

    def _render(self) -> Group:
        tally = self.tally
        eta = tally.eta
        head = Text(f"run {self.run_id}  {tally.done}/{tally.total} done  ")
        head.append(f"{tally.failures} failed", style="bold red" if tally.failures else "green")
        head.append(f"  elapsed {duration(tally.elapsed)}" + (f"  ETA {duration(eta)}" if eta else ""))
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("host")
        table.add_column("done", justify="right")
        table.add_column("running")
        for host in self.hosts:
            running = self.current.get(host, "")
            cell = Text(running, style="blue") if running else Text("idle", style="dim")
            if running in self.latest:
                cell.append(f"  › {self.latest[running][:LATEST_LINE_SHOWN]}", style="dim")
            table.add_row(host, f"{self.host_done[host]}/{self.host_total[host]}", cell)
        return Group(head, table)


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

    def notice(self, message: str) -> None:
        self._write({"event": "notice", "message": message})

    def still_running(self, instances: list[tuple[str, float]]) -> None:
        self._write({"event": "still_running", "instances": {iid: round(s, 1) for iid, s in instances}})

    def output(self, instance: str, line: str) -> None:
        """Events are transitions: the journal has each instance's output."""

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


def print_summary(console: Console, result: RunResult) -> None:
    for t in result.failures:
        if t.state == State.DEP_FAILED:
            continue
        console.print(Text(f"\n{t.state}: {t.instance}", style=STATE_STYLES[t.state]))
        if t.message:
            console.print(f"  {t.message}", markup=False, highlight=False)
        lines = (t.stderr_tail or t.stdout_tail).rstrip("\n").splitlines()[-STDERR_TAIL_LINES:]
        for line in lines:
            console.print(f"  | {line}", markup=False, highlight=False)
    counts = Counter(result.states.values())
    parts = Text("\n")
    for state in (state for state in State if state.is_final):
        if counts[state]:
            parts.append(f"{state} {counts[state]}", style=STATE_STYLES[state])
            parts.append("  ")
    console.print(parts)
    for note in result.notes:
        console.print(Text(note, style="red" if note.startswith("stopped") else "yellow"))
    style = {"succeeded": "bold green", "failed": "bold red", "interrupted": "bold yellow"}[result.outcome]
    tail = {"succeeded": "", "failed": "", "interrupted": " — run `orchc run` again to resume"}[result.outcome]
    console.print(Text(f"run {result.run_id} {result.outcome} after {duration(result.elapsed)}{tail}", style=style))
