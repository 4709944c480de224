"""Opening one verified SSH connection to a host of the Plan.

Where to connect and as whom comes from the Host (`address`, `port`, `user`)
and its inventory variables (`ansible_ssh_private_key_file`, the known_hosts
file in `orchc_known_hosts`). The host key is checked against known_hosts,
like OpenSSH with `StrictHostKeyChecking=yes`, or `accept-new` when the run
says `--accept-new-host-keys`: an unknown key is then recorded, but a changed
key always fails.
"""

from __future__ import annotations

import asyncio
import getpass
import os
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from orchc.backends.transport import TransportOptions
from orchc.plan import Host

KNOWN_HOSTS_VAR = "orchc_known_hosts"
KEEPALIVE_INTERVAL = 15.0  # seconds; the connection is declared dead after 3 missed replies
KEEPALIVE_COUNT_MAX = 3
# AES-GCM runs inside OpenSSL; asyncssh's chacha20-poly1305 costs Python work on every packet.
CIPHERS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr"]


class Unreachable(Exception):
    """The host could not be reached or authenticated; the message says why, for people."""


@dataclass(frozen=True)
class Endpoint:
    """How to reach one host."""

    host: str  # inventory name, for messages
    address: str
    port: int
    user: str
    key_file: str | None
    known_hosts: Path

    @classmethod
    def of(cls, host: Host, options: TransportOptions) -> "Endpoint":
        known_hosts = options.known_hosts or host.vars.get(KNOWN_HOSTS_VAR) or "~/.ssh/known_hosts"
        key_file = host.vars.get("ansible_ssh_private_key_file") or host.vars.get("ansible_private_key_file")
        return cls(
            host=host.name,
            address=host.address,
            port=host.port or int(host.vars.get("ansible_port", 22)),
            user=host.user or host.vars.get("ansible_user") or getpass.getuser(),
            key_file=str(Path(key_file).expanduser()) if key_file else None,
            known_hosts=Path(known_hosts).expanduser(),
        )

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH files this endpoint's key under."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    def listed_keys(self, known_hosts: asyncssh.SSHKnownHosts) -> list[asyncssh.SSHKey]:
        return known_hosts.match(self.address, "", None if self.port == 22 else self.port)[0]


class KnownHostsFiles:
    """Reads known_hosts files and records accepted keys, one writer at a time."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    def load(self, path: Path) -> asyncssh.SSHKnownHosts:
        try:
            return asyncssh.import_known_hosts(path.read_text())
        except FileNotFoundError:
            return asyncssh.import_known_hosts("")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise Unreachable(f"cannot read the known_hosts file {path}: {exc}") from exc

    async def record(self, endpoint: Endpoint, key: asyncssh.SSHKey) -> None:
        async with self._lock:
            trusted = endpoint.listed_keys(self.load(endpoint.known_hosts))
            if key in trusted:
                return  # another host on the same address recorded it first
            endpoint.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with endpoint.known_hosts.open("a") as out:
                key_type, key_data = key.export_public_key("openssh").decode().split()[:2]
                out.write(f"{endpoint.known_hosts_name} {key_type} {key_data}\n")


class _HostKeyCheck(asyncssh.SSHClient):
    """Called by asyncssh for a key that known_hosts does not list: accept it or say why not."""

    def __init__(self, endpoint: Endpoint, trusted: list[asyncssh.SSHKey], accept_new: bool) -> None:
        self._endpoint = endpoint
        self._trusted = trusted
        self._accept_new = accept_new
        self.rejection = ""
        self.new_key: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        e = self._endpoint
        fingerprint = key.get_fingerprint("sha256")
        if self._trusted:
            self.rejection = (
                f"host key of {e.host} ({e.known_hosts_name}) CHANGED: the server offers {key.get_algorithm()} "
                f"{fingerprint}, which differs from the key recorded in {e.known_hosts}. Someone may be "
                f"intercepting the connection, or the host was reinstalled; if you trust the new key, remove "
                f"the old line for {e.known_hosts_name} from {e.known_hosts} and run again"
            )
            return False
        if not self._accept_new:
            self.rejection = (
                f"host key of {e.host} ({e.known_hosts_name}) is unknown: {key.get_algorithm()} {fingerprint} "
                f"is not in {e.known_hosts}. Check the fingerprint, then run again with --accept-new-host-keys "
                f"to record it"
            )
            return False
        self.new_key = key
        return True


async def connect(
    endpoint: Endpoint, options: TransportOptions, known_hosts: KnownHostsFiles
) -> asyncssh.SSHClientConnection:
    """Open and authenticate a connection, or raise `Unreachable` with a message that says why."""
    listed = known_hosts.load(endpoint.known_hosts)
    check = _HostKeyCheck(endpoint, endpoint.listed_keys(listed), options.accept_new_host_keys)
    if endpoint.key_file and not Path(endpoint.key_file).is_file():
        raise Unreachable(
            f"the private key of {endpoint.host} ({endpoint.key_file}, from ansible_ssh_private_key_file) does not exist"
        )
    try:
        conn = await asyncssh.connect(
            endpoint.address,
            port=endpoint.port,
            username=endpoint.user,
            client_factory=lambda: check,
            known_hosts=listed,
            client_keys=[endpoint.key_file] if endpoint.key_file else (),
            connect_timeout=options.connect_timeout,
            login_timeout=options.connect_timeout,
            keepalive_interval=KEEPALIVE_INTERVAL,
            keepalive_count_max=KEEPALIVE_COUNT_MAX,
            encryption_algs=CIPHERS,
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise Unreachable(check.rejection or f"host key of {endpoint.host} not accepted: {exc.reason}") from exc
    except asyncssh.PermissionDenied as exc:
        raise Unreachable(
            f"{endpoint.user}@{endpoint.address}:{endpoint.port} refused every key offered "
            f"({endpoint.key_file or 'ssh-agent and ~/.ssh keys'}): {exc.reason}"
        ) from exc
    except (asyncio.TimeoutError, TimeoutError) as exc:
        raise Unreachable(f"{endpoint.address}:{endpoint.port} did not answer within {options.connect_timeout:g}s") from exc
    except (OSError, asyncssh.Error) as exc:
        reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else str(exc) or type(exc).__name__
        raise Unreachable(f"cannot connect to {endpoint.address}:{endpoint.port}: {reason}") from exc
    if check.new_key is not None:
        try:
            await known_hosts.record(endpoint, check.new_key)
        except (OSError, Unreachable) as exc:
            conn.close()
            raise Unreachable(f"cannot record the host key of {endpoint.host} in {endpoint.known_hosts}: {exc}") from exc
    return conn
