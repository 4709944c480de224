"""How long `orchc report` takes, and how large its file is, for a deployment of many hosts.

    python3 bench/report_scale.py [--hosts 300 1000] [--forks 100]

For each N: a real run (local transport) of the tests' OpenStack-like deployment
(tests/report_site.py: a controller, a network node, N-2 compute hosts, two of
them failing within their role's tolerance, 3N+4 instances), then a resume that
finds everything up to date; then the report of both runs is built from the
journal (read, computed, rendered) and timed, best of three.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from orchc.backends.journal import SqliteJournal  # noqa: E402
from orchc.backends.report import journal_report  # noqa: E402
from report_site import compute_hosts, run_site, site_plan  # noqa: E402  (the tests' deployment, reused)


def measure(hosts: int, forks: int) -> tuple[float, int]:
    """Seconds to build the report of the two runs of an N-host deployment, and its size in bytes."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        fail = {"compute.install@compute3": "libvirt missing", "compute.register@compute7": "cannot reach the API"}
        plan = site_plan(root, compute_hosts(list(range(1, hosts - 1))), fail=fail, tolerate=5)
        run_site(plan, root, forks=forks)
        run_site(plan, root, forks=forks)
        best, size = float("inf"), 0
        for _ in range(3):
            began = time.perf_counter()
            journal = SqliteJournal(root / ".orchc" / "journal.db")
            try:
                text = journal_report(journal, journal.runs())
            finally:
                journal.close()
            best, size = min(best, time.perf_counter() - began), len(text.encode())
        return best, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--forks", type=int, default=100)
    args = parser.parse_args()
    for hosts in args.hosts:
        seconds, size = measure(hosts, args.forks)
        print(f"{hosts:5d} hosts, 2 runs: report in {seconds:.2f}s, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
