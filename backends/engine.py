"""The scheduler: which instances of a Plan may start now, and what follows when one ends.

Pure bookkeeping — no asyncio, no I/O, no clock — so that the runner, the
simulator and the property tests all drive the very same walk.

    scheduler = Scheduler(plan, Limits(host_slots=1, forks=50))
    while not scheduler.done:
        for instance_id in scheduler.next_batch():      # now running
            ...start it...
        changes = scheduler.complete(instance_id, State.OK)  # when one ends

Readiness is event-driven: each instance counts the dependencies it still
waits for; an ending instance decrements its dependants' counters, and those
reaching zero go into a priority heap. Priority is the longest remaining path
to a sink, where an edge to a dependant on the same host weighs 1 and an edge
to another host weighs 10 (Fuel's Astute weights: unblock other hosts first).

Limits: `host_slots` running instances per host, each task's `concurrency`,
and `forks` running instances in all. (A controller of a shared run walks the
graph without them — `Limits.unlimited` — and the store enforces them across
controllers when they claim instances.) An instance popped from the heap whose
host or task is full waits in that resource's own heap, and is released when
the resource frees a slot, so that nothing rescans the whole graph.

Failure policy (docs/language.md, "Failures"): a host whose instance fails leaves the
deployment if every role it belongs to is still within its budget — its other
instances are skipped, dependencies on it stop holding anyone back, and a
`once` instance on it moves to its next healthy alternate. Beyond the budget
the scheduler stops gracefully: running instances finish, nothing new starts,
and what never started ends as skipped ("not run").

`strategy="steps"` runs the same graph in layers (longest-path depth from the
sources) with a barrier after each layer, like the step-based deployers.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from orchc.backends.state import FAILURE_STATES, FINAL_STATES, SUCCESS_STATES, State
from orchc.plan import Plan

Strategy = Literal["graph", "steps"]

# The states the walk names, bound once: looking up an enum member costs four times the comparison.
DEP_FAILED, PENDING, READY, RUNNING, SKIPPED = (
    State.DEP_FAILED,
    State.PENDING,
    State.READY,
    State.RUNNING,
    State.SKIPPED,
)

SAME_HOST_WEIGHT = 1
CROSS_HOST_WEIGHT = 10

HOST_LEFT = "host left the deployment"
NOT_RUN = "not run: the deployment stopped"


class PlanGraphError(ValueError):
    """The Plan's instance graph cannot be walked (unknown dependency, cycle)."""

    def __init__(self, message: str, instance: str | None = None) -> None:
        super().__init__(message)
        self.instance = instance  # the instance at fault, to point at its task's source


@dataclass(frozen=True)
class Limits:
    host_slots: int | None = 1  # running instances per host; None = no limit
    forks: int | None = None  # running instances in all; None = no limit
    strategy: Strategy = "graph"
    task_concurrency: bool = True  # False: tasks' `concurrency` does not hold back anything

    def unlimited(self) -> Limits:
        """The same walk with no limit on running instances: every ready instance starts at once."""
        return Limits(host_slots=None, forks=None, strategy=self.strategy, task_concurrency=False)


@dataclass(frozen=True)
class Change:
    """A state change the scheduler decided on its own (dep_failed, skipped, moved)."""

    instance: str
    state: State
    host: str | None
    message: str


@dataclass
class _Group:
    """One `any_of` group of one instance: satisfied by one successful member."""

    owner: int
    size: int
    failed: int = 0
    satisfied_by: int | None = None  # the member whose success met it


@dataclass
class _Resource:
    """A host or a task with a cap on running instances, and the ready instances waiting for it."""

    capacity: int | None
    running: int = 0
    waiting: list[tuple[int, int, int, int]] = field(default_factory=list)  # heap entries

    @property
    def full(self) -> bool:
        return self.capacity is not None and self.running >= self.capacity


