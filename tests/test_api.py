"""`orchc.api`, the library: the README's example runs, from a thread, inside an event loop, with orchc's errors."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import orchc
import orchc.api
from orchc.backends.journal import Transition
from orchc.plan import Plan
from test_engine_plans import make_plan

ROOT = Path(__file__).resolve().parent.parent


def readme_example() -> str:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## From Python", 1)[1]
    return str(re.findall(r"```python\n(.*?)```", section, re.DOTALL)[0])


def test_the_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = tmp_path / "examples" / "openstack-mini"
    shutil.copytree(ROOT / "examples" / "openstack-mini", example)
    inventory = example / "inventory.yml"
    inventory.write_text(inventory.read_text().replace("/tmp/orchc-openstack-mini/", f"{tmp_path}/hosts/"))
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(readme_example(), "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines == ["52 instances on 5 hosts", "succeeded changed", "succeeded 52"]
    assert (tmp_path / "hosts" / "controller1" / "etc" / "keystone" / "keystone.conf").is_file()
    assert (example / ".orchc" / "journal.db").is_file()


class ProcessWideTouched:
    """An observer that notes, while the run runs, whether it touched what belongs to the whole process."""

    def __init__(self) -> None:
        self.sigint_handler: object = None
        self.frozen = -1

    def run_started(self, plan: Plan, run_id: int) -> None:
        self.sigint_handler = signal.getsignal(signal.SIGINT)
        self.frozen = gc.get_freeze_count()

    def transition(self, t: Transition) -> None: ...

    def ended_elsewhere(self, t: Transition) -> None: ...

    def notice(self, message: str) -> None: ...

    def still_running(self, instances: list[tuple[str, float]]) -> None: ...

    def output(self, instance: str, line: str) -> None: ...

    def diff(self, instance: str, text: str) -> None: ...

    def run_ended(self, result: orchc.RunResult) -> None: ...


def two_step_plan(tmp_path: Path) -> Plan:
    return make_plan("a.x@h1\nb.y@h2: a.x@h1", commands={"a.x@h1": "echo x", "b.y@h2": "echo y"}, root=tmp_path)


def test_a_run_from_a_thread_touches_no_signal_and_no_collector(tmp_path: Path) -> None:
    plan = two_step_plan(tmp_path)
    seen = ProcessWideTouched()
    results: list[orchc.RunResult] = []
    handler = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=lambda: results.append(orchc.run(plan, orchc.RunOptions(), [seen])))
    thread.start()
    thread.join()
    assert [r.outcome for r in results] == ["succeeded"]
    assert results[0].states == {"a.x@h1": orchc.State.CHANGED, "b.y@h2": orchc.State.CHANGED}
    assert seen.sigint_handler is handler and seen.frozen == 0
    assert orchc.status(tmp_path / ".orchc" / "journal.db").states == results[0].states


def test_run_async_inside_a_running_event_loop(tmp_path: Path) -> None:
    plan = two_step_plan(tmp_path)

    async def application() -> tuple[str, str]:
        result = await orchc.run_async(plan, orchc.RunOptions(journal=tmp_path / "j.db"))
        with pytest.raises(RuntimeError, match=r"await orchc.run_async"):
            orchc.run(plan)
        return result.outcome, (await asyncio.sleep(0, "the loop goes on"))

    assert asyncio.run(application()) == ("succeeded", "the loop goes on")


def test_the_command_line_owns_its_process(tmp_path: Path) -> None:
    plan = two_step_plan(tmp_path)
    seen = ProcessWideTouched()
    handler = signal.getsignal(signal.SIGINT)
    assert orchc.run(plan, orchc.RunOptions(owns_process=True), [seen]).outcome == "succeeded"
    assert seen.sigint_handler is not handler and seen.frozen > 0
    assert signal.getsignal(signal.SIGINT) is handler and gc.get_freeze_count() == 0


def test_dry_run_says_what_the_next_run_does(tmp_path: Path) -> None:
    plan = two_step_plan(tmp_path)
    assert [(v.instance.id, v.reason) for v in orchc.dry_run(plan)] == [
        ("a.x@h1", "not run successfully before"),
        ("b.y@h2", "not run successfully before"),
    ]
    orchc.run(plan, orchc.RunOptions(limit="h1"))
    assert [(v.instance.id, v.ends_as) for v in orchc.dry_run(plan)] == [("a.x@h1", "skipped"), ("b.y@h2", None)]


def test_mistakes_raise_orchc_exceptions(tmp_path: Path) -> None:
    with pytest.raises(orchc.DiagnosticError, match="no inventory given"):
        orchc.load_project(tmp_path)
    plan = two_step_plan(tmp_path)
    with pytest.raises(orchc.LimitError, match="matches no host") as limit:
        orchc.run(plan, orchc.RunOptions(limit="db*"))
    assert limit.value.hint == "hosts: h1, h2; roles: h1, h2"
    with pytest.raises(orchc.JournalError, match="nothing has run here yet"):
        orchc.status(tmp_path / "none.db")


def test_the_package_names_the_api_and_imports_it_only_when_used() -> None:
    assert all(getattr(orchc, name) is getattr(orchc.api, name) for name in orchc.api.__all__)
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, orchc.cli; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "'orchc.api'" not in loaded and "'asyncio'" not in loaded
