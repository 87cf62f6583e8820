"""``cachepoint lint FILE...``: find what keeps prompts from being cached, in request bodies on disk.

Each FILE is JSON (one request body, or a list of them) or JSONL (one per line); ``-`` reads stdin. A line may
also be a trace record holding the body under ``request`` or ``body``. The requests of one file are a series:
besides each request's own findings, consecutive requests are compared and the first byte where a prompt stops
extending the previous one is reported, with its cause.

Exit codes: 0 no finding at or above ``--fail-on`` (default ``warning``), 1 there are some, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cachepoint.core.cli import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK

__all__ = ["load_requests", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``lint`` subcommand."""
    parser = subparsers.add_parser(
        "lint",
        help="find cache breakers in request bodies (JSON / JSONL)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="JSON or JSONL file of request bodies ('-' = stdin)")
    parser.add_argument("--provider", help="anthropic, bedrock or openai (default: from each body's shape)")
    parser.add_argument("--model", help="model id for the caching rules (default: each body's model)")
    parser.add_argument(
        "--fail-on",
        choices=("info", "warning", "error", "never"),
        default="warning",
        help="exit 1 when a finding is at least this severe (default: warning)",
    )
    parser.add_argument("--json", action="store_true", help="print findings as JSON lines")
    parser.add_argument("--user-name", action="append", default=[], help="a user name to look for (repeatable)")
    parser.set_defaults(func=run)


def _records(path: str) -> Iterator[tuple[int, Any]]:
    raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    stripped = raw.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and not _is_jsonl(raw)):
        value = json.loads(raw)
        for n, item in enumerate(value if isinstance(value, list) else [value], start=1):
            yield n, item
        return
    for n, line in enumerate(raw.splitlines(), start=1):
        if line.strip():
            yield n, json.loads(line)


def _is_jsonl(raw: str) -> bool:
    lines = [line for line in raw.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        json.loads(lines[0])
    except json.JSONDecodeError:
        return False
    return True


def load_requests(path: str) -> list[tuple[int, Mapping[str, Any]]]:
    """(line or item number, request body) for each request in a JSON/JSONL file; raises ``ValueError``."""
    out = []
    for n, record in _records(path):
        body = record
        if isinstance(record, Mapping):
            for key in ("request", "body"):
                if isinstance(record.get(key), Mapping):
                    body = record[key]
                    break
        if not isinstance(body, Mapping):
            raise ValueError(f"{path}:{n}: expected a request body object, got {type(body).__name__}")
        out.append((n, body))
    return out


def run(args: argparse.Namespace) -> int:
    """Lint every file; print findings; return the exit code."""
    from cachepoint.core.prompt.formats import parse_request
    from cachepoint.core.prompt.lint import SEVERITIES, lint

    threshold = None if args.fail_on == "never" else SEVERITIES.index(args.fail_on)
    failed = False
    for path in args.files:
        try:
            requests = load_requests(path)
        except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            print(f"{path}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        parsed = []
        for n, body in requests:
            try:
                parsed.append(parse_request(body, provider=args.provider, lenient=True))
            except ValueError as exc:  # RequestFormatError names the path inside the body
                print(f"{path}:{n}: {exc}", file=sys.stderr)
                return EXIT_BAD_INPUT
        findings = lint(parsed, provider=args.provider, model=args.model, user_names=args.user_name)
        lines = [n for n, _ in requests]
        for finding in findings:
            line = lines[finding.request] if finding.request is not None else lines[0] if lines else 0
            if args.json:
                print(json.dumps({"file": path, "line": line, **finding.to_dict()}, ensure_ascii=False))
            else:
                where = f" {finding.path}" if finding.path else ""
                print(f"{path}:{line}: {finding.severity} {finding.code}{where}: {finding.message}")
                print(f"    fix: {finding.fix}")
            if threshold is not None and SEVERITIES.index(finding.severity) >= threshold:
                failed = True
        if not findings and not args.json:
            print(f"{path}: {len(requests)} request(s), no findings")
    return EXIT_CHECK_FAILED if failed else EXIT_OK
