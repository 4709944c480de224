"""`orchc migrate heat` (issue 7) on a miniature tripleo-heat-templates tree shaped like the real one.

tests/data/migrate_heat/tht/ has the registry (a Jinja template), roles_data
(Controller: MySQL, Api and a disabled Aide; Compute: Agent with a role
parameter), and three service templates using the intrinsics, nested
templates and sections of issue 7. The converted trees are compiled with
the real compiler against tests/data/migrate_heat/inventory.yml.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchc.compiler import compile_project
from orchc.migrate.heat import convert_heat
from orchc.migrate.heat_steps import task_steps, tasks_for_step
from orchc.migrate.report import Migration
from test_diagnostics import run_cli  # runs `orchc ARGS` in-process: (status, stdout, stderr)

DATA = Path(__file__).parent / "data" / "migrate_heat"
THT = DATA / "tht"
INVENTORY = DATA / "inventory.yml"


def convert(relax: bool = False, params: bool = True) -> Migration:
    return convert_heat(
        [THT], roles_data=THT / "roles_data.yaml", param_files=[DATA / "params.yaml"] if params else [], relax=relax
    )


@pytest.fixture(scope="module")
def faithful() -> Migration:
    return convert()


@pytest.fixture(scope="module")
def relaxed() -> Migration:
    return convert(relax=True)


def playbook(migration: Migration, name: str) -> list[dict]:
    return yaml.safe_load(migration.files[f"deploy/playbooks/{name}.yml"])


def task_names(migration: Migration, name: str) -> list[str]:
    return [t["name"] for t in playbook(migration, name)[0]["tasks"]]


# --- step semantics ------------------------------------------------------------------


def test_the_step_condition_is_found_alone_combined_and_parenthesised() -> None:
    assert task_steps({"when": "step|int == 3"}) == {3}
    assert task_steps({"when": ["step|int == 2", "inventory_hostname == 'a'"]}) == {2}
    assert task_steps({"when": "(step|int)==4"}) == {4}
    assert task_steps({"when": "step == 5"}) == {5}
    assert task_steps({"when": "not ansible_check_mode"}) is None
    assert task_steps({"name": "no condition"}) is None


def test_a_task_without_step_condition_runs_at_every_step_in_order() -> None:
    tasks = [{"name": "a"}, {"name": "b", "when": "step|int == 2"}, {"name": "c", "when": ["x", "step|int == 3"]}]
    assert [[t["name"] for t in tasks_for_step(tasks, n)] for n in range(0, 6)] == [
        ["a"],
        ["a"],
        ["a", "b"],
        ["a", "c"],
        ["a"],
        ["a"],
    ]


def test_unconditioned_deploy_task_is_in_every_step_playbook(faithful: Migration) -> None:
    for step in range(0, 6):
        assert "always checked" in task_names(faithful, f"mysql.step{step}_tasks")
    assert task_names(faithful, "mysql.step2_tasks") == [
        "always checked",
        "galera bootstrap at step 2 on the first node",
    ]


def test_other_conditions_stay_as_the_tasks_own_when(faithful: Migration) -> None:
    task = playbook(faithful, "mysql.step2_tasks")[0]["tasks"][1]
    assert task["when"] == ["step|int == 2", "inventory_hostname == groups['Controller'][0]"]
    assert "vars { step = 2 }" in faithful.files["deploy/mysql.orch"]


def test_containers_start_in_start_order_and_puppet_tasks_run_once(faithful: Migration) -> None:
    text = faithful.files["deploy/mysql.orch"]
    assert text.index("task step1_containers_0") < text.index("task step1_containers_1")
    assert "task step2_container_puppet once {" in text
    start = playbook(faithful, "mysql.step1_containers_1")[0]["tasks"][1]
    assert start["include_role"] == {"name": "tripleo_container_manage"}
    assert start["vars"]["tripleo_container_manage_config_patterns"] == "mysql_bootstrap.json"


def test_step_0_containers_are_defined_in_container_setup_but_not_started(faithful: Migration) -> None:
    assert task_names(faithful, "mysql.container_setup") == [
        "Write /var/lib/kolla/config_files/mysql.json",
        "Write the startup definition of container mysql_started_by_its_own_tasks",
    ]
    assert not any(name.startswith("deploy/playbooks/mysql.step0_containers") for name in faithful.files)


def test_external_tasks_run_on_the_undercloud_role(faithful: Migration) -> None:
    assert "role undercloud {\n  services api_external\n}" in faithful.files["deploy/overcloud.orch"]
    assert "task external_post_deploy {" in faithful.files["deploy/api_external.orch"]


def test_step_config_of_services_without_containers_runs_in_the_host_puppet_run(
    faithful: Migration, relaxed: Migration
) -> None:
    text = faithful.files["deploy/host_puppet.orch"]
    assert [f"task step{n}_host_puppet {{" in text for n in range(1, 6)] == [True] * 5
    manifest = playbook(faithful, "host_puppet.step3_host_puppet")[0]["tasks"][1]["copy"]["content"]
    assert manifest == "include tripleo::profile::base::agent"
    assert "role Compute optional {\n  services agent, host_puppet\n}" in faithful.files["deploy/overcloud.orch"]
    assert "requires host_puppet_step3" in relaxed.files["deploy/agent.orch"]


def test_update_and_upgrade_are_separate_trees(faithful: Migration) -> None:
    assert "deploy/mysql.orch" in faithful.files
    assert "update/mysql.orch" in faithful.files and "upgrade/mysql.orch" in faithful.files
    assert "concurrency 1" in faithful.files["update/mysql.orch"]  # Controller's update_serial
    assert not any(name.startswith("update/api") for name in faithful.files)  # api has no update_tasks


# --- Heat intrinsics -------------------------------------------------------------------


def test_parameters_resolve_from_defaults_param_files_and_role_parameters(faithful: Migration) -> None:
    bootstrap = playbook(faithful, "mysql.step1_containers_1")[0]["tasks"][0]["vars"]["container"]
    assert bootstrap["image"] == "quay.io/tripleo/mariadb:current"  # --param-file, through OS::Heat::Value
    assert bootstrap["environment"]["DB_MAX_CONNECTIONS"] == 4096  # template default
    agent = playbook(faithful, "agent.step1_tasks")[0]["tasks"][0]
    assert agent["ini_file"]["value"] == 8  # Compute's RoleParametersDefault
    ownership = playbook(faithful, "mysql.step1_containers_0")[0]["tasks"][0]["vars"]["container"]
    assert ownership["volumes"] == ["/etc/hosts:/etc/hosts:ro", "/etc/localtime:/etc/localtime:ro"]


def test_if_conditions_and_registry_named_nested_templates(faithful: Migration) -> None:
    step5 = playbook(faithful, "mysql.step5_tasks")[0]["tasks"][1]
    assert step5["shell"] == "pcs resource enable galera-bundle"
    assert task_names(faithful, "api.step2_containers_0")[0].endswith("api_init_logs")
    api = playbook(faithful, "api.step4_containers_0")[0]["tasks"][0]["vars"]["container"]
    assert api["environment"] == {"API_DB": "172.17.0.10", "API_BIND": "%{lookup('internal_api')}"}


def test_secrets_never_reach_the_output() -> None:
    migration = convert()
    assert not any("this-must-never-be-written" in text for text in migration.files.values())
    assert "this-must-never-be-written" not in migration.report.to_json()
    bootstrap = playbook(migration, "mysql.step1_containers_1")[0]["tasks"][0]["vars"]["container"]
    assert bootstrap["environment"]["DB_ROOT_PASSWORD"] == "{{ MysqlRootPassword }}"


def test_hidden_parameters_become_orchc_secrets_given_at_run_time(tmp_path: Path) -> None:
    migration = convert()
    assert "var MysqlRootPassword: secret" in migration.files["deploy/overcloud.orch"]
    assert (
        'playbook "playbooks/mysql.step1_containers_1.yml" vars {\n      step = 1,\n'
        '      MysqlRootPassword = "{{ vars.MysqlRootPassword }}",\n    }'
    ) in migration.files["deploy/mysql.orch"]
    migration.write(tmp_path)
    plan = compile_project([tmp_path / "deploy"], INVENTORY).plan
    assert [s.name for s in plan.secrets] == ["MysqlRootPassword"]
    bootstrap = next(i for i in plan.instances if i.task == "mysql.step1_containers_1")
    assert bootstrap.secrets == ["MysqlRootPassword"]
    assert "this-must-never-be-written" not in plan.to_json()


def test_what_cannot_be_resolved_is_kept_and_reported_with_file_and_line() -> None:
    migration = convert(params=False)
    entries = {(e.category, e.source, e.what) for e in migration.report.entries}
    assert ("unsupported", "deployment/mysql/mysql-container-puppet.yaml:104", "yaql kept as written") in entries
    assert (
        "assumption",
        "deployment/mysql/mysql-container-puppet.yaml:5",
        "parameter ContainerMysqlImage has no value",
    ) in entries
    sysctl = playbook(migration, "mysql.step3_tasks")[0]["tasks"][1]["sysctl"]
    assert sysctl["value"] == {
        "yaql": {"expression": "$.data.max * 2", "data": {"max": {"get_param": "MysqlMaxConnections"}}}
    }
    bootstrap = playbook(migration, "mysql.step1_containers_1")[0]["tasks"][0]["vars"]["container"]
    assert bootstrap["image"] == "{{ ContainerMysqlImage }}"


def test_disabled_services_and_unconverted_sections_are_reported(faithful: Migration) -> None:
    whats = [e.what for e in faithful.report.entries if e.category == "unsupported"]
    assert "Controller: OS::TripleO::Services::Aide is OS::Heat::None" in whats
    assert "not converted: config_settings, firewall_rules" in whats


def test_templates_given_without_roles_data_go_on_one_role_and_keep_distinct_names(tmp_path: Path) -> None:
    migration = convert_heat([THT / "deployment"])
    assert (
        "role Standalone optional {\n"
        "  services agent, api, mysql_container_puppet, mysql_pacemaker_puppet, host_puppet\n}"
        in migration.files["deploy/overcloud.orch"]
    )
    migration.write(tmp_path)
    assert compile_project([tmp_path / "deploy"], INVENTORY).plan.instances


# --- dependency modes ------------------------------------------------------------------


def test_faithful_mode_chains_global_step_anchors(faithful: Migration) -> None:
    anchors = faithful.files["deploy/overcloud.orch"]
    assert "anchor step3 {\n  after step3_host_puppet\n  provides step3_done\n}" in anchors
    assert (
        "anchor step4_tasks {\n  after step4_external\n"
        "  requires mysql_step4_tasks_done optional\n  requires agent_step4_tasks_done optional\n" in anchors
    )
    assert "step6" not in anchors
    assert (
        "    requires step2_done optional\n    requires mysql_step3_tasks_done on same host optional\n"
        "    provides api_step3_tasks_done\n"
    ) in faithful.files["deploy/api.orch"]  # roles_data order on a host


def test_relaxed_mode_chains_each_service_and_follows_the_data(relaxed: Migration) -> None:
    api = relaxed.files["deploy/api.orch"]
    assert "anchor" not in relaxed.files["deploy/overcloud.orch"]
    assert "task step3_tasks {\n    after step2_containers_0\n    requires mysql_step2 optional\n" in api
    assert "requires api_external_step4" in api  # the undercloud part of step 4 ran before step 4
    assert "requires api_step3" in relaxed.files["deploy/api_external.orch"]
    assumptions = [e for e in relaxed.report.entries if e.category == "assumption"]
    assert any(
        e.what == "deploy: api waits for step N-1 of mysql at each step N"
        and e.source == "deployment/api/api-container-puppet.yaml:35"
        for e in assumptions
    )
    assert "mysql" not in relaxed.files["deploy/agent.orch"]


@pytest.mark.parametrize("relax", [False, True], ids=["faithful", "relaxed"])
def test_every_tree_compiles(relax: bool, tmp_path: Path) -> None:
    convert(relax=relax).write(tmp_path)
    for tree in ("deploy", "update", "upgrade"):
        result = compile_project([tmp_path / tree], INVENTORY)
        assert result.plan.instances, tree
    plan = compile_project([tmp_path / "deploy"], INVENTORY).plan
    once = [i for i in plan.instances if i.task == "mysql.step2_container_puppet"]
    assert [i.host for i in once] == ["overcloud-controller-0"]


def test_output_snapshot(faithful: Migration, snapshot) -> None:
    orch = {name: text for name, text in sorted(faithful.files.items()) if name.endswith(".orch")}
    assert orch == snapshot
    assert faithful.report.to_markdown().replace(str(DATA), "DATA") == snapshot


def test_playbooks_snapshot(faithful: Migration, snapshot) -> None:
    assert {n: t for n, t in sorted(faithful.files.items()) if n.startswith("deploy/playbooks/")} == snapshot


# --- the command line and bad input ---------------------------------------------------------


def test_cli_writes_the_trees_and_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_cli(
        [
            "migrate",
            "heat",
            str(THT),
            "--roles-data",
            str(THT / "roles_data.yaml"),
            "--param-file",
            str(DATA / "params.yaml"),
            "--relax",
            "-o",
            str(tmp_path),
        ],
        monkeypatch,
        capsys,
    )
    assert (status, err) == (0, "")
    assert "services: 5" in out
    assert (tmp_path / "deploy" / "overcloud.orch").is_file() and (tmp_path / "migration-report.md").is_file()


BAD_INPUTS = {
    "broken_yaml": (["bad/broken.yaml"], "broken.yaml:5:1: error: invalid YAML"),
    "not_a_service": (["bad/no_role_data.yaml"], "no_role_data.yaml:1:1: error: not a TripleO service template"),
    "missing": (["bad/nothing.yaml"], "no such file or folder"),
    "no_service_in_folder": (["no_services"], "no_services:1:1: error: no TripleO service template here"),
    "roles_without_name": (
        ["tht", "--roles-data", "bad/roles_no_name.yaml"],
        "roles_no_name.yaml:1:1: error: a role needs a `name`",
    ),
    "param_file_typo": (
        ["tht/deployment/api/api-container-puppet.yaml", "--param-file", "bad/params_typo.yaml"],
        "params_typo.yaml:1:1: error: unknown section 'parameter_default'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_diagnostic_with_exit_1(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args, expected = BAD_INPUTS[case]
    monkeypatch.chdir(DATA)
    status, _, err = run_cli(["migrate", "heat", *args, "-o", str(tmp_path)], monkeypatch, capsys)
    assert status == 1
    assert expected in err
    assert "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize("compute", ["    Compute:\n      hosts: {}\n", ""], ids=["no-nodes", "missing"])
@pytest.mark.parametrize("relax", [False, True], ids=["faithful", "relaxed"])
def test_a_role_with_no_nodes_deploys_as_nothing(tmp_path: Path, relax: bool, compute: str) -> None:
    """TripleO's usual case: a roles_data role with no nodes (or absent from the inventory) places nothing,
    and what waits for its services waits for nothing, with warnings that name them."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  vars:\n    ansible_connection: local\n  children:\n    Controller:\n      hosts:\n"
        "        c0: {}\n        c1: {}\n" + compute + "    undercloud:\n      hosts:\n        u0: {}\n"
    )
    convert(relax=relax).write(tmp_path / "out")
    result = compile_project([tmp_path / "out" / "deploy"], inventory)
    assert {i.host for i in result.plan.instances} - {None} == {"c0", "c1", "u0"}
    waits_for_nothing = [w.message for w in result.warnings if "waits for nothing" in w.message]
    assert all("agent" in m or "host_puppet" in m for m in waits_for_nothing)
    assert waits_for_nothing or relax  # the global step anchors wait for every role's services
