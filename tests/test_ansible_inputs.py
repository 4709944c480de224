"""What an ansible-runner call is given: inventory, per-host values, the secrets file (no Ansible run)."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
import yaml

from orchc.backends.ansible_inputs import (
    ExtraVars,
    InputError,
    call_values,
    inventory,
    write_secrets_file,
)
from orchc.backends.connection import SshOptions
from orchc.plan import AnsibleModuleAction, Host, Plan, PlaybookAction, Role, secret_marker


def plan_with(*hosts: Host) -> Plan:
    return Plan(
        root=".",
        hosts=list(hosts),
        tasks=[],
        instances=[],
        roles=[
            Role(name="web", hosts=[h.name for h in hosts], services=["s"]),
            Role(name="all", hosts=[h.name for h in hosts], services=["s"]),
        ],
    )


def test_the_inventory_keeps_how_orchc_reaches_each_host() -> None:
    ssh = Host(
        name="web1",
        address="10.0.0.5",
        port=2222,
        user="deploy",
        vars={
            "ansible_ssh_private_key_file": "/keys/id",
            "ansible_ssh_common_args": "-o ProxyJump=bastion",
            "orchc_known_hosts": "/etc/orchc/known_hosts",
            "root": "/srv",
        },
    )
    local = Host(name="ctl", address="localhost", connection="local")
    data = inventory(plan_with(ssh, local), SshOptions(accept_new_host_keys=True))
    web1 = data["all"]["hosts"]["web1"]
    assert web1["ansible_host"] == "10.0.0.5" and web1["ansible_port"] == 2222 and web1["ansible_user"] == "deploy"
    assert web1["ansible_connection"] == "ssh"
    assert web1["ansible_ssh_private_key_file"] == "/keys/id"
    assert web1["ansible_ssh_common_args"] == "-o ProxyJump=bastion"
    assert web1["ansible_ssh_extra_args"] == (
        "-o UserKnownHostsFile=/etc/orchc/known_hosts -o StrictHostKeyChecking=accept-new"
    )
    assert data["all"]["hosts"]["ctl"] == {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    assert data["all"]["children"] == {"web": {"hosts": {"web1": None, "ctl": None}}}, "Ansible's own `all` is kept"


def test_the_inventory_has_every_group_of_the_plan_not_only_its_roles() -> None:
    plan = plan_with(Host(name="web1", address="web1", connection="local"))
    plan.groups = {"web": ["web1"], "dmz": ["web1"]}
    assert inventory(plan, SshOptions())["all"]["children"] == {
        "web": {"hosts": {"web1": None}},
        "dmz": {"hosts": {"web1": None}},
    }


def test_equal_values_pass_as_they_are_and_differing_or_secret_ones_per_host() -> None:
    actions = {
        "a": PlaybookAction(path="p.yml", vars={"port": 80, "root": "/a", "pw": secret_marker("pw", False)}),
        "b": PlaybookAction(path="p.yml", vars={"port": 80, "root": "/b", "pw": secret_marker("pw", False)}),
    }
    extra, args = call_values({"region": "One"}, actions, {"pw": "{{ x }}"})
    assert args is None
    assert extra.public["region"] == "One" and extra.public["port"] == 80
    assert extra.public["root"] == '{{ orchc_host_vars[inventory_hostname]["root"] }}'
    assert extra.public["orchc_host_vars"] == {"a": {"root": "/a"}, "b": {"root": "/b"}}
    assert extra.public["pw"] == '{{ orchc_secret_host_vars[inventory_hostname]["pw"] }}'
    assert extra.secret == {"orchc_secret_host_vars": {"a": {"pw": "{{ x }}"}, "b": {"pw": "{{ x }}"}}}
    assert "{{ x }}" not in str(extra.public)


def test_module_arguments_that_differ_are_read_per_host() -> None:
    actions = {
        name: AnsibleModuleAction(module="file", args={"path": f"/{name}", "state": "directory"}) for name in ("a", "b")
    }
    extra, args = call_values({}, actions, {})
    assert args == {"path": '{{ orchc_host_args[inventory_hostname]["path"] }}', "state": "directory"}
    assert extra.public["orchc_host_args"] == {"a": {"path": "/a"}, "b": {"path": "/b"}}


def test_a_secret_without_a_value_is_an_input_error() -> None:
    actions = {"a": AnsibleModuleAction(module="debug", args={"msg": secret_marker("token", False)})}
    with pytest.raises(InputError, match="no value for secret token"):
        call_values({}, actions, {})


def test_the_secrets_file_is_private_and_its_values_are_never_templates(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yml"
    write_secrets_file(path, ExtraVars(secret={"pw": "{{ lookup('pipe', 'id') }}", "n": [1, "x"]}).secret)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "pw: !unsafe" in text and "- !unsafe 'x'" in text
    with pytest.raises(FileExistsError):
        write_secrets_file(path, {})

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
    assert yaml.load(text, Loader=Loader) == {"pw": "{{ lookup('pipe', 'id') }}", "n": [1, "x"]}
