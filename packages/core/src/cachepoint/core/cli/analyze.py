"""``cachepoint analyze TRACE``: how much of your traffic is cacheable, what its own cache markers get, what each
strategy would get, and what breaks your cache. `DESCRIPTION` is what ``--help`` says.

Exit codes: 0 success, 1 a ``--fail-under-*`` check failed, 2 bad input (``error: FILE: ...`` on stderr).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cachepoint.core.cli import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, ParagraphFormatter

__all__ = ["DESCRIPTION", "output_problem", "parse_fraction", "register", "run", "trace_problem"]

#: The text of ``cachepoint analyze --help`` (plain text: argparse wraps each paragraph to the terminal).
DESCRIPTION = """\
Replay a recorded trace of LLM requests through a model of the provider's prompt cache: how much of the traffic \
repeats, what its own cache markers get (recorded), what no caching (none) and each strategy would get and cost, \
the usage the trace reports next to the prediction, and why requests miss, each cause with an example and a fix.

TRACE is JSONL, plain or gzip/xz/zstd-compressed (recognized by its first bytes, not its name; zstd needs \
pip install 'cachepoint-core[zstd]'; '-' reads stdin): one request per line, either an envelope {"request": {...}, \
"timestamp": ..., "session": ..., "usage": {...}} as TraceWriter writes it, or a bare Anthropic, Bedrock Converse \
or OpenAI request body. Several TRACEs, a folder (its *.jsonl, *.jsonl.gz, *.jsonl.xz and *.jsonl.zst files) or a \
quoted glob pattern ('logs/*.jsonl.zst') are read as one trace, their files sorted by name and read as if \
concatenated.

Exit codes: 0 success, 1 a --fail-under-* check failed, 2 bad input. Guide: docs/guides/analyze.md."""


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
        description=DESCRIPTION,
        formatter_class=ParagraphFormatter,
    )
    parser.add_argument(
        "traces",
        nargs="+",
        metavar="TRACE",
        help="JSONL trace file (plain, gzip, xz or zstd), folder of them or glob pattern; several are read as one "
        "('-' = stdin)",
    )
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
        "auto, stable_prefix, cache_until(-1), cache_at('tools', 'system', -1), rolling(4); analyzer-only ones such as "
        "auto_adaptive alone are added to those)",
    )
    parser.add_argument(
        "--optimum",
        action="store_true",
        help="also bracket the cheapest placement the provider rules allow (a lower bound, and the best real "
        "placement found) and show auto and what each framework places today (replayed too) as a ratio to it; "
        "reads the trace twice and keeps it in memory",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON (stable keys) instead of text")
    parser.add_argument(
        "--json-out",
        metavar="FILE",
        help="also write the JSON report to FILE ('-': stdout, as --json), checked before the analysis runs. "
        "(--json itself takes no value: TRACE can be several files, so in '--json a.jsonl b.jsonl' a value could "
        "not be told from a trace, and the trace would be written over)",
    )
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
        help="processes that prepare requests, in chunks of lines (default: one per core for files over 64 MB, else 1)",
    )
    parser.add_argument(
        "--top", type=int, default=5, metavar="N", help="miss causes shown in the terminal (default: 5)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (it is off anyway when not a TTY)")
    parser.add_argument(
        "--window",
        type=float,
        metavar="SECONDS",
        help="how far back prefix sharing and the miss diagnosis compare requests (default: the longest cache "
        "lifetime, 1h, or 24h when OpenAI requests are replayed); older requests are freed",
    )
    parser.add_argument(
        "--keep",
        type=int,
        default=25_000,
        metavar="N",
        help="requests always kept for comparison, however old (default: 25000)",
    )
    parser.add_argument(
        "--reorder-window",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how far a request may start before one earlier in the file and still be put in order (default: 300)",
    )
    parser.add_argument(
        "--engine",
        choices=("local", "dask"),
        help="replay each tenant on its own, on local processes (--jobs of them) or a Dask cluster, and merge the "
        "tallies: the same report (default: one replay in this process)",
    )
    parser.add_argument(
        "--dask-scheduler",
        metavar="ADDR",
        help="the Dask scheduler for --engine dask (tcp://host:8786; default: a local cluster for the run)",
    )
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


def trace_problem(trace: str) -> str | None:
    """What keeps ``trace`` (a file, a folder of trace files or a glob pattern) from being read, checked before
    any work (``None``: nothing; ``-`` is stdin).

    >>> trace_problem("/nonexistent/day.jsonl")
    'no such file'
    """
    from cachepoint.core.traces import TraceFileError, resolve_traces

    if trace == "-":
        return None
    try:
        resolve_traces([trace])
    except TraceFileError as exc:
        return exc.detail
    return None


def _inputs(args: argparse.Namespace) -> str | None:
    """Resolve the TRACE arguments into ``args.source`` (what `analyze` reads: ``"-"``, one path, or a
    `TraceFiles` of several) and ``args.trace`` (their name in messages); what is wrong with them, if anything."""
    from cachepoint.core.traces import TraceFileError, TraceFiles, resolve_traces

    args.trace = " ".join(args.traces)
    if "-" in args.traces:
        args.source = "-"
        return None if args.traces == ["-"] else "-: stdin cannot be read together with trace files"
    try:
        files = resolve_traces(args.traces)
    except TraceFileError as exc:
        return f"{exc.source}: {exc.detail}"
    if len(files) == 1:
        # One file named as such keeps the name as typed; from a folder or a pattern, the file's path.
        args.source = args.trace if Path(args.trace).is_file() else str(files[0])
        if files[0].stat().st_size == 0:
            return f"{args.source}: no requests (the file is empty)"
    else:
        args.source = TraceFiles(files)
        if all(f.stat().st_size == 0 for f in files):
            return f"{args.trace}: no requests (every file is empty)"
    return None


def output_problem(target: str) -> str | None:
    """What keeps a report from being written to ``target``, checked before the analysis runs so that its result
    is not lost at the end (``None``: nothing).

    >>> output_problem("/nonexistent/folder/report.html")
    'no such folder: /nonexistent/folder'
    """
    path = Path(target)
    if path.is_dir():
        return "is a directory; expected a file name for the report"
    folder = path.parent
    if not folder.exists():
        return f"no such folder: {folder}"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "permission denied"
    return None


def _compared(compare: list[str] | None, defaults: Sequence[str]) -> list[str]:
    """The strategies to replay: ``--compare`` as given, or the defaults; an analyzer-only strategy alone
    (``--compare auto_adaptive``) is compared with the defaults, which hold auto: it is only worth a look next to
    what an adapter can place."""
    from cachepoint.core.analyze.adaptive import analyzer_only

    if not compare:
        return list(defaults)
    if all(analyzer_only(spec) for spec in compare):
        return [*defaults, *compare]
    return list(compare)


def _problem_before_the_run(args: argparse.Namespace) -> str | None:
    """Bad input that can be told before any work: the trace, the report's destination, the options."""
    if (problem := _inputs(args)) is not None:
        return problem
    if args.html and (problem := output_problem(args.html)) is not None:
        return f"{args.html}: {problem} (--html)"
    if args.json_out and args.json_out != "-" and (problem := output_problem(args.json_out)) is not None:
        return f"{args.json_out}: {problem} (--json-out)"
    if args.jobs is not None and args.jobs < 1:
        return "--jobs: expected 1 or more"
    return None


