"""Convert every playbook of kolla-ansible 22.2.0 and tripleo-ansible 6.0.0, then compile each result.

    python3 bench/playbook_corpus.py [--cache corpus-cache] [--limit N] [--no-peer]

Downloads the two source distributions from PyPI into the (git-ignored)
`corpus-cache/` on first use, converts each playbook into a temporary folder
with `orchc migrate playbook`'s converter, compiles it against the inventory
the converter wrote, and prints the fraction that converted and compiled
(target: at least 95%), the time per playbook, the report counts summed over
the corpus, and every failure with its reason. The peer, in the same run: `ansible-playbook
--syntax-check` of each playbook (Ansible reading and validating the same
input, with the project's roles and plugin folders), its pass rate and its time
against orchc's convert + compile.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from orchc.compiler import compile_project
from orchc.dsl.diagnostics import DiagnosticError
from orchc.migrate.ansible import convert_playbook

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"kolla-ansible": ("22.2.0", "kolla_ansible-22.2.0"), "tripleo-ansible": ("6.0.0", "tripleo-ansible-6.0.0")}


@dataclass
class Outcome:
    playbook: Path
    ok: bool
    reason: str
    seconds: float
    counts: dict[str, int]
    figures: dict[str, float | int | str]


def fetch(cache: Path) -> dict[str, Path]:
    """The unpacked source tree of each package, downloading it if needed."""
    cache.mkdir(parents=True, exist_ok=True)
    trees = {}
    for name, (version, folder) in PACKAGES.items():
        tree = cache / folder
        if not tree.is_dir():
            archives = list(cache.glob(f"{folder.replace('-', '?')}.tar.gz"))
            if not archives:
                subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                                f"{name}=={version}", "-d", str(cache)], check=True, capture_output=True)
                archives = list(cache.glob(f"{folder.replace('-', '?')}.tar.gz"))
            with tarfile.open(archives[0]) as archive:
                archive.extractall(cache, filter="data")
        trees[name] = tree
    return trees


def corpus(trees: dict[str, Path]) -> list[tuple[Path, list[Path]]]:
    """(playbook, roles path) for every playbook of both packages."""
    kolla = trees["kolla-ansible"] / "ansible"
    tripleo = trees["tripleo-ansible"] / "tripleo_ansible"
    items = [(p, [kolla / "roles"]) for p in sorted(kolla.glob("*.yml"))]
    items += [(p, [tripleo / "roles"]) for p in sorted((tripleo / "playbooks").glob("*.y*ml"))]
    return items


def plugin_env(roles: Path) -> dict[str, str]:
    """Ansible's search paths for the project's own roles, modules and plugins (kolla and tripleo layouts)."""
    base = roles.parent
    found = {"ANSIBLE_ROLES_PATH": [roles]}
    for variable, names in (("ANSIBLE_LIBRARY", ["library", "ansible_plugins/modules"]),
                            ("ANSIBLE_ACTION_PLUGINS", ["action_plugins", "ansible_plugins/action"]),
                            ("ANSIBLE_FILTER_PLUGINS", ["filter_plugins", "ansible_plugins/filter"]),
                            ("ANSIBLE_MODULE_UTILS", ["module_utils", "ansible_plugins/module_utils"])):
        found[variable] = [base / n for n in names if (base / n).is_dir()]
    return {k: ":".join(str(p) for p in v) for k, v in found.items() if v}


def syntax_check(playbook: Path, roles_path: list[Path]) -> tuple[bool, float]:
    """The peer: ansible-playbook --syntax-check of the same playbook; (passed, seconds)."""
    env = {**os.environ, **plugin_env(roles_path[0]), "ANSIBLE_NOCOLOR": "1"}
    start = time.perf_counter()
    done = subprocess.run(["ansible-playbook", "--syntax-check", "-i", "localhost,", playbook.name],
                          cwd=playbook.parent, env=env, capture_output=True, timeout=600)
    return done.returncode == 0, time.perf_counter() - start


def convert_and_compile(playbook: Path, roles_path: list[Path]) -> Outcome:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="orchc-corpus-") as tmp:
        out = Path(tmp)
        try:
            migration = convert_playbook(playbook, roles_path=roles_path)
            migration.write(out)
            orch = [out / name for name in migration.files if name.endswith(".orch")]
            compile_project(orch, out / "inventory.yml")
        except DiagnosticError as exc:
            first = exc.diagnostics[0]
            where = f"{first.span}: " if first.span else ""
            return Outcome(playbook, False, f"{where}{first.message}", time.perf_counter() - start, {}, {})
        except Exception as exc:  # a converter or compiler bug: report it precisely, keep going
            return Outcome(playbook, False, f"internal error: {type(exc).__name__}: {exc}", time.perf_counter() - start,
                           {}, {})
    return Outcome(playbook, True, "", time.perf_counter() - start, migration.report.counts(),
                   migration.report.figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=PROJECT_ROOT / "corpus-cache")
    parser.add_argument("--limit", type=int, default=0, help="convert only the first N playbooks")
    parser.add_argument("--no-peer", action="store_true", help="skip ansible-playbook --syntax-check")
    args = parser.parse_args()
    items = corpus(fetch(args.cache))
    if args.limit:
        items = items[:args.limit]
    outcomes = [convert_and_compile(playbook, roles) for playbook, roles in items]
    passed = [o for o in outcomes if o.ok]
    totals: Counter[str] = Counter()
    for outcome in passed:
        totals.update(outcome.counts)
        totals.update({k: v for k, v in outcome.figures.items() if isinstance(v, int)})
    seconds = sum(o.seconds for o in outcomes)
    print(f"playbooks: {len(outcomes)}  converted and compiled: {len(passed)} "
          f"({100 * len(passed) / max(len(outcomes), 1):.1f}%, target >= 95%)")
    print(f"time: {seconds:.1f} s in all, {seconds / max(len(outcomes), 1):.2f} s per playbook (convert + write + compile)")
    print("report entries over the converted playbooks: "
          + ", ".join(f"{k} {totals[k]}" for k in ("native", "wrapped", "unsupported", "approximated", "assumption")))
    print(f"orchc tasks: {totals['orchc tasks']}; ordering edges: {totals['ordering edges']}, of which "
          f"{totals['ordering edges from textual order only']} come from textual order only (parallelism to unlock)")
    if not args.no_peer:
        peer = [syntax_check(playbook, roles) for playbook, roles in items]
        both = [(o.seconds, p[1]) for o, p in zip(outcomes, peer) if o.ok and p[0]]
        ours, theirs = sum(b[0] for b in both), sum(b[1] for b in both)
        print(f"peer: ansible-playbook --syntax-check passes {sum(p[0] for p in peer)} of {len(peer)} playbooks here; "
              f"on the {len(both)} both handle: orchc convert+compile {ours:.1f} s, syntax-check {theirs:.1f} s "
              f"(ratio {ours / max(theirs, 1e-9):.2f})")
    for outcome in outcomes:
        if not outcome.ok:
            print(f"FAILED {outcome.playbook.relative_to(args.cache)}: {outcome.reason}")
    return 0 if len(passed) >= 0.95 * len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
