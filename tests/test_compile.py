"""The compiler's semantics: placement, edges, capabilities, rendering, secrets, variables."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

from compile_helpers import INVENTORY, compile_errors, compile_text, write_project
from orchc.compiler import compile_project
from orchc.plan import Instance, Plan, secret_marker
from orchc_process import orchc

TWO_TIER = """
type database { host: str  port: int = 5432 }
role db { services postgres }
role web { services app }

service postgres {
  task install { run "install postgres" }
  task start {
    after install
    run "start postgres"
    provides database: database { host = "{{ host.address }}" }
  }
}
"""


def instances(plan: Plan) -> dict[str, Instance]:
    return {i.id: i for i in plan.instances}


def test_placement_instances_and_after_edges(tmp_path: Path) -> None:
    plan = compile_text(tmp_path, TWO_TIER + 'service app { task run_it { run "x" } }').plan
    by_id = instances(plan)
    assert [i.id for i in plan.instances] == [
        "postgres.install@d1",
        "postgres.install@d2",
        "postgres.start@d1",
        "postgres.start@d2",
        "app.run_it@w1",
        "app.run_it@w2",
        "app.run_it@w3",
    ]
    assert by_id["postgres.start@d2"].deps == ["postgres.install@d2"]
    assert [h.name for h in plan.hosts] == ["w1", "w2", "w3", "d1", "d2"]


def test_before_and_once(tmp_path: Path) -> None:
    plan = compile_text(
        tmp_path,
        """
role web { services app }
service app {
  task install { before configure  run "install" }
  task configure { run "configure" }
  task migrate once { after configure  run "migrate on {{ host.name }}" }
  task start { after migrate  run "start" }
}
""",
    ).plan
    by_id = instances(plan)
    assert by_id["app.configure@w2"].deps == ["app.install@w2"]
    assert "app.migrate@w2" not in by_id
    migrate = by_id["app.migrate@w1"]
    assert migrate.deps == ["app.configure@w1"]
    assert [(p.host, p.actions[0].command) for p in migrate.alternates] == [
        ("w2", "migrate on w2"),
        ("w3", "migrate on w3"),
    ]
    assert by_id["app.start@w3"].deps == ["app.configure@w3", "app.migrate@w1"]  # its own host's order too


def test_requires_scopes_and_capability_values(tmp_path: Path) -> None:
    plan = compile_text(
        tmp_path,
        TWO_TIER
        + """
role both { services postgres_client }
service app {
  task all { requires database: database  run "hosts {{ database | map(attribute='host') | join(',') }}" }
  task one { requires database on any  run "one {{ database.host }}:{{ database.port }}" }
  task in_role { requires database on role db  run "role" }
}
service postgres_client {
  task check { requires database on same host  run "check {{ database.host }}" }
}
""",
        inventory="""
all:
  children:
    web: {hosts: {w1: {}, w2: {}}}
    db: {hosts: {d1: {}, d2: {}}}
    both: {hosts: {d2: {}}}
""",
    ).plan
    by_id = instances(plan)
    assert by_id["app.all@w1"].deps == ["postgres.start@d1", "postgres.start@d2"]
    assert by_id["app.all@w1"].actions[0].command == "hosts d1,d2"
    assert by_id["app.one@w1"].deps == [] and by_id["app.one@w1"].any_of == [["postgres.start@d1", "postgres.start@d2"]]
    assert by_id["app.one@w1"].actions[0].command == "one d1:5432"
    assert by_id["app.in_role@w2"].deps == ["postgres.start@d1", "postgres.start@d2"]
    assert by_id["postgres_client.check@d2"].deps == ["postgres.start@d2"]
    assert by_id["postgres_client.check@d2"].actions[0].command == "check d2"


def test_on_any_renders_a_variant_per_provider_where_their_fields_differ(tmp_path: Path) -> None:
    result = compile_text(
        tmp_path,
        TWO_TIER
        + """
