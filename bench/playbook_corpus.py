"""Convert every playbook of kolla-ansible 22.2.0 and tripleo-ansible 6.0.0, then compile each result
against the project's own inventories.

    python3 bench/playbook_corpus.py [--cache corpus-cache] [--limit N] [--only kolla-ansible] [--no-peer]

Downloads the two source distributions from PyPI into the (git-ignored)
`corpus-cache/` on first use, converts each playbook into a temporary folder
with `orchc migrate playbook`'s converter, and compiles it against the
inventories users really have, never the placeholder the converter writes:
kolla's own `ansible/inventory/all-in-one` and `multinode`, and for
tripleo-ansible an overcloud inventory shaped as tripleo-ansible-inventory
writes one (bench/data/tripleo-inventory.yml). It prints, per inventory, the
fraction that converted and compiled (target: at least 95%), the time per
playbook, the report counts summed over the corpus, and every failure with its
reason. It also counts the `when ansible` conditions (the group_by keys that
compiling decides, from kolla's own group_vars/all beside its playbooks and
the inventory), the instances they skip, and what the others lacked; for
kolla, again as its users run it, with `-e kolla_action=deploy` (declared
as a variable of the project, so that Ansible gets it too). The peer, in the same run: `ansible-playbook
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

from orchc.compiler import CompileResult, compile_project
from orchc.dsl.diagnostics import DiagnosticError
from orchc.migrate.ansible import convert_playbook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the corpus helpers
from pypi_sdist import sdist_archive  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"kolla-ansible": ("22.2.0", "kolla_ansible-22.2.0"), "tripleo-ansible": ("6.0.0", "tripleo-ansible-6.0.0")}


@dataclass
class Outcome:
    playbook: Path
    inventory: Path
    ok: bool
    reason: str
    seconds: float
    counts: dict[str, int]
    figures: dict[str, float | int | str]
    decided: Decided | None = None  # the `when ansible` conditions of its compile, with the user's variables
    decided_as_run: Decided | None = None  # ... and with the variables a user of the project passes


@dataclass
class Decided:
    """What compiling decided for the `when ansible` conditions of one playbook."""

    conditions: int
    decided: int  # on every host
    gated: int  # instances of the tasks that have one
    skipped: int  # of those, skipped when compiling
    lacked: Counter[str]  # why a condition was left to the run -> how many conditions

    @classmethod
    def of(cls, result: CompileResult) -> Decided:
        lacked: Counter[str] = Counter(why for o in result.conditions for why in set(o.run_time.values()))
        skipped = sum(1 for i in result.plan.instances if (i.skip or "").startswith("when ansible"))
        decided = sum(1 for o in result.conditions if not o.run_time)
        return cls(len(result.conditions), decided, sum(o.instances for o in result.conditions), skipped, lacked)

    def __add__(self, other: Decided) -> Decided:
        return Decided(
            self.conditions + other.conditions,
            self.decided + other.decided,
            self.gated + other.gated,
            self.skipped + other.skipped,
            self.lacked + other.lacked,
        )

    def shown(self) -> str:
        lacked = ", ".join(f"{why}: {n}" for why, n in self.lacked.most_common())
        return (
            f"when ansible: {self.decided} of {self.conditions} conditions decided when compiling on every host, "
            f"skipping {self.skipped} of the {self.gated} instances they gate; left to the run: {lacked or 'none'}"
        )


def fetch(cache: Path) -> dict[str, Path]:
    """The unpacked source tree of each package, downloading it if needed."""
    cache.mkdir(parents=True, exist_ok=True)
    trees = {}
    for name, (version, folder) in PACKAGES.items():
        tree = cache / folder
        if not tree.is_dir():
            sdist = sdist_archive(name, version, cache / f"{folder}.tar.gz")
            with tarfile.open(sdist) as archive:
                archive.extractall(cache, filter="data")
        trees[name] = tree
    return trees


TRIPLEO_INVENTORY = PROJECT_ROOT / "bench" / "data" / "tripleo-inventory.yml"


@dataclass
class Item:
    playbook: Path
    roles_path: list[Path]
    inventories: list[Path]  # the project's own
    as_run: dict[str, str] | None = None  # the variables its users pass (`-e`), declared in the project


def corpus(trees: dict[str, Path]) -> list[Item]:
    """Every playbook of both packages, with its roles path and its project's inventories."""
    kolla = trees["kolla-ansible"] / "ansible"
    tripleo = trees["tripleo-ansible"] / "tripleo_ansible"
    kolla_inventories = [kolla / "inventory" / "all-in-one", kolla / "inventory" / "multinode"]
    kolla_action = {"kolla_action": "deploy"}  # `kolla-ansible deploy` runs ansible-playbook -e kolla_action=deploy
    items = [Item(p, [kolla / "roles"], kolla_inventories, kolla_action) for p in sorted(kolla.glob("*.yml"))]
    items += [Item(p, [tripleo / "roles"], [TRIPLEO_INVENTORY]) for p in sorted((tripleo / "playbooks").glob("*.y*ml"))]
    return items


