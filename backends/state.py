"""The states of an instance in a run: what the scheduler decides, the journal keeps and the views show.

    pending → ready → running → ok | changed | skipped | failed | unreachable
    pending → dep_failed | skipped (a dependency failed, the host left, the run stopped)

A `State` is a `str` whose value is the word the journal and the JSON events
hold, so that their bytes do not depend on the enum.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"  # waits for its dependencies (or moved to another host)
    READY = "ready"  # may start once a slot frees; never written to the journal
    RUNNING = "running"
    OK = "ok"
    CHANGED = "changed"
    SKIPPED = "skipped"
    FAILED = "failed"
    DEP_FAILED = "dep_failed"
    UNREACHABLE = "unreachable"

    @property
    def is_final(self) -> bool:
        """The instance's last state in this run."""
        return self in FINAL_STATES

    @property
    def is_success(self) -> bool:
        """Final, and what waits for the instance may go on."""
        return self in SUCCESS_STATES

    @property
    def is_failure(self) -> bool:
        """Final, and what waits for the instance cannot go on."""
        return self in FAILURE_STATES

    @property
    def is_own_failure(self) -> bool:
        """The instance itself failed (not a dependency of it)."""
        return self in _OWN_FAILURE

    @property
    def ran(self) -> bool:
        """An execution that ran to its end: the last one decides whether a re-run may skip the instance."""
        return self in _RAN


# The sets behind the properties; the scheduler's inner loops test them directly (a property costs more).
SUCCESS_STATES = frozenset({State.OK, State.CHANGED, State.SKIPPED})
_OWN_FAILURE = frozenset({State.FAILED, State.UNREACHABLE})
FAILURE_STATES = _OWN_FAILURE | {State.DEP_FAILED}
FINAL_STATES = SUCCESS_STATES | FAILURE_STATES
_RAN = frozenset({State.OK, State.CHANGED, State.FAILED, State.UNREACHABLE})
_BY_WORD = {state.value: state for state in State}


def state_named(word: str) -> State:
    """The state `word` names, as `State(word)` does but at a dict lookup's cost (a run reads one per instance)."""
    try:
        return _BY_WORD[word]
    except KeyError:
        raise ValueError(f"{word!r} is not a valid State") from None
