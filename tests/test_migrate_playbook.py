"""`orchc migrate playbook`: converted output, report, and diagnostics for bad playbooks.

The playbooks live in tests/data/migrate_playbook/; the converted `.orch` and
the report of each are syrupy snapshots. Every converted project must compile
and be formatted as `orchc fmt` would write it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchc.compiler import compile_project
from orchc.dsl.diagnostics import DiagnosticError, SourceCache, render_all
from orchc.dsl.format import format_source
from orchc.migrate.ansible import convert_playbook
from orchc.migrate.report import Migration

CASES = ["webapp", "loops", "conditions", "features", "handover"]
BAD = sorted(
    p.stem for p in (Path(__file__).parent / "data" / "migrate_playbook" / "bad").glob("*.yml") if p.stem != "loop"
)


@pytest.fixture
def data(project_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test playbooks' folder, as the working directory (so reports name files relative to it)."""
    folder = project_root / "tests" / "data" / "migrate_playbook"
    monkeypatch.chdir(folder)
    return folder


def convert(case: str) -> Migration:
    return convert_playbook(Path(case) / "site.yml")


@pytest.mark.parametrize("case", CASES)
def test_converted_orch_and_report(data: Path, case: str, snapshot) -> None:
    migration = convert(case)
    assert migration.files["site.orch"] == snapshot(name="orch")
    assert migration.report.to_markdown() == snapshot(name="report")


def test_generated_playbooks_and_inventory(data: Path, snapshot) -> None:
    migration = convert("webapp")
    generated = {name: text for name, text in migration.files.items() if not name.endswith(".orch")}
    assert generated == snapshot
    assert sorted(migration.copies) == ["roles/app", "roles/common"]


@pytest.mark.parametrize("case", CASES)
def test_output_compiles_and_is_formatted(data: Path, case: str, tmp_path: Path) -> None:
    migration = convert(case)
    migration.write(tmp_path)
    text = (tmp_path / "site.orch").read_text()
    assert format_source(text, "site.orch") == text
    result = compile_project([tmp_path / "site.orch"], tmp_path / "inventory.yml")
    assert result.plan.instances


def test_report_json_counts(data: Path) -> None:
    report = json.loads(convert("features").report.to_json())
    counts = report["counts"]
    assert counts["native"] == 9  # incl. a shell loop over literal items
    assert counts["unsupported"] == 3  # group_by is understood (migrate/ansible_groups.py)
    assert report["figures"]["orchc tasks"] == 19  # the dynamic role joins the templated include before it
    assert report["figures"]["ordering edges from textual order only"] == counts["ordering"]
    assert all(":" in entry["source"] for entry in report["entries"])


def test_handlers_run_only_when_notified(data: Path) -> None:
    files = convert("webapp").files
    notifier = files["roles/common/tasks/orchc_common.install_the_base_config.yml"]
    assert "notify: restart base" in notifier and "orchc_notify" not in notifier  # as written; no flag file
    play = files["ansible/common.install_the_base_config.yml"]
    stand_in = "handlers:\n  - name: restart base\n    listen:\n    - 'common : restart base'\n    - restart base\n"
    assert stand_in + "    ansible.builtin.meta: noop" in play
    assert "handlers_from: orchc_none" in play and files["roles/common/handlers/orchc_none.yml"] == "[]\n"
    orch = files["site.orch"]
    task = orch[orch.index("task handler_restart_base") :]
    assert 'when notified(install_the_base_config "restart base")' in task[: task.index("}")]
    # play 1 flushes the role's handler after the role's last task; play 2 after its own tasks
    assert orch.index("task handler_restart_base") > orch.index("task print_uptime")


def test_a_handler_whose_notifier_shares_its_orchc_task_is_notified_by_topic(tmp_path: Path) -> None:
    # The orchc task of `command` and `debug` (which reads its result) ends changed when the command
    # changed: that is not a notification; a run_once task notifies only the host it ran on. The handler
    # counts each only if it reported the handler's topic; no flag file on the host.
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  tasks:
    - command: uptime
      register: up
    - debug: {msg: "{{ up.stdout }}"}
      notify: greet
    - command: whoami
      notify: greet
      run_once: true
    - name: with a block
      block:
        - {command: id, notify: [greeting]}
      rescue:
        - {debug: {msg: failed}}
  handlers:
    - {name: greet, debug: {msg: hi}}
    - {name: greet, listen: greeting, debug: {msg: hello}}
