"""The journal: every state change of every run, in one SQLite file.

The runner writes each transition BEFORE it acts on it: "running" is committed
before the process starts, an ending is committed before any dependant starts.
A crash therefore leaves at worst an instance recorded as "running", which the
next run treats as not done and runs again; it can never leave an instance
recorded as done that did not finish. ("ready" is not written: it follows
from the graph and the other states; "pending" is written only when a `once`
instance moves to another host.)

Durability: WAL with `synchronous=NORMAL`. A commit survives the death of the
process (SIGKILL, a crash) at once; only a power loss can roll back the last
few commits, and it rolls back a suffix — so the worst case is re-running an
instance that had finished, never skipping one that had not. FULL would buy
nothing for that guarantee and cost an fsync per commit.

`Journal` is the interface; `SqliteJournal` is the embedded store, and
`backends.pg_journal.PostgresJournal` the one several controllers share
(`open_journal` picks by the spec: a `postgresql://` URL or a file).
Transitions arrive in batches, one transaction per batch: the runner writes
the changes of one turn of its loop together (group commit).
"""

from __future__ import annotations

import abc
import dataclasses
import fcntl
import json
import sqlite3
import time
import zlib
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pydantic_core

from orchc.backends.state import State, state_named

TAIL_BYTES = 4096
# The states that mean "this instance was run": the last one of them decides
# whether a re-run may skip it. dep_failed / skipped / not run leave it as it was.
EXECUTED_STATES = (State.RUNNING, *(state for state in State if state.ran))
DONE_STATES = tuple(state for state in State if state.ran and state.is_success)


class JournalError(Exception):
    """The journal cannot be opened, is in use or is damaged; `hint` says what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _sqlite_error(path: Path, exc: sqlite3.Error) -> JournalError:
    """What an error of SQLite means for the user: a damaged file is kept as it is, and another one can be used."""
    name = exc.sqlite_errorname or ""
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        what = "is damaged" if name.startswith("SQLITE_CORRUPT") else "is not an orchc journal, or is damaged"
        return JournalError(
            f"the journal {path} {what} ({exc})",
            hint=f"orchc neither repairs nor replaces it. To go on, start a fresh journal: pass "
            f"--journal NEW.db, or move this one aside (`mv {path} {path}.damaged`); the next run "
            "then runs everything, as a first run does",
        )
    return JournalError(f"cannot use the journal {path}: {exc}")


@dataclass(slots=True)
class Transition:
    """One state change of one instance in one run."""

    instance: str
    state: State
    host: str | None = None
    attempt: int = 0
    time: float = 0.0
    fingerprint: str = ""
    change_key: str = ""
    rc: int | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    message: str = ""
    run: int = 0
    notified: list[str] = dataclasses.field(default_factory=list)  # topics its change notified (`backends.notify`)


class LastSuccesses(NamedTuple):
    """Positions in a journal's history (its transitions' order) of an instance's latest endings."""

    changed: int | None  # its last `changed` ending; None if it never changed
    success: int  # its last successful ending (`ok` or `changed`)
    notified: dict[str, int] = {}  # topic → its last successful ending that reported it


def last_successes_read(
    rows: Iterable[tuple[Any, ...]], reports: Iterable[tuple[Any, ...]]
) -> dict[str, LastSuccesses]:
    """LastSuccesses from rows (instance, last changed, last success) and (instance, seq, notified JSON)."""
    topics: dict[str, dict[str, int]] = {}
    for instance, seq, notified in reports:
        for topic in json.loads(notified):
            mark = topics.setdefault(instance, {})
            mark[topic] = max(seq, mark.get(topic, seq))
    return {instance: LastSuccesses(changed, success, topics.get(instance, {})) for instance, changed, success in rows}


@dataclass
class RunRecord:
    id: int
    started: float
    ended: float | None
    plan_digest: str
    options: dict[str, Any]
    outcome: str | None  # "succeeded", "failed", "interrupted"; None if it never ended (crash)
    notes: list[str] = dataclasses.field(default_factory=list)  # why it stopped, hosts that left


@dataclass
class Execution:
    """An instance's latest execution, and the run of its latest success (None: it never succeeded)."""

    state: State
    change_key: str
    success_run: int | None


