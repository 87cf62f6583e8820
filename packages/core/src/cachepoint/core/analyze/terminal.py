"""The terminal report of ``cachepoint analyze`` (rich): summary, strategy comparison, observed vs predicted, and
the top miss causes with a diff snippet and the fix."""

from __future__ import annotations

from datetime import datetime, timezone

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from cachepoint.core.analyze.report import AnalysisReport, ScenarioResult

__all__ = ["fmt_pct", "fmt_tokens", "fmt_usd", "print_report", "render_report"]


def fmt_pct(value: float | None) -> str:
    """``0.4213`` -> ``'42.1%'`` (``'-'`` when unknown).

    >>> fmt_pct(0.4213), fmt_pct(None)
    ('42.1%', '-')
    """
    return "-" if value is None else f"{value * 100:.1f}%"


def fmt_usd(value: float | None) -> str:
    """Dollars with enough digits to tell small costs apart.

    >>> fmt_usd(1234.5), fmt_usd(0.0123), fmt_usd(None)
    ('$1,234.50', '$0.0123', '-')
    """
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}${value:,.2f}" if value >= 1 else f"{sign}${value:.4f}"


def fmt_tokens(value: int) -> str:
    """``4_912_345`` -> ``'4.91M'``.

    >>> fmt_tokens(4_912_345), fmt_tokens(12_300), fmt_tokens(950)
    ('4.91M', '12.3K', '950')
    """
    if value >= 1_000_000:
        return f"{value / 1_000_000:.2f}M"
    if value >= 10_000:
        return f"{value / 1000:.1f}K"
    return f"{value:,}"


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _header(report: AnalysisReport) -> RenderableType:
    trace = Text()
    trace.append("cachepoint analyze ", style="bold")
    trace.append(report.source, style="cyan")
    parts = [f"{report.requests:,} requests"]
    if report.sharing.sessions:
        parts.append(f"{report.sharing.sessions:,} sessions")
    parts.append(f"{report.tenants} tenant{'s' if report.tenants != 1 else ''}")
    parts.append(", ".join(f"{m} ({n:,})" if len(report.models) > 1 else m for m, n in report.models.items()))
    if report.timestamps != "synthetic":
        parts.append(f"{_when(report.first_time)} -> {_when(report.last_time)} UTC ({_duration(report.duration_s)})")
    if report.invalid_lines:
        parts.append(f"{report.invalid_lines} invalid lines skipped")
    line = Text(" · ".join(parts), style="dim")
    return Group(trace, line)


def _sharing(report: AnalysisReport) -> RenderableType:
    s = report.sharing
    lines = Text()
    lines.append("Prefix sharing", style="bold")
    lines.append("  the most any prefix cache could reuse\n", style="dim")
    lines.append(f"  {fmt_pct(s.shared_ratio)}", style="bold green")
    lines.append(f" of {fmt_tokens(s.input_tokens)} prompt tokens repeat a prefix sent earlier")
    lines.append(f" ({fmt_pct(s.cacheable_ratio)} long enough to cache)\n")
    within = s.session_shared_tokens / s.input_tokens if s.input_tokens else None
    across = s.cross_session_shared_tokens / s.input_tokens if s.input_tokens else None
    if s.sessions:
        lines.append(f"  {fmt_pct(within)} within a session, {fmt_pct(across)} across sessions · ")
    one = s.cold_requests == 1
    lines.append(f"{s.cold_requests:,} request{'' if one else 's'} share{'s' if one else ''} nothing with earlier ones")
    return lines


def _scenario_label(r: ScenarioResult, report: AnalysisReport) -> Text:
    label = Text(r.name)
    if r.kind == "recorded":
        label.append(" (today)", style="dim")
    if r.name == report.focus:
        label.append(" *", style="bold yellow")
    if r.name == report.best:
        label.append(" best", style="bold green")
    return label


