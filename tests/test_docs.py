"""The user's documentation: the README and docs/ name only what a user has, and keep up with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from orchc import __version__, exitcodes
from orchc.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").glob("*/README.md"))]


def _command_paths(command, path: tuple[str, ...] = ()):  # noqa: ANN001 - a click command
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, path + (name,))


@pytest.mark.parametrize("path", list(_command_paths(get_command(app))), ids=lambda p: " ".join(("orchc", *p)))
def test_every_command_takes_h_help_and_version(path: tuple[str, ...]) -> None:
    runner = CliRunner()
    for flag in ("-h", "--help"):
        shown = runner.invoke(app, [*path, flag])
        assert shown.exit_code == 0 and "Usage:" in shown.output, shown.output
    version = runner.invoke(app, [*path, "--version"])
    assert (version.exit_code, version.output) == (0, f"orchc {__version__}\n")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_name_nothing_outside_the_repository_and_their_links_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert "shared/" not in text and "DESIGN.md" not in text
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if "://" not in target:
            assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which does not exist"


def test_every_exit_status_is_documented() -> None:
    statuses = [value for name, value in vars(exitcodes).items() if name.isupper()]
    for doc in (ROOT / "README.md", ROOT / "docs" / "design.md"):
        text = doc.read_text(encoding="utf-8")
        assert all(re.search(rf"\b{status}\b", text) for status in statuses), doc.name
        assert "ORCHC_DEBUG=1" in text  # what to do on exit 70


def test_the_language_reference_names_every_keyword_of_the_grammar() -> None:
    keywords = set(re.findall(r'"([a-z_]+)"', (ROOT / "grammar" / "orch.lark").read_text(encoding="utf-8")))
    reference = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```\w*\n(.*?)```", reference, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```\w*\n.*?```", "", reference, flags=re.S))
    code = " ".join(blocks + inline)
    assert not {word for word in keywords if not re.search(rf"\b{word}\b", code)}
