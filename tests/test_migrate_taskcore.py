"""`orchc migrate taskcore`: every example of task-core 0.2.1 converts and compiles; the mapping, piece by piece."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchc.compiler import compile_project
from orchc.dsl.diagnostics import DiagnosticError
from orchc.dsl.format import format_source
from orchc.migrate.taskcore import _inventory_text, convert_taskcore
from orchc.plan import Plan

sys.path.insert(0, str(Path(__file__).parent))
from taskcore_corpus import in_ci, taskcore_source  # noqa: E402

# name -> (services folder, roles.yaml, inventory.yaml), relative to the sdist's examples/
EXAMPLES = {
    "framework": ("framework/services", "framework/roles.yaml", "framework/inventory.yaml"),
    "directord-basic": (
        "directord/services",
        "directord/basic/basic_roles.yaml",
        "directord/basic/basic_inventory.yaml",
    ),
    "directord-2node": (
        "directord/services",
        "directord/basic/2node_roles.yaml",
        "directord/basic/2node_inventory.yaml",
    ),
    "directord-3ctl": (
        "directord/services",
        "directord/undercloud/3ctl_roles.yaml",
        "directord/undercloud/3ctl_inventory.yaml",
    ),
}


@pytest.fixture(scope="session")
def examples() -> Path:
    try:
        return taskcore_source() / "examples"
    except RuntimeError as exc:
        if in_ci():
            raise
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def converted(examples: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Plan]]:
    results = {}
    for name, (services, roles, inventory) in EXAMPLES.items():
        out = tmp_path_factory.mktemp(name)
        convert_taskcore(examples / services, examples / roles, examples / inventory).write(out)
        results[name] = (out, compile_project([out], out / "inventory.yml").plan)
    return results


def _instance(plan: Plan, instance_id: str):
    return next(i for i in plan.instances if i.id == instance_id)


# --- the examples of task-core 0.2.1 -------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_example_converts_and_compiles(converted, name: str) -> None:
    _, plan = converted[name]
    assert plan.instances


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_roles_and_report_snapshot(converted, examples: Path, name: str, snapshot) -> None:
    out, _ = converted[name]
    texts = {f: (out / f).read_text() for f in ("roles.orch", "inventory.yml", "migration-report.md")}
    texts["migration-report.md"] = texts["migration-report.md"].replace(str(examples), "EXAMPLES")
    assert texts == snapshot


@pytest.mark.parametrize("service", ["service_a", "service_c", "service_e"])
def test_framework_services_snapshot(converted, service: str, snapshot) -> None:
    out, _ = converted["framework"]
    assert (out / f"{service}.orch").read_text() == snapshot


@pytest.mark.parametrize("service", ["keystone", "memcached", "repos", "basic_config", "rabbitmq"])
def test_directord_services_snapshot(converted, service: str, snapshot) -> None:
    out, _ = converted["directord-basic"]
    assert (out / f"{service}.orch").read_text() == snapshot


def test_framework_edges(converted) -> None:
    _, plan = converted["framework"]
    run_c = _instance(plan, "service_c.run_@host-c")
    assert "service_c.setup@host-c" in run_c.deps
    assert "service_e_local.run_@localhost" in _instance(plan, "service_e.finalize@host-e").deps
    # service-e finalize is needed-by service-c.run: every service_c.run waits for it
    assert "service_e.finalize@host-e" in run_c.deps
    assert "service_b.run_@host-d" in _instance(plan, "service_d.run_@host-e").deps


def test_local_driver_runs_once_on_the_controller(converted) -> None:
    _, plan = converted["framework"]
    local = [i for i in plan.instances if i.task == "service_e_local.run_"]
    assert [i.host for i in local] == ["localhost"]
    host = next(h for h in plan.hosts if h.name == "localhost")
    assert host.connection == "local"


def test_run_once_jobs_become_once_tasks(converted) -> None:
    _, plan = converted["directord-basic"]
    tasks = {t.id: t for t in plan.tasks}
    assert tasks["keystone.database"].once and not tasks["keystone.bootstrap"].once
    assert tasks["keystone.bootstrap_2"].once
    once = [i for i in plan.instances if i.task == "keystone.bootstrap_2"]
    assert len(once) == 1 and "keystone.bootstrap@task-core-1" in once[0].deps


def test_args_become_variables_and_host_vars(converted) -> None:
    out, plan = converted["directord-basic"]
    assert plan.vars["keystone_db_username"] == "keystone" and plan.vars["ctlplane_vip"] == "10.98.0.99"
    inventory = yaml.safe_load((out / "inventory.yml").read_text())
    assert inventory["all"]["children"]["controller"]["hosts"]["task-core-2"]["memcache_host_ip"] == "10.98.0.4"
    setup = _instance(plan, "keystone.setup@task-core-1")
    assert any(
        "mysql+pymysql://keystone:secrete@10.98.0.99/keystone" in a.command for a in setup.actions if a.kind == "run"
    )


def test_stdout_args_are_kept_on_the_host(converted) -> None:
    _, plan = converted["directord-basic"]
    commands = [a.command for a in _instance(plan, "repos.setup@task-core-1").actions]
    assert "> /var/lib/orchc/args/tripleo_repo_rpm" in commands[0]
    assert "$(cat /var/lib/orchc/args/tripleo_repo_rpm)" in commands[1]


def test_blueprints_become_templates_rendered_per_host(converted) -> None:
    _, plan = converted["directord-basic"]
    template = next(a for a in _instance(plan, "memcached.setup@task-core-2").actions if a.kind == "template")
    assert template.dest == "/etc/sysconfig/memcached" and "10.98.0.4" in template.content


def test_directord_verbs(tmp_path: Path) -> None:
    services = tmp_path / "services"
    (services / "files").mkdir(parents=True)
    (services / "files" / "motd").write_text("hello\n")
    (services / "files" / "app.conf.j2").write_text("listen {{ app_ip }}\nname {{ deployment_host }}\n")
    (services / "app.yaml").write_text("""
