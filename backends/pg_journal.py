"""The journal in PostgreSQL: the same history as `SqliteJournal`, in a database several controllers share.

`PostgresJournal` is the `Journal` interface over one (synchronous) psycopg 3
connection: what `status`, `report`, `simulate` and resume read, and the
journal test suite exercises on both stores. The tables a shared run
coordinates its controllers with (`controllers`, `hosts`, `instances`,
`endings`, `tasks`) are created here too; `backends.pg_shared` uses them.

Durability is PostgreSQL's: a committed transition survives the server's
restart (the tests restart it mid-run).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from orchc.backends.journal import (
    DONE_STATES,
    EXECUTED_STATES,
    EXECUTIONS_QUERY,
    LATEST_EXECUTION_COLUMNS,
    RUN_COLUMNS,
    RUNS_QUERY,
    SUCCESS_RUNS,
    TRANSITION_COLUMNS,
    UPSERT_EXECUTION,
    Execution,
    Journal,
    JournalError,
    LastSuccesses,
    RunGraph,
    RunRecord,
    Transition,
    execution_row,
    executions_read,
    last_successes_read,
    run_record,
    transition_row,
    transitions_read,
)
from orchc.backends.state import State

# 1: the first; 2: latest_executions.success_run (as the SQLite journal's format 3); 3: transitions.notified
# and endings.notified (as its format 4); 4: instances.attempts_before_move (a shared run's `once` instance
# that moved keeps its retries).
FORMAT = 4

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS orchc_format (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id BIGSERIAL PRIMARY KEY,{RUN_COLUMNS}
);
CREATE TABLE IF NOT EXISTS transitions (
    seq BIGSERIAL PRIMARY KEY,
    run BIGINT NOT NULL REFERENCES runs(id),{TRANSITION_COLUMNS}
);
CREATE INDEX IF NOT EXISTS transitions_by_run ON transitions(run, seq);
CREATE TABLE IF NOT EXISTS latest_executions ({LATEST_EXECUTION_COLUMNS}
);
CREATE TABLE IF NOT EXISTS run_graphs (plan_digest TEXT PRIMARY KEY, graph BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS controllers (
    id BIGSERIAL PRIMARY KEY,
    run BIGINT NOT NULL REFERENCES runs(id),
    name TEXT NOT NULL,
    shard INTEGER,
    lease_until TIMESTAMPTZ NOT NULL,
    left_run BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE IF NOT EXISTS hosts (
    run BIGINT NOT NULL REFERENCES runs(id),
    host TEXT NOT NULL,
    shard INTEGER NOT NULL,
    owner BIGINT REFERENCES controllers(id),
    PRIMARY KEY (run, host)
);
CREATE TABLE IF NOT EXISTS tasks (
    run BIGINT NOT NULL REFERENCES runs(id),
    task TEXT NOT NULL,
    concurrency INTEGER,
    PRIMARY KEY (run, task)
);
CREATE TABLE IF NOT EXISTS instances (
    run BIGINT NOT NULL REFERENCES runs(id),
    instance TEXT NOT NULL,
    host TEXT,
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    owner BIGINT REFERENCES controllers(id),
    epoch INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    reruns INTEGER NOT NULL DEFAULT 0,
    attempts_before_move INTEGER NOT NULL DEFAULT 0,
    no_work_state TEXT,
    no_work_message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run, instance)
);
CREATE INDEX IF NOT EXISTS instances_running ON instances(run, task) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS endings (
    seq BIGSERIAL PRIMARY KEY,
    run BIGINT NOT NULL REFERENCES runs(id),
    instance TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL,
    notified TEXT NOT NULL DEFAULT '[]',
    controller BIGINT,
    epoch INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS endings_by_run ON endings(run, seq);
"""

_COLUMNS = (
    "instance, state, host, attempt, time, fingerprint, change_key, rc, stdout_tail, stderr_tail, message, run, "
    "notified"
)
_TYPES = "text, text, text, int, float8, text, text, int, text, text, text, bigint, text"
# A batch of transitions as one statement: one array per column, sent binary (text arrays are quoted
# element by element, in Python).
INSERT_TRANSITIONS = (
    f"INSERT INTO transitions ({_COLUMNS}) SELECT * FROM unnest("
    + ", ".join(f"%b::{kind}[]" for kind in _TYPES.split(", "))
    + ")"
)
INSERT_TRANSITION = f"INSERT INTO transitions ({_COLUMNS}) VALUES ({', '.join(['%s'] * 13)})"
UPSERT_EXECUTION_PG = UPSERT_EXECUTION.format("%s")
# One lock for creating the tables: controllers that start together must not race each other's DDL.
SCHEMA_LOCK = 0x6F72636863  # "orchc"


