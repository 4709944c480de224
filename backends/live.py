"""The live view of `orchc run` on a terminal: a board redrawn in place, from 5 hosts to a thousand.

    run 3  412/1040 done  1 failed  elapsed 1m02s  ETA 2m10s
    controller  3 hosts: 1 running, 2 waiting
      controller1  ▶ keystone.start        12.3s  › Starting httpd
      controller2  … waiting for mariadb.bootstrap on controller1 (running 4.1s)
    compute  60 hosts: 40 done, 12 running, 1 failed, 7 waiting
      compute7     ✗ nova_compute.install  exit status 1: no space left on device
      compute40    ▶ nova_compute.install   3.1s  › Unpacking nova-compute
      … 11 more running, 7 waiting

Hosts are grouped by role (natural order within a role). The screen has
room for so many rows: they go first to running hosts (longest running first),
then failed ones, then waiting ones; the rest are counted on their role's
line. A waiting host names what it waits for, following its next instance's
dependencies down to the one that holds it back. Failures, notices and (with
`-v`) outputs are printed above the board, once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from orchc.backends.engine import Limits
from orchc.backends.eta import Eta
from orchc.backends.host_groups import group_by_role
from orchc.backends.journal import Transition
from orchc.backends.notify import skipped_as_not_notified
from orchc.backends.progress import (
    STATE_STYLES,
    VERBOSE,
    Steps,
    Tally,
    ViewOptions,
    describe_action,
    diff_text,
    duration,
    failure_lines,
    output_lines,
    print_summary,
)
from orchc.backends.runner import RunResult
from orchc.backends.simulate import Durations
from orchc.backends.state import SUCCESS_STATES, State
from orchc.plan import Plan

ETA_EVERY = 1.0  # seconds between two estimates at least (each walks what is left of the Plan)
ETA_SHARE = 0.05  # at most this share of the time goes to estimates: a large Plan's are further apart
FAILED_SHARE = 4  # failed hosts take at most 1/4 of the rows before the running ones, the rest after them
LINES_KEPT_FREE = 2  # below the board: the cursor's line, and one for rich's redraw
BLOCKER_DEPTH = 50
# What a host is doing, as its role's line counts it, and in which style.
KINDS = {
    "done": ("done", "green"),
    "running": ("running", "blue"),
    "failed": ("failed", "bold red"),
    "waiting": ("waiting", "dim"),
    "elsewhere": ("on other controllers", "cyan"),
}


@dataclass
class Row:
    host: str
    kind: str  # "running", "failed", "waiting" (done hosts and those on other controllers get no row)
    rank: float  # lower first: how much the row matters


class Board:
    """What the live view shows, kept up to date by transitions; `lines(height, width)` renders it."""

    def __init__(self, plan: Plan) -> None:
        self.groups = group_by_role([h.name for h in plan.hosts], ((r.name, r.hosts) for r in plan.roles))
        self.instances = {inst.id: inst for inst in plan.instances}
        self.task_of = {inst.id: inst.task for inst in plan.instances}
        self.deps = {inst.id: [*inst.deps, *(m for group in inst.any_of for m in group)] for inst in plan.instances}
        self.on_host: dict[str, list[str]] = {h.name: [] for h in plan.hosts}
        for inst in plan.instances:
            if inst.host in self.on_host:
                self.on_host[inst.host].append(inst.id)
        self.next_index = dict.fromkeys(self.on_host, 0)  # the host's first instance that may not have ended
        self.state: dict[str, State] = {}
        self.running: dict[str, dict[str, float]] = {h: {} for h in self.on_host}  # host → instance → since
        self.running_on: dict[str, str] = {}  # running instance → its host
        self.started: dict[str, float] = {}
        self.failed: dict[str, Transition] = {}  # host → its first own failure
        self.latest: dict[str, str] = {}  # running instance → the latest line it printed
        self.elsewhere: set[str] = set()  # a shared run: hosts that another controller works on

    def update(self, t: Transition, now: float, elsewhere: bool = False) -> None:
        self.state[t.instance] = t.state
        host = t.host
        if host is not None and elsewhere:
            self.elsewhere.add(host)
        elif host is not None and t.state == State.RUNNING:
            self.elsewhere.discard(host)  # taken over from a controller that left
        was_on = self.running_on.pop(t.instance, None)
        if was_on is not None:
            del self.running[was_on][t.instance]
        if t.state == State.RUNNING:
            self.started.setdefault(t.instance, now)
            if host in self.running:
                self.running[host][t.instance] = self.started[t.instance]
                self.running_on[t.instance] = host
        else:
            self.latest.pop(t.instance, None)
        if t.state.is_own_failure and host is not None:
            self.failed.setdefault(host, t)

    def _next_instance(self, host: str) -> str | None:
        """The host's first instance (in Plan order) that has not ended, if any."""
        ids, k = self.on_host[host], self.next_index[host]
        while k < len(ids) and self.state.get(ids[k], State.PENDING).is_final:
            k += 1
        self.next_index[host] = k
        return ids[k] if k < len(ids) else None

    def kind(self, host: str) -> str:
        if host in self.failed:
            return "failed"
        if self.running[host]:
            return "running"
        if self._next_instance(host) is None:
            return "done"
        return "elsewhere" if host in self.elsewhere else "waiting"

    def waiting_for(self, host: str, now: float) -> str:
        """What the host's next instance waits for, down to what holds it back."""
        iid = self._next_instance(host)
        if iid is None:
            return ""
        first = self._unmet(iid)
        if first is None:
            return f"{self.task_of[iid]} ready, waiting for a free slot"
        deepest, seen = first, {first}
        while len(seen) < BLOCKER_DEPTH and self.state.get(deepest, State.PENDING) == State.PENDING:
            below = self._unmet(deepest)
            if below is None or below in seen:
                break
            deepest = below
            seen.add(deepest)
        text = f"waiting for {self._name(first)}"
        if deepest != first:
            text += f" ← {self._name(deepest)}"
        return text + self._how(deepest, now)

    def _unmet(self, iid: str) -> str | None:
        return next((d for d in self.deps[iid] if self.state.get(d) not in SUCCESS_STATES), None)

    def _name(self, iid: str) -> str:
        inst = self.instances[iid]
        return inst.task if inst.host is None else f"{inst.task} on {inst.host}"

    def _how(self, iid: str, now: float) -> str:
        state = self.state.get(iid, State.PENDING)
        if state == State.RUNNING:
            return f" (running {duration(now - self.started.get(iid, now))})"
        if state == State.PENDING and self._unmet(iid) is None:
            return " (ready)"
        return f" ({state})" if state != State.PENDING else ""

    def lines(self, height: int, width: int, now: float) -> list[Text]:
        """The board in at most `height` lines."""
        kinds = {host: self.kind(host) for _, hosts in self.groups for host in hosts}
        room = max(height - 2 * len(self.groups), 0)
        shown = {row.host for row in self._ranked_rows(kinds, now, room)[:room]}
        out: list[Text] = []
        for role, hosts in self.groups:
            counts = {kind: sum(kinds[h] == kind for h in hosts) for kind in KINDS}
            out.append(_role_line(role, len(hosts), counts))
            chosen = [h for h in hosts if h in shown]
            chosen.sort(key=lambda h: ("failed", "running", "waiting").index(kinds[h]))
            name_width = max((len(h) for h in chosen), default=0)
            for host in chosen:
                out.append(self._row(host, kinds[host], name_width, width, now))
            hidden = {kind: sum(1 for h in hosts if kinds[h] == kind and h not in shown) for kind in counts}
            hidden["done"] = hidden["elsewhere"] = 0
            if sum(hidden.values()):
                parts = ", ".join(f"{n} {KINDS[kind][0]}" for kind, n in hidden.items() if n)
                out.append(Text(f"  … and {sum(hidden.values())} more: {parts}", style="dim"))
        return out[:height]

    def _ranked_rows(self, kinds: dict[str, str], now: float, room: int) -> list[Row]:
        """Rows best first: failed hosts up to a share of the room, running ones (longest first), the other
        failed ones, waiting ones."""
        failed = [host for host, kind in kinds.items() if kind == "failed"]
        first = room // FAILED_SHARE
        rows = [Row(host, "failed", -2e12) for host in failed[:first]]
        rows += [Row(host, "failed", 1e12) for host in failed[first:]]
        for host, kind in kinds.items():
            if kind == "running":
                rows.append(Row(host, kind, -(now - min(self.running[host].values()))))
            elif kind == "waiting":
                rows.append(Row(host, kind, 2e12))
        rows.sort(key=lambda row: row.rank)
        return rows

    def _row(self, host: str, kind: str, name_width: int, width: int, now: float) -> Text:
        line = Text(f"  {host:<{name_width}}  ")
        if kind == "failed":
            t = self.failed[host]
            line.append(f"✗ {t.state} {self.task_of.get(t.instance, t.instance)}", style=STATE_STYLES[t.state])
            if t.message:
                line.append(f"  {t.message}", style="red")
        elif kind == "running":
            running = self.running[host]
            iid = min(running, key=lambda i: running[i])
            line.append(f"▶ {self.task_of[iid]}", style="blue")
            line.append(f"  {duration(now - running[iid]):>6}")
            if len(running) > 1:
                line.append(f" (+{len(running) - 1} more)", style="dim")
            if iid in self.latest:
                line.append(f"  › {self.latest[iid]}", style="dim")
        else:
            line.append(f"… {self.waiting_for(host, now)}", style="dim")
        line.truncate(width, overflow="ellipsis")
        return line