id: app
type: service
version: 1.0.0
tasks:
  - id: install
    driver: directord
    provides: [app.install]
    jobs:
      - ARG: app_ip "{{ ips[deployment_host] }}"
      - ENV: LANG C
      - DNF: --latest httpd mod_ssl
      - WORKDIR: --chown apache --chmod 0750 /srv/app
      - ADD: --chown root --chmod 0644 files/motd /etc/motd
      - ADD: --blueprint files/app.conf.j2 /etc/app.conf
      - SERVICE: --restarted --enable httpd
      - RUN: --timeout 30 echo done
      - POD: --start web
  - id: report
    driver: print
    message: installed
    requires: [app.install]
""")
    (services / "config.yaml").write_text("""
id: config
type: service
version: 1.0.0
tasks:
  - id: init
    driver: directord
    needed-by: [app.install]
    provides: [config.init]
    jobs:
      - ADD: ../options.yaml /var/tmp/options.yaml
      - CACHEFILE: /var/tmp/options.yaml
""")
    (tmp_path / "options.yaml").write_text("ips: {h1: 10.0.0.1, h2: 10.0.0.2}\n")
    roles, inventory = tmp_path / "roles.yaml", tmp_path / "inventory.yaml"
    roles.write_text("web: {services: [app, config]}\n")
    inventory.write_text("hosts: {h1: {role: web}, h2: {role: web}}\n")
    out = tmp_path / "out"
    migration = convert_taskcore(services, roles, inventory)
    migration.write(out)
    plan = compile_project([out], out / "inventory.yml").plan
    actions = _instance(plan, "app.install@h2").actions
    commands = [a.command for a in actions if a.kind == "run"]
    assert commands == [
        "export LANG=C; dnf -y install httpd mod_ssl && dnf -y upgrade httpd mod_ssl",
        "export LANG=C; mkdir -p /srv/app && chown apache /srv/app && chmod 0750 /srv/app",
        "export LANG=C; systemctl enable httpd && systemctl restart httpd",
        "export LANG=C; echo done",
    ]
    copy = next(a for a in actions if a.kind == "copy")
    assert (copy.dest, copy.mode, copy.owner, copy.content) == ("/etc/motd", "0644", "root", "hello\n")
    template = next(a for a in actions if a.kind == "template")
    assert template.content == "listen 10.0.0.2\nname h2\n"
    assert {t.id: t for t in plan.tasks}["app.install"].timeout == 30
    assert "config.init@h2" in _instance(plan, "app.install@h2").deps  # needed-by
    assert _instance(plan, "app.report@h1").actions == []  # print -> no action
    report = json.loads(migration.report.to_json())
    assert any(e["category"] == "unsupported" and e["what"].startswith("POD") for e in report["entries"])
    assert "# not converted: POD: --start web" in (out / "app.orch").read_text()


def test_ansible_runner_becomes_playbook_and_returncodes(tmp_path: Path) -> None:
    services = tmp_path / "services"
    services.mkdir()
    (services / "site.yml").write_text("- hosts: all\n  tasks: []\n")
    (services / "deploy.yaml").write_text("""
