"""The one interface every transport (`local`, `ssh`, `ansible`) implements.

The engine knows nothing of SSH or Ansible: the runner hands each action of a
running instance to the transport that serves it, and gets an `ActionResult`
back. Native actions (`run`, `copy`, `template`) go to the host's connection
transport (`local` or `ssh`), where the actions layer (`actions`) runs them on
the connection's primitives (`connector`); Ansible actions (`playbook`, `ansible`, `role`)
go to the `ansible` transport, which may batch calls for several hosts that
arrive together.

Cancellation is the timeout and interrupt mechanism: when the runner cancels
`execute`, the transport must stop what it started on the host (kill the
process group) before it lets `CancelledError` propagate.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orchc.backends.connection import SshOptions
from orchc.plan import Action, Host, Plan

ResultStatus = Literal["ok", "changed", "failed", "unreachable"]

OutputSink = Callable[[Literal["stdout", "stderr"], str], None]


@dataclass
class ActionResult:
    status: ResultStatus
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    message: str = ""  # one line for people: why it failed, or what changed
    diff: str = ""  # with `TransportOptions.diff`: a unified diff of the file content the action changed
    notified: list[str] = field(default_factory=list)  # topics: the Ansible handlers its change notified

    @property
    def succeeded(self) -> bool:
        return self.status in ("ok", "changed")


@dataclass
class ActionContext:
    """What a transport may need beyond the host and the action."""

    plan: Plan
    instance_id: str
    task_id: str
    secrets: Mapping[str, str]  # resolved values; markers in the action are still unresolved
    become: bool = False
    on_output: OutputSink | None = None  # live output in chunks as they come; the runner's sink redacts it
    env: Mapping[str, str] = field(default_factory=dict)
    # How many other instances of the task wait only for what runs now (the scheduler's `about_to_be_ready`):
    # the ansible transport waits a little for them to share its call.
    companions_soon: Callable[[], int] | None = None


@dataclass
class TransportOptions:
    """Run-wide settings given to every transport when the run opens it (from `orchc run` flags)."""

    work_dir: Path = Path(".orchc")  # the journal's folder
    forks: int = 50  # connections opened at once
    check_mode: bool = False
    diff: bool = False  # report each file's content change as a unified diff (`--diff`)
    ssh: SshOptions = field(default_factory=SshOptions)  # for the ssh transport, and Ansible's ssh


class Transport(abc.ABC):
    """Runs actions on hosts. One object serves every host of its kind for a whole run.

    Constructed as `TransportClass(plan, options)`; connections open lazily on first use.
    """

    name: str

    def __init__(self, plan: Plan, options: TransportOptions) -> None:
        self.plan = plan
        self.options = options

    @abc.abstractmethod
    async def execute(self, host: Host, action: Action, ctx: ActionContext) -> ActionResult:
        """Run one action on one host and report how it ended.

        A host that cannot be reached gives status "unreachable" (not an
        exception); a command that fails gives "failed" with rc and output.
        """

    async def close(self) -> None:  # noqa: B027 - a default, not a duty: a transport without connections keeps it
        """Release connections at the end of the run."""