""",
    )
    orch = migration.files["site.orch"]
    assert 'when notified(command "greet", command_2 "greet")' in orch
    assert 'when notified(with_a_block "greet (2)")' in orch  # a second handler of that name
    generated = "\n".join(text for name, text in migration.files.items() if name.startswith("ansible/"))
    assert "orchc_notified" not in generated and "orchc_notify" not in generated and "state: absent" not in generated
    assert "- name: greet (2)\n    listen:\n    - greeting\n" in generated


def test_play_settings_map_to_orchc(data: Path) -> None:
    webapp = convert("webapp").files["site.orch"]
    assert "concurrency 2" in webapp  # serial: 2
    features = convert("features").files["site.orch"]
    assert "task once_only once {" in features  # run_once
    assert "role app optional {\n  services natives_and_inline_modules\n  tolerate 0\n}" in features  # any_errors_fatal
    assert "when \"'prod' in host.groups\"" in features  # app:&prod: the intersection, checked when compiling
    conditions = convert("conditions").files["site.orch"]
    assert (
        "role web optional {\n  services conditions" in conditions
        and "role db optional {\n  services conditions" in conditions
    )


def test_run_time_variables_keep_tasks_together(data: Path) -> None:
    orch = convert("conditions").files["site.orch"]
    # register -> set_fact -> copy -> block -> include -> template all read each other's results
    assert "# conditions/site.yml:11 Probe for a flag (+5 more)" in orch


@pytest.mark.parametrize("name", BAD)
def test_bad_playbook_is_a_diagnostic(data: Path, name: str, snapshot) -> None:
    with pytest.raises(DiagnosticError) as caught:
        convert_playbook(Path("bad") / f"{name}.yml")
    rendered = render_all(caught.value.diagnostics, SourceCache())
    assert "bad/" in rendered
    assert rendered == snapshot


def test_missing_playbook_is_a_diagnostic(data: Path) -> None:
    with pytest.raises(DiagnosticError) as caught:
        convert_playbook(Path("nowhere.yml"))
    assert "cannot read nowhere.yml" in caught.value.diagnostics[0].message


def test_missing_role_is_reported_not_dropped(data: Path) -> None:
    report = convert("features").report
    assert any(
        e.category == "unsupported" and e.what == "role 'not_installed'" and "--roles-path" in e.why
        for e in report.entries
    )


def test_cli_converts_checks_and_rejects(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"

    def orchc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orchc", *args], capture_output=True, text=True, timeout=300)

    converted = orchc("migrate", "playbook", "webapp/site.yml", "-o", str(out))
    assert converted.returncode == 0, converted.stderr
    assert "report:" in converted.stdout
    assert (out / "migration-report.md").is_file() and (out / "migration-report.json").is_file()
    assert (out / "roles" / "common" / "templates" / "base.conf.j2").is_file()
    assert orchc("check", str(out), "-i", str(out / "inventory.yml")).returncode == 0
    assert orchc("fmt", "--check", str(out)).returncode == 0
    bad = orchc("migrate", "playbook", "bad/no_module.yml", "-o", str(tmp_path / "bad"))
    assert bad.returncode == 1
    assert "bad/no_module.yml:3:" in bad.stderr and "Traceback" not in bad.stderr


def convert_text(tmp_path: Path, text: str) -> Migration:
    """Convert a playbook written inline (behaviour-corpus regressions)."""
    (tmp_path / "site.yml").write_text(text)
    return convert_playbook(tmp_path / "site.yml")


def orch_tasks(migration: Migration) -> list[str]:
    return [line.split()[1] for line in migration.files["site.orch"].splitlines() if line.strip().startswith("task ")]


def test_bare_expressions_of_assert_debug_and_blocks_read_registered_variables(tmp_path: Path) -> None:
    # ansible-core's changed_when target: `debug: var=r` and `assert: that: r.changed` read `r` without braces
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  tasks:
    - shell: ls /
      register: shell_result
    - debug: var=shell_result
    - assert:
        that: shell_result.changed
    - command: "true"
      register: other
    - block:
        - ansible.builtin.assert: {that: ["other is changed"]}
      when: other is defined
    - command: "true"
      register: third
    - block:
        - debug: {msg: hi}
          when: third.rc == 0
""",
    )
    assert len(orch_tasks(migration)) == 3, migration.files["site.orch"]


