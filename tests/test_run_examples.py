"""The examples run end to end on local stand-in hosts, each host's files under its own temp root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_run import orchc


def inventory_in(tmp_path: Path, example: Path) -> Path:
    """The example's inventory with every host's `root` moved under tmp_path."""
    text = (example / "inventory.yml").read_text()
    moved = tmp_path / "inventory.yml"
    moved.write_text(text.replace(f"/tmp/orchc-{example.name}/", f"{tmp_path}/hosts/"))
    return moved


def run_events(path: Path) -> dict[str, str]:
    """instance → its last state in the events file."""
    states: dict[str, str] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "transition":
            states[event["instance"]] = event["state"]
    return states


def test_openstack_mini_runs_then_is_up_to_date(project_root: Path, tmp_path: Path):
    example = project_root / "examples" / "openstack-mini"
    args = ["run", str(example), "-i", str(inventory_in(tmp_path, example)), "--journal", "j.db"]
    first = orchc(*args, "--events", "first.jsonl", cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    states = run_events(tmp_path / "first.jsonl")
    assert len(states) == 52 and set(states.values()) <= {"ok", "changed"}
    assert (tmp_path / "hosts" / "controller2" / "etc" / "keystone" / "keystone.conf").is_file()
    assert (tmp_path / "hosts" / "compute1" / "etc" / "nova" / "nova.conf").is_file()

    second = orchc(*args, "--events", "second.jsonl", cwd=tmp_path)
    assert second.returncode == 0
    assert set(run_events(tmp_path / "second.jsonl").values()) <= {"skipped", "ok"}  # up to date, anchors


def test_webapp_needs_its_secret_and_reruns_what_the_version_changes(
    project_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    example = project_root / "examples" / "webapp"
    args = ["run", str(example), "-i", str(inventory_in(tmp_path, example)), "--journal", "j.db"]
    missing = orchc(*args, cwd=tmp_path)
    assert missing.returncode == 1 and "secret 'db_password' has no value" in missing.stderr
    monkeypatch.setenv("ORCHC_SECRET_DB_PASSWORD", "s3cret-pw")
    assert orchc(*args, cwd=tmp_path).returncode == 0
    assert "s3cret-pw" in (tmp_path / "hosts" / "app1" / "etc" / "app.env").read_text()
    again = orchc(*args, "-e", "app_version=9.9.9", "--events", "again.jsonl", cwd=tmp_path)
    assert again.returncode == 0
    reran = {i for i, state in run_events(tmp_path / "again.jsonl").items() if state == "changed"}
    assert reran and len(reran) < 15
    assert b"s3cret-pw" not in (tmp_path / "j.db").read_bytes()
