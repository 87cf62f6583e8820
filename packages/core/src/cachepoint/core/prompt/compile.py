"""`apply_cache_points`: run a strategy, enforce the provider's rules, write the markers, report everything.

The rules, per provider (from the SDK request types and the providers' prompt-caching docs):

- **anthropic** — ``cache_control`` on tools, system text blocks and message blocks; at most 4 per request,
  counting markers already present, markers nested in tool results, and a top-level ``cache_control``
  (automatic caching, which lands on the last cacheable block); 1h before 5m.
- **bedrock** — ``cachePoint`` blocks after the cached block in ``system``, message ``content`` and
  ``toolConfig.tools`` (never inside a tool result); at most 4; 1h before 5m; Nova caches no tools.
- **openai** — a stable ``prompt_cache_key`` derived from the static layers, tools and system prompt (unless the
  request has one; see `cachepoint.core.prompt.plan`); GPT-5.6+ also take ``prompt_cache_breakpoint`` markers
  on content parts: at most 4 written per request, of which the implicit breakpoint on the latest user/tool
  message takes one unless ``prompt_cache_options.mode == "explicit"``.
- **generic** (``openrouter``, ``litellm``) — OpenAI Chat payloads with Anthropic-style ``cache_control`` on
  content parts, the convention OpenRouter and LiteLLM translate for each upstream provider; rules come from
  the upstream model (``anthropic/claude-...`` or ``claude-...`` -> Anthropic's).

The decisions (which breakpoints, which TTLs, which key) are `plan_cache_points`'; this module parses the
payload, builds its view, and writes the plan into the payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from cachepoint.core.prompt.breakpoints import Strategy
from cachepoint.core.prompt.builder import ViewBuilder
from cachepoint.core.prompt.formats import get_format, parse_request
from cachepoint.core.prompt.model import Request
from cachepoint.core.prompt.plan import GENERIC_PROVIDERS, derive_cache_key, plan_cache_points, rules_provider
from cachepoint.core.prompt.positions import PrefixView
from cachepoint.core.prompt.report import CacheReport
from cachepoint.core.providers import ModelInfo, ProviderTable, model_info, normalize_provider
from cachepoint.core.tokens import TokenCounter

__all__ = ["GENERIC_PROVIDERS", "apply_cache_points", "derive_cache_key"]


def apply_cache_points(
    request: Mapping[str, Any] | Request,
    strategy: Strategy | None = None,
    *,
    provider: str = "anthropic",
    model: str | None = None,
    format: str | None = None,
    info: ModelInfo | None = None,
    counter: TokenCounter | None = None,
    table: ProviderTable | None = None,
    cache_key: bool | str = True,
    lenient: bool = False,
    builder: ViewBuilder | None = None,
) -> tuple[dict[str, Any], CacheReport]:
    """Place cache breakpoints in ``request`` and return ``(payload, report)``.

    ``request`` is a provider payload (a dict, format detected from its shape, or given by ``format``) or a
    `Request`. ``strategy`` defaults to `auto()`. ``provider`` picks the rules (``anthropic``, ``bedrock``,
    ``openai``, or ``openrouter``/``litellm``/``generic``); ``model`` defaults to the payload's ``model`` /
    ``modelId``; ``info`` overrides the provider table for this call; ``counter`` counts tokens (the offline
    estimator by default). ``cache_key``: for OpenAI, ``True`` derives ``prompt_cache_key`` from the static layers
    (tools and system prompt: the same for every request and turn of a workload), a string sets it, ``False``
    leaves it alone. The input is never modified; applying twice gives the same payload.
    ``builder``: a `ViewBuilder` kept across calls (an agent's turns, a trace) parses and positions only what is
    new in each request; the result is the same. Its ``counter`` and ``lenient`` then apply.
    `plan_cache_points` makes the same decisions on a view you already have, without rendering.

    >>> payload, report = apply_cache_points(
    ...     {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "Answer from the manual. " * 400,
    ...      "messages": [{"role": "user", "content": "How do I reset it?"}]},
    ...     provider="anthropic")
    >>> payload["system"][0]["cache_control"], payload["messages"][0]["content"][0]["cache_control"]
    ({'type': 'ephemeral', 'ttl': '1h'}, {'type': 'ephemeral'})
    """
    provider = normalize_provider(provider)
    generic = provider in GENERIC_PROVIDERS
    _check_builder(builder, counter, lenient)
    source = _parse(request, provider, format, lenient, builder)
    parsed = _for_provider(source, provider)
    model = model or parsed.model
    if info is None:
        if not model:
            raise ValueError("model: the payload names no model; pass model=...")
        name = model.split("/", 1)[1] if generic and "/" in model else model
        info = model_info(rules_provider(provider, model), name, table=table)
    info = get_format(parsed.format).effective_info(info)
    view = _view(source, parsed, info, counter, builder)
    plan = plan_cache_points(view, strategy, provider=provider, model=model, info=info, cache_key=cache_key)

    markers = plan.markers()
    marked = parsed.with_markers(markers) if markers else parsed
    if plan.cache_key is not None and plan.cache_key != marked.params.get("prompt_cache_key"):
        marked = replace(marked, params={**marked.params, "prompt_cache_key": plan.cache_key})
    dialect = get_format(marked.format)
    # String content became a block where a marker landed: report the path in the payload as rendered (a new
    # decision only where the path changed: `replace` costs more than the rest of this loop).
    decisions = tuple(
        replace(d, path=path)
        if d.outcome == "placed" and (path := dialect.path(marked, view[d.breakpoint.position].locator)) != d.path
        else d
        for d in plan.decisions
    )
    payload = dialect.render(marked)
    return payload, replace(plan.report(), decisions=decisions)


def _parse(
    request: Mapping[str, Any] | Request, provider: str, fmt: str | None, lenient: bool, builder: ViewBuilder | None
) -> Request:
    if isinstance(request, Request):
        return request
    generic = provider in GENERIC_PROVIDERS
    fmt = fmt or ("openai-chat" if generic else None)
    detect_as = "openai" if generic else provider
    if builder is not None:
        return builder.parse(request, format=fmt, provider=detect_as)
    return parse_request(request, format=fmt, provider=detect_as, lenient=lenient)


def _check_builder(builder: ViewBuilder | None, counter: TokenCounter | None, lenient: bool) -> None:
    if builder is None:
        return
    if counter is not None and counter is not builder.counter:
        raise ValueError("counter: with a builder, tokens are counted by the builder's counter; pass it there")
    if lenient != builder.lenient:
        raise ValueError(f"lenient: the builder parses with lenient={builder.lenient}; create it with {lenient}")


def _view(
    source: Request, parsed: Request, info: ModelInfo, counter: TokenCounter | None, builder: ViewBuilder | None
) -> PrefixView:
    if builder is None:
        return parsed.positions(info=info, counter=counter)
    view = builder.positions(source, info=info)
    if parsed is not source:  # the generic providers' marker style: same positions, the request as rendered
        view = PrefixView(parsed, view.positions, view.breakpoints, view.info, view.counter)
    return view


def _for_provider(parsed: Request, provider: str) -> Request:
    if provider in GENERIC_PROVIDERS:
        if parsed.format != "openai-chat":
            raise ValueError(f"provider {provider!r}: expects an OpenAI Chat payload, got {parsed.format!r}")
        parsed = replace(parsed, layout={**parsed.layout, "marker_style": "cache_control"})
    return parsed
