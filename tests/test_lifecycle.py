"""`orchc plan`: the inputs each kind of edit names, plan == what run then does, exit codes, pinned plans."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import orchc
from orchc import api
from orchc.backends.journal import SqliteJournal
from orchc.backends.lifecycle import changed_inputs
from orchc.backends.state import State
from orchc.plan import Plan
from tests.orchc_process import orchc as orchc_process

_SITE = """
var port: int = 80
var greeting: str = "hi"
service db {
  task install { run "echo install {{ host.vars.root }}" }
  task configure {
    after install
    template "files/db.conf.j2" to "{{ host.vars.root }}/db.conf"
    provides database: endpoint { host = "{{ host.name }}", port = "{{ port }}" }
  }
}
service app {
  task configure {
    requires database
    run "echo {{ database | map(attribute='host') | join(',') }}:{{ database[0].port }}"
  }
  task files { copy "files/motd" to "{{ host.vars.root }}/motd" }
  task hello { run "echo {{ greeting }} > {{ host.vars.root }}/hello" }
}
type endpoint {
  host: str
  port: str
}
role dbs { services db }
role apps { services app }
"""


def write_project(folder: Path, site: str = _SITE) -> Path:
    (folder / "files").mkdir(parents=True, exist_ok=True)
    (folder / "site.orch").write_text(site)
    (folder / "files" / "db.conf.j2").write_text("port = {{ port }}\n")
    (folder / "files" / "motd").write_text("welcome\n")
    hosts = folder / "hosts"
    (folder / "inventory.yml").write_text(
        "all:\n  vars: {ansible_connection: local}\n  children:\n"
        f"    dbs: {{hosts: {{db1: {{root: {hosts}/db1}}}}}}\n"
        f"    apps: {{hosts: {{app1: {{root: {hosts}/app1}}, app2: {{root: {hosts}/app2}}}}}}\n"
    )
    for host in ("db1", "app1", "app2"):
        (hosts / host).mkdir(parents=True, exist_ok=True)
    return folder


def compiled(folder: Path, **variables: object) -> Plan:
    return orchc.compile_project(orchc.load_project(folder, variables=variables)).plan


def named_changes(folder: Path, **variables: object) -> dict[str, list[str]]:
    """Run the project, then: what `plan` names for each instance that would run again."""
    orchc.run(compiled(folder))
    changes = api.plan(compiled(folder, **variables))
    return {p.instance.id: p.changed_inputs for p in changes.instances if p.runs}


# --- each kind of input is named ---------------------------------------------------------------


def test_no_journal_yet_everything_is_new_and_nothing_ran(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    changes = api.plan(compiled(folder))
    assert {p.group for p in changes.instances} == {"new"}
    assert changes.position.last_run is None and changes.changes_pending
    assert not (folder / ".orchc" / "journal.db").exists()


def test_a_variable_is_named(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    assert named_changes(folder, greeting="hello") == {
        "app.hello@app1": ["var:greeting"],
        "app.hello@app2": ["var:greeting"],
    }


def test_a_template_content_is_named(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    orchc.run(compiled(folder))
    (folder / "files" / "db.conf.j2").write_text("port = {{ port }}\nmax = 10\n")
    changes = api.plan(compiled(folder))
    assert {p.instance.id: p.changed_inputs for p in changes.instances if p.runs} == {
        "db.configure@db1": ["template:files/db.conf.j2"]
    }


def test_a_copied_file_is_named(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    orchc.run(compiled(folder))
    (folder / "files" / "motd").write_text("welcome back\n")
    changed = {p.instance.id: p.changed_inputs for p in api.plan(compiled(folder)).instances if p.runs}
    assert changed == {"app.files@app1": ["file:files/motd"], "app.files@app2": ["file:files/motd"]}


def test_a_capability_field_is_a_rerun_because_of_what_is_required(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    orchc.run(compiled(folder))
    changes = api.plan(compiled(folder, port=5432))
    by_id = {p.instance.id: p for p in changes.instances if p.runs}
    assert set(by_id) == {"db.configure@db1", "app.configure@app1", "app.configure@app2"}
    assert by_id["db.configure@db1"].group == "changed"
    assert by_id["db.configure@db1"].changed_inputs == ["var:port"]
    assert by_id["app.configure@app1"].group == "rerun"
    assert by_id["app.configure@app1"].changed_inputs == ["cap:database.port"]


def test_a_task_setting_and_a_command_are_named(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    orchc.run(compiled(folder))
    site = _SITE.replace('task install { run "echo install', 'task install { retries 2 run "echo setup')
    (folder / "site.orch").write_text(site)
    changed = {p.instance.id: p.changed_inputs for p in api.plan(compiled(folder)).instances if p.runs}
    assert changed == {"db.install@db1": ["action:1", "setting:retries"]}


def test_a_playbook_digest_is_named(tmp_path: Path) -> None:
    """Compared as `plan` compares them: the inputs of two Plans (running a playbook is other tests' work)."""
    folder = write_project(tmp_path)
    (folder / "legacy.yml").write_text("- hosts: all\n  tasks: []\n")
    site = _SITE.replace("role dbs", 'service extra { task play { playbook "legacy.yml" } }\nrole dbs').replace(
        "services db }", "services db, extra }"
    )
    (folder / "site.orch").write_text(site)
    before = _inputs(compiled(folder), "extra.play@db1")
    (folder / "legacy.yml").write_text("- hosts: all\n  tasks: [{debug: {msg: hi}}]\n")
    after = _inputs(compiled(folder), "extra.play@db1")
    assert changed_inputs(before, after) == ["playbook:legacy.yml"]


def _inputs(plan: Plan, iid: str) -> dict[str, str]:
    inst = next(i for i in plan.instances if i.id == iid)
    task = next(t for t in plan.tasks if t.id == inst.task)
    return {**task.inputs, **inst.inputs}


def test_secrets_have_no_input_and_never_reach_the_plan(tmp_path: Path) -> None:
    site = _SITE.replace('var greeting: str = "hi"', "var greeting: secret")
    folder = write_project(tmp_path, site)
    plan = compiled(folder, greeting="s3cr3t-value")
    text = plan.to_json()
    assert "s3cr3t-value" not in text and "var:greeting" not in text


def test_an_instance_that_left_the_plan_is_listed(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    orchc.run(compiled(folder))
    (folder / "site.orch").write_text(_SITE.replace("  task hello {", "  task gone_hello {"))
    changes = api.plan(compiled(folder))
    assert changes.left == ["app.hello@app1", "app.hello@app2"]
    assert {p.instance.id for p in changes.group("new")} == {"app.gone_hello@app1", "app.gone_hello@app2"}


def test_a_failed_instance_is_to_retry(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    orchc.run(compiled(folder))
    (folder / "site.orch").write_text(_SITE.replace('run "echo {{ greeting }}', 'run "false {{ greeting }}'))
    orchc.run(compiled(folder))
    retry = api.plan(compiled(folder)).group("retry")
    assert {p.instance.id for p in retry} == {"app.hello@app1", "app.hello@app2"}
    assert "failed" in retry[0].note


# --- plan == run ------------------------------------------------------------------------------

_EDITS = st.lists(
    st.sampled_from(["port", "greeting", "template", "motd", "command", "nothing"]), min_size=1, max_size=3
)


def _edit(folder: Path, edit: str, number: int, variables: dict[str, object]) -> None:
    if edit == "port":
        variables["port"] = 1000 + number
    elif edit == "greeting":
        variables["greeting"] = f"hello{number}"
    elif edit == "template":
        (folder / "files" / "db.conf.j2").write_text(f"port = {{{{ port }}}}\n# {number}\n")
    elif edit == "motd":
        (folder / "files" / "motd").write_text(f"welcome {number}\n")
    elif edit == "command":
        text = (folder / "site.orch").read_text()
        (folder / "site.orch").write_text(text.replace('"echo install', f'"echo {number} install', 1))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(_EDITS, min_size=1, max_size=2))
def test_what_plan_announces_is_what_run_runs(tmp_path_factory, rounds: list[list[str]]) -> None:
    folder = write_project(tmp_path_factory.mktemp("edits"))
    variables: dict[str, object] = {}
    orchc.run(compiled(folder))
    for number, edits in enumerate(rounds):
        for edit in edits:
            _edit(folder, edit, number, variables)
        plan = compiled(folder, **variables)
        announced = set(api.plan(plan).will_run)
        result = orchc.run(plan)
        journal = SqliteJournal(folder / ".orchc" / "journal.db")
        try:
            ran = {t.instance for t in journal.transitions(result.run_id) if t.state == State.RUNNING}
        finally:
            journal.close()
        assert announced == ran


# --- the command: exit codes, pinned plans ------------------------------------------------------


def test_detailed_exit_codes(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    assert orchc_process("plan", ".", "--detailed-exitcode", cwd=folder).returncode == 2
    assert orchc_process("plan", ".", cwd=folder).returncode == 0
    assert orchc_process("run", ".", "-q", cwd=folder).returncode == 0
    shown = orchc_process("plan", ".", "--detailed-exitcode", cwd=folder)
    assert shown.returncode == 0 and "0 to run" in shown.stdout
    changed = orchc_process("plan", ".", "-e", "greeting=yo", "--detailed-exitcode", cwd=folder)
    assert changed.returncode == 2 and "app.hello@app1  var:greeting" in changed.stdout
    broken = orchc_process("plan", ".", "-e", "port=eighty", "--detailed-exitcode", cwd=folder)
    assert broken.returncode == 1 and "Traceback" not in broken.stderr


def test_a_pinned_plan_runs_exactly_its_set_and_is_refused_once_the_journal_moved(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    assert orchc_process("run", ".", "-q", cwd=folder).returncode == 0
    assert orchc_process("plan", ".", "-e", "greeting=yo", "-o", "pinned.json", cwd=folder).returncode == 0
    pinned = json.loads((folder / "pinned.json").read_text())
    assert sorted(pinned["runs"]) == ["app.hello@app1", "app.hello@app2"]
    assert orchc_process("run", "pinned.json", "-q", cwd=folder).returncode == 0
    with sqlite3.connect(folder / ".orchc" / "journal.db") as db:
        ran = {row[0] for row in db.execute("SELECT instance FROM transitions WHERE run = 2 AND state = 'running'")}
    assert ran == {"app.hello@app1", "app.hello@app2"}
    again = orchc_process("run", "pinned.json", cwd=folder)
    assert again.returncode == 1
    assert "the journal moved on" in again.stderr and "orchc plan" in again.stderr


def test_a_damaged_pinned_plan_is_a_diagnostic(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    assert orchc_process("plan", ".", "-o", "pinned.json", cwd=folder).returncode == 0
    text = (folder / "pinned.json").read_text()
    (folder / "cut.json").write_text(text[: len(text) // 2])
    cut = orchc_process("run", "cut.json", cwd=folder)
    assert cut.returncode == 1 and "cut.json:" in cut.stderr and "not valid JSON" in cut.stderr
    (folder / "edited.json").write_text(text.replace('"runs": [', '"runs": 3, "was": ['))
    edited = orchc_process("run", "edited.json", cwd=folder)
    assert edited.returncode == 1 and "not a valid pinned plan" in edited.stderr
    assert "Traceback" not in cut.stderr + edited.stderr


# --- the walk-through of examples/openstack-mini/README.md ---------------------------------------


def test_the_settings_change_walk_through_runs_as_written(project_root: Path, tmp_path: Path) -> None:
    """Its commands, run in order on a copy of the example: the output pasted in it is what `plan` prints,
    the exit statuses are the ones its comments give, and the run touches only what plan announced."""
    import re
    import shlex
    import shutil

    readme = (project_root / "examples" / "openstack-mini" / "README.md").read_text()
    walk = readme[readme.index("## Walk-through: a settings change") :]
    blocks = re.findall(r"```(\w+)\n(.*?)```", walk, re.DOTALL)
    commands = [shlex.split(line.split("#")[0]) for kind, text in blocks if kind == "sh" for line in text.splitlines()]
    shown = next(text for kind, text in blocks if kind == "text")
    example = tmp_path / "examples" / "openstack-mini"
    shutil.copytree(project_root / "examples" / "openstack-mini", example, ignore=shutil.ignore_patterns(".orchc"))
    inventory = example / "inventory.yml"
    inventory.write_text(inventory.read_text().replace("/tmp/orchc-openstack-mini/", f"{tmp_path}/hosts/"))
    outputs = []
    for command in commands:
        assert command[0] == "orchc"
        outputs.append(orchc_process(*command[1:], cwd=tmp_path))
    first_run, plan, second_run, status, replan = outputs
    assert first_run.returncode == 0 and "changed 51" in first_run.stdout
    assert plan.returncode == 2 and plan.stdout == shown
    assert second_run.returncode == 0 and "ok 1  changed 3  skipped 48" in second_run.stdout
    touched = {line.split()[0] for line in status.stdout.splitlines() if re.search(r"\s2\s+run 2\s", line)}
    assert touched == {f"keystone.configure@controller{n}" for n in (1, 2, 3)}
    assert replan.returncode == 0 and "Plan: 0 to run" in replan.stdout


def test_a_graph_kept_by_an_older_orchc_has_no_inputs_to_compare(tmp_path: Path) -> None:
    """A run of an orchc that did not record inputs: its instances are changed, without names, not an error."""
    from orchc.backends.journal import RunGraph

    old = RunGraph(hosts=["h"], roles={}, tasks={"a.b@h": "a.b"}, deps={})
    assert RunGraph.decode(old.encode()).inputs_of("a.b@h") is None
    folder = write_project(tmp_path)
    orchc.run(compiled(folder))
    with sqlite3.connect(folder / ".orchc" / "journal.db") as db:
        db.execute("UPDATE run_graphs SET graph = ?", (old.encode(),))
    hello = next(p for p in api.plan(compiled(folder, greeting="yo")).instances if p.instance.id == "app.hello@app1")
    assert hello.group == "changed" and hello.changed_inputs == [] and "did not record its inputs" in hello.note


_NOTIFIED_SITE = """
var port: int = 80
service db {
  task configure { run "echo port={{ port }} > {{ host.vars.root }}/db.conf" }
  task restart { after configure  when notified(configure)  run "echo restarted >> {{ host.vars.root }}/restarts" }
}
role dbs { services db }
role apps { services db }
"""


def test_a_notified_instance_is_announced_only_where_what_notifies_it_runs(tmp_path: Path) -> None:
    folder = write_project(tmp_path, _NOTIFIED_SITE)
    orchc.run(compiled(folder))
    quiet = api.plan(compiled(folder))
    assert not quiet.changes_pending
    assert {p.instance.id for p in quiet.group("not notified")} == {
        "db.restart@db1",
        "db.restart@app1",
        "db.restart@app2",
    }
    edited = api.plan(compiled(folder, port=81))
    assert {p.instance.id for p in edited.group("notified")} == {"db.restart@db1", "db.restart@app1", "db.restart@app2"}
    assert all("runs if db.configure@" in p.verdict.reason for p in edited.group("notified"))
    result = orchc.run(compiled(folder, port=81))
    assert {i for i, s in result.states.items() if s == State.CHANGED} == set(edited.will_run)
