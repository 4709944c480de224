"""`when notified(...)`: the language, its diagnostics, and runs on local hosts (issue 18, point 2).

The project: an API on two controllers whose restart is notified by its own config (same host) and by the
database's config on the db host, through the capability that config provides (across hosts).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from compile_helpers import compile_errors, compile_text
from orchc import api
from orchc.backends.live import LiveView
from orchc.backends.progress import VERBOSE, ViewOptions
from orchc.dsl.format import format_source
from test_run import orchc

SITE = """\
var api_setting: str = "a"
var db_setting: str = "a"
var fail_restart: bool = false

role controller { services api }
role db { services database }

service database {
  task config {
    template "db.conf.j2" to "{{ host.vars.root }}/db.conf"
    provides db_config
  }
}

service api {
  task config { template "api.conf.j2" to "{{ host.vars.root }}/api.conf" }
  task restart {
    when notified(config, db_config)
    run "test {{ fail_restart }} = False && echo {{ host.name }} >> {{ host.vars.root }}/../restarts"
  }
}
"""


def write_site(folder: Path) -> None:
    (folder / "site.orch").write_text(SITE)
    (folder / "api.conf.j2").write_text("api={{ api_setting }}\n")
    (folder / "db.conf.j2").write_text("db={{ db_setting }}\n")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_site(tmp_path)
    hosts = {"c1": "controller", "c2": "controller", "d1": "db"}
    groups: dict[str, dict[str, dict[str, str]]] = {"controller": {}, "db": {}}
    for host, group in hosts.items():
        (tmp_path / "hosts" / host).mkdir(parents=True)
        groups[group][host] = {"ansible_connection": "local", "root": str(tmp_path / "hosts" / host)}
    inventory = {"all": {"children": {group: {"hosts": members} for group, members in groups.items()}}}
    (tmp_path / "inventory.yml").write_text(json.dumps(inventory))
    return tmp_path


def restarts(project: Path, hosts: str = "hosts") -> list[str]:
    """The hosts whose API restarted since the last call (their roots are in the folder `hosts`)."""
    log = project / hosts / "restarts"
    if not log.exists():
        return []
    hosts = sorted(log.read_text().split())
    log.unlink()
    return hosts


def run(project: Path, *args: str) -> str:
    result = orchc("run", ".", *args, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def final_messages(project: Path) -> dict[str, str]:
    """Each restart instance's line in `orchc status`."""
    shown = orchc("status", ".", cwd=project)
    return {line.split()[0]: line for line in shown.stdout.splitlines() if line.startswith("api.restart@")}


def test_notifiers_are_dependencies_and_listed_in_the_plan(tmp_path: Path) -> None:
    orch = """
role web { services app, logs }
role db { services mysql }
service mysql { task config { run "x"  provides db_config } }
service logs { task config { run "x" } }
service app {
  task config { run "x" }
  task reload { when notified(config, logs.config, db_config)  run "reload" }
}
"""
    by_id = {i.id: i for i in compile_text(tmp_path, orch).plan.instances}
    reload = by_id["app.reload@w2"]
    assert reload.notified_by == ["app.config@w2", "logs.config@w2", "mysql.config@d1", "mysql.config@d2"]
    assert set(reload.notified_by) <= set(reload.deps)
    assert by_id["app.config@w2"].notified_by == []


def test_a_notified_once_task_lists_the_notifiers_of_every_host_it_may_run_on(tmp_path: Path) -> None:
    orch = """
role db { services mysql }
service mysql {
  task config { run "x" }
  task bootstrap once { when notified(config)  run "bootstrap" }
}
"""
    bootstrap = next(i for i in compile_text(tmp_path, orch).plan.instances if i.task == "mysql.bootstrap")
    assert bootstrap.notified_by == ["mysql.config@d1", "mysql.config@d2"]
    assert bootstrap.deps == ["mysql.config@d1"] and bootstrap.alternates[0].deps == ["mysql.config@d2"]


def test_a_once_notifier_notifies_where_it_runs(tmp_path: Path) -> None:
    orch = """
role db { services mysql }
service mysql {
  task bootstrap once { run "x" }
  task restart { when notified(bootstrap)  run "restart" }
}
"""
    by_id = {i.id: i for i in compile_text(tmp_path, orch).plan.instances}
    assert by_id["mysql.restart@d1"].notified_by == ["mysql.bootstrap@d1"] and by_id["mysql.restart@d1"].skip is None
    assert by_id["mysql.restart@d2"].notified_by == []
    assert by_id["mysql.restart@d2"].skip == "not notified: none of its notifiers runs on this host"


