"""Helpers for the cachepoint-langchain tests: real LangChain chat models pointed at a cachepoint emulator."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from langchain_core.tools import BaseTool, tool
from pydantic import BaseModel

from cachepoint.core.emulator import Emulator

ANTHROPIC_MODEL = "claude-sonnet-4-6"
BEDROCK_MODEL = "anthropic.claude-sonnet-4-6"
#: A system prompt well above every model's minimum cacheable prefix (about 2,400 tokens).
MANUAL = "You are the support agent of Acme routers. Answer from the manual and cite its section. " * 130


def anthropic(emulator: Emulator, **kwargs: Any) -> Any:
    from langchain_anthropic import ChatAnthropic

    return ChatAnthropic(model=ANTHROPIC_MODEL, base_url=emulator.url, api_key="test-key", max_retries=0, **kwargs)


def bedrock(emulator: Emulator, **kwargs: Any) -> Any:
    from langchain_aws import ChatBedrockConverse

    return ChatBedrockConverse(
        model=BEDROCK_MODEL,
        endpoint_url=emulator.bedrock_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
        **kwargs,
    )


def anthropic_bedrock(emulator: Emulator, **kwargs: Any) -> Any:
    """``ChatAnthropicBedrock``: the Messages body over Bedrock InvokeModel (the ``anthropic`` SDK's
    ``AnthropicBedrock`` client). It takes no endpoint argument: the SDK reads ``ANTHROPIC_BEDROCK_BASE_URL``,
    which the ``make_emulator`` / ``emulator`` fixtures set (never reach AWS by accident)."""
    import os

    from langchain_aws import ChatAnthropicBedrock

    if os.environ.get("ANTHROPIC_BEDROCK_BASE_URL") != emulator.bedrock_endpoint_url:
        raise RuntimeError("ChatAnthropicBedrock needs ANTHROPIC_BEDROCK_BASE_URL pointing at this emulator")

    return ChatAnthropicBedrock(
        model=BEDROCK_MODEL,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
        max_retries=0,
        **kwargs,
    )


def anthropic_mantle(emulator: Emulator, **kwargs: Any) -> Any:
    """``ChatAnthropicMantle``: the Messages API on Bedrock's Mantle endpoint (Bedrock's caching rules)."""
    from langchain_aws import ChatAnthropicMantle

    return ChatAnthropicMantle(
        model=BEDROCK_MODEL,
        base_url=emulator.bedrock_mantle_url,
        bedrock_api_key="test-key",
        auth_mode="api_key",
        region_name="us-east-1",
        max_retries=0,
        **kwargs,
    )


def anthropic_vertex(emulator: Emulator, **kwargs: Any) -> Any:
    """``ChatAnthropicVertex`` (langchain-google-vertexai): its own Messages body over the ``anthropic`` SDK's
    ``AnthropicVertex`` client, at the emulator's Vertex AI endpoint; ``access_token`` means no Google credentials."""
    from langchain_google_vertexai.model_garden import ChatAnthropicVertex

    return ChatAnthropicVertex(
        model_name=ANTHROPIC_MODEL,
        project="acme-prod",
        location="us-east5",
        api_endpoint=emulator.vertex_base_url,
        access_token="test-key",
        max_retries=0,
        **kwargs,
    )


def openai(emulator: Emulator, **kwargs: Any) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="gpt-5", base_url=emulator.openai_base_url, api_key="test-key", max_retries=0, **kwargs)


def _has_mantle() -> bool:
    try:
        from langchain_aws import ChatAnthropicMantle  # noqa: F401 - langchain-aws 1.7.2 and later
    except ImportError:
        return False
    return True


#: The chat models every parametrized test runs against (ChatAnthropicMantle where langchain-aws has it).
MODELS = {
    "anthropic": anthropic,
    "anthropic_bedrock": anthropic_bedrock,
    **({"anthropic_mantle": anthropic_mantle} if _has_mantle() else {}),
    "anthropic_vertex": anthropic_vertex,
    "bedrock": bedrock,
}
#: The provider each one is recorded under (whose caching rules apply).
RULES = {name: {"anthropic": "anthropic", "anthropic_vertex": "vertex_ai"}.get(name, "bedrock") for name in MODELS}
#: The ChatAnthropic family among them (the Messages API, directly or through Bedrock or Vertex AI).
CLAUDE_MESSAGES = [name for name in MODELS if name.startswith("anthropic")]


def support_tools(count: int = 12) -> list[BaseTool]:
    """``count`` support-desk tools with real schemas and long descriptions (together above 1,024 tokens)."""
    return [_support_tool(i) for i in range(count)]


def _support_tool(i: int) -> BaseTool:
    def lookup(customer_id: str, detail: str = "summary") -> str:
        return f"record {i} of {customer_id}: {detail} ok"

    lookup.__doc__ = f"Look up record kind {i} of a customer's router: serial, firmware, last reboot, owner. " * 6
    lookup.__name__ = f"lookup_record_{i}"
    return tool(lookup)


def release(distribution: str) -> tuple[int, ...]:
    """The installed release of ``distribution`` (``(1, 7, 0)``; ``()`` when it is not installed): the tests run on
    the newest and the lowest releases the package declares, and some provider behaviour differs between them."""
    try:
        return tuple(int(part) for part in version(distribution).split(".")[:3])
    except PackageNotFoundError:
        return ()


def markers(body: dict[str, Any]) -> int:
    """Cache markers in a request body as the emulator received it (Anthropic or Bedrock Converse)."""
    text = repr(body)
    return text.count("'cache_control'") + text.count("'cachePoint'")


def mutable_parts(value: Any, found: dict[int, Any] | None = None) -> dict[int, Any]:
    """Every mutable object reachable from ``value`` (models, dicts, lists, sets), by id (the objects are kept,
    so the ids stay theirs)."""
    found = {} if found is None else found
    if id(value) in found:
        return found
    if isinstance(value, BaseModel):
        found[id(value)] = value
        for part in (value.__dict__, value.__pydantic_fields_set__, value.__pydantic_extra__):
            if part is not None:
                mutable_parts(part, found)
    elif isinstance(value, dict):
        found[id(value)] = value
        for item in value.values():
            mutable_parts(item, found)
    elif isinstance(value, (list, set)):
        found[id(value)] = value
        for item in value:
            mutable_parts(item, found)
    return found
