"""`orchc report`: what it computes of real runs (waiting, critical path, root causes, durations, lanes), the
self-contained HTML file, its errors, and how it looks in headless Chromium at 6 and 300 hosts."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from orchc.backends.engine import Limits
from orchc.backends.journal import SqliteJournal
from orchc.backends.report_data import RunView, percentile, run_view
from orchc.backends.state import State
from report_site import compute_hosts, journal_runs, run_site, site_plan
from test_engine_plans import make_plan
from test_run import orchc, run

FAILED_RED = (0xC6, 0x28, 0x28)
CHANGED_AMBER = (0xEF, 0x8F, 0x00)
WAITING_GREY = (0xCF, 0xD8, 0xDC)
RETRIED_PINK = (0xF4, 0x8F, 0xB1)
LIBVIRT = "libvirt: <missing> on compute3"


@pytest.fixture(scope="module")
def six(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 hosts: compute3 fails (its role tolerates none, so the run stops), with 3 forks; then a resume with it
    fixed."""
    root = tmp_path_factory.mktemp("six")
    computes = compute_hosts([1, 2, 3, 10])
    assert run_site(site_plan(root, computes, fail={"compute.install@compute3": LIBVIRT}), root, forks=3) == "failed"
    fixed = site_plan(root, computes, change_keys={"compute.install@compute3": "fixed"})
    assert run_site(fixed, root) == "succeeded"
    return root


@pytest.fixture(scope="module")
def views(six: Path) -> list[RunView]:
    return [run_view(*run) for run in journal_runs(six)]


