"""The ``cachepoint`` command line: ``cachepoint analyze | lint | emulate | engines ...``.

Each subcommand lives in its own module here (``cli/analyze.py``...) and exposes two functions:

- ``register(subparsers)``: add its parser (``subparsers.add_parser(name, help=...)``) and set
  ``func=run`` on it with ``parser.set_defaults(func=run)``;
- ``run(args) -> int``: do the work and return the exit code.

Modules import their heavy dependencies inside ``run`` so ``cachepoint --help`` stays fast.
Exit codes: 0 success, 1 a check failed (e.g. ``--fail-under-hit-rate``), 2 bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import cast

__all__ = [
    "COMMANDS",
    "EXIT_BAD_INPUT",
    "EXIT_CHECK_FAILED",
    "EXIT_OK",
    "ParagraphFormatter",
    "build_parser",
    "main",
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2

#: Subcommand modules of this package, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("analyze", "engines", "lint", "emulate")


class ParagraphFormatter(argparse.HelpFormatter):
    """Help that wraps to the terminal (argparse's own width: ``COLUMNS``, else the terminal's) and keeps the
    description's paragraphs apart (argparse's default joins them into one).

    >>> parser = argparse.ArgumentParser(prog="x", description="One.\\n\\nTwo.", formatter_class=ParagraphFormatter)
    >>> parser.format_help().split("\\n")[2:5]
    ['One.', '', 'Two.']
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
        return "\n\n".join(textwrap.fill(p, width, initial_indent=indent, subsequent_indent=indent) for p in paragraphs)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    from cachepoint.core import __version__

    parser = argparse.ArgumentParser(
        prog="cachepoint",
        description="Make LLM agents cheaper and faster through caching.",
    )
    parser.add_argument("--version", action="version", version=f"cachepoint {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"cachepoint.core.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cachepoint`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = cast("Callable[[argparse.Namespace], int] | None", getattr(args, "func", None))
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    return func(args)