def test_set_fact_reading_its_own_earlier_value_joins_the_earlier_setter(tmp_path: Path) -> None:
    # ansible-core's include_import_tasks_nested target: a counter set_fact run twice, asserted in between
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  tasks:
    - set_fact: {count: "{{ count | default(0) | int + 1 }}"}
    - assert: {that: ["count | int == 1"]}
    - set_fact: {count: "{{ count | default(0) | int + 1 }}"}
    - assert: {that: ["count | int == 2"]}
    - command: "true"
      register: probe
      until: probe.rc == 0
""",
    )
    assert len(orch_tasks(migration)) == 2, migration.files["site.orch"]


def test_a_set_fact_of_templated_names_joins_the_tasks_that_read_them(tmp_path: Path) -> None:
    # ansible-core's lookup_items / lookup_list targets: `set_fact: "{{ item }}=moo"` over a loop, then asserted
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  tasks:
    - set_fact: "{{ item }}=moo"
      with_items: [foo, bar]
    - debug: var=foo
    - assert: {that: ["bar == 'moo'"]}
    - set_fact: {"path_{{ item }}": "/tmp/{{ item }}"}
      loop: [a]
    - assert: {that: ["path_a == '/tmp/a'"]}
    - command: "echo {{ inventory_hostname }}"
""",
    )
    assert len(orch_tasks(migration)) == 3, migration.files["site.orch"]  # the command reads no variable set
    assert "may set variables" in migration.report.to_markdown()


def test_an_assert_is_never_inline_it_reads_the_roles_variables(tmp_path: Path) -> None:
    # ansible-core's test_files / lookup_template targets: an inline `ansible assert` runs outside the role,
    # where role_path, the role's variables and its templates/ folder are unknown
    (tmp_path / "roles" / "r" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "r" / "tasks" / "main.yml").write_text("""
- assert: {that: ["role_path is directory"]}
- debug: {var: role_name}
- debug: {msg: plain}
""")
    migration = convert_text(tmp_path, "- hosts: all\n  roles: [r]\n")
    orch = migration.files["site.orch"]
    assert "ansible ansible.builtin.assert" not in orch and "ansible ansible.builtin.debug { var" not in orch, orch
    assert 'ansible ansible.builtin.debug { msg = "plain" }' in orch, orch


def test_set_fact_in_key_value_form_with_a_template_defines_its_name(tmp_path: Path) -> None:
    # ansible-core's replace target: `set_fact: d={{ remote_tmp_dir }}/test_replace` then `file: path={{ d }}`;
    # Ansible keeps k=v text raw only for command, shell, raw, script (check_raw): set_fact's k=v are arguments
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  tasks:
    - set_fact: remote_tmp_dir_test={{ remote_tmp_dir }}/test_replace
    - file: path="{{ remote_tmp_dir_test }}" state=absent
    - command: echo a=b