type endpoint { url: str }
service api { task up { run "up"  provides vip: endpoint { url = "http://vip" } } }
role db2 { services api }
service app {
  task uses { requires database on any  run "connect {{ database.host }}" }
  task ignores { requires database on any  run "connect {{ host.name }}" }
  task same { requires vip on any  run "connect {{ vip.url }}" }
  task two { requires database on any  requires other: database on any  run "{{ database.host }} {{ other.host }}" }
}
service mirror { task start { run "m"  provides other: database { host = "{{ host.name }}" } } }
role mirrors { services mirror }
""",
        inventory=INVENTORY + "    db2: {hosts: {d1: {}, d2: {}}}\n    mirrors: {hosts: {w2: {}, w3: {}}}\n",
    )
    by_id = instances(result.plan)
    uses = by_id["app.uses@w1"]
    assert [(v.provider, v.actions[0].command) for v in uses.variants] == [
        ("postgres.start@d1", "connect d1"),
        ("postgres.start@d2", "connect d2"),
    ]
    assert uses.actions == uses.variants[0].actions and uses.fingerprint == uses.variants[0].fingerprint
    assert by_id["app.ignores@w1"].variants == []  # the providers' fields are not used
    assert by_id["app.same@w1"].variants == []  # every provider has the same fields
    two = by_id["app.two@w1"]
    assert [v.actions[0].command for v in two.variants] == ["d1 w2", "d2 w2"]  # the first requirement's
    [warning] = [w.message for w in result.warnings if "two `on any`" in w.message]
    assert warning == (
        "'app.two' uses the fields of two `on any` requirements whose providers differ: it runs "
        "with those of the provider that meets 'database', but always with the fields of "
        "'mirror.start@w2' for 'other'"
    )


def test_field_used_on_a_list_of_providers(tmp_path: Path) -> None:
    errors = compile_errors(
        tmp_path,
        TWO_TIER
        + """
service app { task t { requires database  run "connect {{ database.host }}" } }
""",
    )
    assert errors == [
        "capability 'database' is required from every provider, so it is a list (of 2 here): "
        "'database.host' has no meaning"
    ]


def test_a_requirement_of_every_provider_is_a_list_even_of_one(tmp_path: Path) -> None:
    """The value's type follows the scope, not the number of providers: scaling a role to one host
    keeps `map(attribute=...)` working, and `on any` / `on same host` give one provider's fields."""
    one_db = INVENTORY.replace("        d2: {root: /tmp/d2}\n", "")
    plan = compile_text(
        tmp_path,
        TWO_TIER
        + """
service app {
  task all { requires database: database  run "hosts {{ database | map(attribute='host') | join(',') }}" }
  task any { requires database on any  run "one {{ database.host }}" }
}
""",
        inventory=one_db,
    ).plan
    commands = {i.id: i.actions[0].command for i in plan.instances if i.task.startswith("app.")}
    assert commands["app.all@w1"] == "hosts d1"
    assert commands["app.any@w1"] == "one d1"


def test_scaling_a_role_to_one_host_keeps_the_example_compiling(tmp_path: Path) -> None:
    project = tmp_path / "om1"
    shutil.copytree(Path(__file__).parent.parent / "examples" / "openstack-mini", project)
    inventory = project / "inventory.yml"
    inventory.write_text(
        "".join(
            line
            for line in inventory.read_text().splitlines(keepends=True)
            if not line.lstrip().startswith(("controller2:", "controller3:"))
        )
    )
    plan = compile_project([project], inventory).plan
    assert {i.host for i in plan.instances} == {"controller1", "compute1", "compute2", None}


def test_same_host_without_provider_there(tmp_path: Path) -> None:
    errors = compile_errors(
        tmp_path,
        TWO_TIER
        + """
service app { task t { requires database on same host  run "x" } }
""",
    )
    assert errors == [
        "'app.t' requires 'database' on the same host, but 'postgres.start' does not run on every host of 'app.t'"
    ]


def test_provided_field_values_are_type_checked_after_rendering(tmp_path: Path) -> None:
    errors = compile_errors(
        tmp_path,
        """
type endpoint { port: int }
role web { services app }
service app { task t { run "x"  provides api: endpoint { port = "{{ host.name }}" } } }
""",
    )
    assert errors == ["field 'port' of capability 'api' must be an int"]


