"""A real OpenSSH server on 127.0.0.1 for tests and benchmarks (pytest plugin `sshd`).

Everything lives in a temp dir: the host key, the user key, `authorized_keys`,
`known_hosts`, the pid file and the log. The machine's own `~/.ssh` is never
read or written. Tests run as root, so the server logs the current user in,
with HOME set to `<folder>/home`: the login shell reads `<folder>/home/.bashrc`
(absent: nothing), not the machine's, and remote tools write there.

Fixtures:

- `sshd` (session): the shared `SshServer`. Its `known_hosts` file already
  holds the server's host key.
- `make_sshd` (function): a factory of private servers, for tests that stop,
  restart or kill them, or change their login (`make_sshd()` returns a
  started `SshServer`; it is stopped at the end of the test).
- `ssh_inventory` (function): writes a YAML inventory of named hosts that all
  point at the session server, and returns its path::

      def test_x(ssh_inventory):
          inventory = ssh_inventory(["web1", "web2"], groups={"web": ["web1", "web2"]})

  Every host gets `ansible_host`, `ansible_port`, `ansible_user`,
  `ansible_ssh_private_key_file`, `orchc_known_hosts` (the known_hosts file,
  read by orchc's SSH transport), `ansible_ssh_common_args` (so Ansible checks
  the same file, strictly), `ansible_python_interpreter` and `root`: a temp folder of its own, so that hosts
  sharing one machine don't collide. `host_vars={"web1": {...}}` adds or
  overrides variables of one host; `server=` points the hosts at another server.

Outside pytest (benchmarks): put `tests/` on `sys.path`, `import sshd`, then
`server = sshd.SshServer.start(folder)` ... `server.stop()`;
`server.write_inventory(path, names, groups)` writes the same inventory.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

SSHD = "/usr/sbin/sshd"
PRIVILEGE_SEPARATION_DIR = Path("/run/sshd")
START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def _sshd_config(folder: Path, port: int, sftp: bool, max_startups: int) -> str:
    return "\n".join(
        [
            "ListenAddress 127.0.0.1",
            f"Port {port}",
            f"HostKey {folder / 'host_key'}",
            f"AuthorizedKeysFile {folder / 'authorized_keys'}",
            f"PidFile {folder / 'sshd.pid'}",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "MaxSessions 200",
            f"MaxStartups {max_startups}:30:{max_startups + max_startups // 2}",
            "UseDNS no",
            "LogLevel ERROR",
            "Subsystem sftp internal-sftp" if sftp else "",
            f"SetEnv HOME={folder / 'home'}",
            "",
        ]
    )


@dataclass
class SshServer:
    """One running `sshd -D` and the files a client needs to reach it."""

    folder: Path
    port: int
    user: str
    client_key: Path  # private key of `user`, listed in authorized_keys
    known_hosts: Path  # holds this server's host key, as `[127.0.0.1]:port`
    sftp: bool = True  # serve the SFTP subsystem (from the next `resume`)
    max_startups: int = 200  # connections being opened at once before sshd starts refusing some (a bench raises it)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    address = "127.0.0.1"

    @classmethod
    def start(cls, folder: Path, max_startups: int = 200) -> SshServer:
        """Generate keys and config in `folder` (created if missing) and start the server."""
        (folder / "home").mkdir(parents=True, exist_ok=True)
        _keygen(folder / "host_key", "orchc-test-host")
        _keygen(folder / "client_key", "orchc-test-client")
        shutil.copyfile(folder / "client_key.pub", folder / "authorized_keys")
        server = cls(
            folder=folder,
            port=_free_port(),
            user=getpass.getuser(),
            client_key=folder / "client_key",
            known_hosts=folder / "known_hosts",
            max_startups=max_startups,
        )
        server.known_hosts.write_text(server.known_hosts_line())
        server.resume()
        return server

    def known_hosts_line(self) -> str:
        key_type, key_data = (self.folder / "host_key.pub").read_text().split()[:2]
        return f"[{self.address}]:{self.port} {key_type} {key_data}\n"

    @property
    def config(self) -> Path:
        return self.folder / "sshd_config"

    def resume(self) -> None:
        """(Re)start the server on its port; returns once it accepts connections."""
        PRIVILEGE_SEPARATION_DIR.mkdir(mode=0o755, exist_ok=True)
        self.config.write_text(_sshd_config(self.folder, self.port, self.sftp, self.max_startups))
        log = open(self.folder / "sshd.log", "ab")
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited at start: {(self.folder / 'sshd.log').read_text()}")
            try:
                socket.create_connection((self.address, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"sshd did not listen on port {self.port} within {START_TIMEOUT}s")

    def stop(self) -> None:
        """Stop the listener and every connection it serves."""
        self.kill_connections()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def connection_pids(self) -> list[int]:
        """Pids of the sshd children that serve the open connections."""
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def kill_connections(self) -> None:
        """Drop every open connection at once, as a network failure or a crash would."""
        for pid in self.connection_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def client_argv(self) -> list[str]:
        """The OpenSSH client's command to this server, verifying its key; append the remote command."""
        return [
            "ssh",
            "-p",
            str(self.port),
            "-i",
            str(self.client_key),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            f"{self.user}@{self.address}",
        ]

    def host_vars(self, root: Path) -> dict[str, Any]:
        """Inventory variables that reach this server, for a host whose scratch folder is `root`."""
        return {
            "ansible_host": self.address,
            "ansible_port": self.port,
            "ansible_user": self.user,
            "ansible_ssh_private_key_file": str(self.client_key),
            "orchc_known_hosts": str(self.known_hosts),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes",
            # The target is this machine: its interpreter, not Ansible's discovery (which may pick a stale shim).
            "ansible_python_interpreter": sys.executable,
            "root": str(root),
        }

    def write_inventory(
        self,
        path: Path,
        names: Sequence[str],
        groups: Mapping[str, Sequence[str]] | None = None,
        host_vars: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Path:
        """Write a YAML inventory of `names`, every host on this server with its own `root` folder."""
        roots = path.parent / f"{path.stem}-roots"
        hosts: dict[str, dict[str, Any]] = {}
        for name in names:
            (roots / name).mkdir(parents=True, exist_ok=True)
            hosts[name] = {**self.host_vars(roots / name), **(host_vars or {}).get(name, {})}
        children = {group: {"hosts": {name: None for name in members}} for group, members in (groups or {}).items()}
        inventory: dict[str, Any] = {"all": {"hosts": hosts}}
        if children:
            inventory["all"]["children"] = children
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        return path


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = SshServer.start(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture
def make_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], SshServer]]:
    servers: list[SshServer] = []

    def make() -> SshServer:
        servers.append(SshServer.start(tmp_path_factory.mktemp("sshd-private")))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


InventoryFactory = Callable[..., Path]


@pytest.fixture
def ssh_inventory(sshd: SshServer, tmp_path: Path) -> InventoryFactory:
    def write(
        names: Sequence[str],
        groups: Mapping[str, Sequence[str]] | None = None,
        host_vars: Mapping[str, Mapping[str, Any]] | None = None,
        server: SshServer | None = None,
        path: Path | None = None,
    ) -> Path:
        return (server or sshd).write_inventory(path or tmp_path / "inventory.yml", names, groups, host_vars)

    return write