""",
    )
    assert len(orch_tasks(migration)) == 2, migration.files["site.orch"]
    assert 'run "echo a=b"' in migration.files["site.orch"]


def test_plays_on_groups_made_at_run_time_are_placed_and_gated(data: Path, tmp_path: Path) -> None:
    """group_by groups are no inventory's: a play on one goes on the hosts that may be members, each task
    gated on membership as group_by registered it; intersections with inventory groups are orchc `when`s."""
    migration = convert("groups")
    orch = migration.files["site.orch"]
    assert "role all optional {" in orch and "tier_front" not in orch.split("service")[0]
    front = yaml.safe_load(migration.files["ansible/a_group_made_at_run_time.copy.yml"])[0]["tasks"]
    assert front[0]["name"].startswith("orchc: take over orchc_group_by_")  # membership, handed over
    rejoin = next(t for t in front if t["name"].startswith("orchc: rejoin"))
    assert rejoin["ansible.builtin.group_by"] == {"key": "{{ item }}"}
    gated = front[-1]
    assert "'tier_front' in" in gated["when"][0]
    assert "when \"'db' not in host.groups\"" in orch  # all:!db: decided when compiling
    (tmp_path / "inventory.ini").write_text("[web]\nweb-1\nweb-2\n[db]\ndb-1\n")
    migration.write(tmp_path / "out")
    plan = compile_project([tmp_path / "out"], tmp_path / "inventory.ini").plan
    not_db = [i for i in plan.instances if i.task.startswith("an_inventory_group_but_not_another.")]
    assert [(i.host, i.skip is None) for i in not_db] == [("web-1", True), ("web-2", True), ("db-1", False)]


def test_group_by_keys_of_known_variables_are_decided_when_compiling(data: Path, tmp_path: Path) -> None:
    """A key rendered from group_vars/ beside the playbook and the inventory's variables is decided per host
    when compiling (`when ansible`): a host it puts in another group has no instance; a key that reads a fact
    is left to the run; the run-time gate stays in every task."""
    migration = convert("static_groups")
    orch = migration.files["site.orch"]
    assert "when ansible \"'enable_api_True' == 'enable_api_' ~ (enable_api | bool)\"" in orch
    assert "when ansible \"not ('enable_cache_True' == 'enable_cache_' ~ (enable_cache | bool))\"" in orch
    linux = yaml.safe_load(migration.files["ansible/known_only_when_the_task_runs.copy.yml"])[0]["tasks"][-1]
    assert "'system_Linux' in" in linux["when"][0]  # the run-time gate, kept
    report = migration.report.to_markdown()
    assert "decided when compiling where the group_by keys' variables are known" in report
    assert "'ansible_facts' is known only when the play runs" in report
    assert orch.count("when ansible") == 3, orch
    # an inventory variable may be a template, as Ansible reads the inventory orchc writes for the run
    inventory = "[web]\nweb-1 enable_cache=yes\nweb-2\n[db]\ndb-1 enable_cache='{{ enable_core | bool }}'\n"
    (tmp_path / "inventory.ini").write_text(inventory)
    migration.write(tmp_path / "out")
    result = compile_project([tmp_path / "out"], tmp_path / "inventory.ini")

    def runs(play: str) -> list[tuple[str, bool]]:
        return [(i.host, i.skip is None) for i in result.plan.instances if i.task.startswith(play)]

    everywhere = [("web-1", True), ("web-2", True), ("db-1", True)]
    assert runs("enabled_by_group_vars.") == everywhere  # enable_api: "{{ enable_core | bool }}", enable_core yes
    assert runs("enabled_on_the_hosts_whose_inventory_says_so.") == [("web-1", True), ("web-2", False)]
    assert runs("not_where_it_is_enabled.") == [("web-1", False), ("web-2", True), ("db-1", False)]
    assert runs("known_only_when_the_task_runs.") == everywhere
    skipped = next(i for i in result.plan.instances if i.task.startswith("not_where") and i.skip)
    assert skipped.skip.startswith("when ansible \"not ('enable_cache_True'") and skipped.skip.endswith("on web-1")
    assert [(len(o.false), len(o.true), o.run_time) for o in result.conditions] == [(0, 3, {}), (1, 1, {}), (2, 1, {})]


def test_a_group_by_key_of_a_variable_unknown_when_compiling_keeps_the_run_time_gate(tmp_path: Path) -> None:
    """kolla's `kolla_action_{{ kolla_action }}` (from -e): nothing is decided when compiling until the project
    has the variable; a variable a task sets at run time is never read when compiling."""
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  gather_facts: false
  tasks:
    - group_by: {key: "kolla_action_{{ kolla_action }}"}
    - command: echo yes
      register: answer
    - group_by: {key: "said_{{ answer.stdout }}"}
- hosts: kolla_action_precheck
  gather_facts: false
  tasks:
    - command: echo precheck
- hosts: said_yes
  gather_facts: false
  tasks:
    - command: echo said
""",
    )
    orch = migration.files["site.orch"]
    assert orch.count("when ansible") == 1 and "said_" not in orch.split("when ansible")[1].split("\n")[0]
    report = migration.report.to_markdown()
    assert "decided at run time only: group_by at" in report and "'answer' is set at run time by the task at" in report
    (tmp_path / "inventory.ini").write_text("[web]\nweb-1\nweb-2\n")
    migration.write(tmp_path / "out")
    result = compile_project([tmp_path / "out"], tmp_path / "inventory.ini")
    precheck = [i for i in result.plan.instances if i.task.startswith("play_2.")]
    assert precheck and all(i.skip is None for i in precheck)
    [outcome] = result.conditions
    assert outcome.run_time == {h: "'kolla_action' is not known when compiling" for h in ("web-1", "web-2")}
    assert "at run time on 2 hosts ('kolla_action' is not known when compiling)" in outcome.summary()
    # declared (and so handed to Ansible as an extra var when it runs), the variable is known when compiling
    (tmp_path / "out" / "vars.orch").write_text('var kolla_action: str = "precheck"\n')
    for value, skipped in (("precheck", False), ("deploy", True)):
        plan = compile_project([tmp_path / "out"], tmp_path / "inventory.ini", {"kolla_action": value}).plan
        assert [i.skip is not None for i in plan.instances if i.task.startswith("play_2.")] == [skipped, skipped]


