"""Task-Core's scale data: orchc (convert + compile) against Task-Core's own graph build, in the same run.

    python3 bench/taskcore_scale.py [--repeat N] [--seed S]

1. Generates the data with Task-Core's own generator (`examples/scale/gen_scale_data.py`
   of task-core 0.2.1: 1000 hosts, 100 roles, 1000 services), seeded.
2. orchc: `orchc migrate taskcore` then `orchc compile` (two command lines, wall time).
3. Task-Core: `task-core --noop` (builds its taskflow graph and exports it, runs
   nothing), installed from PyPI into a virtual environment under corpus-cache/.
   Graphviz is not needed: a stub `dot` answers pydot's SVG request, so Task-Core's
   time leaves out Graphviz's layout (which would only make it slower).
Both are installed by pip, each into a virtual environment of its own under corpus-cache/
(orchc from this checkout, reinstalled on every run of the bench), so that both start as
a user's install does: from bytecode, without the site hooks of a development
environment. An untimed first run of orchc writes lark's grammar cache.
Prints wall-clock and CPU seconds of each (the best run) and the ratios; on a busy
machine the CPU ratio is the steadier one. orchc runs ORCHC_RUNS_PER_REPEAT times per
--repeat: a run of under a second is spoilt by a burst of I/O that a 17-second run
of Task-Core averages out. Target: orchc >= 20x faster.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from taskcore_corpus import CACHE, VERSION, taskcore_source  # noqa: E402

VENV = CACHE / "taskcore-venv"
ORCHC_VENV = CACHE / "orchc-venv"
ORCHC_RUNS_PER_REPEAT = 3
STUB_DOT = "#!/bin/sh\necho '<svg xmlns=\"http://www.w3.org/2000/svg\"/>'\n"


def generate(folder: Path, seed: int) -> None:
    """Task-Core's generator writes inventory.yaml, roles.yaml and services/ into the current folder."""
    spec = importlib.util.spec_from_file_location(
        "gen_scale_data", taskcore_source() / "examples" / "scale" / "gen_scale_data.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (folder / "services").mkdir(parents=True)
    random.seed(seed)
    previous = Path.cwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            module.gen_scale_data()
    finally:
        os.chdir(previous)


def taskcore_command() -> Path:
    """`task-core` from PyPI in its own virtual environment (created on first use)."""
    program = VENV / "bin" / "task-core"
    if not program.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", f"task-core=={VERSION}", "pydot"], check=True)
    return program


def orchc_python() -> Path:
    """A Python with orchc installed from this checkout in its own virtual environment: its dependencies
    on first use, orchc itself on every call (so that the bench measures the working tree)."""
    python = ORCHC_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ORCHC_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], check=True)
    else:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)], check=True
        )
    return python


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds, and CPU seconds (user + system) of the command, which a busy machine disturbs less."""

    wall: float
    cpu: float

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.wall + other.wall, self.cpu + other.cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Timing:
    cpu, start = _children_cpu(), time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    timing = Timing(time.perf_counter() - start, _children_cpu() - cpu)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return timing


def run_orchc(python: Path, data: Path, out: Path) -> tuple[Timing, Timing]:
    orchc = [str(python), "-m", "orchc"]
    convert = timed(
        orchc + ["migrate", "taskcore", "-s", "services", "-r", "roles.yaml", "-i", "inventory.yaml", "-o", str(out)],
        data,
    )
    compile_ = timed(
        orchc + ["compile", str(out), "-i", str(out / "inventory.yml"), "-o", str(data / "plan.json")], data
    )
    return convert, compile_


def run_taskcore(data: Path, program: Path, stub_dir: Path) -> Timing:
    env = {**os.environ, "PATH": f"{stub_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return timed([str(program), "-s", "services", "-i", "inventory.yaml", "-r", "roles.yaml", "--noop"], data, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool; the best time counts")
    parser.add_argument("--seed", type=int, default=20220114)
    options = parser.parse_args()
    program, python = taskcore_command(), orchc_python()
    with tempfile.TemporaryDirectory(prefix="orchc-taskcore-scale-") as tmp:
        work = Path(tmp)
        data, stub_dir = work / "data", work / "stub"
        generate(data, options.seed)
        stub_dir.mkdir()
        (stub_dir / "dot").write_text(STUB_DOT)
        (stub_dir / "dot").chmod(0o755)
        run_orchc(python, data, work / "warm-up")  # writes lark's grammar cache, as a first use would
        orchc_runs = [run_orchc(python, data, work / f"out{i}") for i in range(options.repeat * ORCHC_RUNS_PER_REPEAT)]
        taskcore_runs = [run_taskcore(data, program, stub_dir) for _ in range(options.repeat)]
        plan_size = (data / "plan.json").stat().st_size
        services = len(list((data / "services").glob("*.yaml")))
    convert, compile_ = min(orchc_runs, key=lambda run: (run[0] + run[1]).wall)
    orchc_total, taskcore_total = convert + compile_, min(taskcore_runs, key=lambda t: t.wall)
    print(
        f"Task-Core scale data (seed {options.seed}, {services} service files, 1000 hosts, 100 roles), "
        f"best of {options.repeat * ORCHC_RUNS_PER_REPEAT} (orchc) and {options.repeat} (Task-Core); "
        "wall / CPU seconds"
    )
    rows = [
        ("orchc migrate taskcore", convert),
        ("orchc compile", compile_),
        ("orchc total", orchc_total),
        ("task-core --noop", taskcore_total),
    ]
    for name, timing in rows:
        print(f"  {name:24} {timing.wall:8.2f} s  {timing.cpu:8.2f} s")
    print(f"  plan.json {plan_size / 1e6:.1f} MB")
    print(
        f"  ratio task-core / orchc  {taskcore_total.wall / orchc_total.wall:8.1f}x  "
        f"{taskcore_total.cpu / orchc_total.cpu:8.1f}x   (target >= 20x)"
    )


if __name__ == "__main__":
    main()
