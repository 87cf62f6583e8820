"""`CachepointMiddleware`: prompt-cache breakpoints and usage for ``langchain.agents.create_agent`` (needs the
``agents`` extra: ``pip install "cachepoint-langchain[agents]"``).

Each model call of the agent goes through ``wrap_model_call`` (and ``awrap_model_call``): the middleware places
the strategy's breakpoints on the system prompt, the tool definitions and the conversation, and hands the model
a request changed only through ``request.override(...)``: the agent's state, its checkpoints and the message
objects in them never carry a marker. ChatAnthropic (and its Bedrock / Mantle subclasses) gets
``cache_control`` markers, ChatBedrockConverse ``cachePoint`` blocks, ChatOpenAI a ``prompt_cache_key`` derived
from the static layers (tools and system prompt). The usage of every call goes into the ledger, labelled with
the model, provider, agent name and graph node.

>>> middleware = CachepointMiddleware()
>>> middleware.ledger.stats().calls
0
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from cachepoint.core.instrument import CallRecorder, place_safely
from cachepoint.core.once import log_once
from cachepoint.core.prompt import Strategy, auto
from cachepoint.core.usage import UsageLedger
from cachepoint.langchain.placement import mark_tools, place, vertex_tool
from cachepoint.langchain.targets import VERTEX, Target, identify_model
from cachepoint.langchain.usage import record, recording_in
from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse

__all__ = ["CachepointMiddleware"]

logger = logging.getLogger("cachepoint.langchain")


class CachepointMiddleware(AgentMiddleware):
    """Agent middleware that places prompt-cache breakpoints in every model call and records its usage.

    Args:
        strategy: where breakpoints go (default `auto()`).
        ledger: the `UsageLedger` usage goes into (default: a new one, as ``middleware.ledger``).
        labels: labels added to every ledger entry.

    ``create_agent(model, tools, middleware=[CachepointMiddleware()])``.
    """

    def __init__(
        self,
        strategy: Strategy | None = None,
        ledger: UsageLedger | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.strategy: Strategy = strategy if strategy is not None else auto()
        self.ledger = ledger if ledger is not None else UsageLedger()
        self.labels = {str(k): str(v) for k, v in (labels or {}).items()}

    def wrap_model_call(self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]) -> ModelResponse:
        """Place breakpoints, call the model, record the usage (the agent calls this)."""
        target = identify_model(request.model)
        with recording_in(self.ledger):  # a callback handler on the same ledger leaves the call to us
            response = handler(self._prepare(request, target))
        self._record(response, target)
        return response

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> ModelResponse:
        """`wrap_model_call` for async agents."""
        target = identify_model(request.model)
        with recording_in(self.ledger):
            response = await handler(self._prepare(request, target))
        self._record(response, target)
        return response

    def _prepare(self, request: ModelRequest, target: Target | None) -> ModelRequest:
        if target is None:
            kind = type(request.model).__name__
            log_once(
                f"middleware-unknown:{kind}",
                f"cachepoint: {kind} is not a model CachepointMiddleware places breakpoints for (ChatAnthropic "
                "and its Bedrock/Vertex variants, ChatBedrockConverse, ChatOpenAI): the request goes out unchanged",
                logger=logger,
            )
            return request
        # A placement problem must not fail the agent: the request goes as it was.
        placed = place_safely(lambda: _placed(request, target, self.strategy), provider=target.provider)
        return placed if placed is not None else request

    def _record(self, response: ModelResponse, target: Target | None) -> None:
        message = next((m for m in reversed(response.result) if isinstance(m, AIMessage)), None)
        if message is not None:
            provider, model = (target.provider, target.model) if target else (None, None)
            calls = CallRecorder(ledger=self.ledger)
            record(calls, message, provider=provider, model=model, metadata=_run_metadata(), static=self.labels)


def _placed(request: ModelRequest, target: Target, strategy: Strategy) -> tuple[ModelRequest, Any]:
    """``request`` with the strategy's breakpoints, and the plan (for `place_safely` to report)."""
    system = request.system_message
    messages: list[BaseMessage] = [system, *request.messages] if system is not None else list(request.messages)
    settings = dict(request.model_settings)
    if target.kind == "openai":
        if settings.get("prompt_cache_key"):
            return request, None
        keyed = place(target, messages, strategy, tools=_openai_tools(request.tools))
        key = keyed.cache_key
        return (request.override(model_settings={**settings, "prompt_cache_key": key}) if key else request), keyed.plan
    tools = list(request.tools)
    placement = place(
        target,
        messages,
        strategy,
        tools=_provider_tools(target, tools),
        kwargs=settings,
        tools_writable=True,
        system=getattr(request.model, "system", None) or () if target.kind == "bedrock" else (),
    )
    if not placement.contents and not placement.tool_markers:
        return request, placement.plan
    new = [
        m.model_copy(update={"content": placement.contents[i]}) if i in placement.contents else m
        for i, m in enumerate(messages)
    ]
    changes: dict[str, Any] = {}
    if system is not None:
        new_system = new[0]
        assert isinstance(new_system, SystemMessage)
        changes["system_message"] = new_system
        new = new[1:]
    changes["messages"] = new
    if placement.tool_markers:
        changes["tools"] = mark_tools(target, tools, placement.tool_markers)
    return request.override(**changes), placement.plan


def _provider_tools(target: Target, tools: Sequence[Any]) -> list[Any]:
    """The tool definitions as the model sends them (what the mirror counts): Anthropic's shape for
    ChatAnthropic and ChatAnthropicVertex; ChatBedrockConverse's are converted by the mirror itself."""
    if target.kind != "anthropic":
        return list(tools)
    if target.provider == VERTEX:  # ChatAnthropicVertex converts them itself (langchain-anthropic not needed)
        return [vertex_tool(tool) for tool in tools]
    from langchain_anthropic import convert_to_anthropic_tool

    out = []
    for tool in tools:
        if isinstance(tool, Mapping) and "type" in tool and "function" not in tool and "input_schema" not in tool:
            out.append(dict(tool))  # a built-in server tool, sent as given
        else:
            out.append(dict(convert_to_anthropic_tool(tool)))
    return out


def _openai_tools(tools: Sequence[Any]) -> list[Any]:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    return [convert_to_openai_tool(t) for t in tools]


def _run_metadata() -> Mapping[str, Any]:
    """The metadata of the graph run this model call belongs to (node, agent name...), if there is one."""
    try:
        from langgraph.config import get_config

        return dict(get_config().get("metadata") or {})
    except Exception:  # outside a graph run there is no config
        return {}
