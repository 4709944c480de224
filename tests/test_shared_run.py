"""Several `orchc run` processes share one run through PostgreSQL: limits across controllers, host affinity,
a controller killed mid-run, fencing by lease epoch, the server restarting mid-run."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from orchc import api
from orchc.backends.engine import NOT_RUN
from orchc.backends.pg_shared import Consequences, Ending, LeaseLost, SharedRun
from orchc.backends.state import State
from orchc.plan import Plan
from postgres import PostgresServer
from test_engine_plans import make_plan

WAIT = 120.0  # seconds a test waits for something to happen before it fails


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _ran(root: Path) -> list[tuple[str, int]]:
    """(instance, pid of the controller that ran it), one per execution, from the `ran` file."""
    path = root / "ran"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(line.split()[0], int(line.split()[1])) for line in lines if len(line.split()) == 2]


def _logged(iid: str, root: Path) -> str:
    return f'echo "{iid} $PPID" >> {root}/ran'


def _blocking(iid: str, root: Path) -> str:
    """Say it runs, then wait for the test's `release` file."""
    return f"{_logged(iid, root)}; while [ ! -e {root}/release ]; do sleep 0.05; done"


class Controllers:
    """`orchc run plan.json --journal URL` processes, each with its own output files."""

    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = root, url
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        n = len(self.processes)
        process = subprocess.Popen(
            [sys.executable, "-m", "orchc", "run", "plan.json", "--journal", self.url, *args],
            cwd=self.root,
            stdout=open(self.root / f"controller{n}.out", "wb"),
            stderr=open(self.root / f"controller{n}.err", "wb"),
            env={**os.environ, "ORCHC_JOURNAL": ""},
        )
        self.processes.append(process)
        return process

    def wait(self, process: subprocess.Popen[bytes]) -> int:
        return process.wait(timeout=WAIT)

    def output(self, n: int) -> str:
        return (self.root / f"controller{n}.out").read_text() + (self.root / f"controller{n}.err").read_text()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def controllers(tmp_path: Path, postgres: PostgresServer) -> Iterator[Controllers]:
    group = Controllers(tmp_path, postgres.new_database())
    yield group
    group.stop_all()
    (tmp_path / "release").touch()  # let what killed controllers left behind end


def _write(plan: Plan, root: Path) -> None:
    (root / "plan.json").write_text(plan.to_json())


def test_three_controllers_share_a_run_within_its_limits(controllers: Controllers, tmp_path: Path) -> None:
    hosts = [f"h{k}" for k in range(6)]
    lines, commands = [], {}
    for h in hosts:
        lines += [f"app.install@{h}", f"app.limited@{h}: app.install@{h}", f"app.up@{h}: app.limited@{h}"]
        # One task per host, and at most two `app.limited` at once over all controllers: a second one
        # that ran at the same time would find the directory taken and fail the run.
        for task in ("install", "limited", "up"):
            iid = f"app.{task}@{h}"
            hold = f"mkdir {tmp_path}/busy-{h} || exit 9; {_logged(iid, tmp_path)}; sleep 0.1"
            if task == "limited":
                hold += (
                    f"; if mkdir {tmp_path}/slot1 2>/dev/null; then s=slot1; "
                    f"elif mkdir {tmp_path}/slot2 2>/dev/null; then s=slot2; else exit 8; fi; sleep 0.2; "
                    f"rmdir {tmp_path}/$s"
                )
            commands[iid] = f"{hold}; rmdir {tmp_path}/busy-{h}"
    plan = make_plan("\n".join(lines + ["done: " + " ".join(f"app.up@{h}" for h in hosts)]), commands=commands,
                     concurrency={"app.limited": 2}, root=tmp_path)  # fmt: skip
    _write(plan, tmp_path)
    started = [controllers.start("--shard", f"{k}/3") for k in (1, 2, 3)]
    assert [controllers.wait(p) for p in started] == [0, 0, 0], [controllers.output(n) for n in range(3)]
    ran = _ran(tmp_path)
    assert Counter(iid for iid, _ in ran) == Counter(list(commands)), "each instance ran exactly once"
    pids_of_host = {h: {pid for iid, pid in ran if iid.endswith("@" + h)} for h in hosts}
    assert all(len(pids) == 1 for pids in pids_of_host.values()), pids_of_host  # host affinity
    assert {pids.pop() for pids in pids_of_host.values()} == {p.pid for p in started}  # --shard: 2 hosts each
    read = api.status(controllers.url)
    assert len(read.runs) == 1 and read.runs[0].outcome == "succeeded"
    assert set(read.states.values()) == {State.CHANGED, State.OK}


