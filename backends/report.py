"""`orchc report`: one self-contained HTML file for the runs of a journal.

A run picker (radio buttons and CSS: no script, no external asset, so the file
can be attached to a ticket or archived by CI and still open years later)
shows one run at a time, the latest first. Per run: its outcome and counts
(what it ran, what it found up to date), the timeline (`report_gantt`) with
its legend, the critical path, the failures with the dep_failed instances
each caused, and per task the durations across hosts. The numbers come from
`report_data`; this module only writes HTML, every text through html.escape.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

from orchc.backends.host_groups import natural_key
from orchc.backends.journal import Journal, RunGraph, RunRecord
from orchc.backends.report_data import Failure, RunView, Span, TaskRow, run_view
from orchc.backends.report_gantt import CSS as GANTT_CSS
from orchc.backends.report_gantt import LOOKS, RETRIED, WAITING, gantt, look
from orchc.backends.state import State

INSTANCE_ROWS = 2000  # the "all instances" table of a run stops there (orchc status shows them all)
OUTPUT_LINES = 30  # of a failure's output
HOSTS_NAMED = 8  # per task, under a failure: the first hosts named, the others counted

_CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #212121; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 19px; margin: 8px 0 4px; }
h3 { font-size: 16px; margin: 24px 0 8px; }
.meta { color: #616161; margin-bottom: 8px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; color: #fff; margin-right: 6px;
         font-weight: 600; }
table { border-collapse: collapse; } td, th { text-align: left; padding: 3px 8px;
  border-bottom: 1px solid #e0e0e0; vertical-align: top; } td.n, th.n { text-align: right; }
pre { margin: 4px 0 0; padding: 8px; background: #263238; color: #eceff1; border-radius: 4px;
      overflow-x: auto; font-size: 12px; white-space: pre-wrap; max-width: 1060px; }
svg { display: block; } svg text { font: 11px system-ui, sans-serif; }
summary { cursor: pointer; padding: 2px 0; }
.note { background: #fff8e1; border-left: 4px solid #ef8f00; padding: 6px 10px; margin: 8px 0; }
.legend span { display: inline-block; margin-right: 14px; white-space: nowrap; }
.legend i { display: inline-block; width: 14px; height: 10px; border-radius: 2px; margin-right: 4px; }
.legend i.cpkey { background: #fff; border: 2px solid #000; box-sizing: border-box; }
.picker { display: flex; flex-wrap: wrap; gap: 4px; margin: 0 0 16px; }
.picker label { padding: 3px 10px; border: 1px solid #bdbdbd; border-radius: 4px; cursor: pointer; }
.picker label.failed { border-color: #c62828; } .run { display: none; }
.caused { margin: 4px 0 0 16px; color: #424242; }
"""


def journal_report(store: Journal, runs: Iterable[RunRecord]) -> str:
    """The report of `runs` (in journal order) as the journal keeps them."""
    graphs: dict[str, RunGraph | None] = {}
    views = []
    for run in runs:
        if run.plan_digest not in graphs:
            graphs[run.plan_digest] = store.graph(run.plan_digest)
        views.append(run_view(run, store.transitions(run.id), graphs[run.plan_digest]))
    return render_report(views)


