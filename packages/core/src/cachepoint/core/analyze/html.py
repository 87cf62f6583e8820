"""``cachepoint analyze --html report.html``: one self-contained page (inline CSS and SVG, no script, nothing
fetched from the network) with the summary, the scenario comparison and its legend, cumulative cost by scenario
over the trace, the cached-token ratio over time, the miss causes with their diffs, the usage the trace reports
next to the prediction, and what to do next. Numbers are formatted as in the terminal report (`terminal`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape

from cachepoint.core.analyze.adaptive import analyzer_only
from cachepoint.core.analyze.report import AnalysisReport, ScenarioResult
from cachepoint.core.analyze.terminal import (
    NEXT_STEPS,
    REPLAYED,
    REPORTED,
    fmt_count,
    fmt_pct,
    fmt_tokens,
    fmt_usd,
)

__all__ = ["merge_sparse", "nice_ticks", "render_html", "time_ticks"]

_PALETTE = ("#1f77b4", "#7f7f7f", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1d1d1f;
padding:0 1rem;line-height:1.45}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2.2rem;border-bottom:1px solid #ddd;
padding-bottom:.3rem}.dim{color:#6e6e73}.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1.2rem 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.7rem 1rem;min-width:150px}
.card b{display:block;font-size:1.35rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}th,td{padding:.35rem .6rem;border-bottom:1px solid #eee;
text-align:right}th:first-child,td:first-child{text-align:left}tr.best td{font-weight:600;background:#f0faf0}
tr.focus td:first-child::after{content:" *";color:#b58900}.good{color:#2a7d2a}.bad{color:#b3261e}
pre{background:#f6f8fa;padding:.5rem .7rem;border-radius:6px;overflow-x:auto;font-size:.82rem;margin:.3rem 0}
.del{color:#b3261e}.ins{color:#2a7d2a}.cause{margin:1.1rem 0}.cause h3{font-size:1rem;margin:.2rem 0}
.fix{background:#eef6ff;border-left:3px solid #1f77b4;padding:.3rem .6rem;margin:.4rem 0}
svg text{font-size:11px;fill:#444}.warn{color:#8a6d00}
.legend{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;font-size:.88rem;color:#4a4a4f;
margin:.6rem 0}
.legend dt{font-weight:600}.legend dd{margin:0}
"""


def _fmt_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%H:%M")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten apart) covering ``low``..``high``, about ``count``
    of them; the first is at or below ``low``, the last at or above ``high``.

    >>> nice_ticks(0, 6.39)
    [0.0, 2.0, 4.0, 6.0, 8.0]
    >>> nice_ticks(0, 1.0)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> nice_ticks(3, 3)
    [3.0]
    """
    if not high > low:
        return [float(low)]
    rough = (high - low) / max(1, count - 1)
    power = 10.0 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= rough)
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    n = 0
    while True:
        value = round(first + n * step, 12)
        ticks.append(value)
        if value >= high - 1e-9 * step:
            return ticks
        n += 1


#: Tick spacings a time axis may use, in seconds.
_TIME_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


def time_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Tick times on round minutes or hours (1, 2, 5, 10, 15, 30 min; 1, 2, 3, 6, 12 h; days) inside
    ``low``..``high``, about ``count`` of them.

    >>> [_fmt_time(t) for t in time_ticks(8 * 3600 + 180, 17 * 3600 + 2520)]  # 08:03 to 17:42
    ['10:00', '12:00', '14:00', '16:00']
    """
    if not high > low:
        return [low]
    step = next((s for s in _TIME_STEPS if (high - low) / s <= count), _TIME_STEPS[-1])
    first = math.ceil(low / step) * step
    return [float(first + n * step) for n in range(int((high - first) // step) + 1)]


def _line_chart(
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    *,
    colors: dict[str, str] | None = None,
    x_label: str,
    y_format: str,
    x_is_time: bool,
    width: int = 1000,
    height: int = 300,
    dots: bool = False,
) -> str:
    """An SVG line chart; ``y_format`` is ``usd`` or ``pct``; ``dots`` marks every point."""
    left, right, top, bottom = 70, 190, 15, 40
    points = [p for _, s in series for p in s]
    if not points:
        return '<p class="dim">No data.</p>'
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    x1 = x1 if x1 > x0 else x0 + 1
    top_value = 1.0 if y_format == "pct" else max(*(p[1] for p in points), 1e-9)
    y_ticks = nice_ticks(0.0, top_value)
    y0, y1 = y_ticks[0], y_ticks[-1]

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(x_label)}">']
    for y in y_ticks:
        label = fmt_usd(y) if y_format == "usd" else f"{y * 100:.0f}%"
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    x_ticks = time_ticks(x0, x1) if x_is_time else [x for x in nice_ticks(x0, x1) if x0 <= x <= x1]
    for x in x_ticks:
        label = _fmt_time(x) if x_is_time else f"{x:,.0f}"
        out.append(f'<text x="{sx(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{escape(label)}</text>')
    out.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>'
    )
    for n, (name, data) in enumerate(series):
        color = (colors or {}).get(name, _PALETTE[n % len(_PALETTE)])
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in data)
        out.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"><title>{escape(name)}</title>'
            "</polyline>"
        )
        if dots:  # each value is its own measurement: a lone point reads as one, not as a dip in a line
            out.extend(
                f'<circle class="point" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"/>' for x, y in data
            )
        ly = top + 14 * n + 6
        out.append(
            f'<line x1="{width - right + 12}" x2="{width - right + 30}" y1="{ly}" y2="{ly}" stroke="{color}" '
            'stroke-width="3"/>'
        )
        last = data[-1][1] if data else 0.0
        value = fmt_usd(last) if y_format == "usd" else ""
        out.append(f'<text x="{width - right + 36}" y="{ly + 4}">{escape(name)} {escape(value)}</text>')
    out.append("</svg>")
    return "".join(out)


