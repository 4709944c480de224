"""Running Plans for real: local subprocesses, the SQLite journal, resume, retries, timeouts, secrets."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from orchc.backends.engine import Limits
from orchc.backends.journal import SqliteJournal
from orchc.backends.runner import RunnerOptions, RunResult, run_plan
from orchc.backends.transport import TransportOptions
from orchc.backends.transports import TransportSet
from orchc.cli import main
from orchc.plan import Plan, SecretRef, secret_marker
from test_engine_plans import SPAN, make_plan


def run(
    plan: Plan, tmp_path: Path, force: bool = False, secrets: dict[str, str] | None = None, limits: Limits = Limits()
) -> RunResult:
    journal = SqliteJournal(tmp_path / ".orchc" / "journal.db")
    try:
        return run_plan(
            plan,
            journal,
            TransportSet(plan, TransportOptions(work_dir=tmp_path)),
            RunnerOptions(limits=limits, force=force),
            secrets or {},
        )
    finally:
        journal.close()


def orchc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`orchc ARGS` in this process (its imports are slow to repeat), as if run from a shell in `cwd`."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.chdir(cwd), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        sys.argv = ["orchc", *args]
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(["orchc", *args], code, stdout.getvalue(), stderr.getvalue())


def counter_plan(tmp_path: Path, text: str, **kwargs) -> Plan:
    """Every instance appends its id to `counter` (so tests can count runs)."""
    ids = [line.split(":")[0].strip() for line in text.strip().splitlines()]
    commands = {iid: f"echo {iid} >> {tmp_path}/counter" for iid in ids if "@" in iid}
    commands.update(kwargs.pop("commands", {}))
    return make_plan(text, commands=commands, root=tmp_path, **kwargs)


def counts(tmp_path: Path) -> dict[str, int]:
    lines = (tmp_path / "counter").read_text().split() if (tmp_path / "counter").exists() else []
    return {iid: lines.count(iid) for iid in set(lines)}


def test_a_plan_runs_in_dependency_order(tmp_path: Path):
    plan = counter_plan(tmp_path, "a.x@h1\na.y@h1: a.x@h1\nb.z@h2: a.y@h1\nready: b.z@h2")
    result = run(plan, tmp_path)
    assert result.outcome == "succeeded"
    assert result.states == {"a.x@h1": "changed", "a.y@h1": "changed", "b.z@h2": "changed", "ready": "ok"}
    assert (tmp_path / "counter").read_text().split() == ["a.x@h1", "a.y@h1", "b.z@h2"]


def test_resume_skips_what_succeeded_and_force_runs_it(tmp_path: Path):
    text = "a.x@h1\na.y@h1: a.x@h1\nb.z@h2"
    failing = counter_plan(tmp_path, text, commands={"a.y@h1": "exit 1"})
    assert run(failing, tmp_path).outcome == "failed"
    fixed = counter_plan(tmp_path, text, change_keys={"a.y@h1": "fixed"})
    second = run(fixed, tmp_path)
    assert second.outcome == "succeeded"
    assert second.finals["a.x@h1"].message == "up to date" and second.states["a.x@h1"] == "skipped"
    assert counts(tmp_path) == {"a.x@h1": 1, "a.y@h1": 1, "b.z@h2": 1}
    run(fixed, tmp_path, force=True)
    assert counts(tmp_path) == {"a.x@h1": 2, "a.y@h1": 2, "b.z@h2": 2}


def test_when_changed_reruns_only_when_its_key_changes(tmp_path: Path):
    text = "svc.restart@h1"
    run(counter_plan(tmp_path, text, change_keys={"svc.restart@h1": "port=1"}), tmp_path)
    run(counter_plan(tmp_path, text, change_keys={"svc.restart@h1": "port=1"}), tmp_path)
    assert counts(tmp_path) == {"svc.restart@h1": 1}
    run(counter_plan(tmp_path, text, change_keys={"svc.restart@h1": "port=2"}), tmp_path)
    assert counts(tmp_path) == {"svc.restart@h1": 2}


def test_retry_until_success(tmp_path: Path):
    flaky = f"echo try >> {tmp_path}/tries; test $(wc -l < {tmp_path}/tries) -ge 3"
    plan = make_plan("f.flaky@h1", commands={"f.flaky@h1": flaky}, retries={"f.flaky": (3, 0.05)}, root=tmp_path)
    result = run(plan, tmp_path)
    assert result.outcome == "succeeded" and result.finals["f.flaky@h1"].attempt == 3
    with sqlite3.connect(tmp_path / ".orchc" / "journal.db") as db:
        messages = [m for (m,) in db.execute("SELECT message FROM transitions WHERE state = 'running'")]
    assert messages == ["", "retry 1/3 in 0.05s: exit status 1", "retry 2/3 in 0.05s: exit status 1"]


def test_timeout_kills_the_process_group(tmp_path: Path):
    pidfile = tmp_path / "sleeper.pid"
    plan = make_plan(
        "s.hang@h1",
        commands={"s.hang@h1": f"sleep 60 & echo $! > {pidfile}; wait"},
        timeout={"s.hang": 0.5},
        root=tmp_path,
    )
    result = run(plan, tmp_path)
    assert result.states["s.hang@h1"] == "failed"
    assert result.finals["s.hang@h1"].message == "timed out after 0.5s"
    assert not alive(int(pidfile.read_text()))


def alive(pid: int) -> bool:
    """True if `pid` runs (a zombie waiting for init to reap it is dead)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_tolerated_failure_lets_the_run_succeed(tmp_path: Path):
    plan = counter_plan(
        tmp_path,
        """
        c.up@c1
        c.up@c2
        c.more@c2: c.up@c2
        api.use@a1: c.up@c1 c.up@c2
    """,
        commands={"c.up@c2": "echo broken >&2; exit 2"},
        roles={"compute": (["c1", "c2"], 1), "api": (["a1"], 0)},
    )
    result = run(plan, tmp_path)
    assert result.outcome == "succeeded" and result.left_hosts == ["c2"]
    assert result.states["c.more@c2"] == "skipped" and result.states["api.use@a1"] == "changed"
    assert [t.instance for t in result.failures] == ["c.up@c2"]


