"""Connecting: host keys verified against known_hosts (unknown keys need --accept-new-host-keys, changed keys
always fail), key files and ssh-agent."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from orchc.backends.transport import ActionResult
from orchc.plan import RunAction
from ssh_helpers import run_actions, ssh_host


def _fingerprint(public_key: Path) -> str:
    return subprocess.run(
        ["ssh-keygen", "-l", "-f", str(public_key)], capture_output=True, text=True, check=True
    ).stdout.split()[1]


def _run_echo(sshd, tmp_path: Path, inventory_known_hosts: Path, **options) -> ActionResult:
    host = ssh_host(sshd, "web1", tmp_path, orchc_known_hosts=str(inventory_known_hosts))
    return run_actions(host, RunAction(command="echo hi"), **options)[0]


def test_an_unknown_host_key_fails_naming_host_fingerprint_and_flag(sshd, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    result = _run_echo(sshd, tmp_path, known_hosts)
    assert result.status == "unreachable"
    assert result.message.startswith(f"host key of web1 ([127.0.0.1]:{sshd.port}) is unknown")
    assert _fingerprint(sshd.folder / "host_key.pub") in result.message
    assert "--accept-new-host-keys" in result.message
    assert not known_hosts.exists()


def test_accept_new_records_the_key_which_is_then_trusted(sshd, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    assert _run_echo(sshd, tmp_path, known_hosts, accept_new_host_keys=True).status == "changed"
    assert known_hosts.read_text() == sshd.known_hosts_line()
    assert _run_echo(sshd, tmp_path, known_hosts).status == "changed"
    assert _run_echo(sshd, tmp_path, known_hosts, accept_new_host_keys=True).status == "changed"
    assert known_hosts.read_text() == sshd.known_hosts_line()  # recorded once


def test_the_run_wide_known_hosts_option_wins_over_the_inventory(sshd, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    assert _run_echo(sshd, tmp_path, sshd.known_hosts, known_hosts=empty).status == "unreachable"


def test_a_changed_host_key_always_fails(sshd, tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    key_type, key_data = (tmp_path / "other.pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key_data}\n")
    result = _run_echo(sshd, tmp_path, known_hosts, accept_new_host_keys=True)
    assert result.status == "unreachable"
    assert "CHANGED" in result.message
    assert _fingerprint(sshd.folder / "host_key.pub") in result.message
    assert known_hosts.read_text() == f"[127.0.0.1]:{sshd.port} {key_type} {key_data}\n"


def test_a_missing_private_key_file_is_named(sshd, tmp_path: Path) -> None:
    host = ssh_host(sshd, "web1", tmp_path, ansible_ssh_private_key_file=str(tmp_path / "nope"))
    [result] = run_actions(host, RunAction(command="true"))
    assert result.status == "unreachable"
    assert f"{tmp_path / 'nope'}, from ansible_ssh_private_key_file) does not exist" in result.message


def test_a_key_the_server_refuses_is_reported(sshd, tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True)
    host = ssh_host(sshd, "web1", tmp_path, ansible_ssh_private_key_file=str(tmp_path / "stranger"))
    [result] = run_actions(host, RunAction(command="true"))
    assert result.status == "unreachable"
    assert "refused every key offered" in result.message


def test_without_a_key_file_the_ssh_agent_authenticates(sshd, tmp_path: Path, monkeypatch) -> None:
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        env = {"SSH_AUTH_SOCK": str(socket_path)}
        for _ in range(100):
            if socket_path.exists():
                break
            time.sleep(0.02)
        subprocess.run(["ssh-add", "-q", str(sshd.client_key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        host = ssh_host(sshd, "web1", tmp_path)
        host.vars.pop("ansible_ssh_private_key_file")
        [result] = run_actions(host, RunAction(command="echo via agent"))
    finally:
        agent.terminate()
        agent.wait()
    assert (result.status, result.stdout) == ("changed", "via agent\n")


def test_an_unreadable_known_hosts_file_is_named(sshd, tmp_path: Path) -> None:
    folder = tmp_path / "known_hosts.d"
    folder.mkdir()
    result = _run_echo(sshd, tmp_path, folder)
    assert result.status == "unreachable"
    assert result.message.startswith(f"cannot read the known_hosts file {folder}: [Errno 21] Is a directory")