def _line_problem(args: argparse.Namespace, exc: Any) -> str:
    """``FILE: line N: ...`` for a bad line; of several files, the one it is in and its number there."""
    from cachepoint.core.traces import TraceFiles, TraceFormatError

    if isinstance(args.source, TraceFiles) and exc.line is not None:
        name, line = args.source.locate(exc.line)
        return f"{name}: {TraceFormatError(line, exc.path, exc.detail)}"
    return f"{args.source}: {exc}"


def _order_problem(args: argparse.Namespace, exc: Any) -> str:
    """``FILE: line N starts ...``; of several files, each line named by its file and its number there."""
    from cachepoint.core.traces import TraceFiles

    if isinstance(args.source, TraceFiles):
        return str(exc.located(args.source.locate))
    return f"{args.trace}: {exc}"


def _no_requests(report: Any, trace: str) -> str:
    if report.invalid_lines:
        skipped = f"{report.invalid_lines:,} invalid line{'' if report.invalid_lines == 1 else 's'} skipped"
        first = f" (first: {report.errors[0]})" if report.errors else ""
        return f"{trace}: no requests: {skipped}{first}"
    return f"{trace}: no requests (the trace is empty or only blank lines)"


def _emit(report: Any, args: argparse.Namespace) -> str | None:
    """Print the report (text or JSON) and write the HTML copy; what went wrong writing it, if anything."""
    from rich.console import Console

    from cachepoint.core.analyze.html import render_html
    from cachepoint.core.analyze.terminal import print_report

    to_stdout = args.json or args.json_out == "-"
    try:
        if to_stdout:
            sys.stdout.write(report.to_json() + "\n")
        else:
            print_report(report, Console(), top=args.top, html=args.html)
        sys.stdout.flush()
    except BrokenPipeError:  # `cachepoint analyze ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if args.json_out and args.json_out != "-":
        try:
            Path(args.json_out).write_text(report.to_json() + "\n", encoding="utf-8")
        except OSError as exc:
            return f"{args.json_out}: {exc.strerror or exc} (--json-out)"
        if not to_stdout:
            Console().print(f"JSON report: {args.json_out}", style="dim", soft_wrap=True)
    if args.html:
        try:
            Path(args.html).write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            return f"{args.html}: {exc.strerror or exc} (--html)"
        if not to_stdout:
            Console().print(f"HTML report: {args.html}", style="dim", soft_wrap=True)
    return None