def test_when_notified_round_trips_through_the_formatter() -> None:
    text = 'service a {\n  task b {\n    when notified(c, d.e, f)\n    run "x"\n  }\n}\n'
    assert format_source(text, "site.orch") == text
    merged = 'service a {\n  task b {\n    when "true"\n    when notified(c)\n    run "x"\n  }\n}\n'
    assert format_source(merged, "site.orch") == merged
    topics = 'service a {\n  task b {\n    when notified(c "restart a", d.e, c "say \\"hi\\"")\n    run "x"\n  }\n}\n'
    assert format_source(topics, "site.orch") == topics


BAD = [
    (
        'service app { task t { when notified(confg)  run "x" } task config { run "x" } }',
        "unknown task or capability 'confg' in `when notified` of task 'app.t'",
        "did you mean 'config'?",
    ),
    (
        'service app { task t { when notified(t)  run "x" } }',
        "task 'app.t' is notified by itself",
        "name the task (or a capability it provides) whose change must run this one",
    ),
    (
        'role db { services other }\nservice app { task t { when notified(other.config)  run "x" } }\n'
        'service other { task config { run "x" } }',
        "'other.config' does not run on w1, where 'app.t' runs: nothing there can notify it",
        "name a capability that 'other.config' provides",
    ),
    (
        'service app { task t { when notified(ready)  run "x" } }\n'
        'service other { task config { run "x"  provides ready } }',
        "'ready' in `when notified` of 'app.t': its task 'other.config' runs on no host",
        "place the service of 'other.config' on a role",
    ),
    (
        'var v: str = "1"\nservice app { task t { when changed(v)  when notified(c)  run "x" } task c { run "x" } }',
        "`when changed` and `when notified` both decide when 'app.t' runs again",
        "keep one",
    ),
    (
        'service app { task t { when notified(c)  run "x" } task c { after t  run "x" } }',
        "dependency cycle",
        "",
    ),
    (
        'service app { task t { when notified(c "restart")  run "x" } task c { run "x" } }',
        "'c' in `when notified` of 'app.t' cannot report topic 'restart': task 'app.c' runs no Ansible playbook",
        "write `when notified(c)` to be notified when it ends changed",
    ),
    (
        'service app { task t { when notified(c " restart")  run "x" } task c { run "x" } }',
        "empty or padded topic ' restart' for 'c' in `when notified` of task 'app.t'",
        "write the name of the handler it notifies",
    ),
]


@pytest.mark.parametrize(("orch", "message", "hint"), BAD, ids=[m.split(":")[0][:40] for _, m, _ in BAD])
def test_bad_notifiers_are_diagnosed_where_they_are_written(tmp_path: Path, orch: str, message: str, hint: str) -> None:
    site = "role web { services app }\n" + orch
    errors = compile_errors(tmp_path, site)
    assert any(message in error for error in errors), errors
    shown = orchc("check", ".", cwd=tmp_path)
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    assert message in shown.stderr and hint in shown.stderr
    line = next(n for n, text in enumerate(site.splitlines(), 1) if "notified" in text)
    assert f"site.orch:{line}:" in shown.stderr


def test_the_same_host_notifier_runs_the_handler_only_where_it_changed(project: Path) -> None:
    dry = orchc("run", ".", "--dry-run", cwd=project).stdout
    assert "runs if one of api.config@c1, database.config@d1 ends changed" in dry
    run(project)
    assert restarts(project) == ["c1", "c2"]
    run(project)
    assert restarts(project) == []
    assert "not notified: api.config@c1, database.config@d1" in final_messages(project)["api.restart@c1"]
    (project / "hosts" / "c1" / "api.conf").write_text("edited by hand\n")
    shown = run(project, "--force")  # c1's config is put back: only its API restarts
    assert restarts(project) == ["c1"]
    assert "not notified: api.config@c2, database.config@d1 unchanged" in shown


def test_a_config_change_on_the_db_host_restarts_the_api_on_every_controller(project: Path) -> None:
    run(project)
    restarts(project)
    run(project, "-e", "api_setting=a", "-e", "db_setting=b")
    assert restarts(project) == ["c1", "c2"]
    assert (project / "hosts" / "d1" / "db.conf").read_text() == "db=b\n"


def test_a_notification_stays_pending_until_the_handler_succeeds(project: Path) -> None:
    run(project)
    restarts(project)
    failed = orchc("run", ".", "-e", "db_setting=b", "-e", "fail_restart=true", cwd=project)
    assert failed.returncode == 3 and restarts(project) == []
    # The config is up to date now; the restart it asked for has not happened, so the next run does it.
    dry = orchc("run", ".", "-e", "db_setting=b", "--dry-run", cwd=project).stdout
    assert "notified: database.config@d1 changed in an earlier run" in dry
    run(project, "-e", "db_setting=b")
    assert restarts(project) == ["c1", "c2"]
    run(project, "-e", "db_setting=b")
    assert restarts(project) == []


def checked(project: Path, *args: str) -> str:
    """What `orchc run --check` says, after a first run; it restarts nothing."""
    shown = orchc("run", ".", "--check", *args, cwd=project)
    assert shown.returncode == 0 and restarts(project) == [], shown.stdout + shown.stderr
    return shown.stdout


