"""Real corpora: every playbook of kolla-ansible 22.2.0 and tripleo-ansible 6.0.0 converts and compiles
against its project's own inventories (kolla's all-in-one and multinode; a TripleO-shaped overcloud).

Slow (downloads both source distributions from PyPI into corpus-cache/ on first
use, then converts and compiles 94 playbooks). The same run, with timings and
every failure's reason, is `python3 bench/playbook_corpus.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_scripts import load_bench


@pytest.mark.slow
def test_kolla_and_tripleo_playbooks_convert_and_compile(project_root: Path) -> None:
    bench = load_bench(project_root, "playbook_corpus")
    items = bench.corpus(bench.fetch(project_root / "corpus-cache"))
    assert len(items) >= 90
    outcomes = [outcome for item in items for outcome in bench.convert_and_compile(item)]
    for inventory in {o.inventory for o in outcomes}:
        mine = [o for o in outcomes if o.inventory == inventory]
        failures = [f"{o.playbook.name}: {o.reason}" for o in mine if not o.ok]
        assert len(failures) <= 0.05 * len(mine), f"{inventory}:\n" + "\n".join(failures)
