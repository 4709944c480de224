"""`orchc report`: one self-contained HTML file for a run — a Gantt chart per host and the failures.

No external assets: the CSS is inline and the chart is inline SVG, so the file
can be attached to a ticket or archived by CI and still open years later.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from orchc.backends.journal import InstanceRecord, RunRecord, Transition, latest_records
from orchc.backends.state import State

COLORS = {
    State.OK: "#2e7d32",
    State.CHANGED: "#ef8f00",
    State.FAILED: "#c62828",
    State.UNREACHABLE: "#6a1b9a",
    State.RUNNING: "#1565c0",
    State.SKIPPED: "#00838f",
    State.DEP_FAILED: "#e57373",
    State.PENDING: "#9e9e9e",
}
CHART_WIDTH = 1100
LABEL_WIDTH = 150
LANE_HEIGHT = 22
AXIS_HEIGHT = 28

_CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #212121; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #616161; margin-bottom: 12px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; color: #fff; margin-right: 6px;
         font-weight: 600; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: 4px 8px;
  border-bottom: 1px solid #e0e0e0; vertical-align: top; }
pre { margin: 4px 0 0; padding: 8px; background: #263238; color: #eceff1; border-radius: 4px;
      overflow-x: auto; font-size: 12px; white-space: pre-wrap; }
svg text { font: 11px system-ui, sans-serif; } .axis { fill: #757575; } .host { fill: #212121; }
.label { fill: #fff; pointer-events: none; }
.note { background: #fff8e1; border-left: 4px solid #ef8f00; padding: 6px 10px; margin: 8px 0; }
"""


@dataclass
class Bar:
    record: InstanceRecord
    start: float  # seconds since the run started
    end: float
    lane: int = 0


def render_report(run: RunRecord, transitions: list[Transition]) -> str:
    records = latest_records(transitions)
    counts = Counter(r.last.state for r in records.values())
    ended = run.ended or max((t.time for t in transitions), default=run.started)
    failures = [r for r in records.values() if r.last.state.is_own_failure]
    outcome = run.outcome or "did not end (crashed or still running)"
    badges = "".join(
        f'<span class="badge" style="background:{COLORS.get(state, "#757575")}">{html.escape(state)} {n}</span>'
        for state, n in sorted(counts.items())
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>orchc run {run.id}: {html.escape(outcome)}</title><style>{_CSS}</style></head><body>",
        f"<h1>orchc run {run.id}: {html.escape(outcome)}</h1>",
        f'<div class="meta">started {_when(run.started)} · {ended - run.started:.1f}s · '
        f"{len(records)} instances · strategy {html.escape(str(run.options.get('strategy', 'graph')))}</div>",
        f"<div>{badges}</div>",
        "".join(f'<p class="note">{html.escape(note)}</p>' for note in run.notes),
        "<h2>Timeline per host</h2>",
        _gantt(records, run.started, ended),
        f"<h2>Failures ({len(failures)})</h2>",
        _failures(failures),
        "<h2>All instances</h2>",
        _instances(records),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def _gantt(records: dict[str, InstanceRecord], run_start: float, run_end: float) -> str:
    by_host: dict[str, list[Bar]] = {}
    for record in records.values():
        if record.started is None:
            continue
        end = record.last.time if record.last.state != State.RUNNING else run_end
        by_host.setdefault(record.last.host or "(no host)", []).append(
            Bar(record, record.started - run_start, end - run_start)
        )
    if not by_host:
        return "<p>No instance ran in this run.</p>"
    lanes = {host: _pack(bars) for host, bars in by_host.items()}
    span = max(run_end - run_start, max(b.end for bars in by_host.values() for b in bars), 1e-3)
    scale = (CHART_WIDTH - LABEL_WIDTH - 10) / span
    height = AXIS_HEIGHT + sum(lanes.values()) * LANE_HEIGHT + 8
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-label="Gantt chart of the run">'
    ]
    step = _tick_step(span)
    tick = 0.0
    while tick <= span + 1e-9:
        x = LABEL_WIDTH + tick * scale
        out.append(f'<line x1="{x:.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x:.1f}" y2="{height}" stroke="#eeeeee"/>')
        out.append(f'<text class="axis" x="{x:.1f}" y="{AXIS_HEIGHT - 10}" text-anchor="middle">{tick:g}s</text>')
        tick += step
    y = AXIS_HEIGHT
    for host in sorted(by_host):
        rows = lanes[host]
        out.append(
            f'<rect x="0" y="{y}" width="{CHART_WIDTH}" height="{rows * LANE_HEIGHT}" fill="#fafafa" stroke="#e0e0e0"/>'
        )
        out.append(f'<text class="host" x="6" y="{y + 15}">{html.escape(host)}</text>')
        for bar in by_host[host]:
            x = LABEL_WIDTH + bar.start * scale
            width = max((bar.end - bar.start) * scale, 2.0)
            top = y + bar.lane * LANE_HEIGHT + 3
            t = bar.record.last
            tip = f"{t.instance} — {t.state}, {bar.end - bar.start:.2f}s" + (f", {t.message}" if t.message else "")
            out.append(
                f'<g><title>{html.escape(tip)}</title><rect x="{x:.1f}" y="{top}" width="{width:.1f}" '
                f'height="{LANE_HEIGHT - 6}" rx="3" fill="{COLORS.get(t.state, "#757575")}"/>'
            )
            label = _fitting_label(t.instance.split("@")[0], width)
            if label:
                out.append(f'<text class="label" x="{x + 4:.1f}" y="{top + 12}">{html.escape(label)}</text>')
            out.append("</g>")
        y += rows * LANE_HEIGHT
    out.append("</svg>")
    return "\n".join(out)


