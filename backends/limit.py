"""`orchc run --limit`: a run kept to some hosts, with the graph's promise intact.

An instance on a host outside the limit does not run. If it is up to date, it
counts as done, as it would on any resume. If it is not, nothing that waits for
it can run either (for an `any_of` group: once every member is missing), inside
the limit or not: such instances are held back, and the run says what to add
to the limit.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from orchc.plan import Plan

OUTSIDE = "outside --limit"


class LimitError(ValueError):
    """A --limit pattern that selects nothing; `hint` names what the Plan has."""

    def __init__(self, message: str, plan: Plan) -> None:
        super().__init__(message)
        self.hint = (
            f"hosts: {', '.join(h.name for h in plan.hosts)}; roles: {', '.join(r.name for r in plan.roles) or 'none'}"
        )


def hosts_of_limit(plan: Plan, pattern: str) -> frozenset[str]:
    """The hosts Ansible's `--limit` pattern selects: host or role names or globs, separated by `,` or
    `:`; `!term` leaves hosts out (of all of them, when no term adds any)."""
    terms = [term.strip() for term in re.split(r"[,:]", pattern) if term.strip()]
    if not terms:
        raise LimitError("--limit names no host", plan)
    names = [host.name for host in plan.hosts]
    chosen: set[str] = set()
    excluded: set[str] = set()
    for term in terms:
        glob = term.removeprefix("!")
        matched = {name for name in names if fnmatch.fnmatchcase(name, glob)}
        for role in plan.roles:
            if fnmatch.fnmatchcase(role.name, glob):
                matched.update(role.hosts)
        if not matched:
            raise LimitError(f"--limit '{term}' matches no host or role of the Plan", plan)
        (excluded if term.startswith("!") else chosen).update(matched)
    if all(term.startswith("!") for term in terms):
        chosen = set(names)
    return frozenset(chosen - excluded)


@dataclass(frozen=True)
class Left:
    """An instance the limit keeps from running, and why."""

    reason: str
    held_back: bool  # it is on a host of the limit (or an anchor), but waits for something outside it


def left_out(plan: Plan, waiting: set[str], hosts: frozenset[str]) -> dict[str, Left]:
    """The instances of `waiting` (those that would run, and anchors) that do not run under the limit."""
    by_id = {inst.id: inst for inst in plan.instances}
    dependants: dict[str, list[tuple[str, int | None]]] = defaultdict(list)  # (dependant, its any_of group)
    for inst in plan.instances:
        for dep in inst.deps:
            dependants[dep].append((inst.id, None))
        for k, members in enumerate(inst.any_of):
            for member in members:
                dependants[member].append((inst.id, k))
    outside = [iid for iid in waiting if by_id[iid].host is not None and by_id[iid].host not in hosts]
    cause = {iid: iid for iid in outside}  # the instance outside the limit that each one waits for
    missing_members: Counter[tuple[str, int]] = Counter()
    queue = list(outside)
    while queue:
        missing = queue.pop()
        for dependant, group in dependants[missing]:
            if dependant in cause or dependant not in waiting:
                continue
            if group is not None:
                missing_members[dependant, group] += 1
                if missing_members[dependant, group] < len(by_id[dependant].any_of[group]):
                    continue
            cause[dependant] = cause[missing]
            queue.append(dependant)
    left = {}
    for iid, root in cause.items():
        host = by_id[iid].host
        if host is not None and host not in hosts:
            left[iid] = Left(OUTSIDE, held_back=False)
        else:
            left[iid] = Left(f"waits for {root}, {OUTSIDE} and not up to date", held_back=bool(by_id[iid].actions))
    return left
