"""How the controllers of one shared run agree, through PostgreSQL (psycopg 3, async).

A run is shared by every `orchc run` of the same Plan digest against one
database while at least one of its controllers holds a live lease. Each
controller walks the whole graph with its own `Scheduler` (the mirror, with no
limits: it only says what is ready); the database decides who runs what:

- **Leases.** A controller's lease (`controllers.lease_until`, the server's
  clock) is renewed every third of its length, by a thread on a connection of
  its own: the controller's work on its event loop cannot delay it. A
  controller whose lease ran out is dead to the others: its hosts and its
  running instances may be taken.
- **Host affinity.** A controller claims instances only on the hosts it owns
  (`hosts.owner`), so each host's SSH connection stays on one controller and
  "one task per host" holds across controllers. It takes a host that nobody
  owns (of its `--shard`, if it has one) or whose owner is dead, with
  `FOR UPDATE SKIP LOCKED`: two controllers never wait for each other there.
- **Claims.** An instance is claimed when the database says it is ready
  (`instances.status`), its task's `concurrency` holds across live controllers
  (the task's row is locked while it is counted), and the controller has a
  fork free. A claim bumps the instance's `epoch`.
- **Endings, fenced.** An ending is recorded only if the instance is still the
  controller's at the epoch it claimed, and its lease is live: a controller
  that lost its lease cannot record. Endings are written under the run's row
  lock, so their order in `endings` is their commit order; every mirror
  applies them in that order and so decides the same things (dependants,
  `dep_failed`, hosts that leave, the stop). What follows from an ending — its
  dependants made ready, the states the scheduler decides — is written in the
  same transaction, and a NOTIFY wakes the others when it commits.

At least once, as with SQLite: an instance that was running on a controller
that died is claimed again (`reruns` counts it; the run's notes say so).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg

from orchc.backends.engine import NOT_RUN
from orchc.backends.journal import JournalError, Transition
from orchc.backends.pg_journal import (
    INSERT_TRANSITIONS,
    connection_error,
    create_schema,
    execution_rows,
    shown_url,
    transition_row,
)
from orchc.backends.shard import Shard
from orchc.backends.state import State, state_named
from orchc.plan import Plan

LEASE_SECONDS = 10.0
RECONNECT_SECONDS = 60.0  # how long a controller keeps trying to reach a server that went away


class LeaseLost(Exception):
    """This controller's lease ran out: the others may have taken its work, so it must not record any more."""


class StoreUnreachable(Exception):
    """The connection to PostgreSQL broke; the controller reconnects and rebuilds its mirror."""


@dataclass
class Claim:
    instance: str
    epoch: int
    attempts: int  # attempts so far, this one included
    taken_from: int | None  # the dead controller it was running on, if it was
    attempts_before_move: int = 0  # spent on the hosts a `once` instance moved away from


@dataclass
class Ending:
    instance: str
    state: State
    message: str
    seq: int = 0
    epoch: int = 0
    attempts: int = 0
    notified: list[str] = field(default_factory=list)  # the topics its change notified (`backends.notify`)
    controller: int | None = None  # the controller that recorded it, read back from the store


@dataclass
class Joined:
    run: int
    controller: int
    created: bool
    no_work: dict[str, tuple[State, str]]  # instance → the state it ends in without running


@dataclass
class Consequences:
    """What a batch of endings leads to, as the mirror decided it: written with the endings."""

    transitions: list[Transition] = field(default_factory=list)
    ready: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)  # ended without running (dep_failed, skipped, no work)
    moved: dict[str, str] = field(default_factory=dict)  # a `once` instance → its new host


async def _value(db: psycopg.AsyncConnection[Any], query: str, params: tuple[Any, ...]) -> Any:
    """The first column of the one row `query` returns."""
    row = await (await db.execute(query, params)).fetchone()
    assert row is not None, query
    return row[0]


def _channel(run: int) -> str:
    return f"orchc_run_{run}"


