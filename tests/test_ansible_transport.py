"""The `ansible` transport with real ansible-core through ansible-runner, on `connection: local` hosts.

Every host has its own `root` folder, so hosts that share this machine don't collide.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchc.backends.ansible import GATHER_SECONDS, KEPT_CALLS, AnsibleTransport
from orchc.backends.ansible_worker import MISSING_ANSIBLE
from orchc.backends.engine import Limits
from orchc.backends.journal import SqliteJournal
from orchc.backends.runner import RunnerOptions, run_plan
from orchc.backends.transport import ActionContext, ActionResult, TransportOptions
from orchc.backends.transports import TransportSet
from orchc.plan import (
    Action,
    AnsibleModuleAction,
    AnsibleRoleAction,
    Host,
    Plan,
    PlaybookAction,
    Role,
    SourceSpan,
    Task,
    secret_marker,
)
from plan_shapes import reached_apart

SPAN = SourceSpan(file="main.orch", line=1, column=1, end_line=1, end_column=1)
SECRET = "s3cr3t-Value-42"

WRITE_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: write greeting
      copy:
        dest: "{{ root }}/greeting.txt"
        content: "{{ greeting | default('hello') }} from {{ inventory_hostname }}\\n"
    - name: refuse the bad host
      fail:
        msg: "{{ inventory_hostname }} is marked bad"
      when: bad | default(false)
"""


def local_hosts(
    tmp_path: Path, names: Sequence[str], extra_vars: dict[str, dict[str, Any]] | None = None
) -> list[Host]:
    hosts = []
    for name in names:
        root = tmp_path / "hosts" / name
        root.mkdir(parents=True, exist_ok=True)
        hosts.append(
            Host(
                name=name,
                address="localhost",
                connection="local",
                vars={"root": str(root), **(extra_vars or {}).get(name, {})},
            )
        )
    return hosts


def make_plan(project: Path, hosts: list[Host], plan_vars: dict[str, Any] | None = None) -> Plan:
    task = Task(id="legacy.apply", service="legacy", name="apply", source=SPAN)
    role = Role(name="web", hosts=[h.name for h in hosts], services=["legacy"])
    return Plan(root=str(project), hosts=hosts, roles=[role], tasks=[task], instances=[], vars=plan_vars or {})


def run_batch(
    plan: Plan,
    action: Action | dict[str, Action],
    hosts: Sequence[Host] | None = None,
    *,
    transport: AnsibleTransport | None = None,
    work_dir: Path | None = None,
    secrets: dict[str, str] | None = None,
    check_mode: bool = False,
    diff: bool = False,
    task_id: str = "legacy.apply",
    output: list[str] | None = None,
) -> tuple[list[ActionResult], AnsibleTransport]:
    """Start one instance per host in the same event-loop turn, as the runner does, and wait for all."""
    transport = transport or AnsibleTransport(
        plan, TransportOptions(work_dir=work_dir or Path(plan.root) / ".orchc", check_mode=check_mode, diff=diff)
    )
    chosen = list(hosts if hosts is not None else plan.hosts)

    def sink(stream: str, text: str) -> None:
        if output is not None:
            output.append(text)

    async def main() -> list[ActionResult]:
        calls = [
            transport.execute(
                host,
                action[host.name] if isinstance(action, dict) else action,
                ActionContext(
                    plan=plan,
                    instance_id=f"{task_id}@{host.name}",
                    task_id=task_id,
                    secrets=secrets or {},
                    on_output=sink,
                ),
            )
            for host in chosen
        ]
        return list(await asyncio.gather(*calls))

    return asyncio.run(main()), transport


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    (folder / "legacy").mkdir(parents=True)
    (folder / "legacy" / "site.yml").write_text(WRITE_PLAYBOOK)
    return folder


def test_a_playbook_runs_once_for_the_whole_batch_and_answers_per_host(tmp_path: Path, project: Path) -> None:
    plan = make_plan(project, local_hosts(tmp_path, ["web1", "web2", "web3"]), {"greeting": "hi"})
    results, transport = run_batch(plan, PlaybookAction(path="legacy/site.yml"))
    assert transport.calls == 1
    assert [r.status for r in results] == ["changed"] * 3
    for host in plan.hosts:
        assert (Path(host.vars["root"]) / "greeting.txt").read_text() == f"hi from {host.name}\n"
    assert "TASK [write greeting]" in results[0].stdout
    assert not list((project / ".orchc" / "ansible").iterdir()), "a successful call leaves no data dir"

    again, transport = run_batch(plan, PlaybookAction(path="legacy/site.yml", vars={"greeting": "hi"}))
    assert [r.status for r in again] == ["ok"] * 3


