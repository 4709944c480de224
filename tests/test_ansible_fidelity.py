"""Fidelity: one playbook run by plain `ansible-playbook --limit` (the peer) and as an orchc `playbook`
action on fresh hosts leaves the same files, and check mode agrees; over `connection: local` and over
the test sshd. Hosts are read from the inventory file by orchc's own inventory loader, as `orchc run` does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchc.compiler.inventory import Inventory, load_inventory
from orchc.plan import AnsibleModuleAction, Host, Plan, PlaybookAction, Role, Task
from sshd import SshServer
from test_ansible_transport import SPAN, run_batch

SITE = """\
- hosts: all
  gather_facts: false
  vars:
    app_port: 8080
  tasks:
    - name: app folder
      file: {path: "{{ root }}/app", state: directory, mode: "0755"}
    - name: config from a template
      template: {src: templates/app.conf.j2, dest: "{{ root }}/app/app.conf", mode: "0640"}
    - name: a line in a file
      lineinfile: {path: "{{ root }}/app/env", line: "PORT={{ app_port }}", create: true, mode: "0600"}
    - name: a shell command
      shell: "echo {{ inventory_hostname }} on {{ ansible_connection }} > {{ root }}/app/who"
      args: {creates: "{{ root }}/app/who"}
- hosts: web
  gather_facts: false
  tasks:
    - name: web only
      copy: {dest: "{{ root }}/app/web", content: "web {{ greeting }}\\n"}
"""
TEMPLATE = "host={{ inventory_hostname }} port={{ app_port }} groups={{ group_names | join(',') }}\n"
NAMES = ["web1", "web2", "db1"]
GROUPS = {"web": ["web1", "web2"], "db": ["db1"]}
LIMIT = ["web1", "db1"]
# Both sides read the same inventory; pipelining only keeps the test short.
PIPELINING = {name: {"ansible_pipelining": True} for name in NAMES + ["up1", "up2", "down1"]}
EXTRA_VARS = {"greeting": "hello"}


def write_project(folder: Path) -> Path:
    (folder / "legacy" / "templates").mkdir(parents=True)
    (folder / "legacy" / "site.yml").write_text(SITE)
    (folder / "legacy" / "templates" / "app.conf.j2").write_text(TEMPLATE)
    return folder


def local_inventory(path: Path) -> Path:
    hosts: dict[str, Any] = {}
    for name in NAMES:
        root = path.parent / f"{path.stem}-roots" / name
        root.mkdir(parents=True)
        hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "root": str(root)}
    groups = {group: {"hosts": {name: None for name in members}} for group, members in GROUPS.items()}
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts, "children": groups}}))
    return path


def plan_hosts(inventory: Inventory) -> list[Host]:
    """The inventory's hosts, as the Plan holds them."""
    return inventory.hosts


def plan_from_inventory(project: Path, inventory: Path) -> Plan:
    loaded = load_inventory(inventory)
    roles = [Role(name=group, hosts=loaded.groups[group], services=["legacy"]) for group in loaded.group_names()]
    task = Task(id="legacy.site", service="legacy", name="site", source=SPAN)
    return Plan(root=str(project), hosts=plan_hosts(loaded), roles=roles, tasks=[task], instances=[], vars=EXTRA_VARS)


