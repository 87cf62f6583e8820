"""Which provider payload a LangChain chat model sends, and so which caching rules apply to it.

A chat model is recognized by its LangChain type name (``_type`` in a run's ``invocation_params``, the same
string as the model's ``_llm_type``): LangChain hands it to every callback, so the handler, the middleware and
`with_cache_points` identify models the same way, without importing any provider package.

>>> identify("anthropic-chat", "claude-sonnet-4-5")
Target(kind='anthropic', provider='anthropic', format='anthropic', model='claude-sonnet-4-5', in_place_system=False)
>>> identify("anthropic-chat-vertexai", "claude-sonnet-4-5@20250929").provider
'vertex_ai'
>>> identify("ollama-chat", "llama3") is None
True
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import SecretStr

__all__ = ["VERTEX", "Target", "identify", "identify_model", "identify_run"]

Kind = Literal["anthropic", "bedrock", "openai"]

# ChatAnthropic and the subclasses that send the same Messages body through Bedrock (InvokeModel) or Bedrock's
# Mantle endpoint (their caching rules are Bedrock's).
_ANTHROPIC_DIRECT = {"anthropic-chat"}
_ANTHROPIC_ON_BEDROCK = {"anthropic-bedrock-chat", "anthropic-mantle-chat"}
# ChatAnthropicVertex (langchain-google-vertexai) formats its own Messages body (not langchain-anthropic's) and sends
# it through the SDK's AnthropicVertex client; Vertex AI caches Claude under Anthropic's rules.
_ANTHROPIC_ON_VERTEX = {"anthropic-chat-vertexai"}
#: The provider name of Claude on Vertex AI (core's provider table applies Anthropic's rules to it).
VERTEX = "vertex_ai"
_BEDROCK_CONVERSE = {"amazon_bedrock_converse_chat"}
_OPENAI = {"openai-chat", "azure-openai-chat"}
# LangChain type name -> (kind, provider, format).
_BY_TYPE: dict[str, tuple[Kind, str, str]] = {
    **dict.fromkeys(_ANTHROPIC_DIRECT, ("anthropic", "anthropic", "anthropic")),
    **dict.fromkeys(_ANTHROPIC_ON_BEDROCK, ("anthropic", "bedrock", "anthropic")),
    **dict.fromkeys(_ANTHROPIC_ON_VERTEX, ("anthropic", VERTEX, "anthropic")),
    **dict.fromkeys(_BEDROCK_CONVERSE, ("bedrock", "bedrock", "bedrock")),
    **dict.fromkeys(_OPENAI, ("openai", "openai", "openai-chat")),
}


@dataclass(frozen=True)
class Target:
    """What a model sends: ``kind`` (who formats the request: ``anthropic``, ``bedrock`` Converse or ``openai``),
    ``provider`` whose caching rules apply, the payload ``format`` core parses, and the ``model`` id."""

    kind: Kind
    provider: str
    format: str
    model: str
    in_place_system: bool = False
    """Whether a `SystemMessage` after the first turn is sent in place, as a ``system`` turn of the messages
    (langchain-anthropic 1.7+, for a model whose profile sets ``mid_conversation_system_messages``: Claude 5),
    rather than moved into the top-level ``system``."""


def identify(llm_type: str | None, model: str | None, *, profile: Mapping[str, Any] | None = None) -> Target | None:
    """The `Target` of a chat model from its LangChain type name, model id and profile (the model's ``profile``);
    ``None`` when cachepoint does not know how that model formats requests (a fake model, ChatOllama...)."""
    if not llm_type or not model:
        return None
    found = _BY_TYPE.get(llm_type)
    if found is None:
        return None
    # ChatAnthropicVertex formats its own body (not langchain-anthropic's), which moves every system message up.
    in_place = found[0] == "anthropic" and found[1] != VERTEX and bool((profile or {}).get(_IN_PLACE))
    return Target(*found, model, in_place)


_IN_PLACE = "mid_conversation_system_messages"


def identify_run(
    invocation_params: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    serialized: Mapping[str, Any] | None = None,
) -> Target | None:
    """The `Target` of a run, from what LangChain gives ``on_chat_model_start``: the model's profile is the one
    its constructor was given (in ``serialized``), else the one its class gives that model id."""
    params = invocation_params or {}
    model = params.get("model") or params.get("model_name") or params.get("model_id")
    if not isinstance(model, str):
        model = (metadata or {}).get("ls_model_name")
    llm_type = params.get("_type")
    if not isinstance(llm_type, str) or not isinstance(model, str):
        return None
    given = ((serialized or {}).get("kwargs") or {}).get("profile")
    profile = given if isinstance(given, Mapping) else default_profile(llm_type, model)
    return identify(llm_type, model, profile=profile)


def identify_model(model: Any) -> Target | None:
    """The `Target` of a chat model object (``_llm_type`` is the abstract property every LangChain chat model
    defines, and the value LangChain reports to callbacks as ``_type``).

    A ChatBedrockConverse on an application inference profile has the profile's opaque ARN as ``model_id`` and the
    model behind it as ``base_model_id`` (given, or looked up by langchain-aws): that model's caching rules apply,
    and it is the id the model reports to callbacks (its ``_get_invocation_params``), so the handler sees it too.
    """
    name = (
        getattr(model, "base_model_id", None)
        or getattr(model, "model", None)
        or getattr(model, "model_name", None)
        or getattr(model, "model_id", None)
    )
    llm_type = getattr(model, "_llm_type", None)
    profile = getattr(model, "profile", None)
    return identify(
        llm_type if isinstance(llm_type, str) else None,
        name if isinstance(name, str) else None,
        profile=profile if isinstance(profile, Mapping) else None,
    )


@functools.lru_cache(maxsize=256)
def default_profile(llm_type: str, model: str) -> Mapping[str, Any]:
    """The profile a Claude chat model of this type and id has when its caller sets none (``{}`` for any other).

    A callback sees the model's type and id, not the model: its class is built once per id with placeholder
    credentials (nothing is sent; the class reads the profile from its package's data) and its public
    ``profile`` read.

    >>> default_profile("ollama-chat", "llama3")
    {}
    """
    placeholder = SecretStr("unused")
    try:
        if llm_type == "anthropic-chat":
            from langchain_anthropic import ChatAnthropic

            built: Any = ChatAnthropic(model_name=model, api_key=placeholder)  # type: ignore[call-arg]
        elif llm_type == "anthropic-bedrock-chat":
            from langchain_aws import ChatAnthropicBedrock

            built = ChatAnthropicBedrock(
                model_name=model,  # type: ignore[call-arg]
                region_name="us-east-1",
                aws_access_key_id=placeholder,
                aws_secret_access_key=placeholder,
            )
        elif llm_type == "anthropic-mantle-chat":
            from langchain_aws import ChatAnthropicMantle

            built = ChatAnthropicMantle(
                model_name=model,  # type: ignore[call-arg]
                bedrock_api_key=placeholder,
                auth_mode="api_key",
                region_name="us-east-1",
            )
        else:
            return {}
    except Exception:  # a version without the class or the field: the system message is moved up, as before
        return {}
    profile = getattr(built, "profile", None)
    return dict(profile) if isinstance(profile, Mapping) else {}
