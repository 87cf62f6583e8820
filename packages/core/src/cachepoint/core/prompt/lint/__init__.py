"""`lint`: find what keeps a prompt from being cached, with where and how to fix it.

On one request: volatile values (timestamps, dates, UUIDs, request ids, user data) in the stable layers (tools,
system, context marked stable), whitespace that drifts (trailing spaces, CRLF), tools in no sorted order, a
stable prefix below the model's minimum (caching would silently do nothing), more markers than the provider
allows, TTLs out of order. On a series of requests (a trace, in order): for each pair of consecutive requests, the
first byte where the later prefix stops extending the earlier one, and why (tool order, key order, whitespace,
a timestamp...).

>>> from cachepoint.core.prompt.lint import lint
>>> findings = lint({"model": "claude-sonnet-4-5", "max_tokens": 10,
...                  "system": "You are helpful. Current time: 2026-11-23T10:15:00Z",
...                  "messages": [{"role": "user", "content": "Hi"}]})
>>> [(f.code, f.path) for f in findings if f.severity != "info"]
[('timestamp', 'system')]
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from cachepoint.core.prompt.formats import get_format, parse_request
from cachepoint.core.prompt.formats.base import dumps
from cachepoint.core.prompt.lint.detectors import TextMatch, find_line_endings, find_trailing_whitespace, scan_text
from cachepoint.core.prompt.model import Request, Tool
from cachepoint.core.prompt.positions import PrefixView
from cachepoint.core.prompt.ttl import ttl_seconds
from cachepoint.core.providers import ModelInfo, ProviderTable, UnknownModelWarning, model_info, normalize_provider
from cachepoint.core.tokens import TokenCounter

__all__ = ["SEVERITIES", "Finding", "lint", "lint_request"]

Severity = Literal["info", "warning", "error"]
#: Severities from least to most serious.
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")

_VOLATILE = {
    "timestamp": (
        "warning",
        "a timestamp",
        "every request gets a new prefix here, so nothing after it is read from the cache",
    ),
    "date": ("info", "a date", "the prefix changes once a day (fine if that is acceptable)"),
    "uuid": ("warning", "a UUID", "ids that change per request or per user split the cache"),
    "request_id": ("warning", "a request or session id", "ids that change per request or per user split the cache"),
    "user_data": ("warning", "per-user data", "per-user values make every user pay for their own copy of the prefix"),
}
_FIX_VOLATILE = "move it after the last cache breakpoint (e.g. into the latest user message), or leave it out"


@dataclass(frozen=True)
class Finding:
    """One problem: ``code``, ``severity`` (``info`` < ``warning`` < ``error``), what and how to fix it, and where.

    ``path`` is the block's path in the payload, ``position`` its index in the `PrefixView`, ``request`` its
    index in the series, ``span`` the character range within the block's text, ``excerpt`` the text around it;
    ``byte_offset`` (divergences) counts bytes of the canonical prefix (each block's JSON, in prefix order);
    ``cause`` classifies a divergence (``tools_reordered``, ``keys_reordered``, ``whitespace``, ``timestamp``...).
    """

    code: str
    severity: Severity
    message: str
    fix: str
    path: str | None = None
    position: int | None = None
    request: int | None = None
    span: tuple[int, int] | None = None
    excerpt: str | None = None
    byte_offset: int | None = None
    cause: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``None`` fields left out)."""
        out: dict[str, Any] = {}
        for key in self.__dataclass_fields__:
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def __str__(self) -> str:
        where = " ".join(
            p for p in (f"request {self.request}" if self.request is not None else "", self.path or "") if p
        )
        return f"{self.severity}: {where + ': ' if where else ''}{self.message} (fix: {self.fix})"


def _excerpt(text: str, start: int, end: int, width: int = 24) -> str:
    left = max(0, start - width)
    right = min(len(text), end + width)
    return ("..." if left else "") + text[left:right] + ("..." if right < len(text) else "")


def _item_text(view: PrefixView, index: int) -> str:
    item = view.request.get(view[index].locator)
    dialect = get_format(view.request.format)
    return dialect.describe_tool(item).text if isinstance(item, Tool) else dialect.describe(item).text


def _resolve_info(
    request: Request, provider: str | None, model: str | None, info: ModelInfo | None, table: ProviderTable | None
) -> tuple[ModelInfo | None, list[Finding]]:
    if info is not None:
        return info, []
    provider = (
        normalize_provider(provider)
        if provider
        else {"anthropic": "anthropic", "bedrock": "bedrock"}.get(request.format, "openai")
    )
    model = model or request.model
    if not model:
        return None, [
            Finding("no_model", "info", "the request names no model: minimum-length checks skipped", "pass model=...")
        ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        found = model_info(provider, model, table=table)
    notes = []
    if not found.known:
        notes.append(
            Finding(
                "unknown_model",
                "info",
                f"{model!r} is not in the provider table: checked against conservative defaults "
                f"(minimum {found.min_cache_tokens} tokens)",
                "register it with cachepoint.core.providers.register_model",
            )
        )
    return found, notes


def lint_request(
    request: Mapping[str, Any] | Request,
    *,
    provider: str | None = None,
    model: str | None = None,
    info: ModelInfo | None = None,
    counter: TokenCounter | None = None,
    table: ProviderTable | None = None,
    user_names: Iterable[str] = (),
    index: int | None = None,
) -> list[Finding]:
    """Findings for one request (see `lint`)."""
    return _lint_one(request, provider, model, info, counter, table, user_names, index)[0]


def _lint_one(  # noqa: PLR0917 - internal; mirrors lint_request's keywords
    request: Mapping[str, Any] | Request,
    provider: str | None,
    model: str | None,
    info: ModelInfo | None,
    counter: TokenCounter | None,
    table: ProviderTable | None,
    user_names: Iterable[str],
    index: int | None,
) -> tuple[list[Finding], PrefixView]:
    parsed = parse_request(request, provider=provider, lenient=True)
    found_info, findings = _resolve_info(parsed, provider, model, info, table)
    view = parsed.positions(info=found_info, counter=counter)
    names = tuple(user_names)
    for p in view:
        if not p.stable:
            continue
        text = _item_text(view, p.index)
        grouped: dict[str, list[TextMatch]] = {}
        for match in scan_text(text, codes=list(_VOLATILE), names=names):
            grouped.setdefault(match.code, []).append(match)
        for code, matches in grouped.items():
            severity, what, why = _VOLATILE[code]
            first = matches[0]
            more = f" (and {len(matches) - 1} more)" if len(matches) > 1 else ""
            findings.append(
                Finding(
                    code,
                    severity,  # type: ignore[arg-type]
                    f"{what} {first.text!r}{more} in the {p.layer} layer: {why}",
                    _FIX_VOLATILE,
                    p.path,
                    p.index,
                    index,
                    (first.start, first.end),
                    _excerpt(text, first.start, first.end),
                )
            )
        findings.extend(_whitespace(text, p.path, p.index, p.layer, index))
    findings.extend(_tool_order(parsed, view, index))
    if found_info is not None:
        findings.extend(_markers(view, found_info, index))
        findings.extend(_minimum(view, found_info, index))
    return findings, view


def _whitespace(text: str, path: str, position: int, layer: str, index: int | None) -> list[Finding]:
    out = []
    trailing = find_trailing_whitespace(text)
    if trailing:
        first = trailing[0]
        out.append(
            Finding(
                "trailing_whitespace",
                "info",
                f"{len(trailing)} line(s) end in spaces or tabs in the {layer} layer; editors and template engines "
                "strip or add them, and any change is a new prefix",
                "strip trailing whitespace when building the prompt",
                path,
                position,
                index,
                (first.start, first.end),
                _excerpt(text, first.start, first.end),
            )
        )
    for match in find_line_endings(text):
        mixed = match.code == "mixed_line_endings"
        out.append(
            Finding(
                match.code,
                "warning" if mixed else "info",
                ("both CRLF and LF line endings" if mixed else "CRLF line endings")
                + f" in the {layer} layer: files read on another OS or through git change them,"
                " and the prefix with them",
                "normalize line endings to \\n when loading prompt files",
                path,
                position,
                index,
                (match.start, match.end),
            )
        )
    return out


def _tool_order(request: Request, view: PrefixView, index: int | None) -> list[Finding]:
    names = [t.name for t in request.tools]
    if len(names) < 2 or names == sorted(names):
        return []
    return [
        Finding(
            "unsorted_tools",
            "info",
            f"tools are not sorted ({', '.join(names[:4])}{'...' if len(names) > 4 else ''}); if the list comes from a "
            "dict, a set or plugin discovery its order can change between processes, and tools come first in the "
            "prefix, so any change misses the whole cache",
            "sort tools by name (or build them in one fixed order)",
            view[0].path,
            0,
            index,
        )
    ]


def _markers(view: PrefixView, info: ModelInfo, index: int | None) -> list[Finding]:
    out: list[Finding] = []
    counted = [b for b in view.breakpoints if b.source != "implicit"]
    if info.explicit and len(counted) > info.max_breakpoints:
        out.append(
            Finding(
                "too_many_markers",
                "error",
                f"{len(counted)} cache markers; {info.model} allows {info.max_breakpoints}"
                " (the API rejects the request)",
                "keep the markers that close the largest stable prefixes, or let apply_cache_points choose",
                request=index,
            )
        )
    shortest: tuple[int, int] | None = None
    for b in sorted((b for b in counted if b.source != "nested"), key=lambda b: b.position):
        p = view[b.position]
        if p.cumulative_tokens < info.min_cache_tokens:
            out.append(
                Finding(
                    "marker_below_minimum",
                    "warning",
                    f"the marker at {p.path} closes a ~{p.cumulative_tokens}-token prefix; {info.model} caches from "
                    f"{info.min_cache_tokens}: it does nothing and takes a slot",
                    "move it later, or drop it",
                    p.path,
                    p.index,
                    index,
                )
            )
        try:
            seconds = ttl_seconds(b.ttl, default=info.default_ttl)
        except ValueError:
            continue
        if shortest is not None and seconds > shortest[1]:
            out.append(
                Finding(
                    "ttl_order",
                    "error",
                    f"a {b.ttl} marker at {p.path} comes after a shorter one at {view[shortest[0]].path}; longer TTLs "
                    "must come first (the API rejects the request)",
                    "use the longer TTL for the earlier marker too (it costs nothing extra)",
                    p.path,
                    p.index,
                    index,
                )
            )
        if shortest is None or seconds < shortest[1]:
            shortest = (b.position, seconds)
    return out


def _minimum(view: PrefixView, info: ModelInfo, index: int | None) -> list[Finding]:
    stable = [p for p in view if p.stable]
    if not stable or not view.positions:
        return []
    end = stable[-1]
    if end.cumulative_tokens >= info.min_cache_tokens:
        return []
    whole = view.total_tokens
    severity: Severity = "warning" if whole >= info.min_cache_tokens else "info"
    return [
        Finding(
            "below_minimum",
            severity,
            f"the stable prefix (through {end.path}) is ~{end.cumulative_tokens} tokens; {info.model} caches prefixes "
            f"of {info.min_cache_tokens}+ tokens, so caching it silently does nothing"
            + ("" if severity == "warning" else f" (the whole prompt is ~{whole} tokens)"),
            "move more static material (instructions, examples, reference documents) ahead of the dynamic parts",
            end.path,
            end.index,
            index,
        )
    ]


def _divergence(previous: PrefixView, current: PrefixView, index: int) -> Finding | None:
    k = 0
    limit = min(len(previous), len(current))
    while k < limit and previous[k].block_hash == current[k].block_hash:
        k += 1
    if k >= len(previous):
        return None  # the new prompt extends the old one: everything is reusable
    offset = sum(len(_canonical(previous, i)) for i in range(k))
    lost = previous.total_tokens - (previous[k - 1].cumulative_tokens if k else 0)
    if k >= len(current):
        return Finding(
            "prefix_divergence",
            "info",
            f"the prompt is shorter than the previous one from {previous[k].path} on (truncated or compacted): "
            f"~{lost} previously cached tokens cannot be reused",
            "if this is context trimming, trim in large steps so most turns still extend the cached prefix",
            previous[k].path,
            k,
            index,
            byte_offset=offset,
            cause="truncated",
        )
    cause, detail, within = _cause(previous, current, k)
    p = current[k]
    severity: Severity = "warning" if previous[k].stable else "info"
    return Finding(
        "prefix_divergence",
        severity,
        f"the prompt diverges from the previous one at {p.path} (byte {offset + within} of the prefix): {detail}; "
        f"~{lost} tokens after it are processed again",
        _CAUSE_FIX.get(cause, "keep everything before the last breakpoint byte-for-byte identical across requests"),
        p.path,
        k,
        index,
        excerpt=_excerpt(_canonical(current, k).decode("utf-8", "replace"), within, within + 1),
        byte_offset=offset + within,
        cause=cause,
    )


_CAUSE_FIX = {
    "tools_reordered": "sort tools by name, or build the list in one fixed order",
    "keys_reordered": "serialize JSON with sorted keys (json.dumps(..., sort_keys=True)) or keep one insertion order",
    "whitespace": "normalize whitespace and line endings when building the prompt",
    "timestamp": _FIX_VOLATILE,
    "date": _FIX_VOLATILE,
    "uuid": _FIX_VOLATILE,
    "request_id": _FIX_VOLATILE,
    "user_data": _FIX_VOLATILE,
}


def _canonical(view: PrefixView, index: int) -> bytes:
    item = view.request.get(view[index].locator)
    return dumps(item.data)


def _cause(previous: PrefixView, current: PrefixView, k: int) -> tuple[str, str, int]:
    a = _canonical(previous, k)
    b = _canonical(current, k)
    within = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    if previous[k].section == "tools":
        old = sorted(p.block_hash for p in previous if p.section == "tools")
        new = sorted(p.block_hash for p in current if p.section == "tools")
        if old == new:
            return "tools_reordered", "the same tools in a different order", within
    try:
        if orjson.dumps(orjson.loads(a), option=orjson.OPT_SORT_KEYS) == orjson.dumps(
            orjson.loads(b), option=orjson.OPT_SORT_KEYS
        ):
            return "keys_reordered", "the same JSON with its keys in a different order", within
    except orjson.JSONDecodeError:
        pass
    text_a, text_b = a.decode("utf-8", "replace"), b.decode("utf-8", "replace")
    if _squash(text_a) == _squash(text_b):
        return "whitespace", "only whitespace or line endings differ", within
    for text in (text_a, text_b):
        window_start = max(0, within - 64)
        window = text[window_start : within + 64]
        for match in scan_text(window, codes=list(_VOLATILE)):
            if window_start + match.start <= within <= window_start + match.end:
                return match.code, f"{_VOLATILE[match.code][1]} changed ({match.text!r})", within
    return "content_changed", "the content changed", within


def _squash(text: str) -> str:
    # ``text`` is JSON: line breaks and tabs appear as the escapes \\n, \\r, \\t.
    return " ".join(text.replace("\\r\\n", "\\n").replace("\\r", "").replace("\\n", " ").replace("\\t", " ").split())


def lint(
    requests: Mapping[str, Any] | Request | Sequence[Mapping[str, Any] | Request],
    *,
    provider: str | None = None,
    model: str | None = None,
    info: ModelInfo | None = None,
    counter: TokenCounter | None = None,
    table: ProviderTable | None = None,
    user_names: Iterable[str] = (),
) -> list[Finding]:
    """Find cache breakers in one request or a series (payload dicts in any supported format, or `Request`s).

    ``provider`` / ``model`` pick the caching rules (inferred from the payload when not given); ``user_names``
    adds names to look for in the stable layers. Findings come in request order, then prefix order.

    >>> from cachepoint.core.prompt.lint import lint
    >>> base = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
    >>> first = {**base, "system": "Be concise.\\nSession: 6f1c2a9e-1b7d-4c3e-9a8f-0d2b4e6a8c1f"}
    >>> second = {**base, "system": "Be concise.\\nSession: 0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"}
    >>> [f.cause for f in lint([first, second]) if f.code == "prefix_divergence"]
    ['uuid']
    """
    series = [requests] if isinstance(requests, (Mapping, Request)) else list(requests)
    findings: list[Finding] = []
    views: list[PrefixView] = []
    single = len(series) == 1
    for n, item in enumerate(series):
        found, view = _lint_one(item, provider, model, info, counter, table, user_names, None if single else n)
        findings.extend(found)
        views.append(view)
    for n in range(1, len(views)):
        found_divergence = _divergence(views[n - 1], views[n], n)
        if found_divergence is not None:
            findings.append(found_divergence)
    findings.sort(
        key=lambda f: (f.request if f.request is not None else -1, f.position if f.position is not None else -1)
    )
    return findings
