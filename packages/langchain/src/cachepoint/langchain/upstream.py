"""What the installed LangChain integrations do where their releases differ.

cachepoint rebuilds the request a chat model is about to send (`cachepoint.langchain.payload`) and writes markers
in the form the model passes on (`cachepoint.langchain.placement`). Both mirror private formatters of the
provider packages, and those change between the releases cachepoint supports: each fact below names the release
that changed it and the upstream function, and is read from the installed version, once per process.

A package that is not installed reads as its newest behaviour: the mirror is then only used for traces of
requests some other process sent, and the newest release is the likeliest one there.
"""

from __future__ import annotations

import functools
import re
from importlib.metadata import PackageNotFoundError, version

__all__ = [
    "bedrock_kwarg_counts_points",
    "release",
    "vertex_flags_tool_errors",
    "vertex_sends_anthropic_images",
]


@functools.cache
def release(distribution: str) -> tuple[int, ...] | None:
    """The installed release of ``distribution`` as numbers (``(1, 7, 0)``), ``None`` when it is not installed.

    >>> release("cachepoint-no-such-package") is None
    True
    """
    try:
        text = version(distribution)
    except PackageNotFoundError:
        return None
    # Only the leading numeric parts: a pre-release or local suffix ("1.7.0rc1", "3.2.3+local") counts as that
    # release, which has the behaviour it is about to ship.
    numbers = re.match(r"\d+(?:\.\d+)*", text)
    return tuple(int(part) for part in numbers.group(0).split(".")) if numbers else None


def _at_least(distribution: str, *first: int) -> bool:
    installed = release(distribution)
    return installed is None or installed >= first


@functools.cache
def bedrock_kwarg_counts_points() -> bool:
    """Whether ChatBedrockConverse's ``cache_control=`` kwarg counts the request's cache points before adding its
    own (at most four in all) and, for Claude, adds one on the message before the last (Bedrock's simplified
    cache management): langchain-aws 1.7.0, ``ChatBedrockConverse._apply_cache_points`` with
    ``_count_cache_points``. Before, it added one on the system prompt, the last message and the tools wherever
    none was, whatever the count."""
    return _at_least("langchain-aws", 1, 7, 0)


@functools.cache
def vertex_sends_anthropic_images() -> bool:
    """Whether ChatAnthropicVertex sends an Anthropic image block (one with ``source``) as it is, its
    ``cache_control`` included: langchain-google-vertexai 3.2.3, ``_anthropic_utils._format_image_content_block``.
    Before, ``_format_message_anthropic`` rebuilt every image block from its parts, keeping no ``cache_control``,
    and raised on a ``source`` block (KeyError 'source_type' up to 3.2.1, ValueError in 3.2.2)."""
    return _at_least("langchain-google-vertexai", 3, 2, 3)


@functools.cache
def vertex_flags_tool_errors() -> bool:
    """Whether ChatAnthropicVertex sends ``"is_error": true`` in the tool result of a `ToolMessage` with
    ``status="error"``: langchain-google-vertexai 3.0.1, ``_anthropic_utils._merge_messages``. Before, its tool
    results had no ``is_error`` at all."""
    return _at_least("langchain-google-vertexai", 3, 0, 1)