class Scheduler:
    """Walks one Plan's instance graph; see the module docstring."""

    def __init__(self, plan: Plan, limits: Limits = Limits(), no_work: Iterable[str] = ()) -> None:
        """`no_work`: instances that will end at once without running (compile-time skips, up to
        date); they, like anchors, take no slot and no fork."""
        self.limits = limits
        self.ids = [inst.id for inst in plan.instances]
        self.index = {iid: i for i, iid in enumerate(self.ids)}
        if len(self.index) != len(self.ids):
            raise PlanGraphError("the Plan lists an instance id twice")
        n = len(self.ids)
        self.host_names = [h.name for h in plan.hosts]
        self._host_resources = [_Resource(limits.host_slots) for _ in plan.hosts]
        self._task_resources = [_Resource(t.concurrency if limits.task_concurrency else None) for t in plan.tasks]
        self._task_index = {t.id: k for k, t in enumerate(plan.tasks)}
        self._task = [self._lookup(self._task_index, [inst.task], inst.id, "task")[0] for inst in plan.instances]
        self._instances_of_task: list[list[int]] = [[] for _ in plan.tasks]
        for i, k in enumerate(self._task):
            self._instances_of_task[k].append(i)
        anchors = {t.id for t in plan.tasks if t.anchor}
        no_work_ids = set(no_work)
        self._no_work = [inst.task in anchors or not inst.actions or inst.id in no_work_ids for inst in plan.instances]
        self._index_placements(plan)
        self._index_edges(plan)
        self._index_roles(plan)
        self._order = self._topological_order()
        self.priority = self._priorities()
        self.layer = self._layers()

        # The walk's state.
        self.state: list[State] = [PENDING] * n
        self._heap: list[tuple[int, int, int, int]] = []  # (-priority, plan order, instance, token)
        self._token = [0] * n  # bumped to invalidate an instance's queued heap entries
        self._instant: list[int] = []  # ready no-work instances: they start regardless of limits
        self._running = 0  # instances holding slots
        self._in_flight = 0  # instances in state running, with or without slots
        self._final = 0
        self.left_hosts: list[str] = []  # hosts that left the deployment, in order
        self.excused: set[str] = set()  # failed instances absorbed by a role's tolerance
        self.stopped: str | None = None  # why the scheduler stopped starting work
        self.stop_is_failure = False
        self._current_layer = 0  # steps: the layer now running
        self._layer_left = [0] * (max(self.layer, default=-1) + 1)  # instances of each layer not final
        self._held: list[list[int]] = [[] for _ in self._layer_left]  # steps: ready, waiting for a barrier
        for i in range(n):
            self._layer_left[self.layer[i]] += 1
        for i in range(n):
            if self._waiting_for[i] == 0:
                self._make_ready(i)
        self._advance_layers()

    def _index_placements(self, plan: Plan) -> None:
        """Each instance's hosts — its own first, then a `once` instance's alternates — and each host's instances."""
        host_index = {h.name: k for k, h in enumerate(plan.hosts)}
        self._placements: list[list[int]] = []
        self._host_instances: list[list[int]] = [[] for _ in plan.hosts]
        for i, inst in enumerate(plan.instances):
            if inst.host is None and inst.actions:
                raise PlanGraphError(f"instance {inst.id} has actions but no host to run them on", inst.id)
            names = [inst.host] + [p.host for p in inst.alternates if p.host] if inst.host is not None else []
            hosts = self._lookup(host_index, names, inst.id, "host")
            self._placements.append(hosts)
            for h in hosts:
                self._host_instances[h].append(i)
        self._placement_pos = [0] * len(plan.instances)

    def _index_edges(self, plan: Plan) -> None:
        """Dependants of each instance, `any_of` groups, and how many dependencies each one waits for."""
        n = len(plan.instances)
        self._dependants: list[list[int]] = [[] for _ in range(n)]
        self._group_members_of: list[list[_Group]] = [[] for _ in range(n)]
        self._groups_of: dict[int, list[_Group]] = {}  # the instances that have `any_of` groups: theirs
        self._waiting_for = [0] * n
        self._deps: list[list[int]] = [[] for _ in range(n)]  # deps and any_of members, for the graph analysis
        for i, inst in enumerate(plan.instances):
            deps = self._lookup(self.index, inst.deps, inst.id, "dependency")
            for d in deps:
                self._dependants[d].append(i)
            for members in inst.any_of:
                group = _Group(owner=i, size=len(members))
                self._groups_of.setdefault(i, []).append(group)
                for m in self._lookup(self.index, members, inst.id, "dependency"):
                    self._group_members_of[m].append(group)
                    deps.append(m)
            self._deps[i] = deps
            self._waiting_for[i] = len(inst.deps) + len(inst.any_of)
        # A `once` instance's dependencies on each of its alternates (what its task is after on that
        # host), counted only when it moves there; and what it was given to wait for since.
        self._alternate_deps: dict[int, list[list[int]]] = {
            i: [self._lookup(self.index, p.deps, inst.id, "dependency") for p in inst.alternates]
            for i, inst in enumerate(plan.instances)
            if inst.alternates
        }
        self._moved_deps: dict[int, set[int]] = {}

    def _index_roles(self, plan: Plan) -> None:
        """The roles of each host, with each role's tolerance budget and failures so far."""
        host_index = {h.name: k for k, h in enumerate(plan.hosts)}
        self.role_names = [r.name for r in plan.roles]
        self._role_budget = [r.tolerate for r in plan.roles]
        self._role_failed = [0] * len(plan.roles)
        self._roles_of_host: list[list[int]] = [[] for _ in plan.hosts]
        for r, role in enumerate(plan.roles):
            for h in role.hosts:
                if h in host_index:
                    self._roles_of_host[host_index[h]].append(r)

    # --- queries -----------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._final == len(self.ids)

    @property
    def running_count(self) -> int:
        return self._in_flight

    def host_of(self, instance_id: str) -> str | None:
        """The host an instance runs on now (a `once` instance may have moved)."""
        i = self.index[instance_id]
        placements = self._placements[i]
        return self.host_names[placements[self._placement_pos[i]]] if placements else None

    def state_of(self, instance_id: str) -> State:
        return self.state[self.index[instance_id]]

    def placement_of(self, instance_id: str) -> int:
        """0 for the instance's own placement, k for its k-th alternate."""
        return self._placement_pos[self.index[instance_id]]

    def met_by(self, instance_id: str) -> set[str]:
        """The providers whose success met the instance's `any_of` groups (so far)."""
        return {
            self.ids[group.satisfied_by]
            for group in self._groups_of.get(self.index[instance_id], ())
            if group.satisfied_by is not None
        }

    def about_to_be_ready(self, task_id: str) -> int:
        """How many instances of the task wait only for instances that run now: they may start soon, and
        together (an Ansible task's instances share one call). 0 while the task's `concurrency` is taken."""
        k = self._task_index[task_id]
        if self._task_resources[k].full:
            return 0
        state = self.state
        return sum(
            1
            for i in self._instances_of_task[k]
            if state[i] == PENDING and all(state[d] == RUNNING or state[d] in SUCCESS_STATES for d in self._deps[i])
        )

    def ids_in_dependency_order(self) -> list[str]:
        """Every instance after all of its dependencies."""
        return [self.ids[i] for i in self._order]

    @property
    def failed(self) -> bool:
        """True when the deployment failed: stopped beyond tolerance, or a failure nobody excused."""
        if self.stop_is_failure:
            return True
        return any(s in FAILURE_STATES and self.ids[i] not in self.excused for i, s in enumerate(self.state))

    # --- driving -----------------------------------------------------------------

    def next_batch(self) -> list[str]:
        """Every instance that may start now, best first; they are now running."""
        started: list[str] = []
        if self.stopped:
            return started
        while self._instant:
            i = self._instant.pop()
            if self.state[i] == READY:
                self.state[i] = RUNNING
                started.append(self.ids[i])
                self._in_flight += 1
        forks = self.limits.forks
        while self._heap and (forks is None or self._running < forks):
            entry = heapq.heappop(self._heap)
            i = entry[2]
            if entry[3] != self._token[i] or self.state[i] != READY:
                continue
            host = self._host_resource(i)
            task = self._task_resources[self._task[i]]
            if host is not None and host.full:
                heapq.heappush(host.waiting, entry)
                if not task.full:
                    self._release(task)
                continue
            if task.full:
                heapq.heappush(task.waiting, entry)
                if host is not None:
                    self._release(host)
                continue
            self.state[i] = RUNNING
            self._running += 1
            task.running += 1
            if host is not None:
                host.running += 1
            started.append(self.ids[i])
            self._in_flight += 1
        return started

    def complete(self, instance_id: str, state: State, message: str = "") -> list[Change]:
        """Record how a running instance ended; return the changes that follow from it."""
        i = self.index[instance_id]
        if self.state[i] != RUNNING:
            raise ValueError(f"{instance_id} is {self.state[i]}, not running")
        changes: list[Change] = []
        self._in_flight -= 1
        if not self._no_work[i]:
            self._running -= 1
            task = self._task_resources[self._task[i]]
            task.running -= 1
            self._release(task)
            host = self._host_resource(i)
            if host is not None:
                host.running -= 1
                self._release(host)
        if state in SUCCESS_STATES:
            self._finish(i, state)
            self._succeeded(i, changes)
        else:
            self._failed(i, state, changes)
        self._advance_layers()
        self._finish_if_stopped(changes)
        return changes

    def stop(self, reason: str) -> list[Change]:
        """Stop gracefully (Ctrl-C): running instances finish, nothing new starts."""
        if not self.stopped:
            self.stopped = reason
        changes: list[Change] = []
        self._finish_if_stopped(changes)
        return changes

    # --- what follows an ending ----------------------------------------------------

    def _succeeded(self, i: int, changes: list[Change]) -> None:
        for d in self._dependants[i]:
            self._dependency_met(d)
        for group in self._group_members_of[i]:
            if group.satisfied_by is None:
                group.satisfied_by = i
                self._dependency_met(group.owner)

    def _released(self, i: int, changes: list[Change]) -> None:
        """`i` ended on a host that left: it holds back no one, but satisfies no `any_of` group."""
        for d in self._dependants[i]:
            self._dependency_met(d)
        self._group_member_failed(i, changes)

    def _propagate_failure(self, i: int, changes: list[Change]) -> None:
        failed_dependency = self.ids[i]
        for d in self._dependants[i]:
            self._dep_failed(d, f"dependency {failed_dependency} did not succeed", changes)
        self._group_member_failed(i, changes)

    def _group_member_failed(self, i: int, changes: list[Change]) -> None:
        for group in self._group_members_of[i]:
            group.failed += 1
            if group.satisfied_by is None and group.failed == group.size:
                self._dep_failed(group.owner, "no provider of an 'on any' requirement succeeded", changes)

    def _dep_failed(self, i: int, message: str, changes: list[Change]) -> None:
        if self.state[i] in FINAL_STATES or self.state[i] == RUNNING:
            return
        self._finish(i, DEP_FAILED)
        changes.append(Change(self.ids[i], DEP_FAILED, self._host_name(i), message))
        self._propagate_failure(i, changes)

    def _dependency_met(self, i: int) -> None:
        self._waiting_for[i] -= 1
        if self._waiting_for[i] == 0 and self.state[i] == PENDING:
            self._make_ready(i)

    def _failed(self, i: int, state: State, changes: list[Change]) -> None:
        h = self._current_host(i)
        if h is not None and (self.host_names[h] in self.left_hosts or self._within_tolerance(h)):
            if self.host_names[h] not in self.left_hosts:
                self._leave(h, changes)
            self._failed_on_left_host(i, state, changes)
            return
        self._finish(i, state)
        self._propagate_failure(i, changes)
        if not self.stopped:
            self.stopped = self._budget_message(h)
        self.stop_is_failure = True

    def _failed_on_left_host(self, i: int, state: State, changes: list[Change]) -> None:
        """A failure the tolerance absorbs: a `once` instance moves on, any other is excused."""
        if self._move(i, changes):
            return
        self._finish(i, state)
        if len(self._placements[i]) > 1:  # a `once` instance with no healthy host left
            self._propagate_failure(i, changes)
        else:
            self.excused.add(self.ids[i])
            self._released(i, changes)

    def _within_tolerance(self, h: int) -> bool:
        roles = self._roles_of_host[h]
        return bool(roles) and all(self._role_failed[r] + 1 <= self._role_budget[r] for r in roles)

    def _budget_message(self, h: int | None) -> str:
        if h is None or not self._roles_of_host[h]:
            return "an instance failed and no role tolerates it"
        beyond = [self.role_names[r] for r in self._roles_of_host[h] if self._role_failed[r] + 1 > self._role_budget[r]]
        return f"host {self.host_names[h]} failed beyond the tolerance of role {', '.join(beyond)}"

    def _leave(self, h: int, changes: list[Change]) -> None:
        """Host `h` leaves the deployment within its roles' budgets: what has not started there moves
        (a `once` instance) or is skipped; what runs there finishes, and its ending is excused."""
        for r in self._roles_of_host[h]:
            self._role_failed[r] += 1
        self.left_hosts.append(self.host_names[h])
        for i in self._host_instances[h]:
            if self._current_host(i) != h or self.state[i] in FINAL_STATES or self.state[i] == RUNNING:
                continue
            if self._move(i, changes):
                continue
            self._token[i] += 1
            self._finish(i, SKIPPED)
            self.excused.add(self.ids[i])
            changes.append(Change(self.ids[i], SKIPPED, self.host_names[h], HOST_LEFT))
            self._released(i, changes)

    def _move(self, i: int, changes: list[Change]) -> bool:
        """Move a `once` instance to its next healthy alternate; False if there is none."""
        placements = self._placements[i]
        for pos in range(self._placement_pos[i] + 1, len(placements)):
            if self.host_names[placements[pos]] not in self.left_hosts:
                old = self.host_names[placements[self._placement_pos[i]]]
                self._placement_pos[i] = pos
                self._token[i] += 1
                self.state[i] = PENDING
                changes.append(
                    Change(self.ids[i], PENDING, self.host_names[placements[pos]], f"moved from {old}: {HOST_LEFT}")
                )
                self._wait_on_new_host(i, pos, changes)
                if self._waiting_for[i] == 0 and self.state[i] == PENDING:
                    self._make_ready(i)
                return True
        return False

    def _wait_on_new_host(self, i: int, pos: int, changes: list[Change]) -> None:
        """A moved `once` instance also waits for what its task is after on its new host."""
        counted = self._moved_deps.setdefault(i, set(self._deps[i]))
        for d in self._alternate_deps[i][pos - 1]:
            if d in counted:
                continue
            counted.add(d)
            if self.state[d] in SUCCESS_STATES:
                continue
            if self.state[d] in FINAL_STATES:
                self._dep_failed(i, f"dependency {self.ids[d]} did not succeed", changes)
                return
            self._waiting_for[i] += 1
            self._dependants[d].append(i)

    def _finish_if_stopped(self, changes: list[Change]) -> None:
        if not self.stopped or self._in_flight:
            return
        for i, s in enumerate(self.state):
            if s not in FINAL_STATES:
                self._finish(i, SKIPPED)
                changes.append(Change(self.ids[i], SKIPPED, self._host_name(i), NOT_RUN))

    # --- bookkeeping -----------------------------------------------------------------

    def _finish(self, i: int, state: State) -> None:
        if self.state[i] not in FINAL_STATES:
            self._final += 1
            self._layer_left[self.layer[i]] -= 1
        self.state[i] = state

    def _make_ready(self, i: int) -> None:
        self.state[i] = READY
        if self.limits.strategy == "steps" and self.layer[i] > self._current_layer:
            self._held[self.layer[i]].append(i)
        else:
            self._queue(i)

    def _queue(self, i: int) -> None:
        if self._no_work[i]:
            self._instant.append(i)
        else:
            heapq.heappush(self._heap, (-self.priority[i], i, i, self._token[i]))

    def _release(self, resource: _Resource) -> None:
        """A slot of `resource` is free: give its best waiting instance another chance."""
        while resource.waiting and not resource.full:
            entry = heapq.heappop(resource.waiting)
            i = entry[2]
            if entry[3] == self._token[i] and self.state[i] == READY:
                heapq.heappush(self._heap, entry)
                return

    def _advance_layers(self) -> None:
        if self.limits.strategy != "steps":
            return
        while self._current_layer < len(self._layer_left) - 1 and self._layer_left[self._current_layer] == 0:
            self._current_layer += 1
            for i in self._held[self._current_layer]:
                if self.state[i] == READY:
                    self._queue(i)
            self._held[self._current_layer] = []

    def _current_host(self, i: int) -> int | None:
        placements = self._placements[i]
        return placements[self._placement_pos[i]] if placements else None

    def _host_resource(self, i: int) -> _Resource | None:
        h = self._current_host(i)
        return None if h is None else self._host_resources[h]

    def _host_name(self, i: int) -> str | None:
        h = self._current_host(i)
        return None if h is None else self.host_names[h]

    # --- graph analysis (once, at construction) --------------------------------------

    @staticmethod
    def _lookup(index: dict[str, int], names: list[str], owner: str, what: str) -> list[int]:
        try:
            return [index[name] for name in names]
        except KeyError as missing:
            raise PlanGraphError(f"instance {owner} names unknown {what} '{missing.args[0]}'", owner) from None

    def _topological_order(self) -> list[int]:
        n = len(self.ids)
        remaining = [len(d) for d in self._deps]
        users: list[list[int]] = [[] for _ in range(n)]
        for i, deps in enumerate(self._deps):
            for d in deps:
                users[d].append(i)
        order = [i for i in range(n) if remaining[i] == 0]
        for i in order:  # grows while it is walked
            for u in users[i]:
                remaining[u] -= 1
                if remaining[u] == 0:
                    order.append(u)
        if len(order) != n:
            stuck = [self.ids[i] for i in range(n) if remaining[i] > 0]
            raise PlanGraphError("the instance graph has a cycle through: " + ", ".join(stuck[:8]), stuck[0])
        self._users = users
        return order

    def _priorities(self) -> list[int]:
        """Longest weighted path to a sink: 1 per same-host edge, 10 per cross-host edge."""
        priority = [0] * len(self.ids)
        for i in reversed(self._order):
            here = self._current_host(i)
            best = 0
            for u in self._users[i]:
                weight = SAME_HOST_WEIGHT if self._current_host(u) == here else CROSS_HOST_WEIGHT
                best = max(best, weight + priority[u])
            priority[i] = best
        return priority

    def _layers(self) -> list[int]:
        """Longest-path depth from the sources: the barrier layers of `--strategy steps`."""
        layer = [0] * len(self.ids)
        for i in self._order:
            for d in self._deps[i]:
                layer[i] = max(layer[i], layer[d] + 1)
        return layer
