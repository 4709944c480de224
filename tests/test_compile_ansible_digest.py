"""Editing a playbook or a role changes the fingerprint of the instances that run it."""

from pathlib import Path

from orchc.compiler import compile_project

SITE = """
role web { services legacy }
service legacy {
  task play { playbook "legacy/site.yml" }
  task motd { role motd }
}
"""


def _fingerprints(project: Path) -> dict[str, str]:
    plan = compile_project([project / "site.orch"], project / "inventory.yml").plan
    return {inst.task: inst.fingerprint for inst in plan.instances}


def test_playbook_and_role_edits_change_fingerprints_and_nothing_else_does(tmp_path: Path) -> None:
    (tmp_path / "site.orch").write_text(SITE)
    (tmp_path / "inventory.yml").write_text("web:\n  hosts:\n    h1: {ansible_connection: local}\n")
    (tmp_path / "legacy" / "templates").mkdir(parents=True)
    (tmp_path / "legacy" / "site.yml").write_text("- hosts: all\n  tasks: []\n")
    (tmp_path / "legacy" / "templates" / "a.j2").write_text("one\n")
    (tmp_path / "roles" / "motd" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "motd" / "tasks" / "main.yml").write_text("- debug: msg=hi\n")
    first = _fingerprints(tmp_path)

    (tmp_path / "legacy" / "unrelated.txt").write_text("not an Ansible folder\n")
    (tmp_path / ".orchc").mkdir()
    (tmp_path / ".orchc" / "journal.db").write_text("changes on every run")
    assert _fingerprints(tmp_path) == first

    (tmp_path / "legacy" / "templates" / "a.j2").write_text("two\n")
    second = _fingerprints(tmp_path)
    assert second["legacy.play"] != first["legacy.play"] and second["legacy.motd"] == first["legacy.motd"]

    (tmp_path / "roles" / "motd" / "tasks" / "main.yml").write_text("- debug: msg=bye\n")
    third = _fingerprints(tmp_path)
    assert third["legacy.motd"] != second["legacy.motd"] and third["legacy.play"] == second["legacy.play"]