def test_run_strings_are_shell_quoted_unless_raw(tmp_path: Path) -> None:
    plan = compile_text(
        tmp_path,
        """
var message: str = "it's a 'test'; rm -rf /"
var flags: str = "-a -b"
role db { services app }
service app { task t { run "echo {{ message }} {{ flags | raw }} {{ host.vars.root }}" } }
""",
        inventory="all:\n  hosts:\n    d1: {root: /tmp/a b}\n  children:\n    db: {hosts: {d1: {}}}\n",
    ).plan
    assert plan.instances[0].actions[0].command == ("echo 'it'\"'\"'s a '\"'\"'test'\"'\"'; rm -rf /' -a -b '/tmp/a b'")


def test_secrets_are_markers_never_values(tmp_path: Path) -> None:
    result = compile_text(
        tmp_path,
        """
var password: secret
role db { services app }
service app {
  task t {
    run "login --password {{ password }}"
    template "files/app.conf.j2" to "/etc/app.conf"
  }
}
""",
        variables={"password": "hunter2"},
        files={"files/app.conf.j2": "password={{ password }}\n"},
    )
    text = result.plan.to_json()
    assert "hunter2" not in text
    instance = result.plan.instances[0]
    assert instance.actions[0].command == f"login --password {secret_marker('password', shell_quoted=True)}"
    assert instance.actions[1].content == f"password={secret_marker('password', shell_quoted=False)}\n"
    assert instance.secrets == ["password"]
    assert [s.name for s in result.plan.secrets] == ["password"]
    assert result.secret_values == {"password": "hunter2"}


def test_when_changed_on_a_secret_is_an_error(tmp_path: Path) -> None:
    errors = compile_errors(
        tmp_path,
        """
var password: secret
role db { services app }
service app { task t { when changed(password)  run "x" } }
""",
    )
    assert errors == ["`when changed(password)`: 'password' is a secret"]


def test_when_expression_and_change_key(tmp_path: Path) -> None:
    plan = compile_text(
        tmp_path,
        """
var version: str = "1.0"
role web { services app }
service app {
  task fast_disk { when "host.vars.ssd | default(false)"  run "tune" }
  task restart { when changed(version)  run "restart {{ host.name }}" }
}
""",
        inventory="all:\n  children:\n    web:\n      hosts:\n        w1: {ssd: true}\n        w2: {}\n",
    ).plan
    by_id = instances(plan)
    assert by_id["app.fast_disk@w1"].skip is None
    assert by_id["app.fast_disk@w2"].skip == 'when "host.vars.ssd | default(false)" is false on w2'
    assert by_id["app.restart@w1"].change_key == by_id["app.restart@w2"].change_key
    assert by_id["app.restart@w1"].change_key != by_id["app.restart@w1"].fingerprint


def test_variables_coerced_from_extra_vars(tmp_path: Path) -> None:
    orch = """
var workers: int = 2
var debug: bool = false
var ratio: float = 0.5
var zones: list = ["a"]
role web { services app }
service app { task t { run "run {{ workers + 1 }} {{ debug }} {{ ratio }} {{ zones | join(',') }}" } }
"""
    result = compile_text(
        tmp_path, orch, {"workers": "4", "debug": "yes", "ratio": "1.5", "zones": "[b, c]", "unknown": "1"}
    )
    assert result.plan.vars == {"debug": True, "ratio": 1.5, "workers": 4, "zones": ["b", "c"]}
    assert result.plan.instances[0].actions[0].command == "run 5 True 1.5 b,c"
    assert [w.message for w in result.warnings] == [
        "variable 'unknown' is supplied (-e/--vars) but not declared in any .orch file"
    ]
    assert compile_errors(tmp_path, orch, {"workers": "many"}) == [
        "value supplied for variable 'workers' is not an int: expected an int, got 'many'"
    ]


