"""``cachepoint analyze --html report.html``: one self-contained page (inline CSS and SVG, no script, nothing
fetched from the network) with the summary, the scenario comparison, cumulative cost by scenario over the
trace, the cached-token ratio over time, the miss causes with their diffs, and observed vs predicted usage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape

from cachepoint.core.analyze.report import AnalysisReport, ScenarioResult
from cachepoint.core.analyze.terminal import fmt_pct, fmt_tokens, fmt_usd

__all__ = ["render_html"]

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
"""


def _fmt_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%H:%M")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = (high - low) / (count - 1)
    return [low + i * step for i in range(count)]


def _line_chart(
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    *,
    colors: dict[str, str] | None = None,
    x_label: str,
    y_format: str,
    x_is_time: bool,
    width: int = 1000,
    height: int = 300,
) -> str:
    """An SVG line chart; ``y_format`` is ``usd`` or ``pct``."""
    left, right, top, bottom = 70, 190, 15, 40
    points = [p for _, s in series for p in s]
    if not points:
        return '<p class="dim">No data.</p>'
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0 = 0.0
    y1 = max(*(p[1] for p in points), 1e-9)
    if y_format == "pct":
        y1 = max(y1, 1.0)
    x1 = x1 if x1 > x0 else x0 + 1

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(x_label)}">']
    for y in _ticks(y0, y1):
        label = fmt_usd(y) if y_format == "usd" else f"{y * 100:.0f}%"
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    for x in _ticks(x0, x1):
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
    today = report.scenario("recorded")
    rows = []
    for r in report.scenarios:
        classes = " ".join(c for c, on in (("best", r.name == report.best), ("focus", r.name == report.focus)) if on)
        delta = ""
        if today is not None and today.cost_usd and r.cost_usd is not None and r.kind != "recorded":
            change = (r.cost_usd - today.cost_usd) / today.cost_usd
            delta = f'<span class="{"good" if change < 0 else "bad"}">{change * 100:+.1f}%</span>'
        name = escape(r.name) + (f' <span class="dim">{escape(r.spec)}</span>' if r.spec and r.spec != r.name else "")
        saved = (
            "-"
            if r.savings_usd is None or r.kind == "none"
            else f"{fmt_usd(r.savings_usd)} ({fmt_pct(r.savings_ratio)})"
        )
        rows.append(
            f'<tr class="{classes}"><td>{name}</td><td>{fmt_pct(r.hit_rate)}</td><td>{fmt_pct(r.cached_token_ratio)}'
            f"</td><td>{fmt_pct(r.write_rate)}</td><td>{fmt_tokens(r.cache_read_tokens)}</td>"
            f"<td>{fmt_tokens(r.cache_write_tokens)}</td><td>{fmt_usd(r.cost_usd)}</td><td>{escape(saved)}</td>"
            f"<td>{delta}</td></tr>"
        )
    return "".join(rows)


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


def _ratio_chart(report: AnalysisReport) -> str:
    t = report.timeline
    if t is None or not t.buckets:
        return '<p class="dim">No data.</p>'
    use_time = report.timestamps != "synthetic"
    series = []
    for name in t.bucket_scenarios:
        points = []
        for n, (start, end, requests, _hits, tokens, read) in enumerate(t.buckets[name]):
            if requests and tokens:
                points.append(((start + end) / 2 if use_time else float(n), read / tokens))
        series.append((name, points))
    return _line_chart(
        series,
        colors=_colors(report),
        x_label="time (UTC)" if use_time else "share of the trace (buckets)",
        y_format="pct",
        x_is_time=use_time,
        height=260,
    )


def _causes(report: AnalysisReport) -> str:
    m = report.misses
    if m is None or not m.causes:
        return '<p class="good">Nothing to explain: every shared prefix was read.</p>'
    lead = (
        f"<p class='dim'>{m.missed_requests:,} requests read less than an earlier request made possible: "
        f"{fmt_tokens(m.lost_tokens)} tokens left unread (a request can have two causes: one inside the shared "
        "prefix, one where it parts).</p>"
    )
    bars = _bar_chart(
        [
            (c.cause, float(c.lost_tokens), f"{fmt_tokens(c.lost_tokens)} tokens · {c.requests:,} requests")
            for c in m.causes
        ]
    )
    blocks = [lead, bars]
    for c in m.causes:
        parts = [
            f'<div class="cause"><h3>{escape(c.cause)} <span class="dim">· {c.requests:,} requests · '
            f"{fmt_tokens(c.lost_tokens)} tokens not read</span></h3><div>{escape(c.title)}</div>"
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
        ("prompt tokens", fmt_tokens(o.observed.input_tokens), fmt_tokens(o.predicted.input_tokens)),
        ("cost", fmt_usd(o.observed.cost_usd), fmt_usd(o.predicted.cost_usd)),
    ]
    body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
    ratio = f"{o.input_token_ratio:.2f}x" if o.input_token_ratio is not None else "-"
    return (
        f"<h2>Observed vs predicted</h2><p class='dim'>{o.requests:,} requests carry the usage the provider reported; "
        f"the provider counted {ratio} the offline token estimate; hit/miss agree on {fmt_pct(o.agreement)}.</p>"
        f"<table><tr><th></th><th>observed</th><th>predicted (recorded)</th></tr>{body}</table>"
    )