def test_check_mode_runs_the_handler_only_where_a_notifier_would_change(project: Path) -> None:
    run(project)
    restarts(project)
    assert "not notified" not in checked(project, "-e", "db_setting=c")
    assert "not notified: api.config@c1, database.config@d1 unchanged" in checked(project)


def test_notify_over_ssh(ssh_inventory, tmp_path: Path) -> None:
    write_site(tmp_path)
    ssh_inventory(["c1", "c2", "d1"], groups={"controller": ["c1", "c2"], "db": ["d1"]})
    run(tmp_path)
    assert restarts(tmp_path, "inventory-roots") == ["c1", "c2"]
    shown = run(tmp_path)
    assert restarts(tmp_path, "inventory-roots") == [] and "not notified: api.config@c2, database.config@d1" in shown
    run(tmp_path, "-e", "db_setting=b")
    assert restarts(tmp_path, "inventory-roots") == ["c1", "c2"]


def test_the_live_view_says_why_a_handler_did_not_run_with_v(project: Path) -> None:
    plan = api.compile_project(api.load_project(project)).plan
    api.run(plan)
    restarts(project)
    screen = io.StringIO()
    api.run(plan, observers=[LiveView(Console(file=screen, force_terminal=True, width=200), ViewOptions(VERBOSE))])
    assert "skipped: api.restart@c1  not notified: api.config@c1, database.config@d1 unchanged" in screen.getvalue()


DEPLOY = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: config a
      ansible.builtin.copy: {content: "a={{ a }}\\n", dest: "{{ root }}/a.conf"}
      notify: restart a
    - name: config b
      ansible.builtin.copy: {content: "b={{ b }}\\n", dest: "{{ root }}/b.conf"}
      notify: restart b
  handlers:
    - {name: restart a, ansible.builtin.meta: noop}
    - {name: restart b, ansible.builtin.meta: noop}
"""

TOPICS = """\
var a: str = "1"
var b: str = "1"
var fail_restart: bool = false

role controller { services api }

service api {
  task deploy { playbook "deploy.yml" vars { a = "{{ a }}", b = "{{ b }}" } }
  task restart_a {
    when notified(deploy "restart a")
    run "test {{ fail_restart }} = False && echo {{ host.name }} >> {{ host.vars.root }}/../restarts"
  }
}
"""


@pytest.fixture
def topics(project: Path) -> Path:
    (project / "site.orch").write_text(TOPICS)
    (project / "deploy.yml").write_text(DEPLOY)
    return project


def test_a_topic_notifier_counts_only_when_its_playbook_notified_that_handler(topics: Path) -> None:
    dry = orchc("run", ".", "--dry-run", cwd=topics).stdout
    assert "runs if api.deploy@c1 notifies 'restart a'" in dry
    run(topics)
    assert restarts(topics) == ["c1", "c2"]
    shown = run(topics, "-e", "b=2")  # deploy changed, but notified only 'restart b'
    assert restarts(topics) == [] and "not notified: api.deploy@c1 did not notify 'restart a'" in shown
    run(topics, "-e", "b=2", "-e", "a=2")
    assert restarts(topics) == ["c1", "c2"]


def test_a_notified_topic_stays_pending_until_the_handler_succeeds(topics: Path) -> None:
    run(topics)
    restarts(topics)
    failed = orchc("run", ".", "-e", "a=2", "-e", "fail_restart=true", cwd=topics)
    assert failed.returncode == 3 and restarts(topics) == []
    dry = orchc("run", ".", "--dry-run", "-e", "a=2", "-e", "b=2", cwd=topics).stdout
    assert "notified: api.deploy@c1 notified 'restart a' in an earlier run" in dry
    run(topics, "-e", "a=2", "-e", "b=2")  # deploy notifies 'restart b' only: 'restart a' is still pending
    assert restarts(topics) == ["c1", "c2"]
    run(topics, "-e", "a=2", "-e", "b=3")
    assert restarts(topics) == []


def test_check_mode_runs_a_topic_handler_only_where_it_would_be_notified(topics: Path) -> None:
    run(topics)
    restarts(topics)
    assert "not notified: api.deploy@c1 did not notify 'restart a'" in checked(topics, "-e", "b=2")
    assert "not notified" not in checked(topics, "-e", "a=2")


def test_topics_reach_the_gate_of_a_shared_run(topics: Path, postgres) -> None:
    """Through PostgreSQL, the topics of an ending reach every controller's mirror (`endings.notified`)."""
    url = postgres.new_database()
    run(topics, "--journal", url)
    assert restarts(topics) == ["c1", "c2"]
    shown = run(topics, "--journal", url, "-e", "b=2")
    assert restarts(topics) == [] and "did not notify 'restart a'" in shown
    run(topics, "--journal", url, "-e", "a=2")
    assert restarts(topics) == ["c1", "c2"]
