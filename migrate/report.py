"""What a converter did, for the person migrating: counts, and every approximation with its source.

Each converter returns a `Migration`: the `.orch` files it wrote (as text) and
a `Report`. Nothing is dropped silently: whatever was not converted exactly is
an entry with the file:line it came from and the reason.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Category = Literal[
    "native",  # became a native orchc action with the same meaning
    "wrapped",  # kept as an `ansible`/`playbook` action: behaviour unchanged
    "unsupported",  # could not be converted; the reason says why
    "approximated",  # converted, but the meaning differs as described
    "assumption",  # a dependency or value orchc inferred
    "ordering",  # an `after` edge that comes only from textual order
]


@dataclass
class Entry:
    category: Category
    source: str  # file:line it came from
    what: str
    why: str = ""


@dataclass
class Report:
    converter: str  # "playbook", "heat", "taskcore", "fuel"
    inputs: list[str]
    entries: list[Entry] = field(default_factory=list)
    figures: dict[str, float | int | str] = field(default_factory=dict)  # converter-specific numbers

    def add(self, category: Category, source: str, what: str, why: str = "") -> None:
        self.entries.append(Entry(category, source, what, why))

    def counts(self) -> dict[str, int]:
        counts = {c: 0 for c in Category.__args__}  # type: ignore[attr-defined]  # a Literal's __args__ are its values; typing declares no such attribute
        for e in self.entries:
            counts[e.category] += 1
        return counts

    def to_json(self) -> str:
        data = {
            "converter": self.converter,
            "inputs": self.inputs,
            "counts": self.counts(),
            "figures": self.figures,
            "entries": [vars(e) for e in self.entries],
        }  # vars(): no deep copy
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def to_markdown(self) -> str:
        lines = [f"# orchc migrate {self.converter}", "", "Inputs: " + ", ".join(f"`{i}`" for i in self.inputs), ""]
        lines += ["| category | count |", "|---|---|"]
        lines += [f"| {c} | {n} |" for c, n in self.counts().items()]
        for name, value in self.figures.items():
            lines.append(f"\n{name}: {value}")
        for category in Category.__args__:  # type: ignore[attr-defined]  # a Literal's __args__ are its values; typing declares no such attribute
            entries = [e for e in self.entries if e.category == category and category != "native"]
            if not entries:
                continue
            lines += ["", f"## {category}", ""]
            lines += [f"- `{e.source}` {e.what}" + (f": {e.why}" if e.why else "") for e in entries]
        return "\n".join(lines) + "\n"


@dataclass
class Migration:
    files: dict[str, str]  # path relative to the output folder -> text (.orch, inventory.yml, templates)
    report: Report
    copies: dict[str, Path] = field(default_factory=dict)  # path in the output folder -> file or folder copied as is

    def write(self, out_dir: Path) -> list[Path]:
        written = []
        out_dir.mkdir(parents=True, exist_ok=True)  # the report is written even when no file is
        folders = {out_dir}  # made already: one mkdir per folder, not per file
        for rel, source in sorted(self.copies.items()):
            path = _in_folder(out_dir / rel, folders)
            if source.is_dir():
                shutil.copytree(source, path, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(source, path)
            written.append(path)
        for rel, text in sorted(self.files.items()):
            path = _in_folder(out_dir / rel, folders)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        (out_dir / "migration-report.md").write_text(self.report.to_markdown(), encoding="utf-8")
        (out_dir / "migration-report.json").write_text(self.report.to_json(), encoding="utf-8")
        return written


def _in_folder(path: Path, folders: set[Path]) -> Path:
    """`path`, once its folder exists."""
    if path.parent not in folders:
        path.parent.mkdir(parents=True, exist_ok=True)
        folders.add(path.parent)
    return path