def _fitting_label(task: str, width: float) -> str:
    """The task id, or its last part, if it fits in a bar `width` pixels wide; else nothing."""
    for label in (task, task.rsplit(".", 1)[-1]):
        if width > 6.5 * len(label) + 8:
            return label
    return ""


def _pack(bars: list[Bar]) -> int:
    """Give overlapping bars of one host separate lanes; return the number of lanes."""
    lane_ends: list[float] = []
    for bar in sorted(bars, key=lambda b: (b.start, b.end)):
        for lane, end in enumerate(lane_ends):
            if end <= bar.start + 1e-9:
                bar.lane, lane_ends[lane] = lane, bar.end
                break
        else:
            bar.lane = len(lane_ends)
            lane_ends.append(bar.end)
    return max(len(lane_ends), 1)


def _tick_step(span: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if span / step <= 12:
            return step
    return 7200


def _failures(failures: list[InstanceRecord]) -> str:
    if not failures:
        return "<p>None.</p>"
    rows = []
    for r in failures:
        t = r.last
        output = (t.stderr_tail or t.stdout_tail).rstrip()
        rows.append(
            f'<tr><td><b style="color:{COLORS[t.state]}">{html.escape(t.state)}</b></td>'
            f"<td>{html.escape(t.instance)}</td><td>{html.escape(t.host or '')}</td>"
            f"<td>{html.escape(t.message)}{f'<pre>{html.escape(output)}</pre>' if output else ''}</td></tr>"
        )
    return "<table><tr><th>state</th><th>instance</th><th>host</th><th>why</th></tr>" + "".join(rows) + "</table>"


def _instances(records: dict[str, InstanceRecord]) -> str:
    rows = []
    for iid in sorted(records):
        r = records[iid]
        t = r.last
        took = f"{r.duration:.2f}s" if r.duration is not None else ""
        rows.append(
            f"<tr><td>{html.escape(iid)}</td><td>{html.escape(t.host or '')}</td>"
            f'<td style="color:{COLORS.get(t.state, "#757575")}">{html.escape(t.state)}</td>'
            f"<td>{t.attempt or ''}</td><td>{took}</td><td>{html.escape(t.message)}</td></tr>"
        )
    return (
        "<details><summary>" + f"{len(records)} instances</summary><table><tr><th>instance</th><th>host</th>"
        "<th>state</th><th>attempts</th><th>duration</th><th>message</th></tr>" + "".join(rows) + "</table></details>"
    )
