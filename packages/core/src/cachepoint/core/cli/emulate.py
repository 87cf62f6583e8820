"""``cachepoint emulate``: run the provider emulator until interrupted.

    cachepoint emulate --port 0
    cachepoint emulate --port 8787 --reply "OK" --first-byte-delay 0.2

Prints the base URL as the first line of stdout (so a script can read it), and how to point each SDK at it on
stderr. Besides the provider APIs it answers ``GET /_cachepoint/requests``, ``GET /_cachepoint/cache``,
``POST /_cachepoint/advance {"seconds": 300}`` and ``POST /_cachepoint/reset``, so tests in any language can
read usage and move the clock. Exit codes: 0 on SIGINT/SIGTERM, 2 bad input.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from cachepoint.core.cli import EXIT_BAD_INPUT, EXIT_OK

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add ``emulate``."""
    parser = subparsers.add_parser(
        "emulate",
        help="run a local Anthropic / Bedrock / OpenAI endpoint with realistic prompt-cache usage",
        description="Serve Anthropic Messages, Bedrock Converse and OpenAI Chat Completions locally, answering "
        "with cache usage from cachepoint's provider cache model. Point SDKs at the printed URL.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port; the URL is printed)")
    parser.add_argument("--reply", default=None, help="answer every request with this text (default: echo)")
    parser.add_argument(
        "--first-byte-delay",
        type=float,
        default=0.0,
        help="seconds between a request's start and its first byte (makes concurrent cold requests visible)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    from cachepoint.core.emulator import Emulator

    if not 0 <= args.port <= 65535:
        print(f"cachepoint emulate: --port: expected 0..65535, got {args.port}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        emulator = Emulator(host=args.host, port=args.port, reply=args.reply, first_byte_delay=args.first_byte_delay)
        emulator.start()
    except (OSError, ValueError) as exc:
        print(f"cachepoint emulate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(emulator.url, flush=True)
        print(
            f"cachepoint emulator listening on {emulator.url}\n"
            f"  anthropic.Anthropic(base_url={emulator.anthropic_base_url!r})\n"
            f"  openai.OpenAI(base_url={emulator.openai_base_url!r})\n"
            f"  boto3.client('bedrock-runtime', endpoint_url={emulator.bedrock_endpoint_url!r}, ...)\n"
            f"  state: GET {emulator.url}/_cachepoint/requests | /_cachepoint/cache; "
            f'POST /_cachepoint/advance {{"seconds": 300}}\n'
            "Ctrl-C to stop.",
            file=sys.stderr,
            flush=True,
        )
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        emulator.close()
    return EXIT_OK
