"""Which transport serves which action, opened once per run.

Ansible actions (`playbook`, `ansible`, `role`) go to the ansible transport;
native actions go to the host's connection: `local` or `ssh`. The ssh and
ansible transports are imported only when a Plan needs them.
"""

from __future__ import annotations

import importlib

from orchc.backends.transport import Transport, TransportOptions
from orchc.plan import ANSIBLE_ACTION_KINDS, Action, Host, Plan

# transport name → (module, class)
_TRANSPORT_CLASSES = {
    "local": ("orchc.backends.local", "LocalTransport"),
    "ssh": ("orchc.backends.ssh", "SshTransport"),
    "ansible": ("orchc.backends.ansible", "AnsibleTransport"),
}


class TransportUnavailable(Exception):
    """A transport the Plan needs cannot be loaded."""


def transport_name(host: Host, action: Action) -> str:
    return "ansible" if action.kind in ANSIBLE_ACTION_KINDS else host.connection


class TransportSet:
    """The transports of one run, each opened on first use and closed together at the end."""

    def __init__(self, plan: Plan, options: TransportOptions) -> None:
        self.plan = plan
        self.options = options
        self._open: dict[str, Transport] = {}

    def check_available(self) -> None:
        """Load every transport the Plan needs now, so a missing one fails before anything runs."""
        placements = [(inst.host, inst.actions) for inst in self.plan.instances]
        placements += [(p.host, p.actions) for inst in self.plan.instances for p in inst.alternates]
        needed = {
            transport_name(self.plan.host(host), action) for host, actions in placements if host for action in actions
        }
        for name in sorted(needed):
            self.get(name)

    def for_action(self, host: Host, action: Action) -> Transport:
        return self.get(transport_name(host, action))

    def get(self, name: str) -> Transport:
        if name not in self._open:
            self._open[name] = self._load(name)(self.plan, self.options)
        return self._open[name]

    async def close(self) -> None:
        for transport in self._open.values():
            await transport.close()
        self._open.clear()

    @staticmethod
    def _load(name: str) -> type[Transport]:
        module_name, class_name = _TRANSPORT_CLASSES[name]
        try:
            return getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise TransportUnavailable(
                f"the Plan needs the '{name}' transport, which cannot be loaded ({module_name}.{class_name}: {exc})"
            ) from exc
