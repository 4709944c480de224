"""Export a Plan's dependency graph as Graphviz DOT or Mermaid.

Edges point the way work flows: from a dependency to what waits for it.
At instance level, instances are grouped by host; `on any` groups are dashed;
instances skipped at compile time are grey. At task level, one node per task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from orchc.plan import Plan

Format = Literal["dot", "mermaid"]
Level = Literal["instance", "task"]


@dataclass
class Graph:
    nodes: list[str] = field(default_factory=list)  # in Plan order
    clusters: dict[str, list[str]] = field(default_factory=dict)  # host -> its nodes
    edges: list[tuple[str, str, bool]] = field(default_factory=list)  # (from, to, dashed)
    skipped: set[str] = field(default_factory=set)


def build(plan: Plan, level: Level) -> Graph:
    graph = Graph()
    if level == "task":
        task_of = {i.id: i.task for i in plan.instances}
        graph.nodes = [t.id for t in plan.tasks]
        pairs: dict[tuple[str, str], bool] = {}
        for instance in plan.instances:
            for dep in instance.deps:
                pairs[(task_of[dep], instance.task)] = False
            for group in instance.any_of:
                for dep in group:
                    pairs.setdefault((task_of[dep], instance.task), True)
        graph.edges = [(a, b, dashed) for (a, b), dashed in sorted(pairs.items()) if a != b]
        return graph
    for instance in plan.instances:
        graph.nodes.append(instance.id)
        if instance.host is not None:
            graph.clusters.setdefault(instance.host, []).append(instance.id)
        if instance.skip:
            graph.skipped.add(instance.id)
        graph.edges.extend((dep, instance.id, False) for dep in instance.deps)
        graph.edges.extend((dep, instance.id, True) for group in instance.any_of for dep in group)
    graph.clusters = {h.name: graph.clusters[h.name] for h in plan.hosts if h.name in graph.clusters}
    return graph


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Graph) -> str:
    lines = ["digraph plan {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    clustered = {node for members in graph.clusters.values() for node in members}
    for index, (host, members) in enumerate(graph.clusters.items()):
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f"    label={_dot_id(host)};")
        lines.extend(f"    {_dot_node(node, graph)}" for node in members)
        lines.append("  }")
    lines.extend(f"  {_dot_node(node, graph)}" for node in graph.nodes if node not in clustered)
    for source, target, dashed in graph.edges:
        style = " [style=dashed]" if dashed else ""
        lines.append(f"  {_dot_id(source)} -> {_dot_id(target)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_node(node: str, graph: Graph) -> str:
    style = " [style=dashed, fontcolor=gray]" if node in graph.skipped else ""
    return f"{_dot_id(node)}{style};"


def to_mermaid(graph: Graph) -> str:
    ids = {node: f"n{index}" for index, node in enumerate(graph.nodes)}

    def label(node: str) -> str:
        return f'{ids[node]}["{node.replace(chr(34), "#quot;")}"]'

    lines = ["flowchart LR"]
    clustered = {node for members in graph.clusters.values() for node in members}
    for index, (host, members) in enumerate(graph.clusters.items()):
        lines.append(f'  subgraph host{index}["{host}"]')
        lines.extend(f"    {label(node)}" for node in members)
        lines.append("  end")
    lines.extend(f"  {label(node)}" for node in graph.nodes if node not in clustered)
    for source, target, dashed in graph.edges:
        lines.append(f"  {ids[source]} {'-.->' if dashed else '-->'} {ids[target]}")
    if graph.skipped:
        lines.append("  classDef skipped stroke-dasharray: 5 5,color:gray")
        lines.append(f"  class {','.join(ids[n] for n in graph.nodes if n in graph.skipped)} skipped")
    return "\n".join(lines) + "\n"


def render_graph(plan: Plan, format: Format, level: Level) -> str:
    graph = build(plan, level)
    return to_dot(graph) if format == "dot" else to_mermaid(graph)
