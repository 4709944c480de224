"""Behavioural equivalence: a playbook run by ansible-playbook and its migration run by `orchc run`
leave the same files with the same contents and modes.

Each case (handlers, loops, register/when, templates, roles, blocks; `notify`: handlers notified from
tasks joined by a registered variable, a block, includes kept whole, run_once) runs on
three fresh local hosts (`ansible_connection: local`, each with its own `root`
folder): once with `ansible-playbook` (the peer, as a subprocess), once as the
converted `.orch` project with `orchc run`. Slow: every wrapped task is one
ansible-runner call.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CASES = ["webapp", "loops", "conditions", "handover", "groups", "static_groups", "notify"]
HOSTS = {"web": ["web-1", "web-2"], "db": ["db-1"]}
# Inventory variables of a case's hosts, beside those every case has.
HOST_VARS = {"static_groups": {"web-1": {"enable_cache": "yes"}}}


def inventory(path: Path, root: Path, extra: dict[str, str], case: str) -> Path:
    groups = {
        group: {
            "hosts": {
                h: {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                    "root": str(root / h),
                    **HOST_VARS.get(case, {}).get(h, {}),
                }
                for h in hosts
            }
        }
        for group, hosts in HOSTS.items()
    }
    path.write_text(yaml.safe_dump({"all": {"children": groups, "vars": extra}}))
    return path


def tree(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every file and folder under root: relative path -> (mode, content)."""
    found = {}
    for path in sorted(root.rglob("*")):
        mode = stat.filemode(path.stat().st_mode)
        found[str(path.relative_to(root))] = (mode, path.read_bytes() if path.is_file() else b"")
    return found


def run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0"}
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=1800, env=env)
    output = f"{' '.join(args)}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert done.returncode == 0, output
    return output


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_orchc_run_of_the_migration_leaves_the_same_files(project_root: Path, tmp_path: Path, case: str) -> None:
    if shutil.which("ansible-playbook") is None:
        pytest.skip("ansible-playbook is not installed")
    source = project_root / "tests" / "data" / "migrate_playbook" / case
    # (orchc keeps its ansible-runner folders under the journal's folder, tmp_path/ansible: keep clear of it)
    peer_root, orchc_root, out = tmp_path / "peer-hosts", tmp_path / "orchc-hosts", tmp_path / "out"

    run(["ansible-playbook", "-i", str(inventory(tmp_path / "peer.yml", peer_root, {}, case)), "site.yml"], source)

    run([sys.executable, "-m", "orchc", "migrate", "playbook", str(source / "site.yml"), "-o", str(out)], project_root)
    state = {"orchc_state_dir": str(tmp_path / "state")}  # handed-over variables: not compared
    ran = run(
        [
            sys.executable,
            "-m",
            "orchc",
            "run",
            str(out),
            "-i",
            str(inventory(tmp_path / "orchc.yml", orchc_root, state, case)),
            "--journal",
            str(tmp_path / "journal.db"),
        ],
        project_root,
    )
    assert not re.search(r"\bfailed [1-9]", ran), ran  # hosts failing within tolerance still exit 0

    assert tree(orchc_root) == tree(peer_root)
    assert tree(peer_root), "the playbook wrote nothing: the comparison would prove nothing"
