"""One ansible-runner call, in a process of its own: `python -P -m orchc.backends.ansible_worker REQUEST.json`.

`-P` keeps the current folder off `sys.path`: run inside a checkout of orchc,
its `orchc/` folder (which holds no `backends/`) would otherwise shadow the
installed package.

ansible-runner blocks and is not thread-safe (ansible-runner#808), so the
`ansible` transport starts this worker once per batch. The worker reads a
`WorkerRequest`, calls `ansible_runner.run(...)` and writes one JSON object per
line to stdout:

- `{"type": "event", ...}`: one ansible-runner event, reduced to what orchc
  needs (`event`, `host`, `task`, `stdout`, and from the module result
  `changed`, `msg`, `rc`, `stderr`; `stats` for `playbook_on_stats`; `handler`
  for `playbook_on_notify`, the handler a change notified on `host`);
- `{"type": "end", "status": ..., "rc": ...}`: the run is over;
- `{"type": "error", "message": ...}`: the run could not start.

On SIGTERM the worker passes the signal to ansible-playbook, which stops its
forks and their modules (each fork leads a session of its own, so only
ansible-playbook can reach them); if it has not ended after
`TERM_GRACE_SECONDS`, ansible-runner's cancellation kills its process group.

This module imports nothing of orchc, so that the worker starts fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

MISSING_ANSIBLE = "ansible actions need ansible-runner and ansible-core: pip install ansible-runner ansible-core"
# How often ansible-runner checks for cancellation while ansible-playbook runs (its default is 5 s).
CANCEL_POLL_SECONDS = 0.2
TERM_GRACE_SECONDS = 3.0

STATS_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored", "processed")


@dataclass
class WorkerRequest:
    """Everything one ansible-runner call needs; all paths absolute."""

    private_data_dir: str
    playbook: str
    project_dir: str
    inventory: str
    limit: str
    cmdline: str  # extra ansible-playbook options: `-e @FILE`, `--check`
    envvars: dict[str, str] = field(default_factory=dict)
    forks: int = 5

    def dump(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(asdict(self), f)

    @classmethod
    def load(cls, path: str) -> WorkerRequest:
        with open(path, encoding="utf-8") as f:
            return cls(**json.load(f))


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


def reduce_event(event: dict[str, Any]) -> dict[str, Any]:
    """The parts of an ansible-runner event that orchc uses."""
    data = event.get("event_data") or {}
    record: dict[str, Any] = {
        "type": "event",
        "event": event.get("event", ""),
        "host": data.get("host"),
        "task": data.get("task"),
        "stdout": event.get("stdout") or "",
    }
    result = data.get("res")
    if isinstance(result, dict):
        for key in ("changed", "msg", "rc", "stderr"):
            if key in result:
                record[key] = result[key]
        diffs = [item.get("diff") for item in [result, *(result.get("results") or [])] if isinstance(item, dict)]
        if any(diffs):  # with --diff: what a module changed (or would), as {before, after, *_header}s
            record["diff"] = [d for some in diffs if some for d in (some if isinstance(some, list) else [some])]
    if data.get("handler"):
        record["handler"] = data["handler"]
    if record["event"] == "playbook_on_stats":
        record["stats"] = {key: data.get(key) or {} for key in STATS_KEYS}
    return record


def _forward(event: dict[str, Any]) -> bool:
    _emit(reduce_event(event))
    return False  # nothing written to job_events/: orchc keeps what it needs


def _children() -> list[int]:
    """Pids of this process's children (ansible-playbook), from Linux's /proc."""
    pids: list[int] = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children", encoding="ascii") as f:
            pids += [int(pid) for pid in f.read().split()]
    return pids


def run(request: WorkerRequest) -> int:
    try:
        import ansible  # noqa: F401  (ansible-core: ansible-playbook's own package)
        import ansible_runner
    except ImportError as exc:
        _emit({"type": "error", "message": f"{MISSING_ANSIBLE} ({exc})"})
        return 2

    terminated_at: float | None = None

    def on_sigterm(signum: int, frame: Any) -> None:
        nonlocal terminated_at
        terminated_at = time.monotonic()
        for pid in _children():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def cancel() -> bool:
        return terminated_at is not None and time.monotonic() - terminated_at > TERM_GRACE_SECONDS

    signal.signal(signal.SIGTERM, on_sigterm)
    # ansible-playbook of this very environment, even when its bin/ is not on PATH.
    envvars = dict(request.envvars)
    envvars["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    try:
        runner = ansible_runner.run(
            private_data_dir=request.private_data_dir,
            ident="run",
            playbook=request.playbook,
            project_dir=request.project_dir,
            inventory=request.inventory,
            limit=request.limit,
            cmdline=request.cmdline,
            envvars=envvars,
            forks=request.forks,
            quiet=True,
            suppress_env_files=True,
            settings={"pexpect_timeout": CANCEL_POLL_SECONDS},
            event_handler=_forward,
            cancel_callback=cancel,
        )
    except Exception as exc:  # ansible-runner refused the inputs: say why, in one line
        _emit({"type": "error", "message": f"ansible-runner could not run: {type(exc).__name__}: {exc}"})
        return 1
    _emit({"type": "end", "status": runner.status, "rc": runner.rc})
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -P -m orchc.backends.ansible_worker REQUEST.json\n")
        return 2
    return run(WorkerRequest.load(args[0]))


if __name__ == "__main__":
    sys.exit(main())
