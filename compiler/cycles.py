"""Dependency cycles: found on the task graph first (cheap), confirmed on the instance graph."""

from __future__ import annotations

from typing import Any

import networkx as nx

from orchc.compiler.expand import Edge
from orchc.dsl.diagnostics import Diagnostics


def check_cycles(edges: list[Edge], instances: list[dict[str, Any]], diagnostics: Diagnostics) -> None:
    tasks = nx.DiGraph()
    by_pair: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        tasks.add_edge(edge.waiter, edge.target)
        by_pair.setdefault((edge.waiter, edge.target), edge)
    try:
        nx.find_cycle(tasks)
    except nx.NetworkXNoCycle:
        return
    graph = nx.DiGraph()
    task_of: dict[str, str] = {}
    for instance in instances:
        task_of[instance["id"]] = instance["task"]
        graph.add_node(instance["id"])
        for dep in instance["deps"]:
            graph.add_edge(instance["id"], dep)
    reported: set[frozenset[str]] = set()
    for component in nx.strongly_connected_components(graph):
        if len(component) == 1:
            node = next(iter(component))
            if not graph.has_edge(node, node):
                continue
        cycle = [waiter for waiter, _ in nx.find_cycle(graph.subgraph(component))]
        task_cycle = frozenset(task_of[i] for i in cycle)
        if task_cycle in reported:
            continue  # the same tasks loop on other hosts too: one report is enough
        reported.add(task_cycle)
        _report(cycle, task_of, by_pair, diagnostics)


def _report(cycle: list[str], task_of: dict[str, str], by_pair: dict[tuple[str, str], Edge],
            diagnostics: Diagnostics) -> None:
    path = cycle + [cycle[0]]
    notes = []
    for waiter, target in zip(path, path[1:]):
        edge = by_pair.get((task_of[waiter], task_of[target]))
        if edge is not None:
            notes.append((f"'{waiter}' waits for '{target}' ({edge.reason})", edge.span))
    diagnostics.error(f"dependency cycle: {' -> '.join(path)}", notes[0][1] if notes else None,
                      hint="remove one of these dependencies: each one waits for the next, so none can start",
                      notes=notes)