def test_secrets_are_resolved_and_never_stored(tmp_path: Path):
    command = f"echo token={secret_marker('pw', shell_quoted=True)}; echo {secret_marker('pw', True)} >&2; exit 1"
    plan = make_plan("s.leak@h1", commands={"s.leak@h1": command}, root=tmp_path)
    plan.instances[0].secrets = ["pw"]
    plan.secrets = [SecretRef(name="pw", source=SPAN)]
    result = run(plan, tmp_path, secrets={"pw": "hunter2 x"})
    assert result.finals["s.leak@h1"].stdout_tail == "token=********\n"
    assert b"hunter2" not in (tmp_path / ".orchc" / "journal.db").read_bytes()
    wal = tmp_path / ".orchc" / "journal.db-wal"
    assert not wal.exists() or b"hunter2" not in wal.read_bytes()


def test_cli_exit_statuses_and_missing_secret(tmp_path: Path):
    plan = make_plan("a.ok@h1\nb.bad@h2", commands={"b.bad@h2": "echo nope >&2; exit 3"}, root=tmp_path)
    (tmp_path / "plan.json").write_text(plan.to_json())
    failed = orchc("run", "plan.json", cwd=tmp_path)
    assert failed.returncode == 3, failed.stderr
    assert "failed      b.bad@h2" in failed.stdout
    assert failed.stdout.count("| nope") == 1, "a failure is shown once, when it happens (issue 19.1)"
    plan.instances[0].secrets = ["db_pw"]
    plan.secrets = [SecretRef(name="db_pw", source=SPAN)]
    (tmp_path / "plan.json").write_text(plan.to_json())
    missing = orchc("run", "plan.json", cwd=tmp_path)
    assert missing.returncode == 1
    assert "secret 'db_pw' has no value" in missing.stderr and "ORCHC_SECRET_DB_PW" in missing.stderr