def test_a_roles_copy_has_no_dependencies_they_are_services_of_their_own(tmp_path: Path) -> None:
    # ansible-core's command_shell target: every generated playbook's import_role ran setup_remote_tmp_dir again
    # (its meta dependency), so each orchc task got a new temporary folder and lost the files of the one before
    for role, meta in (("dep", ""), ("r", "dependencies: [dep]\ngalaxy_info: {author: x}\n")):
        (tmp_path / "roles" / role / "tasks").mkdir(parents=True)
        (tmp_path / "roles" / role / "tasks" / "main.yml").write_text(f"- command: echo {role}\n  when: x is defined\n")
        if meta:
            (tmp_path / "roles" / role / "meta").mkdir()
            (tmp_path / "roles" / role / "meta" / "main.yml").write_text(meta)
    migration = convert_text(tmp_path, "- hosts: all\n  roles: [r]\n")
    migration.write(tmp_path / "out")
    written = yaml.safe_load((tmp_path / "out" / "roles" / "r" / "meta" / "main.yml").read_text())
    assert written == {"dependencies": [], "galaxy_info": {"author": "x"}}


def test_a_variable_a_handler_sets_reaches_the_tasks_after_the_flush(tmp_path: Path) -> None:
    # ansible-core's handlers/test_handlers_listen.yml: set_fact handlers, asserted after meta: flush_handlers
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  tasks:
    - command: uptime
      notify: topic
    - meta: flush_handlers
    - assert: {that: ["ran is defined"]}
  handlers:
    - set_fact: {ran: true}
      listen: topic
""",
    )
    handler = next(text for name, text in migration.files.items() if "handler_set_fact" in name)
    consumer = next(text for name, text in migration.files.items() if name.endswith(".assert.yml"))
    assert "orchc: hand over ran" in handler and "orchc: take over ran" in consumer


def test_a_looped_include_finds_its_file_beside_the_generated_playbook(tmp_path: Path) -> None:
    # ansible-core's loop_control/extended.yml: `include_tasks: inner.yml` with a loop stays Ansible's, and reads
    # inner.yml at run time from the generated playbook's folder
    (tmp_path / "inner.yml").write_text("- debug: {msg: '{{ item }}'}\n")
    migration = convert_text(tmp_path, "- hosts: all\n  tasks:\n    - include_tasks: inner.yml\n      loop: [a, b]\n")
    assert migration.copies.get("ansible/inner.yml") == tmp_path / "inner.yml"


def test_handlers_imported_with_import_tasks_are_handlers(tmp_path: Path) -> None:
    # ansible-core's handlers/test_handlers_include.yml: `handlers: [import_tasks: handlers.yml]`
    (tmp_path / "handlers.yml").write_text("- name: test handler\n  debug: {msg: handler called}\n")
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  tasks:
    - command: "true"
      notify: test handler
  handlers:
    - import_tasks: handlers.yml
""",
    )
    assert "task handler_test_handler {" in migration.files["site.orch"], migration.files["site.orch"]
    assert not [e for e in migration.report.entries if e.category == "unsupported"], migration.report.to_markdown()