def _bar_chart(rows: Sequence[tuple[str, float, str]], *, width: int = 1000) -> str:
    """Horizontal bars: (label, value, value text)."""
    if not rows:
        return '<p class="dim">No misses to explain.</p>'
    height = 26 * len(rows) + 10
    left, right = 170, 270
    top_value = max(v for _, v, _ in rows) or 1.0
    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="miss causes">']
    for n, (label, value, text) in enumerate(rows):
        y = 5 + 26 * n
        w = (width - left - right) * value / top_value
        out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        out.append(
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="20" fill="#d9534f"><title>{escape(text)}</title></rect>'
        )
        out.append(f'<text x="{left + w + 6:.1f}" y="{y + 15}">{escape(text)}</text>')
    out.append("</svg>")
    return "".join(out)


def _scenario_rows(report: AnalysisReport) -> str:
    recorded = report.scenario("recorded")
    rows = []
    for r in report.scenarios:
        classes = " ".join(c for c, on in (("best", r.name == report.best), ("focus", r.name == report.focus)) if on)
        delta = ""
        if recorded is not None and recorded.cost_usd and r.cost_usd is not None and r.kind != "recorded":
            change = (r.cost_usd - recorded.cost_usd) / recorded.cost_usd
            delta = f'<span class="{"good" if change < 0 else "bad"}">{change * 100:+.1f}%</span>'
        name = escape(r.name) + (f' <span class="dim">{escape(r.spec)}</span>' if r.spec and r.spec != r.name else "")
        if r.name == report.best:
            name += ' <span class="good">best</span>'
        saved = (
            "-"
            if r.savings_usd is None or r.kind == "none"
            else f"{fmt_usd(r.savings_usd)} ({fmt_pct(r.savings_ratio)})"
        )
        rows.append(
            f'<tr class="{classes}"><td>{name}</td><td>{fmt_pct(r.hit_rate)}</td><td>{fmt_pct(r.cached_token_ratio)}'
            f"</td><td>{fmt_pct(r.write_rate)}</td><td>{fmt_tokens(r.cache_read_tokens, estimate=True)}</td>"
            f"<td>{fmt_tokens(r.cache_write_tokens, estimate=True)}</td><td>{fmt_usd(r.cost_usd)}</td>"
            f"<td>{escape(saved)}</td><td>{delta}</td></tr>"
        )
    return "".join(rows)


def _legend(report: AnalysisReport) -> str:
    rows = [
        ("recorded", "the trace's own cache markers, replayed through the model"),
        ("none", "no caching at all: what “saved” is measured against"),
        ("the others", "each strategy, placed on every request (its own markers removed) as apply_cache_points would"),
        ("best", "the cheapest scenario an adapter can place (auto_adaptive is analyzer only)"),
        ("*", "the scenario whose misses are explained below (--strategy)"),
        ("hit rate", "share of requests that read anything from the cache"),
        ("cached tokens", "share of prompt tokens read from the cache"),
        ("writes", "share of requests that wrote to the cache"),
        ("read, written", "prompt tokens read from and written to the cache (~: the analyzer's offline estimate)"),
        ("cost", "at list prices from cachepoint's provider table, on the estimated token counts"),
    ]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return f'<dl class="legend">{items}</dl>'