def test_invalid_plan_json_is_a_diagnostic(tmp_path: Path):
    (tmp_path / "plan.json").write_text('{"schema": "orchc.plan/1",\n  "root": }')
    result = orchc("run", "plan.json", cwd=tmp_path)
    assert result.returncode == 1 and "plan.json:2:11: error: not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_says_why(tmp_path: Path):
    plan = counter_plan(tmp_path, "a.x@h1\na.off@h1\nsync: a.x@h1", skip={"a.off@h1": "when: host.vars.ssd is false"})
    run(plan, tmp_path)
    (tmp_path / "plan.json").write_text(plan.to_json())
    shown = orchc("run", "plan.json", "--dry-run", cwd=tmp_path)
    assert shown.returncode == 0
    lines = {line.split()[0]: line for line in shown.stdout.splitlines() if line.strip()}
    assert "up to date" in lines["a.x@h1"] and "when: host.vars.ssd is false" in lines["a.off@h1"]
    assert "0 of 3 instances would run" in shown.stdout
    assert counts(tmp_path) == {"a.x@h1": 1}


def test_a_second_run_on_the_same_journal_is_refused(tmp_path: Path):
    first = SqliteJournal(tmp_path / "j.db")
    first.begin_run("digest", {})
    plan = make_plan("a.x@h1", root=tmp_path)
    (tmp_path / "plan.json").write_text(plan.to_json())
    result = orchc("run", "plan.json", "--journal", "j.db", cwd=tmp_path)
    first.close()
    assert result.returncode == 1 and "another orchc run is using the journal" in result.stderr


def test_status_shows_the_latest_state_of_each_instance(tmp_path: Path):
    plan = make_plan("a.x@h1\nb.bad@h2", commands={"b.bad@h2": "exit 5"}, root=tmp_path)
    run(plan, tmp_path)
    shown = orchc("status", str(tmp_path), cwd=tmp_path)
    assert shown.returncode == 0
    rows = {line.split()[0]: line.split() for line in shown.stdout.splitlines() if "@" in line}
    assert rows["a.x@h1"][1:3] == ["h1", "changed"] and rows["b.bad@h2"][1:3] == ["h2", "failed"]
    assert "exit status 5" in shown.stdout and "last run 1: failed" in shown.stdout
    empty = orchc("status", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert empty.returncode == 1 and "no journal at" in empty.stderr


def test_live_view_and_events_file(tmp_path: Path):
    from rich.console import Console

    from orchc.backends.live import LiveView
    from orchc.backends.progress import EventsFile

    screen = io.StringIO()
    plan = make_plan("a.x@h1\nb.bad@h2: a.x@h1", commands={"b.bad@h2": "echo no disk >&2; exit 1"}, root=tmp_path)
    journal = SqliteJournal(tmp_path / "j.db")
    observers = [LiveView(Console(file=screen, force_terminal=True, width=100)), EventsFile(tmp_path / "ev.jsonl")]
    result = run_plan(plan, journal, TransportSet(plan, TransportOptions()), RunnerOptions(), {}, observers)
    journal.close()
    assert result.outcome == "failed"
    text = screen.getvalue()
    assert "failed: b.bad@h2" in text and text.count("| no disk") == 1 and "run 1 failed" in text
    events = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events[:2]] == ["run_started", "transition"]
    assert events[-1]["event"] == "run_ended" and events[-1]["counts"] == {"changed": 1, "failed": 1}
    assert all(e["timestamp"].endswith("+00:00") for e in events)