id: deploy
type: service
version: 1.0.0
tasks:
  - id: play
    driver: ansible_runner
    playbook: site.yml
    provides: [deploy.play]
  - id: check
    driver: local
    command: test -f /etc/hostname && echo '{{ not a template }}'
    returncodes: [0, 1]
    requires: [deploy.play]
  - id: nothing
    driver: noop
""")
    roles, inventory = tmp_path / "roles.yaml", tmp_path / "inventory.yaml"
    roles.write_text("all-in-one: {services: [deploy]}\n")
    inventory.write_text("hosts: {aio: {role: all-in-one}}\n")
    out = tmp_path / "out"
    convert_taskcore(services, roles, inventory).write(out)
    plan = compile_project([out], out / "inventory.yml").plan
    play = _instance(plan, "deploy.play@aio").actions[0]
    assert (play.kind, play.path) == ("playbook", "files/playbooks/site.yml")
    check = _instance(plan, "deploy_local.check@localhost")
    assert "case $rc in 0|1) exit 0;;" in check.actions[0].command
    assert "echo '{{ not a template }}'" in check.actions[0].command
    assert "deploy.play@aio" in check.deps


# --- the .orch text is in `orchc fmt` layout: formatting it again changes nothing ----------------------


def _assert_in_fmt_layout(files: dict[str, str]) -> None:
    orch = {name: text for name, text in files.items() if name.endswith(".orch")}
    assert orch
    for name, text in orch.items():
        assert format_source(text, name) == text, name


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_output_is_in_fmt_layout(converted, name: str) -> None:
    out, _ = converted[name]
    _assert_in_fmt_layout({p.name: p.read_text() for p in out.glob("*.orch")})


def test_scale_output_is_in_fmt_layout(examples: Path, tmp_path: Path) -> None:
    """A sample of Task-Core's scale data (long role lists): roles.orch and every tenth service."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
    from taskcore_scale import generate

    generate(tmp_path, seed=1)
    files = convert_taskcore(tmp_path / "services", tmp_path / "roles.yaml", tmp_path / "inventory.yaml").files
    names = sorted(files)
    _assert_in_fmt_layout({n: files[n] for n in names[::10] + ["roles.orch"]})


