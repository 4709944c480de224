"""`ansible MODULE { ... }`: module names resolved at compile time by ansible-core, as the run resolves them."""

from __future__ import annotations

from pathlib import Path

from compile_helpers import compile_errors, compile_text
from orchc_process import orchc

INVENTORY = "all:\n  hosts:\n    h1:\n      ansible_connection: local\n"

# A module that writes its `path` argument's file: what the run of a module found beside the project does.
MODULE = """\
#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule

def main():
    module = AnsibleModule(argument_spec={"path": {"type": "str", "required": True}})
    with open(module.params["path"], "w") as out:
        out.write("written by %s\\n" % __file__.rsplit("/", 1)[-1])
    module.exit_json(changed=True)

main()
"""


def _project(module_lines: str) -> str:
    return f"role all {{ services s }}\nservice s {{\n{module_lines}}}\n"


def _collection(folder: Path, name: str, modules: list[str]) -> dict[str, str]:
    """Files of a collection `name` (namespace.collection) in `folder`/ansible_collections."""
    namespace, collection = name.split(".")
    base = f"{folder}/ansible_collections/{namespace}/{collection}"
    return {f"{base}/plugins/modules/{module}.py": MODULE for module in modules}


def test_an_unknown_module_is_an_error_at_its_name_with_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    (tmp_path / "site.orch").write_text(
        _project('  task t {\n    ansible lineinfle { path = "/tmp/x", line = "a" }\n  }\n')
    )
    out = orchc("check", ".", cwd=tmp_path)
    assert out.returncode == 1, out.stdout
    assert "site.orch:4:13: error: unknown Ansible module 'lineinfle'" in out.stderr
    assert "hint: did you mean 'lineinfile'?" in out.stderr
    assert "Traceback" not in out.stderr


def test_builtin_names_resolve_short_and_in_full(tmp_path: Path) -> None:
    result = compile_text(
        tmp_path,
        _project(
            '  task a { ansible lineinfile { path = "/x", line = "a" } }\n'
            '  task b { ansible ansible.builtin.copy { dest = "/x", content = "a" } }\n'
            "  task c { ansible set_fact { a = 1 } }\n"
        ),
        inventory=INVENTORY,
    )
    assert len(result.plan.instances) == 3


def test_what_cannot_be_a_module_says_why(tmp_path: Path) -> None:
    errors = compile_errors(
        tmp_path,
        _project(
            "  task a { ansible include { } }\n"
            "  task b { ansible acme.tools { } }\n"
            "  task c { ansible ansible.builtin.lineinfle { } }\n"
            "  task d { ansible nosuch.collection.thing { } }\n"
            "  task e { ansible frobnicate { } }\n"
        ),
        inventory=INVENTORY,
    )
    assert errors[0].startswith(
        "Ansible module 'include' cannot be used: The 'ansible.builtin.include' action plugin has been removed"
    )
    assert errors[1:] == [
        "'acme.tools' is not an Ansible module name",
        "unknown Ansible module 'ansible.builtin.lineinfle'",
        "unknown Ansible module 'nosuch.collection.thing': collection 'nosuch.collection' is not installed",
        "unknown Ansible module 'frobnicate'",
    ]


def test_library_and_collections_beside_the_file_resolve_and_run(tmp_path: Path) -> None:
    project = tmp_path / "p"
    out_file = tmp_path / "out"
    files = {"library/beside_mod.py": MODULE, **_collection(project / "collections", "beside.tools", ["hello"])}
    compile_text(
        project,
        _project(
            f'  task a {{ ansible beside_mod {{ path = "{out_file}-a" }} }}\n'
            f'  task b {{ ansible beside.tools.hello {{ path = "{out_file}-b" }} }}\n'
        ),
        inventory=INVENTORY,
        files=files,
    )
    done = orchc("run", ".", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "out-a").read_text() == "written by beside_mod.py\n"
    assert (tmp_path / "out-b").read_text() == "written by hello.py\n"


def test_a_collection_module_misspelt_gets_its_collections_names(tmp_path: Path) -> None:
    files = _collection(tmp_path / "collections", "typo.tools", ["hello", "goodbye"])
    errors = compile_errors(
        tmp_path, _project("  task a { ansible typo.tools.helo { } }\n"), inventory=INVENTORY, files=files
    )
    assert errors == ["unknown Ansible module 'typo.tools.helo'"]
    out = orchc("check", ".", cwd=tmp_path)
    assert "hint: did you mean 'typo.tools.hello'?" in out.stderr


def test_another_projects_library_and_collections_resolve_nothing_here(tmp_path: Path) -> None:
    first = tmp_path / "first"
    files = {"library/only_first.py": MODULE, **_collection(first / "collections", "first.tools", ["hello"])}
    uses = '  task a { ansible only_first { path = "/x" } }\n  task b { ansible first.tools.hello { } }\n'
    compile_text(first, _project(uses), inventory=INVENTORY, files=files)
    errors = compile_errors(tmp_path / "second", _project(uses), inventory=INVENTORY)
    assert errors == [
        "unknown Ansible module 'only_first'",
        "unknown Ansible module 'first.tools.hello': collection 'first.tools' is not installed",
    ]


def test_ansible_library_and_ansible_collections_path_are_honoured(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    for path, text in {f"{plugins}/library/env_mod.py": MODULE, **_collection(plugins, "env.tools", ["hello"])}.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    project = tmp_path / "p"
    project.mkdir()
    (project / "inventory.yml").write_text(INVENTORY)
    (project / "site.orch").write_text(
        _project('  task a { ansible env_mod { path = "/x" } }\n  task b { ansible env.tools.hello { path = "/x" } }\n')
    )
    assert orchc("check", ".", cwd=project).returncode == 1
    env = {"ANSIBLE_LIBRARY": str(plugins / "library"), "ANSIBLE_COLLECTIONS_PATH": str(plugins)}
    out = orchc("check", ".", cwd=project, env=env)
    assert out.returncode == 0, out.stderr