class _Lines:
    """An observer that keeps the output lines it is given."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def run_started(self, plan, run_id) -> None: ...
    def transition(self, t) -> None: ...
    def ended_elsewhere(self, t) -> None: ...
    def notice(self, message) -> None: ...
    def still_running(self, instances) -> None: ...
    def diff(self, instance, text) -> None: ...
    def run_ended(self, result) -> None: ...

    def output(self, instance: str, line: str) -> None:
        self.lines.append((instance, line))


def test_output_reaches_observers_a_whole_redacted_line_at_a_time() -> None:
    from orchc.backends.runner import _OutputLines

    seen = _Lines()
    sink = _OutputLines("a.x@h1", {"pw": "s3cret"}, [seen])
    sink("stdout", "first\nthe s3")
    sink("stdout", "cret is out\r\nstill ")  # the secret split between two chunks
    sink("stderr", "\n\n")  # blank lines are not news
    sink("stdout", "x" * (_OutputLines.LONGEST + 1))
    sink("stdout", "\nlast\n")  # the over-long line is dropped: its start may have been cut
    assert seen.lines == [("a.x@h1", "first"), ("a.x@h1", "the ******** is out"), ("a.x@h1", "last")]


def test_the_live_view_shows_what_a_running_instance_printed_last(tmp_path: Path):
    from rich.console import Console

    from orchc.backends.live import LiveView

    screen = io.StringIO()
    plan = make_plan("a.x@h1", commands={"a.x@h1": "echo step 1; echo step 2 of 3; sleep 1"}, root=tmp_path)
    view = LiveView(Console(file=screen, force_terminal=True, width=100))
    seen = _Lines()
    journal = SqliteJournal(tmp_path / "j.db")
    shown: list[str] = []

    class Peek(_Lines):
        def output(self, instance: str, line: str) -> None:
            capture = Console(file=io.StringIO(), width=100)
            capture.print(view._render())
            shown.append(capture.file.getvalue())

    run_plan(plan, journal, TransportSet(plan, TransportOptions()), RunnerOptions(), {}, [view, seen, Peek()])
    journal.close()
    assert ("a.x@h1", "step 2 of 3") in seen.lines
    assert any(re.search(r"h1  ▶ a\.x +\d+\.\ds  › step 2 of 3", frame) for frame in shown), shown
    assert view.latest == {}, "forgotten once the instance ended"


def test_steps_strategy_waits_for_each_layer(tmp_path: Path):
    text = "a.one@h1\nb.one@h2\nb.two@h2: b.one@h2"
    slow = {"a.one@h1": f"sleep 0.4; echo a.one@h1 >> {tmp_path}/counter"}
    run(counter_plan(tmp_path, text, commands=slow), tmp_path / "graph")
    assert (tmp_path / "counter").read_text().split() == ["b.one@h2", "b.two@h2", "a.one@h1"]
    (tmp_path / "counter").unlink()
    run(counter_plan(tmp_path, text, commands=slow), tmp_path / "steps", limits=Limits(strategy="steps"))
    assert (tmp_path / "counter").read_text().split() == ["b.one@h2", "a.one@h1", "b.two@h2"]


def test_a_broken_graph_points_at_the_task(tmp_path: Path):
    plan = make_plan("a.x@h1: gone@h9", root=tmp_path)
    plan.tasks[0].source.line = 7
    (tmp_path / "plan.json").write_text(plan.to_json())
    result = orchc("run", "plan.json", cwd=tmp_path)
    assert result.returncode == 1
    assert (
        f"{tmp_path}/test.orch:7:1: error: the Plan cannot run: instance a.x@h1 names unknown dependency "
        "'gone@h9'" in result.stderr
    )


def test_secrets_file(tmp_path: Path):
    plan = make_plan(
        "s.use@h1", commands={"s.use@h1": f"echo {secret_marker('pw', True)} > {tmp_path}/out"}, root=tmp_path
    )
    plan.instances[0].secrets = ["pw"]
    plan.secrets = [SecretRef(name="pw", source=SPAN)]
    (tmp_path / "plan.json").write_text(plan.to_json())
    (tmp_path / "secrets.yml").write_text("pw: it's secret\n")
    assert orchc("run", "plan.json", "--secrets", "secrets.yml", cwd=tmp_path).returncode == 0
    assert (tmp_path / "out").read_text() == "it's secret\n"
    (tmp_path / "bad.yml").write_text("- pw\n")
    bad = orchc("run", "plan.json", "--secrets", "bad.yml", "--force", cwd=tmp_path)
    assert bad.returncode == 1 and "bad.yml:1:1: error: the secrets file must be a YAML map" in bad.stderr


def test_plain_log_says_what_still_runs(tmp_path: Path, monkeypatch):
    from rich.console import Console

    from orchc.backends import runner
    from orchc.backends.progress import PlainLog

    monkeypatch.setattr(runner, "HEARTBEAT_SECONDS", 0.2)
    screen = io.StringIO()
    plan = make_plan("a.slow@h1", commands={"a.slow@h1": "sleep 0.7"}, root=tmp_path)
    journal = SqliteJournal(tmp_path / "j.db")
    run_plan(
        plan,
        journal,
        TransportSet(plan, TransportOptions()),
        RunnerOptions(),
        {},
        [PlainLog(Console(file=screen, width=120))],
    )
    journal.close()
    assert "still running: a.slow@h1 (0." in screen.getvalue()


def test_check_mode_changes_nothing_and_leaves_the_journal_alone(tmp_path: Path):
    (tmp_path / "site.orch").write_text(
        "role web { services app }\n"
        "service app {\n"
        '  task files { run "echo ran >> {{ host.vars.root }}/ran" }\n'
        '  task conf { after files template "app.conf.j2" to "{{ host.vars.root }}/app.conf" }\n'
        "}\n"
    )
    (tmp_path / "app.conf.j2").write_text("name={{ host.name }}\n")
    root = tmp_path / "host"
    root.mkdir()
    (tmp_path / "inventory.yml").write_text(f"web:\n  hosts:\n    h1: {{ansible_connection: local, root: {root}}}\n")
    checked = orchc("run", ".", "--check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "check mode: nothing was changed" in checked.stdout
    assert list(root.iterdir()) == [] and not (tmp_path / ".orchc" / "journal.db").exists()
    real = orchc("run", ".", cwd=tmp_path)
    assert real.returncode == 0, real.stdout + real.stderr
    assert (root / "ran").read_text() == "ran\n" and (root / "app.conf").read_text() == "name=h1\n"
    # Issue 19.4: a check run is not numbered "run 1" beside the journal's runs, and --diff shows content.
    (tmp_path / "app.conf.j2").write_text("name={{ host.name }}\nport=80\n")
    checked = orchc("run", ".", "--check", "--diff", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "check run (not recorded in the journal): 2 instances" in checked.stdout
    assert "check run succeeded" in checked.stdout and "run 1" not in checked.stdout
    diff = checked.stdout[checked.stdout.index("app.conf@h1:\n") :]
    assert f"--- before: {root}/app.conf\n+++ after: {root}/app.conf\n@@ -1 +1,2 @@\n name=h1\n+port=80\n" in diff
    assert (root / "app.conf").read_text() == "name=h1\n"


def test_quiet_and_verbose_levels_are_ansibles(tmp_path: Path):
    """-q: failures and the summary; default: a line per change; -v: outputs; -vv: what runs; -vvv: hosts."""
    plan = make_plan(
        "a.ok@h1\nb.bad@h2", commands={"a.ok@h1": "echo all good", "b.bad@h2": "echo nope >&2; exit 3"}, root=tmp_path
    )
    (tmp_path / "plan.json").write_text(plan.to_json())
    quiet = orchc("run", "plan.json", "-q", "--journal", "q.db", cwd=tmp_path).stdout
    assert "a.ok@h1" not in quiet and "failed      b.bad@h2" in quiet and "| nope" in quiet
    assert "run 1 failed" in quiet
    normal = orchc("run", "plan.json", "--journal", "n.db", cwd=tmp_path).stdout
    assert "changed     a.ok@h1" in normal and "| all good" not in normal
    verbose = orchc("run", "plan.json", "-v", "--journal", "v.db", cwd=tmp_path).stdout
    assert "| all good" in verbose and "- run echo all good" not in verbose
    actions = orchc("run", "plan.json", "-vv", "--journal", "vv.db", cwd=tmp_path).stdout
    assert "  - run echo all good" in actions and "h1: local connection" not in actions
    hosts = orchc("run", "plan.json", "-vvv", "--journal", "vvv.db", cwd=tmp_path).stdout
    assert "  h1: local connection" in hosts


def test_on_any_runs_with_the_fields_of_the_provider_that_met_it(tmp_path: Path):
    """d1's database fails (its role tolerates it) and d2's comes up: the client connects to d2."""
    (tmp_path / "site.orch").write_text("""
