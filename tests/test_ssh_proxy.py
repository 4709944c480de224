"""Reaching hosts through a jump host: ProxyJump / -J and ProxyCommand from the inventory's ssh arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchc.backends.connection import ConnectionSpec
from orchc.backends.ssh_connect import ssh_client_options
from orchc.plan import Host, RunAction
from ssh_helpers import run_actions, ssh_host
from sshd import SshServer, _free_port


@pytest.fixture
def bastion(make_sshd, sshd: SshServer) -> SshServer:
    """A second server that lets the first server's client key in, as a jump host does."""
    server = make_sshd()
    with (server.folder / "authorized_keys").open("a") as keys:
        keys.write((sshd.folder / "client_key.pub").read_text())
    return server


def _run_echo(sshd: SshServer, tmp_path: Path, ssh_args: str, known_hosts: Path | None = None):
    host = ssh_host(
        sshd,
        "web1",
        tmp_path / "root",
        ansible_ssh_common_args=ssh_args,
        **({"orchc_known_hosts": str(known_hosts)} if known_hosts else {}),
    )
    return run_actions(host, RunAction(command="echo hi"))[0]


def _known_hosts(tmp_path: Path, *servers: SshServer) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text("".join(server.known_hosts_line() for server in servers))
    return path


def test_proxyjump_goes_through_the_jump_host(sshd: SshServer, bastion: SshServer, tmp_path: Path) -> None:
    known_hosts = _known_hosts(tmp_path, sshd, bastion)
    result = _run_echo(sshd, tmp_path, f"-o ProxyJump={bastion.user}@127.0.0.1:{bastion.port}", known_hosts)
    assert (result.status, result.stdout) == ("changed", "hi\n"), result.message
    result = _run_echo(sshd, tmp_path, f"-J {bastion.user}@127.0.0.1:{bastion.port}", known_hosts)
    assert result.status == "changed", result.message


def test_a_jump_host_that_does_not_answer_makes_the_host_unreachable(sshd: SshServer, tmp_path: Path) -> None:
    """The host itself is reachable: only the jump host's failure can explain this."""
    port = _free_port()
    result = _run_echo(sshd, tmp_path, f"-o ProxyJump=127.0.0.1:{port}")
    assert result.status == "unreachable"
    assert result.message == f"jump host 127.0.0.1: cannot connect to 127.0.0.1:{port}: Connection refused"


def test_a_jump_hosts_unknown_key_is_refused_like_the_hosts(
    sshd: SshServer, bastion: SshServer, tmp_path: Path
) -> None:
    result = _run_echo(sshd, tmp_path, f"-o ProxyJump=127.0.0.1:{bastion.port}", _known_hosts(tmp_path, sshd))
    assert result.status == "unreachable"
    assert result.message.startswith(
        f"jump host 127.0.0.1: host key of jump host 127.0.0.1 ([127.0.0.1]:{bastion.port}) is unknown"
    )


def test_proxycommand_reaches_the_host_through_its_stdin_and_stdout(
    sshd: SshServer, bastion: SshServer, tmp_path: Path
) -> None:
    known_hosts = _known_hosts(tmp_path, sshd, bastion)
    command = (
        f"ssh -F /dev/null -q -o BatchMode=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile={known_hosts} -i {sshd.client_key} -p {bastion.port} "
        f"-W %h:%p {bastion.user}@127.0.0.1"
    )
    result = _run_echo(sshd, tmp_path, f"-o 'ProxyCommand={command}'", known_hosts)
    assert (result.status, result.stdout) == ("changed", "hi\n"), result.message


def test_a_failing_proxycommand_is_named(sshd: SshServer, tmp_path: Path) -> None:
    result = _run_echo(sshd, tmp_path, "-o ProxyCommand=false")
    assert result.status == "unreachable"
    assert result.message.startswith(f"cannot connect to 127.0.0.1:{sshd.port} via ProxyCommand 'false': ")


def test_a_proxyjump_that_is_not_user_host_port_is_named(sshd: SshServer, tmp_path: Path) -> None:
    result = _run_echo(sshd, tmp_path, "-J bastion:ssh")
    assert (result.status, result.message) == (
        "unreachable",
        "ProxyJump 'bastion:ssh' of web1 is not [user@]host[:port]",
    )


@pytest.mark.parametrize(
    ("common", "extra", "expected"),
    [
        (
            "-o ProxyJump=admin@b:2222 -o StrictHostKeyChecking=no",
            "",
            {"proxyjump": "admin@b:2222", "stricthostkeychecking": "no"},
        ),
        ("-oProxyJump=b1,b2", "-J other", {"proxyjump": "b1,b2"}),  # the first value counts, as in OpenSSH
        ("-J b", "", {"proxyjump": "b"}),
        ("-o 'ProxyCommand ssh -W %h:%p -q bastion'", "", {"proxycommand": "ssh -W %h:%p -q bastion"}),
        ('-o ProxyCommand="ssh -W %h:%p bastion"', "", {"proxycommand": "ssh -W %h:%p bastion"}),
        ("-C -v", "-o ServerAliveInterval=5", {"serveraliveinterval": "5"}),
    ],
)
def test_ssh_options_are_read_as_openssh_reads_them(common: str, extra: str, expected: dict[str, str]) -> None:
    host = Host(name="h", address="h", vars={"ansible_ssh_common_args": common, "ansible_ssh_extra_args": extra})
    assert ssh_client_options(ConnectionSpec.of(host).ssh_args) == expected
