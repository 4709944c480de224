"""`orchc compile -o plan.json` of several source trees on one workload: is a change within its budget?

    python3 bench/compile_trees.py TREE [TREE ...] [--runs 5] [--hosts 1000 --roles 100 --services 1000 --seed 1]

Each TREE is a checkout of orchc (a `git worktree add /tmp/base 659d043`,
this worktree, ...); the first is the reference. The workload is
`compile_scale.py`'s, generated once. Every run is a fresh process of the
real command line, `python -m orchc compile site.orch -i inventory.ini -o
plan.json`, importing the tree's own code (a folder of links that lays out
the tree's packages as its pyproject.toml maps them, on PYTHONPATH, ahead of
any installed orchc). The trees take turns, run after run, so that a change of
the machine's load falls on all of them; a first run of each, not counted,
writes its bytecode. It prints, for each tree, the best
wall and CPU seconds of the runs, plan.json's size, the instances and
dependencies of its Plan, and the ratios to the reference, with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from compile_scale import generate


@dataclass
class Tree:
    path: Path
    label: str
    shim: Path  # PYTHONPATH: the tree's packages laid out as installed
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    size: int = 0
    instances: int = 0
    deps: int = 0


def revision(path: Path) -> str:
    done = subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "-uno"], capture_output=True, text=True)
    return (done.stdout.strip() or path.name) + ("+" if dirty.stdout.strip() else "")


def lay_out(tree: Path, shim: Path) -> None:
    """Links under `shim` that import as the tree's packages: each package folder of its pyproject.toml's
    `package-dir` at its dotted place (`orchc.compiler` from `compiler/`)."""
    package_dir = tomllib.loads((tree / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    top = shim / "orchc"
    top.mkdir(parents=True)
    for entry in (tree / package_dir["orchc"]).iterdir():
        (top / entry.name).symlink_to(entry)
    for package, folder in package_dir.items():
        if package != "orchc":
            (top / package.split(".", 1)[1]).symlink_to(tree / folder)


def compile_once(tree: Tree, workload: Path) -> None:
    plan = workload / f"plan-{tree.label}.json"
    env = {**os.environ, "PYTHONPATH": str(tree.shim)}
    command = [sys.executable, "-m", "orchc", "compile", "site.orch", "-i", "inventory.ini", "-o", str(plan)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=workload, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{tree.label}: orchc compile failed ({done.returncode}):\n{done.stderr}")
    tree.walls.append(wall)
    tree.cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    tree.size = plan.stat().st_size


def count(tree: Tree, workload: Path) -> None:
    instances = json.loads((workload / f"plan-{tree.label}.json").read_text())["instances"]
    tree.instances, tree.deps = len(instances), sum(len(instance["deps"]) for instance in instances)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path, help="orchc checkouts; the first is the reference")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--roles", type=int, default=100)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="orchc-trees-") as tmp:
        scratch = Path(tmp)
        workload = scratch / "workload"
        workload.mkdir()
        generate(workload, args.hosts, args.roles, args.services, args.seed)
        trees = []
        for number, path in enumerate(args.trees):
            tree = Tree(path.resolve(), f"{number}-{revision(path)}", scratch / f"shim{number}")
            lay_out(tree.path, tree.shim)
            trees.append(tree)
        for tree in trees:  # a first run, not counted, writes the trees' bytecode
            compile_once(tree, workload)
            tree.walls.clear()
            tree.cpus.clear()
        load_before = os.getloadavg()
        for _ in range(args.runs):
            for tree in trees:
                compile_once(tree, workload)
        load_after = os.getloadavg()
        for tree in trees:
            count(tree, workload)

    reference = trees[0]
    print(
        f"orchc compile site.orch -i inventory.ini -o plan.json: {args.hosts} hosts, {args.services} services "
        f"(seed {args.seed}), best of {args.runs}, trees alternating"
    )
    print(f"{'tree':<14} {'wall s':>7} {'CPU s':>7} {'MB':>7} {'instances':>10} {'deps':>8}  wall / CPU / size vs ref")
    for tree in trees:
        wall, cpu = min(tree.walls), min(tree.cpus)
        ratios = (wall / min(reference.walls), cpu / min(reference.cpus), tree.size / reference.size)
        print(
            f"{tree.label:<14} {wall:7.2f} {cpu:7.2f} {tree.size / 1e6:7.2f} {tree.instances:10d} {tree.deps:8d}  "
            + " / ".join(f"{ratio:.3f}" for ratio in ratios)
        )
    print(
        f"load average before {' '.join(f'{x:.2f}' for x in load_before)}, after "
        f"{' '.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
