"""An inventory ansible-core cannot read is one diagnostic per mistake, at its file:line:col, with what is wrong
and how to fix it — not ansible-core's complaints of every plugin, without a line (issue 13.6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compile_helpers import write_project
from test_diagnostics import run_cli

PROJECT = 'role web { services app }\nservice app { task t { run "true" } }\n'
YAML_HINT = (
    "in a YAML inventory each group maps `hosts:` (host names to their variables), `children:` (groups) and "
    "`vars:` (names to values), e.g. `all:` / `  hosts:` / `    web1:`"
)
INI_HINT = (
    "an INI inventory holds `[group]` lines, each followed by `host key=value ...` lines; `[group:vars]` by "
    "`key=value` lines; `[group:children]` by group names"
)
RANGE_HINT = "write a host name, or a range with both brackets and a colon: web[1:3], db[a:c]"

CASES = {
    "yaml syntax": (
        "hosts.yml",
        "all:\n  children:\n    web:\n      hosts:\n        w1: {a: 1\n        w2:\n",
        "hosts.yml:6:11: error: invalid YAML: expected ',' or '}', but got ':'\n"
        "  6 |         w2:\n    |           ^\n"
        "  note: hosts.yml:5:13: while parsing a flow mapping\n"
        f"  hint: fix the YAML syntax at this point; {YAML_HINT}\n",
    ),
    "hosts as a list": (
        "hosts.yml",
        "all:\n  hosts: [w1, w2]\n",
        "hosts.yml:2:10: error: invalid YAML inventory: `hosts` of group 'all' must be a map, "
        "not a list\n  2 |   hosts: [w1, w2]\n    |          ^^^^^^^^\n"
        "  hint: write each host as a key (`web1:`, its variables below it, or nothing), "
        "not as a list item\n",
    ),
    "host vars as a list": (
        "hosts.yaml",
        "web:\n  hosts:\n    w1:\n      - ssd\n",
        "hosts.yaml:4:7: error: invalid YAML inventory: the variables of host 'w1' must be a "
        "map, not a list\n  4 |       - ssd\n    |       ^\n"
        "  hint: write them below the host as `name: value`, or nothing after `w1:`\n",
    ),
    "not a map": (
        "hosts.yml",
        "# hosts\n- w1\n- w2\n",
        "hosts.yml:2:1: error: invalid YAML inventory: it must be a map of groups, not a list\n"
        f"  2 | - w1\n    | ^\n  hint: {YAML_HINT}\n",
    ),
    "yaml host range": (
        "hosts.yml",
        "all:\n  hosts:\n    'w[1:3':\n",
        "hosts.yml:3:5: error: invalid YAML inventory: 'w[1:3' is neither a host name nor a range\n"
        f"  3 |     'w[1:3':\n    |     ^^^^^^^\n  hint: {RANGE_HINT}\n",
    ),
    "ini host variable": (
        "hosts.ini",
        "[web]\nw1 ansible_user=admin\n  w2 ansible_host\n",
        "hosts.ini:3:3: error: invalid INI inventory: Expected key=value host variable "
        "assignment, got: ansible_host\n  3 |   w2 ansible_host\n    |   ^^^^^^^^^^^^^^^\n"
        f"  hint: {INI_HINT}\n",
    ),
    "ini group vars": (
        "hosts",
        "[web]\nw1\n\n[web:vars]\nport=80\nssd\n",
        "hosts:6:1: error: invalid INI inventory: Expected key=value, got: ssd\n"
        f"  6 | ssd\n    | ^^^\n  hint: {INI_HINT}\n",
    ),
    "ini undefined child": (
        "hosts.ini",
        "[web]\nw1\n[all:children]\nweb\ndbs\n",
        "hosts.ini:5:1: error: invalid INI inventory: Section [all:children] includes undefined "
        f"group 'dbs'.\n  5 | dbs\n    | ^^^\n  hint: {INI_HINT}\n",
    ),
    "ini host range": (
        "hosts.ini",
        "[web]\nw[1:3 ansible_user=admin\n",
        "hosts.ini:2:1: error: invalid INI inventory: 'w[1:3' is neither a host name nor a range\n"
        f"  2 | w[1:3 ansible_user=admin\n    | ^^^^^\n  hint: {RANGE_HINT}\n",
    ),
    "not utf-8": (
        "hosts.ini",
        b"[web]\nw1 motd=caf\xe9\n",
        "hosts.ini:2:12: error: cannot read hosts.ini: it is not UTF-8 text (byte 0xe9)\n"
        "  2 | w1 motd=caf\ufffd\n    |            ^\n"
        "  hint: the file must be UTF-8: save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)\n",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_inventory_is_a_diagnostic_at_its_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name, text, expected = CASES[case]
    write_project(tmp_path, PROJECT)
    (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli(["check", ".", "-i", name], monkeypatch, capsys)
    assert (status, stderr) == (1, expected + "\n1 error\n")


def test_each_bad_file_of_an_inventory_folder_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path, PROJECT)
    folder = tmp_path / "inventory.d"
    folder.mkdir()
    (folder / "a.yml").write_text("web:\n  hosts:\n    w1:\n")
    (folder / "b.ini").write_text("[db]\nd1 ssd\n")
    (folder / "c.yml").write_text("db:\n  children: [x]\n")
    (folder / "README.md").write_text("# not read, as by ansible-core\n")
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli(["check", ".", "-i", "inventory.d"], monkeypatch, capsys)
    assert status == 1
    assert [line for line in stderr.splitlines() if ": error: " in line] == [
        "inventory.d/b.ini:2:1: error: invalid INI inventory: Expected key=value host variable assignment, got: ssd",
        "inventory.d/c.yml:2:13: error: invalid YAML inventory: `children` of group 'db' must be a map, not a list",
    ]
    assert stderr.endswith("\n2 errors\n")


@pytest.mark.parametrize(
    "content, expected",
    [
        (
            {},
            "error: the inventory folder 'given' holds no inventory file\n"
            "  hint: give an inventory file (INI or YAML) with -i, or a folder that holds some\n",
        ),
        (
            {"site.orch": PROJECT, "inventory.yml": "web:\n  hosts:\n    w1:\n"},
            "error: 'given' is a folder of .orch files, not an inventory\n"
            "  hint: pass the inventory file itself, e.g. -i given/inventory.yml\n",
        ),
    ],
)
def test_a_folder_given_as_the_inventory(
    content: dict[str, str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_project(tmp_path / "project", PROJECT)
    (tmp_path / "given").mkdir()
    for name, text in content.items():
        (tmp_path / "given" / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_cli(["check", "project", "-i", "given"], monkeypatch, capsys)
    assert (status, stderr) == (1, expected + "\n1 error\n")


def test_a_good_inventory_folder_still_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path, PROJECT)
    (tmp_path / "inventory.d").mkdir()
    (tmp_path / "inventory.d" / "web.ini").write_text("[web]\nw1 ansible_connection=local\n")
    status, stdout, stderr = run_cli(["check", str(tmp_path), "-i", str(tmp_path / "inventory.d")], monkeypatch, capsys)
    assert (status, stdout) == (0, "ok: 1 service, 1 task, 1 instance on 1 host\n"), stderr