def _bracket(args: argparse.Namespace, specs: list[str]) -> Any:
    """``--optimum``: bracket the trace's optimum, and add the incumbents of its providers to ``specs``."""
    from cachepoint.core.analyze.incumbents import INCUMBENTS_FOR
    from cachepoint.core.analyze.optimal import bracket_trace

    if args.source == "-":
        raise ValueError("--optimum reads the trace twice: give a file, not '-' (stdin)")
    bracket = bracket_trace(
        args.source, provider=args.provider, model=args.model, interval=args.interval, skip_invalid=args.skip_invalid
    )
    for provider in bracket.providers:
        for spec in INCUMBENTS_FOR.get(provider, ()):
            if spec not in specs and f"{spec}()" not in specs:
                specs.append(spec)
    return bracket


def _finished(report: Any, args: argparse.Namespace, bracket: Any) -> Any:
    """The report as printed: with the ``--optimum`` section when it was asked for, and named for what the user
    gave when that was several files."""
    if bracket is not None:
        from cachepoint.core.analyze.optimal import summarize

        report = dataclasses.replace(report, optimum=summarize(bracket, report))
    if not isinstance(args.source, str):
        report = dataclasses.replace(report, source=args.trace)
    return report


def run(args: argparse.Namespace) -> int:  # noqa: PLR0911 - one return per way a run ends
    """Analyze the trace; print or write the report; return the exit code."""
    from rich.console import Console
    from rich.text import Text

    from cachepoint.core.analyze import DEFAULT_STRATEGIES, TraceOrderError, WorkerError, analyze
    from cachepoint.core.traces import TraceFileError, TraceFormatError

    err = Console(stderr=True, soft_wrap=True, highlight=False)

    def error(message: str, hint: str = "") -> int:
        err.print(Text.assemble(("error: ", "bold red"), message))
        if hint:
            err.print(f"hint: {hint}", style="dim")
        return EXIT_BAD_INPUT

    if (problem := _problem_before_the_run(args)) is not None:
        return error(problem)
    specs = _compared(args.compare, DEFAULT_STRATEGIES)
    bracket = None
    progress, update = _progress_bar(sys.stderr.isatty() and not args.no_progress)
    try:
        if args.optimum:
            bracket = _bracket(args, specs)
        if args.engine == "local" and args.dask_scheduler:
            return error("--dask-scheduler needs --engine dask (a scheduler address is for a Dask cluster)")
        if args.engine is not None or args.dask_scheduler:
            return _sharded(args, specs, bracket, error)
        if progress is not None:
            progress.start()
        report = analyze(
            args.source,
            provider=args.provider,
            model=args.model,
            strategies=specs,
            focus=args.strategy,
            interval=args.interval,
            skip_invalid=args.skip_invalid,
            jobs=args.jobs if args.jobs is not None else "auto",
            progress=update,
            window=args.window,
            keep=args.keep,
            reorder_window=args.reorder_window,
        )
    except TraceOrderError as exc:
        return error(_order_problem(args, exc))
    except TraceFormatError as exc:
        return error(_line_problem(args, exc), "--skip-invalid skips bad lines and counts them")
    except TraceFileError as exc:
        return error(f"{exc.source}: {exc.detail}")
    except (WorkerError, ValueError, OSError) as exc:
        return error(str(exc))
    finally:
        if progress is not None:
            progress.stop()
    return _reported(report, args, bracket, error)


def _sharded(args: argparse.Namespace, specs: list[str], bracket: Any, error: Any) -> int:
    """``--engine``: one replay per tenant, on local processes or Dask (`analyze_sharded`), reported as usual."""
    from cachepoint.core.analyze import TraceOrderError, WorkerError
    from cachepoint.core.analyze.sharded import analyze_sharded
    from cachepoint.core.traces import TraceFileError, TraceFormatError

    try:
        report = analyze_sharded(
            args.source,
            engine=args.engine or "dask",
            workers=args.jobs,
            address=args.dask_scheduler,
            provider=args.provider,
            model=args.model,
            strategies=specs,
            focus=args.strategy,
            interval=args.interval,
            skip_invalid=args.skip_invalid,
            window=args.window,
            keep=args.keep,
            reorder_window=args.reorder_window,
        )
    except TraceOrderError as exc:
        return int(error(_order_problem(args, exc)))
    except TraceFormatError as exc:
        return int(error(_line_problem(args, exc), "--skip-invalid skips bad lines and counts them"))
    except TraceFileError as exc:
        return int(error(f"{exc.source}: {exc.detail}"))
    except (WorkerError, ValueError, OSError) as exc:
        return int(error(str(exc)))
    return _reported(report, args, bracket, error)


def _reported(report: Any, args: argparse.Namespace, bracket: Any, error: Any) -> int:
    """Print or write the report; the exit code."""
    from rich.console import Console

    if report.requests == 0:
        return int(error(_no_requests(report, args.trace)))
    report = _finished(report, args, bracket)

    if (problem := _emit(report, args)) is not None:
        return int(error(problem))

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    failed = _checks(report, args)
    for message in failed:
        err.print(f"check failed: {message}", style="bold red")
    return EXIT_CHECK_FAILED if failed else EXIT_OK
