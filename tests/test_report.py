"""`orchc report`: a self-contained HTML file, looked at in headless Chromium."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from test_engine_plans import make_plan
from test_run import orchc, run

FAILED_RED = (0xC6, 0x28, 0x28)
CHANGED_AMBER = (0xEF, 0x8F, 0x00)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("report")
    plan = make_plan(
        """
        db.install@db1
        db.start@db1: db.install@db1
        web.install@web1
        web.install@web2
        web.up@web1: web.install@web1 db.start@db1
        web.up@web2: web.install@web2 db.start@db1
    """,
        commands={
            "db.install@db1": "sleep 0.3",
            "web.install@web1": "sleep 0.2",
            "db.start@db1": "sleep 0.2",
            "web.up@web2": "echo 'port 80 <already> in use' >&2; exit 1",
        },
        roles={"db": (["db1"], 0), "web": (["web1", "web2"], 1)},
        root=tmp_path,
    )
    run(plan, tmp_path)
    result = orchc("report", str(tmp_path), "-o", "report.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / "report.html"


def test_report_is_self_contained_and_lists_failures(report: Path):
    text = report.read_text()
    assert "<svg" in text and "web.up@web2" in text
    assert "port 80 &lt;already&gt; in use" in text  # stderr tail, escaped
    assert "hosts that left the deployment (within their roles&#x27; tolerance): web2" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)  # no external assets
    assert "<link" not in text and "<script" not in text


def test_report_without_a_journal_is_a_clear_error(tmp_path: Path):
    result = orchc("report", str(tmp_path), "-o", "r.html", cwd=tmp_path)
    assert result.returncode == 1 and "no journal at" in result.stderr


def test_report_to_a_folder_is_a_clear_error(report: Path):
    result = orchc("report", str(report.parent), "-o", str(report.parent), cwd=report.parent)
    assert result.returncode == 1, result.stderr
    assert f"error: cannot write {report.parent}: Is a directory" in result.stderr


def test_screenshot_in_headless_chromium(report: Path, tmp_path: Path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    png = tmp_path / "report.png"
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
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={png}",
            "--window-size=1200,800",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    colours = pixel_colours(png.read_bytes())
    assert len(colours) > 20  # not blank
    assert colours[FAILED_RED] > 200 and colours[CHANGED_AMBER] > 200  # the failed and the changed bars


def pixel_colours(data: bytes) -> Counter[tuple[int, int, int]]:
    """Count the RGB colours of an 8-bit RGB/RGBA PNG (what Chromium writes)."""
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
    for y in range(height):
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
