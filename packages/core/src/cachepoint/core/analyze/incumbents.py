"""What users get today without cachepoint: the breakpoint placements of the frameworks' own caching, as strategies.

Each class reimplements one incumbent from its source and documentation (file and version in its docstring), so
``cachepoint analyze --strategy langchain_anthropic_middleware`` replays a trace the way that framework would
have sent it, and the benchmark (``benchmarks/bench_economics.py``) compares `auto` with it on equal terms: same
trace, same simulator, same prices. Where an incumbent's behaviour depends on something a trace does not record
(a LangChain tool that is a dict rather than a ``BaseTool``, a LiteLLM config other than its documented
example), the docstring says which case is modelled.

They place on the request as recorded, stripped of its own markers (see `cachepoint.core.analyze.scenarios.place`),
and go through the same provider rules as every strategy: below-minimum and over-budget markers do nothing,
exactly as the provider ignores them. None of them sets OpenAI's ``prompt_cache_key`` unless it says so
(``cache_key``), unlike `auto`, which derives one from the static layers.

>>> from cachepoint.core.prompt import Request, plan_cache_points
>>> view = Request.parse({"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "Policy. " * 900,
...     "messages": [{"role": "user", "content": "Hi"}]}).positions(provider="anthropic")
>>> [(d.breakpoint.id, d.ttl) for d in plan_cache_points(view, langchain_anthropic_middleware()).placed]
[('system', '5m'), ('automatic', '5m')]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cachepoint.core.prompt import Breakpoint, PlacementContext, PrefixView, Strategy
from cachepoint.core.prompt.breakpoints import resolve_target

__all__ = [
    "INCUMBENTS",
    "INCUMBENTS_FOR",
    "CrewAIDefault",
    "Incumbent",
    "LangChainAWSMiddleware",
    "LangChainAnthropicMiddleware",
    "LiteLLMInjection",
    "OpenAIAutomatic",
    "crewai_default",
    "langchain_anthropic_middleware",
    "langchain_aws_middleware",
    "litellm_injection",
    "openai_automatic",
]

_TTLS = ("5m", "1h")


class Incumbent:
    """Base of the incumbent placements: they set no ``prompt_cache_key`` unless ``cache_key`` says which."""

    #: The OpenAI ``prompt_cache_key`` the requests carry: ``False`` none, a string that literal key.
    cache_key: bool | str = False


def _check_middleware(ttl: str, min_messages_to_cache: int) -> None:
    """The arguments both LangChain middlewares take."""
    if ttl not in _TTLS:
        raise ValueError(f"ttl: expected '5m' or '1h', got {ttl!r}")
    if min_messages_to_cache < 0:
        raise ValueError(f"min_messages_to_cache: expected >= 0, got {min_messages_to_cache}")


def _layer_end(view: PrefixView, layer: str) -> int | None:
    return resolve_target(view, layer) if view.layer_indexes(layer) else None


def _last_eligible(view: PrefixView) -> int | None:
    return next((p.index for p in reversed(view.positions) if p.eligible), None)


def _message_count(view: PrefixView) -> int:
    """Messages as the framework counts them: the conversation, plus one for a system prompt."""
    system = bool(view.layer_indexes("system"))
    conversation = {p.locator.message for p in view.positions if p.section == "messages" and p.layer == "messages"}
    return len(conversation) + (1 if system else 0)


@dataclass(frozen=True)
class LangChainAnthropicMiddleware(Incumbent):
    """``AnthropicPromptCachingMiddleware`` from ``langchain_anthropic/middleware/prompt_caching.py``
    (langchain-anthropic 1.7.10, with langchain 1.5.2 and langchain-core 1.8.3), with ``ChatAnthropic``.

    ``_apply_caching`` makes three changes when the request has at least ``min_messages_to_cache`` messages
    (the conversation plus one for a system message, ``_should_apply_caching``): ``_tag_system_message`` puts
    ``cache_control`` on the last block of the system message; ``_tag_tools`` puts it on the last tool through
    ``BaseTool.extras`` (a tool given as a dict is left unmarked: modelled here is the usual ``@tool``/``BaseTool``
    case); and ``model_settings["cache_control"]`` makes ChatAnthropic send a **top-level** ``cache_control``,
    Anthropic's automatic caching, which the provider applies to the last cacheable block of the request (moving
    forward as the conversation grows). All three carry ``{"type": "ephemeral", "ttl": ttl}``, one TTL (``5m`` by
    default, ``1h`` if configured). Breakpoint ids: ``tools``, ``system``, ``automatic``.

    >>> langchain_anthropic_middleware(ttl="1h", min_messages_to_cache=3)
    LangChainAnthropicMiddleware(ttl='1h', min_messages_to_cache=3)
    """

    ttl: str = "5m"
    min_messages_to_cache: int = 0

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        view = ctx.view
        if _message_count(view) < self.min_messages_to_cache:
            return []
        found = []
        tools = _layer_end(view, "tools")
        if tools is not None:
            found.append(Breakpoint(tools, self.ttl, "tools", "_tag_tools: the last tool's extras"))
        system = _layer_end(view, "system")
        if system is not None:
            found.append(Breakpoint(system, self.ttl, "system", "_tag_system_message: the system's last block"))
        last = _last_eligible(view)
        if last is not None:
            found.append(Breakpoint(last, self.ttl, "automatic", "top-level cache_control: last cacheable block"))
        return found


def langchain_anthropic_middleware(*, ttl: str = "5m", min_messages_to_cache: int = 0) -> LangChainAnthropicMiddleware:
    """LangChain's ``AnthropicPromptCachingMiddleware(ttl=..., min_messages_to_cache=...)`` (see the class)."""
    _check_middleware(ttl, min_messages_to_cache)
    return LangChainAnthropicMiddleware(ttl, min_messages_to_cache)


