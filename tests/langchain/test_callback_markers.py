"""Where the handler puts breakpoints, the provider's limit of four, and the trace it records for the analyzer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from cachepoint.core.emulator import Emulator
from cachepoint.core.prompt import cache_at
from cachepoint.core.traces import read_trace
from cachepoint.langchain import CachepointCallbackHandler, with_cache_points
from langchain_support import CLAUDE_MESSAGES, MANUAL, MODELS, markers, release, support_tools


def history(turns: int) -> list[Any]:
    messages: list[Any] = [SystemMessage(MANUAL)]
    for i in range(turns):
        messages += [HumanMessage(f"Question {i}: " + "details " * 40), AIMessage(f"Answer {i}: " + "steps " * 40)]
    return [*messages, HumanMessage("And now?")]


def test_anthropic_markers_go_on_the_system_prompt_and_the_tail(emulator: Emulator) -> None:
    MODELS["anthropic"](emulator).invoke(history(2), config={"callbacks": [CachepointCallbackHandler()]})
    body = emulator.requests[0].body
    assert body["system"] == [{"type": "text", "text": MANUAL, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    assert body["messages"][-1]["content"] == [
        {"type": "text", "text": "And now?", "cache_control": {"type": "ephemeral"}}
    ]
    assert markers(body) == 2


def test_bedrock_cache_points_follow_the_system_prompt_and_the_tail(emulator: Emulator) -> None:
    MODELS["bedrock"](emulator).invoke(history(2), config={"callbacks": [CachepointCallbackHandler()]})
    body = emulator.requests[0].body
    assert body["system"] == [{"text": MANUAL}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    assert body["messages"][-1]["content"] == [{"text": "And now?"}, {"cachePoint": {"type": "default"}}]


@pytest.mark.parametrize(
    "model",
    [
        "meta.llama3-1-70b-instruct-v1:0",
        "us.deepseek.r1-v1:0",
        "mistral.mistral-large-2407-v1:0",
        "anthropic.claude-3-haiku-20240307-v1:0",
    ],
)
def test_bedrock_models_without_prompt_caching_get_no_cache_point(emulator: Emulator, model: str) -> None:
    # Bedrock answers a cachePoint on a model without prompt caching with an error ("You invoked an unsupported
    # model, or your request did not allow prompt caching"): every call would fail. Long enough a prompt that
    # any minimum is passed, so only the model's support decides.
    from langchain_aws import ChatBedrockConverse

    llm = ChatBedrockConverse(
        model=model,
        endpoint_url=emulator.bedrock_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )
    handler = CachepointCallbackHandler()
    answer = llm.invoke([SystemMessage(MANUAL * 3), HumanMessage("My router blinks red.")], {"callbacks": [handler]})
    assert answer.text
    assert "cachePoint" not in json.dumps(emulator.requests[0].body)
    assert handler.ledger.stats().calls == 1


def test_chat_anthropic_vertex_gets_anthropics_markers_and_its_usage_lands_in_the_ledger(emulator: Emulator) -> None:
    model = MODELS["anthropic_vertex"](emulator)
    handler = CachepointCallbackHandler()
    messages = history(2)
    before = [m.model_copy(deep=True) for m in messages]
    model.invoke(messages, config={"callbacks": [handler]})
    model.invoke(messages, config={"callbacks": [handler]})
    first, second = emulator.requests
    assert (first.protocol, first.status, first.model) == ("vertex", 200, "claude-sonnet-4-6"), first.error
    assert "model" not in first.body
    assert first.body["anthropic_version"]
    # The same positions as ChatAnthropic's: the system prompt (static, 1h) and the tail.
    assert first.body["system"] == [
        {"type": "text", "text": MANUAL, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    assert first.body["messages"][-1]["content"] == [
        {"type": "text", "text": "And now?", "cache_control": {"type": "ephemeral"}}
    ]
    assert markers(first.body) == markers(second.body) == 2
    assert messages == before  # the caller's messages are as they were
    stats = handler.ledger.stats(provider="vertex_ai", model="claude-sonnet-4-6")
    assert stats.calls == 2
    assert stats.cache_write_tokens == first.usage.cache_write_tokens > 1024
    assert stats.cache_read_tokens == second.usage.cache_read_tokens >= first.usage.cache_write_tokens


@pytest.mark.parametrize("status", ["success", "error"])
@pytest.mark.parametrize("provider", CLAUDE_MESSAGES)
def test_a_marked_tool_result_is_read_back_on_the_next_turn(emulator: Emulator, provider: str, status: str) -> None:
    """The tool result at the tail is sent marked as the model itself builds it (ChatAnthropicVertex omits
    ``is_error`` when false, and before langchain-google-vertexai 3.0.1 always: a failed tool's result went out
    marked with ``is_error`` there, and the next turn missed it): the next turn, unmarked there, still reads the
    whole first prefix."""
    model = MODELS[provider](emulator)
    handler = CachepointCallbackHandler()
    call = {"name": "lookup_record_0", "args": {"customer_id": "c-1"}, "id": "toolu_1", "type": "tool_call"}
    turn = [
        *history(1)[:-1],
        HumanMessage("Look up c-1."),
        AIMessage("", tool_calls=[call]),
        ToolMessage("record 0 of c-1: " + "firmware 2.1 " * 60, tool_call_id="toolu_1", status=status),
    ]
    model.invoke(turn, config={"callbacks": [handler]})
    model.invoke([*turn, AIMessage("It runs firmware 2.1."), HumanMessage("Thanks.")], config={"callbacks": [handler]})
    first, second = emulator.requests
    assert first.status == second.status == 200, (first.error, second.error)
    assert "cache_control" in repr(first.body["messages"][-1]["content"])
    assert second.usage.cache_read_tokens == first.usage.cache_read_tokens + first.usage.cache_write_tokens


@pytest.mark.parametrize(
    ("provider", "operation"),
    [
        (p, "invoke_model" if p == "anthropic_bedrock" else "messages")
        for p in CLAUDE_MESSAGES
        if p not in ("anthropic", "anthropic_vertex")
    ],
)
def test_claude_on_bedrock_gets_bedrocks_rules_in_the_messages_format(
    emulator: Emulator, provider: str, operation: str
) -> None:
    MODELS[provider](emulator).invoke(history(2), config={"callbacks": [CachepointCallbackHandler()]})
    call = emulator.requests[0]
    assert (call.status, call.operation) == (200, operation), call.error
    assert call.body["system"] == [
        {"type": "text", "text": MANUAL, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    assert call.body["messages"][-1]["content"] == [
        {"type": "text", "text": "And now?", "cache_control": {"type": "ephemeral"}}
    ]
    if provider == "anthropic_bedrock":  # InvokeModel: the model is in the path, the version in the body
        assert "model" not in call.body
        assert call.body["anthropic_version"]
        assert call.path.startswith("/model/anthropic.claude-sonnet-4-6/invoke")
    assert call.usage.cache_write_tokens > 1024


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_the_handler_never_marks_tools_and_says_why(emulator: Emulator, provider: str) -> None:
    handler = CachepointCallbackHandler(cache_at("tools", "system", -1))
    model = MODELS[provider](emulator).bind_tools(support_tools())
    model.invoke(history(1), config={"callbacks": [handler]})
    body = emulator.requests[0].body
    tools = body.get("tools") or body["toolConfig"]["tools"]
    assert "cache_control" not in repr(tools)
    assert "cachePoint" not in repr(tools)
    assert markers(body) == 2


@pytest.mark.parametrize("provider", CLAUDE_MESSAGES)
def test_never_more_than_four_counting_the_callers_markers_and_the_kwarg(emulator: Emulator, provider: str) -> None:
    # The caller already marked two blocks and asks for automatic caching (one more): one slot is left.
    # (ChatAnthropic sends the kwarg as top-level automatic caching; its Bedrock subclasses put it on the last
    # eligible block themselves.)
    messages = history(3)
    cc = {"type": "ephemeral"}
    messages[1] = HumanMessage([{"type": "text", "text": "Question 0: " + "details " * 40, "cache_control": cc}])
    messages[3] = HumanMessage([{"type": "text", "text": "Question 1: " + "details " * 40, "cache_control": cc}])
    MODELS[provider](emulator).invoke(messages, cache_control=cc, config={"callbacks": [CachepointCallbackHandler()]})
    call = emulator.requests[0]
    assert call.status == 200, call.error  # the emulator rejects a fifth marker as the API does
    assert markers(call.body) == 4  # 2 of the caller's + the kwarg's (top-level or on the tail) + the system's


def test_bedrock_kwarg_cache_points_fill_only_what_is_left(emulator: Emulator) -> None:
    MODELS["bedrock"](emulator).invoke(
        history(3), cache_control={"type": "ephemeral"}, config={"callbacks": [CachepointCallbackHandler()]}
    )
    call = emulator.requests[0]
    assert call.status == 200, call.error
    assert markers(call.body) <= 4


def test_a_callers_own_cache_point_is_counted_and_its_message_left_alone(emulator: Emulator) -> None:
    # LangChain hands callbacks a copy of a message holding a type-less block: the handler cannot reach the
    # caller's object, so it counts the marker there and places its own elsewhere.
    messages = history(1)
    messages[1] = HumanMessage([{"type": "text", "text": "Question 0"}, {"cachePoint": {"type": "default"}}])
    MODELS["bedrock"](emulator).invoke(messages, config={"callbacks": [CachepointCallbackHandler()]})
    body = emulator.requests[0].body
    assert body["messages"][0]["content"] == [{"text": "Question 0"}, {"cachePoint": {"type": "default"}}]
    assert markers(body) == 3
    assert messages[1].content == [{"type": "text", "text": "Question 0"}, {"cachePoint": {"type": "default"}}]


def test_a_recorded_session_is_what_cachepoint_analyze_reads(emulator: Emulator, tmp_path: Path) -> None:
    trace = tmp_path / "session.jsonl"
    handler = CachepointCallbackHandler(recorder=trace)
    model = MODELS["anthropic"](emulator)
    messages: list[Any] = [SystemMessage(MANUAL), HumanMessage("My router blinks red.")]
    for turn in range(4):
        config: Any = {"callbacks": [handler], "metadata": {"thread_id": "ticket-7"}}
        messages += [model.invoke(messages, config=config), HumanMessage(f"Step {turn} did not help.")]
    records = list(read_trace(trace))
    assert [r.session for r in records] == ["ticket-7"] * 4
    assert [r.request["messages"][-1]["content"][-1]["cache_control"] for r in records] == [{"type": "ephemeral"}] * 4
    assert [r.usage["cache_read_input_tokens"] for r in records] == [
        c.usage.cache_read_tokens for c in emulator.requests
    ]
    result = subprocess.run(
        [sys.executable, "-m", "cachepoint.core.cli", "analyze", str(trace), "--json", "--no-progress"],
        capture_output=True,
        text=True,
        check=True,
    )
    observed = json.loads(result.stdout)["observed"]
    assert observed["requests"] == 4
    # The trace holds what was sent: replaying its markers through the cache model predicts what the provider
    # (here the emulator) reported.
    assert observed["observed"]["cached_token_ratio"] > 0.5
    assert observed["predicted"]["cached_token_ratio"] == pytest.approx(observed["observed"]["cached_token_ratio"])


#: A 1x1 PNG: a screenshot's place in a message.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.mark.parametrize("provider", ["anthropic", "bedrock"])
def test_markers_around_images_in_langchains_standard_blocks_are_all_sent(
    emulator: Emulator, provider: str, tmp_path: Path
) -> None:
    """LangChain hands callbacks a copy of a message holding a standard image block (``{"type": "image",
    "base64": ...}``: `_format_for_tracing` converts it to OpenAI's format for tracers): a marker written there
    never reaches the model. Each turn of this conversation sends a screenshot with the customer's question, so
    its tail breakpoint goes on the last message the model does send as the handler sees it (the assistant's
    previous answer), the conversation is read back from the second turn on, and the trace holds exactly the
    markers that were sent."""
    trace = tmp_path / "screens.jsonl"
    handler = CachepointCallbackHandler(recorder=trace)
    model = MODELS[provider](emulator)
    messages: list[Any] = [SystemMessage(MANUAL)]
    for turn in range(3):
        question = f"Screen {turn}: the router's status page. " + "It shows an error code and blinks. " * 60
        screenshot = {"type": "image", "base64": PIXEL, "mime_type": "image/png"}
        messages.append(HumanMessage([{"type": "text", "text": question}, screenshot]))
        messages.append(model.invoke(messages, config={"callbacks": [handler]}))
    sent = [r.body for r in emulator.requests]
    recorded = [r.request for r in read_trace(trace)]
    key = "cache_control" if provider == "anthropic" else "cachePoint"
    assert [json.dumps(r["messages"]).count(key) for r in recorded] == [
        json.dumps(b["messages"]).count(key) for b in sent
    ]
    # From the second turn on, the conversation before the new question carries a marker, and the turn after
    # reads it back: more than the system prompt comes from the cache.
    assert [json.dumps(b["messages"]).count(key) for b in sent][1:] == [1, 1]
    system_read = emulator.requests[1].usage.cache_read_tokens
    assert emulator.requests[2].usage.cache_read_tokens > system_read


@pytest.mark.parametrize("path", ["handler", "with_cache_points"])
@pytest.mark.parametrize(
    ("provider", "model_id"), [("anthropic", "claude-opus-5"), ("anthropic_bedrock", "us.anthropic.claude-fable-5-1")]
)
def test_a_system_message_sent_in_place_leaves_the_system_prompts_breakpoint_where_it_was(
    emulator: Emulator, path: str, provider: str, model_id: str, tmp_path: Path
) -> None:
    """Claude 5 models take a system message in the middle of the conversation (langchain-anthropic sends a
    non-leading `SystemMessage` in place, as a ``system`` turn, when the model's profile sets
    ``mid_conversation_system_messages``): the leading system prompt stays the top-level ``system`` and keeps
    its own breakpoint, and the trace holds the request as it was sent."""
    if provider == "anthropic":
        from langchain_anthropic import ChatAnthropic

        model: Any = ChatAnthropic(model=model_id, base_url=emulator.url, api_key="test-key", max_retries=0)
    else:  # the anthropic SDK's Bedrock client reads ANTHROPIC_BEDROCK_BASE_URL (the emulator: see the fixture)
        from langchain_aws import ChatAnthropicBedrock

        model = ChatAnthropicBedrock(
            model=model_id,
            region_name="us-east-1",
            aws_access_key_id="test-key",
            aws_secret_access_key="test-secret",
            max_retries=0,
        )
    if not (model.profile or {}).get("mid_conversation_system_messages"):
        pytest.skip("this langchain-anthropic hoists every system message into the top-level system field")
    trace = tmp_path / "in-place.jsonl"
    handler = CachepointCallbackHandler(recorder=trace)
    messages: list[Any] = [
        SystemMessage(MANUAL),
        HumanMessage("My router blinks red. " + "It restarts every few minutes. " * 80),
        AIMessage("Hold reset for ten seconds."),
        HumanMessage("Done, still red."),
        SystemMessage("The customer is on the premium plan: offer a replacement."),
    ]
    if path == "handler":
        model.invoke(messages, config={"callbacks": [handler]})
    else:
        with_cache_points(model).invoke(messages)
    body = emulator.requests[-1].body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "system"]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert "cache_control" in json.dumps(body["messages"][-1])  # the tail: the in-place system turn
    if path != "handler":
        return
    (record,) = read_trace(trace)
    assert [m["role"] for m in record.request["messages"]] == ["user", "assistant", "user", "system"]
    assert json.dumps(record.request["system"]).count("cache_control") == 1
    assert json.dumps(record.request["messages"]).count("cache_control") == json.dumps(body["messages"]).count(
        "cache_control"
    )


def test_a_screenshot_after_bedrock_answers_in_langchains_v1_format_does_not_break_the_call(emulator: Emulator) -> None:
    """With ``output_version="v1"`` ChatBedrockConverse's answers hold LangChain's standard blocks, which it converts
    back block by block (each must have a ``type``). A question holding a standard image block is a copy the handler
    cannot write to, so the tail breakpoint goes on the answer before it: written as a bare ``cachePoint`` block
    it made the conversion fail (``KeyError: 'type'``) and the call with it."""
    model = MODELS["bedrock"](emulator, output_version="v1")
    handler = CachepointCallbackHandler()
    messages: list[Any] = [SystemMessage(MANUAL), HumanMessage("My router blinks red.")]
    messages.append(model.invoke(messages, config={"callbacks": [handler]}))
    assert messages[-1].response_metadata["output_version"] == "v1"
    screenshot = {"type": "image", "base64": PIXEL, "mime_type": "image/png"}
    messages.append(HumanMessage([{"type": "text", "text": "Here is the status page."}, screenshot]))
    answer = model.invoke(messages, config={"callbacks": [handler]})
    assert answer.text
    second = emulator.requests[1]
    assert second.status == 200, second.error
    assert second.body["messages"][1]["content"][-1] == {"cachePoint": {"type": "default"}}  # on the answer


def test_an_empty_text_block_is_recorded_where_bedrock_sends_it(emulator: Emulator, tmp_path: Path) -> None:
    """ChatBedrockConverse sends an empty text block as ``{"text": "."}``: the trace counted it out, and recorded
    the question's cache point one block earlier than it was sent."""
    trace = tmp_path / "empty.jsonl"
    question = HumanMessage([{"type": "text", "text": ""}, {"type": "text", "text": "My router blinks red."}])
    MODELS["bedrock"](emulator).invoke(
        [SystemMessage(MANUAL), question], config={"callbacks": [CachepointCallbackHandler(recorder=trace)]}
    )
    sent = emulator.requests[0].body["messages"]
    assert sent[0]["content"] == [{"text": "."}, {"text": "My router blinks red."}, {"cachePoint": {"type": "default"}}]
    (record,) = read_trace(trace)
    assert record.request["messages"] == sent


@pytest.mark.parametrize("provider", ["anthropic", "anthropic_bedrock"])
def test_a_screenshot_after_claude_answers_in_langchains_v1_format_reads_back_the_answer(
    emulator: Emulator, provider: str, tmp_path: Path
) -> None:
    """With ``output_version="v1"`` ChatAnthropic's answers hold LangChain's standard blocks, which it rebuilds as
    Anthropic blocks keeping only their text. A question holding a standard image block is a copy the handler
    cannot write to, so the tail breakpoint goes on the answer before it: written as ``cache_control`` on the
    answer's text block it was dropped on the way (the trace said it was sent; the turn was never cached)."""
    trace = tmp_path / "v1.jsonl"
    model = MODELS[provider](emulator, output_version="v1")
    handler = CachepointCallbackHandler(recorder=trace)
    messages: list[Any] = [SystemMessage(MANUAL), HumanMessage("My router blinks red. " + "It is an AX-1. " * 200)]
    messages.append(model.invoke(messages, config={"callbacks": [handler]}))
    assert messages[-1].response_metadata["output_version"] == "v1"
    screenshot = {"type": "image", "base64": PIXEL, "mime_type": "image/png"}
    messages.append(HumanMessage([{"type": "text", "text": "Here is the status page."}, screenshot]))
    messages.append(model.invoke(messages, config={"callbacks": [handler]}))
    messages.append(HumanMessage("It still blinks."))
    model.invoke(messages, config={"callbacks": [handler]})
    first, second, third = emulator.requests
    assert second.status == third.status == 200, (second.error, third.error)
    assert second.body["messages"][1]["content"][-1]["cache_control"] == {"type": "ephemeral"}  # on the answer
    assert [markers(r.request) for r in read_trace(trace)] == [markers(c.body) for c in (first, second, third)]
    # The next turn reads back all the screenshot's turn wrote: the answer was sent marked as it is sent unmarked.
    assert second.usage.cache_write_tokens > 0
    assert third.usage.cache_read_tokens >= second.usage.cache_read_tokens + second.usage.cache_write_tokens


def test_bedrocks_own_cache_control_kwarg_with_tools_is_left_to_the_model_and_recorded_as_sent(
    emulator: Emulator, tmp_path: Path
) -> None:
    """``cache_control=`` on ChatBedrockConverse (BedrockPromptCachingMiddleware sets it) makes the model append
    its own cache points after the handler ran: on the system prompt, the last message and the tools, where none
    is yet. The tools' 5-minute point then came before the handler's 1-hour one on the system prompt, which
    Bedrock rejects (every call failed), and the trace recorded none of the model's points."""
    trace = tmp_path / "kwarg.jsonl"
    model = MODELS["bedrock"](emulator).bind_tools(support_tools())
    handler = CachepointCallbackHandler(recorder=trace)
    model.invoke(history(2), cache_control={"type": "ephemeral"}, config={"callbacks": [handler]})
    call = emulator.requests[0]
    assert call.status == 200, call.error
    assert call.body["toolConfig"]["tools"][-1] == {"cachePoint": {"type": "default"}}  # the model's own
    (record,) = read_trace(trace)
    # System, last message, tools; and from langchain-aws 1.7 the message before the last (Claude's end of history).
    expected = 4 if release("langchain-aws") >= (1, 7) else 3
    assert markers(record.request) == markers(call.body) == expected


def test_consecutive_questions_to_bedrock_are_recorded_as_the_one_message_sent(
    emulator: Emulator, tmp_path: Path
) -> None:
    """ChatBedrockConverse merges a run of messages of one type (``merge_message_runs``: two questions in a row
    become one text block); the trace kept them as two blocks, so the cache point the model put after the merged
    question (its ``cache_control=`` kwarg) was recorded one block late."""
    trace = tmp_path / "runs.jsonl"
    messages = [SystemMessage(MANUAL), HumanMessage("My router blinks red."), HumanMessage("It is an AX-1.")]
    MODELS["bedrock"](emulator).invoke(
        messages, cache_control={"type": "ephemeral"}, config={"callbacks": [CachepointCallbackHandler(recorder=trace)]}
    )
    sent = emulator.requests[0].body["messages"]
    assert sent == [
        {
            "role": "user",
            "content": [{"text": "My router blinks red.\nIt is an AX-1."}, {"cachePoint": {"type": "default"}}],
        }
    ]
    (record,) = read_trace(trace)
    assert record.request["messages"] == sent


def test_a_tool_call_with_no_text_is_recorded_as_bedrock_receives_it(emulator: Emulator, tmp_path: Path) -> None:
    """ChatBedrockConverse sends an answer that only calls tools (empty content) as its tool calls alone; the trace
    added an empty text block before them, so a cache point after the calls was recorded one block late."""
    trace = tmp_path / "calls.jsonl"
    call = {"name": "lookup_record_0", "args": {"customer_id": "c-1"}, "id": "tooluse_1", "type": "tool_call"}
    messages = [
        SystemMessage(MANUAL),
        HumanMessage("Look up c-1."),
        AIMessage("", tool_calls=[call]),
        ToolMessage("record 0 of c-1: firmware 2.1", tool_call_id="tooluse_1"),
    ]
    model = MODELS["bedrock"](emulator).bind_tools(support_tools(1))
    model.invoke(
        messages, cache_control={"type": "ephemeral"}, config={"callbacks": [CachepointCallbackHandler(recorder=trace)]}
    )
    sent = emulator.requests[0].body["messages"]
    assert sent[1]["content"][0] == {
        "toolUse": {"toolUseId": "tooluse_1", "input": {"customer_id": "c-1"}, "name": "lookup_record_0"}
    }
    (record,) = read_trace(trace)
    assert markers(record.request) == markers(emulator.requests[0].body)
    assert [len(m["content"]) for m in record.request["messages"]] == [len(m["content"]) for m in sent]


def test_a_v1_answer_calling_tools_is_recorded_as_bedrock_receives_it(emulator: Emulator, tmp_path: Path) -> None:
    """An ``output_version="v1"`` answer holds its tool calls as ``tool_call`` blocks, which ChatBedrockConverse
    sends as the calls themselves; the trace carried each as an extra placeholder block, so a cache point after
    the calls was recorded one block late."""
    trace = tmp_path / "v1calls.jsonl"
    call = {"name": "lookup_record_0", "args": {"customer_id": "c-1"}, "id": "tooluse_1", "type": "tool_call"}
    v1 = [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_call", "id": "tooluse_1", "name": call["name"], "args": call["args"]},
    ]
    answer = AIMessage(
        v1, tool_calls=[call], response_metadata={"output_version": "v1", "model_provider": "bedrock_converse"}
    )
    messages = [
        SystemMessage(MANUAL),
        HumanMessage("Look up c-1."),
        answer,
        ToolMessage("firmware 2.1", tool_call_id="tooluse_1"),
    ]
    model = MODELS["bedrock"](emulator).bind_tools(support_tools(1))
    model.invoke(
        messages, cache_control={"type": "ephemeral"}, config={"callbacks": [CachepointCallbackHandler(recorder=trace)]}
    )
    sent = emulator.requests[0].body["messages"]
    (record,) = read_trace(trace)
    assert [len(m["content"]) for m in record.request["messages"]] == [len(m["content"]) for m in sent]
    assert markers(record.request) == markers(emulator.requests[0].body)
