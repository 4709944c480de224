"""The fast reader of plain YAML inventories gives exactly what ansible-core gives, and steps aside otherwise."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compile_helpers import INVENTORY
from orchc.compiler import inventory as inventory_module
from orchc.compiler.inventory import Inventory, load_inventory
from orchc.compiler.inventory_yaml import read_plain_yaml_inventory
from orchc.dsl.diagnostics import DiagnosticError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _with_ansible(path: Path, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    with monkeypatch.context() as patch:
        patch.setattr(inventory_module, "read_plain_yaml_inventory", lambda _path: None)
        return load_inventory(path)


def _outcome(read: Callable[[], Inventory]) -> Any:
    """Hosts and groups (in order) or the error message."""
    try:
        inventory = read()
    except DiagnosticError as exc:
        return [d.message for d in exc.diagnostics]
    return inventory.hosts, list(inventory.groups.items())


def _assert_same_as_ansible(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_plain_yaml_inventory(path) is not None, "the plain reader should read this inventory"
    assert _outcome(lambda: load_inventory(path)) == _outcome(lambda: _with_ansible(path, monkeypatch))


def test_the_compiler_tests_and_examples_inventories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    _assert_same_as_ansible(tmp_path / "inventory.yml", monkeypatch)
    for example in ("webapp", "openstack-mini"):
        _assert_same_as_ansible(EXAMPLES / example / "inventory.yml", monkeypatch)


names = st.sampled_from(["a", "b", "port", "ansible_port", "ansible_host", "ansible_user", "db_password"])
values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 3000) | st.floats(-10, 10) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xyz"), inner, max_size=2),
    max_leaves=5,
)
variables = st.none() | st.dictionaries(names, values, max_size=3)
hosts = st.dictionaries(st.sampled_from(["h1", "h2", "h3", "web-1.example.org", "10.0.0.5"]), variables, max_size=4)
groups = st.dictionaries(
    st.sampled_from(["web", "db", "zeta", "alpha", "role_1"]),
    st.none() | st.fixed_dictionaries({}, optional={"vars": variables, "hosts": hosts}),
    max_size=4,
)
plain_inventories = st.fixed_dictionaries({}, optional={"vars": variables, "children": groups})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plain_inventories)
def test_generated_plain_inventories_match_ansible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, top: dict[str, Any]
) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": top}, sort_keys=False))
    _assert_same_as_ansible(path, monkeypatch)


NESTED = "all:\n  children:\n    cloud:\n      children:\n        web:\n          hosts:\n            h1:\n"
PLAIN = "all:\n  children:\n    web:\n      hosts:\n        h1: {a: 1}\n"


@pytest.mark.parametrize(
    "name, text",
    [
        ("nested.yml", NESTED),
        ("ranges.yml", "all:\n  children:\n    web:\n      hosts:\n        h[1:3]:\n"),
        ("port.yml", "all:\n  children:\n    web:\n      hosts:\n        h1:2222:\n"),
        ("top_hosts.yml", "all:\n  hosts:\n    h1:\n"),
        ("priority.yml", "all:\n  children:\n    web:\n      vars: {ansible_group_priority: 5}\n      hosts: {h1: }\n"),
        ("tagged.yml", "all:\n  children:\n    web:\n      hosts:\n        h1: {a: !unsafe '{{ x }}'}\n"),
        ("dated.yml", "all:\n  children:\n    web:\n      hosts:\n        h1: {a: 2024-01-01}\n"),
        ("hosts.ini", "[web]\nh1\n"),
    ],
)
def test_other_inventories_are_left_to_ansible(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    assert read_plain_yaml_inventory(tmp_path / name) is None


def test_vars_folders_config_and_environment_are_left_to_ansible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(PLAIN)
    assert read_plain_yaml_inventory(path) is not None
    (tmp_path / "group_vars").mkdir()
    assert read_plain_yaml_inventory(path) is None
    (tmp_path / "group_vars").rmdir()
    with monkeypatch.context() as patch:
        patch.setenv("ANSIBLE_HASH_BEHAVIOUR", "merge")
        assert read_plain_yaml_inventory(path) is None
    with monkeypatch.context() as patch:
        patch.chdir(tmp_path)
        (tmp_path / "ansible.cfg").write_text("[defaults]\n")
        assert read_plain_yaml_inventory(path) is None
    os.chmod(path, 0o755)
    assert read_plain_yaml_inventory(path) is None
