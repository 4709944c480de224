"""The report's timeline: one inline SVG per role, a lane per host, on one time scale.

Each instance that ran is a bar coloured by its outcome; before it, lighter,
its wait (ready → started); failed attempts that were retried are the bar's
first part; dep_failed instances are a narrow mark where they gave up; the
critical path is outlined. A bar's tooltip (`<title>`) says task, host, times
and wait. Past `COMPACT_LANES` lanes the rows shrink, so 300 hosts stay on a
few screens.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from dataclasses import dataclass

from orchc.backends.report_data import RunView, Span
from orchc.backends.state import State

CHART_WIDTH = 1100
LABEL_WIDTH = 150
AXIS_HEIGHT = 22
COMPACT_LANES = 40


@dataclass(frozen=True)
class Look:
    """What the legend and the bars share: a CSS class, its colour and what it means."""

    css: str
    colour: str
    meaning: str


LOOKS = {
    State.OK: Look("ok", "#2e7d32", "ok (nothing changed)"),
    State.CHANGED: Look("changed", "#ef8f00", "changed"),
    State.FAILED: Look("failed", "#c62828", "failed"),
    State.UNREACHABLE: Look("unreachable", "#6a1b9a", "unreachable"),
    State.DEP_FAILED: Look("dep_failed", "#e57373", "dep_failed (a dependency failed): a mark where it gave up"),
    State.RUNNING: Look("running", "#1565c0", "running when the run stopped"),
    State.SKIPPED: Look("skipped", "#00838f", "skipped (up to date, host left): not drawn, counted beside the host"),
}
RETRIED = Look("retried", "#f48fb1", "failed attempts, then retried")
WAITING = Look("waiting", "#cfd8dc", "waiting: ready (dependencies done) → started")


def look(state: State) -> Look:
    return LOOKS.get(state, LOOKS[State.RUNNING])


CSS = (
    "".join(f".{x.css}{{fill:{x.colour};background:{x.colour}}}" for x in [*LOOKS.values(), RETRIED, WAITING])
    + """
