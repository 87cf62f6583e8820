"""Preparing a trace in pieces: which shard a line belongs to, and the work a worker process does on one.

`prepare_shard` and `prepare_chunk` are what `cachepoint.core.analyze.workers` runs in other processes: plain
functions over plain data (settings as a dict of strings, a path, numbers, raw lines) that return the prepared
requests as JSON bytes (`encode_batch`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from cachepoint.core.analyze.prepare import PrepareContext, Prepared, encode_batch
from cachepoint.core.analyze.workers import collector_paused
from cachepoint.core.traces import TraceFormatError, iter_lines

__all__ = ["prepare_chunk", "prepare_one", "prepare_shard", "shard_items", "shard_of"]

_BATCH = 512  # prepared requests per JSON document a shard is returned in
_SESSION_VALUE = re.compile(rb'\s*:\s*("(?:[^"\\]|\\.)*"|-?[0-9.]+)')


def prepare_one(ctx: PrepareContext, line: int, offset: int, raw: Any) -> Prepared | TraceFormatError:
    """One line prepared, or the error that names what is wrong with it."""
    try:
        return ctx.prepare_line(raw, line=line, offset=offset)
    except TraceFormatError as exc:
        return exc
    except ValueError as exc:  # a value the format or the rules reject, without a field path of its own
        return TraceFormatError(line, "", str(exc))


def shard_of(raw: bytes, shards: int) -> int:
    """The shard a trace line belongs to, read off its raw bytes (no JSON decoding: every process routes every
    line, and decodes only its own). All turns of a conversation should land in one process, so that its
    `ViewBuilder` sees each turn after the one before and parses only the new messages: the key is the
    ``"session"`` value, else the opening of the first message (which every turn repeats), else the line. The
    key only decides which process prepares a line, never what the line means, so a nested ``"session"`` key
    or an odd layout can only cost speed, not change the report.

    >>> shard_of(b'{"request": {}, "session": "s1"}', 2) == shard_of(b'{"session": "s1", "x": 1}', 2)
    True
    """
    key = b""
    at = raw.rfind(b'"session"')  # the recorder writes the envelope's fields after the request body
    if at >= 0:
        match = _SESSION_VALUE.match(raw, at + 9)
        if match is not None:
            key = match.group(1)
    if not key:
        for name in (b'"messages"', b'"input"'):
            at = raw.find(name)
            if at >= 0:
                # Through the first closing brace: inside the first message whatever follows it (the first turn
                # has nothing after it, later turns more messages).
                end = raw.find(b"}", at, at + 512)
                key = raw[at : end if end >= 0 else at + 512]
                break
        else:
            key = raw
    return zlib.crc32(key) % shards


def shard_items(
    ctx: PrepareContext, path: str, shard: int, shards: int, skip_invalid: bool
) -> Iterator[Prepared | TraceFormatError]:
    """Prepare the lines of ``path`` that belong to ``shard`` (see `shard_of`), in line order. Without
    ``skip_invalid`` it stops at its first error, which the caller compares with the other shards'."""
    for line, offset, raw in iter_lines(path):
        assert isinstance(raw, bytes)
        if shard_of(raw, shards) != shard:
            continue
        item = prepare_one(ctx, line, offset, raw)
        yield item
        if not skip_invalid and isinstance(item, TraceFormatError):
            return


def prepare_shard(settings: Mapping[str, Any], path: str, shard: int, shards: int, skip_invalid: bool) -> list[bytes]:
    """Worker process: prepare one shard of the file at ``path`` (``settings``: `PrepareContext` keywords), in
    JSON documents of up to 512 requests."""
    with collector_paused():
        batches: list[bytes] = []
        batch: list[Prepared | TraceFormatError] = []
        for item in shard_items(PrepareContext(**settings), path, shard, shards, skip_invalid):
            batch.append(item)
            if len(batch) >= _BATCH:
                batches.append(encode_batch(batch))
                batch = []
        if batch:
            batches.append(encode_batch(batch))
        return batches


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
