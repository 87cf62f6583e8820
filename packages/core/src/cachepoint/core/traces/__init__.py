"""Traces: recorded LLM requests as JSONL, the input of ``cachepoint analyze``.

One request per line, in either form:

- an **envelope** (what `TraceWriter` writes)::

    {"v": 1, "timestamp": "2026-11-23T10:15:00Z", "session": "ticket-4411", "tenant": "prod-key",
     "provider": "anthropic", "model": "claude-sonnet-4-5", "ttft_s": 0.8,
     "request": {...the body you sent...}, "usage": {...the usage the provider returned...}}

  Only ``request`` is required. ``timestamp`` (epoch seconds or ISO 8601) drives cache lifetimes;
  ``tenant`` is the cache partition (API key / workspace / AWS account); ``session`` groups a conversation;
  ``usage`` (any shape `cachepoint.core.usage.normalize_usage` reads) lets the analyzer put observed numbers
  next to predicted ones; ``ttft_s`` says when the response started (a cache entry is readable only from then);
  ``metadata`` carries anything else. Unknown keys are reported and ignored.
- a **bare body**: the request body itself (Anthropic Messages, Bedrock Converse, OpenAI Chat Completions or
  Responses), as logged by a proxy. Its shape is detected.

The JSON schema of a line ships with the package (`schema`, ``cachepoint/core/traces/schema.json``).

>>> from cachepoint.core.traces import TraceReader
>>> lines = ['{"request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}, "timestamp": 60}',
...          '{"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}']
>>> [(r.line, r.bare, r.timestamp, r.parse_request().format) for r in TraceReader(lines)]
[(1, False, 60.0, 'openai-chat'), (2, True, None, 'anthropic')]
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from cachepoint.core.traces.errors import TraceFileError, TraceFormatError
from cachepoint.core.traces.inputs import TRACE_SUFFIXES, TraceFiles, resolve_traces
from cachepoint.core.traces.reader import (
    TraceReader,
    TraceSource,
    compression_of,
    iter_lines,
    open_trace,
    parse_line,
    raw_lines,
    read_trace,
)
from cachepoint.core.traces.record import (
    ENVELOPE_FIELDS,
    FORMAT_VERSION,
    TraceRecord,
    infer_provider,
    parse_record,
    parse_timestamp,
)
from cachepoint.core.traces.writer import TraceWriter

__all__ = [
    "ENVELOPE_FIELDS",
    "FORMAT_VERSION",
    "TRACE_SUFFIXES",
    "TraceFileError",
    "TraceFiles",
    "TraceFormatError",
    "TraceReader",
    "TraceRecord",
    "TraceSource",
    "TraceWriter",
    "compression_of",
    "infer_provider",
    "iter_lines",
    "open_trace",
    "parse_line",
    "parse_record",
    "parse_timestamp",
    "raw_lines",
    "read_trace",
    "resolve_traces",
    "schema",
]


@cache
def _schema_text() -> str:
    return resources.files("cachepoint.core.traces").joinpath("schema.json").read_text(encoding="utf-8")


def schema() -> dict[str, Any]:
    """The JSON schema of one trace line (a fresh copy each call).

    >>> s = schema()
    >>> s["$defs"]["envelope"]["required"], sorted(s["$defs"]["envelope"]["properties"])[:3]
    (['request'], ['id', 'metadata', 'model'])
    """
    value: dict[str, Any] = json.loads(_schema_text())
    return value