def test_a_supplied_value_that_is_not_text_must_be_of_the_declared_type(tmp_path: Path) -> None:
    orch = """
var app_version: str
var workers: int = 2
var ratio: float = 0.5
var debug: bool = false
role web { services app }
service app { task t { run "deploy {{ app_version }}" } }
"""
    result = compile_text(tmp_path, orch, {"app_version": "3", "workers": 4, "ratio": 2, "debug": True})
    assert result.plan.vars == {"app_version": "3", "debug": True, "ratio": 2.0, "workers": 4}
    assert compile_errors(tmp_path, orch, {"app_version": 3, "workers": True, "ratio": [1], "debug": 1}) == [
        "value supplied for variable 'app_version' is not a str: got an int (3)",
        "value supplied for variable 'workers' is not an int: got a bool (True)",
        "value supplied for variable 'ratio' is not a float: got a list ([1])",
        "value supplied for variable 'debug' is not a bool: got an int (1)",
    ]


def test_a_project_of_no_instance_is_a_warning(tmp_path: Path) -> None:
    empty = compile_text(tmp_path / "types", "type endpoint { url: str }\n")
    assert [(w.message, w.hint) for w in empty.warnings] == [
        (
            f"nothing to deploy: {tmp_path / 'types' / 'site.orch'} compiles to no task instance "
            "(it declares no service and no anchor)",
            'declare a service with a task, `service NAME { task install { run "..." } }`, and a role that lists it',
        )
    ]
    unplaced = compile_text(
        tmp_path / "unplaced", 'role nowhere optional { services app }\nservice app { task t { run "x" } }\n'
    )
    assert [w.message for w in unplaced.warnings][-1].endswith(
        "compiles to no task instance (no task of a service is placed on a host)"
    )


def test_variable_without_value(tmp_path: Path) -> None:
    assert compile_errors(
        tmp_path, 'var region: str\nrole web { services app }\nservice app { task t { run "x" } }'
    ) == ["variable 'region' has no value"]


def test_copy_embeds_content_and_missing_files_are_errors(tmp_path: Path) -> None:
    orch = """
role db { services app }
service app {
  task t {
    copy "files/logo.png" to "/srv/logo.png" mode "0644"
    copy "files/motd" to "/etc/motd"
  }
}
"""
    png = bytes([0x89, 0x50, 0x4E, 0x47, 0xFF, 0x00])
    plan = compile_text(tmp_path, orch, files={"files/logo.png": png, "files/motd": "hello\n"}).plan
    logo, motd = plan.instances[0].actions
    assert (logo.encoding, base64.b64decode(logo.content), logo.mode) == ("base64", png, "0644")
    assert (motd.encoding, motd.content) == ("utf-8", "hello\n")
    errors = compile_errors(tmp_path / "missing", orch)
    assert errors[0].startswith("source file 'files/logo.png' not found")


def test_playbook_and_role_paths(tmp_path: Path) -> None:
    orch = """
role db { services app }
service app {
  task t {
    playbook "legacy/site.yml" vars { port = 80 }
    role common
  }
}
"""
    plan = compile_text(
        tmp_path, orch, files={"legacy/site.yml": "- hosts: all\n", "roles/common/tasks/main.yml": ""}
    ).plan
    playbook, role = plan.instances[0].actions
    assert (playbook.path, playbook.vars, role.name) == ("legacy/site.yml", {"port": 80}, "common")
    errors = compile_errors(tmp_path / "bare", orch)
    assert errors[0].startswith("playbook file 'legacy/site.yml' not found")
    assert errors[1] == "Ansible role 'common' not found"


def test_tolerate_percentages_round_down(tmp_path: Path) -> None:
    plan = compile_text(
        tmp_path,
        'role web { services app  tolerate "50%" }\nrole db { services app  tolerate 1 }\n'
        'service app { task t { run "x" } }',
    ).plan
    assert [(r.name, r.tolerate, r.tolerate_spec) for r in plan.roles] == [("web", 1, "50%"), ("db", 1, "1")]


