"""Provider formats (dialects): parse a payload into a `Request` and render it back.

Built in: ``anthropic`` (Messages API), ``bedrock`` (Converse), ``openai-chat`` (Chat Completions),
``openai-responses`` (Responses). Another package adds its own with `register_format` (the LangChain adapter
registers a dialect for LangChain message lists).

>>> from cachepoint.core.prompt.formats import detect_format
>>> detect_format({"model": "gpt-5", "input": "Hi"})
'openai-responses'
>>> detect_format({"modelId": "anthropic.claude-sonnet-4-5", "messages": []})
'bedrock'
>>> detect_format({"model": "gpt-4o", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]})
'openai-chat'
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cachepoint.core.prompt.errors import RequestFormatError
from cachepoint.core.prompt.formats.anthropic import AnthropicDialect
from cachepoint.core.prompt.formats.base import Content, Dialect, Media
from cachepoint.core.prompt.formats.bedrock import BedrockDialect
from cachepoint.core.prompt.formats.openai_chat import OpenAIChatDialect
from cachepoint.core.prompt.formats.openai_responses import OpenAIResponsesDialect
from cachepoint.core.prompt.model import Request
from cachepoint.core.providers import normalize_provider

__all__ = [
    "FORMATS",
    "Content",
    "Dialect",
    "Media",
    "detect_format",
    "format_for_model",
    "format_for_provider",
    "get_format",
    "parse_request",
    "pick_format",
    "register_format",
    "registered_dialects",
]

_lock = threading.Lock()
_FORMATS: dict[str, Dialect] = {}
#: Names of the built-in formats.
FORMATS = ("anthropic", "bedrock", "openai-chat", "openai-responses")
_ALIASES = {
    "messages": "anthropic",
    "converse": "bedrock",
    "bedrock-converse": "bedrock",
    "openai": "openai-chat",
    "chat": "openai-chat",
    "chat-completions": "openai-chat",
    "responses": "openai-responses",
}


def register_format(dialect: Dialect) -> None:
    """Make a dialect available by its ``name`` (replacing a previous one of that name)."""
    if not dialect.name:
        raise ValueError("register_format: the dialect needs a non-empty `name`")
    with _lock:
        _FORMATS[dialect.name] = dialect


def registered_dialects() -> tuple[Dialect, ...]:
    """Every registered dialect, in registration order.

    >>> [d.name for d in registered_dialects()][:2]
    ['anthropic', 'bedrock']
    """
    with _lock:
        return tuple(_FORMATS.values())


def get_format(name: str) -> Dialect:
    """The dialect called ``name`` (aliases: ``openai`` -> ``openai-chat``, ``converse`` -> ``bedrock``...)."""
    key = _ALIASES.get(name, name)
    try:
        return _FORMATS[key]
    except KeyError:
        known = ", ".join(sorted(_FORMATS))
        raise ValueError(f"format: unknown format {name!r} (known: {known})") from None


def format_for_provider(provider: str) -> str:
    """The payload format a provider takes by default (``bedrock`` -> Converse, ``openai`` -> Chat).

    >>> format_for_provider("aws.bedrock")
    'bedrock'
    """
    provider = normalize_provider(provider)
    return {"anthropic": "anthropic", "bedrock": "bedrock"}.get(provider, "openai-chat")


#: Detection evidence a recognized model id adds to its provider's format: more than ``max_tokens`` (Anthropic
#: requires it, OpenAI Chat accepts it), less than any key or block only one format has (``system``,
#: ``cache_control``, a ``tool`` role...), and less than the caller's own ``provider`` (25).
MODEL_EVIDENCE = 20
# Cross-region inference profiles in front of a Bedrock model id (``us.anthropic.claude-...``).
_REGION_PROFILES = ("us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca.", "global.")
_OPENAI_MODELS = ("gpt-", "chatgpt-", "o1", "o3", "o4", "codex-", "computer-use-")


@lru_cache(maxsize=1024)
def format_for_model(model: str | None) -> str | None:
    """The payload format a body naming ``model`` in its ``model`` field is most likely written in, when the id
    says (``None`` when it does not).

    Claude ids take Anthropic Messages, Bedrock's Claude ids too (``anthropic.claude-...``, with or without a
    cross-region prefix: a body with a ``model`` field is an InvokeModel body, and InvokeModel takes Anthropic's
    format; Converse bodies say ``modelId`` and have a shape of their own). OpenAI ids (``gpt-``,
    ``o1``/``o3``/``o4``, ``chatgpt-``) and vendor-prefixed router ids (``anthropic/claude-...`` on OpenRouter or
    LiteLLM, ``meta-llama/...`` on vLLM) take OpenAI's formats (``openai-chat`` stands for both Chat Completions
    and Responses here).

    >>> [format_for_model(m) for m in ("gpt-4o", "claude-sonnet-4-5", "us.anthropic.claude-opus-4-5")]
    ['openai-chat', 'anthropic', 'anthropic']
    >>> [format_for_model(m) for m in ("anthropic/claude-sonnet-4-5", "amazon.nova-pro-v1:0", "my-finetune")]
    ['openai-chat', None, None]
    """
    if not model:
        return None
    name = model.strip().lower()
    if "/" in name and not name.startswith("arn:"):
        return "openai-chat"
    bare = next((name[len(p) :] for p in _REGION_PROFILES if name.startswith(p)), name)
    if bare.startswith(("claude", "anthropic.claude")):
        return "anthropic"
    if bare.startswith(_OPENAI_MODELS):
        return "openai-chat"
    return None


def detect_format(payload: Mapping[str, Any], *, provider: str | None = None) -> str:
    """The format ``payload`` is written in, from its shape; ``provider`` and the model id settle close calls.

    A model id in the payload's ``model`` field that `format_for_model` recognizes counts as evidence for its
    format, so ``{"model": "gpt-4o", "messages": [...]}`` with plain string contents, valid in both, is OpenAI
    Chat; the shape still wins where it is clear (a top-level ``system`` is Anthropic's, whatever the model). A
    payload that still fits several formats equally takes the provider's format, else the model's, else
    ``anthropic``.
    """
    if not isinstance(payload, Mapping):
        raise RequestFormatError("", f"expected a JSON object (the request body), got {type(payload).__name__}")
    model = payload.get("model")
    scores = {d.name: d.detect(payload) for d in registered_dialects()}
    return pick_format(scores, provider, model=model if isinstance(model, str) else None)


def pick_format(scores: Mapping[str, int], provider: str | None = None, *, model: str | None = None) -> str:
    """The format `detect_format` picks given each dialect's `Dialect.detect` score (and the provider and
    model, which count as evidence too).

    >>> pick_format({"anthropic": 40, "openai-chat": 40}, provider="openai")
    'openai-chat'
    >>> pick_format({"anthropic": 10, "openai-chat": 0}, model="gpt-4o")
    'openai-chat'
    """
    scores = dict(scores)
    if provider:
        # The caller's provider counts as evidence too, enough to settle the shapes several formats accept.
        scores[format_for_provider(provider)] = scores.get(format_for_provider(provider), 0) + 25
    by_model = format_for_model(model)
    if by_model is not None:
        # An OpenAI model id says OpenAI, not which of its two APIs: it counts for both.
        for name in ("openai-chat", "openai-responses") if by_model == "openai-chat" else (by_model,):
            scores[name] = scores.get(name, 0) + MODEL_EVIDENCE
    best = max(scores.values(), default=0)
    if best <= 0:
        return format_for_provider(provider) if provider else "anthropic"
    winners = [name for name, score in scores.items() if score == best]
    if len(winners) == 1:
        return winners[0]
    preferred = format_for_provider(provider) if provider else (by_model or "anthropic")
    return preferred if preferred in winners else sorted(winners)[0]


def parse_request(
    payload: Mapping[str, Any] | Request,
    *,
    format: str | None = None,
    provider: str | None = None,
    lenient: bool = False,
) -> Request:
    """Parse ``payload`` in ``format`` (detected when not given, see `detect_format`); a `Request` passes
    through."""
    if isinstance(payload, Request):
        return payload
    name = format or detect_format(payload, provider=provider)
    return get_format(name).parse(payload, lenient=lenient)


for _dialect in (AnthropicDialect(), BedrockDialect(), OpenAIChatDialect(), OpenAIResponsesDialect()):
    register_format(_dialect)