@dataclass
class RunGraph:
    """What `status`, `report` and `plan` need of the Plan a run ran, kept beside its runs: the hosts in
    inventory order, the roles with their hosts, each instance's task and dependencies (`any_of` members
    included), and the digests of what fingerprints are made of (`Task.inputs` by task, the non-empty
    `Instance.inputs` by instance; empty in graphs kept by an orchc that did not record them)."""

    hosts: list[str]
    roles: dict[str, list[str]]
    tasks: dict[str, str]
    deps: dict[str, list[str]]
    task_inputs: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    inputs: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def inputs_of(self, instance: str) -> dict[str, str] | None:
        """The digests of an instance's inputs in this Plan; None if the graph did not record them."""
        task = self.tasks.get(instance)
        if task is None or task not in self.task_inputs:
            return None
        return {**self.task_inputs[task], **self.inputs.get(instance, {})}

    def encode(self) -> bytes:
        # pydantic-core's encoder: json.dumps of dataclasses.asdict took 2 s for a 100k-instance Plan.
        return zlib.compress(pydantic_core.to_json(self))

    @classmethod
    def decode(cls, data: bytes) -> RunGraph:
        return cls(**json.loads(zlib.decompress(data)))


def tail(text: str, limit: int = TAIL_BYTES) -> str:
    """The last `limit` bytes of output, cut at a character boundary."""
    if len(text) * 4 <= limit:  # no character takes more than 4 bytes
        return text
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    return data[-limit:].decode("utf-8", errors="ignore")


def transition_row(run: int, t: Transition) -> tuple[Any, ...]:
    """`t` of `run` as a row of the transitions table, its outputs cut to their tails (`t` keeps both)."""
    t.run = run
    t.stdout_tail, t.stderr_tail = tail(t.stdout_tail), tail(t.stderr_tail)
    return (
        t.instance,
        str(t.state),
        t.host,
        t.attempt,
        t.time,
        t.fingerprint,
        t.change_key,
        t.rc,
        t.stdout_tail,
        t.stderr_tail,
        t.message,
        t.run,
        json.dumps(t.notified),
    )


class Journal(abc.ABC):
    """What the runner, `status`, `simulate` and `report` need from a state store."""

    @abc.abstractmethod
    def begin_run(self, plan_digest: str, options: dict[str, Any]) -> int:
        """Start a run; returns its id. Fails if another run holds the journal."""

    @abc.abstractmethod
    def record(self, run: int, transitions: Iterable[Transition]) -> None:
        """Write a batch of transitions durably, in one transaction."""

    @abc.abstractmethod
    def end_run(self, run: int, outcome: str, notes: list[str]) -> None: ...

    @abc.abstractmethod
    def done_keys(self) -> dict[str, str]:
        """instance id → change_key of its last execution, for instances whose last execution succeeded."""

    @abc.abstractmethod
    def last_successes(self, instances: Collection[str], before_run: int | None = None) -> dict[str, LastSuccesses]:
        """For those of `instances` that ever succeeded (in the runs before `before_run`, if given): where
        their last success and their last `changed` are in the history (for pending notifications,
        `backends.notify`)."""

    @abc.abstractmethod
    def executions(self) -> dict[str, Execution]:
        """instance id → its latest execution, for every instance that was ever run."""

    @abc.abstractmethod
    def runs(self) -> list[RunRecord]: ...

    @abc.abstractmethod
    def transitions(self, run: int) -> list[Transition]: ...

    @abc.abstractmethod
    def has_graph(self, plan_digest: str) -> bool:
        """Whether the graph of this Plan is kept (a resume need not build it again)."""

    @abc.abstractmethod
    def record_graph(self, plan_digest: str, graph: RunGraph) -> None:
        """Keep the graph of a Plan (a second one for the same digest is ignored)."""

    @abc.abstractmethod
    def graph(self, plan_digest: str) -> RunGraph | None:
        """The graph of a Plan a run ran; None for runs of an orchc that did not keep it."""

    @abc.abstractmethod
    def close(self) -> None: ...


# The columns both stores declare alike (in SQLite, DOUBLE PRECISION is REAL: an 8-byte float).
RUN_COLUMNS = """
    started DOUBLE PRECISION NOT NULL,
    ended DOUBLE PRECISION,
    plan_digest TEXT NOT NULL,
    options TEXT NOT NULL,
    outcome TEXT,
    notes TEXT NOT NULL DEFAULT '[]'"""