def test_a_host_in_two_roles_runs_a_service_once(tmp_path: Path) -> None:
    plan = compile_text(
        tmp_path, 'role web { services app }\nrole all { services app }\nservice app { task t { run "x" } }'
    ).plan
    assert [i.id for i in plan.instances] == ["app.t@w1", "app.t@w2", "app.t@w3", "app.t@d1", "app.t@d2"]


def test_several_errors_in_one_run(tmp_path: Path) -> None:
    errors = compile_errors(
        tmp_path,
        """
role web { services app, ap }
service app {
  task a { after b  run "x" }
  task c { concurrency 0  requires nothing  run "y" }
}
""",
    )
    assert len(errors) == 4


def test_anchor_waits_for_every_provider(tmp_path: Path) -> None:
    plan = compile_text(
        tmp_path,
        TWO_TIER + "anchor db_ready { requires database }\n"
        'service app { task t { requires db_ready_signal  run "x" } }\n'
        "anchor gate { after db_ready  provides db_ready_signal }",
    ).plan
    by_id = instances(plan)
    assert by_id["db_ready"].host is None
    assert by_id["db_ready"].deps == ["postgres.start@d1", "postgres.start@d2"]
    assert by_id["gate"].deps == ["db_ready"]
    assert by_id["app.t@w1"].deps == ["gate"]


def test_imports_are_relative_and_loaded_once(tmp_path: Path) -> None:
    files = {
        "lib/types.orch": "type database { host: str }\n",
        "lib/db.orch": 'import "types.orch"\n'
        'service postgres { task start { run "x"  provides database: database { host = "h" } } }\n',
    }
    plan = compile_text(
        tmp_path, 'import "lib/types.orch"\nimport "lib/db.orch"\nrole db { services postgres }\n', files=files
    ).plan
    assert [i.id for i in plan.instances] == ["postgres.start@d1", "postgres.start@d2"]


def test_compiling_twice_gives_the_same_bytes(tmp_path: Path, project_root: Path) -> None:
    from orchc.compiler import compile_project

    for example in ("openstack-mini", "webapp"):
        folder = project_root / "examples" / example
        first = compile_project([folder], folder / "inventory.yml").plan.to_json()
        second = compile_project([folder], folder / "inventory.yml").plan.to_json()
        assert first == second


@pytest.mark.parametrize("example", ["openstack-mini", "webapp"])
def test_examples_compile_to_a_valid_plan(example: str, project_root: Path) -> None:
    from orchc.compiler import compile_project

    folder = project_root / "examples" / example
    result = compile_project([folder], folder / "inventory.yml")
    assert result.warnings == []
    plan = Plan.from_json(result.plan.to_json())
    ids = {i.id for i in plan.instances}
    tasks = {t.id for t in plan.tasks}
    hosts = {h.name for h in plan.hosts}
    for instance in plan.instances:
        assert instance.task in tasks
        assert instance.host is None or instance.host in hosts
        assert set(instance.deps) <= ids and instance.deps == sorted(instance.deps)
        assert all(set(group) <= ids for group in instance.any_of)
        assert len(instance.fingerprint) == 64
    for role in plan.roles:
        assert set(role.hosts) <= hosts


def test_scope_errors(tmp_path: Path) -> None:
    assert compile_errors(tmp_path, TWO_TIER + 'service app { task t { requires database on role dbs  run "x" } }') == [
        "unknown role 'dbs' in `on role`"
    ]
    assert compile_errors(tmp_path, TWO_TIER + 'service app { task t { requires database on role web  run "x" } }') == [
        "'postgres.start' provides 'database' on no host of role 'web'"
    ]
    assert compile_errors(
        tmp_path, TWO_TIER + 'anchor a { requires database on same host }\nservice app { task t { run "x" } }'
    ) == ["anchor 'a' has no host, so `on same host` has no meaning"]


def test_type_field_defaults_must_match_their_type(tmp_path: Path) -> None:
    assert compile_errors(
        tmp_path, 'type t { port: int = "http" }\nrole web { services app }\nservice app { task x { run "x" } }'
    ) == ["default of field 'port' is not an int: expected an int, got 'http'"]


