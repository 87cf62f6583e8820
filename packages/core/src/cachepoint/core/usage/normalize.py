"""`normalize_usage`: any provider's (or framework's) usage payload in, one `CacheUsage` out.

The payload may be a whole response (SDK object or dict), just its ``usage`` object, a streaming event that
carries usage, a list of streaming events, or the JSON bytes of an InvokeModel body. The format is recognized
from the field names; ``provider`` settles the cases the shape alone cannot (Chat Completions from vLLM, SGLang
or OpenRouter look like OpenAI's) and labels the result. Per-format constructors (`from_anthropic`,
`from_bedrock`, `from_openai`...) skip the guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cachepoint.core.providers import normalize_provider
from cachepoint.core.usage.cache_usage import CacheUsage
from cachepoint.core.usage.errors import UsageFormatError
from cachepoint.core.usage.formats.anthropic import parse_anthropic
from cachepoint.core.usage.formats.bedrock import parse_converse
from cachepoint.core.usage.formats.crewai import is_crewai_usage, parse_crewai
from cachepoint.core.usage.formats.gemini import parse_gemini, usage_metadata_of
from cachepoint.core.usage.formats.langchain import parse_langchain
from cachepoint.core.usage.formats.openai import parse_chat, parse_responses
from cachepoint.core.usage.payload import Fields, to_data

__all__ = [
    "FORMATS",
    "detect_format",
    "from_anthropic",
    "from_bedrock",
    "from_crewai",
    "from_gemini",
    "from_langchain",
    "from_openai",
    "from_openrouter",
    "from_sglang",
    "from_vllm",
    "normalize_usage",
]

#: The usage formats `detect_format` tells apart.
FORMATS = ("anthropic", "bedrock", "openai_chat", "openai_responses", "gemini", "langchain", "crewai")

_GEMINI_KEYS = ("prompt_token_count", "promptTokenCount", "candidates_token_count", "candidatesTokenCount")


def _fields(payload: Any, path: str = "") -> Fields:
    data = to_data(payload, path)
    return Fields(data, path)


def detect_format(payload: Any, *, provider: str | None = None) -> str:
    """Which usage format ``payload`` is in (one of `FORMATS`); an error when it is none of them.

    >>> detect_format({"usage": {"prompt_tokens": 10, "completion_tokens": 2}})
    'openai_chat'
    >>> detect_format({"usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12}})
    'bedrock'
    """
    return _detect(_fields(payload), provider)


def _detect(payload: Fields, provider: str | None) -> str:  # noqa: PLR0911 (one return per shape)
    kind = payload.get("type")
    if kind in ("message", "message_start", "message_delta"):
        return "anthropic"
    if isinstance(kind, str) and kind.startswith("response.") and "response" in payload:
        return "openai_responses"
    if kind in ("ai", "AIMessageChunk") or "response_metadata" in payload:
        return "langchain"
    usage_metadata = payload.child("usage_metadata")
    if usage_metadata is not None and "input_tokens" in usage_metadata:
        return "langchain"
    if usage_metadata is not None or "usageMetadata" in payload:
        return "gemini"
    metadata = payload.child("metadata")
    if metadata is not None and "usage" in metadata:
        return "bedrock"
    if payload.get("object") == "response":
        return "openai_responses"
    if "usage" in payload.data and payload.get("usage") is None:
        hint = ""
        if payload.get("object") == "chat.completion.chunk":
            hint = " (a streamed Chat Completion reports usage only with stream_options={'include_usage': True})"
        raise UsageFormatError(payload.at("usage"), f"is null{hint}")
    usage = payload.child("usage") or payload
    return _detect_usage(usage, provider)


def _detect_usage(usage: Fields, provider: str | None) -> str:  # noqa: PLR0911 (one return per shape)
    keys = usage.data
    if "inputTokens" in keys or "cacheReadInputTokens" in keys:
        return "bedrock"
    if any(key in keys for key in _GEMINI_KEYS):
        return "gemini"
    if is_crewai_usage(usage):
        return "crewai"
    if "prompt_tokens" in keys:
        return "openai_chat"
    if "input_tokens_details" in keys:
        return "openai_responses"
    if "input_token_details" in keys or "output_token_details" in keys:
        return "langchain"
    if any(key in keys for key in ("cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation")):
        return "anthropic"
    if "input_tokens" in keys:
        canonical = normalize_provider(provider) if provider else None
        # Without cache fields both conventions give the same numbers; total_tokens is LangChain's mark.
        if "total_tokens" in keys and canonical not in ("anthropic", "bedrock"):
            return "langchain"
        return "anthropic"
    raise UsageFormatError(
        usage.path,
        "no token usage found: expected a provider response or usage object (Anthropic input_tokens, Bedrock "
        "inputTokens, OpenAI prompt_tokens / input_tokens_details, Gemini prompt_token_count, LangChain "
        f"usage_metadata, CrewAI prompt_tokens); found keys {sorted(keys)[:12]}",
    )


def normalize_usage(payload: Any, *, provider: str | None = None, model: str | None = None) -> CacheUsage:
    """One `CacheUsage` from any supported provider or framework payload.

    ``provider`` labels the result and disambiguates OpenAI-compatible servers (``"vllm"``, ``"sglang"``,
    ``"openrouter"``); ``model`` overrides the model named in the payload (Bedrock Converse names none). A list
    of streaming events is read with `normalize_stream`. A payload that matches no format raises
    `UsageFormatError` naming the field, never a row of zeros.

    >>> u = normalize_usage({"model": "claude-sonnet-4-5", "usage": {"input_tokens": 10,
    ...     "cache_read_input_tokens": 1200, "cache_creation_input_tokens": 300, "output_tokens": 5}})
    >>> u.input_tokens, u.cache_read_tokens, u.cache_write_tokens, u.uncached_input_tokens
    (1510, 1200, 300, 10)
    """
    if isinstance(payload, (list, tuple)) or (
        isinstance(payload, Iterable)
        and not isinstance(payload, (str, bytes, bytearray, memoryview, dict))
        and not hasattr(payload, "model_dump")
        and not hasattr(payload, "keys")
    ):
        from cachepoint.core.usage.stream import normalize_stream

        return normalize_stream(payload, provider=provider, model=model)
    fields = _fields(payload)
    return _parse(fields, _detect(fields, provider), provider=provider, model=model)


def _anthropic(payload: Fields, provider: str | None, model: str | None) -> CacheUsage:
    return parse_anthropic(payload, provider=provider or "anthropic", model=model)


def _bedrock(payload: Fields, provider: str | None, model: str | None) -> CacheUsage:
    _check_provider(provider, "bedrock", "Bedrock Converse")
    return parse_converse(payload, model=model)


def _gemini(payload: Fields, provider: str | None, model: str | None) -> CacheUsage:
    _check_provider(provider, "gemini", "Gemini")
    return parse_gemini(payload, model=model)


def _langchain(payload: Fields, provider: str | None, model: str | None) -> CacheUsage:
    return parse_langchain(payload, provider=provider, model=model)


def _crewai(payload: Fields, provider: str | None, model: str | None) -> CacheUsage:
    return parse_crewai(payload.child("usage") or payload, provider=provider, model=model)


def _responses(payload: Fields, provider: str | None, model: str | None) -> CacheUsage:
    # A Response, a response.* stream event wrapping one, or a bare usage object.
    response = (payload.child("response") if payload.get("type") else None) or payload
    usage = response.child("usage") or response
    return parse_responses(usage, provider=provider or "openai", model=model or response.text("model"))


def _chat(payload: Fields, provider: str | None, model: str | None) -> CacheUsage:
    usage = payload.child("usage") or payload
    return parse_chat(usage, provider=provider or _chat_provider(payload, usage), model=model or payload.text("model"))


_PARSERS: dict[str, Callable[[Fields, str | None, str | None], CacheUsage]] = {
    "anthropic": _anthropic,
    "bedrock": _bedrock,
    "openai_chat": _chat,
    "openai_responses": _responses,
    "gemini": _gemini,
    "langchain": _langchain,
    "crewai": _crewai,
}


def _parse(payload: Fields, fmt: str, *, provider: str | None, model: str | None) -> CacheUsage:
    parser = _PARSERS.get(fmt)
    if parser is None:
        raise ValueError(f"format: expected one of {FORMATS}, got {fmt!r}")
    try:
        return parser(payload, normalize_provider(provider) if provider else None, model)
    except UsageFormatError:
        raise
    except (TypeError, ValueError) as exc:
        # CacheUsage refused the numbers (e.g. reasoning above output): the payload is inconsistent.
        raise UsageFormatError(payload.path, f"inconsistent {fmt} usage: {exc}") from None


def _check_provider(provider: str | None, expected: str, name: str) -> None:
    if provider is not None and provider != expected:
        raise UsageFormatError("payload", f"is {name} usage, but provider={provider!r} was given")


def _chat_provider(payload: Fields, usage: Fields) -> str:
    # OpenRouter adds cost accounting to the usage object and names its generations "gen-...".
    generation = payload.get("id")
    if "cost" in usage or "is_byok" in usage or (isinstance(generation, str) and generation.startswith("gen-")):
        return "openrouter"
    return "openai"


def _with_format(payload: Any, provider: str, model: str | None, allowed: tuple[str, ...]) -> CacheUsage:
    fields = _fields(payload)
    found = _detect(fields, provider)
    if found not in allowed:
        raise UsageFormatError("payload", f"expected {' or '.join(allowed)} usage, but it looks like {found} usage")
    return _parse(fields, found, provider=provider, model=model)


def from_anthropic(payload: Any, *, model: str | None = None, provider: str = "anthropic") -> CacheUsage:
    """Usage of an Anthropic Message, a ``message_start`` / ``message_delta`` event, or a ``usage`` object.

    Pass ``provider="bedrock"`` for the body of a Bedrock InvokeModel call (Anthropic's format).

    >>> from_anthropic({"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 3}).input_tokens
    100
    """
    return _parse(_fields(payload), "anthropic", provider=provider, model=model)


def from_bedrock(payload: Any, *, model: str | None = None) -> CacheUsage:
    """Usage of a Bedrock Converse response, a ConverseStream ``metadata`` event, or an InvokeModel body.

    >>> from_bedrock({"usage": {"inputTokens": 4, "outputTokens": 9, "totalTokens": 1213,
    ...               "cacheReadInputTokens": 1200}}, model="anthropic.claude-sonnet-4-5").input_tokens
    1204
    """
    fields = _fields(payload)
    fmt = _detect(fields, "bedrock")
    if fmt not in ("bedrock", "anthropic"):
        raise UsageFormatError("payload", f"expected Bedrock Converse or InvokeModel usage, found {fmt} usage")
    return _parse(fields, fmt, provider="bedrock", model=model)


def from_openai(payload: Any, *, model: str | None = None, provider: str = "openai") -> CacheUsage:
    """Usage of an OpenAI Chat Completion, Response, ``response.completed`` event, or their ``usage`` objects.

    >>> from_openai({"prompt_tokens": 2048, "completion_tokens": 10,
    ...              "prompt_tokens_details": {"cached_tokens": 1920}}).cache_read_tokens
    1920
    """
    return _with_format(payload, provider, model, ("openai_chat", "openai_responses"))


def from_openrouter(payload: Any, *, model: str | None = None) -> CacheUsage:
    """Usage of an OpenRouter chat completion (reads and writes in ``prompt_tokens_details``).

    >>> from_openrouter({"prompt_tokens": 3000, "completion_tokens": 5, "prompt_tokens_details":
    ...                  {"cached_tokens": 0, "cache_write_tokens": 2900}}).cache_write_tokens
    2900
    """
    return _with_format(payload, "openrouter", model, ("openai_chat", "openai_responses"))


def from_vllm(payload: Any, *, model: str | None = None) -> CacheUsage:
    """Usage of a vLLM OpenAI-compatible response; a missing ``cached_tokens`` stays unknown.

    >>> from_vllm({"prompt_tokens": 900, "completion_tokens": 20, "prompt_tokens_details": None}).cache_read_tokens
    """
    return _with_format(payload, "vllm", model, ("openai_chat", "openai_responses"))


def from_sglang(payload: Any, *, model: str | None = None) -> CacheUsage:
    """Usage of an SGLang OpenAI-compatible response (``cached_tokens`` with ``--enable-cache-report``).

    >>> from_sglang({"prompt_tokens": 900, "completion_tokens": 20,
    ...              "prompt_tokens_details": {"cached_tokens": 512}}).cache_read_tokens
    512
    """
    return _with_format(payload, "sglang", model, ("openai_chat", "openai_responses"))


def from_gemini(payload: Any, *, model: str | None = None) -> CacheUsage:
    """Usage of a Gemini GenerateContentResponse (SDK or REST) or its usage metadata.

    >>> from_gemini({"usageMetadata": {"promptTokenCount": 5000, "cachedContentTokenCount": 4096,
    ...              "candidatesTokenCount": 40, "totalTokenCount": 5040}}).cache_read_tokens
    4096
    """
    fields = _fields(payload)
    if usage_metadata_of(fields) is None:
        raise UsageFormatError("payload.usage_metadata", "missing (no Gemini usage metadata in the payload)")
    return _parse(fields, "gemini", provider="gemini", model=model)


def from_langchain(payload: Any, *, provider: str | None = None, model: str | None = None) -> CacheUsage:
    """Usage of a LangChain ``AIMessage`` (provider and model from its ``response_metadata``) or its
    ``usage_metadata`` dict.

    >>> from_langchain({"input_tokens": 310, "output_tokens": 5, "total_tokens": 315, "input_token_details":
    ...     {"cache_read": 200, "cache_creation": 0, "ephemeral_5m_input_tokens": 60,
    ...      "ephemeral_1h_input_tokens": 40}}, provider="anthropic").cache_write_tokens
    100
    """
    return _parse(_fields(payload), "langchain", provider=provider, model=model)


def from_crewai(payload: Any, *, provider: str | None = None, model: str | None = None) -> CacheUsage:
    """Usage from CrewAI: ``UsageMetrics`` or an ``LLMCallCompletedEvent.usage`` dict.

    Say which provider the LLM used: native Bedrock metrics count differently (see
    `cachepoint.core.usage.formats.crewai`). A completed event from Bedrock carries raw Converse usage, which
    is read as such.

    >>> from_crewai({"input_tokens": 1510, "output_tokens": 5, "total_tokens": 1515,
    ...     "cached_prompt_tokens": 1200, "cache_creation_tokens": 300}, provider="anthropic").uncached_input_tokens
    10
    """
    fields = _fields(payload)
    fmt = _detect(fields, provider)
    if fmt in ("bedrock", "openai_chat"):  # raw provider usage forwarded by the event
        return _parse(fields, fmt, provider=provider, model=model)
    return _parse(fields, "crewai", provider=provider, model=model)