def _three_steps(root: Path, hosts: list[str]) -> Plan:
    """On each host: a quick first step, a second that waits for `release`, a quick third."""
    lines, commands = [], {}
    for h in hosts:
        lines += [f"s.first@{h}", f"s.second@{h}: s.first@{h}", f"s.third@{h}: s.second@{h}"]
        commands[f"s.first@{h}"] = _logged(f"s.first@{h}", root)
        commands[f"s.second@{h}"] = _blocking(f"s.second@{h}", root)
        commands[f"s.third@{h}"] = _logged(f"s.third@{h}", root)
    return make_plan("\n".join(lines), commands=commands, root=root)


def test_a_killed_controllers_hosts_are_taken_over_and_only_its_running_instances_rerun(
    controllers: Controllers, tmp_path: Path
) -> None:
    hosts = [f"h{k}" for k in range(6)]
    _write(_three_steps(tmp_path, hosts), tmp_path)
    started = [controllers.start("--shard", f"{k}/3", "--lease", "3") for k in (1, 2, 3)]
    _until(lambda: sum(iid.startswith("s.second") for iid, _ in _ran(tmp_path)) == 6, "every second step to start")
    done_before = {iid for iid, s in api.status(controllers.url).states.items() if s.is_success}
    assert done_before == {f"s.first@{h}" for h in hosts}
    victim = started[1]  # --shard 2/3: hosts h1 and h4
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    (tmp_path / "release").touch()
    assert [controllers.wait(p) for p in (started[0], started[2])] == [0, 0], controllers.output(0)
    runs = Counter(iid for iid, _ in _ran(tmp_path))
    assert {iid for iid in done_before if runs[iid] != 1} == set(), "what was recorded as done never ran again"
    assert {iid for iid, n in runs.items() if n > 1} == {"s.second@h1", "s.second@h4"}
    assert all(runs[iid] == 2 for iid in ("s.second@h1", "s.second@h4"))  # in flight: re-run once
    read = api.status(controllers.url)
    assert read.runs[-1].outcome == "succeeded" and all(s.is_success for s in read.states.values())
    note = next(n for n in read.runs[-1].notes if "ran again" in n)
    assert "2 instance(s)" in note and "s.second@h1, s.second@h4" in note
    assert "re-run: controller" in read.records["s.second@h1"].last.message or any(
        "re-run" in t.message for t in _transitions(controllers.url, "s.second@h1")
    )
    report = subprocess.run(
        [sys.executable, "-m", "orchc", "report", "--journal", controllers.url, "-o", "r.html"], cwd=tmp_path
    )
    assert report.returncode == 0 and "ran again" in (tmp_path / "r.html").read_text()


def _transitions(url: str, instance: str):
    from orchc.backends.journal import open_journal

    journal = open_journal(url)
    try:
        return [t for r in journal.runs() for t in journal.transitions(r.id) if t.instance == instance]
    finally:
        journal.close()