def _colors(report: AnalysisReport) -> dict[str, str]:
    """One color per scenario, the same in every chart."""
    return {r.name: _PALETTE[n % len(_PALETTE)] for n, r in enumerate(report.scenarios)}


def _cost_chart(report: AnalysisReport) -> str:
    t = report.timeline
    if t is None or not t.at:
        return '<p class="dim">No data.</p>'
    use_time = report.timestamps != "synthetic"
    xs = t.times if use_time else tuple(float(a) for a in t.at)
    series = [(name, list(zip(xs, costs, strict=True))) for name, costs in t.cost_usd.items()]
    return _line_chart(
        series,
        colors=_colors(report),
        x_label="time (UTC)" if use_time else "requests",
        y_format="usd",
        x_is_time=use_time,
    )


#: A point of the ratio chart stands for at least this many requests (fewer in a small trace): a bucket with
#: one request that missed would otherwise draw as a plunge to 0%.
_MIN_POINT_REQUESTS = 5


def merge_sparse(
    buckets: Sequence[tuple[float, float, int, int, int, int]], least: int
) -> list[tuple[float, float, int, int, int, int]]:
    """Join each bucket with fewer than ``least`` requests to the next ones until they have that many (a short
    tail joins the last full one); empty buckets are dropped. Buckets are ``(start, end, requests, hits,
    input tokens, read tokens)``.

    >>> merge_sparse([(0, 1, 9, 9, 90, 80), (1, 2, 1, 0, 10, 0), (2, 3, 0, 0, 0, 0), (3, 4, 6, 6, 60, 60)], 5)
    [(0, 1, 9, 9, 90, 80), (1, 4, 7, 6, 70, 60)]
    """
    out: list[tuple[float, float, int, int, int, int]] = []
    pending: list[float] | None = None  # start, end, requests, hits, tokens, read
    for start, end, requests, hits, tokens, read in buckets:
        if not requests:
            continue
        if pending is None:
            pending = [start, end, 0, 0, 0, 0]
        pending[1] = end
        for i, value in enumerate((requests, hits, tokens, read), start=2):
            pending[i] += value
        if pending[2] >= least:
            out.append((pending[0], pending[1], *(int(v) for v in pending[2:])))  # type: ignore[arg-type]
            pending = None
    if pending is not None:
        if out:
            last = out.pop()
            pending = [last[0], pending[1], *(a + b for a, b in zip(last[2:], pending[2:], strict=True))]
        out.append((pending[0], pending[1], *(int(v) for v in pending[2:])))  # type: ignore[arg-type]
    return out