def start_ansible_playbook(project: Path, inventory: Path, *options: str) -> subprocess.Popen[str]:
    """Start the peer (it runs while orchc does: the test takes the time of one run, not two)."""
    return subprocess.Popen(
        [
            "ansible-playbook",
            "-i",
            str(inventory),
            "--limit",
            ",".join(LIMIT),
            "-e",
            json.dumps(EXTRA_VARS),
            *options,
            str(project / "legacy" / "site.yml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=project / "legacy",
        env={"ANSIBLE_NOCOLOR": "1", "PATH": _path()},
    )


def play_recap(peer: subprocess.Popen[str]) -> dict[str, dict[str, int]]:
    """The peer's PLAY RECAP per host, once it has ended."""
    output, _ = peer.communicate(timeout=300)
    recap = {}
    for line in output.splitlines():
        match = re.match(r"^(\S+)\s+: (ok=.*)$", line)
        if match:
            recap[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    assert recap, output
    return recap


def _path() -> str:
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def tree(inventory: Path) -> dict[str, tuple[str, str]]:
    """Every file under the inventory's host roots: relative path -> (mode, content)."""
    roots = inventory.parent / f"{inventory.stem}-roots"
    return {
        str(path.relative_to(roots)): (oct(path.stat().st_mode & 0o777), path.read_text() if path.is_file() else "")
        for path in sorted(roots.rglob("*"))
    }


def recap_status(counts: dict[str, int]) -> str:
    if counts.get("unreachable"):
        return "unreachable"
    if counts.get("failed"):
        return "failed"
    return "changed" if counts.get("changed") else "ok"


def compare_with_peer(project: Path, peer_inventory: Path, orchc_inventory: Path, check: bool = False) -> None:
    peer = start_ansible_playbook(project, peer_inventory, *(["--check"] if check else []))
    plan = plan_from_inventory(project, orchc_inventory)
    hosts = [plan.host(name) for name in LIMIT]
    results, transport = run_batch(
        plan, PlaybookAction(path="legacy/site.yml"), hosts, check_mode=check, work_dir=project / ".orchc"
    )
    recap = play_recap(peer)
    assert transport.calls == 1
    assert [r.status for r in results] == [recap_status(recap[name]) for name in LIMIT], [r.message for r in results]
    assert tree(orchc_inventory) == tree(peer_inventory)


def test_same_files_as_ansible_playbook_on_local_hosts(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    peer, ours = local_inventory(tmp_path / "peer.yml"), local_inventory(tmp_path / "ours.yml")
    compare_with_peer(project, peer, ours)
    files = tree(ours)
    assert files["web1/app/app.conf"] == ("0o640", "host=web1 port=8080 groups=web\n")
    assert files["web1/app/web"][1] == "web hello\n"
    assert "web2/app" not in files, "the limit keeps other hosts untouched"


def test_check_mode_matches_ansible_playbook_check(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    peer, ours = local_inventory(tmp_path / "peer.yml"), local_inventory(tmp_path / "ours.yml")
    compare_with_peer(project, peer, ours, check=True)
    assert not [name for name, (mode, _) in tree(ours).items() if "/" in name]


@pytest.mark.slow  # ~15 s; the default suite reaches the sshd in the unreachable-host test below
def test_same_files_as_ansible_playbook_over_sshd(tmp_path: Path, ssh_inventory) -> None:  # type: ignore[no-untyped-def]  # pytest fixtures (ssh_inventory, make_sshd) have no types
    project = write_project(tmp_path / "project")
    peer = ssh_inventory(NAMES, groups=GROUPS, host_vars=PIPELINING, path=tmp_path / "peer.yml")
    ours = ssh_inventory(NAMES, groups=GROUPS, host_vars=PIPELINING, path=tmp_path / "ours.yml")
    compare_with_peer(project, peer, ours)
    assert tree(ours)["web1/app/who"][1] == "web1 on ssh\n"


def test_an_unreachable_host_in_a_batch_over_ssh_is_reported_for_that_host_only(
    tmp_path: Path, ssh_inventory, make_sshd
) -> None:  # type: ignore[no-untyped-def]  # pytest fixtures (ssh_inventory, make_sshd) have no types
    stopped: SshServer = make_sshd()
    stopped.stop()
    inventory = ssh_inventory(["up1", "up2"], host_vars=PIPELINING, path=tmp_path / "up.yml")
    down = stopped.write_inventory(tmp_path / "down.yml", ["down1"])
    plan = plan_from_inventory(tmp_path, inventory)
    plan.hosts += plan_hosts(load_inventory(down))
    action = AnsibleModuleAction(
        module="copy", args={"dest": "{{ root }}/marker", "content": "{{ inventory_hostname }}"}
    )
    results, transport = run_batch(plan, action)
    assert transport.calls == 1
    assert [r.status for r in results] == ["changed", "changed", "unreachable"]
    assert "unreachable" in results[2].message and "Connection refused" in results[2].message
    for host in plan.hosts[:2]:
        assert (Path(host.vars["root"]) / "marker").read_text() == host.name
