"""Ansible inventories (INI and YAML) read through ansible-core: groups, children, vars, connection data."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchc.compiler.inventory import load_inventory
from orchc.dsl.diagnostics import DiagnosticError

INI = """\
[controller]
c1 ansible_host=10.0.0.1 ansible_port=2222 ansible_user=admin
c2 ansible_password=hunter2 db_password=x

[compute]
n1 ansible_connection=local

[cloud:children]
controller
compute

[cloud:vars]
region=RegionOne

[controller:vars]
region=RegionTwo
"""

YAML = """\
all:
  vars:
    ntp: pool.ntp.org
  children:
    cloud:
      vars:
        region: RegionOne
      children:
        controller:
          vars:
            region: RegionTwo
          hosts:
            c1:
              ansible_host: 10.0.0.1
              ansible_port: 2222
              ansible_user: admin
            c2:
              ansible_become_pass: hunter2
        compute:
          hosts:
            n1:
              ansible_connection: local
"""


@pytest.mark.parametrize("name, text", [("hosts.ini", INI), ("hosts.yml", YAML)])
def test_groups_children_and_merged_vars(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    inventory = load_inventory(path)
    assert [h.name for h in inventory.hosts] == ["c1", "c2", "n1"]
    assert inventory.groups["cloud"] == ["c1", "c2", "n1"]
    assert inventory.groups["controller"] == ["c1", "c2"]
    assert sorted(inventory.group_names()) == ["cloud", "compute", "controller"]  # not all/ungrouped
    c1, c2, n1 = inventory.hosts
    assert (c1.address, c1.port, c1.user, c1.connection) == ("10.0.0.1", 2222, "admin", "ssh")
    assert (n1.address, n1.port, n1.user, n1.connection) == ("n1", None, None, "local")
    assert c1.vars["region"] == "RegionTwo"  # the child group wins over its parent
    assert n1.vars["region"] == "RegionOne"
    assert not any("pass" in key for host in inventory.hosts for key in host.vars)


def test_group_vars_and_host_vars_folders_beside_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "hosts.ini").write_text(INI)
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "compute.yml").write_text("region: RegionThree\nflavor: large\n")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "n1.yml").write_text("flavor: small\n")
    n1 = load_inventory(tmp_path / "hosts.ini").hosts[2]
    assert (n1.vars["region"], n1.vars["flavor"]) == ("RegionThree", "small")


def test_vars_are_plain_json_values(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(
        "all:\n  hosts:\n    h1:\n      disks: [sda, sdb]\n      tuning: {swappiness: 10}\n      ssd: true\n"
    )
    host = load_inventory(path).hosts[0]
    assert host.vars == {"disks": ["sda", "sdb"], "tuning": {"swappiness": 10}, "ssd": True}
    assert type(host.vars["disks"][0]) is str


def test_missing_inventory(tmp_path: Path) -> None:
    with pytest.raises(DiagnosticError) as failure:
        load_inventory(tmp_path / "nope.ini")
    assert failure.value.diagnostics[0].message == f"inventory '{tmp_path / 'nope.ini'}' does not exist"


def test_a_port_that_is_not_a_number(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[web]\nw1 ansible_port=ssh\n")
    with pytest.raises(DiagnosticError) as failure:
        load_inventory(path)
    assert failure.value.diagnostics[0].message == f"inventory '{path}': host 'w1' has ansible_port 'ssh', not a number"


def test_merged_vars_equal_ansible_variable_manager(tmp_path: Path) -> None:
    """The per-group merge gives what ansible-core's VariableManager gives for each host's inventory vars."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    from orchc.compiler.inventory import plain

    (tmp_path / "hosts.yml").write_text(YAML)
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("ntp: time.example.com\nlevel: all\n")
    (tmp_path / "group_vars" / "cloud.yml").write_text("level: cloud\n")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "c2.yml").write_text("level: host\nregion: Mine\n")
    ours = {h.name: h.vars for h in load_inventory(tmp_path / "hosts.yml").hosts}
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(tmp_path / "hosts.yml")])
    variables = VariableManager(loader=loader, inventory=manager)
    for host in manager.get_hosts():
        theirs = plain(variables.get_vars(host=host, include_hostvars=False))
        assert {k: theirs[k] for k in ours[host.name]} == ours[host.name]
    assert (ours["c1"]["level"], ours["c2"]["level"], ours["c2"]["region"]) == ("cloud", "host", "Mine")
