"""The sshd plugin: a real OpenSSH server that clients reach with the inventory it writes."""

import subprocess
from pathlib import Path

import yaml


def _ssh(host_vars: dict, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={host_vars['orchc_known_hosts']}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-i",
            host_vars["ansible_ssh_private_key_file"],
            "-p",
            str(host_vars["ansible_port"]),
            f"{host_vars['ansible_user']}@{host_vars['ansible_host']}",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_inventory_hosts_reach_the_server_with_strict_host_keys(ssh_inventory) -> None:
    inventory = yaml.safe_load(ssh_inventory(["a", "b"], groups={"web": ["a", "b"]}).read_text())
    hosts = inventory["all"]["hosts"]
    assert list(inventory["all"]["children"]["web"]["hosts"]) == ["a", "b"]
    assert hosts["a"]["root"] != hosts["b"]["root"]
    result = _ssh(hosts["a"], "echo hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"


def test_a_private_server_can_be_stopped_and_resumed(make_sshd, tmp_path: Path) -> None:
    server = make_sshd()
    host_vars = server.host_vars(tmp_path)
    server.stop()
    assert _ssh(host_vars, "true").returncode == 255
    server.resume()
    assert _ssh(host_vars, "true").returncode == 0
