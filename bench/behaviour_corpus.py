"""Behaviour on content nobody here wrote: ansible-core's own integration targets, run by Ansible and by orchc.

    python3 bench/behaviour_corpus.py [--cache corpus-cache] [--only NAME ...] [--list] [--keep DIR]

ansible-core's source distribution (the installed version, from PyPI, cached
in the git-ignored `corpus-cache/` on first use) holds
`test/integration/targets/*`: roles and playbooks whose own `assert` /
`fail` tasks decide whether the behaviour is right. Each case below is one
such role (run as ansible-test runs a role target: `hosts: testhost`, facts
gathered, `output_dir` set) or one playbook of a target that runs as a plain
`ansible-playbook -i inventory playbook.yml` on localhost, as root, without
network, package installs or special environment.

Per case, in a fresh temporary folder:
1. the target (and the targets its role depends on) is copied, an inventory is
   written (`localhost` and `testhost` in group `testgroup`, both
   `ansible_connection=local` with this Python), and `ansible-playbook` runs
   it: the baseline, passed when it exits 0;
2. on a fresh copy, `orchc migrate playbook` converts it and
   `orchc run --strict` runs the project with the same inventory file:
   passed when it exits 0.

Prints each case's two results, the totals and the ratio orchc/Ansible over
the cases Ansible passes (target: at least 95%). `--list` prints every
target of the sdist with why it is in the suite or left out, without running
anything. tests/test_migrate_behaviour_corpus.py (marked `slow`) runs the
same cases.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the corpus helpers
from pypi_sdist import sdist_archive  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def ansible_version() -> str:
    import ansible  # noqa: PLC0415 - only the version, and only when asked

    return ansible.__version__


@dataclass(frozen=True)
class Case:
    """One run: a role target (`playbook` empty) or one playbook inside a target folder."""

    target: str
    playbook: str = ""  # relative to the target folder; empty: the target is a role
    features: tuple[str, ...] = ()
    check: bool = False  # run with --check (ansible-playbook) / --check (orchc run)
    gather_facts: bool | None = None  # role targets: None = as ansible-test (aliases gather_facts/no)

    @property
    def name(self) -> str:
        return self.target if not self.playbook else f"{self.target}/{self.playbook}"


# Features named by issue 15's acceptance point 4, as short labels.
REGISTER, LOOPS, HANDLERS, BLOCKS, INCLUDES, INCLUDE_VARS, FACTS, TEMPLATES, CHANGED, IGNORE, UNTIL, TAGS, CHECK = (
    "register/when",
    "loops/loop_control",
    "handlers/notify",
    "block/rescue/always",
    "include_tasks/import_tasks/include_role",
    "include_vars",
    "set_fact/facts across plays",
    "templates+host/group vars",
    "changed_when/failed_when",
    "ignore_errors",
    "until/retries",
    "tags",
    "check mode",
)

CASES: list[Case] = [
    # role targets (ansible-test's own way of running them: one play, hosts testhost, roles [target])
    Case("changed_when", features=(CHANGED, REGISTER)),
    Case("failed_when", features=(CHANGED, REGISTER, IGNORE, BLOCKS)),
    Case("loops", features=(LOOPS, REGISTER, INCLUDES, TEMPLATES)),
    Case("loop-until", features=(UNTIL, LOOPS, REGISTER)),
    Case("until", features=(UNTIL, REGISTER, INCLUDES)),
    Case("assert", features=(REGISTER, IGNORE, BLOCKS)),
    Case("include_import_tasks_nested", features=(INCLUDES,)),
    Case("include_with_templating", features=(INCLUDES, REGISTER)),
    Case("dict_transformations", features=(REGISTER, LOOPS)),
    Case("lookup_dict", features=(LOOPS, FACTS)),
    Case("lookup_file", features=(REGISTER,)),
    Case("lookup_first_found", features=(INCLUDE_VARS, BLOCKS, FACTS)),
    Case("lookup_indexed_items", features=(LOOPS, REGISTER)),
    Case("lookup_items", features=(LOOPS, REGISTER)),
    Case("lookup_lines", features=(LOOPS, REGISTER)),
    Case("lookup_list", features=(LOOPS,)),
    Case("lookup_nested", features=(LOOPS, FACTS)),
    Case("lookup_sequence", features=(LOOPS, REGISTER, FACTS)),
    Case("lookup_subelements", features=(LOOPS, REGISTER)),
    Case("lookup_template", features=(TEMPLATES,)),
    Case("lookup_together", features=(LOOPS, REGISTER)),
    Case("lookup_varnames", features=(FACTS,)),
    Case("lookup_vars", features=(FACTS,)),
    Case("templating", features=(TEMPLATES, FACTS, BLOCKS)),
    Case("var_inheritance", features=(INCLUDES, FACTS)),
    Case("task_ordering", features=(LOOPS, REGISTER, INCLUDES)),
    Case("test_files", features=(REGISTER,)),
    Case("test_mathstuff", features=(REGISTER,)),
    Case("split", features=(REGISTER,)),
    Case("filter_urlsplit", features=(REGISTER, LOOPS)),
    Case("ping", features=(REGISTER, IGNORE)),
    Case("stat", features=(REGISTER,)),
    Case("replace", features=(REGISTER,)),
    Case("blockinfile", features=(REGISTER, INCLUDES, BLOCKS)),
    Case("assemble", features=(REGISTER,)),
    Case("tempfile", features=(REGISTER, BLOCKS)),
    Case("command_shell", features=(REGISTER, CHANGED, IGNORE, CHECK)),
    Case("script", features=(REGISTER, IGNORE, CHECK)),
    Case("getent", features=(REGISTER,)),
    Case("facts_d", features=(REGISTER, FACTS)),
    Case("undefined", features=(REGISTER, IGNORE)),
    # playbooks of targets driven by runme.sh whose line for them is a plain ansible-playbook
    Case("handlers", "test_handlers_listen.yml", (HANDLERS,)),
    Case("handlers", "test_listening_handlers.yml", (HANDLERS, REGISTER)),
    Case("handlers", "test_multiple_handlers_with_recursive_notification.yml", (HANDLERS,)),
    Case("handlers", "handler_notify_earlier_handler.yml", (HANDLERS,)),
    Case("handlers", "test_handlers_include.yml", (HANDLERS, INCLUDES)),
    Case("handlers", "test_role_handlers_including_tasks.yml", (HANDLERS, INCLUDES)),
    Case("blocks", "block_rescue_vars.yml", (BLOCKS,)),
    Case("blocks", "issue71306.yml", (BLOCKS,)),
    Case("blocks", "72725.yml", (BLOCKS,)),
    Case("check_mode", "check_mode.yml", (CHECK, TAGS), check=True),
    Case("check_mode", "check_mode-not-on-cli.yml", (CHECK,)),
    Case("check_mode", "check_mode-on-cli.yml", (CHECK,), check=True),
    Case("loop_control", "extended.yml", (LOOPS,)),
    Case("loop_control", "break_when.yml", (LOOPS,)),
    Case("include_vars", "test_as_playbook.yml", (INCLUDE_VARS, REGISTER)),
    Case("include_vars", "test_as_role.yml", (INCLUDE_VARS, INCLUDES)),
    Case("set_fact", "set_fact.yml", (FACTS, REGISTER)),
    Case("ignore_errors", "test_ignore_errors.yml", (IGNORE, REGISTER)),
    Case("register", "can_register.yml", (REGISTER, LOOPS)),
    Case("conditionals", "play.yml", (REGISTER, FACTS)),
    Case("template", "template.yml", (TEMPLATES, REGISTER, LOOPS)),
    Case("includes", "test_includes.yml", (INCLUDES, FACTS)),
    Case("import_tasks", "inherit_notify.yml", (INCLUDES, HANDLERS)),
    Case("var_blending", "test_var_blending.yml", (TEMPLATES, FACTS, INCLUDE_VARS)),
    Case("vars_files", "runme.yml", (INCLUDE_VARS, FACTS)),
    Case("keyword_inheritance", "test.yml", (INCLUDES,)),
    Case("environment", "test_environment.yml", (REGISTER, BLOCKS)),
    Case("tags", "test_template_play_tags.yml", (TAGS,)),
    Case("tags", "test_template_role_tags.yml", (TAGS, INCLUDES)),
    Case("tags", "test_template_parent_tags.yml", (TAGS, INCLUDES)),
]

# Why a target is left out (targets not named here are classified from their aliases by excluded_reason()).
EXCLUDED: dict[str, str] = {
    "lookup_csvfile": "reads files relative to the playbook through `lookup('csvfile')` with lookups of unreadable "
    "paths expecting Ansible's exact error text",
    "lookup_random_choice": "random output, nothing to assert",
    "lookup_url": "needs the network (httptester)",
    "filter_urls": "needs jinja2 urlencode variants of the controller only; kept out as it asserts on the version",
    "test_uri": "passes no assertion on localhost without httptester URLs",
    "known_hosts": "writes ~/.ssh/known_hosts of the machine's user (shared by other engineers)",
    "copy": "destructive: creates users (setup_nobody) and writes outside its folder",
    "file": "needs setup_nobody (creates a user) and checks ownership by that user",
    "become": "destructive: creates a test user with a password (passlib)",
    "task-args": "controller-only action plugin tests bound to ansible-test's collection layout",
    "task-timeout": "asserts on Ansible's timeout text",
    "jinja_plugins": "collection plugins in ansible-test's collection layout",
    "protomatter": "private test plugins of ansible-core (ansible._protomatter)",
    "special_vars": "asserts on ansible_role_names / playbook_dir bookkeeping of Ansible itself",
    "unexpected_executor_exception": "a test of Ansible's own crash handling",
    "module-serialization-profiles": "sets a private env variable (env/set alias)",
    "gather_facts-errors": "asserts Ansible's fact-module error messages",
    "missing-interpreter": "an inventory with a missing interpreter on purpose",
    "python_module_rlimit_nofile": "asserts on Ansible's worker process limits",
    "ansiballz_debug": "a test of ansible's module packaging",
    "ansiballz_debugging": "a test of ansible's module packaging",
    "ansiballz_python": "a test of ansible's module packaging (AnsiballZ internals)",
    "embedded_module": "a test of ansible's module packaging",
    "old_style_modules_posix": "modules of a test library folder beside the target",
    "want_json_modules_posix": "modules of a test library folder beside the target",
    "binary": "needs setup_nobody-free shell checks of /tmp content of the controller; destructive cleanup",
    "wait_for": "listens on network ports and waits on timeouts (minutes)",
    "module_no_log": "reads /var/log/syslog (no syslog in the container)",
    "task-esoterica": "needs an env/set alias (deprecation warnings on)",
    "filter_encryption": "needs passlib",
    "async": "async_status and the async wrapper: timing-dependent, minutes long",
    "async_fail": "async_status and the async wrapper: timing-dependent",
    "controller": "a test of the controller's Python only",
    "common_network": "network platform filters of ansible.netcommon layout",
    "connection_remote_is_local": "a private connection plugin",
    "display-newline": "asserts on Ansible's display output",
    "lookup-option-name": "private lookup plugin of the target",
    "plugin_config_for_inventory": "an inventory plugin test",
    "plugin_namespace": "private plugins beside the target",
    "pkg_resources": "needs setuptools' pkg_resources on the controller",
    "preflight_encoding": "changes the locale (env)",
    "include_parent_role_vars": "hidden: used only through special_vars",
    "yaml_parsing": "asserts on YAML parser warnings of Ansible",
    "module_utils_ansible_release": "a test of ansible's module_utils",
    "module_utils_common.respawn": "respawns Python: a test of ansible's module_utils",
    "module_utils_facts.system.selinux": "needs selinux",
    "ansible-config": "runs the ansible-config command line",
    "ansible-galaxy-collection-cli": "runs ansible-galaxy (network)",
    "ansible-galaxy-role": "runs ansible-galaxy",
    "add_host": "add_host of in-memory hosts: the lead's work in progress (dynamic groups), measured once it lands",
    "iptables": "changes the firewall",
    "facts_linux_network": "needs privileged network namespaces",
    "inventory_script": "an inventory script test",
    # tried, and failing under ansible-playbook itself on this machine (so they could not count)
    "lookup_pipe": "fails under ansible-playbook here: its pipe assertion expects a shell output this container lacks",
    "lineinfile": "fails under ansible-playbook here: needs setfacl (the acl package)",
    "shell": "fails under ansible-playbook here: expects other shells installed (No first item, sequence was empty)",
    "var_reserved": "fails under ansible-playbook here: asserts on Ansible's warning text",
}


@dataclass
class Outcome:
    case: Case
    ansible_ok: bool
    orchc_ok: bool | None  # None: not run (Ansible failed)
    ansible_seconds: float
    orchc_seconds: float
    reason: str = ""
    notes: list[str] = field(default_factory=list)


def fetch(cache: Path) -> Path:
    """The unpacked ansible-core sdist's test/integration/targets; downloads it on first use (RuntimeError
    if it cannot)."""
    version = ansible_version()
    folder = cache / f"ansible_core-{version}"
    targets = folder / "test" / "integration" / "targets"
    if targets.is_dir():
        return targets
    archive = sdist_archive("ansible-core", version, cache / f"ansible_core-{version}.tar.gz")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/test/integration/" in m.name]
        tar.extractall(cache, members=members, filter="data")
    return targets


def aliases(target: Path) -> list[str]:
    path = target / "aliases"
    if not path.is_file():
        return []
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def dependencies(targets: Path, name: str, seen: set[str] | None = None) -> set[str]:
    """The target and every target it needs: role dependencies (meta/main.yml) and needs/target aliases."""
    seen = set() if seen is None else seen
    if name in seen or not (targets / name).is_dir():
        return seen
    seen.add(name)
    meta = targets / name / "meta" / "main.yml"
    if meta.is_file():
        for dep in (yaml.safe_load(meta.read_text()) or {}).get("dependencies") or []:
            dependencies(targets, dep["role"] if isinstance(dep, dict) else str(dep), seen)
    for alias in aliases(targets / name):
        if alias.startswith("needs/target/"):
            dependencies(targets, alias.removeprefix("needs/target/"), seen)
    return seen


def excluded_reason(targets: Path, name: str) -> str:
    """Why target `name` is not in the suite ("" for a suite target)."""
    if any(c.target == name for c in CASES):
        return ""
    if name in EXCLUDED:
        return EXCLUDED[name]
    found = aliases(targets / name)
    text = " ".join(found)
    folder = targets / name
    for word, why in (
        ("windows", "Windows hosts"),
        ("cloud/", "a cloud account"),
        ("network/", "network devices"),
        ("needs/httptester", "the network (httptester)"),
        ("needs/ssh", "an SSH server"),
        ("destructive", "destructive (installs packages, users or services on the machine)"),
        ("needs/privileged", "a privileged container"),
        ("disabled", "disabled upstream"),
        ("unsupported", "unsupported upstream"),
        ("hidden", "a helper of other targets"),
    ):
        if word in text:
            return f"needs {why}" if not why.startswith(("destructive", "disabled", "unsupported", "a helper")) else why
    if name.startswith(("ansible-test", "ansible-")):
        return "a test of an ansible command line tool (ansible-test, galaxy, doc, vault, ...)"
    if name.startswith(("setup_", "prepare_")):
        return "a setup role of other targets (runs inside the cases that depend on it)"
    if name.startswith(
        (
            "module_utils_",
            "inventory",
            "connection",
            "collections",
            "plugin_",
            "cache-plugins",
            "callback",
            "lookup_",
            "filter_",
            "test_",
            "win_",
            "incidental_",
            "become",
        )
    ):
        return "a test of an Ansible plugin/loader internal, not of playbook behaviour"
    if (folder / "runme.sh").is_file():
        return (
            "driven by runme.sh: its checks grep Ansible's output, use --tags/--limit/-e, env settings or several "
            "runs; no playbook of it was taken"
        )
    if not (folder / "tasks").is_dir():
        return "no tasks and no runme.sh"
    return "a module test that needs packages, services or network on the host"


def inventory_ini(state: Path) -> str:
    """ansible-test's inventory for these targets; `orchc_state_dir` (where migrated playbooks keep handler flags
    and handed-over variables) keeps orchc's bookkeeping in the case's folder and means nothing to Ansible."""
    py = sys.executable
    return (
        f"localhost ansible_connection=local ansible_python_interpreter={py}\n\n[testgroup]\n"
        f"testhost ansible_connection=local ansible_pipelining=yes ansible_python_interpreter={py}\n\n"
        f"[all:vars]\norchc_state_dir={state}\n"
    )


def play_for(case: Case, targets: Path, output: Path) -> str:
    """The playbook ansible-test writes for a role target (output_dir: an absolute folder, as ansible-test's)."""
    gather = case.gather_facts
    if gather is None:
        gather = "gather_facts/no" not in aliases(targets / case.target)
    play = {"hosts": "testhost", "gather_facts": gather, "vars": {"output_dir": str(output)}, "roles": [case.target]}
    return yaml.safe_dump([play], sort_keys=False)


def prepare(case: Case, targets: Path, where: Path) -> tuple[Path, Path]:
    """Copy the case's targets under where/targets; return (the playbook, the folder to run it in)."""
    copy = where / "targets"
    for name in sorted(dependencies(targets, case.target)):
        shutil.copytree(targets / name, copy / name, symlinks=True)
    folder = copy / case.target
    if case.playbook:
        playbook = folder / case.playbook
    else:
        playbook = folder / f"{case.target}-play.yml"
        (where / "output").mkdir(exist_ok=True)
        playbook.write_text(play_for(case, targets, where / "output"))
    (where / "inventory").write_text(inventory_ini(where / "state"))
    return playbook, folder


def environment(where: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_ROLES_PATH": str(where / "targets"),
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "HOME": os.environ.get("HOME", "/root"),
    }


def tail(done: subprocess.CompletedProcess, lines: int = 30) -> str:
    text = (done.stdout or "") + (done.stderr or "")
    return "\n".join(text.strip().splitlines()[-lines:])


def run_case(case: Case, targets: Path, keep: Path | None = None, verbose: bool = False) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="orchc-behaviour-") as tmp:
        base = Path(tmp) if keep is None else keep / re.sub(r"[^A-Za-z0-9_.-]", "_", case.name)
        if keep is not None:
            shutil.rmtree(base, ignore_errors=True)
            base.mkdir(parents=True)
        peer = base / "ansible"
        playbook, folder = prepare(case, targets, peer)
        args = ["ansible-playbook", "-i", str(peer / "inventory"), playbook.name] + (["--check"] if case.check else [])
        start = time.perf_counter()
        try:
            done = subprocess.run(args, cwd=folder, env=environment(peer), capture_output=True, text=True, timeout=900)
            ansible_ok, ansible_out = done.returncode == 0, tail(done)
        except subprocess.TimeoutExpired:
            ansible_ok, ansible_out = False, "ansible-playbook: timed out"
        ansible_seconds = time.perf_counter() - start
        if not ansible_ok:
            return Outcome(case, False, None, ansible_seconds, 0.0, ansible_out)

        mine = base / "orchc"
        playbook, folder = prepare(case, targets, mine)
        out, env = mine / "out", environment(mine)
        start = time.perf_counter()
        orchc = [sys.executable, "-m", "orchc"]
        done = subprocess.run(
            orchc + ["migrate", "playbook", str(playbook), "-o", str(out)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            return Outcome(case, True, False, ansible_seconds, time.perf_counter() - start, "migrate: " + tail(done))
        # the same inventory as ansible-playbook's: migrated content runs where its source ran
        args = orchc + [
            "run",
            str(out),
            "-i",
            str(mine / "inventory"),
            "--strict",
            "--journal",
            str(mine / "journal.db"),
        ]
        args += ["--check"] if case.check else []
        try:
            done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=1800)
            orchc_ok, orchc_out = done.returncode == 0, tail(done, 60)
        except subprocess.TimeoutExpired:
            orchc_ok, orchc_out = False, "orchc run: timed out"
        return Outcome(
            case,
            True,
            orchc_ok,
            ansible_seconds,
            time.perf_counter() - start,
            "" if orchc_ok and not verbose else orchc_out,
        )


def mark(ok: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "-"}[ok]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=PROJECT_ROOT / "corpus-cache")
    parser.add_argument("--only", nargs="*", default=[], help="case names (target or target/playbook.yml)")
    parser.add_argument("--list", action="store_true", help="every target: in the suite, or why not; runs nothing")
    parser.add_argument("--keep", type=Path, help="keep each case's folder under this folder")
    parser.add_argument("-v", "--verbose", action="store_true", help="print orchc's output tail of passing cases too")
    args = parser.parse_args()
    try:
        targets = fetch(args.cache)
    except RuntimeError as exc:
        print(f"skipped: ansible-core's sdist is not available ({exc})")
        return 0
    if args.list:
        for target in sorted(p.name for p in targets.iterdir() if p.is_dir()):
            taken = [c for c in CASES if c.target == target]
            if taken:
                print(f"{target}: in the suite: {', '.join(c.playbook or 'the role' for c in taken)}")
            else:
                print(f"{target}: left out: {excluded_reason(targets, target)}")
        return 0
    cases = [c for c in CASES if not args.only or c.name in args.only or c.target in args.only]
    print(f"ansible-core {ansible_version()} integration targets: {len(cases)} cases")
    outcomes: list[Outcome] = []
    start = time.perf_counter()
    for case in cases:
        outcome = run_case(case, targets, args.keep, args.verbose)
        outcomes.append(outcome)
        print(
            f"{case.name:60} ansible {mark(outcome.ansible_ok)} ({outcome.ansible_seconds:5.1f} s)  "
            f"orchc {mark(outcome.orchc_ok)} ({outcome.orchc_seconds:5.1f} s)",
            flush=True,
        )
        if outcome.reason:
            print("    " + outcome.reason.replace("\n", "\n    "), flush=True)
    passed = [o for o in outcomes if o.ansible_ok]
    both = [o for o in passed if o.orchc_ok]
    ratio = len(both) / len(passed) if passed else 0.0
    print(
        f"\n{len(outcomes)} cases; ansible-playbook passes {len(passed)}; orchc run --strict passes {len(both)} "
        f"of those: {ratio:.1%} (target >= 95%) in {time.perf_counter() - start:.0f} s"
    )
    for o in passed:
        if not o.orchc_ok:
            print(f"  orchc fails: {o.case.name}")
    for o in outcomes:
        if not o.ansible_ok:
            print(f"  ansible fails (not counted): {o.case.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
