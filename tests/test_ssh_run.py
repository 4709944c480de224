"""`orchc run` over the SSH transport, end to end: the openstack-mini example, faults, host keys."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from orchc_process import orchc

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "openstack-mini"


def _states(events: Path) -> dict[str, str]:
    states = {}
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "transition":
            states[event["instance"]] = event["state"]
    return states


def test_openstack_mini_runs_over_ssh_and_a_rerun_is_up_to_date(ssh_inventory, tmp_path: Path) -> None:
    groups = yaml.safe_load((EXAMPLE / "inventory.yml").read_text())["all"]["children"]
    members = {group: list(spec["hosts"]) for group, spec in groups.items()}
    inventory = ssh_inventory([name for hosts in members.values() for name in hosts], groups=members)
    hosts = yaml.safe_load(inventory.read_text())["all"]["hosts"]

    first = orchc(
        "run", str(EXAMPLE), "-i", str(inventory), "--journal", "j.db", "--events", "first.jsonl", cwd=tmp_path
    )
    assert first.returncode == 0, first.stdout + first.stderr
    states = _states(tmp_path / "first.jsonl")
    assert "changed" in states.values() and set(states.values()) <= {"ok", "changed", "skipped"}
    keystone_conf = Path(hosts["controller1"]["root"]) / "etc" / "keystone" / "keystone.conf"
    assert keystone_conf.is_file()

    again = orchc(
        "run", str(EXAMPLE), "-i", str(inventory), "--journal", "j.db", "--events", "again.jsonl", cwd=tmp_path
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert set(_states(tmp_path / "again.jsonl").values()) <= {"skipped", "ok"}


SERVICE = """
role web { services app }
service app {
  task hello { run "echo hello from {{ host.name }}" }
}
"""


def test_an_unknown_host_key_stops_the_run_until_known_hosts_is_given_or_the_key_accepted(sshd, tmp_path: Path) -> None:
    (tmp_path / "app.orch").write_text(SERVICE)
    known_hosts = tmp_path / "known_hosts"
    sshd.write_inventory(
        tmp_path / "inventory.yml", ["web1"], {"web": ["web1"]}, {"web1": {"orchc_known_hosts": str(known_hosts)}}
    )

    refused = orchc("run", "app.orch", "--journal", "j.db", cwd=tmp_path)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    output = refused.stdout + refused.stderr
    assert "unreachable" in output and "--accept-new-host-keys" in output
    assert "Traceback" not in output

    given = orchc("run", "app.orch", "--journal", "j.db", "--known-hosts", str(sshd.known_hosts), cwd=tmp_path)
    assert given.returncode == 0, given.stdout + given.stderr
    assert not known_hosts.exists()

    accepted = orchc("run", "app.orch", "--journal", "j.db", "--force", "--accept-new-host-keys", cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert known_hosts.read_text() == sshd.known_hosts_line()


def test_a_run_over_ssh_and_ansible_prints_no_library_warnings(sshd, tmp_path: Path) -> None:
    """asyncssh's DSA support makes cryptography warn (CryptographyDeprecationWarning) when it loads."""
    (tmp_path / "app.orch").write_text(SERVICE.replace("}\n}", "}\n  task ping { after hello  ansible ping { } }\n}"))
    sshd.write_inventory(tmp_path / "inventory.yml", ["web1"], {"web": ["web1"]})
    result = orchc("run", "app.orch", "--journal", "j.db", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stderr


def test_an_unreachable_host_within_tolerance_leaves_and_the_others_finish(sshd, tmp_path: Path) -> None:
    (tmp_path / "app.orch").write_text(SERVICE.replace("services app", "services app\n  tolerate 1"))
    names = ["web1", "web2", "web3"]
    sshd.write_inventory(tmp_path / "inventory.yml", names, {"web": names}, {"web2": {"ansible_port": 1}})

    result = orchc("run", "app.orch", "--journal", "j.db", "--events", "events.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _states(tmp_path / "events.jsonl") == {
        "app.hello@web1": "changed",
        "app.hello@web2": "unreachable",
        "app.hello@web3": "changed",
    }


RETRIED = """
role web { services app }
service app {
  task slow {
    run "touch {{ host.vars.root }}/attempt-$$; sleep 2"
    retries 1
  }
}
"""


def test_a_connection_killed_mid_run_fails_the_attempt_and_the_retry_reconnects(make_sshd, tmp_path: Path) -> None:
    server = make_sshd()
    (tmp_path / "app.orch").write_text(RETRIED)
    server.write_inventory(tmp_path / "inventory.yml", ["web1"], {"web": ["web1"]})
    root = tmp_path / "inventory-roots" / "web1"
    run = subprocess.Popen(
        [sys.executable, "-m", "orchc", "run", "app.orch", "--journal", "j.db", "--events", "events.jsonl"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(root.glob("attempt-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill_connections()
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 0, output
    assert len(list(root.glob("attempt-*"))) == 2
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    steps = [(e["attempt"], e["state"], e["message"]) for e in events if e["event"] == "transition"]
    assert steps[0][:2] == (1, "running")
    assert steps[1][:2] == (2, "running") and "connection to web1 lost during run" in steps[1][2]
    assert steps[-1][:2] == (2, "changed")
    status = orchc("status", "--journal", "j.db", cwd=tmp_path)
    assert status.returncode == 0 and "changed" in status.stdout, status.stdout + status.stderr
