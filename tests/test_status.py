"""`orchc status`: each instance's latest real outcome, when it last changed, and the filters (issue 19.3)."""

from __future__ import annotations

import json
from pathlib import Path

from test_engine_plans import make_plan
from test_run import orchc, run

PLAN = """
    db.install@db1
    web.install@web1
    web.install@web10
    web.install@web2
    web.up@web2: web.install@web2 db.install@db1
"""
ROLES = {"db": (["db1"], 0), "web": (["web1", "web2", "web10"], 0)}


def three_runs(tmp_path: Path) -> None:
    """Run 1: web.up@web2 fails. Run 2: fixed, it changes. Run 3: everything is up to date."""
    failing = make_plan(PLAN, commands={"web.up@web2": "echo port in use >&2; exit 1"}, roles=ROLES, root=tmp_path)
    assert run(failing, tmp_path).outcome == "failed"
    fixed = make_plan(PLAN, roles=ROLES, root=tmp_path, change_keys={"web.up@web2": "fixed"})
    assert run(fixed, tmp_path).outcome == "succeeded"
    assert run(fixed, tmp_path).outcome == "succeeded"


def rows(stdout: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in stdout.splitlines() if "@" in line}


def test_a_run_that_skips_everything_does_not_hide_the_last_real_outcome(tmp_path: Path):
    three_runs(tmp_path)
    shown = orchc("status", str(tmp_path), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    table = rows(shown.stdout)
    assert table["web.up@web2"][1:3] == ["web2", "changed"] and "up to date in run 3" in shown.stdout
    assert table["db.install@db1"][1:3] == ["db1", "changed"]
    assert "skipped" not in shown.stdout
    objects = {o["instance"]: o for o in json.loads(orchc("status", str(tmp_path), "--json", cwd=tmp_path).stdout)}
    up = objects["web.up@web2"]
    assert (up["state"], up["run"], up["last_changed"]["run"]) == ("changed", 2, 2)
    assert up["latest"] == {"run": 3, "state": "skipped", "message": "up to date"}
    assert objects["db.install@db1"]["last_changed"]["run"] == 1


def test_filters_and_the_state_after_an_earlier_run(tmp_path: Path):
    three_runs(tmp_path)
    after_first = orchc("status", str(tmp_path), "--run", "1", "--failed", cwd=tmp_path)
    assert list(rows(after_first.stdout)) == ["web.up@web2"]
    assert "exit status 1: port in use" in after_first.stdout and "last run 1: failed" in after_first.stdout
    assert list(rows(orchc("status", str(tmp_path), "--failed", cwd=tmp_path).stdout)) == []
    web = orchc("status", str(tmp_path), "--role", "web", cwd=tmp_path).stdout
    hosts = [row[1] for row in rows(web).values()]
    assert hosts == ["web1", "web2", "web2", "web10"], "natural order: web2 before web10"
    assert "4 of 5 instances shown" in web
    globbed = orchc("status", str(tmp_path), "--host", "web1*", "--host", "db1", "--json", cwd=tmp_path).stdout
    assert [o["host"] for o in json.loads(globbed)] == ["db1", "web1", "web10"]


def test_an_unknown_role_or_run_is_a_clear_error(tmp_path: Path):
    three_runs(tmp_path)
    role = orchc("status", str(tmp_path), "--role", "cache", cwd=tmp_path)
    assert role.returncode == 1 and "error: no role 'cache' in the last run's Plan" in role.stderr
    assert "hint: roles: db, web" in role.stderr
    missing = orchc("status", str(tmp_path), "--run", "9", cwd=tmp_path)
    assert missing.returncode == 1 and "the journal has no run 9" in missing.stderr
    assert "runs in the journal: 1, 2, 3" in missing.stderr
