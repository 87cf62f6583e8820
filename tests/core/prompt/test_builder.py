"""`ViewBuilder` gives exactly the plain path's views, however requests repeat, and stays within its budget.

The reference is ``Request.parse(payload).positions(...)`` on every request; the builder must agree on every
position field (hashes, tokens, lookback, eligibility, paths, markers), on the existing breakpoints, and on the
request itself (equal, and rendering to the same payload), whether a request is new, repeats a prefix of an
earlier one (a session's next turn), differs only by its cache markers, or arrives after the memo evicted things.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachepoint.core.prompt import (
    PrefixView,
    Request,
    RequestFormatError,
    ViewBuilder,
    apply_cache_points,
    auto,
    rolling,
)
from cachepoint.core.prompt.formats import detect_format
from cachepoint.core.providers import model_info
from cachepoint.core.tokens import EstimateCounter

FORMATS = ["anthropic", "bedrock", "openai-chat", "openai-responses"]
PROVIDER = {"anthropic": "anthropic", "bedrock": "bedrock", "openai-chat": "openai", "openai-responses": "openai"}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def as_json(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as a JSON trace holds it (bytes as base64), so the builder's memo path takes it."""
    from cachepoint.core.prompt.formats.base import dumps

    return orjson.loads(dumps(payload))  # type: ignore[no-any-return]


def conversation_key(payload: dict[str, Any]) -> str:
    return "input" if "input" in payload else "messages"


