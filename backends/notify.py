"""Notifications (`when notified(...)`): an instance with `notified_by` runs only if one of its notifiers
ended `changed` — or, for a notifier in its `notify_topics`, reported one of those topics (an Ansible handler
its playbook notified).

The notifiers that count are those it waits for where it runs (a `once` instance that moved waits for
those of its new host). They count if they ended `changed` in this run, or in an earlier run that stopped
before the notified instance succeeded: such a notification is *pending*, and the journal's history keeps
it (a notifier's last `changed`, or its last report of the topic, comes after the instance's last success)
until the instance succeeds, so that a resumed run still runs it. Otherwise the instance ends `skipped`:
"not notified: ... unchanged". Its fingerprint does not decide whether it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from orchc.backends.journal import Journal, LastSuccesses, Transition
from orchc.backends.state import State
from orchc.plan import Instance, Plan

NOT_NOTIFIED = "not notified"


def notifiers_where_it_runs(inst: Instance, placement: int) -> list[str]:
    """Its notifiers that it waits for on its current placement (0: its own host; k: `alternates[k-1]`)."""
    if placement == 0:
        return inst.notified_by
    deps = set(inst.alternates[placement - 1].deps)
    return [notifier for notifier in inst.notified_by if notifier in deps]


def pending_notifications(plan: Plan, journal: Journal, before_run: int | None = None) -> dict[str, list[str]]:
    """Notified instance → the notifiers that notified it in the journal after its last success (in the
    runs before `before_run`, if given: what every controller of a shared run reads alike)."""
    gated = [inst for inst in plan.instances if inst.notified_by]
    if not gated:
        return {}
    ids = {inst.id for inst in gated} | {n for inst in gated for n in inst.notified_by}
    last = journal.last_successes(ids, before_run)
    pending = {}
    for inst in gated:
        own = last.get(inst.id)
        since = own.success if own is not None else -1
        notified = [n for n in inst.notified_by if (mark := last.get(n)) is not None and _since(inst, n, mark, since)]
        if notified:
            pending[inst.id] = notified
    return pending


def _since(inst: Instance, notifier: str, mark: LastSuccesses, since: int) -> bool:
    """Whether `notifier` notified `inst` after position `since` of the history."""
    topics = inst.notify_topics.get(notifier)
    if topics is None:
        return mark.changed is not None and mark.changed > since
    return any(mark.notified.get(topic, -1) > since for topic in topics)


def runs_if(inst: Instance) -> str:
    """What `--dry-run`, check mode and `orchc plan` say of a gated instance."""
    changed = [n for n in inst.notified_by if n not in inst.notify_topics]
    phrases = [f"{_either(changed)} ends changed"] if changed else []
    phrases += [f"{n} notifies {_topics(topics)}" for n, topics in inst.notify_topics.items()]
    return "runs if " + " or ".join(phrases)


def pending_reason(inst: Instance, notifiers: Collection[str]) -> str:
    """What a gated instance that an earlier run notified (and that has not run since) is told."""
    phrases = [
        f"{n} changed" if (topics := inst.notify_topics.get(n)) is None else f"{n} notified {_topics(topics)}"
        for n in notifiers
    ]
    return f"notified: {', '.join(phrases)} in an earlier run"


def not_notified(
    inst: Instance, notifiers: list[str], state_of: Callable[[str], State], reported: Callable[[str], list[str]]
) -> str | None:
    """Why `inst`, notified by `notifiers` (all ended), is skipped; None if one of them notified it: it
    ended changed, or reported one of its topics."""
    unchanged, silent = [], []
    for n in notifiers:
        topics = inst.notify_topics.get(n)
        if state_of(n) == State.CHANGED and (topics is None or set(topics) & set(reported(n))):
            return None
        if topics is None:
            unchanged.append(n)
        else:
            silent.append(f"{n} did not notify {_topics(topics)}")
    return f"{NOT_NOTIFIED}: " + "; ".join(([f"{', '.join(unchanged)} unchanged"] if unchanged else []) + silent)


def skipped_as_not_notified(t: Transition) -> bool:
    return t.state == State.SKIPPED and t.message.startswith(NOT_NOTIFIED)


def _topics(topics: list[str]) -> str:
    return " or ".join(repr(topic) for topic in topics)


def _either(notifiers: Collection[str]) -> str:
    names = list(notifiers)
    return names[0] if len(names) == 1 else "one of " + ", ".join(names)