@dataclass(frozen=True)
class LangChainAWSMiddleware(Incumbent):
    """``BedrockPromptCachingMiddleware`` from ``langchain_aws/middleware/prompt_caching.py`` with
    ``ChatBedrockConverse`` (langchain-aws 1.9.1): the middleware only sets ``model_settings["cache_control"]``;
    ``ChatBedrockConverse._apply_cache_points`` (``langchain_aws/chat_models/bedrock_converse.py``) then appends
    ``cachePoint`` blocks, highest value first, while its budget of 4 lasts: after the **system** prompt, after
    the **last message**, after the **tools**, and (Anthropic models, no manual points, at least two messages, the
    second-to-last not ending in reasoning) after the **second-to-last message**, "the end-of-history checkpoint
    for Claude's simplified cache management". The TTL is sent unless it is ``5m``. Amazon Nova models get no
    point on tools nor on a last message holding tool use or results. Breakpoint ids: ``system``, ``last``,
    ``tools``, ``penultimate``.

    >>> langchain_aws_middleware().ttl
    '5m'
    """

    ttl: str = "5m"
    min_messages_to_cache: int = 0

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        view = ctx.view
        if _message_count(view) < self.min_messages_to_cache:
            return []
        nova = "nova" in ctx.info.model.lower()
        found = []
        system = _layer_end(view, "system")
        if system is not None:
            found.append(Breakpoint(system, self.ttl, "system", "cachePoint appended to system"))
        count = len(ctx.request.messages)
        if count:
            last = view.message_positions(-1)
            tool_turn = any(p.kind in ("tool_use", "tool_result") for p in last)
            position = resolve_target(view, -1)
            if position is not None and not (nova and tool_turn):
                found.append(Breakpoint(position, self.ttl, "last", "cachePoint appended to the last message"))
        tools = _layer_end(view, "tools")
        if tools is not None and not nova:
            found.append(Breakpoint(tools, self.ttl, "tools", "cachePoint appended to toolConfig.tools"))
        if count >= 2 and not nova:
            before = view.message_positions(-2)
            reasoning = bool(before) and before[-1].kind in ("thinking", "reasoning", "redacted_thinking")
            position = resolve_target(view, -2)
            if position is not None and not reasoning:
                found.append(Breakpoint(position, self.ttl, "penultimate", "end-of-history cachePoint"))
        return found


def langchain_aws_middleware(*, ttl: str = "5m", min_messages_to_cache: int = 0) -> LangChainAWSMiddleware:
    """langchain-aws ``BedrockPromptCachingMiddleware(ttl=..., min_messages_to_cache=...)`` (see the class)."""
    _check_middleware(ttl, min_messages_to_cache)
    return LangChainAWSMiddleware(ttl, min_messages_to_cache)


@dataclass(frozen=True)
class CrewAIDefault(Incumbent):
    """CrewAI 1.15.30's built-in caching with its native Anthropic provider (no setting turns it on or off).

    ``AgentExecutor._setup_messages`` (``crewai/agents/agent_executor.py``) flags the system prompt and the
    task's user prompt with ``mark_cache_breakpoint`` (``crewai/llms/cache.py``); the user prompt follows any
    history, so it is the latest human turn (a user message that is not tool results). The Anthropic provider's
    ``_format_messages_for_anthropic`` (``crewai/llms/providers/anthropic/completion.py``) turns the flags into
    ``cache_control: {"type": "ephemeral"}`` on the system prompt and on the last block of that user message
    (``_stamp_cache_control_on_message``); markers on assistant and tool messages are ignored, tools are never
    marked, and there is no TTL option (5 minutes). The tool-calling turns that follow the task prompt carry no
    marker. CrewAI's native Bedrock provider places no ``cachePoint`` at all, and OpenAI caches automatically
    without a key: on those this placement is empty. Breakpoint ids: ``system``, ``task``.

    >>> crewai_default()
    CrewAIDefault()
    """

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        if ctx.provider != "anthropic":
            return []
        view = ctx.view
        found = []
        system = _layer_end(view, "system")
        if system is not None:
            found.append(Breakpoint(system, None, "system", "system prompt flagged by _setup_messages"))
        task = _latest_human_turn(view)
        if task is not None:
            found.append(Breakpoint(task, None, "task", "the task's user prompt flagged by _setup_messages"))
        return found