type database { host: str }
role db { services postgres  tolerate 1 }
role web { services app }
service postgres {
  task start {
    run "test {{ host.name }} != d1"
    provides database: database { host = "{{ host.name }}" }
  }
}
service app {
  task connect { requires database on any  run "echo {{ database.host }} > {{ host.vars.root }}/db" }
}
""")
    (tmp_path / "inventory.yml").write_text(f"""
all:
  vars: {{ansible_connection: local}}
  children:
    db: {{hosts: {{d1: {{}}, d2: {{}}}}}}
    web: {{hosts: {{w1: {{root: "{tmp_path}"}}}}}}
""")
    result = orchc("run", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "db").read_text() == "d2\n"


def test_strict_fails_the_run_on_a_failure_within_tolerance(tmp_path: Path):
    plan = make_plan(
        "c.up@c1\nc.up@c2", commands={"c.up@c2": "exit 1"}, roles={"compute": (["c1", "c2"], 1)}, root=tmp_path
    )
    (tmp_path / "plan.json").write_text(plan.to_json())
    tolerated = orchc("run", "plan.json", cwd=tmp_path)
    assert tolerated.returncode == 0, tolerated.stdout
    strict = orchc("run", "plan.json", "--strict", "--journal", str(tmp_path / "second.db"), cwd=tmp_path)
    assert strict.returncode == 3, strict.stdout
    assert "strict: a host that left the deployment fails the run" in strict.stdout
    assert "--strict" not in tolerated.stdout


def test_a_strict_project_fails_like_ansible_playbook_unless_the_run_says_no(tmp_path: Path):
    (tmp_path / "site.orch").write_text(
        'strict\nrole compute { services c  tolerate "50%" }\n'
        'service c { task up { run "test {{ host.name }} != c2" } }\n'
    )
    (tmp_path / "inventory.ini").write_text("[compute]\nc1 ansible_connection=local\nc2 ansible_connection=local\n")
    strict = orchc("run", "site.orch", "-i", "inventory.ini", cwd=tmp_path)
    assert strict.returncode == 3, strict.stdout
    assert "strict: a host that left the deployment fails the run" in strict.stdout
    relaxed = orchc("run", "site.orch", "-i", "inventory.ini", "--no-strict", "--journal", "other.db", cwd=tmp_path)
    assert relaxed.returncode == 0, relaxed.stdout


def test_running_a_plan_json_does_not_load_the_compiler(tmp_path: Path):
    """A run's start-up: a Plan compiled beforehand needs neither the compiler nor the language's parser."""
    (tmp_path / "plan.json").write_text(make_plan("a.ok@h1", root=tmp_path).to_json())
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['orchc', 'run', 'plan.json']\n"
        "try:\n"
        "    runpy.run_module('orchc', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('orchc.compiler', 'lark'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[-1] == "[]", done.stdout + done.stderr