def _role_line(role: str, hosts: int, counts: dict[str, int]) -> Text:
    line = Text(f"{role}", style="bold")
    line.append(f"  {hosts} host{'s' if hosts != 1 else ''}: ")
    parts = [(f"{n} {KINDS[kind][0]}", KINDS[kind][1]) for kind, n in counts.items() if n]
    for k, (text, style) in enumerate(parts):
        line.append(text, style=style)
        if k < len(parts) - 1:
            line.append(", ")
    return line


class LiveView:
    """The board, redrawn in place on a terminal (see the module docstring)."""

    def __init__(
        self,
        console: Console,
        options: ViewOptions | None = None,
        prior: Durations | None = None,
        limits: Limits | None = None,
    ) -> None:
        """`prior`: durations of earlier runs, for the ETA; `limits`: the run's, which the ETA walks under."""
        self.console = console
        self.options = options or ViewOptions()
        self.prior = prior
        self.limits = limits or Limits()

    def run_started(self, plan: Plan, run_id: int) -> None:
        self.run_id = run_id
        self.tally = Tally(plan)
        self.board = Board(plan)
        self.eta = Eta(plan, self.limits, self.prior)
        self.steps = Steps(plan) if self.options.strategy == "steps" else None
        self._eta_next = 0.0
        self.live = Live(
            self._render(), console=self.console, refresh_per_second=4, transient=True, get_renderable=self._render
        )
        self.live.start()

    @property
    def latest(self) -> dict[str, str]:
        return self.board.latest

    def _print(self, *renderables: Text) -> None:
        self.live.console.print(*renderables, sep="\n", markup=False, highlight=False)

    def transition(self, t: Transition) -> None:
        self.tally.update(t)
        self.board.update(t, time.monotonic())
        self.eta.observe(t)
        if t.state.is_own_failure:
            head = Text(f"{t.state}: {t.instance}", style=STATE_STYLES[t.state])
            self._print(head, *(Text(line) for line in failure_lines(t)))
        elif self.options.verbosity >= VERBOSE and t.state.ran:
            self._print(Text(f"{t.state}: {t.instance}", style=STATE_STYLES[t.state]), *map(Text, output_lines(t)))
        elif self.options.verbosity >= VERBOSE and skipped_as_not_notified(t):
            self._print(Text(f"{t.state}: {t.instance}  {t.message}", style=STATE_STYLES[t.state]))
        if t.state == State.RUNNING and self.options.verbosity > VERBOSE:
            actions = self.board.instances[t.instance].actions
            self._print(
                Text(f"start: {t.instance}", style="blue"), *(Text(f"  - {describe_action(a)}") for a in actions)
            )
        if self.steps is not None and t.state.is_final and self.steps.ended(t.instance):
            self._print(Text(f"--- {self.steps.marker}: every instance of the step before ended ---", style="bold"))

    def ended_elsewhere(self, t: Transition) -> None:
        self.tally.update(t, elsewhere=True)
        self.board.update(t, time.monotonic(), elsewhere=True)
        self.eta.observe(t)
        if t.state.is_own_failure:
            line = f"{t.state} on another controller: {t.instance}  {t.message}"
            self._print(Text(line, style=STATE_STYLES[t.state]))

    def notice(self, message: str) -> None:
        self._print(Text(message, style="bold yellow"))

    def still_running(self, instances: list[tuple[str, float]]) -> None:
        """The board already shows what runs, and for how long."""

    def output(self, instance: str, line: str) -> None:
        self.board.latest[instance] = line

    def diff(self, instance: str, text: str) -> None:
        self._print(Text(f"{instance}:", style="bold"), diff_text(text))

    def run_ended(self, result: RunResult) -> None:
        self.live.stop()
        print_summary(self.console, result, self.options)

    def _eta(self) -> float | None:
        if time.monotonic() < self._eta_next:
            return self.eta.since_estimate(time.time())
        began = time.perf_counter()
        remaining = self.eta.remaining(time.time())
        self._eta_next = time.monotonic() + max(ETA_EVERY, (time.perf_counter() - began) / ETA_SHARE)
        return remaining

    def _render(self) -> Group:
        tally = self.tally
        head = Text(f"{self.options.run_name(self.run_id)}  {tally.done}/{tally.total} done  ", style="bold")
        if tally.elsewhere:
            head.append(f"({tally.done - tally.elsewhere} here)  ", style="cyan")
        head.append(f"{tally.failures} failed", style="bold red" if tally.failures else "green")
        head.append(f"  elapsed {duration(tally.elapsed)}")
        eta = self._eta() if tally.done < tally.total else None
        head.append(f"  ETA {duration(eta)}" if eta is not None else "  ETA …")
        if self.steps is not None:
            head.append(f"  {self.steps.marker}", style="bold")
        width, height = self.console.size
        return Group(head, *self.board.lines(height - 1 - LINES_KEPT_FREE, width, time.monotonic()))
