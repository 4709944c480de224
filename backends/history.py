"""Each instance's history over a journal's runs, as `orchc status` shows it.

A run that finds an instance up to date skips it: its latest transition then says
"skipped / up to date", which is true and useless. What an operator asks is the
instance's latest *real* outcome — its last execution (ok, changed, failed,
unreachable), or a dependency that failed, or running if a run died under it —
and when it last changed its host. A skip counts only for an instance that
never had a real outcome (a compile-time skip, a host that left).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from orchc.backends.journal import Transition
from orchc.backends.state import State

_REAL = frozenset({State.RUNNING, State.DEP_FAILED, *(state for state in State if state.ran)})


@dataclass
class InstanceHistory:
    outcome: Transition  # the latest real outcome
    started: float | None  # when the execution that gave it started
    changed: Transition | None  # the latest ending that changed the host
    latest: Transition  # the latest transition of all, real or not

    @property
    def duration(self) -> float | None:
        return None if self.started is None or self.outcome.state == State.RUNNING else self.outcome.time - self.started

    @property
    def since_outcome(self) -> str:
        """What later runs did with the instance, if anything: "up to date in run 5"."""
        if self.latest is self.outcome:
            return ""
        what = self.latest.message or self.latest.state
        return f"{what} in run {self.latest.run}"


def histories(transitions: Iterable[Transition]) -> dict[str, InstanceHistory]:
    """Instance id → its history, from transitions in journal order."""
    out: dict[str, InstanceHistory] = {}
    started: dict[tuple[int, str], float] = {}
    for t in transitions:
        known = out.get(t.instance)
        if t.state == State.RUNNING:
            started.setdefault((t.run, t.instance), t.time)
        if known is None:
            known = out[t.instance] = InstanceHistory(t, None, None, t)
        known.latest = t
        if t.state in _REAL or known.outcome.state not in _REAL:
            known.outcome = t
            known.started = started.get((t.run, t.instance)) if t.state.ran or t.state == State.RUNNING else None
        if t.state == State.CHANGED:
            known.changed = t
        if t.state.is_final:
            started.pop((t.run, t.instance), None)
    return out