def test_unusual_values_are_in_fmt_layout(tmp_path: Path) -> None:
    """Long and nested maps and lists, floats, keyword keys, multi-line strings, comments, empty tasks."""
    options = {
        "plain": "x",
        "ratio": 1.5e-07,
        "big": 1e20,
        "keyword_keys": {"on": 1, "task": [1, 2], "a b": None},
        "long_list": [f"item-{n}" for n in range(30)],
        "lines": "one\ntwo\n",
        "nested": {f"host-{n}": {"ip": f"10.0.0.{n}", "weight": n / 3, "tags": ["a", "b"]} for n in range(4)},
        "deep": {"level": {"values": [f"a-rather-long-value-{n}" for n in range(8)]}},
        "empty": {},
        "flag": True,
        "not_a_number": [1.0, float("nan")],
    }
    services = {
        "opts.yaml": SERVICE.format(
            id="opts",
            driver="directord",
            extra=("    jobs:\n      - ADD: ../options.yaml /var/tmp/o.yaml\n      - CACHEFILE: /var/tmp/o.yaml\n"),
        )
    }
    services.update(
        {f"s{n}.yaml": SERVICE.format(id=f"service-with-a-long-name-{n}", driver="noop", extra="") for n in range(12)}
    )
    services["log.yaml"] = (
        "id: log\ntype: service\nversion: 1\ntasks:\n  - id: say\n    driver: print\n"
        '    message: "trailing  \\n\\tsecond line\\t \\n"\n'
    )
    services["cmd.yaml"] = (
        "id: cmd\ntype: service\nversion: 1\ntasks:\n  - id: local\n    driver: local\n"
        "    returncodes: [0, 2]\n    command: |\n      echo \"{{ x }}\" 'a\\b'  \n      exit 2\n"
        "  - id: remote\n    driver: directord\n    jobs:\n      - RUN: printf '%s\\n' \"a  b\"\n"
        "  - id: lines\n    driver: local\n    command: \"echo 'one'  \\n\\n  echo two\\n\"\n"
    )
    names = ", ".join(["opts", "log", "cmd"] + [f"service-with-a-long-name-{n}" for n in range(12)])
    folder, roles, inventory = _project(tmp_path, services, f"r: {{services: [{names}]}}\n", "hosts: {h: {role: r}}\n")
    (tmp_path / "options.yaml").write_text(yaml.safe_dump(options))
    migration = convert_taskcore(folder, roles, inventory)
    files = migration.files
    _assert_in_fmt_layout(files)
    assert "var ratio: float = 0.00000015" in files["roles.orch"] and "not_a_number" not in files["roles.orch"]
    assert any(e.category == "unsupported" and "not_a_number" in e.what for e in migration.report.entries)
    assert "task t {}" in files["service_with_a_long_name_0.orch"]
    assert "  # logs: trailing\n  # \tsecond line\n" in files["log.orch"]


@pytest.mark.parametrize(
    "word",
    [
        "h1",
        "task-core-1",
        "a.b",
        "a-",
        "_",
        "x" * 101,
        "x" * 130,
        "1",
        "1.5",
        "1e3",
        ".5",
        "0x1f",
        "0o17",
        "1_000",
        "1:20",
        "190:20:30.5",
        ".inf",
        ".nan",
        "-1",
        "+1",
        "09",
        "2020-01-01",
        "2001-12-14t21:59:43.10-05:00",
        "yes",
        "No",
        "ON",
        "off",
        "true",
        "null",
        "~",
        "y",
        "é",
        "a b",
        "a:b",
        "-a",
        "a#b",
        "",
    ],
)
def test_inventory_is_written_as_pyyaml_writes_it(word: str) -> None:
    """Plain words are written without PyYAML's emitter: the same text, whatever the word."""
    data = {"all": {"children": {"g": {"hosts": {word: {}, "h": {"v": word, "m": {}, "n": {word: [word]}}}}}}}
    assert _inventory_text(data) == yaml.safe_dump(data, sort_keys=False)
    plain = {"all": {"children": {"g": {"hosts": {word: {}}}, word: {"hosts": {"h": {"v": word}}}}}}
    assert _inventory_text(plain) == yaml.safe_dump(plain, sort_keys=False)


# --- bad input ------------------------------------------------------------------------------------


def _project(tmp_path: Path, services: dict[str, str], roles: str, inventory: str) -> tuple[Path, Path, Path]:
    folder = tmp_path / "services"
    folder.mkdir()
    for name, text in services.items():
        (folder / name).write_text(text)
    (tmp_path / "roles.yaml").write_text(roles)
    (tmp_path / "inventory.yaml").write_text(inventory)
    return folder, tmp_path / "roles.yaml", tmp_path / "inventory.yaml"


SERVICE = "id: {id}\ntype: service\nversion: 1.0.0\ntasks:\n  - id: t\n    driver: {driver}\n    message: m\n{extra}"