TRANSITION_COLUMNS = """
    instance TEXT NOT NULL,
    host TEXT,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    fingerprint TEXT NOT NULL,
    change_key TEXT NOT NULL,
    rc INTEGER,
    stdout_tail TEXT NOT NULL,
    stderr_tail TEXT NOT NULL,
    message TEXT NOT NULL,
    notified TEXT NOT NULL DEFAULT '[]'"""
LATEST_EXECUTION_COLUMNS = """
    instance TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    change_key TEXT NOT NULL,
    success_run BIGINT"""
# An execution replaces the instance's latest one; the run of its latest success is kept unless it succeeded.
UPSERT_EXECUTION = (
    "INSERT INTO latest_executions (instance, state, change_key, success_run) VALUES ({0}, {0}, {0}, {0}) "
    "ON CONFLICT (instance) DO UPDATE SET state = excluded.state, change_key = excluded.change_key, "
    "success_run = coalesce(excluded.success_run, latest_executions.success_run)"
)
# The run of each instance's latest success, from the transitions (a journal written before it was kept).
SUCCESS_RUNS = (
    "UPDATE latest_executions SET success_run = (SELECT max(t.run) FROM transitions t "
    "WHERE t.instance = latest_executions.instance AND t.state IN ({}))"
)
EXECUTIONS_QUERY = "SELECT instance, state, change_key, success_run FROM latest_executions"


def execution_row(run: int, t: Transition) -> tuple[str, str, str, int | None]:
    """A row for UPSERT_EXECUTION, of a transition in EXECUTED_STATES."""
    return (t.instance, str(t.state), t.change_key, run if t.state in DONE_STATES else None)