def test_a_failure_in_a_batch_belongs_to_its_host_only(tmp_path: Path, project: Path) -> None:
    hosts = local_hosts(tmp_path, ["web1", "web2", "web3"], {"web2": {"bad": True}})
    plan = make_plan(project, hosts)
    results, transport = run_batch(plan, PlaybookAction(path="legacy/site.yml"))
    assert transport.calls == 1
    by_host = dict(zip(["web1", "web2", "web3"], results, strict=True))
    assert by_host["web1"].status == by_host["web3"].status == "changed"
    failed = by_host["web2"]
    assert failed.status == "failed"
    assert "task 'refuse the bad host' failed: web2 is marked bad" in failed.message
    kept = project / ".orchc" / "ansible"
    [data_dir] = list(kept.iterdir())
    assert str(data_dir) in failed.message, "the message says where the data dir was kept"
    assert "web2 is marked bad" not in by_host["web1"].stdout


def test_a_run_keeps_the_data_dirs_of_only_the_newest_failed_calls(tmp_path: Path, project: Path) -> None:
    kept = project / ".orchc" / "ansible"
    for age in range(KEPT_CALLS + 5):  # from earlier runs: age 0 is the newest
        old = kept / f"earlier-{age:02}"
        old.mkdir(parents=True)
        os.utime(old, (time.time() - 60 * (age + 1),) * 2)
    plan = make_plan(project, local_hosts(tmp_path, ["web1"], {"web1": {"bad": True}}))
    [failed], _ = run_batch(plan, PlaybookAction(path="legacy/site.yml"))
    assert failed.status == "failed"
    remaining = {entry.name for entry in kept.iterdir()}
    earlier = {name for name in remaining if name.startswith("earlier-")}
    assert earlier == {f"earlier-{age:02}" for age in range(KEPT_CALLS)}
    assert len(remaining - earlier) == 1, "this call's dir is kept too"


def test_late_arrivals_within_the_window_join_and_other_tasks_get_their_own_call(tmp_path: Path, project: Path) -> None:
    plan = make_plan(project, local_hosts(tmp_path, ["a", "b", "c"]))
    transport = AnsibleTransport(plan, TransportOptions(work_dir=tmp_path / "work"))
    a, b, c = plan.hosts
    one = PlaybookAction(path="legacy/site.yml", vars={"greeting": "one"})
    two = PlaybookAction(path="legacy/site.yml", vars={"greeting": "two"})

    def ctx(host: Host, task_id: str) -> ActionContext:
        return ActionContext(plan=plan, instance_id=f"{task_id}@{host.name}", task_id=task_id, secrets={})

    async def late(host: Host) -> ActionResult:
        await asyncio.sleep(GATHER_SECONDS / 2)
        return await transport.execute(host, one, ctx(host, "x.one"))

    async def main() -> list[ActionResult]:
        return list(
            await asyncio.gather(
                transport.execute(a, one, ctx(a, "x.one")), late(c), transport.execute(b, two, ctx(b, "x.two"))
            )
        )

    results = asyncio.run(main())
    assert transport.calls == 2
    assert [r.status for r in results] == ["changed"] * 3
    for host, word in ((a, "one"), (b, "two"), (c, "one")):
        assert (Path(host.vars["root"]) / "greeting.txt").read_text() == f"{word} from {host.name}\n"


def test_values_rendered_apart_for_each_host_still_make_one_call(tmp_path: Path, project: Path) -> None:
    plan = make_plan(project, local_hosts(tmp_path, ["a", "b"]))
    roots = {h.name: h.vars["root"] for h in plan.hosts}
    per_host_vars = {
        h.name: PlaybookAction(path="legacy/site.yml", vars={"greeting": f"hey {h.name}"}) for h in plan.hosts
    }
    results, transport = run_batch(plan, per_host_vars)
    assert transport.calls == 1 and [r.status for r in results] == ["changed"] * 2
    for name, root in roots.items():
        assert (Path(root) / "greeting.txt").read_text() == f"hey {name} from {name}\n"

    per_host_args = {
        name: AnsibleModuleAction(
            module="copy",
            args={"dest": f"{root}/conf", "content": f"{name}:" + secret_marker("pw", False), "mode": "0600"},
        )
        for name, root in roots.items()
    }
    results, transport = run_batch(plan, per_host_args, secrets={"pw": SECRET})
    assert transport.calls == 1 and [r.status for r in results] == ["changed"] * 2
    for name, root in roots.items():
        assert (Path(root) / "conf").read_text() == f"{name}:{SECRET}"
    assert all(SECRET not in r.stdout + r.message for r in results)


