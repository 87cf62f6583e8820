"""What a stream call may return, opened as an iterator of its chunks and closed again (internal).

A stream call (`ResponseCache.stream`, ``cache.sync.stream``) returns one of:

- an iterable of chunks: a generator, an SDK stream (``anthropic.Stream`` / ``AsyncStream`` from
  ``messages.create(stream=True)``, ``openai.Stream`` / ``AsyncStream`` from ``create(stream=True)``), an
  aiobotocore or boto3 ConverseStream event stream (``response["stream"]``);
- a stream *manager*, which is not iterable but a context manager whose ``with`` block yields the iterable:
  ``anthropic``'s ``messages.stream(...)`` (its events: the raw ones and the helper's ``text``, ``input_json``...),
  ``openai``'s ``chat.completions.stream(...)`` and ``responses.stream(...)``. It is entered here and left when
  the stream ends or is closed;
- for the async face, an awaitable of either (``await client.messages.create(..., stream=True)``).

The async face needs async iterables (the async clients); the sync face sync ones. A mapping is refused: a
Bedrock ``converse_stream`` response is a dict whose events are under ``"stream"``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from typing import Any, cast

__all__ = ["close_sync_upstream", "close_upstream", "open_sync_upstream", "open_upstream"]

log = logging.getLogger(__name__)


def _refuse(stream: object, *, is_async: bool) -> TypeError:
    kind = type(stream).__name__
    if isinstance(stream, Mapping):
        hint = (
            "a mapping is not a stream; for Bedrock pass the event stream of the response: "
            "lambda: client.converse_stream(**request)['stream']"
        )
    elif is_async and (hasattr(stream, "__iter__") or hasattr(stream, "__enter__")):
        hint = "it is a sync stream: use cache.sync.stream(...), or the SDK's async client with cache.stream(...)"
    elif not is_async and (hasattr(stream, "__aiter__") or hasattr(stream, "__aenter__")):
        hint = "it is an async stream: use cache.stream(...), or the SDK's sync client with cache.sync.stream(...)"
    else:
        hint = "expected an iterable of chunks or an SDK stream manager"
    return TypeError(f"stream call: got {kind}; {hint}")


async def _entered(manager: Any) -> AsyncGenerator[Any, None]:
    async with manager as stream:
        async for chunk in stream:
            yield chunk


def _entered_sync(manager: Any) -> Generator[Any, None, None]:
    with manager as stream:
        yield from stream


async def open_upstream(call: Callable[[], Any]) -> AsyncIterator[Any]:
    """``call()``'s stream as an async iterator (see the module's docstring for what it may return).

    >>> import asyncio
    >>> async def gen():
    ...     yield 1
    >>> asyncio.run(open_upstream(gen)).__class__.__name__
    'async_generator'
    """
    stream = call()
    if inspect.isawaitable(stream) and not hasattr(stream, "__aiter__") and not hasattr(stream, "__aenter__"):
        stream = await stream
    if not hasattr(stream, "__aiter__"):
        if not hasattr(stream, "__aenter__") or isinstance(stream, Mapping):
            refused = _refuse(stream, is_async=True)
            await close_upstream(stream)  # an SDK stream of the other face holds a connection open
            raise refused
        stream = _entered(stream)
    return cast(AsyncIterator[Any], stream.__aiter__())


async def close_upstream(stream: object) -> None:
    """Close an upstream stream if it can be closed (``aclose()`` of generators, ``close()`` of SDK streams).

    >>> import asyncio
    >>> asyncio.run(close_upstream(object()))  # nothing to close: nothing happens
    """
    closer = getattr(stream, "aclose", None) or getattr(stream, "close", None)
    if closer is None:
        return
    try:
        result = closer()
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.debug("response cache: error closing an upstream stream", exc_info=True)


def open_sync_upstream(stream: object) -> Iterator[Any]:
    """``stream`` (what a sync stream call returned) as an iterator.

    >>> next(open_sync_upstream(["a", "b"]))
    'a'
    """
    if isinstance(stream, Mapping) or not hasattr(stream, "__iter__"):
        if isinstance(stream, Mapping) or not hasattr(stream, "__enter__"):
            refused = _refuse(stream, is_async=False)
            close_sync_upstream(stream)
            raise refused
        return _entered_sync(stream)
    return iter(cast(Any, stream))


def close_sync_upstream(iterator: object) -> None:
    """Close a sync upstream iterator if it can be closed; errors only log (the stream is being abandoned).

    >>> close_sync_upstream(iter([]))  # nothing to close: nothing happens
    """
    close = getattr(iterator, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            log.debug("response cache: error closing an upstream stream", exc_info=True)
