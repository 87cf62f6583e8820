"""Which provider payload a LangChain chat model sends, and so which caching rules apply to it.

A chat model is recognized by its LangChain type name (``_type`` in a run's ``invocation_params``, the same
string as the model's ``_llm_type``): LangChain hands it to every callback, so the handler, the middleware and
`with_cache_points` identify models the same way, without importing any provider package.

>>> identify("anthropic-chat", "claude-sonnet-4-5")
Target(kind='anthropic', provider='anthropic', format='anthropic', model='claude-sonnet-4-5')
>>> identify("anthropic-chat-vertexai", "claude-sonnet-4-5@20250929").provider
'vertex_ai'
>>> identify("ollama-chat", "llama3") is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

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


def identify(llm_type: str | None, model: str | None) -> Target | None:
    """The `Target` of a chat model from its LangChain type name and model id; ``None`` when cachepoint does not
    know how that model formats requests (a fake model, ChatOllama...)."""
    if not llm_type or not model:
        return None
    found = _BY_TYPE.get(llm_type)
    return None if found is None else Target(*found, model)


def identify_run(invocation_params: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None) -> Target | None:
    """The `Target` of a run, from what LangChain gives ``on_chat_model_start``."""
    params = invocation_params or {}
    model = params.get("model") or params.get("model_name") or params.get("model_id")
    if not isinstance(model, str):
        model = (metadata or {}).get("ls_model_name")
    llm_type = params.get("_type")
    return identify(llm_type if isinstance(llm_type, str) else None, model if isinstance(model, str) else None)


def identify_model(model: Any) -> Target | None:
    """The `Target` of a chat model object (``_llm_type`` is the abstract property every LangChain chat model
    defines, and the value LangChain reports to callbacks as ``_type``)."""
    name = getattr(model, "model", None) or getattr(model, "model_name", None) or getattr(model, "model_id", None)
    llm_type = getattr(model, "_llm_type", None)
    return identify(llm_type if isinstance(llm_type, str) else None, name if isinstance(name, str) else None)