def turns(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload as a session sends it: one request per conversation prefix, each a fresh JSON copy."""
    key = conversation_key(payload)
    items = payload[key]
    if not isinstance(items, list):
        return [as_json(payload)]
    return [as_json({**payload, key: items[:n]}) for n in range(1, len(items) + 1)]


def assert_same_view(got: PrefixView, payload: dict[str, Any], **kwargs: Any) -> None:
    fmt = kwargs.pop("format", None)
    request = Request.parse(payload, format=fmt, provider=kwargs.get("provider"))
    want = request.positions(**kwargs)
    assert got.request == want.request
    assert got.request.render() == want.request.render()
    assert got.positions == want.positions
    assert got.to_dicts() == want.to_dicts()
    assert got.breakpoints == want.breakpoints
    assert got.info == want.info
    assert got.total_tokens == want.total_tokens


# --- the same views as the plain path ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(data=st.data())
def test_every_turn_of_interleaved_sessions_matches_the_plain_path(fmt: str, data: st.DataObject, gen: Any) -> None:
    # Two sessions of the same format, their turns interleaved, through one builder: later turns reuse the
    # earlier turns' positions (after the same prefix), and each must equal what the plain path computes.
    one = turns(data.draw(gen.for_format(fmt)))
    two = turns(data.draw(gen.for_format(fmt)))
    order = data.draw(st.permutations([0] * len(one) + [1] * len(two)))
    queues = [iter(one), iter(two)]
    builder = ViewBuilder(provider=PROVIDER[fmt], counter=EstimateCounter())
    for session in order:
        payload = next(queues[session])
        assert_same_view(builder.view(payload), payload, provider=PROVIDER[fmt], counter=builder.counter)


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(data=st.data())
def test_a_resent_request_is_answered_from_memory_with_the_same_view(fmt: str, data: st.DataObject, gen: Any) -> None:
    payload = as_json(data.draw(gen.for_format(fmt)))
    builder = ViewBuilder(provider=PROVIDER[fmt])
    first = builder.view(payload)
    before = builder.stats
    again = builder.view(copy.deepcopy(payload))
    after = builder.stats
    assert again.positions == first.positions
    assert again.breakpoints == first.breakpoints
    assert_same_view(again, payload, provider=PROVIDER[fmt])
    if after.fallbacks == before.fallbacks:  # (an OpenAI Responses string input goes the plain way)
        assert after.message_misses == before.message_misses, "nothing new: every message position is reused"


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(data=st.data())
def test_moving_the_cache_markers_changes_only_what_the_markers_change(
    fmt: str, data: st.DataObject, gen: Any, markers: Any
) -> None:
    # The same conversation with and without markers: hashes and tokens are equal, markers and breakpoints
    # follow each payload, and the builder agrees with the plain path on both.
    marked = as_json(data.draw(gen.for_format(fmt)))
    bare = markers.strip(fmt, marked)
    builder = ViewBuilder(provider=PROVIDER[fmt])
    with_markers = builder.view(marked)
    without = builder.view(bare)
    assert_same_view(with_markers, marked, provider=PROVIDER[fmt])
    assert_same_view(without, bare, provider=PROVIDER[fmt])
    assert [p.prefix_hash for p in with_markers] == [p.prefix_hash for p in without]


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(data=st.data())
def test_detection_and_parsing_match_the_plain_parser(fmt: str, data: st.DataObject, gen: Any) -> None:
    payload = as_json(data.draw(gen.for_format(fmt)))
    provider = data.draw(st.sampled_from([None, "anthropic", "openai", "bedrock"]))
    builder = ViewBuilder()
    try:
        want: Request | str = Request.parse(payload, provider=provider)
    except RequestFormatError as error:  # a provider hint can make a payload parse as another format, and fail
        want = str(error)
    for _ in range(2):  # cold, then from memory
        if isinstance(want, str):
            with pytest.raises(RequestFormatError) as built:
                builder.parse(payload, provider=provider)
            assert str(built.value) == want
        else:
            got = builder.parse(payload, provider=provider)
            assert got.format == detect_format(payload, provider=provider)
            assert got == want


def test_detection_counts_the_messages_a_later_turn_repeats() -> None:
    # Nothing at the top level says which format this is; the tool call and the tool message (OpenAI Chat, +60
    # and +40) do. Later turns repeat them and add plain user/assistant text that scores nothing, so a builder
    # that forgot the repeated messages' scores would fall back to 'anthropic'.
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    history = [
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "shipped"},
        {"role": "assistant", "content": "It shipped."},
        {"role": "user", "content": "Thanks"},
    ]
    builder = ViewBuilder()
    for n in range(3, len(history) + 1):
        payload = {"model": "some-model", "messages": history[:n]}
        assert detect_format(payload) == "openai-chat"
        assert builder.parse(payload).format == "openai-chat"


def test_one_payload_under_two_models_gets_each_models_eligibility() -> None:
    # Amazon Nova caches no tool definitions. The same payload through one builder, under Nova's rules and under
    # the same rules with tools cacheable (same model id, so the same tools preamble): eligibility must follow
    # each call's rules, never the rules of whichever call came first.
    payload = {
        "modelId": "amazon.nova-pro-v1:0",
        "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]},
        "system": [{"text": "You answer questions about the manual."}],
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}, {"role": "assistant", "content": [{"text": "?"}]}],
    }
    nova_info = model_info("bedrock", "amazon.nova-pro-v1:0")
    everything = replace(nova_info, cacheable=("tools", "system", "messages"))
    no_messages = replace(nova_info, cacheable=("tools", "system"))
    builder = ViewBuilder(provider="bedrock")
    views = {info: builder.view(payload, info=info) for info in (nova_info, everything, no_messages)}
    assert [p.eligible for p in views[nova_info]] == [False, True, True, True]
    assert [p.eligible for p in views[everything]] == [True, True, True, True]
    assert [p.eligible for p in views[no_messages]] == [True, True, False, False]
    for info, view in views.items():
        assert_same_view(view, payload, info=info)


def test_a_tool_choice_change_rehashes_the_conversation_in_the_builder_too() -> None:
    # Anthropic: tool_choice is part of the messages level, so the same conversation under another tool_choice
    # has other message hashes; the builder must not hand back the first one's positions.
    base = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8,
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
    }
    builder = ViewBuilder(provider="anthropic")
    auto_choice = builder.view({**base, "tool_choice": {"type": "auto"}})
    any_choice = builder.view({**base, "tool_choice": {"type": "any"}})
    assert auto_choice[0].prefix_hash == any_choice[0].prefix_hash
    assert auto_choice[1].prefix_hash != any_choice[1].prefix_hash
    assert_same_view(any_choice, {**base, "tool_choice": {"type": "any"}}, provider="anthropic")


def test_an_empty_message_shifts_the_indexes_of_the_messages_after_it() -> None:
    # An empty content list adds no position, so the prefix before the next message is the same with or without
    # it; that message's locator and path must still name its real index.
    first = {"role": "user", "content": [{"type": "text", "text": "Hi"}]}
    second = {"role": "user", "content": [{"type": "text", "text": "Anyone?"}]}
    builder = ViewBuilder(provider="anthropic")
    for messages in ([first, second], [first, {"role": "assistant", "content": []}, second]):
        payload = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": messages}
        view = builder.view(payload)
        assert view[-1].path == f"messages[{len(messages) - 1}].content[0]"
        assert_same_view(view, payload, provider="anthropic")


def test_a_session_turn_reuses_every_earlier_message() -> None:
    # Worked by hand: turn 1 has 1 message, turn 2 resends it and adds 2; the builder computes 1 + 2 message
    # positions in all and reuses 1; turn 3 resends all 3 and adds 1 more.
    base: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "Be brief. " * 50}
    history = [
        {"role": "user", "content": "What is the refund window?"},
        {"role": "assistant", "content": "Thirty days."},
        {"role": "user", "content": "And for opened items?"},
        {"role": "assistant", "content": "Fourteen days."},
    ]
    builder = ViewBuilder(provider="anthropic")
    for n, (hits, misses) in [(1, (0, 1)), (3, (1, 3)), (4, (4, 4))]:
        payload = as_json({**base, "messages": history[:n]})
        assert_same_view(builder.view(payload), payload, provider="anthropic")
        stats = builder.stats
        assert (stats.message_hits, stats.message_misses) == (hits, misses)
    assert builder.stats.shell_misses == 1


# --- bounded memory -----------------------------------------------------------------------------------------------


def _conversation(n: int, fmt: str = "anthropic") -> dict[str, Any]:
    """A small distinct conversation per ``n``, with a marker on a different turn each time."""
    messages: list[dict[str, Any]] = []
    for turn in range(n % 5 + 1):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"question {n}.{turn} " * (turn + 1)}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"answer {turn}"}]})
    messages[(n * 7) % len(messages)]["content"][0]["cache_control"] = {"type": "ephemeral"}
    if fmt == "openai-chat":
        chat = [{"role": m["role"], "content": m["content"][0]["text"]} for m in messages]
        return {"model": "gpt-4.1", "messages": [{"role": "system", "content": f"System {n % 3}"}, *chat]}
    return {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": f"System {n % 3}. " * 40, "messages": messages}


def test_the_memos_stay_within_their_budget_and_results_do_not_change() -> None:
    payloads = [_conversation(n) for n in range(400)]
    builder = ViewBuilder(provider="anthropic", max_entries=256)
    peak = 0
    for payload in payloads * 2:
        assert_same_view(builder.view(payload), payload, provider="anthropic")
        peak = max(peak, builder.stats.entries)
    # 256 entries split between the memos (each keeps at most its share across its two generations).
    assert peak <= 256
    assert builder.stats.evictions > 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), budget=st.integers(256, 1024))
def test_no_stream_of_requests_grows_the_memos_past_their_budget(data: st.DataObject, budget: int, gen: Any) -> None:
    fmt = data.draw(st.sampled_from(FORMATS))
    builder = ViewBuilder(provider=PROVIDER[fmt], max_entries=budget)
    for _ in range(data.draw(st.integers(5, 25))):
        for payload in turns(data.draw(gen.for_format(fmt))):
            assert_same_view(builder.view(payload), payload, provider=PROVIDER[fmt])
            assert builder.stats.entries <= budget


def test_a_byte_budget_alone_bounds_the_memos() -> None:
    big = "Section of the reference manual. " * 400  # ~13 KB per message
    builder = ViewBuilder(provider="anthropic", max_bytes=512 * 1024)
    for n in range(200):
        payload = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": f"{n} {big}"}],
        }
        builder.view(payload)
    # 200 distinct ~13 KB messages would be ~2.6 MB held (more, counted twice: message memo and conversation
    # record); the budget keeps a fraction of them.
    assert builder.stats.entries < 200
    assert builder.stats.evictions > 0


def test_clear_forgets_everything() -> None:
    payload = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]}
    builder = ViewBuilder(provider="openai")
    builder.view(payload)
    assert builder.stats.entries > 0
    builder.clear()
    assert builder.stats.entries == 0
    assert_same_view(builder.view(payload), payload, provider="openai")


def test_budgets_too_small_to_hold_anything_are_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        ViewBuilder(max_entries=16)


# --- the plain way, where the memo cannot be used ------------------------------------------------------------------


def test_payloads_that_are_not_plain_json_take_the_plain_path() -> None:
    # boto3-style Bedrock payloads carry raw bytes: the memo keys JSON, so the builder hands them to the parser.
    payload = {
        "modelId": "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "messages": [
            {
                "role": "user",
                "content": [{"text": "Look"}, {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}],
            }
        ],
    }
    builder = ViewBuilder(provider="bedrock")
    assert_same_view(builder.view(payload), payload, provider="bedrock")
    assert builder.stats.fallbacks == 1


def test_a_request_object_and_a_responses_string_input_take_the_plain_path() -> None:
    builder = ViewBuilder(provider="openai")
    payload = {"model": "gpt-5.6", "input": "Summarize the policy."}
    assert_same_view(builder.view(payload), payload, provider="openai")
    request = Request.parse({"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]})
    assert builder.view(request).positions == request.positions(provider="openai").positions
    assert builder.stats.fallbacks == 2


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "x"}]}]},
            "messages[0].content[0]: unknown block type 'x'",
        ),
        ({"model": "gpt-4.1", "messages": [{"role": "robot", "content": "Hi"}]}, "messages[0]: role must be one of"),
        ({"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": "Hi"}, "messages: expected a list"),
        (
            {"model": "claude-sonnet-4-5", "max_tokens": 8, "tools": [1], "messages": []},
            "tools[0]: expected a tool definition object",
        ),
    ],
)
def test_bad_input_raises_the_plain_parsers_error_every_time(payload: dict[str, Any], message: str) -> None:
    builder = ViewBuilder()
    for _ in range(2):  # a failed parse is not remembered
        with pytest.raises(RequestFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
            builder.view(payload)
    with pytest.raises(RequestFormatError) as plain:
        Request.parse(payload).positions()
    with pytest.raises(RequestFormatError) as built:
        builder.view(payload)
    assert str(built.value) == str(plain.value)


# --- apply_cache_points with a builder ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "provider"),
    [("anthropic", "anthropic"), ("bedrock", "bedrock"), ("openai-chat", "openai"), ("openai-chat", "openrouter")],
)
@SETTINGS
@given(data=st.data())
def test_apply_cache_points_with_a_builder_gives_the_same_payload_and_report(
    fmt: str, provider: str, data: st.DataObject, gen: Any
) -> None:
    payloads = turns(data.draw(gen.for_format(fmt)))
    model = "anthropic/claude-sonnet-4-5" if provider == "openrouter" else None
    strategy = data.draw(st.sampled_from([auto(), rolling(2)]))
    builder = ViewBuilder()
    for payload in payloads:
        want = apply_cache_points(payload, strategy, provider=provider, model=model)
        got = apply_cache_points(payload, strategy, provider=provider, model=model, builder=builder)
        assert got[0] == want[0]
        assert got[1] == want[1]


def test_apply_cache_points_refuses_a_counter_or_leniency_the_builder_does_not_use() -> None:
    payload = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}
    builder = ViewBuilder()
    with pytest.raises(ValueError, match="counter"):
        apply_cache_points(payload, builder=builder, counter=EstimateCounter())
    with pytest.raises(ValueError, match="lenient"):
        apply_cache_points(payload, builder=builder, lenient=True)


# --- sharing ------------------------------------------------------------------------------------------------------


def test_threads_sharing_a_builder_get_the_plain_views() -> None:
    payloads = [_conversation(n, "openai-chat") for n in range(12)]
    builder = ViewBuilder(provider="openai", max_entries=300)
    wanted = [Request.parse(p).positions(provider="openai").positions for p in payloads]
    failures: list[str] = []

    def work(offset: int) -> None:
        for round_ in range(20):
            i = (offset + round_) % len(payloads)
            if builder.view(payloads[i]).positions != wanted[i]:
                failures.append(f"thread {offset} payload {i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures
