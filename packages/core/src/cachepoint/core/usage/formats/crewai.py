"""CrewAI usage: ``UsageMetrics`` (``llm.get_token_usage_summary()``, ``CrewOutput.token_usage``) and the
``usage`` dict of ``LLMCallCompletedEvent`` (read without importing CrewAI).

``prompt_tokens`` includes cached and written tokens on the native Anthropic, OpenAI and Gemini paths and on the
LiteLLM path, with reads in ``cached_prompt_tokens`` and writes in ``cache_creation_tokens``. The native Bedrock
path is different: it does not add cache tokens to ``prompt_tokens`` and drops ``cacheWriteInputTokens``
altogether (``cache_creation_tokens`` stays 0), so from its metrics the prompt total and the writes are unknown.
For Bedrock, normalize ``LLMCallCompletedEvent.usage`` instead: it is the raw Converse usage, writes included.
``UsageMetrics`` sums a whole run (``successful_requests`` calls), not one call.
"""

from __future__ import annotations

from cachepoint.core.providers import normalize_provider
from cachepoint.core.usage.cache_usage import CacheUsage
from cachepoint.core.usage.errors import UsageFormatError
from cachepoint.core.usage.payload import Fields

__all__ = ["is_crewai_usage", "parse_crewai"]

_MARKERS = ("cached_prompt_tokens", "cache_creation_tokens", "successful_requests")


def is_crewai_usage(payload: Fields) -> bool:
    """Whether ``payload`` has CrewAI's own usage keys."""
    return any(key in payload.data for key in _MARKERS)


def parse_crewai(usage: Fields, *, provider: str | None, model: str | None) -> CacheUsage:
    """A ``UsageMetrics`` (dumped) or a CrewAI completed-event usage dict with CrewAI's keys."""
    prompt = usage.count("prompt_tokens")
    if prompt is None:
        prompt = usage.count("input_tokens")
    if prompt is None:
        raise UsageFormatError(usage.at("prompt_tokens"), "missing token count (and no input_tokens)")
    output = usage.count("completion_tokens")
    if output is None:
        output = usage.require_count("output_tokens")
    read = usage.count("cached_prompt_tokens")
    write = usage.count("cache_creation_tokens")
    reasoning = usage.count("reasoning_tokens")
    canonical = normalize_provider(provider) if provider else None
    if canonical == "bedrock":
        # Native Bedrock: prompt_tokens excludes the cache, and the writes were dropped.
        if write:
            raise UsageFormatError(
                usage.at("cache_creation_tokens"),
                f"is {write} for provider 'bedrock', whose CrewAI metrics are known to drop writes; this CrewAI "
                "version counts differently, so normalize the raw LLMCallCompletedEvent.usage instead",
            )
        return CacheUsage(
            provider=canonical,
            model=model,
            input_tokens=None,
            cache_read_tokens=read,
            cache_write_tokens=None,
            output_tokens=output,
            reasoning_tokens=reasoning,
        )
    if (read or 0) + (write or 0) > prompt:
        raise UsageFormatError(
            usage.at("prompt_tokens"),
            f"is {prompt}, fewer than cached_prompt_tokens ({read}) plus cache_creation_tokens ({write}); "
            "if these are native Bedrock metrics, pass provider='bedrock'",
        )
    return CacheUsage(
        provider=canonical,
        model=model,
        input_tokens=prompt,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=output,
        reasoning_tokens=reasoning,
    )
