"""`orchc graph`: DOT and Mermaid, instance and task level."""

from __future__ import annotations

from pathlib import Path

import pytest

from compile_helpers import compile_text
from orchc.compiler.graph import render_graph

PROJECT = """
role db { services postgres }
role web { services app }
service postgres {
  task start { run "start"  provides database }
}
service app {
  task migrate once { requires database  run "migrate" }
  task start { after migrate  requires database on any  when "host.name != 'w3'"  run "start" }
}
"""


@pytest.mark.parametrize("format", ["dot", "mermaid"])
@pytest.mark.parametrize("level", ["instance", "task"])
def test_graph(tmp_path: Path, format: str, level: str, snapshot) -> None:
    plan = compile_text(tmp_path, PROJECT).plan
    assert render_graph(plan, format, level) == snapshot  # type: ignore[arg-type]  # pytest's parameters: the strings of render_graph's Literal types


def test_graph_command_writes_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_diagnostics import run_cli

    compile_text(tmp_path, PROJECT)
    out = tmp_path / "plan.mmd"
    status, _, stderr = run_cli(
        ["graph", str(tmp_path), "--format", "mermaid", "--level", "task", "-o", str(out)], monkeypatch, capsys
    )
    assert (status, stderr) == (0, "")
    assert out.read_text().startswith("flowchart LR\n")
    plan_json = tmp_path / "plan.json"
    assert run_cli(["compile", str(tmp_path), "-o", str(plan_json)], monkeypatch, capsys)[0] == 0
    status, stdout, _ = run_cli(["graph", str(plan_json), "--level", "task"], monkeypatch, capsys)
    assert status == 0 and '"postgres.start" -> "app.migrate";' in stdout