def test_a_module_action_keeps_its_arguments_structured(tmp_path: Path, project: Path) -> None:
    plan = make_plan(project, local_hosts(tmp_path, ["a", "b"]))
    target = tmp_path / "shared" / "conf.d"
    action = AnsibleModuleAction(module="file", args={"path": str(target), "state": "directory", "mode": "0750"})
    results, transport = run_batch(plan, action)
    assert transport.calls == 1
    assert sorted(r.status for r in results) == ["changed", "ok"] or [r.status for r in results] == ["changed"] * 2
    assert target.is_dir() and oct(target.stat().st_mode & 0o777) == "0o750"


def test_an_orchc_package_in_the_current_folder_does_not_shadow_the_installed_one(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a checkout of orchc with a non-editable install, where its orchc/ would hide orchc.backends."""
    checkout = tmp_path / "checkout"
    (checkout / "orchc").mkdir(parents=True)
    (checkout / "orchc" / "__init__.py").write_text('raise ImportError("the orchc/ of the current folder")\n')
    monkeypatch.chdir(checkout)
    plan = make_plan(project, local_hosts(tmp_path, ["a"]))
    [result], _ = run_batch(plan, AnsibleModuleAction(module="ping", args={}))
    assert result.status == "ok", result.message


def test_a_role_is_found_in_the_plan_roots_roles_folder(tmp_path: Path, project: Path) -> None:
    tasks = project / "roles" / "motd" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(
        '- copy:\n    dest: "{{ root }}/motd"\n'
        '    content: "{{ motd_text }} on {{ ansible_facts.hostname | length > 0 }}\\n"\n'
    )
    plan = make_plan(project, local_hosts(tmp_path, ["a"]))
    results, _ = run_batch(plan, AnsibleRoleAction(name="motd", vars={"motd_text": "welcome"}))
    assert results[0].status == "changed", results[0].message
    assert (Path(plan.hosts[0].vars["root"]) / "motd").read_text() == "welcome on True\n"


def test_check_mode_changes_nothing_and_reports_what_would_change(tmp_path: Path, project: Path) -> None:
    plan = make_plan(project, local_hosts(tmp_path, ["a", "b"]))
    results, _ = run_batch(plan, PlaybookAction(path="legacy/site.yml"), check_mode=True)
    assert [r.status for r in results] == ["changed", "changed"]
    assert not any((Path(h.vars["root"]) / "greeting.txt").exists() for h in plan.hosts)


def test_diff_in_check_mode_shows_what_ansible_would_change_in_a_file(tmp_path: Path, project: Path) -> None:
    """`orchc run --check --diff` on Ansible content: each host's module diff, as `diff -u` (as Ansible's --diff)."""
    plan = make_plan(project, local_hosts(tmp_path, ["a", "b"]))
    (Path(plan.hosts[0].vars["root"]) / "greeting.txt").write_text("hello from elsewhere\n")
    results, _ = run_batch(plan, PlaybookAction(path="legacy/site.yml"), check_mode=True, diff=True)
    assert [r.status for r in results] == ["changed", "changed"]
    assert "-hello from elsewhere\n+hello from a\n" in results[0].diff
    assert "+hello from b\n" in results[1].diff and results[1].diff.startswith("--- before")
    assert (Path(plan.hosts[0].vars["root"]) / "greeting.txt").read_text() == "hello from elsewhere\n"


def test_secrets_reach_ansible_but_never_the_results_output_or_kept_files(tmp_path: Path, project: Path) -> None:
    (project / "legacy" / "leak.yml").write_text("""\
- hosts: all
  gather_facts: false
  tasks:
    - copy: {dest: "{{ root }}/password", content: "{{ db_password }}"}
    - debug: {msg: "the password is {{ db_password }}"}
    - fail: {msg: "failing with {{ db_password }}"}
      when: inventory_hostname == 'b'
