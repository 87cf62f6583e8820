"""The terminal report of ``cachepoint analyze`` (rich): summary, scenario comparison with a legend, the usage the
trace reports next to the prediction, the top miss causes with a diff snippet and the fix, and what to do next.

Numbers keep one format per kind everywhere: token counts in full with thousands separators (``~`` marks the
analyzer's offline estimates; counts the trace reports carry none), shares as ``42.1%``, costs as `fmt_usd`.
In a terminal the report wraps to its width and wrapped lines keep their indent; into a pipe or a file every
line is written whole, without padding.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from cachepoint.core.analyze.adaptive import analyzer_only
from cachepoint.core.analyze.report import AnalysisReport, ScenarioResult

__all__ = [
    "NEXT_STEPS",
    "REPLAYED",
    "REPORTED",
    "fmt_cost4",
    "fmt_count",
    "fmt_pct",
    "fmt_tokens",
    "fmt_usd",
    "print_report",
    "render_report",
]

#: Width a report is laid out at when nothing should wrap (a pipe, a file): wider than any line it has.
_UNWRAPPED = 100_000
#: How the report names the two costs it can show for the same requests.
REPLAYED = "recorded markers, replayed"
REPORTED = "billed, as reported"
#: What to do after reading a report, as both reports end.
NEXT_STEPS = (
    ("--json", "the whole report as JSON with stable keys, for scripts and CI checks"),
    ("the guide", "docs/guides/analyze.md in the cachepoint repository: every number and cause explained"),
    (
        "your own trace",
        "record it with cachepoint.core.traces.TraceWriter(path).write(body, usage=response.usage), or in "
        "LangChain with CachepointCallbackHandler(recorder=TraceWriter(path)) from cachepoint.langchain",
    ),
)


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


def fmt_tokens(value: int, *, estimate: bool = False) -> str:
    """A token count in full, ``~`` in front when it is the analyzer's offline estimate (of something).

    >>> fmt_tokens(4_912_345, estimate=True), fmt_tokens(950), fmt_tokens(0, estimate=True)
    ('~4,912,345', '950', '0')
    """
    return f"~{value:,}" if estimate and value else f"{value:,}"


def fmt_count(count: int, noun: str) -> str:
    """``1 request``, ``2 requests``.

    >>> fmt_count(1, "request"), fmt_count(1200, "invalid line")
    ('1 request', '1,200 invalid lines')
    """
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


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


def _indent(text: Text | str, by: int, style: str = "") -> RenderableType:
    """``text`` indented by ``by`` spaces, its wrapped lines too."""
    body = text if isinstance(text, Text) else Text(text, style=style)
    return Padding(body, (0, 0, 0, by), expand=False)


def _pairs(rows: list[tuple[str, Text | str]], *, indent: int = 2, key_style: str = "") -> RenderableType:
    """Two columns, a key and what it means; a long meaning wraps inside its column."""
    grid = Table.grid(padding=(0, 2), pad_edge=False)
    grid.add_column(no_wrap=True, style=key_style)
    grid.add_column()
    for key, value in rows:
        grid.add_row(key, value)
    return Padding(grid, (0, 0, 0, indent), expand=False)


def _header(report: AnalysisReport) -> RenderableType:
    trace = Text()
    trace.append("cachepoint analyze ", style="bold")
    trace.append(report.source, style="cyan")
    parts = [fmt_count(report.requests, "request")]
    if report.sharing.sessions:
        parts.append(fmt_count(report.sharing.sessions, "session"))
    parts.append(fmt_count(report.tenants, "tenant"))
    parts.append(", ".join(f"{m} ({n:,})" if len(report.models) > 1 else m for m, n in report.models.items()))
    if report.timestamps != "synthetic":
        parts.append(f"{_when(report.first_time)} -> {_when(report.last_time)} UTC ({_duration(report.duration_s)})")
    if report.invalid_lines:
        parts.append(f"{fmt_count(report.invalid_lines, 'invalid line')} skipped")
    return Group(trace, Text(" · ".join(parts), style="dim"))


def _sharing(report: AnalysisReport) -> RenderableType:
    s = report.sharing
    title = Text()
    title.append("Prefix sharing", style="bold")
    title.append("  the most any prefix cache could reuse", style="dim")
    first = Text()
    first.append(fmt_pct(s.shared_ratio), style="bold green")
    first.append(f" of {fmt_tokens(s.input_tokens, estimate=True)} prompt tokens repeat a prefix sent earlier")
    first.append(f" ({fmt_pct(s.cacheable_ratio)} long enough to cache)")
    second = Text()
    if s.sessions and s.input_tokens:
        within = s.session_shared_tokens / s.input_tokens
        across = s.cross_session_shared_tokens / s.input_tokens
        second.append(f"{fmt_pct(within)} within a session, {fmt_pct(across)} across sessions · ")
    one = s.cold_requests == 1
    second.append(f"{fmt_count(s.cold_requests, 'request')} share{'s' if one else ''} nothing with earlier ones")
    return Group(title, _indent(first, 2), _indent(second, 2))


def _scenario_label(r: ScenarioResult, report: AnalysisReport) -> Text:
    label = Text(r.name)
    if r.name == report.focus:
        label.append(" *", style="bold yellow")
    if r.name == report.best:
        label.append(" best", style="bold green")
    return label


def _strategies(report: AnalysisReport) -> RenderableType:
    table = Table(
        title="Scenarios, replayed through the provider cache model (predictions)",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("scenario", no_wrap=True)
    for name in ("hit rate", "cached", "writes", "cost", "saved", "vs recorded"):
        table.add_column(name, justify="right", no_wrap=True)
    recorded = report.scenario("recorded")
    for r in report.scenarios:
        saved = "-" if r.savings_ratio is None or r.kind == "none" else fmt_pct(r.savings_ratio)
        delta: str | Text = "-"
        if recorded is not None and recorded.cost_usd and r.cost_usd is not None and r.kind != "recorded":
            change = (r.cost_usd - recorded.cost_usd) / recorded.cost_usd
            delta = Text(f"{change * 100:+.1f}%", style="green" if change < 0 else "red" if change > 0 else "")
        table.add_row(
            _scenario_label(r, report),
            fmt_pct(r.hit_rate),
            fmt_pct(r.cached_token_ratio),
            fmt_pct(r.write_rate),
            fmt_usd(r.cost_usd),
            saved,
            delta,
            style="bold" if r.name in (report.best, report.focus) else "",
        )
    legend: list[tuple[str, Text | str]] = []
    kinds = {r.kind for r in report.scenarios}
    if "recorded" in kinds:
        legend.append(("recorded", "the trace's own cache markers, replayed through the model"))
    if "none" in kinds:
        legend.append(("none", "no caching at all: what 'saved' is measured against"))
    strategies = [r.spec or r.name for r in report.scenarios if r.kind == "strategy"]
    if strategies:
        legend.append(
            (
                "the others",
                f"{', '.join(strategies)}: each strategy placed on every request (its own markers removed) as "
                "apply_cache_points would",
            )
        )
    if report.best:
        legend.append(("best", "the cheapest scenario an adapter can place (auto_adaptive is analyzer only)"))
    legend.append(("*", "the scenario whose misses are explained below (--strategy)"))
    legend.append(("hit rate", "share of requests that read anything from the cache"))
    legend.append(("cached", "share of prompt tokens read from the cache"))
    legend.append(("writes", "share of requests that wrote to the cache"))
    legend.append(("cost", "at list prices, on token counts the analyzer estimates offline"))
    legend.append(("saved", "cost saved against none · vs recorded: cost against recorded"))
    return Group(table, _pairs(legend, key_style="dim"))


def fmt_cost4(value: float) -> str:
    """Dollars to four decimals, so that ratios can be checked against the printed costs.

    >>> fmt_cost4(1234.56789), fmt_cost4(0.01234)
    ('$1,234.5679', '$0.0123')
    """
    return f"${value:,.4f}"


def _found(name: str) -> str:
    if name == "clairvoyant":
        return "auto's breakpoints with each TTL chosen knowing when its prefix is sent next (clairvoyant)"
    return f"the scenario {name}"


def _optimum(report: AnalysisReport) -> RenderableType | None:
    o = report.optimum
    if o is None:
        return None
    if not o.rows:
        return Text(
            f"Against the optimum (--optimum): nothing to compare, no scenario has a cost ({o.unpriced_requests:,} "
            "of the requests are for models without prices; register them with "
            "cachepoint.core.providers.register_model)."
        )
    table = Table(
        title="Against the optimum (--optimum): the cheapest placement the provider rules allow",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("scenario", no_wrap=True)
    for name in ("cost", "x lower bound", "x best found"):
        table.add_column(name, justify="right", no_wrap=True)

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    table.add_row("optimum >= (lower bound)", fmt_cost4(o.lower_bound_usd), "1.000", ratio(o.gap and 1 / o.gap))
    table.add_row("optimum <= (best found)", fmt_cost4(o.best_found_usd), ratio(o.gap), "1.000")
    for r in o.rows:
        label = Text(r.name)
        if r.incumbent:
            label.append(" (today)", style="dim")
        table.add_row(
            label,
            fmt_cost4(r.cost_usd),
            ratio(r.to_lower_bound),
            ratio(r.to_best_found),
            style="bold" if r.name == "auto" else "",
        )
    legend: list[tuple[str, Text | str]] = [
        ("lower bound", "no placement costs less: every prefix decided on its own, without the breakpoint budget"),
        ("best found", f"a real placement, replayed: {_found(o.best_found)}"),
        ("(today)", "what a framework places by itself (LangChain, langchain-aws, CrewAI, LiteLLM, OpenAI)"),
        ("x lower bound", "at least the distance to the true optimum · x best found: at most it"),
    ]
    if o.unpriced_requests:
        legend.append(("unpriced", f"{fmt_count(o.unpriced_requests, 'request')} without prices are left out"))
    return Group(table, _pairs(legend, key_style="dim"))


def _verdict(report: AnalysisReport) -> RenderableType | None:
    recorded = report.scenario("recorded")
    best = report.scenario(report.best) if report.best else None
    if recorded is None or best is None or recorded.cost_usd is None or best.cost_usd is None:
        return None
    text = Text()
    if best.name == "recorded":
        text.append("The trace's own markers (recorded) are the cheapest scenario replayed.", style="bold green")
    elif best.name == "none":
        text.append(
            "Caching costs more than it saves on this trace: every scenario pays for writes nothing reads. "
            "Fix the causes below first.",
            style="bold red",
        )
    else:
        saved = recorded.cost_usd - best.cost_usd
        share = saved / recorded.cost_usd if recorded.cost_usd else 0.0
        text.append(f"{best.name}", style="bold green")
        text.append(f" would cost {fmt_usd(best.cost_usd)} instead of {fmt_usd(recorded.cost_usd)} ({REPLAYED}), ")
        text.append(f"{fmt_usd(saved)} less ({share * 100:.1f}%)", style="bold green")
        text.append(f", and read {fmt_pct(best.cached_token_ratio)} of prompt tokens from the cache.")
    for cheaper in _cheaper_analyzer_only(report, best.cost_usd):
        text.append(
            f" {cheaper.name} costs less still ({fmt_usd(cheaper.cost_usd)}), but is analyzer only as a spec: it "
            "picks TTLs from each session's past gaps; live, give your adapter auto(history=GapHistory()) "
            "(cachepoint.core.analyze.adaptive), which keeps them."
        )
    o = report.observed
    if o is not None and o.observed.cost_usd is not None:
        text.append(
            f" The usage the trace reports for {fmt_count(o.requests, 'request')} comes to "
            f"{fmt_usd(o.observed.cost_usd)} ({REPORTED}): see below."
        )
    return text


def _cheaper_analyzer_only(report: AnalysisReport, cost: float) -> list[ScenarioResult]:
    """Analyzer-only scenarios (`cachepoint.core.analyze.adaptive.ANALYZER_ONLY`) that cost less than ``cost``."""
    return [r for r in report.scenarios if analyzer_only(r.spec) and r.cost_usd is not None and r.cost_usd < cost]


def _observed(report: AnalysisReport) -> RenderableType | None:
    o = report.observed
    if o is None:
        return None
    table = Table(
        title="Usage the trace reports vs the prediction",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("")
    table.add_column(REPORTED, justify="right", no_wrap=True)
    table.add_column(REPLAYED, justify="right", no_wrap=True)
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
    for row in rows:
        table.add_row(*row)
    note = Text(style="dim")
    note.append(
        f"{fmt_count(o.requests, 'request')} carry a 'usage' field: what the provider (or whoever wrote the trace) "
        "reported; cachepoint cannot check where it came from · "
    )
    if o.input_token_ratio is not None:
        note.append(f"it counts {o.input_token_ratio:.2f}x the prompt tokens the analyzer estimates · ")
    note.append(f"cache read or not: the two agree on {fmt_pct(o.agreement)} of requests")
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
    lead = Text(
        f"{fmt_count(m.missed_requests, 'request')} read less than an earlier request made possible: "
        f"{fmt_tokens(m.lost_tokens, estimate=True)} tokens left unread.",
        style="dim",
    )
    if sum(c.requests for c in m.causes) > m.missed_requests:
        lead.append(
            " A request can have two causes (one inside the shared prefix, one where it parts), so the counts "
            "below add up to more."
        )
    body: list[RenderableType] = [title, _indent(lead, 2)]
    for cause in m.causes[:top]:
        head = Text()
        head.append(cause.cause, style="bold red" if cause.kind == "content" else "bold yellow")
        head.append(
            f"  {fmt_count(cause.requests, 'request')} · {fmt_tokens(cause.lost_tokens, estimate=True)} tokens",
            style="bold",
        )
        body.append(_indent(head, 2))
        body.append(_indent(cause.title, 4))
        for example in cause.examples[:1]:
            where = f"line {example.line}"
            if example.earlier_line is not None:
                where += f" vs line {example.earlier_line}"
            body.append(_indent(f"{where}: {example.detail}", 4, "dim"))
            if example.before or example.after:
                body.append(_indent(Text.assemble(("- ", "red"), (example.before, "red")), 4))
                body.append(_indent(Text.assemble(("+ ", "green"), (example.after, "green")), 4))
        body.append(_indent(Text.assemble(("fix: ", "cyan"), cause.fix), 4))
    if len(m.causes) > top:
        rest = ", ".join(c.cause for c in m.causes[top:])
        body.append(_indent(f"also: {rest} (--top {len(m.causes)}, --html or --json show them)", 2, "dim"))
    return Group(*body)


def _next(html: str | None) -> RenderableType:
    rows: list[tuple[str, Text | str]] = []
    if html is None:
        rows.append(("--html FILE", "the same report as one page with charts and every example"))
    rows.extend(NEXT_STEPS)
    return Group(Text("Next", style="bold"), _pairs(rows, key_style="cyan"))


def render_report(report: AnalysisReport, *, top: int = 5, html: str | None = None) -> RenderableType:
    """The whole report as one rich renderable (``html``: where an HTML copy goes, if anywhere).

    >>> from cachepoint.core.analyze import AnalysisReport
    >>> Console(width=100).print(render_report(AnalysisReport("t.jsonl", 0, (), "auto")))  # doctest: +ELLIPSIS
    cachepoint analyze t.jsonl
    ...
    """
    parts: list[RenderableType] = [_header(report), Text(""), _sharing(report), Text(""), _strategies(report)]
    for section in (_optimum(report), _verdict(report), _observed(report), _misses(report, top)):
        if section is not None:
            parts += [Text(""), section]
    if report.warnings:
        parts.append(Text(""))
        parts.extend(_indent(f"warning: {w}", 0, "yellow") for w in report.warnings)
    parts += [Text(""), _next(html)]
    return Group(*parts)


def print_report(
    report: AnalysisReport,
    console: Console | None = None,
    *,
    top: int = 5,
    html: str | None = None,
    wrap: bool | None = None,
) -> None:
    """Print the report (to ``console``, default: stdout). ``wrap``: lay it out at the console's width (default:
    when the console is a terminal); otherwise every line is written whole, without padding, as a pipe or a
    file wants it.

    >>> from cachepoint.core.analyze import AnalysisReport
    >>> print_report(AnalysisReport("t.jsonl", 0, (), "auto"), Console(width=100))  # doctest: +ELLIPSIS
    cachepoint analyze t.jsonl
    ...
    """
    console = console or Console()
    renderable = render_report(report, top=top, html=html)
    if console.is_terminal if wrap is None else wrap:
        console.print(renderable)
        return
    buffer = io.StringIO()
    Console(file=buffer, width=_UNWRAPPED, color_system=None, highlight=False, emoji=False).print(renderable)
    console.file.write("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n")
