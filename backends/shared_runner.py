"""One controller of a shared run: the runner's loop, with PostgreSQL deciding who runs what.

Each turn (1) applies what the other controllers recorded since the last turn
to the mirror, in their commit order; (2) records what ended here — fenced,
with what follows from it, in one transaction (`SharedRun.finish`, which first
applies what the others recorded meanwhile); (3) claims ready instances on the
hosts this controller owns, within the limits, and starts them; (4) sleeps
until an instance ends here or another controller NOTIFYs (or the lease is
renewed: that is when a dead controller's hosts can be taken). See `backends.pg_shared` for the protocol.

The first SIGINT/SIGTERM makes this controller stop claiming, finish what runs
here and leave (the others take its hosts); the second kills what runs here.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from typing import TypeVar

from orchc.backends.engine import Change, Scheduler
from orchc.backends.journal import Journal, JournalError, Transition
from orchc.backends.notify import pending_notifications
from orchc.backends.pg_shared import Claim, Consequences, Ending, LeaseLost, SharedRun, StoreUnreachable
from orchc.backends.runner import Observer, Runner, RunnerOptions, RunResult
from orchc.backends.state import State
from orchc.backends.transport import ActionResult
from orchc.backends.transports import TransportSet
from orchc.plan import Plan

T = TypeVar("T")


class SharedRunner(Runner):
    def __init__(
        self,
        plan: Plan,
        journal: Journal,
        store: SharedRun,
        transports: TransportSet,
        options: RunnerOptions,
        secrets: Mapping[str, str],
        observers: Iterable[Observer] = (),
    ) -> None:
        super().__init__(plan, journal, transports, options, secrets, observers)
        self.store = store
        self._candidates: dict[str, None] = {}  # ready in the mirror, not ended: running here, elsewhere, or not yet
        self._claims: dict[str, Claim] = {}  # what runs here
        self._abandoned: set[str] = set()  # candidates given up as "not run" after the deployment stopped
        self._written: list[asyncio.Future[None]] = []  # retries waiting for their "running" to be written
        self._learnt: list[Transition] = []  # endings of the others' work, for the observers
        self._poked = False  # another controller recorded something since the loop last looked
        self._leaving = False
        self._lease_lost = False

    # --- joining and leaving -------------------------------------------------------------------

    async def _begin(self, digest: str) -> int:
        await self.store.open()
        joined = await self.store.join(
            self.plan,
            digest,
            self._run_options(),
            self._instant,
            self._first_turn,
            f"{socket.gethostname()}:{os.getpid()}",
        )
        # The lease is kept from now on: catching up with a large run's endings below may take a while.
        self.store.watch(self._notified, self._lost_lease)
        if not joined.created:
            self._instant = joined.no_work
            # What the controller that created the run found pending: the notifications of earlier runs.
            pending = pending_notifications(self.plan, self.journal, before_run=joined.run)
            self._gated = {i.id for i in self.plan.instances if i.notified_by and i.id not in pending} - set(
                self._instant
            )
            await self._store(self._rebuild)
        return joined.run

    def _first_turn(self, run: int) -> Consequences:
        self._run_id = run
        out = Consequences()
        self.scheduler = Scheduler(self.plan, self.options.limits.unlimited(), no_work=self._instant)
        self._drain(out)
        return out

    async def _rebuild(self) -> None:
        """The mirror again from the endings the database holds (after joining, or reconnecting)."""
        self.scheduler = Scheduler(self.plan, self.options.limits.unlimited(), no_work=self._instant)
        self._candidates = {}
        self._drain(None)
        self.store.last_seq = 0
        await self._catch_up()

    async def _end(self, result: RunResult) -> None:
        def notes(reruns: list[str]) -> list[str]:
            result.reruns = reruns
            return result.notes

        done = self.scheduler.done
        try:
            await self._store(lambda: self.store.leave(result.outcome if done else None, notes))
        finally:
            await self.store.close()

    # --- the loop --------------------------------------------------------------------------------

    def interrupt(self) -> None:
        self._interrupts += 1
        if self._interrupts == 1:
            self._leaving = True
            self._notice(
                f"interrupted: this controller stops claiming, waits for its {len(self._tasks_running)} running "
                "instance(s) and leaves the run to the others (interrupt again to kill them)"
            )
            self._wake()
        else:
            self._notice(f"interrupted again: killing {len(self._tasks_running)} running instance(s)")
            for task in self._tasks_running.values():
                task.cancel()

    def _notified(self) -> None:
        self._poked = True
        self._wake()

    def _lost_lease(self) -> None:
        self._lease_lost = True
        for task in self._tasks_running.values():
            task.cancel()
        self._wake()

    async def _walk(self) -> None:
        while True:
            if self._lease_lost:
                raise JournalError(
                    f"this controller lost its lease on run {self._run_id} (it could not renew it in time): the "
                    "other controllers may have taken its hosts, so it recorded nothing more",
                    hint="run `orchc status` to see what was recorded; run again to go on",
                )
            ended, self._ended = self._ended, []
            self._poked = False
            # What the others recorded, first: finish() applies it too, but under the run's lock, which
            # the others wait for meanwhile.
            await self._store(self._catch_up)
            if ended or self._not_run():
                await self._store(partial(self._finish, ended))
            if self._records:
                records, self._records = self._records, []
                written, self._written = self._written, []
                await self._store(partial(self.store.record, records))
                self._observe(records)
                for waiting in written:
                    if not waiting.done():
                        waiting.set_result(None)
            self._observe_learnt()
            if not self._tasks_running and (self.scheduler.done or self._leaving):
                return
            if not self._leaving and not self.scheduler.stopped:
                for claim in await self._store(self._claim):
                    self._claims[claim.instance] = claim
                    self._tasks_running[claim.instance] = asyncio.create_task(self._execute(claim.instance))
            if not self._ended and not self._records and not self._poked and not self._lease_lost:
                self._wakeup = asyncio.get_running_loop().create_future()
                await self._wakeup
            await self._gather_endings()

    async def _gather_endings(self) -> None:
        """Let the instances that are about to end end, so that one transaction records them together: a
        round trip to the server costs more than a turn of the event loop."""
        while self._tasks_running:
            before = len(self._ended)
            await asyncio.sleep(0)
            if len(self._ended) == before:
                return

    async def _store(self, operation: Callable[[], Awaitable[T]]) -> T:
        """`operation`, again after reconnecting if the server went away; a lost lease ends this controller."""
        while True:
            try:
                return await operation()
            except StoreUnreachable:
                self._notice("lost the connection to the journal: reconnecting")
                await self.store.reconnect()
                await self._rebuild()
            except LeaseLost:
                self._lost_lease()
                raise JournalError(
                    f"this controller lost its lease on run {self._run_id}: the other controllers may have taken "
                    "its hosts, so it recorded nothing more",
                    hint="run `orchc status` to see what was recorded; run again to go on",
                ) from None

    async def _write_records(self) -> None:
        """The loop writes what is recorded (a retry's "running"); the retry waits until it has: else
        the retry's ending could reach the store first, in the same turn."""
        written = asyncio.get_running_loop().create_future()
        self._written.append(written)
        self._wake()
        await written

    def _not_run(self) -> list[str]:
        """After the deployment stopped: the candidates nobody will start."""
        if not self.scheduler.stopped:
            return []
        return [iid for iid in self._candidates if iid not in self._claims and iid not in self._abandoned]

    async def _finish(self, ended: list[tuple[str, State, ActionResult]]) -> None:
        results = {iid: result for iid, _, result in ended}
        endings = [
            Ending(
                iid,
                state,
                result.message,
                epoch=self._claims[iid].epoch,
                attempts=self._attempts.get(iid, 0),
                notified=result.notified,
            )
            for iid, state, result in ended
        ]
        not_run = self._not_run()
        self._abandoned.update(not_run)
        recorded: list[Transition] = []

        def consequences(others: list[Ending], own: list[Ending]) -> Consequences:
            for ending in others:
                self._apply(ending, None)
            out = Consequences()
            for ending in own:
                if ending.instance in results:
                    out.transitions.append(
                        self._transition(ending.instance, ending.state, result=results[ending.instance])
                    )
                else:
                    out.transitions.append(self._transition(ending.instance, ending.state, message=ending.message))
                self._apply(ending, out)
            recorded[:] = out.transitions
            return out

        fenced = await self.store.finish(endings, not_run, consequences)
        for iid, _, _ in ended:
            self._claims.pop(iid, None)
            self._tasks_running.pop(iid, None)
        for ending in fenced:
            self._notice(f"{ending.instance}: another controller took it over; this result was not recorded")
        self._observe(recorded)

    async def _catch_up(self) -> None:
        for ending in await self.store.endings_since(self.store.last_seq):
            self._apply(ending, None)
            self.store.last_seq = ending.seq

    async def _claim(self) -> list[Claim]:
        waiting = [iid for iid in self._candidates if iid not in self._claims]
        forks = self.options.limits.forks
        room = None if forks is None else forks - len(self._claims)
        if not waiting or room == 0:
            return []
        priority, index = self.scheduler.priority, self.scheduler.index
        waiting.sort(key=lambda iid: -priority[index[iid]])
        slots = self.options.limits.host_slots
        busy: dict[str, int] = {}
        for iid in self._claims:
            host = self.scheduler.host_of(iid)
            if host is not None:
                busy[host] = busy.get(host, 0) + 1
        concurrency = {t.id: t.concurrency for t in self.plan.tasks if t.concurrency is not None}
        recorded: list[Transition] = []

        def running(claims: list[Claim]) -> list[Transition]:
            for claim in claims:
                self._attempts[claim.instance] = claim.attempts
                self._attempts_before_move[claim.instance] = claim.attempts_before_move
                self._started_at[claim.instance] = time.time()
                message = (
                    f"re-run: controller {claim.taken_from} lost its lease while this ran there"
                    if claim.taken_from is not None
                    else ""
                )
                recorded.append(self._transition(claim.instance, State.RUNNING, message=message))
            return recorded

        claims = await self.store.claim(
            [(iid, self.scheduler.host_of(iid), self._instances[iid].task) for iid in waiting],
            room,
            slots,
            busy,
            concurrency,
            running,
        )
        self._observe(recorded)
        return claims

    def _observe_learnt(self) -> None:
        learnt, self._learnt = self._learnt, []
        for t in learnt:
            for observer in self.observers:
                observer.ended_elsewhere(t)

    # --- the mirror ------------------------------------------------------------------------------

    def _learn(self, iid: str, state: State, message: str) -> None:
        """What the mirror learnt ended elsewhere: for the observers, after the store's turn."""
        if self.observers:
            self._learnt.append(self._transition(iid, state, message=message))

    def _apply(self, ending: Ending, out: Consequences | None) -> None:
        """Apply an ending to the mirror; `out` (when this controller records it) collects what follows."""
        self._drain(out)
        if out is None and ending.controller != self.store.controller:
            self._learn(ending.instance, ending.state, ending.message)
        self._note_reported(ending.instance, ending.notified)
        self._candidates.pop(ending.instance, None)
        self._collect(self.scheduler.complete(ending.instance, ending.state, ending.message), out)
        self._drain(out)

    def _drain(self, out: Consequences | None) -> None:
        """What the mirror starts now: no-work instances end at once, the others become candidates."""
        scheduler = self.scheduler
        while batch := scheduler.next_batch():
            for iid in batch:
                ending = self._ends_at_once(iid)
                if ending is not None:
                    state, message = ending
                    if out is not None:
                        out.transitions.append(self._transition(iid, state, message=message))
                        out.ended.append(iid)
                    else:
                        self._learn(iid, state, message)
                    self._collect(scheduler.complete(iid, state, message), out)
                else:
                    self._candidates[iid] = None
                    if out is not None:
                        out.ready.append(iid)

    def _collect(self, changes: list[Change], out: Consequences | None) -> None:
        for change in changes:
            if change.state != State.PENDING:
                self._candidates.pop(change.instance, None)
            if out is None:
                if change.state.is_final:
                    self._learn(change.instance, change.state, change.message)
                continue
            out.transitions.append(
                self._transition(change.instance, change.state, message=change.message, host=change.host)
            )
            if change.state == State.PENDING and change.host is not None:
                out.moved[change.instance] = change.host
            else:
                out.ended.append(change.instance)