def _strategies(report: AnalysisReport) -> RenderableType:
    table = Table(
        title="Scenarios, replayed through the provider cache model",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("scenario", no_wrap=True)
    table.add_column("hit rate", justify="right")
    table.add_column("cached", justify="right")
    table.add_column("writes", justify="right")
    table.add_column("cost", justify="right")
    table.add_column("saved", justify="right")
    table.add_column("vs today", justify="right")
    today = report.scenario("recorded")
    for r in report.scenarios:
        saved = "-" if r.savings_ratio is None or r.kind == "none" else fmt_pct(r.savings_ratio)
        delta: str | Text = "-"
        if today is not None and today.cost_usd and r.cost_usd is not None and r.kind != "recorded":
            change = (r.cost_usd - today.cost_usd) / today.cost_usd
            delta = Text(f"{change * 100:+.1f}%", style="green" if change < 0 else "red" if change > 0 else "")
        style = "bold" if r.name in (report.best, report.focus) else ""
        table.add_row(
            _scenario_label(r, report),
            fmt_pct(r.hit_rate),
            fmt_pct(r.cached_token_ratio),
            fmt_pct(r.write_rate),
            fmt_usd(r.cost_usd),
            saved,
            delta,
            style=style,
        )
    specs = " · ".join(f"{r.name} = {r.spec}" for r in report.scenarios if r.spec and r.spec != r.name)
    notes = Text(
        "hit rate: requests that read the cache · cached: prompt tokens read from it · writes: requests that "
        "wrote · saved: cost saved vs no caching · * the scenario explained below" + (f"\n{specs}" if specs else ""),
        style="dim",
    )
    return Group(table, notes)


def _observed(report: AnalysisReport) -> RenderableType | None:
    o = report.observed
    if o is None:
        return None
    table = Table(title="Observed vs predicted", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD)
    table.add_column("")
    table.add_column("observed", justify="right")
    table.add_column("predicted (recorded)", justify="right")
    rows = [
        ("hit rate", fmt_pct(o.observed.hit_rate), fmt_pct(o.predicted.hit_rate)),
        ("cached tokens", fmt_pct(o.observed.cached_token_ratio), fmt_pct(o.predicted.cached_token_ratio)),
        ("writes", fmt_pct(o.observed.write_rate), fmt_pct(o.predicted.write_rate)),
        ("prompt tokens", fmt_tokens(o.observed.input_tokens), fmt_tokens(o.predicted.input_tokens)),
        ("cost", fmt_usd(o.observed.cost_usd), fmt_usd(o.predicted.cost_usd)),
    ]
    for row in rows:
        table.add_row(*row)
    note = Text(f"{o.requests:,} requests carry the usage the provider reported · ", style="dim")
    if o.input_token_ratio is not None:
        note.append(f"the provider counted {o.input_token_ratio:.2f}x the offline token estimate · ")
    note.append(f"hit/miss agree on {fmt_pct(o.agreement)} of requests")
    return Group(table, note)


def _misses(report: AnalysisReport, top: int) -> RenderableType | None:
    m = report.misses
    if m is None:
        return None
    title = Text()
    title.append(f"Why requests miss under {m.scenario}", style="bold")
    if not m.causes:
        title.append("  nothing to explain: every shared prefix was read", style="green")
        return title
    title.append(
        f"  {m.missed_requests:,} requests read less than an earlier request made possible: "
        f"{fmt_tokens(m.lost_tokens)} tokens left unread",
        style="dim",
    )
    body: list[RenderableType] = [title]
    for cause in m.causes[:top]:
        head = Text()
        head.append(f"  {cause.cause}", style="bold red" if cause.kind == "content" else "bold yellow")
        head.append(f"  {cause.requests:,} requests · {fmt_tokens(cause.lost_tokens)} tokens  ", style="bold")
        head.append(cause.title)
        body.append(head)
        for example in cause.examples[:1]:
            where = f"line {example.line}"
            if example.earlier_line is not None:
                where += f" vs line {example.earlier_line}"
            body.append(Text(f"    {where}: {example.detail}", style="dim"))
            if example.before or example.after:
                body.append(Text.assemble(("    - ", "red"), (example.before, "red")))
                body.append(Text.assemble(("    + ", "green"), (example.after, "green")))
        body.append(Text.from_markup(f"    [cyan]fix:[/cyan] {escape(cause.fix)}"))
    if len(m.causes) > top:
        rest = ", ".join(c.cause for c in m.causes[top:])
        body.append(Text(f"  also: {rest} (see --json or --html)", style="dim"))
    return Group(*body)


def _verdict(report: AnalysisReport) -> RenderableType | None:
    today = report.scenario("recorded")
    best = report.scenario(report.best) if report.best else None
    if today is None or best is None or today.cost_usd is None or best.cost_usd is None:
        return None
    text = Text()
    if best.name == "recorded":
        text.append("Your current setup (recorded) is the cheapest of the scenarios replayed.", style="bold green")
    elif best.name == "none":
        text.append(
            "Caching costs more than it saves on this trace: every scenario pays for writes nothing reads. "
            "Fix the causes below first.",
            style="bold red",
        )
    else:
        saved = today.cost_usd - best.cost_usd
        share = saved / today.cost_usd if today.cost_usd else 0.0
        text.append(f"{best.name}", style="bold green")
        text.append(f" would cost {fmt_usd(best.cost_usd)} instead of {fmt_usd(today.cost_usd)} today ")
        text.append(f"({fmt_usd(saved)} less, {share * 100:.1f}%)", style="bold green")
        text.append(f" and read {fmt_pct(best.cached_token_ratio)} of prompt tokens from the cache.")
    return text


def render_report(report: AnalysisReport, *, top: int = 5) -> RenderableType:
    """The whole report as one rich renderable.

    >>> from cachepoint.core.analyze import AnalysisReport
    >>> Console(width=100).print(render_report(AnalysisReport("t.jsonl", 0, (), "auto")))  # doctest: +ELLIPSIS
    cachepoint analyze t.jsonl
    ...
    """
    parts: list[RenderableType] = [_header(report), Text(""), _sharing(report), Text(""), _strategies(report)]
    verdict = _verdict(report)
    if verdict is not None:
        parts += [Text(""), verdict]
    observed = _observed(report)
    if observed is not None:
        parts += [Text(""), observed]
    misses = _misses(report, top)
    if misses is not None:
        parts += [Text(""), misses]
    if report.warnings:
        parts.append(Text(""))
        parts.extend(Text(f"warning: {w}", style="yellow") for w in report.warnings)
    return Padding(Group(*parts), (0, 0))


def print_report(report: AnalysisReport, console: Console | None = None, *, top: int = 5) -> None:
    """Print the report (to ``console``, default: stdout).

    >>> from cachepoint.core.analyze import AnalysisReport
    >>> print_report(AnalysisReport("t.jsonl", 0, (), "auto"), Console(width=100))  # doctest: +ELLIPSIS
    cachepoint analyze t.jsonl
    ...
    """
    (console or Console()).print(render_report(report, top=top))
