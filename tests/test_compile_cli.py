"""`orchc check`, `orchc compile`, the shared input options and `load_plan`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compile_helpers import write_project
from orchc.compiler import compile_project
from orchc.dsl.diagnostics import DiagnosticError
from orchc.inputs import input_values, plan_of_inputs
from orchc.plan import plan_json_schema
from orchc.secrets import load_secrets
from test_diagnostics import run_cli

PROJECT = """
var greeting: str = "hello"
role web { services app }
role db { services monitoring }
service app { task say { run "echo {{ greeting }}" } }
service monitoring { task install { run "true" } }
service unused { task install { run "true" } }
"""


def test_check_prints_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path, PROJECT)
    status, stdout, stderr = run_cli(["check", str(tmp_path)], monkeypatch, capsys)
    assert status == 0
    assert stdout == "ok: 3 services, 3 tasks, 5 instances on 5 hosts (1 warning)\n"
    assert "warning: service 'unused' is on no role" in stderr


def test_compile_with_extra_vars_and_vars_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = write_project(tmp_path, PROJECT)
    (tmp_path / "vars.yml").write_text("greeting: hi\n")
    out = tmp_path / "plan.json"
    status, stdout, _ = run_cli(
        ["compile", str(site), "--vars", str(tmp_path / "vars.yml"), "-o", str(out)], monkeypatch, capsys
    )
    assert (status, stdout) == (0, "")
    assert json.loads(out.read_text())["vars"] == {"greeting": "hi"}
    status, stdout, _ = run_cli(
        ["compile", str(site), "-i", str(tmp_path / "inventory.yml"), "-e", "greeting=yo"], monkeypatch, capsys
    )
    assert status == 0 and json.loads(stdout)["instances"][0]["actions"][0]["command"] == "echo yo"


ANSIBLE_CONDITIONS = """
var tier: str = "gold"
role web { services app }
service app {
  task deploy {
    when ansible "enable_app | bool and tier == 'gold'"
    playbook "ansible/deploy.yml"
  }
  task probe { when ansible "ansible_facts.os_family == 'Debian'"  run "true" }
  task local { when ansible "enable_app is defined"  run "true" }
  task forced {
    when ansible "enable_app | bool"
    playbook "ansible/deploy.yml" vars { enable_app = true }
  }
  task per_host {
    when ansible "enable_app | bool"
    playbook "ansible/deploy.yml" vars { enable_app = "{{ host.name }}" }
  }
}
"""


def test_when_ansible_is_decided_with_the_playbooks_group_vars_and_the_projects_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`when ansible` reads what Ansible reads when orchc runs the task: group_vars/ beside its playbook (none
    for a task without one), the inventory's host vars, the project's variables (-e @FILE as --vars)."""
    site = write_project(
        tmp_path,
        ANSIBLE_CONDITIONS,
        files={
            "ansible/deploy.yml": "- hosts: all\n  tasks: []\n",
            "ansible/group_vars/all.yml": "enable_app: \"{{ inventory_hostname != 'w2' }}\"\n",
            "bronze.yml": "tier: bronze\n",
        },
    )
    status, stdout, _ = run_cli(["compile", str(site)], monkeypatch, capsys)
    skips = {i["id"]: i["skip"] for i in json.loads(stdout)["instances"]}
    assert skips["app.deploy@w1"] is None and skips["app.deploy@w3"] is None
    assert skips["app.deploy@w2"] == "when ansible \"enable_app | bool and tier == 'gold'\" is false on w2"
    assert skips["app.local@w1"] == 'when ansible "enable_app is defined" is false on w1'  # no playbook beside it
    assert skips["app.probe@w1"] is None  # a fact: known only when the task runs
    assert skips["app.forced@w2"] is None  # the action's vars are extra vars, as when orchc runs it
    assert skips["app.per_host@w2"] is None  # rendered by orchc per host: left to the run
    status, stdout, _ = run_cli(["check", str(site), "-e", f"@{tmp_path / 'bronze.yml'}"], monkeypatch, capsys)
    assert status == 0
    assert stdout.splitlines()[1:] == [
        "when ansible: 2 of 4 conditions decided when compiling on every host, 2 at run time where what they read "
        "is known only then:",
        f"  {site}:6:18: false on 3 hosts, true on 0 hosts (1 task): enable_app | bool and tier == 'gold'",
        f"  {site}:9:29: at run time on 3 hosts ('.os_family' is not known when compiling); false on 0 hosts, "
        "true on 0 hosts (1 task): ansible_facts.os_family == 'Debian'",
        f"  {site}:10:29: false on 3 hosts, true on 0 hosts (1 task): enable_app is defined",
        f"  {site}:12:18: at run time on 3 hosts (its action's vars enable_app are rendered per host by orchc); "
        "false on 0 hosts, true on 3 hosts (2 tasks): enable_app | bool",
    ]


