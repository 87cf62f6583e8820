"""Command-line flags from optional settings, as the engines' argument parsers take them."""

from __future__ import annotations

from collections.abc import Iterable


def value_flags(options: Iterable[tuple[str, object]]) -> list[str]:
    """``[flag, value, ...]`` for each setting that is not ``None`` (floats without trailing zeros).

    >>> value_flags([("--port", 8000), ("--host", None), ("--gpu-memory-utilization", 0.90)])
    ['--port', '8000', '--gpu-memory-utilization', '0.9']
    """
    args: list[str] = []
    for flag, value in options:
        if value is not None:
            args += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return args