def _least(report: AnalysisReport) -> int:
    return max(1, min(_MIN_POINT_REQUESTS, report.requests // 20))


def _ratio_chart(report: AnalysisReport) -> str:
    t = report.timeline
    if t is None or not t.buckets:
        return '<p class="dim">No data.</p>'
    use_time = report.timestamps != "synthetic"
    least = _least(report)
    series = []
    for name in t.bucket_scenarios:
        points = []
        for n, (start, end, _requests, _hits, tokens, read) in enumerate(merge_sparse(t.buckets[name], least)):
            if tokens:
                points.append(((start + end) / 2 if use_time else float(n), read / tokens))
        series.append((name, points))
    return _line_chart(
        series,
        colors=_colors(report),
        x_label="time (UTC)" if use_time else "share of the trace (buckets)",
        y_format="pct",
        x_is_time=use_time,
        height=260,
        dots=True,
    )


def _causes(report: AnalysisReport) -> str:
    m = report.misses
    if m is None or not m.causes:
        return '<p class="good">Nothing to explain: every shared prefix was read.</p>'
    two = (
        " A request can have two causes (one inside the shared prefix, one where it parts), so the counts below add "
        "up to more."
        if sum(c.requests for c in m.causes) > m.missed_requests
        else ""
    )
    lead = (
        f"<p class='dim'>{escape(fmt_count(m.missed_requests, 'request'))} read less than an earlier request made "
        f"possible: {fmt_tokens(m.lost_tokens, estimate=True)} tokens left unread.{two}</p>"
    )
    bars = _bar_chart(
        [
            (
                c.cause,
                float(c.lost_tokens),
                f"{fmt_tokens(c.lost_tokens, estimate=True)} tokens · {fmt_count(c.requests, 'request')}",
            )
            for c in m.causes
        ]
    )
    blocks = [lead, bars]
    for c in m.causes:
        parts = [
            f'<div class="cause"><h3>{escape(c.cause)} <span class="dim">· {fmt_count(c.requests, "request")} · '
            f"{fmt_tokens(c.lost_tokens, estimate=True)} tokens not read</span></h3><div>{escape(c.title)}</div>"
        ]
        for e in c.examples:
            where = f"line {e.line}" + (f" vs line {e.earlier_line}" if e.earlier_line is not None else "")
            parts.append(f'<div class="dim">{escape(where)}: {escape(e.detail)}</div>')
            if e.before or e.after:
                parts.append(
                    f'<pre><span class="del">- {escape(e.before)}</span>\n'
                    f'<span class="ins">+ {escape(e.after)}</span></pre>'
                )
        parts.append(f'<div class="fix"><b>Fix:</b> {escape(c.fix)}</div></div>')
        blocks.append("".join(parts))
    return "".join(blocks)


def _observed(report: AnalysisReport) -> str:
    o = report.observed
    if o is None:
        return ""
    rows = [
        ("hit rate", fmt_pct(o.observed.hit_rate), fmt_pct(o.predicted.hit_rate)),
        ("cached tokens", fmt_pct(o.observed.cached_token_ratio), fmt_pct(o.predicted.cached_token_ratio)),
        ("writes", fmt_pct(o.observed.write_rate), fmt_pct(o.predicted.write_rate)),
        (
            "prompt tokens",
            fmt_tokens(o.observed.input_tokens),
            fmt_tokens(o.predicted.input_tokens, estimate=True),
        ),
        ("cost", fmt_usd(o.observed.cost_usd), fmt_usd(o.predicted.cost_usd)),
    ]
    body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
    ratio = (
        f"it counts {o.input_token_ratio:.2f}x the prompt tokens the analyzer estimates; "
        if o.input_token_ratio is not None
        else ""
    )
    return (
        "<h2>Usage the trace reports vs the prediction</h2>"
        f"<p class='dim'>{escape(fmt_count(o.requests, 'request'))} carry a <code>usage</code> field: what the "
        "provider (or whoever wrote the trace) reported; cachepoint cannot check where it came from. "
        f"{ratio}cache read or not: the two agree on {fmt_pct(o.agreement)} of requests.</p>"
        f"<table><tr><th></th><th>{REPORTED}</th><th>{REPLAYED}</th></tr>{body}</table>"
    )


def _sessions(report: AnalysisReport) -> str:
    top = report.sharing.top_sessions
    if not top:
        return ""
    rows = "".join(
        f"<tr><td>{escape(s.session)}</td><td>{s.requests:,}</td><td>{fmt_tokens(s.input_tokens, estimate=True)}</td>"
        f"<td>{fmt_pct(s.shared_ratio)}</td></tr>"
        for s in top
    )
    return (
        "<h2>Largest sessions</h2><table><tr><th>session</th><th>requests</th><th>prompt tokens</th>"
        f"<th>repeat an earlier prefix of the session</th></tr>{rows}</table>"
    )


def _cards(report: AnalysisReport) -> str:
    s = report.sharing
    cards = [
        f"requests<b>{report.requests:,}</b><span class='dim'>{escape(fmt_count(s.sessions, 'session'))}</span>",
        f"prompt tokens<b>{fmt_tokens(s.input_tokens, estimate=True)}</b>"
        f"<span class='dim'>{fmt_pct(s.shared_ratio)} repeat a prefix</span>",
    ]
    recorded = report.scenario("recorded")
    if recorded is not None:
        cards.append(
            f"{REPLAYED}<b>{fmt_usd(recorded.cost_usd)}</b>"
            f"<span class='dim'>{fmt_pct(recorded.cached_token_ratio)} of tokens from the cache</span>"
        )
    o = report.observed
    if o is not None:
        cards.append(
            f"{REPORTED}<b>{fmt_usd(o.observed.cost_usd)}</b>"
            f"<span class='dim'>{escape(fmt_count(o.requests, 'request'))} with usage in the trace</span>"
        )
    best: ScenarioResult | None = report.scenario(report.best) if report.best else None
    if best is not None and recorded is not None and best.cost_usd is not None and recorded.cost_usd is not None:
        saved = recorded.cost_usd - best.cost_usd
        cards.append(
            f"best: {escape(best.name)}<b>{fmt_usd(best.cost_usd)}</b>"
            f"<span class='good'>{fmt_usd(saved)} less than recorded</span>"
        )
        for r in report.scenarios:  # cheaper still, but no adapter can place it: shown, not recommended
            if analyzer_only(r.spec) and r.cost_usd is not None and r.cost_usd < best.cost_usd:
                cards.append(
                    f"{escape(r.name)}<b>{fmt_usd(r.cost_usd)}</b>"
                    "<span class='dim'>costs less still, but is analyzer only</span>"
                )
    return '<div class="cards">' + "".join(f'<div class="card">{c}</div>' for c in cards) + "</div>"


def _next() -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in NEXT_STEPS)
    return f'<h2>Next</h2><dl class="legend">{items}</dl>'


def _optimum(report: AnalysisReport) -> str:
    """The bracket on the optimum (``--optimum``), every scenario as a ratio to both ends."""
    o = report.optimum
    if o is None:
        return ""
    if not o.rows:
        return (
            "<h2>Against the optimum</h2><p>Nothing to compare: no scenario has a cost "
            f"({o.unpriced_requests:,} of the requests are for models without prices).</p>"
        )

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    found = (
        "auto's breakpoints with each TTL chosen knowing when its prefix is sent next (clairvoyant)"
        if o.best_found == "clairvoyant"
        else f"the scenario {o.best_found}"
    )
    rows = [
        f"<tr><td>optimum &ge; (lower bound)</td><td>${o.lower_bound_usd:,.4f}</td><td>1.000</td>"
        f"<td>{ratio(o.gap and 1 / o.gap)}</td></tr>",
        f"<tr><td>optimum &le; (best found)</td><td>${o.best_found_usd:,.4f}</td><td>{ratio(o.gap)}</td>"
        "<td>1.000</td></tr>",
    ]
    for r in o.rows:
        name = escape(r.name) + (' <span class="dim">today</span>' if r.incumbent else "")
        rows.append(
            f'<tr class="{"focus" if r.name == "auto" else ""}"><td>{name}</td><td>${r.cost_usd:,.4f}</td>'
            f"<td>{ratio(r.to_lower_bound)}</td><td>{ratio(r.to_best_found)}</td></tr>"
        )
    return (
        "<h2>Against the optimum</h2><p class='dim'>The cheapest placement the provider rules allow lies between "
        "a lower bound (every prefix decided on its own, without the breakpoint budget: no placement costs less) "
        f"and the best real placement found, {escape(found)}. <b>x lower bound</b> is at least a scenario's "
        "distance to the true optimum, <b>x best found</b> at most; <span class='dim'>today</span> marks what a "
        "framework places by itself.</p><table><tr><th>scenario</th><th>cost</th><th>x lower bound</th>"
        f"<th>x best found</th></tr>{''.join(rows)}</table>"
    )


def render_html(report: AnalysisReport) -> str:
    """The report as one self-contained HTML page.

    >>> from cachepoint.core.analyze import AnalysisReport
    >>> page = render_html(AnalysisReport("t.jsonl", 0, (), "auto"))
    >>> page.startswith("<!doctype html>"), "<script" in page
    (True, False)
    """
    span = ""
    if report.first_time is not None and report.timestamps != "synthetic":
        start = datetime.fromtimestamp(report.first_time, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        end = datetime.fromtimestamp(report.last_time or report.first_time, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        span = f" · {start} to {end} UTC"
    if report.invalid_lines:
        span += f" · {fmt_count(report.invalid_lines, 'invalid line')} skipped"
    warnings = "".join(f'<p class="warn">warning: {escape(w)}</p>' for w in report.warnings)
    models = ", ".join(escape(m) for m in report.models)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>cachepoint analyze · {escape(report.source)}</title><style>{_CSS}</style></head><body>"
        f"<h1>cachepoint analyze</h1><div class='dim'>{escape(report.source)} · {models}{escape(span)}</div>"
        f"{_cards(report)}"
        "<h2>Scenarios</h2><p class='dim'>Each scenario replays every request through the provider cache model "
        "(breakpoints, lookback, minimums, TTLs): these are predictions.</p>"
        "<table><tr><th>scenario</th><th>hit rate</th><th>cached tokens</th><th>writes</th><th>read</th>"
        f"<th>written</th><th>cost</th><th>saved vs none</th><th>vs recorded</th></tr>{_scenario_rows(report)}"
        f"</table>{_legend(report)}{_optimum(report)}"
        f"<h2>Cumulative cost by scenario</h2>{_cost_chart(report)}"
        "<h2>Cached-token ratio over time</h2><p class='dim'>Each point is a stretch of time with at least "
        f"{fmt_count(_least(report), 'request')}.</p>{_ratio_chart(report)}"
        f"<h2>Why requests miss under {escape(report.focus)}</h2>{_causes(report)}"
        f"{_observed(report)}{_sessions(report)}{warnings}{_next()}"
        "<p class='dim'>Generated by cachepoint analyze. Token counts marked ~ are the analyzer's offline estimates; "
        "prices come from cachepoint's provider table.</p></body></html>"
    )