def plugin_env(roles: Path) -> dict[str, str]:
    """Ansible's search paths for the project's own roles, modules and plugins (kolla and tripleo layouts)."""
    base = roles.parent
    found = {"ANSIBLE_ROLES_PATH": [roles]}
    for variable, names in (
        ("ANSIBLE_LIBRARY", ["library", "ansible_plugins/modules"]),
        ("ANSIBLE_ACTION_PLUGINS", ["action_plugins", "ansible_plugins/action"]),
        ("ANSIBLE_FILTER_PLUGINS", ["filter_plugins", "ansible_plugins/filter"]),
        ("ANSIBLE_MODULE_UTILS", ["module_utils", "ansible_plugins/module_utils"]),
    ):
        found[variable] = [base / n for n in names if (base / n).is_dir()]
    return {k: ":".join(str(p) for p in v) for k, v in found.items() if v}


def syntax_check(playbook: Path, roles_path: list[Path]) -> tuple[bool, float]:
    """The peer: ansible-playbook --syntax-check of the same playbook; (passed, seconds)."""
    env = {**os.environ, **plugin_env(roles_path[0]), "ANSIBLE_NOCOLOR": "1"}
    start = time.perf_counter()
    done = subprocess.run(
        ["ansible-playbook", "--syntax-check", "-i", "localhost,", playbook.name],
        cwd=playbook.parent,
        env=env,
        capture_output=True,
        timeout=600,
    )
    return done.returncode == 0, time.perf_counter() - start