def executions_read(rows: Iterable[tuple[Any, ...]], journal: str) -> dict[str, Execution]:
    try:
        return {row[0]: Execution(state_named(row[1]), row[2], row[3]) for row in rows}
    except ValueError as exc:
        raise unknown_state(journal, exc) from None


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,{RUN_COLUMNS}
);
CREATE TABLE IF NOT EXISTS transitions (
    seq INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs(id),{TRANSITION_COLUMNS}
);
CREATE INDEX IF NOT EXISTS transitions_by_run ON transitions(run, seq);
CREATE TABLE IF NOT EXISTS latest_executions ({LATEST_EXECUTION_COLUMNS}
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_graphs (
    plan_digest TEXT PRIMARY KEY,
    graph BLOB NOT NULL
) WITHOUT ROWID;
"""

# The format of the file, in `PRAGMA user_version`. Older files are upgraded in
# place when opened (their history kept); a newer one is refused.
# 1: latest_executions; 2: run_graphs (a Plan's hosts, roles and dependencies, for status and report);
# 3: latest_executions.success_run (the run of each instance's latest success, for `orchc plan`);
# 4: transitions.notified (the topics a change notified, for `when notified(TASK "TOPIC")`).
FORMAT = 4

_COLUMNS = [f.name for f in dataclasses.fields(Transition)]
_UPSERT_EXECUTION = UPSERT_EXECUTION.format("?")
_INSERT = f"INSERT INTO transitions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


class SqliteJournal(Journal):
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._upgrade()
        except OSError as exc:
            raise JournalError(f"cannot open the journal {path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise _sqlite_error(path, exc) from None
        self._lock_file: Any = None

    @contextmanager
    def _database(self) -> Iterator[sqlite3.Connection]:
        """The database, for one method: an error of SQLite (a damaged file, a full disk) is a JournalError."""
        try:
            yield self._db
        except sqlite3.DatabaseError as exc:
            raise _sqlite_error(self.path, exc) from None

    def _upgrade(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > FORMAT:
            raise JournalError(
                f"the journal {self.path} was written by a newer orchc (format {version}, this one "
                f"reads {FORMAT}): upgrade orchc, or pass --journal to start another"
            )
        if version == FORMAT:
            return
        # Format 0 (a new file, or one written before the format was numbered), 1, 2 or 3: every statement of
        # the schema is idempotent.
        self._db.execute("BEGIN")
        for statement in filter(str.strip, _SCHEMA.split(";")):
            self._db.execute(statement)
        if "notes" not in {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}:
            self._db.execute("ALTER TABLE runs ADD COLUMN notes TEXT NOT NULL DEFAULT '[]'")
        if "notified" not in {row[1] for row in self._db.execute("PRAGMA table_info(transitions)")}:
            self._db.execute("ALTER TABLE transitions ADD COLUMN notified TEXT NOT NULL DEFAULT '[]'")
        if "success_run" not in {row[1] for row in self._db.execute("PRAGMA table_info(latest_executions)")}:
            self._db.execute("ALTER TABLE latest_executions ADD COLUMN success_run BIGINT")
        marks = ", ".join("?" * len(EXECUTED_STATES))
        self._db.execute(
            f"INSERT OR REPLACE INTO latest_executions (instance, state, change_key) SELECT instance, state, "
            f"change_key FROM transitions WHERE state IN ({marks}) ORDER BY seq",
            EXECUTED_STATES,
        )
        self._db.execute(SUCCESS_RUNS.format(", ".join("?" * len(DONE_STATES))), DONE_STATES)
        self._db.execute(f"PRAGMA user_version = {FORMAT}")
        self._db.execute("COMMIT")

    def begin_run(self, plan_digest: str, options: dict[str, Any]) -> int:
        self._lock()
        with self._database() as db:
            cursor = db.execute(
                "INSERT INTO runs (started, plan_digest, options) VALUES (?, ?, ?)",
                (time.time(), plan_digest, json.dumps(options, sort_keys=True)),
            )
        return int(cursor.lastrowid or 0)

    def record(self, run: int, transitions: Iterable[Transition]) -> None:
        rows, executions = [], []
        for t in transitions:
            rows.append(transition_row(run, t))
            if t.state in EXECUTED_STATES:
                executions.append(execution_row(run, t))
        if not rows:
            return
        with self._database() as db:
            db.execute("BEGIN")
            db.executemany(_INSERT, rows)
            db.executemany(_UPSERT_EXECUTION, executions)
            db.execute("COMMIT")

    def end_run(self, run: int, outcome: str, notes: list[str]) -> None:
        with self._database() as db:
            db.execute(
                "UPDATE runs SET ended = ?, outcome = ?, notes = ? WHERE id = ?",
                (time.time(), outcome, json.dumps(notes), run),
            )

    def done_keys(self) -> dict[str, str]:
        marks = ", ".join("?" * len(DONE_STATES))
        query = f"SELECT instance, change_key FROM latest_executions WHERE state IN ({marks})"
        with self._database() as db:
            return dict(db.execute(query, DONE_STATES).fetchall())

    def last_successes(self, instances: Collection[str], before_run: int | None = None) -> dict[str, LastSuccesses]:
        marks = ", ".join("?" * len(DONE_STATES))
        query = (
            f"SELECT instance, MAX(CASE WHEN state = ? THEN seq END), MAX(seq) FROM transitions "
            f"WHERE state IN ({marks}) AND instance IN (SELECT value FROM json_each(?)) AND (? IS NULL OR run < ?) "
            "GROUP BY instance"
        )
        params = (State.CHANGED.value, *DONE_STATES, json.dumps(list(instances)), before_run, before_run)
        reports = (
            "SELECT instance, seq, notified FROM transitions WHERE notified != '[]' AND state = ? "
            "AND instance IN (SELECT value FROM json_each(?)) AND (? IS NULL OR run < ?)"
        )
        with self._database() as db:
            rows = db.execute(query, params).fetchall()
            reported = db.execute(reports, (State.CHANGED.value, *params[-3:])).fetchall()
        return last_successes_read(rows, reported)

    def executions(self) -> dict[str, Execution]:
        with self._database() as db:
            return executions_read(db.execute(EXECUTIONS_QUERY).fetchall(), str(self.path))

    def runs(self) -> list[RunRecord]:
        with self._database() as db:
            return [run_record(r) for r in db.execute(RUNS_QUERY)]

    def transitions(self, run: int) -> list[Transition]:
        query = f"SELECT {', '.join(_COLUMNS)} FROM transitions WHERE run = ? ORDER BY seq"
        with self._database() as db:
            rows = db.execute(query, (run,)).fetchall()
        return transitions_read(rows, str(self.path))

    def has_graph(self, plan_digest: str) -> bool:
        with self._database() as db:
            return db.execute("SELECT 1 FROM run_graphs WHERE plan_digest = ?", (plan_digest,)).fetchone() is not None

    def record_graph(self, plan_digest: str, graph: RunGraph) -> None:
        with self._database() as db:
            db.execute("INSERT OR IGNORE INTO run_graphs VALUES (?, ?)", (plan_digest, graph.encode()))

    def graph(self, plan_digest: str) -> RunGraph | None:
        with self._database() as db:
            row = db.execute("SELECT graph FROM run_graphs WHERE plan_digest = ?", (plan_digest,)).fetchone()
        return None if row is None else RunGraph.decode(row[0])

    def close(self) -> None:
        self._db.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _lock(self) -> None:
        """One run at a time per journal: a second `orchc run` beside a live one is refused."""
        self._lock_file = open(self.path.with_name(self.path.name + ".lock"), "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise JournalError(
                f"another orchc run is using the journal {self.path}; "
                "wait for it to end, or pass --journal to use another"
            ) from None


POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


def is_postgresql(spec: str | Path) -> bool:
    """A journal spec that names a PostgreSQL database rather than a file."""
    return isinstance(spec, str) and spec.startswith(POSTGRESQL_SCHEMES)


def open_journal(spec: str | Path) -> Journal:
    """The journal `spec` names: a PostgreSQL database by its URL, else a SQLite file (created if missing)."""
    if not is_postgresql(spec):
        return SqliteJournal(Path(spec))
    try:
        from orchc.backends.pg_journal import PostgresJournal
    except ImportError:
        raise JournalError(
            "a PostgreSQL journal needs psycopg 3, which is not installed",
            hint="pip install 'orchc[postgresql]'",
        ) from None
    return PostgresJournal(str(spec))


RUNS_QUERY = "SELECT id, started, ended, plan_digest, options, outcome, notes FROM runs ORDER BY id"


def run_record(row: tuple[Any, ...]) -> RunRecord:
    """A row of RUNS_QUERY."""
    return RunRecord(
        id=row[0],
        started=row[1],
        ended=row[2],
        plan_digest=row[3],
        options=json.loads(row[4]),
        outcome=row[5],
        notes=json.loads(row[6]),
    )


def transitions_read(rows: Iterable[tuple[Any, ...]], journal: str) -> list[Transition]:
    """Rows of a transitions table, in Transition's field order; a state this orchc does not know is an error."""
    try:
        read = [(Transition(row[0], state_named(row[1]), *row[2:-1]), row[-1]) for row in rows]
    except ValueError as exc:
        raise unknown_state(journal, exc) from None
    for t, notified in read:
        t.notified = json.loads(notified)
    return [t for t, _ in read]


def unknown_state(journal: str, exc: ValueError) -> JournalError:
    return JournalError(
        f"the journal {journal} holds an instance state this orchc does not know ({exc})",
        hint="read it with the orchc that wrote it, or pass --journal to use another",
    )


def journal_written(spec: str | Path) -> bool:
    """Whether `spec` may hold what earlier runs wrote: a PostgreSQL database, or a SQLite file that exists."""
    return is_postgresql(spec) or Path(spec).is_file()


def existing_journal(spec: str | Path) -> Journal:
    """The journal a run wrote at `spec`, for reading: a missing file is an error, not a new journal."""
    if is_postgresql(spec):
        return open_journal(spec)
    path = Path(spec)
    if not path.is_file():
        raise JournalError(
            f"no journal at {path}: nothing has run here yet", hint="run `orchc run PATH` first, or pass --journal DB"
        )
    return SqliteJournal(path)


@dataclass
class InstanceRecord:
    """An instance's latest state, read back from transitions: what `status`, `report` and `simulate` show."""

    last: Transition
    started: float | None  # first "running" of its latest execution; None if it did not run

    @property
    def duration(self) -> float | None:
        return None if self.started is None else self.last.time - self.started


def latest_records(transitions: Iterable[Transition]) -> dict[str, InstanceRecord]:
    """Instance id → its latest record, from transitions in journal order (one run or several)."""
    records: dict[str, InstanceRecord] = {}
    started: dict[tuple[int, str], float] = {}
    for t in transitions:
        key = (t.run, t.instance)
        if t.state == State.RUNNING:
            started.setdefault(key, t.time)
            records[t.instance] = InstanceRecord(t, started[key])
        else:
            records[t.instance] = InstanceRecord(t, started.pop(key, None))
    return records
