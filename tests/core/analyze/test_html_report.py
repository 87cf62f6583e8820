"""The HTML report as a user gets it from `cachepoint analyze --html`: round axis ticks, no plunge to 0% for a
lone request, the two costs named apart, and the page rendered by a real headless Chromium (screenshot with
the charts' colors in it, DOM with the chart elements)."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from ci import unavailable

TRACES = Path(__file__).parents[3] / "examples" / "traces"
_SVG = re.compile(r"<svg.*?</svg>", re.DOTALL)


def html_report(trace: Path, out: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cachepoint.core.cli", "analyze", str(trace), "--html", str(out), "--json", *args],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    return out.read_text(encoding="utf-8")


def _charts(page: str) -> list[str]:
    return [svg for svg in _SVG.findall(page) if 'aria-label="miss causes"' not in svg]


def _round(value: float) -> bool:
    """1, 2, 2.5 or 5 times a power of ten, or a multiple of one (0, 15, 40, 75...)."""
    if value == 0:
        return True
    digits = f"{value:.10g}".replace(".", "").strip("0")
    return len(digits) <= 2


@pytest.fixture(scope="module")
def support_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    return html_report(TRACES / "support_agent.jsonl.xz", tmp_path_factory.mktemp("html") / "support.html")


def test_axis_ticks_are_round_values(support_page: str) -> None:
    cost, ratio = _charts(support_page)
    dollars = [float(v.replace(",", "")) for v in re.findall(r'text-anchor="end">\$([0-9.,]+)<', cost)]
    assert len(dollars) >= 3
    assert all(_round(v) for v in dollars), dollars
    steps = {round(b - a, 6) for a, b in itertools.pairwise(dollars)}
    assert len(steps) == 1, steps  # evenly spaced
    assert dollars[-1] >= max(float(v.replace(",", "")) for v in re.findall(r"\$([0-9.,]+)</text>", cost))
    for chart in (cost, ratio):
        times = re.findall(r'text-anchor="middle">([0-9]{2}):([0-9]{2})<', chart)
        assert times
        assert all(minute in ("00", "30") for _, minute in times), times  # a 10-hour trace: whole hours
    percents = re.findall(r'text-anchor="end">([0-9]+)%<', ratio)
    assert percents == ["0", "25", "50", "75", "100"]


def test_a_lone_request_is_not_drawn_as_a_plunge_to_zero(tmp_path: Path, words: Callable[[int, str], str]) -> None:
    # 39 requests in ten minutes that read the cached system prompt, then one more two hours later (the entry
    # has expired, so it reads nothing): alone in its time bucket, it used to draw the line down to 0%.
    system = [{"type": "text", "text": words(1500, "s"), "cache_control": {"type": "ephemeral"}}]
    lines = []
    for n in range(40):
        at = 15 * n if n < 39 else 7200
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 64,
            "system": system,
            "messages": [{"role": "user", "content": words(10, "q" + chr(97 + n % 26) + chr(97 + n // 26))}],
        }
        lines.append(json.dumps({"request": body, "timestamp": 1_795_428_000 + at}))
    trace = tmp_path / "lone.jsonl"
    trace.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page = html_report(trace, tmp_path / "lone.html", "--compare", "auto")
    _, ratio = _charts(page)
    baseline = re.search(r'<text x="[0-9.]+" y="([0-9.]+)" text-anchor="end">0%<', ratio)
    assert baseline is not None
    zero_y = float(baseline.group(1)) - 4  # labels sit 4 px below their grid line
    for points in re.findall(r'<polyline[^>]*points="([^"]+)"', ratio):
        ys = [float(p.split(",")[1]) for p in points.split()]
        assert ys
        assert all(abs(y - zero_y) > 0.5 for y in ys[1:]), ys  # only the cold first request may sit at 0%
    assert '<circle class="point"' in ratio  # every point is drawn as one


def test_cards_name_replayed_and_reported_costs_apart(tmp_path: Path) -> None:
    page = html_report(TRACES / "hand_counted.jsonl", tmp_path / "hand.html")
    cards = re.search(r'<div class="cards">(.*?)</div></div>', page, re.DOTALL)
    assert cards is not None
    assert "recorded markers, replayed<b>$0.0315</b>" in cards.group(0)
    assert "billed, as reported<b>$0.0312</b>" in cards.group(0)
    assert "today" not in page
    for key in ("recorded", "none", "the others", "best", "*"):
        assert f"<dt>{key}</dt>" in page, key
    assert "TraceWriter" in page
    assert "CachepointCallbackHandler" in page


# --- a real browser ------------------------------------------------------------------------------------------------


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8
            assert interlace == 0
            channels = {2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(line)
        previous = line
    pixels = [(row[i], row[i + 1], row[i + 2]) for row in rows for i in range(0, stride, channels)]
    return width, height, pixels


def _near(pixels: set[tuple[int, int, int]], color: str, tolerance: int = 6) -> bool:
    target = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    return any(all(abs(a - b) <= tolerance for a, b in zip(p, target, strict=True)) for p in pixels)


def test_the_page_renders_in_headless_chromium(support_page: str, tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        unavailable("no Chromium on this machine: `apt-get install -y chromium` (Debian's package) enables this test")
    page = tmp_path / "report.html"
    page.write_text(support_page, encoding="utf-8")
    flags = [
        "--headless",
        "--no-sandbox",  # the machines run tests as root
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",  # no network here: Chromium's own connections only fail
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,2400",
    ]
    shot = tmp_path / "report.png"
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(
        [browser, *flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, check=False, timeout=120, env=env
    )
    assert shot.exists(), done.stderr.decode(errors="replace")[-2000:]
    width, height, pixels = _png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 2400)
    colors = set(pixels)
    assert len(colors) > 50  # text, tables and charts, not a blank page
    white = sum(1 for p in pixels if p == (255, 255, 255))
    assert white < 0.97 * len(pixels)
    assert _near(colors, "#d9534f")  # the miss-cause bars
    assert _near(colors, "#1f77b4")  # the recorded scenario's lines
    assert _near(colors, "#2ca02c")  # auto's line
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, check=False, timeout=120, env=env
    )
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    rendered = dom.stdout.decode()
    assert rendered.count("<svg") == 3  # cost over time, cached-token ratio over time, miss causes
    assert rendered.count("<polyline") >= 8
    assert '<circle class="point"' in rendered
    assert "<rect" in rendered
    assert "Why requests miss under recorded" in rendered