def shown_url(url: str) -> str:
    """The URL without its password: what messages may show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc}"))


def connection_error(url: str, exc: psycopg.Error) -> JournalError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return JournalError(
        f"cannot use the journal {shown_url(url)}: {first}",
        hint="start PostgreSQL (see the README, 'Several controllers'), or check the URL: "
        "postgresql://USER@HOST:PORT/DATABASE",
    )


def execution_rows(run: int, transitions: Iterable[Transition]) -> list[tuple[str, str, str, int | None]]:
    return [execution_row(run, t) for t in transitions if t.state in EXECUTED_STATES]


def create_schema(db: psycopg.Connection[Any]) -> None:
    """The tables, once per database; a database written by a newer orchc is refused."""
    # The DDL only when the tables are missing: CREATE INDEX IF NOT EXISTS locks its table even when the
    # index exists, and that lock would wait for (or deadlock with) the controllers already running.
    if db.execute("SELECT to_regclass('orchc_format')").fetchone() == (None,):
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            db.execute(SCHEMA)  # a no-op if another controller created the tables meanwhile
            if db.execute("SELECT version FROM orchc_format").fetchone() is None:
                db.execute("INSERT INTO orchc_format VALUES (%s)", (FORMAT,))
    row = db.execute("SELECT version FROM orchc_format").fetchone()
    if row is not None and row[0] > FORMAT:
        raise JournalError(
            f"the journal database was written by a newer orchc (format {row[0]}, this one reads {FORMAT})",
            hint="upgrade orchc, or pass --journal with another database",
        )
    if row is not None and row[0] < FORMAT:
        _upgrade(db)


def _upgrade(db: psycopg.Connection[Any]) -> None:
    """An older database: format 1 gains the run of each instance's latest success, found in its
    transitions; format 2 the topics of each transition (none); format 3 the attempts a moved instance spent
    before it moved (none, for what ran)."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        row = db.execute("SELECT version FROM orchc_format").fetchone()
        if row is None or row[0] >= FORMAT:
            return  # another controller upgraded it meanwhile
        for table in ("transitions", "endings"):
            db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS notified TEXT NOT NULL DEFAULT '[]'")
        if row[0] < 2:
            db.execute("ALTER TABLE latest_executions ADD COLUMN IF NOT EXISTS success_run BIGINT")
            db.execute(SUCCESS_RUNS.format("%s, " * (len(DONE_STATES) - 1) + "%s"), [s.value for s in DONE_STATES])
        db.execute("ALTER TABLE instances ADD COLUMN IF NOT EXISTS attempts_before_move INTEGER NOT NULL DEFAULT 0")
        db.execute("UPDATE orchc_format SET version = %s", (FORMAT,))


class PostgresJournal(Journal):
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self._db = psycopg.connect(url, autocommit=True)
            create_schema(self._db)
        except psycopg.Error as exc:
            raise connection_error(url, exc) from None

    def _execute(self, query: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            cursor = self._db.execute(query, tuple(params))
            return cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            raise connection_error(self.url, exc) from None

    def begin_run(self, plan_digest: str, options: dict[str, Any]) -> int:
        rows = self._execute(
            "INSERT INTO runs (started, plan_digest, options) VALUES (%s, %s, %s) RETURNING id",
            (time.time(), plan_digest, json.dumps(options, sort_keys=True)),
        )
        return int(rows[0][0])

    def record(self, run: int, transitions: Iterable[Transition]) -> None:
        batch = list(transitions)
        if not batch:
            return
        try:
            with self._db.transaction(), self._db.cursor() as cursor:
                cursor.executemany(INSERT_TRANSITION, [transition_row(run, t) for t in batch])
                cursor.executemany(UPSERT_EXECUTION_PG, execution_rows(run, batch))
        except psycopg.Error as exc:
            raise connection_error(self.url, exc) from None

    def end_run(self, run: int, outcome: str, notes: list[str]) -> None:
        self._execute(
            "UPDATE runs SET ended = %s, outcome = %s, notes = %s WHERE id = %s",
            (time.time(), outcome, json.dumps(notes), run),
        )

    def done_keys(self) -> dict[str, str]:
        words = [state.value for state in DONE_STATES]
        rows = self._execute("SELECT instance, change_key FROM latest_executions WHERE state = ANY(%s)", (words,))
        return {row[0]: row[1] for row in rows}

    def last_successes(self, instances: Collection[str], before_run: int | None = None) -> dict[str, LastSuccesses]:
        rows = self._execute(
            "SELECT instance, MAX(CASE WHEN state = %s THEN seq END), MAX(seq) FROM transitions "
            "WHERE state = ANY(%s) AND instance = ANY(%s) AND (%s::bigint IS NULL OR run < %s) GROUP BY instance",
            (State.CHANGED.value, [state.value for state in DONE_STATES], list(instances), before_run, before_run),
        )
        reported = self._execute(
            "SELECT instance, seq, notified FROM transitions WHERE notified != '[]' AND state = %s "
            "AND instance = ANY(%s) AND (%s::bigint IS NULL OR run < %s)",
            (State.CHANGED.value, list(instances), before_run, before_run),
        )
        return last_successes_read(rows, reported)

    def executions(self) -> dict[str, Execution]:
        return executions_read(self._execute(EXECUTIONS_QUERY), shown_url(self.url))

    def runs(self) -> list[RunRecord]:
        return [run_record(r) for r in self._execute(RUNS_QUERY)]

    def transitions(self, run: int) -> list[Transition]:
        rows = self._execute(f"SELECT {_COLUMNS} FROM transitions WHERE run = %s ORDER BY seq", (run,))
        return transitions_read(rows, shown_url(self.url))

    def has_graph(self, plan_digest: str) -> bool:
        return bool(self._execute("SELECT 1 FROM run_graphs WHERE plan_digest = %s", (plan_digest,)))

    def record_graph(self, plan_digest: str, graph: RunGraph) -> None:
        self._execute(
            "INSERT INTO run_graphs VALUES (%s, %s) ON CONFLICT (plan_digest) DO NOTHING", (plan_digest, graph.encode())
        )

    def graph(self, plan_digest: str) -> RunGraph | None:
        rows = self._execute("SELECT graph FROM run_graphs WHERE plan_digest = %s", (plan_digest,))
        return RunGraph.decode(bytes(rows[0][0])) if rows else None

    def close(self) -> None:
        self._db.close()
