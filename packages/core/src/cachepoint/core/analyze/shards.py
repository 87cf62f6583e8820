"""Preparing a trace in pieces: the work a worker process does on a chunk of lines.

`prepare_chunk` is what `cachepoint.core.analyze.workers` runs in other processes: a plain function over plain
data (settings as a dict of strings, raw lines with their numbers and offsets) that returns the prepared requests
as JSON bytes (`encode_batch`). Chunks go out and come back in file order, so the replay can start on the first
ones while the workers prepare the next (a split by conversation, each worker reading the whole file for its
share, would hand the replay its requests only at the end, all of them in memory).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from cachepoint.core.analyze.prepare import PrepareContext, Prepared, encode_batch
from cachepoint.core.analyze.workers import collector_paused
from cachepoint.core.traces import TraceFormatError

__all__ = ["prepare_chunk", "prepare_one"]


def prepare_one(ctx: PrepareContext, line: int, offset: int, raw: Any) -> Prepared | TraceFormatError:
    """One line prepared, or the error that names what is wrong with it."""
    try:
        return ctx.prepare_line(raw, line=line, offset=offset)
    except TraceFormatError as exc:
        return exc
    except ValueError as exc:  # a value the format or the rules reject, without a field path of its own
        return TraceFormatError(line, "", str(exc))


# One context per worker process, for the settings it last saw: chunks of one stream share their memo.
_CONTEXT: tuple[bytes, PrepareContext] | None = None


def prepare_chunk(settings: Mapping[str, Any], chunk: list[tuple[int, int, Any]]) -> bytes:
    """Worker process: prepare a chunk of lines of a stream, ``(line, offset, raw)`` each."""
    global _CONTEXT  # noqa: PLW0603 - the memo of this worker process, kept from one chunk to the next
    key = orjson.dumps(settings, option=orjson.OPT_SORT_KEYS)
    if _CONTEXT is None or _CONTEXT[0] != key:
        _CONTEXT = (key, PrepareContext(**settings))
    ctx = _CONTEXT[1]
    with collector_paused():
        return encode_batch([prepare_one(ctx, line, offset, raw) for line, offset, raw in chunk])