def test_an_include_of_a_computed_name_hands_over_what_its_files_set_and_notify(tmp_path: Path) -> None:
    # ansible-core's setup_remote_tmp_dir role, a dependency of many targets: `include_tasks: "{{ lookup(
    # 'first_found', files) }}"` picks default.yml, which registers a folder, notifies its cleanup and sets
    # `remote_tmp_dir` for the role that depends on it
    tasks = tmp_path / "roles" / "tmpdir" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text("- include_tasks: \"{{ lookup('first_found', ['x.yml', 'default.yml']) }}\"\n")
    (tasks / "default.yml").write_text(
        "- tempfile: {state: directory}\n  register: made\n  notify: clean up\n"
        "- set_fact: {remote_tmp_dir: '{{ made.path }}'}\n"
    )
    (tasks / "cleanup.yml").write_text("- file: {path: '{{ remote_tmp_dir }}', state: absent}\n")
    (tmp_path / "roles" / "tmpdir" / "handlers").mkdir()
    (tmp_path / "roles" / "tmpdir" / "handlers" / "main.yml").write_text(
        "- name: clean up\n  include_tasks: cleanup.yml\n"
    )
    (tmp_path / "roles" / "user" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "user" / "tasks" / "main.yml").write_text(
        "- copy: {content: x, dest: '{{ remote_tmp_dir }}/f'}\n"
    )
    migration = convert_text(tmp_path, "- hosts: all\n  roles: [tmpdir, user]\n")
    files = migration.files
    include = files["ansible/tmpdir.include_tasks.yml"]
    assert "orchc: hand over remote_tmp_dir" in include
    assert "orchc: take over remote_tmp_dir" in next(t for n, t in files.items() if n.startswith("ansible/user."))
    # the included file is the role's own (its notify reaches the stand-in); the handler runs at the play's end
    assert "roles/tmpdir/tasks/default.yml" not in files
    handler = next(t for n, t in files.items() if n.startswith("ansible/") and "handler_clean_up" in n)
    assert "orchc: take over remote_tmp_dir" in handler, handler
    orch = migration.files["site.orch"]
    handler_task = orch[orch.index("task handler_clean_up") :]
    assert "requires user_copy_done on same host" in handler_task[: handler_task.index("}")], orch


def test_handlers_are_found_as_ansible_finds_them(tmp_path: Path) -> None:
    # ansible-core's handlers/test_handlers_listen.yml: a name notifies the first handler of that name (of the
    # last-loaded list), a topic every handler listening to it; handlers without a name are told apart
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  tasks:
    - command: uptime
      notify: [twice, topic]
  handlers:
    - {name: twice, set_fact: {first: true}}
    - {name: twice, set_fact: {second: true}}
    - {set_fact: {one: true}, listen: topic}
    - {set_fact: {two: true}, listen: topic}
""",
    )
    handlers = [name for name in migration.files if ".handler_" in name]
    assert len(handlers) == 3, handlers
    orch = migration.files["site.orch"]
    assert [t in orch for t in ('(command "twice")', '(command "topic")', '(command "topic (2)")')] == [True] * 3
    ran = "\n".join(text for name, text in migration.files.items() if name.startswith("roles/") or ".handler_" in name)
    assert "first" in ran and "second" not in ran and "one" in ran and "two" in ran, ran


def test_a_value_set_under_a_when_may_be_the_one_set_before(tmp_path: Path) -> None:
    # ansible-core's includes target: two set_facts of one name under opposite `when`s, then an assert: the
    # value it reads may come from either, so all three run together
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  tasks:
    - set_fact: {canary: a}
      when: static | bool
    - command: "true"
    - set_fact: {canary: b}
      when: not static | bool
    - assert: {that: ["canary in ['a', 'b']"]}
""",
    )
    assert len(orch_tasks(migration)) == 1, migration.files["site.orch"]