def _latest_human_turn(view: PrefixView) -> int | None:
    """The last block of the latest user message that holds text and no tool results."""
    by_message: dict[int | None, list[int]] = {}
    for p in view.positions:
        if p.layer == "messages" and p.role == "user":
            by_message.setdefault(p.locator.message, []).append(p.index)
    for indexes in reversed(list(by_message.values())):
        kinds = {view[i].kind for i in indexes}
        if "tool_result" not in kinds and "text" in kinds:
            return next((i for i in reversed(indexes) if view[i].eligible), indexes[-1])
    return None


def crewai_default() -> CrewAIDefault:
    """CrewAI's native Anthropic caching: the system prompt and the task's user prompt, 5m (see the class)."""
    return CrewAIDefault()


@dataclass(frozen=True)
class LiteLLMInjection(Incumbent):
    """LiteLLM's ``cache_control_injection_points`` with the documented example, ``[{"location": "message",
    "role": "system"}]`` (docs: "Auto-Inject Prompt Caching Checkpoints"; source:
    ``litellm/integrations/anthropic_cache_control_hook.py``, ``AnthropicCacheControlHook``, BerriAI/litellm at
    commit 0120dbf2).

    ``_apply_message_injections`` resolves a role point to every message of that role and marks each (its last
    content block, or the message when its content is a string) with ``{"type": "ephemeral"}`` until 4 markers
    are used; the Anthropic transform moves system messages into ``system``, the Bedrock one into a ``cachePoint``
    after it. In a request that reaches the provider as one system prompt that is one breakpoint at its end,
    default TTL. OpenAI models are "provider managed": nothing is injected. Breakpoint id: ``system``.

    >>> litellm_injection()
    LiteLLMInjection()
    """

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        system = _layer_end(ctx.view, "system")
        if system is None:
            return []
        return [Breakpoint(system, None, "system", "cache_control_injection_points: role system")]


def litellm_injection() -> LiteLLMInjection:
    """LiteLLM's documented injection point, the system message (see the class)."""
    return LiteLLMInjection()


@dataclass(frozen=True)
class OpenAIAutomatic(Incumbent):
    """No markers at all: OpenAI's automatic prefix caching as every framework leaves it (prompts of 1024+
    tokens, 128-token increments, routing by the prompt's opening), without ``prompt_cache_key`` or with one
    fixed key for the whole workload, the use OpenAI's prompt-caching guide recommends ("requests that share
    long common prefixes"). On Anthropic and Bedrock, which cache nothing without markers, it caches nothing.

    >>> openai_automatic("support-bot").cache_key
    'support-bot'
    """

    cache_key: bool | str = False

    def __call__(self, ctx: PlacementContext) -> list[Breakpoint]:
        return []


def openai_automatic(prompt_cache_key: str | None = None) -> OpenAIAutomatic:
    """OpenAI's automatic caching, with no ``prompt_cache_key`` or the one given (see the class)."""
    if prompt_cache_key is not None and (not isinstance(prompt_cache_key, str) or not prompt_cache_key):
        raise ValueError(f"prompt_cache_key: expected a non-empty string or None, got {prompt_cache_key!r}")
    return OpenAIAutomatic(prompt_cache_key or False)


#: The incumbents a strategy spec may name (``cachepoint analyze --strategy langchain_aws_middleware``).
INCUMBENTS: dict[str, Callable[..., Strategy]] = {
    "langchain_anthropic_middleware": langchain_anthropic_middleware,
    "langchain_aws_middleware": langchain_aws_middleware,
    "crewai_default": crewai_default,
    "litellm_injection": litellm_injection,
    "openai_automatic": openai_automatic,
}


#: The incumbent placements a user of each provider can get today, as strategy specs: what
#: ``cachepoint analyze --optimum`` and ``benchmarks/bench_economics.py`` compare `auto` with. CrewAI places nothing
#: on Bedrock and LiteLLM injects nothing on OpenAI: they are listed anyway, since that is what their users get.
INCUMBENTS_FOR: dict[str, tuple[str, ...]] = {
    "anthropic": (
        "langchain_anthropic_middleware",
        'langchain_anthropic_middleware(ttl="1h")',
        "crewai_default",
        "litellm_injection",
    ),
    "bedrock": (
        "langchain_aws_middleware",
        'langchain_aws_middleware(ttl="1h")',
        "crewai_default",
        "litellm_injection",
    ),
    "openai": ("openai_automatic", 'openai_automatic("support-bot")', "litellm_injection"),
}
