"""Per-host results of one ansible-runner call, from the worker's event records.

How a host ended comes from `playbook_on_stats` (as Ansible's PLAY RECAP):
any failure → failed (a failure that a `rescue` or `ignore_errors` absorbed is
not counted there), unreachable → unreachable, any change → changed,
otherwise ok. The message of a failure is the failed task's name and the
module's `msg`, from its `runner_on_failed` / `runner_on_unreachable` event.
When a run writes no stats (a syntax error, a `limit` that matched nothing:
ansible-runner#273), the run's own output explains the outcome.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchc.backends.transport import ActionResult, ResultStatus
from orchc.backends.unified_diff import unified_diff
from orchc.plan import redact

TAIL_LINES = 60  # output lines kept per host and for the run


def _tail() -> deque[str]:
    return deque(maxlen=TAIL_LINES)


def _lines(text: str) -> list[str]:
    return [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip()]


@dataclass
class HostEvents:
    """What the events of one host said."""

    stdout: deque[str] = field(default_factory=_tail)
    stderr: str = ""
    failed_task: str | None = None
    failure: str = ""  # the module's msg
    rc: int | None = None
    unreachable: str = ""
    last_task: str | None = None
    diff: str = ""  # with --diff: the module's content changes, as unified diffs
    notified: set[str] = field(default_factory=set)  # the handlers a change notified on the host


@dataclass
class BatchOutcome:
    """Collects the worker's records for one call; answers per host once the call is over."""

    hosts: dict[str, HostEvents] = field(default_factory=dict)
    run_output: deque[str] = field(default_factory=_tail)  # lines tied to no host
    stats: dict[str, dict[str, int]] | None = None
    status: str = "unknown"
    rc: int | None = None
    error: str | None = None  # the call could not run at all
    kept_dir: str | None = None  # the private data dir, when kept for debugging

    def feed(self, record: Mapping[str, Any]) -> tuple[str, str] | None:
        """Take one worker record; return (host, output text) when it is output of one host."""
        kind = record.get("type")
        if kind == "end":
            self.status, self.rc = str(record.get("status")), record.get("rc")
            return None
        if kind == "error":
            self.error = str(record.get("message"))
            return None
        event, host, stdout = record.get("event"), record.get("host"), str(record.get("stdout") or "")
        if event == "playbook_on_stats":
            self.stats = record.get("stats") or {}
            return None
        if not host:
            self.run_output.extend(_lines(stdout))
            return None
        events = self.hosts.setdefault(host, HostEvents())
        task = record.get("task")
        if stdout and task and task != events.last_task:
            events.last_task = task
            stdout = f"TASK [{task}]\n{stdout}"
        events.stdout.extend(_lines(stdout))
        if event == "runner_on_failed":
            events.failed_task = task
            events.failure = str(record.get("msg") or "")
            events.rc = record.get("rc") if isinstance(record.get("rc"), int) else events.rc
            events.stderr = str(record.get("stderr") or "")
        elif event == "runner_on_ok" and record.get("diff"):
            events.diff += "".join(_unified(d) for d in record["diff"] if isinstance(d, dict))
        elif event == "playbook_on_notify" and record.get("handler"):
            events.notified.add(str(record["handler"]))
        elif event == "runner_on_unreachable":
            events.failed_task = task
            events.unreachable = str(record.get("msg") or "unreachable")
        return (host, stdout) if stdout else None

    def _count(self, kind: str, host: str) -> int:
        return int((self.stats or {}).get(kind, {}).get(host, 0))

    def _status(self, host: str) -> ResultStatus:
        if self.error:
            return "failed"
        if self.stats is None or host not in self.stats.get("processed", {}):
            return "ok" if self.rc == 0 and self.status == "successful" else "failed"
        if self._count("dark", host):
            return "unreachable"
        if self._count("failures", host):
            return "failed"
        return "changed" if self._count("changed", host) else "ok"

    def _message(self, host: str, status: str, events: HostEvents) -> str:
        if self.error:
            return self.error
        if status == "unreachable":
            return f"unreachable: {events.unreachable}"
        if status == "failed" and events.failed_task is not None:
            return f"task '{events.failed_task}' failed: {events.failure or 'see output'}"
        if status == "failed":
            last = self.run_output[-1] if self.run_output else "no output"
            return f"ansible-playbook ended {self.status} (rc {self.rc}) before running on {host}: {last}"
        if self.stats is None or host not in self.stats.get("processed", {}):
            return "no play matched this host"
        counts = {
            kind: self._count(kind, host) for kind in ("ok", "changed", "skipped", "failures", "rescued", "ignored")
        }
        return " ".join(f"{kind}={n}" for kind, n in counts.items() if n)

    def result_for(self, host: str, secrets: Mapping[str, str]) -> ActionResult:
        """How the call ended for `host`, with every secret value redacted."""
        events = self.hosts.get(host, HostEvents())
        status = self._status(host)
        message = self._message(host, status, events)
        stdout_lines = list(events.stdout) if events.stdout else list(self.run_output)
        if status == "failed" and self.kept_dir:
            message += f" (ansible-runner files kept in {self.kept_dir})"
        rc = events.rc if events.rc is not None else (0 if status in ("ok", "changed") else self.rc)
        return ActionResult(
            status=status,
            rc=rc,
            stdout=redact("\n".join(stdout_lines) + ("\n" if stdout_lines else ""), secrets),
            stderr=redact(events.stderr, secrets),
            message=redact(message, secrets),
            diff=redact(events.diff, secrets),
            notified=sorted(events.notified) if status == "changed" else [],
        )

    @property
    def succeeded_everywhere(self) -> bool:
        return self.error is None and self.status == "successful" and self.rc == 0


def _unified(diff: Mapping[str, Any]) -> str:
    """One of a module's `diff`s (`before`/`after`, with their headers; or a diff it `prepared`) as `diff -u`."""
    if "prepared" in diff:
        return str(diff["prepared"]).rstrip("\n") + "\n"
    before, after = diff.get("before", ""), diff.get("after", "")
    if not isinstance(before, str) or not isinstance(after, str):  # a module's state, not a file's content
        before, after = (json.dumps(v, indent=2, sort_keys=True) + "\n" if v else "" for v in (before, after))
    return unified_diff(
        before,
        after,
        f"before: {diff.get('before_header', '')}".rstrip(),
        f"after: {diff.get('after_header', '')}".rstrip(),
    )