def render_report(views: list[RunView]) -> str:
    """One page, a section per run; the last run is the one shown first."""
    latest = views[-1].run
    pick = "".join(
        f'<input type="radio" name="run" id="pick-{v.run.id}" hidden{" checked" if v.run is latest else ""}>'
        for v in views
    )
    shown = "".join(
        f"#pick-{v.run.id}:checked~#run-{v.run.id}{{display:block}}"
        f"#pick-{v.run.id}:checked~nav label[for=pick-{v.run.id}]{{background:#1565c0;color:#fff}}"
        for v in views
    )
    tabs = "".join(
        f'<label for="pick-{v.run.id}" class="{"failed" if v.run.outcome != "succeeded" else ""}">'
        f"run {v.run.id} · {html.escape(v.run.outcome or 'did not end')}</label>"
        for v in reversed(views)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>orchc report: run {latest.id} {html.escape(latest.outcome or 'did not end')}</title>",
        f"<style>{_CSS}{GANTT_CSS}{shown}</style></head><body>",
        f"<h1>orchc report · {len(views)} run{'s' if len(views) != 1 else ''}</h1>",
        pick,
        f'<nav class="picker" aria-label="runs">{tabs}</nav>',
        *(_run_section(v) for v in views),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _run_section(view: RunView) -> str:
    run = view.run
    outcome = run.outcome or "did not end (crashed or still running)"
    counts = Counter(s.state for s in view.spans.values())
    up_to_date = sum(1 for s in view.spans.values() if not s.in_run)
    ran = sum(1 for s in view.spans.values() if s.started is not None)
    badges = "".join(
        f'<span class="badge {look(state).css}">{html.escape(state)} {n}</span>' for state, n in sorted(counts.items())
    )
    options = _options(run)
    return "\n".join(
        [
            f'<section class="run" id="run-{run.id}">',
            f"<h2>Run {run.id}: {html.escape(outcome)}</h2>",
            f'<div class="meta">started {_when(run.started)} · {view.length:.1f}s · {len(view.spans)} instances: '
            f"{ran} ran, {up_to_date} skipped (up to date or by a condition) · strategy "
            f"{html.escape(str(run.options.get('strategy', 'graph')))}"
            f"{' · ' + html.escape(options) if options else ''}</div>",
            f"<div>{badges}</div>",
            "".join(f'<p class="note">{html.escape(note)}</p>' for note in run.notes),
            "<h3>Timeline per host</h3>",
            _legend(),
            gantt(view),
            f"<h3>Critical path ({len(view.critical_path)} instances)</h3>",
            _critical_path(view),
            f"<h3>Failures ({len(view.failures)})</h3>",
            _failures(view.failures, view.unexplained),
            "<h3>Durations per task</h3>",
            _task_table(view.tasks),
            _skipped(view.spans.values()),
            "<h3>All instances</h3>",
            _instances(view.spans),
            "</section>",
        ]
    )


def _options(run: RunRecord) -> str:
    """The options the run was given that differ from the defaults: "force, limit compute3"."""
    given = []
    for name, value in sorted(run.options.items()):
        if name == "strategy" or value is None or value is False or (name == "host_slots" and value == 1):
            continue
        given.append(name if value is True else f"{name} {value}")
    return ", ".join(given)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}s"


def _legend() -> str:
    keys = [LOOKS[s] for s in (State.OK, State.CHANGED, State.FAILED, State.UNREACHABLE, State.RUNNING)]
    keys += [RETRIED, WAITING, LOOKS[State.DEP_FAILED], LOOKS[State.SKIPPED]]
    items = "".join(f'<span><i class="{k.css}"></i>{html.escape(k.meaning)}</span>' for k in keys)
    return f'<p class="legend">{items}<span><i class="cpkey"></i>critical path</span></p>'


def _critical_path(view: RunView) -> str:
    if not view.critical_path:
        return "<p>None: the run did nothing.</p>"
    path = [view.spans[iid] for iid in view.critical_path]
    took = sum(s.duration or 0.0 for s in path)
    waited = sum(s.waiting or 0.0 for s in path)
    rows = "".join(
        f"<tr><td>{html.escape(s.instance)}</td><td>{html.escape(s.host or '')}</td>"
        f'<td class="{look(s.state).css}" style="color:#fff">{html.escape(s.state)}</td>'
        f'<td class="n">{_seconds(s.ready)}</td><td class="n">{_seconds(s.started)}</td>'
        f'<td class="n">{_seconds(s.ended)}</td><td class="n">{_seconds(s.waiting)}</td>'
        f'<td class="n">{_seconds(s.duration)}</td></tr>'
        for s in path
    )
    return (
        f"<p>The chain that ended last: from the instance that ended last, back through the dependency that "
        f"ended last. On it: {took:.2f}s of work and {waited:.2f}s of waiting (for a slot or a fork) of the run's "
        f"{view.length:.2f}s.</p>"
        '<table><tr><th>instance</th><th>host</th><th>state</th><th class="n">ready</th><th class="n">started</th>'
        f'<th class="n">ended</th><th class="n">waited</th><th class="n">took</th></tr>{rows}</table>'
    )