.cp{stroke:#000;stroke-width:2} .axis{fill:#757575} .host{fill:#212121} .label{fill:#fff;pointer-events:none}
.compact .host{font-size:8px} .lane{fill:#fafafa;stroke:#eee} .grid{stroke:#eeeeee}
.axisbar{position:sticky;top:0;background:#fff;z-index:1}
"""
)


@dataclass
class Scale:
    seconds_to_px: float
    lane_height: int

    def x(self, seconds: float) -> float:
        return LABEL_WIDTH + seconds * self.seconds_to_px


def gantt(view: RunView) -> str:
    """The chart of the run: the axis, then per role a collapsible group of host lanes."""
    bars: dict[str, list[Span]] = defaultdict(list)
    skipped: Counter[str] = Counter()
    for span in view.spans.values():
        if span.host is None:
            continue
        if span.in_run:
            bars[span.host].append(span)
        else:
            skipped[span.host] += 1
    if not bars:
        return "<p>Nothing ran in this run.</p>"
    lane_count = sum(len(hosts) for _, hosts in view.lanes)
    compact = lane_count > COMPACT_LANES
    scale = Scale((CHART_WIDTH - LABEL_WIDTH - 10) / max(view.length, 1e-3), 10 if compact else 22)
    ticks = _ticks(view.length)
    critical = set(view.critical_path)
    out = [f'<div class="axisbar">{_axis(scale, ticks)}</div>']
    for role, hosts in view.lanes:
        states = Counter(s.state for h in hosts for s in bars[h])
        summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        out.append(
            f"<details open><summary><b>{html.escape(role)}</b> · {len(hosts)} host{'s' if len(hosts) != 1 else ''}"
            f" · {summary}</summary>"
        )
        out.append(_role_chart(hosts, bars, skipped, scale, ticks, critical, compact))
        out.append("</details>")
    return "\n".join(out)


def _axis(scale: Scale, ticks: list[float]) -> str:
    labels = "".join(
        f'<text class="axis" x="{scale.x(t):.1f}" y="14" text-anchor="middle">{t:g}s</text>' for t in ticks
    )
    return f'<svg width="{CHART_WIDTH}" height="{AXIS_HEIGHT}" role="img" aria-label="time axis">{labels}</svg>'


def _role_chart(
    hosts: list[str],
    bars: dict[str, list[Span]],
    skipped: Counter[str],
    scale: Scale,
    ticks: list[float],
    critical: set[str],
    compact: bool,
) -> str:
    rows = {host: _pack(bars[host]) for host in hosts}
    height = sum(len(r) for r in rows.values()) * scale.lane_height
    out = [
        f'<svg class="{"compact" if compact else ""}" width="{CHART_WIDTH}" height="{height}" role="img" '
        f'aria-label="timeline of {len(hosts)} hosts">'
    ]
    out.extend(f'<line class="grid" x1="{scale.x(t):.1f}" y1="0" x2="{scale.x(t):.1f}" y2="{height}"/>' for t in ticks)
    y = 0
    for host in hosts:
        lanes = rows[host]
        lane_px = len(lanes) * scale.lane_height
        label = host + (f" · {skipped[host]} skipped" if skipped[host] and not compact else "")
        out.append(f'<rect class="lane" x="0" y="{y}" width="{CHART_WIDTH}" height="{lane_px}"/>')
        out.append(
            f'<text class="host" x="6" y="{y + scale.lane_height - (3 if compact else 7)}">{html.escape(label)}'
            f"<title>{html.escape(host)}: {len(bars[host])} in this run, {skipped[host]} skipped</title></text>"
        )
        for k, lane in enumerate(lanes):
            top = y + k * scale.lane_height + (1 if compact else 3)
            height_px = scale.lane_height - (2 if compact else 6)
            out.extend(_waiting(span, scale, top, height_px) for span in lane)
            out.extend(_bar(span, scale, top, height_px, span.instance in critical, compact) for span in lane)
        y += lane_px
    out.append("</svg>")
    return "\n".join(out)


def _waiting(span: Span, scale: Scale, top: int, height: int) -> str:
    wait = span.waiting
    if span.started is None or span.ready is None or not wait or wait <= 0:
        return ""
    x = scale.x(span.ready)
    return f'<rect class="waiting" x="{x:.1f}" y="{top}" width="{wait * scale.seconds_to_px:.1f}" height="{height}"/>'


def _bar(span: Span, scale: Scale, top: int, height: int, critical: bool, compact: bool) -> str:
    tip = html.escape(tooltip(span))
    outline = " cp" if critical else ""
    if span.started is None:  # dep_failed: a mark where it gave up
        x = scale.x(span.ended)
        return (
            f'<rect class="{look(span.state).css}{outline}" x="{x - 1.5:.1f}" y="{top}" width="3" height="{height}">'
            f"<title>{tip}</title></rect>"
        )
    x = scale.x(span.started)
    width = max((span.ended - span.started) * scale.seconds_to_px, 2.0)
    parts = [
        f'<g><title>{tip}</title><rect class="{look(span.state).css}{outline}" x="{x:.1f}" y="{top}" '
        f'width="{width:.1f}" height="{height}" rx="2"/>'
    ]
    if span.retried is not None:
        retried_px = max((span.retried - span.started) * scale.seconds_to_px, 1.0)
        parts.append(f'<rect class="retried" x="{x:.1f}" y="{top}" width="{retried_px:.1f}" height="{height}"/>')
    label = "" if compact else _fitting_label(span.task, width)
    if label:
        parts.append(f'<text class="label" x="{x + 4:.1f}" y="{top + 12}">{html.escape(label)}</text>')
    parts.append("</g>")
    return "".join(parts)


def tooltip(span: Span) -> str:
    """What hovering a bar says."""
    lines = [span.instance, f"task {span.task} · host {span.host or '(none)'} · {span.state}"]
    if span.last.attempt > 1:
        lines[-1] += f" after {span.last.attempt} attempts"
    times = []
    if span.ready is not None:
        times.append(f"ready {span.ready:.2f}s")
    if span.started is not None:
        times.append(f"started {span.started:.2f}s")
    times.append(f"ended {span.ended:.2f}s")
    lines.append(" · ".join(times))
    if span.waiting is not None:
        lines.append(
            f"waited {span.waiting:.2f}s" + (f" · took {span.duration:.2f}s" if span.duration is not None else "")
        )
    if span.last.message:
        lines.append(span.last.message)
    return "\n".join(lines)


def _fitting_label(task: str, width: float) -> str:
    """The task id, or its last part, if it fits in a bar `width` pixels wide; else nothing."""
    for label in (task, task.rsplit(".", 1)[-1]):
        if width > 6.5 * len(label) + 8:
            return label
    return ""


def _pack(spans: list[Span]) -> list[list[Span]]:
    """Overlapping bars of one host on separate lanes (host slots > 1), the marks of dep_failed instances on
    the first; at least one lane."""
    lanes: list[list[Span]] = [[]]
    ends: list[float] = [0.0]
    for span in sorted(spans, key=lambda s: (s.started if s.started is not None else s.ended, s.ended)):
        if span.started is None:
            lanes[0].append(span)
            continue
        for k, end in enumerate(ends):
            if end <= span.started + 1e-9:
                lanes[k].append(span)
                ends[k] = span.ended
                break
        else:
            lanes.append([span])
            ends.append(span.ended)
    return lanes


def _ticks(span: float) -> list[float]:
    step = next(
        (s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if span / s <= 12), 7200
    )
    count = int(span / step + 1e-9)
    return [round(k * step, 6) for k in range(count + 1)]
