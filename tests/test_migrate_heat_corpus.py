"""The real tripleo-heat-templates 18.0.0 corpus through bench/heat_corpus.py (slow: minutes).

Needs corpus-cache/tripleo-heat-templates-18.0.0 (`python3 bench/heat_corpus.py` downloads it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
THT = PROJECT / "corpus-cache" / "tripleo-heat-templates-18.0.0"


@pytest.mark.slow
@pytest.mark.skipif(not THT.is_dir(), reason="run `python3 bench/heat_corpus.py` once to download the corpus")
def test_every_template_converts_and_compiles_and_the_overcloud_is_one_plan() -> None:
    result = subprocess.run(
        [sys.executable, str(PROJECT / "bench" / "heat_corpus.py"), str(THT)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  converted: 223/223 = 100%" in lines
    assert any(line.startswith("  compiled:  223/223 = 100%") for line in lines)
    assert any(line.startswith("  all of deployment/ as one project: compiles") for line in lines)
    assert any(line.startswith("overcloud faithful:") and "on 7 hosts" in line for line in lines)
    assert any(line.startswith("overcloud --relax:") and "on 7 hosts" in line for line in lines)