def test_when_ansible_never_decides_with_a_secret(tmp_path: Path) -> None:
    """A secret's value is the run's only: a condition that may read one (itself, or through group_vars) is
    left to the run, even where the value was given when compiling."""
    orch = """
var token: secret
role web { services app }
service app {
  task direct { when ansible "token | default('') == ''"  run "true" }
  task through { when ansible "api_token is defined"  playbook "ansible/site.yml" }
  task other { when ansible "inventory_hostname == 'w1'"  run "true" }
}
"""
    site = write_project(
        tmp_path,
        orch,
        files={
            "ansible/site.yml": "- hosts: all\n  tasks: []\n",
            "ansible/group_vars/all.yml": "api_token: '{{ token }}'\n",
        },
    )
    result = compile_project([site], tmp_path / "inventory.yml", {"token": "s3cret"})
    skips = {i.id: i.skip for i in result.plan.instances}
    assert skips["app.direct@w1"] is None and skips["app.through@w1"] is None and skips["app.other@w2"]
    reasons = {o.condition.value: set(o.run_time.values()) for o in result.conditions}
    assert reasons["api_token is defined"] == {"it may read the secret 'token', whose value compiling does not use"}
    assert reasons["inventory_hostname == 'w1'"] == set()


def test_compile_says_what_it_wrote_on_stderr(tmp_path: Path, monkeypatch, capsys) -> None:
    """Issue 19.4: compile printed nothing on success; -q keeps it quiet, as Ansible's tools are."""
    site = write_project(tmp_path, PROJECT)
    out = tmp_path / "plan.json"
    status, stdout, stderr = run_cli(["compile", str(site), "-o", str(out)], monkeypatch, capsys)
    size = out.stat().st_size
    assert (status, stdout) == (0, "")
    assert f"wrote {out}: 5 instances on 5 hosts, {size} bytes" in stderr
    status, stdout, stderr = run_cli(["compile", str(site)], monkeypatch, capsys)
    assert f"wrote stdout: 5 instances on 5 hosts, {len(stdout.encode())} bytes" in stderr
    status, _, stderr = run_cli(["compile", str(site), "-q", "-o", str(out)], monkeypatch, capsys)
    assert "wrote" not in stderr


def test_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    site = write_project(tmp_path / "p", PROJECT)
    status, _, stderr = run_cli(["check", str(site), "-i", "x.yml", "-e", "greeting"], monkeypatch, capsys)
    assert status == 2 and "'greeting' is not NAME=VALUE" in stderr
    status, _, stderr = run_cli(["check", str(tmp_path / "missing.orch"), "-i", "x.yml"], monkeypatch, capsys)
    assert status == 1 and "does not exist" in stderr and "Traceback" not in stderr


