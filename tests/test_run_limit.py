"""`orchc run --limit`: a run kept to some hosts, never running what waits for a host outside it that is not done."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchc.backends.limit import LimitError, hosts_of_limit
from test_engine_plans import make_plan
from test_run import counter_plan, counts, orchc

GRAPH = """
    db.up@d1
    app.up@a1: db.up@d1
    app.up@a2: db.up@d1
    ready: app.up@a1 app.up@a2
"""
ROLES = {"db": (["d1"], 0), "app": (["a1", "a2"], 0)}


def _write(tmp_path: Path, text: str = GRAPH, **kwargs) -> None:
    plan = counter_plan(tmp_path, text, roles=ROLES, **kwargs)
    (tmp_path / "plan.json").write_text(plan.to_json())


def test_a_limit_runs_its_hosts_only_once_what_they_wait_for_is_done(tmp_path: Path) -> None:
    _write(tmp_path)
    assert orchc("run", "plan.json", cwd=tmp_path).returncode == 0
    again = orchc("run", "plan.json", "--force", "--limit", "a2", cwd=tmp_path)
    assert again.returncode == 0, again.stdout
    assert counts(tmp_path) == {"db.up@d1": 1, "app.up@a1": 1, "app.up@a2": 2}  # --force forced a2 only


def test_what_waits_for_a_host_outside_the_limit_that_is_not_done_is_held_back(tmp_path: Path) -> None:
    _write(tmp_path)
    result = orchc("run", "plan.json", "--limit", "app", cwd=tmp_path)
    assert result.returncode == 3, result.stdout
    assert counts(tmp_path) == {}, "nothing ran"
    assert (
        "2 instance(s) on the --limit hosts could not run (app.up@a1 waits for db.up@d1, outside --limit and "
        "not up to date): add those hosts to --limit, or run without it"
    ) in result.stdout
    dry = orchc("run", "plan.json", "--limit", "app", "--dry-run", cwd=tmp_path)
    assert "outside --limit" in dry.stdout and "0 of 4 instances would run" in dry.stdout


def test_one_provider_inside_the_limit_is_enough_for_on_any(tmp_path: Path) -> None:
    _write(
        tmp_path,
        """
        db.up@d1
        db.up@d2
        app.up@a1
    """,
        any_of={"app.up@a1": [["db.up@d1", "db.up@d2"]]},
    )
    result = orchc("run", "plan.json", "--limit", "a1,d2", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert counts(tmp_path) == {"db.up@d2": 1, "app.up@a1": 1}


def test_a_limit_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path)
    result = orchc("run", "plan.json", "--limit", "web*", cwd=tmp_path)
    assert result.returncode == 1
    assert "--limit 'web*' matches no host or role of the Plan" in result.stderr
    assert "hosts: d1, a1, a2; roles: db, app" in result.stderr


@pytest.mark.parametrize(
    ("pattern", "hosts"),
    [
        ("a1", {"a1"}),
        ("app", {"a1", "a2"}),
        ("a*", {"a1", "a2"}),
        ("app,!a2", {"a1"}),
        ("!db", {"a1", "a2"}),
        ("db:a2", {"d1", "a2"}),
    ],
)
def test_limit_patterns_are_ansibles(pattern: str, hosts: set[str]) -> None:
    assert hosts_of_limit(make_plan(GRAPH, roles=ROLES), pattern) == hosts


def test_an_empty_limit_is_an_error() -> None:
    with pytest.raises(LimitError, match="--limit names no host"):
        hosts_of_limit(make_plan(GRAPH, roles=ROLES), " , ")