class SharedRun:
    def __init__(self, url: str, lease_seconds: float = LEASE_SECONDS, shard: Shard | None = None) -> None:
        self.url = url
        self.lease = lease_seconds
        self.shard = shard
        self.run = 0
        self.controller = 0
        self.host_count = 0
        self.last_seq = 0  # the last ending the mirror applied
        self._db: psycopg.AsyncConnection[Any] | None = None
        self._keeper: threading.Thread | None = None
        self._stopping = threading.Event()
        self.lost = False

    # --- connections ------------------------------------------------------------------------

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        except psycopg.Error as exc:
            raise connection_error(self.url, exc) from None

    async def open(self) -> None:
        self._db = await self._connect()
        try:
            await asyncio.to_thread(self._create_schema)
        except psycopg.Error as exc:
            raise connection_error(self.url, exc) from None

    def _create_schema(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as db:
            create_schema(db)

    async def reconnect(self) -> None:
        """Connect again after the server went away (a restart): retried for up to RECONNECT_SECONDS."""
        if self._db is not None:
            await self._db.close()
        deadline = time.monotonic() + RECONNECT_SECONDS
        while True:
            try:
                self._db = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise JournalError(
                        f"lost the journal {shown_url(self.url)} and could not reconnect for "
                        f"{RECONNECT_SECONDS:g}s: {exc}",
                        hint="what was recorded is kept; run again once PostgreSQL is back",
                    ) from None
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        await self._stop_keeping()
        if self._db is not None:
            await self._db.close()

    def _conn(self) -> psycopg.AsyncConnection[Any]:
        assert self._db is not None, "SharedRun.open() first"
        return self._db

    async def _transaction(self, body: Callable[[psycopg.AsyncConnection[Any]], Any]) -> Any:
        """`body` in one transaction; a broken connection is StoreUnreachable."""
        db = self._conn()
        try:
            # Pipelined: what `body` writes without reading back goes with the next read, in one round trip.
            async with db.transaction(), db.pipeline():
                return await body(db)
        except psycopg.OperationalError as exc:
            raise StoreUnreachable(str(exc)) from None

    # --- joining ---------------------------------------------------------------------------

    async def join(
        self,
        plan: Plan,
        digest: str,
        options: dict[str, Any],
        no_work: dict[str, tuple[State, str]],
        first_turn: Callable[[int], Consequences],
        name: str,
    ) -> Joined:
        """Join the open run of this Plan, or begin one: then `first_turn(run)` says what is ready at the
        start, and what ends at once, written with the run."""

        async def body(db: psycopg.AsyncConnection[Any]) -> Joined:
            await db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (digest,))
            row = await (
                await db.execute(
                    "SELECT r.id, r.options FROM runs r WHERE r.plan_digest = %s AND r.ended IS NULL AND EXISTS ("
                    " SELECT 1 FROM controllers c WHERE c.run = r.id AND c.lease_until > clock_timestamp()"
                    " AND NOT c.left_run)"
                    " ORDER BY r.id DESC LIMIT 1",
                    (digest,),
                )
            ).fetchone()
            created = row is None
            if row is not None:
                run = row[0]
                strategy = json.loads(row[1]).get("strategy")
                if strategy != options.get("strategy"):  # the schedulers would decide differently
                    raise JournalError(
                        f"run {run} of this Plan, which this controller would join, runs with --strategy "
                        f"{strategy}, this controller with --strategy {options.get('strategy')}",
                        hint=f"start it with --strategy {strategy}, or wait for that run to end",
                    )
            else:
                run = await _value(
                    db,
                    "INSERT INTO runs (started, plan_digest, options) VALUES (%s, %s, %s) RETURNING id",
                    (time.time(), digest, json.dumps(options, sort_keys=True)),
                )
                await self._create_run(db, run, plan, no_work)
            self.run, self.host_count = run, len(plan.hosts)
            ends_at_once = no_work
            if created:
                await self._write(db, first_turn(run))
            else:
                rows = await (
                    await db.execute(
                        "SELECT instance, no_work_state, no_work_message FROM instances "
                        "WHERE run = %s AND no_work_state IS NOT NULL",
                        (run,),
                    )
                ).fetchall()
                ends_at_once = {r[0]: (state_named(r[1]), r[2]) for r in rows}
            # Last, so that the lease runs from the end of what may take long (a large run's first turn).
            self.controller = await _value(
                db,
                "INSERT INTO controllers (run, name, shard, lease_until) "
                "VALUES (%s, %s, %s, clock_timestamp() + make_interval(secs => %s)) RETURNING id",
                (run, name, self.shard.index if self.shard else None, self.lease),
            )
            return Joined(run, self.controller, created, ends_at_once)

        joined: Joined = await self._transaction(body)
        return joined

    async def _create_run(
        self, db: psycopg.AsyncConnection[Any], run: int, plan: Plan, no_work: dict[str, tuple[State, str]]
    ) -> None:
        shards = self.shard.count if self.shard else 1
        await db.execute(
            "INSERT INTO hosts (run, host, shard) SELECT %s, * FROM unnest(%b::text[], %b::int[])",
            (run, [h.name for h in plan.hosts], [position % shards for position in range(len(plan.hosts))]),
        )
        await db.execute(
            "INSERT INTO tasks (run, task, concurrency) SELECT %s, * FROM unnest(%b::text[], %b::int[])",
            (run, [t.id for t in plan.tasks], [t.concurrency for t in plan.tasks]),
        )
        no_work_states = [no_work.get(inst.id) for inst in plan.instances]
        await db.execute(
            "INSERT INTO instances (run, instance, host, task, status, no_work_state, no_work_message) "
            "SELECT %s, i, h, t, 'waiting', s, m FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], "
            "%b::text[]) AS u(i, h, t, s, m)",
            (
                run,
                [inst.id for inst in plan.instances],
                [inst.host for inst in plan.instances],
                [inst.task for inst in plan.instances],
                [None if v is None else str(v[0]) for v in no_work_states],
                ["" if v is None else v[1] for v in no_work_states],
            ),
        )

    # --- wake-ups and the lease ------------------------------------------------------------------

    def watch(self, wake: Callable[[], None], on_lost: Callable[[], None]) -> None:
        """Keep the lease, and call `wake` whenever another controller records something (NOTIFY) — or at
        each renewal, which is when a dead controller's work can be taken. `on_lost` if the lease ran out.

        On a thread and a connection of their own: whatever the controller's event loop is busy with (a
        large batch of endings through the mirror, a claim over thousands of candidates), and whatever its
        own connection's transaction holds, the renewal neither waits for it nor is delayed by it."""
        loop = asyncio.get_running_loop()

        def call(callback: Callable[[], None]) -> None:
            try:
                loop.call_soon_threadsafe(callback)
            except RuntimeError:  # the loop closed: the controller is gone
                pass

        self._stopping.clear()
        self._keeper = threading.Thread(
            target=self._keep_lease, args=(partial(call, wake), partial(call, on_lost)), daemon=True
        )
        self._keeper.start()

    def _keep_lease(self, wake: Callable[[], None], on_lost: Callable[[], None]) -> None:
        """The lease keeper's thread: renew every third of the lease, forward the others' NOTIFYs."""
        db: psycopg.Connection[Any] | None = None
        renewed = time.monotonic()
        try:
            while not self._stopping.is_set():
                try:
                    if db is None or db.closed:
                        db = psycopg.connect(self.url, autocommit=True)
                        db.execute(f"LISTEN {_channel(self.run)}")
                    for notice in db.notifies(timeout=self.lease / 3):
                        if self._stopping.is_set():
                            return
                        if notice.payload != str(self.controller):  # not this controller's own
                            wake()
                    if not self._renewed(db):
                        self.lost = True
                        on_lost()
                        return
                    renewed = time.monotonic()
                    wake()
                except psycopg.OperationalError:
                    if db is not None:
                        db.close()
                    db = None
                    if time.monotonic() - renewed > RECONNECT_SECONDS:
                        self.lost = True
                        on_lost()
                        return
                    self._stopping.wait(0.5)
        finally:
            if db is not None:
                db.close()

    def _renewed(self, db: psycopg.Connection[Any]) -> bool:
        """Renew the lease, if it has not run out; False if it had."""
        row = db.execute(
            "UPDATE controllers SET lease_until = clock_timestamp() + make_interval(secs => %s) "
            "WHERE id = %s AND lease_until > clock_timestamp() AND NOT left_run RETURNING 1",
            (self.lease, self.controller),
        ).fetchone()
        return row is not None

    async def _stop_keeping(self) -> None:
        """Stop the lease keeper's thread (its lease is given up, or left to run out)."""
        keeper, self._keeper = self._keeper, None
        if keeper is None:
            return
        self._stopping.set()
        if self._db is not None and not self._db.closed:
            with contextlib.suppress(psycopg.Error):  # wakes the keeper from its wait for NOTIFYs
                await self._db.execute("SELECT pg_notify(%s, %s)", (_channel(self.run), str(self.controller)))
        await asyncio.to_thread(keeper.join)

    # --- the walk ----------------------------------------------------------------------------------

    async def endings_since(self, seq: int) -> list[Ending]:
        """Every ending recorded after `seq`, in commit order."""
        try:
            return await self._endings_since(self._conn(), seq)
        except psycopg.OperationalError as exc:
            raise StoreUnreachable(str(exc)) from None

    async def _endings_since(self, db: psycopg.AsyncConnection[Any], seq: int) -> list[Ending]:
        cursor = await db.execute(
            "SELECT seq, instance, state, message, notified, controller FROM endings WHERE run = %s AND seq > %s "
            "ORDER BY seq",
            (self.run, seq),
        )
        return [
            Ending(r[1], state_named(r[2]), r[3], seq=r[0], notified=json.loads(r[4]), controller=r[5])
            for r in await cursor.fetchall()
        ]

    async def claim(
        self,
        candidates: list[tuple[str, str | None, str]],
        room: int | None,
        host_slots: int | None,
        busy: dict[str, int],
        concurrency: dict[str, int],
        running: Callable[[list[Claim]], list[Transition]],
    ) -> list[Claim]:
        """Claim what this controller may start of `candidates` (instance, host, task; best first): at most
        `room` (None: no limit), `host_slots` on each host with the `busy` ones running here, each task within its
        `concurrency`.
        `running(claims)` gives the "running" transitions, committed with the claims."""

        async def body(db: psycopg.AsyncConnection[Any]) -> list[Claim]:
            await self._fence(db)
            hosts = sorted({host for _, host, _ in candidates if host is not None})
            mine = await self._take_hosts(db, hosts, set(busy))
            wanted = [c for c in candidates if c[1] is None or c[1] in mine]
            if not wanted:
                return []
            rows = await (
                await db.execute(
                    "SELECT i.instance, i.status, i.owner FROM instances i LEFT JOIN controllers c ON c.id = i.owner "
                    "WHERE i.run = %s AND i.instance = ANY(%b) AND (i.status = 'ready' OR (i.status = 'running' "
                    "AND i.owner <> %s AND (c.lease_until <= clock_timestamp() OR c.left_run))) "
                    "FOR UPDATE OF i SKIP LOCKED",
                    (self.run, [c[0] for c in wanted], self.controller),
                )
            ).fetchall()
            claimable = {r[0]: r[2] if r[1] == "running" else None for r in rows}
            limited = sorted({task for iid, _, task in wanted if iid in claimable and task in concurrency})
            task_busy = await self._task_counts(db, limited)
            chosen: list[tuple[str, int | None]] = []
            on_host: dict[str, int] = {}
            for iid, host, task in wanted:
                if iid not in claimable or (room is not None and len(chosen) >= room):
                    continue
                if (
                    host is not None
                    and host_slots is not None
                    and busy.get(host, 0) + on_host.get(host, 0) >= host_slots
                ):
                    continue
                if task in concurrency and task_busy.get(task, 0) >= concurrency[task]:
                    continue
                chosen.append((iid, claimable[iid]))
                task_busy[task] = task_busy.get(task, 0) + 1
                if host is not None:
                    on_host[host] = on_host.get(host, 0) + 1
            if not chosen:
                return []
            taken_from = dict(chosen)
            rows = await (
                await db.execute(
                    "UPDATE instances SET status = 'running', owner = %s, epoch = epoch + 1, attempts = attempts + 1, "
                    "reruns = reruns + (status = 'running')::int WHERE run = %s AND instance = ANY(%b) "
                    "RETURNING instance, epoch, attempts, attempts_before_move",
                    (self.controller, self.run, [iid for iid, _ in chosen]),
                )
            ).fetchall()
            claims = [Claim(r[0], r[1], r[2], taken_from[r[0]], r[3]) for r in rows]
            await self._insert_transitions(db, running(claims))
            return claims

        claims: list[Claim] = await self._transaction(body)
        return claims

    async def _fence(self, db: psycopg.AsyncConnection[Any]) -> None:
        """LeaseLost unless this controller's lease is live. A plain read, not a lock: the keeper's renewal
        never waits for this transaction. What another controller takes over in the meantime, it takes by
        updating the same instance rows, which this transaction's writes lock or re-check (owner, epoch)."""
        row = await (
            await db.execute(
                "SELECT 1 FROM controllers WHERE id = %s AND lease_until > clock_timestamp() AND NOT left_run",
                (self.controller,),
            )
        ).fetchone()
        if row is None:
            self.lost = True
            raise LeaseLost(f"controller {self.controller} lost its lease on run {self.run}")

    async def _take_hosts(self, db: psycopg.AsyncConnection[Any], hosts: list[str], busy: set[str]) -> set[str]:
        """The hosts among `hosts` this controller owns, after taking those nobody (alive) owns. Without a
        shard, it keeps to its fair share of the hosts (all of them over the live controllers): beyond it,
        it takes none, and gives back the hosts where nothing of it runs, for a controller that joined."""
        if not hosts:
            return set()
        rows = await (
            await db.execute(
                "SELECT h.host, h.owner FROM hosts h LEFT JOIN controllers c ON c.id = h.owner "
                "WHERE h.run = %s AND h.host = ANY(%b) AND (h.owner = %s OR (h.owner IS NULL AND "
                "(%s::int IS NULL OR h.shard = %s::int)) OR c.lease_until <= clock_timestamp() OR c.left_run) "
                "FOR UPDATE OF h SKIP LOCKED",
                (self.run, hosts, self.controller, *([self.shard.index] * 2 if self.shard else [None, None])),
            )
        ).fetchall()
        mine = {r[0] for r in rows if r[1] == self.controller}
        free = [r[0] for r in rows if r[1] != self.controller]
        if self.shard is None:
            live, owned = await (
                await db.execute(
                    "SELECT (SELECT count(*) FROM controllers WHERE run = %s AND lease_until > clock_timestamp() "
                    "AND NOT left_run),"
                    " (SELECT count(*) FROM hosts WHERE run = %s AND owner = %s)",
                    (self.run, self.run, self.controller),
                )
            ).fetchone() or (1, 0)
            fair = -(-self.host_count // max(live, 1))
            free = free[: max(0, fair - owned)]
            if owned > fair:
                given_back = await (
                    await db.execute(
                        "UPDATE hosts SET owner = NULL WHERE run = %s AND host IN (SELECT host FROM hosts "
                        "WHERE run = %s AND owner = %s AND host <> ALL(%b) LIMIT %s FOR UPDATE SKIP LOCKED) "
                        "RETURNING host",
                        (self.run, self.run, self.controller, sorted(busy), owned - fair),
                    )
                ).fetchall()
                if given_back:  # to the controllers waiting for them
                    await db.execute("SELECT pg_notify(%s, %s)", (_channel(self.run), str(self.controller)))
                mine &= busy
        if free:
            await db.execute(
                "UPDATE hosts SET owner = %s WHERE run = %s AND host = ANY(%b)", (self.controller, self.run, free)
            )
        return mine | set(free)

    async def _task_counts(self, db: psycopg.AsyncConnection[Any], tasks: list[str]) -> dict[str, int]:
        """Running instances of each task on live controllers; the tasks' rows stay locked until commit, so
        that two controllers never both see the last free slot."""
        if not tasks:
            return {}
        await db.execute(
            "SELECT 1 FROM tasks WHERE run = %s AND task = ANY(%b) ORDER BY task FOR UPDATE", (self.run, tasks)
        )
        rows = await (
            await db.execute(
                "SELECT i.task, count(*) FROM instances i JOIN controllers c ON c.id = i.owner "
                "WHERE i.run = %s AND i.status = 'running' AND i.task = ANY(%b) AND c.lease_until > clock_timestamp() "
                "AND NOT c.left_run GROUP BY i.task",
                (self.run, tasks),
            )
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    async def record(self, transitions: list[Transition]) -> None:
        """Transitions that decide nothing (a retry's "running"), fenced by the lease."""

        async def body(db: psycopg.AsyncConnection[Any]) -> None:
            await self._fence(db)
            await self._insert_transitions(db, transitions)

        await self._transaction(body)

    async def finish(
        self,
        endings: list[Ending],
        not_run: list[str],
        consequences: Callable[[list[Ending], list[Ending]], Consequences],
    ) -> list[Ending]:
        """Record `endings` of instances this controller claimed, and end those of `not_run` that nobody
        claimed (the deployment stopped) as skipped; returns the endings it may no longer record (the
        instance was taken from it). `consequences(others, own)` applies first the endings other controllers
        recorded since the mirror last looked, then `own`, and says what follows: written in the same
        transaction, then NOTIFY."""

        async def body(db: psycopg.AsyncConnection[Any]) -> list[Ending]:
            await self._fence(db)
            # Its own instances' rows first, before the run's lock: no other controller's consequences
            # touch a running instance, so taking them here neither waits for those nor holds them up.
            rows = await (
                await db.execute(
                    "UPDATE instances i SET status = 'ended', attempts = e.attempts "
                    "FROM unnest(%b::text[], %b::int[], %b::int[]) AS e(instance, epoch, attempts) "
                    "WHERE i.run = %s AND i.instance = e.instance AND i.owner = %s AND i.epoch = e.epoch "
                    "AND i.status = 'running' RETURNING i.instance",
                    (
                        [e.instance for e in endings],
                        [e.epoch for e in endings],
                        [e.attempts for e in endings],
                        self.run,
                        self.controller,
                    ),
                )
            ).fetchall()
            mine = {r[0] for r in rows}
            own = [e for e in endings if e.instance in mine]
            fenced = [
                e for e in endings if e.instance not in mine and not await self.recorded(e.instance, e.epoch)
            ]  # a claim not updated, yet recorded: committed before the connection broke
            await self._lock_run(db)
            if not_run:
                rows = await (
                    await db.execute(
                        "UPDATE instances SET status = 'ended' WHERE run = %s AND instance = ANY(%b) "
                        "AND status = 'ready' RETURNING instance",
                        (self.run, not_run),
                    )
                ).fetchall()
                own.extend(Ending(r[0], State.SKIPPED, NOT_RUN) for r in rows)
            # Own endings first, then every ending since the mirror last looked: one round trip. Under
            # the run's lock nobody else adds any, so the others are those not inserted here.
            inserted = await db.execute(
                "INSERT INTO endings (run, instance, state, message, notified, controller, epoch) "
                "SELECT %s, i, s, m, n, %s, p FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::int[]) "
                "AS u(i, s, m, n, p) RETURNING seq",
                (
                    self.run,
                    self.controller,
                    [e.instance for e in own],
                    [str(e.state) for e in own],
                    [e.message for e in own],
                    [json.dumps(e.notified) for e in own],
                    [e.epoch for e in own],
                ),
            )
            since = await self._endings_since(db, self.last_seq)
            own_seqs = {r[0] for r in await inserted.fetchall()}
            others = [e for e in since if e.seq not in own_seqs]
            self.last_seq = max((e.seq for e in since), default=self.last_seq)
            await self._write(db, consequences(others, own))
            await db.execute("SELECT pg_notify(%s, %s)", (_channel(self.run), str(self.controller)))
            return fenced

        fenced: list[Ending] = await self._transaction(body)
        return fenced

    async def _lock_run(self, db: psycopg.AsyncConnection[Any]) -> None:
        """The run's row lock, under which endings are ordered. NO KEY UPDATE, not UPDATE: the foreign
        keys of what claims insert meanwhile (transitions of the run) take KEY SHARE locks on that row,
        which only FOR UPDATE would make them wait for."""
        await db.execute("SELECT 1 FROM runs WHERE id = %s FOR NO KEY UPDATE", (self.run,))

    async def _write(self, db: psycopg.AsyncConnection[Any], what: Consequences) -> None:
        for iid, host in what.moved.items():
            await db.execute(
                "UPDATE instances SET host = %s, status = 'waiting', attempts_before_move = attempts "
                "WHERE run = %s AND instance = %s",
                (host, self.run, iid),
            )
        if what.ready:
            await db.execute(
                "UPDATE instances SET status = 'ready' WHERE run = %s AND instance = ANY(%b) AND status = 'waiting'",
                (self.run, what.ready),
            )
        if what.ended:
            await db.execute(
                "UPDATE instances SET status = 'ended' WHERE run = %s AND instance = ANY(%b) "
                "AND status IN ('waiting', 'ready')",
                (self.run, what.ended),
            )
        await self._insert_transitions(db, what.transitions)

    async def _insert_transitions(self, db: psycopg.AsyncConnection[Any], transitions: Iterable[Transition]) -> None:
        batch = list(transitions)
        if not batch:
            return
        columns = [list(column) for column in zip(*(transition_row(self.run, t) for t in batch), strict=True)]
        await db.execute(INSERT_TRANSITIONS, columns)
        latest = {row[0]: row[1:] for row in execution_rows(self.run, batch)}  # the last of each
        if latest:
            await db.execute(
                "INSERT INTO latest_executions SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::bigint[]) "
                "ON CONFLICT (instance) DO UPDATE SET state = EXCLUDED.state, change_key = EXCLUDED.change_key, "
                "success_run = coalesce(EXCLUDED.success_run, latest_executions.success_run)",
                (list(latest), *([v[i] for v in latest.values()] for i in range(3))),
            )

    async def recorded(self, instance: str, epoch: int) -> bool:
        """Whether this controller's ending of `instance` at `epoch` was committed (its reply may have been
        lost with the connection)."""
        row = await (
            await self._conn().execute(
                "SELECT 1 FROM endings WHERE run = %s AND instance = %s AND controller = %s AND epoch = %s",
                (self.run, instance, self.controller, epoch),
            )
        ).fetchone()
        return row is not None

    # --- leaving -----------------------------------------------------------------------------------

    async def leave(self, outcome: str | None, notes: Callable[[list[str]], list[str]]) -> bool:
        """Give up the lease and the hosts; end the run if it is done (`outcome`) or this was its last live
        controller (interrupted). `notes(reruns)` gives the run's notes. Returns whether the run ended."""

        async def body(db: psycopg.AsyncConnection[Any]) -> bool:
            await self._lock_run(db)
            await db.execute("UPDATE controllers SET left_run = TRUE WHERE id = %s", (self.controller,))
            others = await (
                await db.execute(
                    "SELECT 1 FROM controllers WHERE run = %s AND lease_until > clock_timestamp() "
                    "AND NOT left_run LIMIT 1",
                    (self.run,),
                )
            ).fetchone()
            ending = outcome if outcome is not None else None if others else "interrupted"
            if ending is None:
                await db.execute("SELECT pg_notify(%s, %s)", (_channel(self.run), str(self.controller)))
                return False
            rows = await (
                await db.execute(
                    "SELECT instance FROM instances WHERE run = %s AND reruns > 0 ORDER BY instance", (self.run,)
                )
            ).fetchall()
            await db.execute(
                "UPDATE runs SET ended = %s, outcome = %s, notes = %s WHERE id = %s AND ended IS NULL",
                (time.time(), ending, json.dumps(notes([r[0] for r in rows])), self.run),
            )
            await db.execute("SELECT pg_notify(%s, %s)", (_channel(self.run), str(self.controller)))
            return True

        ended: bool = await self._transaction(body)
        return ended
