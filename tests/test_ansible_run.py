"""Ansible actions through `orchc` itself: check, run, dry run, the journal and the example."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from orchc_process import orchc

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "gradual"
TOKEN = "tok-9f8e7d6c5b"


def write_inventory(folder: Path, hosts: dict[str, dict[str, object]], groups: dict[str, list[str]]) -> None:
    """Local hosts, each with a `root` folder under `folder/hosts/`."""
    for name, vars_ in hosts.items():
        vars_.update(ansible_connection="local", root=str(folder / "hosts" / name))
    children = {group: {"hosts": {name: None for name in members}} for group, members in groups.items()}
    (folder / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts, "children": children}}))


def test_the_gradual_example_runs_native_and_legacy_tasks_in_one_graph(tmp_path: Path) -> None:
    project = tmp_path / "gradual"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".orchc"))
    write_inventory(
        project,
        {"db1": {}, "web1": {"http_port": 8081}, "web2": {"http_port": 8082}},
        {"db": ["db1"], "web": ["web1", "web2"]},
    )
    done = orchc("run", ".", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    for web in ("web1", "web2"):
        root = project / "hosts" / web
        assert f"server_name {web};" in (root / "etc" / "site.conf").read_text()  # the playbook
        assert (root / "etc" / "motd").read_text() == f"managed by orchc ({web})\n"  # the role
        assert "net.core.somaxconn = 1024" in (root / "etc" / "sysctl.conf").read_text()  # the module
        assert (root / "srv" / "web" / "running").exists()  # native, after all three
    assert not list((project / ".orchc" / "ansible").iterdir()), "data dirs of successful calls are removed"
    status = orchc("status", "--journal", ".orchc/journal.db", cwd=project)
    assert "web.configure@web1" in status.stdout and "ok=3 changed=3" in status.stdout


LEGACY = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: write the token
      copy: {dest: "{{ root }}/token", content: "{{ token }}"}
    - name: refuse the bad host
      fail: {msg: "{{ inventory_hostname }} refused token {{ token }}"}
      when: bad | default(false)
"""
PROJECT = """\
var token: secret
role app { services app  tolerate 1 }
service app {
  task prepare { run "mkdir -p {{ host.vars.root }}" }
  task legacy {
    after prepare
    playbook "legacy/app.yml" vars { token = "{{ token }}" }
  }
  task finish {
    after legacy
    run "touch {{ host.vars.root }}/finished"
  }
}
"""


def failing_project(tmp_path: Path) -> Path:
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "app.yml").write_text(LEGACY)
    (tmp_path / "main.orch").write_text(PROJECT)
    write_inventory(tmp_path, {"h1": {}, "h2": {"bad": True}}, {"app": ["h1", "h2"]})
    return tmp_path


def test_a_failed_host_of_a_batch_stops_only_its_own_branch_and_secrets_stay_out(tmp_path: Path) -> None:
    project = failing_project(tmp_path)
    done = orchc("run", ".", cwd=project, env={"ORCHC_SECRET_TOKEN": TOKEN})
    assert done.returncode == 0, done.stdout + done.stderr  # h2 failed within the role's tolerance
    assert (project / "hosts" / "h1" / "finished").exists()
    assert not (project / "hosts" / "h2" / "finished").exists()
    assert (project / "hosts" / "h2" / "token").read_text() == TOKEN
    assert "task 'refuse the bad host' failed: h2 refused token ********" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    for path in (project / ".orchc").rglob("*"):
        assert not path.is_file() or TOKEN.encode() not in path.read_bytes(), path
    assert "Traceback" not in done.stderr


def test_dry_run_lists_the_ansible_instances_and_changes_nothing(tmp_path: Path) -> None:
    project = failing_project(tmp_path)
    shown = orchc("run", ".", "--dry-run", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert "app.legacy@h1" in shown.stdout and "app.legacy@h2" in shown.stdout
    assert not (project / "hosts").exists()


def test_a_missing_playbook_or_role_is_a_compile_error(tmp_path: Path) -> None:
    (tmp_path / "main.orch").write_text(
        'role app { services app }\nservice app {\n  task a { playbook "legacy/nope.yml" }\n'
        "  task b { role no_such_role }\n}\n"
    )
    write_inventory(tmp_path, {"h1": {}}, {"app": ["h1"]})
    checked = orchc("check", ".", cwd=tmp_path, env={"ANSIBLE_ROLES_PATH": ""})
    assert checked.returncode == 1
    assert "main.orch:3:21: error: playbook file 'legacy/nope.yml' not found" in checked.stderr
    assert "main.orch:4:12: error: Ansible role 'no_such_role' not found" in checked.stderr
    assert "Traceback" not in checked.stderr


def test_without_ansible_runner_the_run_stops_before_anything_runs(tmp_path: Path) -> None:
    project = failing_project(tmp_path)
    hide_runner = (
        "import sys; sys.modules['ansible_runner'] = None; sys.argv = ['orchc', 'run', '.']\n"
        "from orchc.cli import main; main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide_runner],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "ORCHC_SECRET_TOKEN": TOKEN},
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "ansible actions need ansible-runner and ansible-core: pip install ansible-runner ansible-core" in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert not (project / "hosts").exists()
