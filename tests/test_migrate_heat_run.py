"""A converted THT template run for real: `orchc run` with ansible-runner on this machine (slow: ~1 min).

The template only appends to a log when each task runs, so the log shows that
TripleO's order is kept: step 0, host prep, then steps 1..5; the unconditioned
task at every step; the step-3 task (with its own extra condition) once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchc.migrate.heat import convert_heat

RUNNABLE = Path(__file__).parent / "data" / "migrate_heat" / "runnable"


@pytest.mark.slow
def test_converted_template_runs_in_tripleo_order(tmp_path: Path) -> None:
    convert_heat([RUNNABLE / "echo-baremetal-ansible.yaml"]).write(tmp_path / "out")
    inventory = yaml.safe_load((RUNNABLE / "inventory.yml").read_text())
    inventory["all"]["vars"]["echo_dir"] = str(tmp_path)
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchc",
            "run",
            str(tmp_path / "out" / "deploy"),
            "-i",
            str(tmp_path / "inventory.yml"),
            "--journal",
            str(tmp_path / "journal.db"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "echo.log").read_text().splitlines() == [
        "every step 0",
        "host_prep",
        "every step 1",
        "every step 2",
        "every step 3",
        "step 3",
        "every step 4",
        "every step 5",
    ]