""")
    plan = make_plan(project, local_hosts(tmp_path, ["a", "b"]), {"db_password": secret_marker("db_pw", False)})
    output: list[str] = []
    results, _ = run_batch(plan, PlaybookAction(path="legacy/leak.yml"), secrets={"db_pw": SECRET}, output=output)
    assert [r.status for r in results] == ["changed", "failed"]
    for host in plan.hosts:
        assert (Path(host.vars["root"]) / "password").read_text() == SECRET
    everything = "".join(output) + "".join(r.stdout + r.stderr + r.message for r in results)
    assert "the password is ********" in everything
    assert SECRET not in everything
    kept = project / ".orchc" / "ansible"
    [data_dir] = list(kept.iterdir())
    assert not (data_dir / "secrets.yml").exists()
    for path in data_dir.rglob("*"):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path


def test_a_secret_module_argument_is_templated_from_the_secrets_file_with_no_log(tmp_path: Path, project: Path) -> None:
    plan = make_plan(project, local_hosts(tmp_path, ["a"]))
    dest = tmp_path / "token"
    action = AnsibleModuleAction(
        module="copy", args={"dest": str(dest), "content": "token=" + secret_marker("tok", False)}
    )
    output: list[str] = []
    results, _ = run_batch(plan, action, secrets={"tok": "{{ not_a_template }}"}, output=output)
    assert results[0].status == "changed", results[0].message
    assert dest.read_text() == "token={{ not_a_template }}", "secret values are data, never templates"
    assert "not_a_template" not in "".join(output) + results[0].stdout


def test_a_secret_without_a_value_fails_with_a_clear_message(tmp_path: Path, project: Path) -> None:
    plan = make_plan(project, local_hosts(tmp_path, ["a"]), {"db_password": secret_marker("db_pw", False)})
    results, transport = run_batch(plan, PlaybookAction(path="legacy/site.yml"))
    assert results[0].status == "failed"
    assert "no value for secret db_pw" in results[0].message


def test_a_missing_playbook_fails_the_call_with_its_path(tmp_path: Path, project: Path) -> None:
    plan = make_plan(project, local_hosts(tmp_path, ["a"]))
    results, _ = run_batch(plan, PlaybookAction(path="legacy/nope.yml"))
    assert results[0].status == "failed"
    assert "playbook legacy/nope.yml not found" in results[0].message


def test_a_playbook_whose_plays_skip_the_host_is_ok_and_says_so(tmp_path: Path, project: Path) -> None:
    (project / "legacy" / "db.yml").write_text("- hosts: databases\n  tasks: [{ping: {}}]\n")
    plan = make_plan(project, local_hosts(tmp_path, ["a"]))
    results, _ = run_batch(plan, PlaybookAction(path="legacy/db.yml"))
    assert results[0].status == "ok"
    assert results[0].message == "no play matched this host"


def test_a_syntax_error_fails_every_host_with_ansibles_message(tmp_path: Path, project: Path) -> None:
    (project / "legacy" / "broken.yml").write_text("- hosts: all\n  tasks:\n    - no_such_module_xyz: {}\n")
    plan = make_plan(project, local_hosts(tmp_path, ["a", "b"]))
    results, _ = run_batch(plan, PlaybookAction(path="legacy/broken.yml"))
    assert [r.status for r in results] == ["failed", "failed"]
    assert "no_such_module_xyz" in results[0].stdout
    assert "Warning" not in results[0].stdout  # ansible-core's import of DSA classes, which cryptography warns of
    assert "ansible-playbook ended failed" in results[0].message


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if text.encode() in (entry / "cmdline").read_bytes().replace(b"\0", b" "):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_cancelling_every_caller_stops_ansible_playbook(tmp_path: Path, project: Path) -> None:
    sleep = f"sleep 60.{os.getpid()}"  # this test's own, whatever else runs on the machine
    (project / "legacy" / "slow.yml").write_text(
        f"- hosts: all\n  gather_facts: false\n  tasks: [{{command: {sleep}}}]\n"
    )
    plan = make_plan(project, local_hosts(tmp_path, ["a", "b"]))
    transport = AnsibleTransport(plan, TransportOptions(work_dir=tmp_path / "work"))

    async def main() -> float:
        calls = [
            asyncio.ensure_future(
                transport.execute(
                    h,
                    PlaybookAction(path="legacy/slow.yml"),
                    ActionContext(plan=plan, instance_id=f"t@{h.name}", task_id="t", secrets={}),
                )
            )
            for h in plan.hosts
        ]
        deadline = time.monotonic() + 30
        while not _processes_mentioning(sleep) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert _processes_mentioning(sleep), "the playbook started"
        started = time.monotonic()
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        await transport.close()
        return time.monotonic() - started

    elapsed = asyncio.run(main())
    assert elapsed < 8
    assert not _processes_mentioning(str(tmp_path / "work")), "no ansible process outlives the cancellation"
    assert not _processes_mentioning(sleep)


def test_a_retry_waits_for_the_call_its_host_left_to_end_there(tmp_path: Path, project: Path) -> None:
    """Host a's caller gives up (a timeout) while the call goes on for b, and so on a: the next action on a
    starts only when that call has ended, never beside it."""
    (project / "legacy" / "slow.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - shell: echo first-start >> {{ root }}/log && sleep 2 && echo first-end >> {{ root }}/log\n"
    )
    (project / "legacy" / "quick.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo second >> {{ root }}/log\n"
    )
    plan = make_plan(project, local_hosts(tmp_path, ["a", "b"]))
    a, b = plan.hosts
    log = Path(a.vars["root"]) / "log"
    transport = AnsibleTransport(plan, TransportOptions(work_dir=tmp_path / "work"))

    def context() -> ActionContext:
        return ActionContext(plan=plan, instance_id="t@h", task_id="t", secrets={})

    async def main() -> tuple[ActionResult, ActionResult]:
        first = {
            h.name: asyncio.ensure_future(transport.execute(h, PlaybookAction(path="legacy/slow.yml"), context()))
            for h in (a, b)
        }
        deadline = time.monotonic() + 30
        while not (log.exists() and "first-start" in log.read_text()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        first["a"].cancel()
        await asyncio.gather(first["a"], return_exceptions=True)  # as a timeout ends the runner's attempt
        retry = await transport.execute(a, PlaybookAction(path="legacy/quick.yml"), context())
        return retry, await first["b"]

    retry, on_b = asyncio.run(main())
    assert retry.status == on_b.status == "changed"
    assert log.read_text().split() == ["first-start", "first-end", "second"]


def test_missing_ansible_runner_is_a_clear_run_time_error(tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(
        '{"private_data_dir": "x", "playbook": "x", "project_dir": "x", "inventory": "x", "limit": "a", "cmdline": ""}'
    )
    for hidden in ("ansible_runner", "ansible"):
        script = (
            f"import sys; sys.modules[{hidden!r}] = None\n"
            "from orchc.backends import ansible_worker\n"
            f"sys.exit(ansible_worker.main([{str(request)!r}]))\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        record = yaml.safe_load(done.stdout)
        assert record["type"] == "error"
        assert record["message"].startswith(MISSING_ANSIBLE)
        assert "pip install ansible-runner ansible-core" in record["message"]


def test_inputs_ansible_runner_refuses_are_one_line_errors_not_tracebacks(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    request = tmp_path / "request.json"
    request.write_text(
        f'{{"private_data_dir": "{not_a_folder}", "playbook": "x.yml", "project_dir": "{tmp_path}", '
        f'"inventory": "{tmp_path}/inventory.yml", "limit": "a", "cmdline": ""}}'
    )
    done = subprocess.run(
        [sys.executable, "-m", "orchc.backends.ansible_worker", str(request)], capture_output=True, text=True
    )
    record = yaml.safe_load(done.stdout)
    assert record["type"] == "error" and record["message"].startswith("ansible-runner could not run: ")
    assert "Traceback" not in done.stderr


def test_closing_the_transport_answers_every_waiting_caller(tmp_path: Path, project: Path) -> None:
    plan = make_plan(project, local_hosts(tmp_path, ["a"]))
    transport = AnsibleTransport(plan, TransportOptions(work_dir=tmp_path / "work"))

    async def main() -> BaseException | ActionResult:
        call = asyncio.ensure_future(
            transport.execute(
                plan.hosts[0],
                PlaybookAction(path="legacy/site.yml"),
                ActionContext(plan=plan, instance_id="t@a", task_id="t", secrets={}),
            )
        )
        await asyncio.sleep(0)
        await transport.close()
        return (await asyncio.gather(call, return_exceptions=True))[0]

    assert isinstance(asyncio.run(main()), asyncio.CancelledError)
    assert transport.calls == 0


def test_instances_ready_a_moment_apart_share_one_call(tmp_path: Path, project: Path) -> None:
    """Hosts reach an Ansible task as the native task before it ends on each: one call for all."""
    hosts = local_hosts(tmp_path, ["a", "b", "c"])
    plan = make_plan(project, hosts)
    reached_apart(plan, plan.tasks[0], PlaybookAction(path="legacy/site.yml"), ("0", "0.1", "0.3"))
    transports = TransportSet(plan, TransportOptions(work_dir=tmp_path / "work"))
    ansible = transports.get("ansible")
    assert isinstance(ansible, AnsibleTransport)
    journal = SqliteJournal(tmp_path / "journal.db")
    try:
        result = run_plan(plan, journal, transports, RunnerOptions(limits=Limits(forks=10)), {})
    finally:
        journal.close()
    assert result.outcome == "succeeded"
    assert ansible.calls == 1
    for host in hosts:
        assert (Path(host.vars["root"]) / "greeting.txt").read_text() == f"hello from {host.name}\n"
