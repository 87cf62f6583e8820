"""``cachepoint analyze TRACE``: how much of your traffic is cacheable, what you get today, what each strategy would
get, and what breaks your cache.

TRACE is JSONL (``.gz`` / ``.xz`` too; ``-`` reads stdin): one request per line, either an envelope
``{"request": {...}, "timestamp": ..., "session": ..., "usage": {...}}`` or a bare Anthropic / Bedrock Converse /
OpenAI request body. Every request is replayed through the provider cache model under the markers already in
the trace (``recorded``), no caching (``none``) and each strategy; misses of the chosen scenario are explained.

Exit codes: 0 success, 1 a ``--fail-under-*`` check failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cachepoint.core.cli import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK

__all__ = ["parse_fraction", "register", "run"]


def parse_fraction(text: str) -> float:
    """``0.8``, ``.8`` or ``80%`` -> 0.8 (for ``--fail-under-*``).

    >>> parse_fraction("80%"), parse_fraction("0.75")
    (0.8, 0.75)
    """
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a fraction like 0.8 or a percentage like 80%, got {text!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a value between 0 and 1 (or 0% and 100%), got {text!r}")
    return value


def register(subparsers: Any) -> None:
    """Add the ``analyze`` subcommand."""
    parser = subparsers.add_parser(
        "analyze",
        help="replay a recorded trace: prefix sharing, hit rate and cost per strategy, why requests miss",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("trace", metavar="TRACE", help="JSONL trace (.jsonl, .jsonl.gz, .jsonl.xz; '-' = stdin)")
    parser.add_argument("--provider", help="anthropic, bedrock, openai, vllm or sglang (default: from each line)")
    parser.add_argument("--model", help="model id for every request (default: from each line)")
    parser.add_argument(
        "--strategy",
        metavar="SCENARIO",
        help="the scenario to explain and to check with --fail-under-*: recorded, auto, or any strategy spec "
        "(default: recorded when the trace carries cache markers, else auto)",
    )
    parser.add_argument(
        "--compare",
        action="append",
        metavar="SPEC",
        help="a strategy to replay, e.g. auto, 'rolling(8)', \"cache_at('system', -1)\" (repeatable; default: "
        "auto, stable_prefix, cache_until(-1), cache_at('tools', 'system', -1), rolling(4))",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON (stable keys) instead of text")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with charts")
    parser.add_argument("--skip-invalid", action="store_true", help="skip bad lines (counted) instead of stopping")
    parser.add_argument(
        "--fail-under-hit-rate",
        type=parse_fraction,
        metavar="X",
        help="exit 1 when the chosen scenario's request hit rate is below X (0.8 or 80%%)",
    )
    parser.add_argument(
        "--fail-under-cached-ratio",
        type=parse_fraction,
        metavar="X",
        help="exit 1 when the chosen scenario reads less than X of prompt tokens from the cache",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between requests that carry no timestamp (default: 1)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="processes that prepare requests, split by conversation (default: one per core for files over 64 MB, "
        "else 1)",
    )
    parser.add_argument(
        "--top", type=int, default=5, metavar="N", help="miss causes shown in the terminal (default: 5)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (it is off anyway when not a TTY)")
    parser.set_defaults(func=run)


def _progress_bar(enabled: bool) -> tuple[Any, Any]:
    """A rich progress bar on stderr, and the callback that drives it (``(None, None)`` when disabled)."""
    if not enabled:
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int | None) -> None:
        task = tasks.get(phase)
        if task is None:
            label = "reading and parsing" if phase == "reading" else "replaying"
            task = tasks[phase] = progress.add_task(label, total=total)
        progress.update(task, completed=min(done, total) if total else done, total=total)

    return progress, update


def _checks(report: Any, args: argparse.Namespace) -> list[str]:
    """The ``--fail-under-*`` checks that failed, as sentences."""
    chosen = report.scenario(report.focus)
    failed = []
    if chosen is not None and args.fail_under_hit_rate is not None:
        rate = chosen.hit_rate or 0.0
        if rate < args.fail_under_hit_rate:
            failed.append(f"hit rate of {chosen.name} is {rate:.1%} < {args.fail_under_hit_rate:.1%}")
    if chosen is not None and args.fail_under_cached_ratio is not None:
        ratio = chosen.cached_token_ratio or 0.0
        if ratio < args.fail_under_cached_ratio:
            failed.append(f"cached-token ratio of {chosen.name} is {ratio:.1%} < {args.fail_under_cached_ratio:.1%}")
    return failed


def run(args: argparse.Namespace) -> int:
    """Analyze the trace; print or write the report; return the exit code."""
    from rich.console import Console
    from rich.text import Text

    from cachepoint.core.analyze import DEFAULT_STRATEGIES, analyze
    from cachepoint.core.analyze.html import render_html
    from cachepoint.core.analyze.terminal import print_report
    from cachepoint.core.traces import TraceFormatError

    err = Console(stderr=True, soft_wrap=True, highlight=False)

    def error(message: str) -> None:
        err.print(Text.assemble(("error: ", "bold red"), message))

    if args.trace != "-" and not Path(args.trace).is_file():
        error(f"{args.trace}: no such file")
        return EXIT_BAD_INPUT
    if args.jobs is not None and args.jobs < 1:
        error("--jobs: expected 1 or more")
        return EXIT_BAD_INPUT
    strategies = list(args.compare or DEFAULT_STRATEGIES)
    focus = args.strategy
    progress, update = _progress_bar(sys.stderr.isatty() and not args.no_progress)
    try:
        if progress is not None:
            progress.start()
        report = analyze(
            args.trace,
            provider=args.provider,
            model=args.model,
            strategies=strategies,
            focus=focus,
            interval=args.interval,
            skip_invalid=args.skip_invalid,
            jobs=args.jobs if args.jobs is not None else "auto",
            progress=update,
        )
    except TraceFormatError as exc:
        error(f"{args.trace}: {exc}")
        err.print("hint: --skip-invalid skips bad lines and counts them", style="dim")
        return EXIT_BAD_INPUT
    except (ValueError, OSError) as exc:
        error(str(exc))
        return EXIT_BAD_INPUT
    finally:
        if progress is not None:
            progress.stop()

    if args.html:
        Path(args.html).write_text(render_html(report), encoding="utf-8")
    if args.json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        print_report(report, Console(), top=args.top)
        if args.html:
            Console().print(f"HTML report: {args.html}", style="dim", soft_wrap=True)

    failed = _checks(report, args)
    for message in failed:
        err.print(f"check failed: {message}", style="bold red")
    return EXIT_CHECK_FAILED if failed else EXIT_OK
