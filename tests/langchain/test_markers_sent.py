"""Property: whatever realistic LangChain conversation a caller sends, the markers cachepoint places are the
markers the provider receives.

Conversations are drawn from the message shapes LangChain users send (system prompts as strings or blocks, the
caller's own markers, merged human turns, images and PDFs in every form LangChain takes, empty text, tool calls
and results, thinking blocks, ``output_version="v1"`` answers, the ``cache_control=`` call kwarg), sent through a
real ChatAnthropic, ChatBedrockConverse, ChatAnthropicBedrock or ChatAnthropicVertex to the emulator, with
`CachepointCallbackHandler` or `with_cache_points`. For each call:

1. a request the emulator accepts without cachepoint is accepted with it;
2. the markers cachepoint says it sent (the handler's trace; `with_cache_points`' own plan for the same
   messages) are the markers the emulator received, block for block;
3. never more than four counting markers, and the caller's message objects are as they were (where the model
   itself leaves them so);
4. the next turn of the conversation reads back all the prefix the previous call cached.

``CACHEPOINT_MARKER_EXAMPLES=200`` draws more conversations than CI's 30 per model and path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from cachepoint.core.emulator import Emulator, RecordedRequest
from cachepoint.core.prompt import Request, auto
from cachepoint.core.traces import read_trace
from cachepoint.langchain import CachepointCallbackHandler, with_cache_points
from cachepoint.langchain.placement import place
from cachepoint.langchain.targets import identify_model
from langchain_support import MANUAL, MODELS, RULES, release, support_tools

# Shrinking a failure runs many more conversations than the examples themselves.
pytestmark = pytest.mark.timeout(900)

#: A 1x1 PNG and a one-page PDF: a screenshot's and a document's place in a message.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8PC9Sb290IDEgMCBSPj4KJSVFT0YK"
LONG = "The router's status page shows an error code, the LED blinks red and the WAN port is down. " * 30
MODEL_NAMES = ["anthropic", "bedrock", "anthropic_bedrock", "anthropic_vertex"]
PATHS = ["handler", "with_cache_points"]
CC = {"type": "ephemeral"}
#: langchain-aws before 1.9.1 names a document that has no name anew on every call (``uuid4`` in
#: ``_format_data_content_block``; 1.9.1 derives the name from its bytes, ``_fallback_document_name``): no call reads
#: back what follows one, cachepoint or not, so property 4 is not checked past an unnamed PDF there.
RENAMED_DOCUMENTS = release("langchain-aws") < (1, 9, 1)
POINT = {"cachePoint": {"type": "default"}}

# --- the grammar: plain data (printed on failure), turned into fresh message objects for every call ---

SYSTEMS = ["none", "str", "blocks", "marked_blocks"]
HUMANS = [
    "str",
    "long_str",
    "blocks",
    "marked",
    "empty_text",
    "image_source",
    "image_base64",
    "image_url",
    "image_url_openai",
    "image_data_url",
    "file_pdf",
]
AIS = ["str", "blocks", "tool_calls", "tool_calls_text", "thinking", "v1", "v1_tool_calls"]
TOOLS = ["str", "list", "error", "odd_id"]


@st.composite
def conversations(draw: st.DrawFn, model: str) -> dict[str, Any]:
    """A conversation spec: a system prompt and turns ending in a user turn (or tool results)."""
    ais = [a for a in AIS if model != "bedrock" or a != "thinking"]
    # ChatBedrockConverse takes images as base64 only (it raises on a URL).
    humans = [h for h in HUMANS if model != "bedrock" or h not in ("image_url", "image_url_openai")]
    turns: list[Any] = []
    for _ in range(draw(st.integers(0, 3))):
        turns.append(("human", draw(st.lists(st.sampled_from(humans), min_size=1, max_size=2))))
        ai = draw(st.sampled_from(ais))
        tools = draw(st.lists(st.sampled_from(TOOLS), min_size=1, max_size=2)) if "tool_calls" in ai else []
        turns.append(("ai", ai, tools))
    last = turns[-1] if turns else None
    if last is None or not last[2] or draw(st.booleans()):  # after tool results the user may speak or not
        turns.append(("human", draw(st.lists(st.sampled_from(humans), min_size=1, max_size=2))))
    # The caller's own cache_control= call kwarg (AnthropicPromptCachingMiddleware's, or bind(cache_control=...)).
    return {"system": draw(st.sampled_from(SYSTEMS)), "turns": turns, "kwarg": draw(st.booleans())}


def messages_of(spec: dict[str, Any], model: str) -> list[BaseMessage]:
    """Fresh message objects for ``spec`` (each call builds its own: nothing is shared between runs)."""
    out: list[BaseMessage] = []
    system = spec["system"]
    if system == "str":
        out.append(SystemMessage(MANUAL))
    elif system == "blocks":
        out.append(SystemMessage([{"type": "text", "text": "Acme support."}, {"type": "text", "text": MANUAL}]))
    elif system == "marked_blocks" and model == "bedrock":
        out.append(SystemMessage([{"type": "text", "text": "Acme support."}, {"type": "text", "text": MANUAL}, POINT]))
    elif system == "marked_blocks":
        marked = {"type": "text", "text": MANUAL, "cache_control": CC}
        out.append(SystemMessage([{"type": "text", "text": "Acme support."}, marked]))
    calls = 0
    for n, turn in enumerate(spec["turns"]):
        if turn[0] == "human":
            out.extend(_human(kind, f"Turn {n}.{i}: ", model) for i, kind in enumerate(turn[1]))
            continue
        _, ai, tools = turn
        ids = [f"toolu_{calls + i}" if kind != "odd_id" else f"call:{calls + i}|fc" for i, kind in enumerate(tools)]
        calls += len(tools)
        out.append(_ai(ai, n, ids, model))
        out.extend(_tool(kind, tool_id, n) for kind, tool_id in zip(tools, ids, strict=True))
    return out


def _human(kind: str, text: str, model: str) -> HumanMessage:  # noqa: PLR0911 - one return per shape
    question = text + "My router blinks red. What do I do?"
    if kind == "str":
        return HumanMessage(question)
    if kind == "long_str":
        return HumanMessage(question + " " + LONG)
    if kind == "blocks":
        return HumanMessage([{"type": "text", "text": question}, {"type": "text", "text": LONG}])
    if kind == "marked":  # the caller's own marker, in the form the model takes
        if model == "bedrock":
            return HumanMessage([{"type": "text", "text": question + " " + LONG}, dict(POINT)])
        return HumanMessage([{"type": "text", "text": question + " " + LONG, "cache_control": dict(CC)}])
    if kind == "empty_text":
        return HumanMessage([{"type": "text", "text": ""}, {"type": "text", "text": question}])
    image: dict[str, Any]
    if kind == "image_source":
        image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}
    elif kind == "image_base64":
        image = {"type": "image", "base64": PIXEL, "mime_type": "image/png"}
    elif kind == "image_url":
        image = {"type": "image", "url": "https://example.com/status.png"}
    elif kind == "image_url_openai":
        image = {"type": "image_url", "image_url": {"url": "https://example.com/status.png"}}
    elif kind == "image_data_url":
        image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
    else:
        image = {"type": "file", "base64": PDF, "mime_type": "application/pdf"}
    return HumanMessage([{"type": "text", "text": question}, image])


def _ai(kind: str, n: int, ids: list[str], model: str) -> AIMessage:
    answer = f"Answer {n}: unplug the router for ten seconds, then check the WAN cable."
    calls = [
        {"name": "lookup_record_0", "args": {"customer_id": f"c-{n}"}, "id": tool_id, "type": "tool_call"}
        for tool_id in ids
    ]
    if kind == "str":
        return AIMessage(answer)
    if kind == "blocks":
        return AIMessage([{"type": "text", "text": answer}])
    if kind == "tool_calls":
        return AIMessage("", tool_calls=calls)
    if kind == "tool_calls_text":
        uses = [{"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["args"]} for c in calls]
        return AIMessage([{"type": "text", "text": "Let me look that up."}, *uses], tool_calls=calls)
    if kind == "thinking":
        thinking = {"type": "thinking", "thinking": "The user needs a reset.", "signature": "c2lnbmF0dXJl"}
        content = [thinking, {"type": "text", "text": answer}]
        return AIMessage(content, response_metadata={"model_provider": "anthropic"})
    v1: list[Any] = [{"type": "text", "text": answer}]
    if kind == "v1_tool_calls":
        v1 += [{"type": "tool_call", "id": c["id"], "name": c["name"], "args": c["args"]} for c in calls]
    provider = "bedrock_converse" if model == "bedrock" else "anthropic"
    metadata = {"output_version": "v1", "model_provider": provider}
    return AIMessage(v1, tool_calls=calls if kind == "v1_tool_calls" else [], response_metadata=metadata)


def _tool(kind: str, tool_id: str, n: int) -> ToolMessage:
    result = f"record 0 of c-{n}: firmware 2.1, last reboot yesterday. " * 20
    if kind == "list":
        return ToolMessage([{"type": "text", "text": result}], tool_call_id=tool_id)
    if kind == "error":
        return ToolMessage("lookup failed: the record service timed out", tool_call_id=tool_id, status="error")
    return ToolMessage(result, tool_call_id=tool_id)


# --- what was sent, what was claimed ---


def marker_places(request: Request, provider: str) -> list[tuple[Any, ...]]:
    """Every counting breakpoint of a parsed request as the provider resolves it: (section, message, block, ttl) of
    explicit markers, markers nested in a block (an Anthropic tool result's inner blocks, counted at the block)
    and Anthropic's top-level automatic ``cache_control`` (at the last block it can go on). An automatic one on a
    block already marked alike is no breakpoint of its own. (Not the block's kind: the rebuilt request carries a
    Bedrock image or document as a placeholder text block of its own.)"""
    view = request.positions(provider=provider, model=request.params.get("model") or request.params.get("modelId"))
    found = []
    for b in view.breakpoints:
        if b.source == "implicit" or b.redundant:
            continue
        loc = view[b.position].locator
        found.append((loc.section, loc.message, loc.index, b.ttl))
    return sorted(found, key=repr)


def layout(request: Request) -> list[Any]:
    """Block kinds per section and message (to see where two requests stop lining up)."""
    return [
        [b.kind for b in request.system],
        *[(m.role, [b.kind for b in m.blocks]) for m in request.messages],
    ]


def parsed(body: Any, fmt: str) -> Request:
    return Request.parse(body, format=fmt, lenient=True)


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    """One emulator for every example of a test (``reset`` between runs); the SDKs' environment points at it."""
    with pytest.MonkeyPatch.context() as mp:
        running = Emulator(reply="Restart the router.").start()
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_SESSION_TOKEN"):
            mp.delenv(name, raising=False)
        for name, value in running.env().items():
            mp.setenv(name, value)
        yield running
        running.close()
        for key in [k for k in _MODELS if k[0] == id(running)]:
            del _MODELS[key]


_MODELS: dict[tuple[int, str], Any] = {}


def _model(emulator: Emulator, name: str) -> Any:
    """The chat model ``name`` with one support tool bound, built once per emulator (building one costs more
    than the calls of an example)."""
    key = (id(emulator), name)
    if key not in _MODELS:
        _MODELS[key] = MODELS[name](emulator).bind_tools(support_tools(1))
    return _MODELS[key]


def _send(emulator: Emulator, call: Callable[[], Any]) -> tuple[RecordedRequest | None, Any, BaseException | None]:
    """Make one call; the request the emulator recorded for it (``None``: none reached it), the answer, the error."""
    seen = len(emulator.requests)
    try:
        answer, error = call(), None
    except Exception as exc:  # a rejected request (the SDK raises) or one the model could not build
        answer, error = None, exc
    calls = emulator.requests[seen:]
    assert len(calls) <= 1, [c.path for c in calls]
    return (calls[0] if calls else None), answer, error


def check_conversation(emulator: Emulator, model_name: str, path: str, spec: dict[str, Any], tmp: Path) -> None:
    note(json.dumps(spec))
    model = _model(emulator, model_name)
    fmt = "bedrock" if model_name == "bedrock" else "anthropic"
    rules = "bedrock" if RULES[model_name] == "bedrock" else "anthropic"  # Vertex AI: Anthropic's rules
    kwargs = {"cache_control": dict(CC)} if spec.get("kwarg") else {}
    trace = tmp / f"trace-{len(list(tmp.iterdir()))}.jsonl"
    handler = CachepointCallbackHandler(recorder=trace)
    wrapped = with_cache_points(model)

    def cached_call(messages: list[BaseMessage]) -> Any:
        if path == "handler":
            return model.invoke(messages, config={"callbacks": [handler]}, **kwargs)
        return wrapped.invoke(messages, **kwargs)

    messages = messages_of(spec, model_name)
    renamed = (
        RENAMED_DOCUMENTS
        and model_name == "bedrock"
        and any("file_pdf" in t[1] for t in spec["turns"] if t[0] == "human")
    )
    emulator.reset()  # no cache entries from other examples
    previous: RecordedRequest | None = None
    answer: Any = None
    for turn in range(2):
        if turn:
            messages = [*messages, answer, HumanMessage(f"Turn {turn}: it still blinks. " + LONG)]
        # Without cachepoint first: only a request the provider takes says anything about cachepoint.
        plain = [m.model_copy(deep=True) for m in messages]
        untouched = [m.model_copy(deep=True) for m in plain]
        bare, _, failure = _send(emulator, lambda plain=plain: model.invoke(plain, **kwargs))  # type: ignore[misc]
        if bare is None or bare.status != 200:
            note(f"turn {turn}: not sent without cachepoint either ({bare and bare.error})")
            event(f"rejected without cachepoint: {bare.error if bare else repr(failure)}"[:150])
            return
        bare_body = bare.body
        before = [m.model_copy(deep=True) for m in messages]
        recorded_lines = len(read_trace(trace)) if trace.exists() else 0
        expected = None
        if path == "with_cache_points":
            expected = _planned(model, [m.model_copy(deep=True) for m in messages], kwargs)
        sent, answer, error = _send(emulator, lambda messages=messages: cached_call(messages))  # type: ignore[misc]
        # 1. a valid request stays valid
        assert sent is not None, f"turn {turn}: nothing reached the emulator with cachepoint ({error!r})"
        assert sent.status == 200, f"turn {turn}: rejected with cachepoint: {sent.error} (without: accepted)"
        assert error is None, error
        assert sent.request is not None
        got = marker_places(sent.request, rules)
        event(f"turn {turn}: {len(got)} markers sent")
        # 3. four at most, and the caller's messages untouched
        assert len(got) <= 4, got
        # (ChatAnthropicBedrock writes its own cache_control kwarg into the caller's blocks with no cachepoint at all:
        # only what the model leaves alone on its own is cachepoint's to leave alone.)
        if plain == untouched:
            assert messages == before, "the caller's messages changed"
        else:
            event("the model itself changes the caller's messages")
        # 2. claimed == sent
        if path == "handler":
            lines = read_trace(trace)
            assert len(lines) == recorded_lines + 1
            claimed_request = parsed(lines[-1].request, fmt)
        else:
            claimed_request = expected
        assert claimed_request is not None
        claimed = marker_places(claimed_request, rules)
        assert claimed == got, (
            f"turn {turn}: markers claimed {claimed} != sent {got}\n"
            f"claimed layout {layout(claimed_request)}\nsent layout    {layout(sent.request)}\n"
            f"sent without cachepoint: {json.dumps(bare_body)[:3000]}"
        )
        # 4. the conversation reads back what its previous turn wrote
        if renamed:
            event("read back not checked: this langchain-aws renames an unnamed PDF on every call")
        elif previous is not None and previous.usage is not None and sent.usage is not None:
            wrote = previous.usage.cache_write_tokens + previous.usage.cache_read_tokens
            event("read back checked" if wrote else "nothing cached to read back")
            if wrote:
                assert sent.usage.cache_read_tokens >= wrote, (
                    f"turn {turn}: read {sent.usage.cache_read_tokens} of the {wrote} tokens the previous turn cached"
                )
        previous = sent


def _planned(model: Any, messages: list[BaseMessage], kwargs: dict[str, Any]) -> Request:
    """The request `with_cache_points` plans for ``messages`` (placed afresh, on copies), markers included."""
    inner, bound = with_cache_points(model)._unwrapped()
    bound = {**bound, **kwargs}
    target = identify_model(inner)
    assert target is not None
    system = (getattr(inner, "system", None) or ()) if target.kind == "bedrock" else ()
    placement = place(
        target, messages, auto(), tools=bound.get("tools") or [], kwargs=bound, tools_writable=True, system=system
    )
    return placement.request()


SETTINGS = settings(
    # 30 conversations per model and path in CI (reproducible: derandomized); more to hunt locally.
    max_examples=int(os.environ.get("CACHEPOINT_MARKER_EXAMPLES", "30")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("model_name", MODEL_NAMES)
@SETTINGS
@given(data=st.data())
def test_the_markers_cachepoint_claims_are_the_markers_sent(
    shared_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory, model_name: str, path: str, data: Any
) -> None:
    spec = data.draw(conversations(model_name), label="conversation")
    check_conversation(shared_emulator, model_name, path, spec, tmp_path_factory.mktemp("traces"))