def test_errors_inside_template_files_name_the_line(tmp_path: Path) -> None:
    errors = compile_errors(
        tmp_path,
        'role web { services app }\nservice app { task t { template "t.j2" to "/t" } }',
        files={"t.j2": "first\n{{ host.name }}\n{{ host.vars.nope }}\n"},
    )
    assert errors == ["in template 't.j2': line 3: 'nope' is undefined here (no such key)"]


def test_compiled_plan_snapshot(tmp_path: Path, snapshot) -> None:
    plan = compile_text(
        tmp_path,
        TWO_TIER
        + """
var password: secret
service app {
  task configure {
    requires database: database on any
    template "app.conf.j2" to "{{ host.vars.root }}/app.conf" mode "0600"
  }
  task migrate once { after configure  requires database on any  retries 2 delay 5s  timeout 1m  run "migrate --db {{ database.host }}" }
  task start { after migrate  concurrency 1  run "start --password {{ password }}" }
}
anchor ready { requires database }
""",  # noqa: E501 - the Plan snapshot holds the source's columns: a long line stays
        files={"app.conf.j2": "db={{ database.host }}:{{ database.port }}\npassword={{ password }}\n"},
    ).plan
    assert plan.to_json().replace(str(tmp_path), "<root>") == snapshot


def test_a_task_requiring_what_it_provides(tmp_path: Path) -> None:
    assert compile_errors(
        tmp_path, 'role db { services galera }\nservice galera { task start { requires db  run "join"  provides db } }'
    ) == ["'galera.start@d1' waits for itself: it requires a capability it provides"]


def test_a_cycle_is_reported_alike_in_every_run(tmp_path: Path) -> None:
    """The cycle named does not depend on the order of Python's sets, which changes from run to run."""
    others = "".join(f'service s{n} {{ task t {{ run "true" }} }}\n' for n in range(8))
    roles = ", ".join(f"s{n}" for n in range(8))
    site = write_project(
        tmp_path,
        others + f"role web {{ services loop, {roles} }}\n"
        'service loop { task a { after b  run "a" }  task b { requires c  run "b" }'
        '  task c { after a  run "c"  provides c } }',
    )
    reports = {orchc("check", str(site), cwd=tmp_path, env={"PYTHONHASHSEED": str(seed)}).stderr for seed in range(4)}
    assert len(reports) == 1 and "dependency cycle" in reports.pop()


def test_folder_inputs_skip_hidden_folders(tmp_path: Path) -> None:
    from orchc.compiler import compile_project

    compile_text(tmp_path, 'role web { services app }\nservice app { task t { run "x" } }')
    (tmp_path / ".backup").mkdir()
    (tmp_path / ".backup" / "old.orch").write_text('service app { task t { run "old" } }')
    plan = compile_project([tmp_path], tmp_path / "inventory.yml").plan
    assert plan.instances[0].actions[0].command == "x"


@pytest.mark.parametrize(
    "orch, message",
    [
        (
            'service app { task t { run "echo {{ host.name" } }',
            "template syntax error: unexpected end of template, "
            "expected 'end of print statement'. (line 1 of the string)",
        ),
        (
            'service app { task t { when "host.vars.ssd"  run "x" } }',
            "in `when`: 'ssd' is undefined here (no such key)",
        ),
        ('service app { task t { when changed(versoin)  run "x" } }', "unknown variable 'versoin' in `when changed`"),
        ('var token: secret = "x"\nservice app { task t { run "x" } }', "secret variable 'token' has a default value"),
        ('var n: number = 1\nservice app { task t { run "x" } }', "unknown variable type 'number'"),
        ('type t { port: integer }\nservice app { task t { run "x" } }', "unknown field type 'integer' in type 't'"),
        ('anchor a { after b }\nservice app { task t { run "x" } }', "unknown anchor 'b' in `after` of anchor 'a'"),
        ('service app { task t { retries 2 delay 1s  timeout 0s  run "x" } }', "timeout must be longer than 0"),
        (
            'var n: int = "many"\nservice app { task t { run "x" } }',
            "default of variable 'n' is not an int: expected an int, got 'many'",
        ),
    ],
)
def test_bad_inputs(tmp_path: Path, orch: str, message: str) -> None:
    assert compile_errors(tmp_path, "role web { services app }\n" + orch) == [message]