def test_a_controller_that_lost_its_lease_cannot_record(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    plan = make_plan("a.x@h1")
    candidate = [("a.x@h1", "h1", "a.x")]

    def ready(run: int) -> Consequences:
        return Consequences(ready=["a.x@h1"])

    async def scenario() -> None:
        slow, other = SharedRun(url, lease_seconds=1.0), SharedRun(url, lease_seconds=60.0)
        for store in (slow, other):
            await store.open()
            await store.join(plan, "digest", {}, {}, ready, "test")
        assert other.run == slow.run
        (first,) = await slow.claim(candidate, None, 1, {}, {}, lambda claims: [])
        assert (first.epoch, first.taken_from) == (1, None)
        assert await other.claim(candidate, None, 1, {}, {}, lambda claims: []) == []  # h1 is slow's
        with psycopg.connect(url) as db:
            _until_expired(db, slow.controller)
        (taken,) = await other.claim(candidate, None, 1, {}, {}, lambda claims: [])
        assert (taken.epoch, taken.taken_from) == (2, slow.controller)
        with pytest.raises(LeaseLost):  # its lease ran out: it records nothing
            await slow.finish([Ending("a.x@h1", State.OK, "", epoch=1)], [], lambda others, own: Consequences())
        with psycopg.connect(url, autocommit=True) as db:  # even with a live lease, epoch 1 is not the claim's
            db.execute("UPDATE controllers SET lease_until = now() + interval '1 minute' WHERE id = %s",
                       (slow.controller,))  # fmt: skip
        fenced = await slow.finish([Ending("a.x@h1", State.OK, "", epoch=1)], [], lambda others, own: Consequences())
        assert [e.instance for e in fenced] == ["a.x@h1"]
        assert await other.finish([Ending("a.x@h1", State.OK, "", epoch=2)], [], lambda o, own: Consequences()) == []
        with psycopg.connect(url) as db:
            assert db.execute("SELECT instance, controller, epoch FROM endings").fetchall() == [
                ("a.x@h1", other.controller, 2)
            ]
        for store in (slow, other):
            await store.close()

    asyncio.run(scenario())


def _busy(seconds: float) -> None:
    """Pure Python work that holds the interpreter (and so the event loop) for `seconds`: no I/O, no sleep."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        sum(range(1000))


def test_a_busy_controller_keeps_its_lease(postgres: PostgresServer) -> None:
    """The mirror's work on a large batch of endings runs on the event loop, inside the transaction that
    records them: three lease lengths of it, and the lease is still live, the endings recorded."""
    url = postgres.new_database()
    plan = make_plan("a.x@h1\na.y@h1: a.x@h1")
    lease = 2.0

    def ready(run: int) -> Consequences:
        return Consequences(ready=["a.x@h1"])

    def heavy(others: list[Ending], own: list[Ending]) -> Consequences:
        _busy(3 * lease)
        return Consequences(ready=["a.y@h1"])

    async def scenario() -> None:
        lost: list[bool] = []
        store = SharedRun(url, lease_seconds=lease)
        await store.open()
        await store.join(plan, "digest", {}, {}, ready, "test")
        store.watch(lambda: None, lambda: lost.append(True))
        (claim,) = await store.claim([("a.x@h1", "h1", "a.x")], None, 1, {}, {}, lambda claims: [])
        _busy(3 * lease)  # a claim over many candidates, between two transactions
        assert await store.finish([Ending("a.x@h1", State.OK, "", epoch=claim.epoch)], [], heavy) == []
        (second,) = await store.claim([("a.y@h1", "h1", "a.y")], None, 1, {}, {}, lambda claims: [])
        assert second.instance == "a.y@h1" and not lost and not store.lost
        await store.close()

    asyncio.run(scenario())
    with psycopg.connect(url) as db:
        assert db.execute("SELECT instance FROM endings").fetchall() == [("a.x@h1",)]


def _joined(url: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute("SELECT count(*) FROM controllers").fetchone()
    return int(row[0]) if row else 0


def _until_expired(db: psycopg.Connection, controller: int) -> None:
    def expired() -> bool:
        row = db.execute("SELECT lease_until <= now() FROM controllers WHERE id = %s", (controller,)).fetchone()
        db.commit()
        return bool(row and row[0])

    _until(expired, "the lease to run out")


def test_the_server_restarting_mid_run_loses_nothing(
    make_postgres: Callable[[], PostgresServer], tmp_path: Path
) -> None:
    server = make_postgres()
    group = Controllers(tmp_path, server.new_database())
    hosts = [f"h{k}" for k in range(4)]
    _write(_three_steps(tmp_path, hosts), tmp_path)
    try:
        started = [group.start(), group.start()]
        _until(lambda: sum(iid.startswith("s.second") for iid, _ in _ran(tmp_path)) == 4, "the second steps")
        _until(lambda: _joined(group.url) == 2, "both controllers to join")  # one slow to start would not
        with psycopg.connect(group.url) as db:
            before = db.execute("SELECT seq, instance, state FROM transitions ORDER BY seq").fetchall()
        server.stop("fast")
        server.resume()
        (tmp_path / "release").touch()
        assert [group.wait(p) for p in started] == [0, 0], group.output(0) + group.output(1)
    finally:
        group.stop_all()
    with psycopg.connect(group.url) as db:
        after = db.execute("SELECT seq, instance, state FROM transitions ORDER BY seq").fetchall()
    assert set(before) <= set(after), "a committed transition was lost"
    assert Counter(iid for iid, _ in _ran(tmp_path)) == Counter({iid: 1 for iid in api.status(group.url).states})
    assert all(s == State.CHANGED for s in api.status(group.url).states.values())


def test_a_failure_beyond_tolerance_stops_every_controller_alike(controllers: Controllers, tmp_path: Path) -> None:
    hosts = [f"h{k}" for k in range(4)]
    lines = [f"s.first@{h}" for h in hosts] + [f"s.then@{h}: s.first@{h}" for h in hosts]
    commands = {f"s.first@{h}": _logged(f"s.first@{h}", tmp_path) for h in hosts}
    # s.first@h1 fails once s.then@h0 runs (on the other controller), which finishes, as with SQLite.
    wait = f"while ! grep -q s.then@h0 {tmp_path}/ran; do sleep 0.05; done"
    commands["s.first@h1"] = f"{_logged('s.first@h1', tmp_path)}; {wait}; exit 4"
    commands["s.then@h0"] = _blocking("s.then@h0", tmp_path)
    plan = make_plan("\n".join(lines), commands=commands, roles={"all": (hosts, 0)}, root=tmp_path)
    _write(plan, tmp_path)
    started = [controllers.start("--shard", f"{k}/2") for k in (1, 2)]
    _until(lambda: api.status(controllers.url).states.get("s.first@h1") == State.FAILED, "s.first@h1 to fail")
    (tmp_path / "release").touch()
    assert [controllers.wait(p) for p in started] == [3, 3], controllers.output(0) + controllers.output(1)
    read = api.status(controllers.url)
    assert read.runs[-1].outcome == "failed"
    assert read.states["s.then@h1"] == State.DEP_FAILED and read.states["s.then@h0"] == State.CHANGED
    assert len(read.states) == 8 and all(s.is_final for s in read.states.values())
    for n in (0, 1):
        assert "host h1 failed beyond the tolerance of role all" in controllers.output(n)


def test_what_nobody_claimed_when_a_shared_run_stops_ends_not_run_once(
    controllers: Controllers, tmp_path: Path
) -> None:
    """With one fork each, one first step per controller runs and the other waits, ready, unclaimed: the
    failure that stops the run leaves those to end as skipped, "not run", each recorded once."""
    hosts = [f"h{k}" for k in range(4)]  # --shard 1/2: h0 and h2; 2/2: h1 and h3
    lines = [f"s.first@{h}" for h in hosts] + [f"s.then@{h}: s.first@{h}" for h in hosts]
    # Either first step of controller 1 fails, once controller 2 runs one of its own (which waits).
    wait = f"while ! grep -q 's.first@h[13]' {tmp_path}/ran; do sleep 0.05; done"
    commands = {f"s.first@{h}": f"{_logged(f's.first@{h}', tmp_path)}; {wait}; exit 4" for h in ("h0", "h2")}
    commands |= {f"s.first@{h}": _blocking(f"s.first@{h}", tmp_path) for h in ("h1", "h3")}
    plan = make_plan("\n".join(lines), commands=commands, roles={"all": (hosts, 0)}, root=tmp_path)
    _write(plan, tmp_path)
    started = [controllers.start("--shard", f"{k}/2", "--forks", "1") for k in (1, 2)]
    _until(lambda: State.FAILED in api.status(controllers.url).states.values(), "a first step to fail")
    (tmp_path / "release").touch()
    assert [controllers.wait(p) for p in started] == [3, 3], controllers.output(0) + controllers.output(1)
    ran = {iid for iid, _ in _ran(tmp_path)}
    assert len(ran) == 2, ran  # one first step on each controller
    states = api.status(controllers.url).states
    assert len(states) == 8 and all(state.is_final for state in states.values())
    for iid in {f"s.first@{h}" for h in hosts} - ran:
        assert states[iid] == State.SKIPPED, iid
        assert [t.message for t in _transitions(controllers.url, iid)] == [NOT_RUN], iid
    with psycopg.connect(controllers.url) as db:  # the four first steps' endings, once each
        assert db.execute("SELECT count(*), count(DISTINCT instance) FROM endings").fetchone() == (4, 4)


def test_a_retry_is_recorded_running_before_it_ends(controllers: Controllers, tmp_path: Path) -> None:
    flag = tmp_path / "failed-once"
    command = f"if [ -e {flag} ]; then exit 0; fi; touch {flag}; exit 1"
    plan = make_plan("a.x@h0", commands={"a.x@h0": command}, retries={"a.x": (1, 0.0)}, root=tmp_path)
    _write(plan, tmp_path)
    assert controllers.wait(controllers.start()) == 0, controllers.output(0)
    recorded = [(t.state, t.attempt) for t in _transitions(controllers.url, "a.x@h0")]
    assert recorded == [(State.RUNNING, 1), (State.RUNNING, 2), (State.CHANGED, 2)]


def test_a_once_instance_that_moved_has_its_retries_again(controllers: Controllers, tmp_path: Path) -> None:
    """k.db_sync fails its two attempts on k1, which leaves; on k2 it fails once more, and its retry there
    succeeds: the attempts spent on k1 do not count against k2's."""
    count = tmp_path / "count"
    command = f"n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}; [ $n -ge 4 ]"
    plan = make_plan(
        "k.install@k1\nk.install@k2\nk.db_sync@k1: k.install@k1\nk.start@k2: k.db_sync@k1",
        roles={"ctl": (["k1", "k2"], 1)},
        alternates={"k.db_sync@k1": ["k2"]},
        commands={"k.db_sync@k1": command, "k.db_sync@k2": command},
        retries={"k.db_sync": (1, 0.0)},
        root=tmp_path,
    )
    _write(plan, tmp_path)
    assert controllers.wait(controllers.start()) == 0, controllers.output(0)
    assert count.read_text().strip() == "4"
    assert api.status(controllers.url).states["k.db_sync@k1"] == State.CHANGED


def test_an_interrupted_controller_leaves_its_hosts_to_the_others(controllers: Controllers, tmp_path: Path) -> None:
    hosts = [f"h{k}" for k in range(4)]
    _write(_three_steps(tmp_path, hosts), tmp_path)
    started = [controllers.start("--shard", f"{k}/2", "--lease", "30") for k in (1, 2)]
    _until(lambda: sum(iid.startswith("s.second") for iid, _ in _ran(tmp_path)) == 4, "the second steps")
    started[0].send_signal(signal.SIGINT)
    _until(lambda: "interrupted: this controller stops claiming" in controllers.output(0), "the notice")
    (tmp_path / "release").touch()
    assert controllers.wait(started[0]) == 130, controllers.output(0)  # interrupted: it finished what ran there
    assert controllers.wait(started[1]) == 0, controllers.output(1)  # and the other took its hosts at once
    runs = Counter(iid for iid, _ in _ran(tmp_path))
    assert set(runs.values()) == {1} and len(runs) == 12
    third = {pid for iid, pid in _ran(tmp_path) if iid in ("s.third@h0", "s.third@h2")}
    assert third == {started[1].pid}
    assert api.status(controllers.url).runs[-1].outcome == "succeeded"


def test_a_bad_shard_is_a_clear_error(tmp_path: Path) -> None:
    from test_run import orchc

    _write(make_plan("a.x@h1", root=tmp_path), tmp_path)
    for shard in ("3/2", "0/2", "two", "1/"):
        result = orchc("run", "plan.json", "--shard", shard, "--journal", "postgresql://127.0.0.1:1/x", cwd=tmp_path)
        assert result.returncode == 1 and "is not K/N with 1 <= K <= N" in result.stderr, result.stderr
        assert "hint: write --shard K/N" in result.stderr and "Traceback" not in result.stderr


def test_a_controller_with_another_strategy_is_refused(controllers: Controllers, tmp_path: Path) -> None:
    _write(_three_steps(tmp_path, ["h0"]), tmp_path)
    first = controllers.start()
    _until(lambda: any(iid == "s.second@h0" for iid, _ in _ran(tmp_path)), "the first controller to run")
    second = controllers.start("--strategy", "steps")
    assert controllers.wait(second) == 1
    assert "runs with --strategy graph, this controller with --strategy steps" in controllers.output(1)
    assert "hint: start it with --strategy graph" in controllers.output(1)
    (tmp_path / "release").touch()
    assert controllers.wait(first) == 0, controllers.output(0)


def test_controllers_of_a_shared_run_gate_notified_instances_alike(controllers: Controllers, tmp_path: Path) -> None:
    hosts = ["h0", "h1", "h2", "h3"]

    def plan(conf_key: str) -> Plan:
        lines = [line for h in hosts for line in (f"a.conf@{h}", f"a.restart@{h}: a.conf@{h}")]
        commands = {iid.split(":")[0]: _logged(iid.split(":")[0], tmp_path) for iid in lines}
        made = make_plan("\n".join(lines), commands=commands, root=tmp_path, change_keys={"a.conf@h0": conf_key})
        for inst in made.instances:
            if inst.task == "a.restart":
                inst.notified_by = list(inst.deps)
        return made

    for key, restarted in (("first", set(hosts)), ("first", set()), ("second", {"h0"})):
        (tmp_path / "ran").unlink(missing_ok=True)
        _write(plan(key), tmp_path)
        started = [controllers.start("--shard", f"{k}/2") for k in (1, 2)]
        assert [controllers.wait(p) for p in started] == [0, 0], [controllers.output(n) for n in range(2)]
        controllers.processes.clear()
        ran = [iid for iid, _ in _ran(tmp_path)]
        assert {iid.split("@")[1] for iid in ran if iid.startswith("a.restart")} == restarted, ran


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install -y tmux)")
def test_the_live_view_of_one_controller_counts_what_the_others_ended(controllers: Controllers, tmp_path: Path) -> None:
    from test_live_view import gated, terminal

    hosts = [f"h{k}" for k in range(4)]  # --shard 1/2 takes h0 and h2, --shard 2/2 h1 and h3
    lines = [line for h in hosts for line in (f"s.quick@{h}", f"s.slow@{h}: s.quick@{h}")]
    commands = {f"s.slow@{h}": gated(tmp_path) for h in hosts}
    plan = make_plan("\n".join(lines), commands=commands, roles={"app": (hosts, 0)}, root=tmp_path)
    _write(plan, tmp_path)
    other = controllers.start("--shard", "2/2")
    with terminal(tmp_path, "run", "plan.json", "--journal", controllers.url, "--shard", "1/2") as screen:
        board = screen.wait_for(lambda s: "4/8 done" in s and "2 on other" in s, "both controllers' quick steps")
        head = next(line for line in board.splitlines() if line.startswith("run 1  "))
        assert "4/8 done  (2 here)" in head, board
        assert "app  4 hosts: 2 running, 2 on other controllers" in board, board
        assert "h1" not in board.split(head)[1] and "h3" not in board.split(head)[1], "no row for the others' hosts"
        (tmp_path / "gate").touch()
        end = screen.wait_for(lambda s: "run 1 succeeded" in s, "the end of the run")
    assert "changed 8" in end, end
    assert controllers.wait(other) == 0, controllers.output(0)
