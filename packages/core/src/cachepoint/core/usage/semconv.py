"""OpenTelemetry GenAI attribute names and values, kept here rather than imported.

The upstream ``opentelemetry-semantic-conventions`` module marks every ``gen_ai`` constant as moved to the GenAI
conventions repository, and that repository is still renaming things (``cache_creation`` became ``cache_write``
in its unreleased changelog). Pinning the strings in the project keeps what we emit stable and greppable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cachepoint.core.usage.cache_usage import CacheUsage

__all__ = [
    "CACHEPOINT_CACHE_OUTCOME",
    "CACHEPOINT_CACHE_TTL",
    "CACHEPOINT_TOKEN_TYPE",
    "CACHEPOINT_USAGE_CACHE_WRITE_TTL_PREFIX",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_SYSTEM",
    "GEN_AI_TOKEN_TYPE",
    "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS",
    "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS",
    "GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "GEN_AI_USAGE_REASONING_OUTPUT_TOKENS",
    "METRIC_GEN_AI_CLIENT_OPERATION_DURATION",
    "METRIC_GEN_AI_CLIENT_TOKEN_USAGE",
    "OtelValue",
    "otel_provider_name",
    "usage_attributes",
]

OtelValue = str | bool | int | float

GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
#: Deprecated in favour of ``gen_ai.provider.name``; emitted only on request for older backends.
GEN_AI_SYSTEM = "gen_ai.system"
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"  # noqa: S105 (an attribute name, not a secret)
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
#: The newer name for cache writes in the GenAI conventions repository (not in a released semconv yet).
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"

METRIC_GEN_AI_CLIENT_TOKEN_USAGE = "gen_ai.client.token.usage"  # noqa: S105 (an attribute name, not a secret)
METRIC_GEN_AI_CLIENT_OPERATION_DURATION = "gen_ai.client.operation.duration"

# cachepoint's own attributes, for what the GenAI conventions do not name (yet).
#: ``cachepoint.usage.cache_write.<ttl>.input_tokens``: writes with a reported TTL (``5m``, ``1h``...).
CACHEPOINT_USAGE_CACHE_WRITE_TTL_PREFIX = "cachepoint.usage.cache_write"
CACHEPOINT_CACHE_OUTCOME = "cachepoint.cache.outcome"
CACHEPOINT_CACHE_TTL = "cachepoint.cache.ttl"
CACHEPOINT_TOKEN_TYPE = "cachepoint.token.type"  # noqa: S105 (an attribute name, not a secret)

# Canonical cachepoint provider name -> the GenAI conventions' `gen_ai.provider.name` value. Providers the
# conventions do not list keep their own name, as the conventions allow.
_PROVIDER_NAMES = {
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "openai": "openai",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "openrouter": "openrouter",
    "vllm": "vllm",
    "sglang": "sglang",
    "deepseek": "deepseek",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "groq": "groq",
    "cohere": "cohere",
}


def otel_provider_name(provider: str) -> str:
    """The ``gen_ai.provider.name`` value for a cachepoint provider name.

    >>> otel_provider_name("bedrock"), otel_provider_name("gemini"), otel_provider_name("vllm")
    ('aws.bedrock', 'gcp.gemini', 'vllm')
    """
    return _PROVIDER_NAMES.get(provider, provider)


def usage_attributes(
    usage: CacheUsage,
    *,
    cache_write_attribute: bool = False,
    legacy_system: bool = False,
    ttl_split: bool = True,
) -> dict[str, OtelValue]:
    """Span attributes for ``usage``; see `CacheUsage.to_otel_attributes` (which calls this).

    >>> from cachepoint.core.usage import CacheUsage
    >>> usage_attributes(CacheUsage(provider="openai", input_tokens=9, cache_read_tokens=None))
    {'gen_ai.provider.name': 'openai', 'gen_ai.usage.input_tokens': 9}
    """
    attrs: dict[str, OtelValue] = {}
    if usage.provider is not None:
        attrs[GEN_AI_PROVIDER_NAME] = otel_provider_name(usage.provider)
        if legacy_system:
            attrs[GEN_AI_SYSTEM] = otel_provider_name(usage.provider)
    if usage.model is not None:
        attrs[GEN_AI_REQUEST_MODEL] = usage.model
    counts: Mapping[str, int | None] = {
        GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
        GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
        GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.cache_read_tokens,
        GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: usage.cache_write_tokens,
        GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: usage.reasoning_tokens,
    }
    for name, value in counts.items():
        if value is not None:
            attrs[name] = value
    if cache_write_attribute and usage.cache_write_tokens is not None:
        attrs[GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = usage.cache_write_tokens
    if ttl_split:
        for ttl, count in usage.cache_write_by_ttl.items():
            attrs[f"{CACHEPOINT_USAGE_CACHE_WRITE_TTL_PREFIX}.{ttl}.input_tokens"] = count
    return attrs