def convert_and_compile(item: Item) -> list[Outcome]:
    """One outcome per inventory of the item's project: converted once, compiled against each."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="orchc-corpus-") as tmp:
        out = Path(tmp)
        try:
            migration = convert_playbook(item.playbook, roles_path=item.roles_path)
            migration.write(out)
        except Exception as exc:  # noqa: BLE001 — a bad input or a converter bug: report it, keep going
            reason = _reason(exc)
            return [
                Outcome(item.playbook, inventory, False, reason, time.perf_counter() - start, {}, {})
                for inventory in item.inventories
            ]
        converted = time.perf_counter() - start
        orch = [out / name for name in migration.files if name.endswith(".orch")]
        outcomes = []
        for inventory in item.inventories:
            begin = time.perf_counter()
            decided = decided_as_run = None
            try:
                decided = Decided.of(compile_project(orch, inventory))
                ok, reason = True, ""
            except Exception as exc:  # noqa: BLE001
                ok, reason = False, _reason(exc)
            if ok and item.as_run:
                declared = out / "orchc-corpus-vars.orch"
                declared.write_text("".join(f"var {name}: str\n" for name in item.as_run))
                decided_as_run = Decided.of(compile_project([*orch, declared], inventory, item.as_run))
                declared.unlink()
            outcomes.append(
                Outcome(
                    item.playbook,
                    inventory,
                    ok,
                    reason,
                    converted + time.perf_counter() - begin,
                    migration.report.counts(),
                    migration.report.figures,
                    decided,
                    decided_as_run,
                )
            )
    return outcomes


def _reason(exc: Exception) -> str:
    if isinstance(exc, DiagnosticError):
        first = next((d for d in exc.diagnostics if d.severity == "error"), exc.diagnostics[0])
        return f"{first.span}: {first.message}" if first.span else first.message
    return f"internal error: {type(exc).__name__}: {exc}"  # a converter or compiler bug


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=PROJECT_ROOT / "corpus-cache")
    parser.add_argument("--limit", type=int, default=0, help="convert only the first N playbooks")
    parser.add_argument("--only", choices=sorted(PACKAGES), help="the playbooks of one project")
    parser.add_argument("--no-peer", action="store_true", help="skip ansible-playbook --syntax-check")
    args = parser.parse_args()
    items = corpus(fetch(args.cache))
    if args.only:
        items = [item for item in items if item.playbook.is_relative_to(args.cache / PACKAGES[args.only][1])]
    if args.limit:
        items = items[: args.limit]
    outcomes = [outcome for item in items for outcome in convert_and_compile(item)]
    by_inventory: dict[Path, list[Outcome]] = {}
    for outcome in outcomes:
        by_inventory.setdefault(outcome.inventory, []).append(outcome)
    for inventory, group in by_inventory.items():
        passed = sum(o.ok for o in group)
        print(
            f"{_shown(inventory, args.cache)}: {len(group)} playbooks, converted and compiled {passed} "
            f"({100 * passed / len(group):.1f}%, target >= 95%)"
        )
        for label, found in (
            ("", [o.decided for o in group]),
            (" -e kolla_action=deploy", [o.decided_as_run for o in group]),
        ):
            known = [d for d in found if d is not None]
            if known and any(d.conditions for d in known):
                print(f"  {label.strip() or 'as converted'}: {sum(known[1:], known[0]).shown()}")
    first = [group[0] for group in _per_playbook(outcomes)]  # the report counts once per playbook
    seconds = sum(o.seconds for o in first)
    print(
        f"time: {seconds:.1f} s in all, {seconds / max(len(first), 1):.2f} s per playbook (convert + write + compile)"
    )
    totals: Counter[str] = Counter()
    for outcome in first:
        totals.update(outcome.counts)
        totals.update({k: v for k, v in outcome.figures.items() if isinstance(v, int)})
    print(
        "report entries over the converted playbooks: "
        + ", ".join(f"{k} {totals[k]}" for k in ("native", "wrapped", "unsupported", "approximated", "assumption"))
    )
    print(
        f"orchc tasks: {totals['orchc tasks']}; ordering edges: {totals['ordering edges']}, of which "
        f"{totals['ordering edges from textual order only']} come from textual order only (parallelism to unlock); "
        f"handlers: {totals['handlers']}, each gated by `when notified` (no flag file on the host)"
    )
    if not args.no_peer:
        peer = [syntax_check(item.playbook, item.roles_path) for item in items]
        both = [(o.seconds, p[1]) for o, p in zip(first, peer, strict=True) if o.ok and p[0]]
        ours, theirs = sum(b[0] for b in both), sum(b[1] for b in both)
        print(
            f"peer: ansible-playbook --syntax-check passes {sum(p[0] for p in peer)} of {len(peer)} playbooks here; "
            f"on the {len(both)} both handle: orchc convert+compile {ours:.1f} s, syntax-check {theirs:.1f} s "
            f"(ratio {ours / max(theirs, 1e-9):.2f})"
        )
    for outcome in outcomes:
        if not outcome.ok:
            print(
                f"FAILED {outcome.playbook.relative_to(args.cache)} "
                f"({_shown(outcome.inventory, args.cache)}): {outcome.reason}"
            )
    return 0 if all(sum(o.ok for o in g) >= 0.95 * len(g) for g in by_inventory.values()) else 1


def _per_playbook(outcomes: list[Outcome]) -> list[list[Outcome]]:
    grouped: dict[Path, list[Outcome]] = {}
    for outcome in outcomes:
        grouped.setdefault(outcome.playbook, []).append(outcome)
    return list(grouped.values())


def _shown(path: Path, cache: Path) -> str:
    for base in (cache, PROJECT_ROOT):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return str(path)


if __name__ == "__main__":
    sys.exit(main())