@pytest.fixture(scope="module")
def three_hundred(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 hosts, 50 forks: two computes fail within their role's tolerance, one retries its register."""
    root = tmp_path_factory.mktemp("three_hundred")
    fail = {"compute.install@compute3": LIBVIRT, "compute.register@compute150": "cannot reach the API"}
    plan = site_plan(
        root, compute_hosts(list(range(1, 299))), fail=fail, tolerate=5, retried="compute.register@compute7"
    )
    assert run_site(plan, root, forks=50) == "succeeded"
    return root


INVENTORY_BY_ROLE = [
    ("controller", ["ctl1"]),
    ("network", ["net1"]),
    ("compute", ["compute1", "compute2", "compute3", "compute10"]),
]


def expected_lanes(view: RunView) -> list[tuple[str, list[str]]]:
    """INVENTORY_BY_ROLE, of the hosts the run did something on."""
    acted = {s.host for s in view.spans.values() if s.in_run}
    kept = [(role, [h for h in hosts if h in acted]) for role, hosts in INVENTORY_BY_ROLE]
    return [(role, hosts) for role, hosts in kept if hosts]


def test_lanes_are_the_inventory_grouped_by_role_in_natural_order(views: list[RunView]):
    first, resume = views
    assert first.lanes == expected_lanes(first) and "compute3" in first.lanes[-1][1]
    assert resume.lanes == expected_lanes(resume)


def test_waiting_runs_from_the_last_dependency_to_the_start(views: list[RunView], six: Path):
    graph = journal_runs(six)[0][2]
    assert graph is not None
    for view in views:
        for iid, span in view.spans.items():
            ends = [view.spans[d].ended for d in graph.deps[iid] if d in view.spans and view.spans[d].state.is_final]
            ready = max(ends, default=0.0)
            assert span.ready == (min(ready, span.started) if span.started is not None else ready)
            assert span.waiting is None or span.waiting >= 0


def test_waiting_for_a_fork(tmp_path: Path):
    plan = make_plan("a.x@h1\na.x@h2\na.x@h3\na.x@h4", root=tmp_path)
    run(plan, tmp_path, limits=Limits(forks=1))
    ((record, transitions, graph),) = journal_runs(tmp_path)
    spans = sorted(run_view(record, transitions, graph).spans.values(), key=lambda s: s.started or 0.0)
    # All four ready at once, one fork: each after the first waits at least as long as the one before it took.
    assert [s.ready for s in spans] == [0.0] * 4
    for before, after in zip(spans, spans[1:], strict=False):
        assert after.waiting is not None and after.waiting >= (before.waiting or 0.0) + (before.duration or 0.0)


def test_the_critical_path_follows_the_dependency_that_ended_last(views: list[RunView], six: Path):
    graph = journal_runs(six)[0][2]
    assert graph is not None
    for view in views:
        path = view.critical_path
        acted = {iid: s for iid, s in view.spans.items() if s.in_run}
        assert view.spans[path[-1]].ended == max(s.ended for s in acted.values())
        for before, after in zip(path, path[1:], strict=False):
            prior = [d for d in graph.deps[after] if d in acted]
            assert before in prior and acted[before].ended == max(acted[d].ended for d in prior)
        assert not [d for d in graph.deps[path[0]] if d in acted]  # it starts where nothing of the run came before


def test_the_critical_path_of_a_chain_is_the_chain(tmp_path: Path):
    plan = make_plan("a.x@h1\na.y@h1: a.x@h1\nb.z@h2: a.y@h1", commands={"a.x@h1": "sleep 0.1"}, root=tmp_path)
    run(plan, tmp_path)
    ((record, transitions, graph),) = journal_runs(tmp_path)
    assert run_view(record, transitions, graph).critical_path == ["a.x@h1", "a.y@h1", "b.z@h2"]


def test_dep_failed_instances_are_under_their_root_cause(views: list[RunView]):
    first = views[0]
    (failure,) = first.failures
    assert failure.root.instance == "compute.install@compute3" and LIBVIRT in failure.root.last.stderr_tail
    # deployed waited on compute.verify@compute3, which waited on compute.register@compute3: both dep_failed,
    # and all three are put down to the install that failed.
    assert [s.instance for s in failure.caused] == ["compute.register@compute3", "compute.verify@compute3", "deployed"]
    assert first.unexplained == [] and views[1].failures == []


def test_without_a_graph_dep_failed_instances_are_unexplained(six: Path):
    record, transitions, _ = journal_runs(six)[0]
    view = run_view(record, transitions, None)
    assert [s.instance for s in view.unexplained] == [
        "compute.register@compute3",
        "compute.verify@compute3",
        "deployed",
    ]
    assert all(s.ready is None for s in view.spans.values())
    assert view.lanes == [("(no role)", ["compute1", "compute2", "compute3", "compute10", "ctl1"])]


def test_percentiles_are_nearest_rank():
    values = [float(k) for k in range(1, 21)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (10.0, 19.0, 20.0)
    assert percentile([3.0], 95) == 3.0


def test_the_task_table_covers_every_host_a_task_ran_on(views: list[RunView]):
    for view in views:
        assert [r.max for r in view.tasks] == sorted((r.max for r in view.tasks), reverse=True)
        for row in view.tasks:
            ran = [s for s in view.spans.values() if s.task == row.task and s.duration is not None]
            took = sorted(s.duration or 0.0 for s in ran)
            assert (row.count, row.max) == (len(ran), took[-1]) and row.p50 <= row.p95 <= row.max
            assert row.critical == any(s.instance in view.critical_path for s in ran)
            waits = [s.waiting or 0.0 for s in ran]
            assert row.mean_waiting == pytest.approx(sum(waits) / len(waits))
    assert {r.task: r.count for r in views[0].tasks}["compute.install"] >= 1  # the failed one counts


def test_a_resume_run_shows_what_it_ran_and_what_was_up_to_date(views: list[RunView]):
    resume = views[1]
    # common.base@compute3 ran before the install that failed; the install runs again.
    assert resume.spans["common.base@compute3"].last.message == "up to date"
    assert not resume.spans["common.base@compute3"].in_run
    assert resume.spans["compute.install@compute3"].state == State.CHANGED
    assert resume.spans["compute.install@compute3"].duration is not None


@pytest.fixture(scope="module")
def report(six: Path) -> Path:
    result = orchc("report", str(six), "-o", "report.html", cwd=six)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "wrote report.html (runs 1-2, run 2 shown)"
    return six / "report.html"


def test_the_report_is_self_contained_with_every_run_and_the_last_shown(report: Path):
    text = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)  # no external assets
    assert "<link" not in text and "<script" not in text
    assert re.findall(r'<input type="radio" name="run" id="pick-(\d)" hidden( checked)?>', text) == [
        ("1", ""),
        ("2", " checked"),
    ]
    assert '<section class="run" id="run-1">' in text and '<section class="run" id="run-2">' in text
    assert "stopped: host compute3 failed beyond the tolerance of role compute" in text


def test_the_report_shows_failures_path_legend_and_durations(report: Path, views: list[RunView]):
    run1 = report.read_text().split('<section class="run" id="run-2">')[0]
    assert "libvirt: &lt;missing&gt; on compute3" in run1  # the output excerpt, escaped
    assert "caused 3 dep_failed:" in run1 and "<b>compute.verify</b> × 1: compute3" in run1
    assert "dep_failed (a dependency failed)" in run1 and "waiting: ready (dependencies done) → started" in run1
    assert "Critical path (" in run1 and 'class="cp' in run1
    assert "<th class='n'>p95</th>" in run1
    assert re.search(r"<title>compute\.install@compute3\ntask compute\.install · host compute3 · failed\nready", run1)
    lanes = [name.strip() for name in re.findall(r'<text class="host"[^>]*>([^<·]+)', run1)]
    assert lanes == [host for _, hosts in expected_lanes(views[0]) for host in hosts]


def test_one_run_only(report: Path):
    result = orchc("report", str(report.parent), "--run", "1", "-o", "one.html", cwd=report.parent)
    assert result.returncode == 0 and result.stdout.strip() == "wrote one.html (run 1)"
    assert 'id="run-2"' not in (report.parent / "one.html").read_text()


def test_an_unknown_run_is_a_clear_error(report: Path):
    result = orchc("report", str(report.parent), "--run", "9", "-o", "r.html", cwd=report.parent)
    assert result.returncode == 1 and "error: the journal has no run 9" in result.stderr
    assert "runs in the journal: 1, 2" in result.stderr and "Traceback" not in result.stderr


def test_report_without_a_journal_is_a_clear_error(tmp_path: Path):
    result = orchc("report", str(tmp_path), "-o", "r.html", cwd=tmp_path)
    assert result.returncode == 1 and "no journal at" in result.stderr


def test_a_journal_with_no_run_is_a_clear_error(tmp_path: Path):
    SqliteJournal(tmp_path / ".orchc" / "journal.db").close()
    result = orchc("report", str(tmp_path), "-o", "r.html", cwd=tmp_path)
    assert result.returncode == 1 and "the journal has no run yet" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_a_damaged_journal_is_a_clear_error(tmp_path: Path):
    (tmp_path / ".orchc").mkdir()
    (tmp_path / ".orchc" / "journal.db").write_bytes(b"not a database, just bytes" * 100)
    result = orchc("report", str(tmp_path), "-o", "r.html", cwd=tmp_path)
    assert result.returncode == 1 and "is not an orchc journal, or is damaged" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_to_a_folder_is_a_clear_error(report: Path):
    result = orchc("report", str(report.parent), "-o", str(report.parent), cwd=report.parent)
    assert result.returncode == 1, result.stderr
    assert f"error: cannot write {report.parent}: Is a directory" in result.stderr


def test_300_hosts_stay_compact(three_hundred: Path):
    result = orchc("report", str(three_hundred), "--run", "1", "-o", "report.html", cwd=three_hundred)
    assert result.returncode == 0, result.stderr
    text = (three_hundred / "report.html").read_text()
    assert text.count('<text class="host"') == 300 and 'class="compact"' in text
    assert len(text.encode()) < 2_000_000
    assert "caused" not in text.split("<h3>Failures (2)</h3>")[1].split("<h3>")[0]  # hosts that left: no dep_failed
    assert "after 2 attempts" in text


def screenshot(html_file: Path, png: Path, height: int, rows: int | None = None) -> Counter[tuple[int, int, int]]:
    """Chromium's screenshot of `html_file`, 1200 pixels wide, and the colours of its first `rows` rows."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            f"--user-data-dir={png.parent / 'profile'}",
            f"--screenshot={png}",
            f"--window-size=1200,{height}",
            html_file.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return pixel_colours(png.read_bytes(), rows)


def test_screenshot_of_6_hosts(six: Path, tmp_path: Path):
    result = orchc("report", str(six), "--run", "1", "-o", str(tmp_path / "six.html"), cwd=six)
    assert result.returncode == 0, result.stderr
    colours = screenshot(tmp_path / "six.html", tmp_path / "report-6.png", 1400)
    assert len(colours) > 20  # not blank
    # The bars, not only the legend's swatches (14 x 10 pixels each).
    assert colours[FAILED_RED] > 400 and colours[CHANGED_AMBER] > 2000 and colours[WAITING_GREY] > 400
    shutil.copy(tmp_path / "report-6.png", "/tmp/report-6.png")


def test_screenshot_of_300_hosts(three_hundred: Path, tmp_path: Path):
    result = orchc("report", str(three_hundred), "--run", "1", "-o", str(tmp_path / "300.html"), cwd=three_hundred)
    assert result.returncode == 0, result.stderr
    # The whole chart in the PNG; its colours counted where the failures and the retry are (decoding is slow).
    colours = screenshot(tmp_path / "300.html", tmp_path / "report-300.png", 3800, rows=900)
    assert colours[CHANGED_AMBER] > 20_000 and colours[FAILED_RED] > 400 and colours[RETRIED_PINK] > 150
    shutil.copy(tmp_path / "report-300.png", "/tmp/report-300.png")


def pixel_colours(data: bytes, rows: int | None = None) -> Counter[tuple[int, int, int]]:
    """Count the RGB colours of an 8-bit RGB/RGBA PNG (what Chromium writes), of its first `rows` rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6)
    bpp = 4 if colour_type == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    previous = bytearray(stride)
    counts: Counter[tuple[int, int, int]] = Counter()
    for y in range(min(height, rows or height)):
        start = y * (stride + 1)
        kind, row = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = row[i - bpp] if i >= bpp else 0
            up, up_left = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
        counts.update(zip(row[0::bpp], row[1::bpp], row[2::bpp], strict=False))
        previous = row
    return counts
