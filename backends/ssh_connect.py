"""Opening one verified SSH connection to a host of the Plan.

Where to connect and as whom comes from the host's `ConnectionSpec`
(`connection`), and the known_hosts file from the run's `--known-hosts`, else
the spec's, else `~/.ssh/known_hosts`. The host key is checked against known_hosts,
like OpenSSH with `StrictHostKeyChecking=yes`, or `accept-new` when the run
says `--accept-new-host-keys`: an unknown key is then recorded, but a changed
key always fails.

Of the OpenSSH options an Ansible inventory passes in `ansible_ssh_common_args`
and `ansible_ssh_extra_args`, two decide the route, and are followed:
`ProxyJump` (or `-J`: `[user@]host[:port]`, comma-separated) and
`ProxyCommand`. Jump hosts are verified and authenticated as the host is (its
known_hosts file, its key file or ssh-agent). The other options are OpenSSH's
own and are left to it (the ansible transport passes them on).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from orchc.backends.connection import DEFAULT_KNOWN_HOSTS, ConnectionSpec, SshOptions
from orchc.backends.ssh_asyncssh import asyncssh

KEEPALIVE_INTERVAL = 15.0  # seconds; the connection is declared dead after 3 missed replies
KEEPALIVE_COUNT_MAX = 3
# AES-GCM runs inside OpenSSL; asyncssh's chacha20-poly1305 costs Python work on every packet.
CIPHERS = [
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
]


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
    jumps: tuple[Endpoint, ...] = ()  # ProxyJump: the hosts to go through, in order
    proxy_command: str | None = None  # ProxyCommand: its stdin and stdout reach the host

    @classmethod
    def of(cls, spec: ConnectionSpec, options: SshOptions) -> Endpoint:
        endpoint = cls(
            host=spec.name,
            address=spec.address,
            port=spec.port,
            user=spec.user,
            key_file=spec.key_file,
            known_hosts=(options.known_hosts_of(spec) or Path(DEFAULT_KNOWN_HOSTS)).expanduser(),
        )
        route = ssh_client_options(spec.ssh_args)
        if route.get("proxyjump", "none").lower() != "none":
            return replace(endpoint, jumps=tuple(endpoint.jump_host(spec) for spec in route["proxyjump"].split(",")))
        if route.get("proxycommand", "none").lower() != "none":
            return replace(endpoint, proxy_command=route["proxycommand"])
        return endpoint

    def jump_host(self, spec: str) -> Endpoint:
        """A ProxyJump host, `[user@]host[:port]` (OpenSSH's defaults: this machine's user, port 22)."""
        user, _, place = spec.strip().rpartition("@")
        address, port = place, "22"
        if place.startswith("[") and "]" in place:  # [IPv6 address]:port
            address, _, rest = place[1:].partition("]")
            port = rest.removeprefix(":") or port
        elif place.count(":") == 1:
            address, port = place.split(":")
        if not address or not port.isdigit():
            raise Unreachable(f"ProxyJump '{spec}' of {self.host} is not [user@]host[:port]")
        return Endpoint(
            host=f"jump host {address}",
            address=address,
            port=int(port),
            user=user or getpass.getuser(),
            key_file=self.key_file,
            known_hosts=self.known_hosts,
        )

    @property
    def expanded_proxy_command(self) -> str:
        """The ProxyCommand with OpenSSH's tokens in place: %h and %n the address (what Ansible gives
        ssh as the host), %p the port, %r the user, %% a %."""
        tokens = {"h": self.address, "n": self.address, "p": str(self.port), "r": self.user, "%": "%"}
        return re.sub(r"%(.)", lambda match: tokens.get(match.group(1), match.group(0)), self.proxy_command or "")

    @property
    def route(self) -> str:
        """How the connection gets there, for messages: '' when it goes straight."""
        if self.jumps:
            return " via " + " and ".join(f"{jump.address}:{jump.port}" for jump in self.jumps)
        return f" via ProxyCommand {self.proxy_command!r}" if self.proxy_command else ""

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH files this endpoint's key under."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    def listed_keys(self, known_hosts: asyncssh.SSHKnownHosts) -> list[asyncssh.SSHKey]:
        return list(known_hosts.match(self.address, "", None if self.port == 22 else self.port)[0])


def ssh_client_options(args: str) -> dict[str, str]:
    """The OpenSSH options (`-o Name=value`, `-o 'Name value'`, `-J jump`) of ssh arguments (a host's
    `ansible_ssh_common_args` and `ansible_ssh_extra_args`), by lower-case name; as in OpenSSH, an
    option's first value counts."""
    try:
        words = shlex.split(args)
    except ValueError as exc:
        raise Unreachable(f"cannot read the ssh arguments {args.strip()!r}: {exc}") from exc
    options: dict[str, str] = {}
    for i, word in enumerate(words):
        if word in ("-o", "-J"):
            flag, value = word, words[i + 1] if i + 1 < len(words) else ""
        elif word.startswith(("-o", "-J")):
            flag, value = word[:2], word[2:]
        else:
            continue
        if flag == "-J" and value:
            options.setdefault("proxyjump", value)
        elif flag == "-o" and value:
            name, _, setting = value.replace("=", " ", 1).partition(" ")
            options.setdefault(name.lower(), setting.strip())
    return options


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
    endpoint: Endpoint,
    options: SshOptions,
    known_hosts: KnownHostsFiles,
    tunnel: asyncssh.SSHClientConnection | None = None,
) -> asyncssh.SSHClientConnection:
    """Open and authenticate a connection (through `tunnel`, the connection to the last of the
    endpoint's jump hosts, or its ProxyCommand), or raise `Unreachable` with a message that says why."""
    route: dict[str, Any] = {}  # nothing given: asyncssh's defaults, as before
    if tunnel is not None:
        route["tunnel"] = tunnel
    if endpoint.proxy_command:
        route["proxy_command"] = endpoint.expanded_proxy_command
    listed = known_hosts.load(endpoint.known_hosts)
    check = _HostKeyCheck(endpoint, endpoint.listed_keys(listed), options.accept_new_host_keys)
    if endpoint.key_file and not Path(endpoint.key_file).is_file():
        raise Unreachable(
            f"the private key of {endpoint.host} ({endpoint.key_file}, from ansible_ssh_private_key_file) "
            "does not exist"
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
            **route,
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise Unreachable(check.rejection or f"host key of {endpoint.host} not accepted: {exc.reason}") from exc
    except asyncssh.PermissionDenied as exc:
        raise Unreachable(
            f"{endpoint.user}@{endpoint.address}:{endpoint.port} refused every key offered "
            f"({endpoint.key_file or 'ssh-agent and ~/.ssh keys'}): {exc.reason}"
        ) from exc
    except TimeoutError as exc:
        raise Unreachable(
            f"{endpoint.address}:{endpoint.port}{endpoint.route} did not answer within {options.connect_timeout:g}s"
        ) from exc
    except (OSError, asyncssh.Error) as exc:
        reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else str(exc) or type(exc).__name__
        raise Unreachable(f"cannot connect to {endpoint.address}:{endpoint.port}{endpoint.route}: {reason}") from exc
    if check.new_key is not None:
        try:
            await known_hosts.record(endpoint, check.new_key)
        except (OSError, Unreachable) as exc:
            conn.close()
            raise Unreachable(
                f"cannot record the host key of {endpoint.host} in {endpoint.known_hosts}: {exc}"
            ) from exc
    return conn
