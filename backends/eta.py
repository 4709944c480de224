"""How long a run still needs: the simulator's walk of the work left, with durations learnt as it runs.

Each instance is expected to take, in order of preference: its last duration
in the journal (`simulate.durations_from_journal`), the longest duration so
far in this run of its task's instances (parallel chains end with their
slowest member, so a mean would promise too early an end), the longest so far
of every instance that ran, or nothing yet (no estimate until the first
instance ends). A running instance has what its estimate leaves of it.

What is left is walked by the real scheduler on a virtual clock
(`simulate.makespan`: the run's strategy, forks and host slots, what ended
taking no time). The end it predicts is smoothed, so that the ETA does not
jump each time an estimate is refined.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchc.backends.engine import Limits
from orchc.backends.journal import Transition
from orchc.backends.simulate import Durations, makespan
from orchc.backends.state import State
from orchc.plan import Plan

SMOOTHING = 0.5  # share of a new prediction taken into the shown one at each estimate


@dataclass
class Eta:
    """Fed the run's transitions (`observe`), says how many seconds it still needs (`remaining`)."""

    plan: Plan
    limits: Limits = field(default_factory=Limits)
    prior: Durations | None = None  # from the journal of earlier runs

    def __post_init__(self) -> None:
        self._task = {inst.id: inst.task for inst in self.plan.instances}
        self._started: dict[str, float] = {}
        self._ended: set[str] = set()
        self._longest_of_task: dict[str, float] = {}
        self._longest = 0.0
        self._predicted_end: float | None = None

    def observe(self, t: Transition) -> None:
        if t.state == State.RUNNING:
            self._started.setdefault(t.instance, t.time)
        elif t.state.is_final:
            self._ended.add(t.instance)
            began = self._started.pop(t.instance, None)
            if began is not None and t.state.ran:
                took = t.time - began
                task = self._task.get(t.instance, "")
                self._longest_of_task[task] = max(self._longest_of_task.get(task, 0.0), took)
                self._longest = max(self._longest, took)

    def _expected(self, iid: str) -> float | None:
        if self.prior is not None:
            known = self.prior.seconds.get(iid, self.prior.seconds.get(self._task[iid]))
            if known is not None:
                return known
        return self._longest_of_task.get(self._task[iid]) or self._longest or None

    def remaining(self, now: float) -> float | None:
        """Seconds the run still needs from `now`; None while nothing has ended to learn from."""
        left: dict[str, float] = {}
        for iid in self._task:
            if iid in self._ended:
                continue
            expected = self._expected(iid)
            if expected is None:
                return None
            began = self._started.get(iid)
            left[iid] = expected if began is None else max(expected - (now - began), 0.0)
        predicted = now + makespan(self.plan, Durations(left, "this run"), self.limits, self._ended)
        if self._predicted_end is None:
            self._predicted_end = predicted
        else:
            self._predicted_end += SMOOTHING * (predicted - self._predicted_end)
        return self.since_estimate(now)

    def since_estimate(self, now: float) -> float | None:
        """The last estimate, counted down to `now` (between two estimates, which cost a walk each)."""
        return None if self._predicted_end is None else max(self._predicted_end - now, 0.0)
