"""Dependency cycles: found on the task graph first (cheap), confirmed on the instance graph."""

from __future__ import annotations

from itertools import pairwise

from orchc.compiler.units import Edge
from orchc.dsl.diagnostics import Diagnostics
from orchc.dsl.span import Span
from orchc.plan import Instance


def _acyclic(edges: list[Edge]) -> bool:
    """Kahn's algorithm on the task graph: True if every task can be ordered."""
    waiting: dict[str, int] = {}
    waiters: dict[str, list[str]] = {}
    for edge in {(e.waiter, e.target) for e in edges}:
        waiter, target = edge
        waiting[waiter] = waiting.get(waiter, 0) + 1
        waiting.setdefault(target, 0)
        waiters.setdefault(target, []).append(waiter)
    ready = [task for task, count in waiting.items() if count == 0]
    ordered = 0
    while ready:
        task = ready.pop()
        ordered += 1
        for waiter in waiters.get(task, []):
            waiting[waiter] -= 1
            if waiting[waiter] == 0:
                ready.append(waiter)
    return ordered == len(waiting)


def check_cycles(edges: list[Edge], instances: list[Instance], diagnostics: Diagnostics) -> None:
    if _acyclic(edges):
        return
    import networkx as nx  # slow to import, and only needed to explain a cycle

    by_pair: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        by_pair.setdefault((edge.waiter, edge.target), edge)
    graph: nx.DiGraph[str] = nx.DiGraph()
    task_of: dict[str, str] = {}
    for instance in instances:
        task_of[instance.id] = instance.task
        graph.add_node(instance.id)
        for dep in instance.deps:
            graph.add_edge(instance.id, dep)
    reported: set[frozenset[str]] = set()
    for component in nx.strongly_connected_components(graph):
        if len(component) == 1:
            node = next(iter(component))
            if not graph.has_edge(node, node):
                continue
        in_plan_order = [node for node in graph if node in component]  # not the set's order, which varies by run
        cycle = [waiter for waiter, _ in nx.find_cycle(graph.subgraph(component), source=in_plan_order)]
        task_cycle = frozenset(task_of[i] for i in cycle)
        if task_cycle in reported:
            continue  # the same tasks loop on other hosts too: one report is enough
        reported.add(task_cycle)
        _report(cycle, task_of, by_pair, diagnostics)


def _report(
    cycle: list[str], task_of: dict[str, str], by_pair: dict[tuple[str, str], Edge], diagnostics: Diagnostics
) -> None:
    path = cycle + [cycle[0]]
    notes: list[tuple[str, Span | None]] = []
    for waiter, target in pairwise(path):
        edge = by_pair.get((task_of[waiter], task_of[target]))
        if edge is not None:
            notes.append((f"'{waiter}' waits for '{target}' ({edge.reason})", edge.span))
    span = notes[0][1] if notes else None
    if len(cycle) == 1:
        diagnostics.error(
            f"'{cycle[0]}' waits for itself: it requires a capability it provides",
            span,
            hint="split the task in two: one that provides the capability (for example a `once` "
            "bootstrap), and one that requires it",
        )
        return
    diagnostics.error(
        f"dependency cycle: {' -> '.join(path)}",
        span,
        hint="remove one of these dependencies: each one waits for the next, so none can start",
        notes=notes,
    )