def test_no_inventory_is_one_diagnostic_whether_given_or_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13.8: none beside the input exited 2 in a box, a missing -i exited 1; now both are diagnostics."""
    site = write_project(tmp_path, PROJECT)
    (tmp_path / "inventory.yml").unlink()
    status, _, stderr = run_cli(["check", str(site)], monkeypatch, capsys)
    assert (status, stderr) == (
        1,
        f"error: no inventory given, and none in '{tmp_path}' (looked for inventory.yml, "
        "inventory.yaml, inventory.ini, inventory)\n"
        "  hint: give an Ansible inventory (INI or YAML) with -i/--inventory, or put "
        "inventory.yml beside the input\n\n1 error\n",
    )
    status, _, stderr = run_cli(["check", str(site), "-i", "missing.yml"], monkeypatch, capsys)
    assert (status, stderr) == (
        1,
        "error: inventory 'missing.yml' does not exist\n"
        "  hint: give an Ansible inventory (INI or YAML) with -i/--inventory\n\n1 error\n",
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "# the values\n- a list\n",
            "vars.yml:2:1: error: the vars file must be a YAML map of names to values, not a list\n"
            "  2 | - a list\n    | ^\n  hint: write one `region: RegionTwo` per line\n",
        ),
        (
            "greeting: [hi\nnext: 1\n",
            "vars.yml:2:5: error: invalid YAML: expected ',' or ']', but got ':'\n"
            "  2 | next: 1\n    |     ^\n  note: vars.yml:1:11: while parsing a flow sequence\n"
            "  hint: fix the YAML syntax at this point\n",
        ),
        (
            b"greeting: h\xe9\n",
            "vars.yml:1:12: error: cannot read vars.yml: it is not UTF-8 text (byte 0xe9)\n"
            "  1 | greeting: h\ufffd\n    |            ^\n"
            "  hint: the file must be UTF-8: save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)\n",
        ),
        (None, "error: cannot read vars.yml: No such file or directory\n  hint: check the path you gave\n"),
    ],
)
def test_bad_vars_file(
    text: str | bytes | None,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_project(tmp_path, PROJECT)
    if text is not None:
        (tmp_path / "vars.yml").write_bytes(text if isinstance(text, bytes) else text.encode())
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli(["check", ".", "--vars", "vars.yml"], monkeypatch, capsys)
    assert (status, stderr) == (1, expected + "\n1 error\n")


def test_a_vars_file_value_of_another_type_says_how_to_quote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path, PROJECT)
    (tmp_path / "vars.yml").write_text("greeting: 3\n")
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli(["check", ".", "--vars", "vars.yml"], monkeypatch, capsys)
    assert status == 1
    assert "error: value supplied for variable 'greeting' is not a str: got an int (3)" in stderr
    assert 'hint: pass -e greeting=VALUE with a str value, or a str in the --vars file (`greeting: "3"`)' in stderr


@pytest.mark.parametrize("command", ["check", "run", "simulate"])
def test_every_command_that_compiles_shows_the_warnings(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path, "type endpoint { url: str }\n")
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli([command, "."], monkeypatch, capsys)
    assert status == 0
    assert "warning: nothing to deploy: . compiles to no task instance" in stderr


def test_load_plan_compiles_or_reads_a_plan(tmp_path: Path) -> None:
    site = write_project(tmp_path, PROJECT)
    plan = plan_of_inputs(tmp_path, None, ["greeting=hey"], [])
    (tmp_path / "plan.json").write_text(plan.to_json())
    assert plan_of_inputs(tmp_path / "plan.json", None, [], []) == plan
    assert (
        plan_of_inputs(site, tmp_path / "inventory.yml", [], []).to_json()
        == plan_of_inputs(tmp_path, None, [], []).to_json()
    )
    (tmp_path / "broken.json").write_text('{"schema": "orchc.plan/1"}')
    with pytest.raises(DiagnosticError) as failure:
        plan_of_inputs(tmp_path / "broken.json", None, [], [])
    assert [d.message for d in failure.value.diagnostics] == [
        f"not a valid Plan: {field}: Field required" for field in ("hosts", "instances", "roles", "root", "tasks")
    ]


def test_secrets_given_with_extra_vars_reach_the_run_not_the_plan(tmp_path: Path) -> None:
    write_project(
        tmp_path, 'var token: secret\nrole web { services app }\nservice app { task t { run "use {{ token }}" } }'
    )
    plan = plan_of_inputs(tmp_path, None, ["token=s3cret"], [])
    assert "s3cret" not in plan.to_json()
    assert load_secrets(plan, None, {}, input_values(["token=s3cret", "other=1"], [])) == {"token": "s3cret"}


# --- the compiled Plan against `orchc schema` (a JSON Schema subset check; jsonschema is not a dependency)


def _check(value: Any, schema: dict[str, Any], defs: dict[str, Any], where: str) -> None:
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema["oneOf"]
        errors = []
        for option in options:
            try:
                _check(value, option, defs, where)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{where}: matches none of {errors}")
    if "const" in schema:
        assert value == schema["const"], where
    if "enum" in schema:
        assert value in schema["enum"], where
    kind = schema.get("type")
    python = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "null": type(None),
    }
    if kind:
        assert isinstance(value, python[kind]), f"{where}: {value!r} is not {kind}"
    if kind == "object":
        for name in schema.get("required", []):
            assert name in value, f"{where}: missing {name}"
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                _check(item, properties[name], defs, f"{where}.{name}")
            else:
                assert schema.get("additionalProperties", True) is not False, f"{where}: unexpected {name}"
                if isinstance(schema.get("additionalProperties"), dict):
                    _check(item, schema["additionalProperties"], defs, f"{where}.{name}")
    if kind == "array" and "items" in schema:
        for index, item in enumerate(value):
            _check(item, schema["items"], defs, f"{where}[{index}]")


@pytest.mark.parametrize("example", ["openstack-mini", "webapp"])
def test_compiled_plans_validate_against_the_json_schema(example: str, project_root: Path) -> None:
    folder = project_root / "examples" / example
    schema = plan_json_schema()
    plan = json.loads(plan_of_inputs(folder, None, [], []).to_json())
    _check(plan, schema, schema.get("$defs", {}), "plan")


@pytest.mark.parametrize("command", ["check", "compile", "run"])
def test_a_missing_input_is_named_before_any_inventory_is_looked_for(
    command: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    status, _, stderr = run_cli([command, str(tmp_path / "nowhere")], monkeypatch, capsys)
    assert status == 1
    assert f"input '{tmp_path / 'nowhere'}' does not exist" in stderr and "inventory" not in stderr


@pytest.mark.parametrize("command", ["compile", "graph"])
@pytest.mark.parametrize("where", ["folder", "missing/plan.json"])
def test_an_output_that_cannot_be_written_is_a_diagnostic(
    command: str, where: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    site = write_project(tmp_path, PROJECT)
    (tmp_path / "folder").mkdir()
    status, _, stderr = run_cli([command, str(site), "-o", str(tmp_path / where)], monkeypatch, capsys)
    assert status == 1
    reason = "Is a directory" if where == "folder" else "No such file or directory"
    assert f"error: cannot write {tmp_path / where}: {reason}" in stderr
    assert "hint: give a file in a folder that exists" in stderr and "internal error" not in stderr


def test_a_plan_written_inside_its_project_moves_with_it(tmp_path: Path, monkeypatch, capsys) -> None:
    project = tmp_path / "checkout" / "site"
    write_project(project, PROJECT)
    (project / "plans").mkdir()
    status, _, _ = run_cli(["compile", str(project), "-o", str(project / "plans" / "plan.json")], monkeypatch, capsys)
    assert status == 0
    assert json.loads((project / "plans" / "plan.json").read_text())["root"] == ".."
    moved = tmp_path / "elsewhere"
    (tmp_path / "checkout").rename(moved)
    assert plan_of_inputs(moved / "site" / "plans" / "plan.json", None, [], []).root == str(moved / "site")


def test_a_plan_written_outside_its_project_names_it_absolutely(tmp_path: Path, monkeypatch, capsys) -> None:
    project = tmp_path / "site"
    write_project(project, PROJECT)
    (tmp_path / "out").mkdir()
    status, _, _ = run_cli(["compile", str(project), "-o", str(tmp_path / "out" / "plan.json")], monkeypatch, capsys)
    assert status == 0
    assert json.loads((tmp_path / "out" / "plan.json").read_text())["root"] == str(project.resolve())