def test_a_module_with_a_relative_path_runs_beside_the_generated_playbooks(tmp_path: Path) -> None:
    # ansible-core's test_files target: `file: dest=link_to_nonexistent_file state=link`, then `'...' is link`;
    # on a local connection a relative path is relative to the playbook's folder, so it stays in a generated one
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  tasks:
    - file: {src: does_not_exist, dest: link_to_nonexistent_file, state: link, force: true}
    - file: {path: /tmp/absolute, state: touch}
""",
    )
    orch = migration.files["site.orch"]
    assert orch.count("playbook ") == 1 and orch.count("ansible ansible.builtin.file") == 1, orch


def test_the_task_files_a_roles_handlers_include_are_found_at_run_time(tmp_path: Path) -> None:
    # ansible-core's handlers target: a role's handler includes handlers/A.yml (found beside handlers/main.yml),
    # another role's handlers import handlers.yml, which Ansible finds beside the playbook
    for role, handlers in (("a", "- name: from a\n  include_tasks: A.yml\n"), ("b", "- import_tasks: handlers.yml\n")):
        (tmp_path / "roles" / role / "handlers").mkdir(parents=True)
        (tmp_path / "roles" / role / "handlers" / "main.yml").write_text(handlers)
        (tmp_path / "roles" / role / "tasks").mkdir()
        (tmp_path / "roles" / role / "tasks" / "main.yml").write_text(f"- command: 'true'\n  notify: from {role}\n")
    (tmp_path / "roles" / "a" / "handlers" / "A.yml").write_text("- debug: {msg: a}\n")
    (tmp_path / "handlers.yml").write_text("- name: from b\n  debug: {msg: b}\n")
    migration = convert_text(tmp_path, "- hosts: all\n  roles: [a, b]\n")
    handler_a = yaml.safe_load(
        next(t for n, t in migration.files.items() if n.startswith("roles/a/tasks/orchc_") and "handler" in n)
    )
    assert handler_a[0]["include_tasks"] == "{{ role_path }}/handlers/A.yml", handler_a
    assert migration.copies["ansible/handlers.yml"] == tmp_path / "handlers.yml"
    assert "task handler_from_b {" in migration.files["site.orch"], migration.files["site.orch"]


def test_a_collections_role_beside_the_playbook_is_found_and_kept_apart(tmp_path: Path) -> None:
    # ansible-core's handlers/test_handlers_listen.yml: roles [test_handlers_listen, ns.col.test_handlers_listen],
    # the second from collections/ beside the playbook, notified as 'test_handlers_listen : topic' too
    plain = tmp_path / "roles" / "r"
    inside = tmp_path / "collections" / "ansible_collections" / "ns" / "col" / "roles" / "r"
    for folder, topic in ((plain, "plain"), (inside, "from_collection")):
        (folder / "handlers").mkdir(parents=True)
        (folder / "handlers" / "main.yml").write_text(
            f"- name: {topic}\n  set_fact: {{{topic}: true}}\n  listen: {topic}\n"
        )
    migration = convert_text(
        tmp_path,
        """
- hosts: all
  roles: [r, ns.col.r]
  tasks:
    - command: uptime
      notify: ['r : from_collection', 'ns.col.r : plain']
""",
    )
    assert migration.copies["roles/ns.col.r"] == inside.resolve() and migration.copies["roles/r"] == plain.resolve()
    assert "task handler_from_collection {" in migration.files["site.orch"], migration.files["site.orch"]
    assert "notify 'ns.col.r : plain'" in migration.report.to_markdown()  # the plain role is not ns.col's
