"""How a host is reached and as whom its actions run: read once from its inventory variables.

`ConnectionSpec.of(host)` is the one reader of the connection variables, for
every transport: the Host's address, port and user (the compiler's reading of
`ansible_host`, `ansible_port`, `ansible_user`), then `ansible_user` (when the
Host has none), `ansible_ssh_private_key_file` (or `ansible_private_key_file`),
`orchc_known_hosts`, `ansible_ssh_common_args` and `ansible_ssh_extra_args`
(the OpenSSH options orchc follows: see `ssh_connect`),
`ansible_python_interpreter` (the SSH agent's interpreter, default `python3`),
`orchc_agent` (true: always start the agent, false: never; unset: where the
host has enough to do, see `ssh`), `ansible_become` and
`ansible_become_user` (default root).

`SshOptions` are the run's own settings for SSH (`orchc run` flags), which the
`ssh` transport uses and the `ansible` transport passes on to Ansible's ssh.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from orchc.plan import Host

KNOWN_HOSTS_VAR = "orchc_known_hosts"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


def _inventory_flag(value: Any) -> bool:
    """An inventory boolean: YAML true, or the strings Ansible accepts."""
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ConnectionSpec:
    name: str  # the inventory name, for messages
    kind: Literal["ssh", "local"]
    address: str
    port: int
    user: str  # who logs in
    key_file: str | None
    known_hosts: str | None  # the host's own known_hosts file (orchc_known_hosts)
    ssh_args: str  # ansible_ssh_common_args, then ansible_ssh_extra_args
    agent_python: str | None  # the interpreter the SSH agent runs with; None: no agent
    agent_always: bool  # `orchc_agent: true`: start it however little the host has to do
    become: bool  # the host's ansible_become
    become_user: str

    @classmethod
    def of(cls, host: Host) -> ConnectionSpec:
        vars_ = host.vars
        key_file = vars_.get("ansible_ssh_private_key_file") or vars_.get("ansible_private_key_file")
        interpreter = str(vars_.get("ansible_python_interpreter", "python3"))
        return cls(
            name=host.name,
            kind=host.connection,
            address=host.address,
            port=host.port or int(vars_.get("ansible_port", 22)),
            user=host.user or vars_.get("ansible_user") or getpass.getuser(),
            key_file=str(Path(key_file).expanduser()) if key_file else None,
            known_hosts=str(vars_[KNOWN_HOSTS_VAR]) if vars_.get(KNOWN_HOSTS_VAR) else None,
            ssh_args=f"{vars_.get('ansible_ssh_common_args') or ''} {vars_.get('ansible_ssh_extra_args') or ''}",
            agent_python=(
                ("python3" if interpreter.startswith("auto") else interpreter)
                if _inventory_flag(vars_.get("orchc_agent", True))
                else None
            ),
            agent_always="orchc_agent" in vars_ and _inventory_flag(vars_["orchc_agent"]),
            become=_inventory_flag(vars_.get("ansible_become", False)),
            become_user=str(vars_.get("ansible_become_user", "root")),
        )

    def acting_user(self, task_becomes: bool) -> str | None:
        """Whom an action runs as when not as the login user: the task's `become`, or the host's
        `ansible_become`, to `ansible_become_user` (default root), as in Ansible."""
        return self.become_user if task_becomes or self.become else None


@dataclass(frozen=True)
class SshOptions:
    connect_timeout: float = 10.0
    accept_new_host_keys: bool = False  # like OpenSSH's StrictHostKeyChecking=accept-new
    known_hosts: Path | None = None  # --known-hosts: for every host, over its own orchc_known_hosts

    def known_hosts_of(self, spec: ConnectionSpec) -> Path | None:
        """The known_hosts file chosen for the host, when the run or the inventory chooses one."""
        chosen = self.known_hosts or spec.known_hosts
        return None if chosen is None else Path(chosen)