def _error(
    tmp_path: Path,
    services: dict[str, str],
    roles: str = "r: {services: [a]}\n",
    inventory: str = "hosts: {h: {role: r}}\n",
):
    with pytest.raises(DiagnosticError) as error:
        convert_taskcore(*_project(tmp_path, services, roles, inventory))
    return error.value.diagnostics[0]


def test_duplicate_service_id(tmp_path: Path) -> None:
    one = SERVICE.format(id="a", driver="print", extra="")
    diagnostic = _error(tmp_path, {"a.yaml": one, "b.yaml": one})
    assert "defined twice" in diagnostic.message and diagnostic.span.file.endswith("b.yaml")


def test_unknown_driver_suggests(tmp_path: Path) -> None:
    diagnostic = _error(tmp_path, {"a.yaml": SERVICE.format(id="a", driver="directord2", extra="")})
    assert "unknown driver 'directord2'" in diagnostic.message and "directord" in diagnostic.hint
    assert diagnostic.span.line == 5


def test_service_file_without_type(tmp_path: Path) -> None:
    diagnostic = _error(tmp_path, {"a.yaml": "id: a\nversion: 1.0.0\ntasks: []\n"})
    assert "has no `type`" in diagnostic.message and diagnostic.span.file.endswith("a.yaml")


def test_role_lists_unknown_service(tmp_path: Path) -> None:
    diagnostic = _error(
        tmp_path, {"a.yaml": SERVICE.format(id="a", driver="print", extra="")}, roles="r: {services: [b]}\n"
    )
    assert "lists service 'b'" in diagnostic.message


def test_host_with_undefined_role(tmp_path: Path) -> None:
    diagnostic = _error(
        tmp_path, {"a.yaml": SERVICE.format(id="a", driver="print", extra="")}, inventory="hosts:\n  h:\n    role: rr\n"
    )
    assert "role 'rr'" in diagnostic.message and "did you mean 'r'" in diagnostic.hint
    assert diagnostic.span.line == 3


def test_unmet_requirement(tmp_path: Path) -> None:
    extra = "    requires: [nobody.init]\n"
    diagnostic = _error(tmp_path, {"a.yaml": SERVICE.format(id="a", driver="print", extra=extra)})
    assert "requires 'nobody.init'" in diagnostic.message


def test_two_providers_of_one_capability(tmp_path: Path) -> None:
    extra = "    provides: [x]\n"
    diagnostic = _error(
        tmp_path,
        {
            "a.yaml": SERVICE.format(id="a", driver="print", extra=extra),
            "b.yaml": SERVICE.format(id="b", driver="print", extra=extra),
        },
        roles="r: {services: [a, b]}\n",
    )
    assert "provided twice" in diagnostic.message


def _migrate_cli(services: Path, roles: Path, inventory: Path, out: Path) -> subprocess.CompletedProcess[str]:
    command = ["migrate", "taskcore", "-s", str(services), "-r", str(roles), "-i", str(inventory), "-o", str(out)]
    return subprocess.run([sys.executable, "-m", "orchc", *command], capture_output=True, text=True)


def test_cli_bad_yaml_exit_1(tmp_path: Path) -> None:
    services, roles, inventory = _project(
        tmp_path, {"a.yaml": "id: [a\n"}, "r: {services: [a]}\n", "hosts: {h: {role: r}}\n"
    )
    result = _migrate_cli(services, roles, inventory, tmp_path / "out")
    assert result.returncode == 1
    assert f"{services / 'a.yaml'}:2:1: error: invalid YAML" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_cli_output_that_is_a_file_exit_1(tmp_path: Path) -> None:
    services, roles, inventory = _project(
        tmp_path,
        {"a.yaml": SERVICE.format(id="a", driver="print", extra="")},
        "r: {services: [a]}\n",
        "hosts: {h: {role: r}}\n",
    )
    (tmp_path / "taken").write_text("")
    result = _migrate_cli(services, roles, inventory, tmp_path / "taken")
    assert result.returncode == 1, result.stderr
    assert f"error: cannot write {tmp_path / 'taken'}: File exists" in result.stderr
    assert "hint: -o names a folder (new or existing, not a file)" in result.stderr