def _sessions(report: AnalysisReport) -> str:
    top = report.sharing.top_sessions
    if not top:
        return ""
    rows = "".join(
        f"<tr><td>{escape(s.session)}</td><td>{s.requests:,}</td><td>{fmt_tokens(s.input_tokens)}</td>"
        f"<td>{fmt_pct(s.shared_ratio)}</td></tr>"
        for s in top
    )
    return (
        "<h2>Largest sessions</h2><table><tr><th>session</th><th>requests</th><th>prompt tokens</th>"
        f"<th>repeat an earlier prefix of the session</th></tr>{rows}</table>"
    )


def _best_card(report: AnalysisReport) -> str:
    best: ScenarioResult | None = report.scenario(report.best) if report.best else None
    today = report.scenario("recorded")
    if best is None or today is None or best.cost_usd is None or today.cost_usd is None:
        return ""
    saved = today.cost_usd - best.cost_usd
    return (
        f'<div class="card">best: {escape(best.name)}<b>{fmt_usd(best.cost_usd)}</b>'
        f'<span class="good">{fmt_usd(saved)} less than today</span></div>'
    )


def render_html(report: AnalysisReport) -> str:
    """The report as one self-contained HTML page.

    >>> from cachepoint.core.analyze import AnalysisReport
    >>> page = render_html(AnalysisReport("t.jsonl", 0, (), "auto"))
    >>> page.startswith("<!doctype html>"), "<script" in page
    (True, False)
    """
    s = report.sharing
    today = report.scenario("recorded")
    cards = (
        f'<div class="cards"><div class="card">requests<b>{report.requests:,}</b>'
        f'<span class="dim">{s.sessions:,} sessions</span></div>'
        f'<div class="card">prompt tokens<b>{fmt_tokens(s.input_tokens)}</b>'
        f'<span class="dim">{fmt_pct(s.shared_ratio)} repeat a prefix</span></div>'
        + (
            f'<div class="card">today<b>{fmt_usd(today.cost_usd)}</b><span class="dim">'
            f"{fmt_pct(today.cached_token_ratio)} of tokens from cache</span></div>"
            if today is not None
            else ""
        )
        + _best_card(report)
        + "</div>"
    )
    span = ""
    if report.first_time is not None and report.timestamps != "synthetic":
        start = datetime.fromtimestamp(report.first_time, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        end = datetime.fromtimestamp(report.last_time or report.first_time, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        span = f" · {start} to {end} UTC"
    warnings = "".join(f'<p class="warn">warning: {escape(w)}</p>' for w in report.warnings)
    models = ", ".join(escape(m) for m in report.models)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>cachepoint analyze · {escape(report.source)}</title><style>{_CSS}</style></head><body>"
        f"<h1>cachepoint analyze</h1><div class='dim'>{escape(report.source)} · {models}{span}</div>"
        f"{cards}"
        "<h2>Scenarios</h2><p class='dim'>Each scenario replays every request through the provider cache model "
        "(breakpoints, lookback, minimums, TTLs). * marks the scenario the miss causes explain.</p>"
        "<table><tr><th>scenario</th><th>hit rate</th><th>cached tokens</th><th>writes</th><th>read</th>"
        f"<th>written</th><th>cost</th><th>saved vs none</th><th>vs today</th></tr>{_scenario_rows(report)}</table>"
        f"<h2>Cumulative cost by scenario</h2>{_cost_chart(report)}"
        f"<h2>Cached-token ratio over time</h2>{_ratio_chart(report)}"
        f"<h2>Why requests miss under {escape(report.focus)}</h2>{_causes(report)}"
        f"{_observed(report)}{_sessions(report)}{warnings}"
        "<p class='dim'>Generated by cachepoint analyze. Token counts are offline estimates unless marked observed; "
        "prices come from cachepoint's provider table.</p></body></html>"
    )