def test_ansible_run_time_variables_get_a_raw_hint(tmp_path: Path) -> None:
    from orchc.dsl.diagnostics import DiagnosticError

    orch = 'role web { services app }\nservice app { task t { ansible debug { msg = "{{ ansible_hostname }}" } } }'
    with pytest.raises(DiagnosticError) as failure:
        compile_text(tmp_path, orch)
    assert "{% raw %}{{ ansible_hostname }}{% endraw %}" in (failure.value.diagnostics[0].hint or "")
    escaped = orch.replace('"{{ ansible_hostname }}"', '"{% raw %}{{ ansible_hostname }}{% endraw %}"')
    plan = compile_text(tmp_path, escaped).plan
    assert plan.instances[0].actions[0].args == {"msg": "{{ ansible_hostname }}"}


def test_after_a_once_task_keeps_the_host_order(tmp_path: Path) -> None:
    """galera: join after bootstrap (once) after install: join waits for install on its own host too."""
    orch = """
role web { services galera }
service galera {
  task install { run "install" }
  task bootstrap once { after install  run "bootstrap" }
  task join { after bootstrap  concurrency 1  run "join" }
}
"""
    result = compile_text(tmp_path, orch)
    assert result.warnings == []
    deps = {inst.id: inst.deps for inst in result.plan.instances}
    assert deps["galera.join@w3"] == ["galera.bootstrap@w1", "galera.install@w3"]
    bootstrap = next(inst for inst in result.plan.instances if inst.task == "galera.bootstrap")
    assert [(p.host, p.deps) for p in bootstrap.alternates] == [
        ("w2", ["galera.install@w2"]),
        ("w3", ["galera.install@w3"]),
    ]


def test_an_optional_role_may_be_missing_from_the_inventory(tmp_path: Path) -> None:
    orch = 'role cache optional { services app }\nrole web { services app }\nservice app { task t { run "x" } }'
    result = compile_text(tmp_path, orch)
    assert {i.host for i in result.plan.instances} == {"w1", "w2", "w3"}
    assert [w.message for w in result.warnings] == [
        f"role 'cache' is not a group of inventory '{tmp_path / 'inventory.yml'}': it places nothing"
    ]
    errors = compile_errors(tmp_path, orch.replace("cache optional", "cache"))
    assert errors == [f"role 'cache' is not a group of inventory '{tmp_path / 'inventory.yml'}'"]


def test_an_optional_requirement_without_providers_waits_for_nothing(tmp_path: Path) -> None:
    orch = """
role web { services app }
role cache optional { services memcached }
service memcached { task start { run "start"  provides cache_up } }
service app { task t { requires cache_up optional  requires cache_up on same host optional  run "x" } }
"""
    result = compile_text(tmp_path, orch)
    assert [i.deps for i in result.plan.instances] == [[], [], []]
    assert [w.message for w in result.warnings][1:] == [
        "'app.t' waits for nothing: its optional requirement 'cache_up' has no provider ('memcached.start' runs "
        "on no host)",
        "'app.t' waits for nothing: its optional requirement 'cache_up' has no provider on this host "
        "('memcached.start' runs on no host there)",
    ]
    # Written by hand without `optional`, a requirement nobody can meet is still an error.
    errors = compile_errors(
        tmp_path, orch.replace("cache_up optional  requires cache_up on same host optional", "cache_up")
    )
    assert errors == ["capability 'cache_up' is provided by 'memcached.start', which runs on no host"]


def test_optional_requirements_still_wait_for_the_providers_there_are(tmp_path: Path) -> None:
    plan = compile_text(tmp_path, TWO_TIER + 'service app { task t { requires database optional  run "x" } }').plan
    assert instances(plan)["app.t@w1"].deps == ["postgres.start@d1", "postgres.start@d2"]
