"""`orchc migrate fuel`: Fuel task graphs -> .orch that compiles, with Fuel's placement and semantics."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchc.compiler import compile_project
from orchc.dsl.diagnostics import DiagnosticError
from orchc.migrate.fuel import convert_fuel
from orchc.plan import Plan

DATA = Path(__file__).parent / "data" / "fuel"
EXAMPLE_INVENTORY = Path(__file__).parent.parent / "examples" / "fuel" / "inventory.yml"
METADATA = "fuel-web/nailgun/nailgun/fixtures/openstack.yaml"


def _compile(out: Path, graph: str) -> Plan:
    return compile_project([out / graph], out / "inventory.yml").plan


def _instance(plan: Plan, instance_id: str):
    return next(i for i in plan.instances if i.id == instance_id)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Plan, dict]:
    out = tmp_path_factory.mktemp("fuel-small")
    migration = convert_fuel([DATA / "tasks.yaml"], metadata=DATA / "metadata.yaml", inventory=DATA / "inventory.yml")
    migration.write(out)
    report = json.loads((out / "migration-report.json").read_text())
    return out, _compile(out, "deployment"), report


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, shared_corpus: Path) -> Path:
    out = tmp_path_factory.mktemp("fuel-corpus")
    convert_fuel(
        [shared_corpus / "fuel-library"], metadata=shared_corpus / METADATA, inventory=EXAMPLE_INVENTORY
    ).write(out)
    return out


@pytest.fixture(scope="module")
def deployment(corpus: Path) -> Plan:
    return _compile(corpus, "deployment")


# --- the 47 real files ------------------------------------------------------------------------


@pytest.mark.parametrize("graph", ["provision", "deletion", "net-verification"])
def test_every_fuel_graph_of_the_corpus_compiles(corpus: Path, deployment: Plan, graph: str) -> None:
    assert deployment.instances
    assert _compile(corpus, graph).instances


def test_corpus_conversion_counts(corpus: Path, deployment: Plan, shared_corpus: Path) -> None:
    report = json.loads((corpus / "migration-report.json").read_text())
    assert report["figures"]["fuel tasks"] == 233
    assert len(list((shared_corpus / "fuel-library").rglob("tasks.yaml"))) == 47
    assert {t.id for t in deployment.tasks if t.anchor} >= {"deploy_start", "deploy_end", "post_deployment_end"}


def test_primary_tags_land_on_the_first_controller_only(deployment: Plan) -> None:
    plan = deployment
    hosts = {i.host for i in plan.instances if i.task == "primary_keystone.puppet"}
    assert hosts == {"node-1"}
    assert {i.host for i in plan.instances if i.task == "openstack_haproxy.puppet"} == {"node-1", "node-2", "node-3"}


def test_group_fault_tolerance_becomes_role_tolerate(deployment: Plan) -> None:
    roles = {r.name: r for r in deployment.roles}
    assert (roles["controller"].tolerate, roles["primary_controller"].tolerate) == (1, 0)
    assert roles["compute"].tolerate_spec == "2%"
    assert roles["keystone"].tolerate == 1  # the budget of the Fuel group its hosts belong to


@pytest.mark.parametrize(
    "name",
    [
        "deployment/keystone.orch",
        "deployment/deployment_groups.orch",
        "deployment/astute.orch",
        "deployment/roles.orch",
        "provision/provision.orch",
        "inventory.yml",
        "migration-report.md",
    ],
)
def test_corpus_outputs_snapshot(corpus: Path, shared_corpus: Path, name: str, snapshot) -> None:
    text = (corpus / name).read_text().replace(str(shared_corpus), "CORPUS")
    assert text.replace(str(EXAMPLE_INVENTORY.parent), "EXAMPLE") == snapshot


# --- the mapping, on a small graph ------------------------------------------------------------


def test_stages_are_anchors_and_requires_become_same_host_edges(small) -> None:
    _, plan, _ = small
    assert _instance(plan, "deploy_end").deps  # waits for the tasks required_for it
    keystone = _instance(plan, "keystone.puppet@ctl-2")
    assert "hiera.puppet@ctl-2" in keystone.deps and "hiera.puppet@ctl-3" not in keystone.deps
    assert "primary_keystone.puppet@ctl-1" in keystone.deps  # cross-depends on role primary-keystone
    assert "deploy_start" in _instance(plan, "hiera.puppet@cmp-1").deps


def test_group_tasks_and_regex_names(small) -> None:
    _, plan, _ = small
    assert {i.host for i in plan.instances if i.task == "hiera.puppet"} == {"ctl-1", "ctl-2", "ctl-3", "cmp-1", "cmp-2"}
    primary = _instance(plan, "primary_keystone.puppet@ctl-1")
    assert {f"hiera.puppet@{h}" for h in ("ctl-1", "ctl-2", "cmp-2")} <= set(primary.deps)  # /^hier/ on all nodes


def test_policy_any_and_cross_depended_by(small) -> None:
    _, plan, _ = small
    nova = _instance(plan, "nova_compute.shell@cmp-1")
    assert nova.any_of and set(nova.any_of[0]) >= {"keystone.puppet@ctl-2", "keystone.puppet@ctl-3"}
    assert "nova_compute.shell@cmp-1" in _instance(plan, "compute_check.shell@cmp-1").deps


def test_strategy_becomes_concurrency(small) -> None:
    _, plan, report = small
    tasks = {t.id: t for t in plan.tasks}
    assert tasks["primary_keystone.puppet"].concurrency == 1
    assert tasks["keystone.puppet"].concurrency == 3  # the yaql amount's value on a first deployment
    assert any("strategy amount" in e["what"] for e in report["entries"])


def test_fault_tolerance_forms(small) -> None:
    _, plan, _ = small
    roles = {r.name: r for r in plan.roles}
    assert roles["controller"].tolerate == 1
    assert roles["compute"].tolerate_spec == "50%" and roles["compute"].tolerate == 1
    assert roles["primary_controller"].tolerate == 0  # -1 of 1 host: that host must succeed


def test_actions_retries_timeouts_and_placeholders(small) -> None:
    out, plan, _ = small
    tasks = {t.id: t for t in plan.tasks}
    assert (tasks["nova_compute.shell"].retries, tasks["nova_compute.shell"].delay) == (3, 10.0)
    assert tasks["nova_compute.shell"].timeout == 60
    command = _instance(plan, "nova_compute.shell@cmp-1").actions[0].command
    assert command == "cd /var/lib/nova && systemctl start nova-compute --cluster 1"
    puppet = _instance(plan, "hiera.puppet@ctl-1").actions[0].command
    assert "puppet apply --detailed-exitcodes --modulepath=/etc/puppet/modules" in puppet
    keys = _instance(plan, "keys.copy_files@cmp-1").actions[0]
    assert (keys.module, keys.args["src"], keys.args["mode"]) == ("copy", "/var/lib/fuel/keys/1/nova.key", "0600")
    assert "condition (yaql; true on a first deployment" in (out / "deployment" / "tasks.orch").read_text()


def test_tasks_without_hosts_are_left_out_and_reported(small) -> None:
    _, plan, report = small
    assert not any(t.id.startswith("mongo_only") for t in plan.tasks)
    assert any(e["what"] == "task 'mongo-only' left out" for e in report["entries"])


def test_output_inventory_adds_tag_groups(small) -> None:
    import yaml

    out, _, _ = small
    children = yaml.safe_load((out / "inventory.yml").read_text())["all"]["children"]
    assert children["primary_keystone"] == {"hosts": {"ctl-1": {}}}
    assert children["keystone"] == {"children": {"controller": {}}}


# --- bad input ----------------------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "orchc", "migrate", "fuel", *args], capture_output=True, text=True, check=False
    )
    result.output = result.stdout + result.stderr  # type: ignore[attr-defined]  # the tests read .output, as on click's Result
    return result


def test_cli_converts(tmp_path: Path) -> None:
    result = _run(
        str(DATA / "tasks.yaml"),
        "-o",
        str(tmp_path),
        "--metadata",
        str(DATA / "metadata.yaml"),
        "-i",
        str(DATA / "inventory.yml"),
    )
    assert result.returncode == 0, result.output
    assert (tmp_path / "deployment" / "roles.orch").is_file()


def test_metadata_and_inventory_are_required_and_help_says_so(tmp_path: Path) -> None:
    options = _run("--help").output.split("Options")[1]
    required = re.findall(r"^│ (\*?) +(--\w+)", options, re.M)  # typer marks a required option with *
    assert required == [("*", "--output"), ("*", "--metadata"), ("*", "--inventory"), ("", "--version"), ("", "--help")]
    no_inventory = _run(str(DATA / "tasks.yaml"), "-o", str(tmp_path), "--metadata", str(DATA / "metadata.yaml"))
    assert no_inventory.returncode == 2 and "Missing option '-i' / '--inventory'" in no_inventory.output
    no_metadata = _run(str(DATA / "tasks.yaml"), "-o", str(tmp_path), "-i", str(DATA / "inventory.yml"))
    assert no_metadata.returncode == 2 and "Missing option '--metadata'" in no_metadata.output


def test_bad_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "tasks.yaml"
    bad.write_text("- id: a\n  type: shell\n  requires: [b\n")
    result = _run(
        str(bad),
        "-o",
        str(tmp_path / "out"),
        "--metadata",
        str(DATA / "metadata.yaml"),
        "-i",
        str(DATA / "inventory.yml"),
    )
    assert result.returncode == 1
    assert f"{bad}:4:1: error: invalid YAML" in result.output


def test_duplicate_task_id_is_a_diagnostic(tmp_path: Path) -> None:
    dup = tmp_path / "tasks.yaml"
    dup.write_text("- id: a\n  type: stage\n\n- id: a\n  type: stage\n")
    with pytest.raises(DiagnosticError) as error:
        convert_fuel([dup], metadata=DATA / "metadata.yaml", inventory=DATA / "inventory.yml")
    diagnostic = error.value.diagnostics[0]
    assert "defined twice" in diagnostic.message and diagnostic.span.line == 4


def test_task_without_type_is_a_diagnostic(tmp_path: Path) -> None:
    bad = tmp_path / "tasks.yaml"
    bad.write_text("- id: a\n  requires: []\n")
    with pytest.raises(DiagnosticError) as error:
        convert_fuel([bad], metadata=DATA / "metadata.yaml", inventory=DATA / "inventory.yml")
    assert "needs an `id` and a `type`" in error.value.diagnostics[0].message


def test_inventory_must_be_yaml_with_all(tmp_path: Path) -> None:
    ini = tmp_path / "hosts.yml"
    ini.write_text("controller:\n  hosts: {a: {}}\n")
    with pytest.raises(DiagnosticError) as error:
        convert_fuel([DATA / "tasks.yaml"], metadata=DATA / "metadata.yaml", inventory=ini)
    assert "top-level `all:`" in error.value.diagnostics[0].message


def test_metadata_without_roles_is_a_diagnostic(tmp_path: Path) -> None:
    meta = tmp_path / "meta.yaml"
    meta.write_text("tags_metadata: {}\n")
    with pytest.raises(DiagnosticError) as error:
        convert_fuel([DATA / "tasks.yaml"], metadata=meta, inventory=DATA / "inventory.yml")
    assert "roles_metadata" in error.value.diagnostics[0].message


def test_simulate_compares_graph_and_steps(corpus: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orchc", "simulate", str(corpus / "deployment"), "-i", str(corpus / "inventory.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "graph  makespan" in result.stdout and "steps  makespan" in result.stdout