def _failures(failures: list[Failure], unexplained: list[Span]) -> str:
    if not failures and not unexplained:
        return "<p>None.</p>"
    rows = []
    for failure in failures:
        t = failure.root.last
        output = "\n".join((t.stderr_tail or t.stdout_tail).rstrip().splitlines()[-OUTPUT_LINES:])
        rows.append(
            f'<tr><td><span class="badge {look(t.state).css}">{html.escape(t.state)}</span></td>'
            f"<td><b>{html.escape(t.instance)}</b></td><td>{html.escape(t.host or '')}</td>"
            f"<td>{html.escape(t.message)}{f'<pre>{html.escape(output)}</pre>' if output else ''}"
            f"{_caused(failure.caused)}</td></tr>"
        )
    if unexplained:
        rows.append(
            '<tr><td><span class="badge dep_failed">dep_failed</span></td><td colspan="2">no failed instance '
            f"found behind them (the run kept no graph)</td><td>{_caused(unexplained)}</td></tr>"
        )
    return "<table><tr><th>state</th><th>instance</th><th>host</th><th>why</th></tr>" + "".join(rows) + "</table>"


def _caused(caused: list[Span]) -> str:
    """The dep_failed instances behind a failure, counted per task, the first hosts of each named."""
    if not caused:
        return ""
    by_task: dict[str, list[Span]] = defaultdict(list)
    for span in caused:
        by_task[span.task].append(span)
    items = []
    for task, spans in sorted(by_task.items(), key=lambda item: (-len(item[1]), item[0])):
        names = sorted((s.host or s.instance for s in spans), key=natural_key)
        shown = ", ".join(names[:HOSTS_NAMED]) + (
            f" and {len(names) - HOSTS_NAMED} more" if len(names) > HOSTS_NAMED else ""
        )
        items.append(f"<li><b>{html.escape(task)}</b> × {len(spans)}: {html.escape(shown)}</li>")
    return f'<div class="caused">caused {len(caused)} dep_failed:<ul>{"".join(items)}</ul></div>'


def _task_table(rows: list[TaskRow]) -> str:
    if not rows:
        return "<p>No task ran to its end.</p>"
    body = "".join(
        f"<tr><td>{html.escape(r.task)}{' ★' if r.critical else ''}</td><td class='n'>{r.count}</td>"
        f"<td class='n'>{_seconds(r.p50)}</td><td class='n'>{_seconds(r.p95)}</td><td class='n'>{_seconds(r.max)}</td>"
        f"<td class='n'>{_seconds(r.mean_waiting)}</td></tr>"
        for r in rows
    )
    return (
        "<p>Across the hosts each task ran on, longest first; ★ on the critical path.</p>"
        "<table><tr><th>task</th><th class='n'>hosts</th><th class='n'>p50</th><th class='n'>p95</th>"
        f"<th class='n'>max</th><th class='n'>mean wait</th></tr>{body}</table>"
    )


def _skipped(spans: Iterable[Span]) -> str:
    by_reason: Counter[tuple[str, str]] = Counter((s.task, s.last.message) for s in spans if not s.in_run)
    if not by_reason:
        return ""
    body = "".join(
        f"<tr><td>{html.escape(task)}</td><td class='n'>{n}</td><td>{html.escape(reason)}</td></tr>"
        for (task, reason), n in sorted(by_reason.items())
    )
    return (
        f"<h3>Skipped ({sum(by_reason.values())})</h3>"
        f"<table><tr><th>task</th><th class='n'>instances</th><th>why</th></tr>{body}</table>"
    )


def _instances(spans: dict[str, Span]) -> str:
    rows = []
    for iid in sorted(spans, key=natural_key)[:INSTANCE_ROWS]:
        s = spans[iid]
        rows.append(
            f"<tr><td>{html.escape(iid)}</td><td>{html.escape(s.host or '')}</td>"
            f"<td>{html.escape(s.state)}</td><td>{s.last.attempt or ''}</td><td class='n'>{_seconds(s.waiting)}</td>"
            f"<td class='n'>{_seconds(s.duration)}</td><td>{html.escape(s.last.message)}</td></tr>"
        )
    more = f" (the first {INSTANCE_ROWS}; `orchc status` lists all)" if len(spans) > INSTANCE_ROWS else ""
    return (
        f"<details><summary>{len(spans)} instances{more}</summary><table><tr><th>instance</th><th>host</th>"
        "<th>state</th><th>attempts</th><th class='n'>waited</th><th class='n'>took</th><th>message</th></tr>"
        + "".join(rows)
        + "</table></details>"
    )
