"""`orchc migrate heat` on the real tripleo-heat-templates 18.0.0 (issue 7, points 6 and 7).

1. Every template under deployment/ with a `role_data` output, converted on its
   own (the `Standalone` role): the fraction that converts, and the fraction
   whose deploy/update/upgrade trees compile; then all of them as one project.
2. The whole overcloud of roles_data.yaml's Controller and Compute roles, in
   both modes, compiled into one Plan each for 3 controllers + 2 computes
   (+ the undercloud, tests/data/migrate_heat/inventory.yml).
3. `orchc simulate` of both Plans with unit durations: the faithful
   (TripleO's global barriers) vs relaxed makespan and the lower bound, with
   one task per host (as TripleO's tripleo_free strategy ran) and with
   unlimited slots per host (where only the dependencies limit).

Usage: python3 bench/heat_corpus.py [THT_FOLDER]
(default: corpus-cache/tripleo-heat-templates-18.0.0, downloaded with pip if missing)
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

from orchc.backends.simulate import Durations, simulate
from orchc.compiler import compile_project
from orchc.dsl.diagnostics import DiagnosticError
from orchc.migrate.heat import convert_heat
from orchc.migrate.heat_intrinsics import Library
from orchc.plan import Plan

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the corpus helpers
from pypi_sdist import sdist_archive  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
CACHE = PROJECT / "corpus-cache"
THT_VERSION = "18.0.0"
INVENTORY = PROJECT / "tests" / "data" / "migrate_heat" / "inventory.yml"
OVERCLOUD_ROLES = ("Controller", "Compute")
UNLIMITED_SLOTS = 1000


def tht_folder(argument: str | None) -> Path:
    if argument:
        return Path(argument)
    folder = CACHE / f"tripleo-heat-templates-{THT_VERSION}"
    if not folder.is_dir():
        sdist = sdist_archive("tripleo-heat-templates", THT_VERSION, CACHE / f"{folder.name}.tar.gz")
        with tarfile.open(sdist) as archive:
            archive.extractall(CACHE, filter="data")
    return folder


def service_templates(tht: Path) -> list[Path]:
    library = Library({}, {}, lambda *_: None)
    return [
        path
        for path in sorted((tht / "deployment").rglob("*.yaml"))
        if "role_data" in ((library.template(path) or {}).get("outputs") or {})
    ]


def compiles(folder: Path) -> bool:
    try:
        for tree in sorted(p for p in folder.iterdir() if p.is_dir()):
            compile_project([tree], INVENTORY)
        return True
    except DiagnosticError as exc:
        print(f"  does not compile: {folder.name}: {exc}".splitlines()[0])
        return False


def per_template(tht: Path, work: Path) -> None:
    templates = service_templates(tht)
    converted = compiled = 0
    started = time.perf_counter()
    for number, template in enumerate(templates):
        try:
            migration = convert_heat([template])
        except DiagnosticError as exc:
            print(f"  does not convert: {template.relative_to(tht)}: {exc}")
            continue
        converted += 1
        out = work / f"t{number}"
        migration.write(out)
        compiled += compiles(out)
    seconds = time.perf_counter() - started
    total = len(templates)
    print(f"service templates with role_data: {total}")
    print(f"  converted: {converted}/{total} = {converted / total:.0%}")
    print(f"  compiled:  {compiled}/{total} = {compiled / total:.0%}   ({seconds:.1f}s)")
    started = time.perf_counter()
    convert_heat([tht / "deployment"]).write(work / "all")
    together = compiles(work / "all")
    print(
        f"  all of deployment/ as one project: {'compiles' if together else 'does not compile'}"
        f"   ({time.perf_counter() - started:.1f}s)"
    )


def overcloud(tht: Path, work: Path, relax: bool) -> Plan:
    roles = [r for r in yaml.safe_load((tht / "roles_data.yaml").read_text()) if r["name"] in OVERCLOUD_ROLES]
    roles_file = work / "roles_data.yaml"
    roles_file.write_text(yaml.safe_dump(roles, sort_keys=False))
    migration = convert_heat([tht], roles_data=roles_file, relax=relax)
    out = work / ("relaxed" if relax else "faithful")
    migration.write(out)
    plan = compile_project([out / "deploy"], INVENTORY).plan
    counts = migration.report.counts()
    print(
        f"overcloud {'--relax' if relax else 'faithful'}: {migration.report.figures['services']} services, "
        f"{len(plan.tasks)} tasks, {len(plan.instances)} instances on {len(plan.hosts)} hosts; report: "
        + ", ".join(f"{n} {c}" for c, n in counts.items() if n)
    )
    return plan


def main() -> None:
    tht = tht_folder(sys.argv[1] if len(sys.argv) > 1 else None)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        per_template(tht, work)
        plans = {"faithful": overcloud(tht, work, relax=False), "relaxed": overcloud(tht, work, relax=True)}
    unit = Durations({}, "unit durations")
    for slots, label in ((1, "one task per host"), (UNLIMITED_SLOTS, "unlimited tasks per host")):
        sims = {mode: simulate(plan, unit, host_slots=slots) for mode, plan in plans.items()}
        faithful, relaxed = sims["faithful"], sims["relaxed"]
        print(f"simulate, unit durations, {label}:")
        print(
            f"  faithful makespan {faithful.graph:7.1f}s   relaxed makespan {relaxed.graph:7.1f}s   "
            f"ratio {faithful.graph / relaxed.graph:.2f}x"
        )
        for mode, sim in sims.items():
            print(
                f"  {mode:8} lower bound {sim.bound.seconds:7.1f}s = max(critical path {sim.bound.critical_path:.1f}s, "
                f"busiest host {sim.bound.busiest_load:.1f}s)"
            )


if __name__ == "__main__":
    main()
