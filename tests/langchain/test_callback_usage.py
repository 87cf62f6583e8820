"""Usage of every kind of call reaches the ledger (and OpenTelemetry, and a trace), labelled; nothing breaks a call."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from cachepoint.core.emulator import Emulator
from cachepoint.core.prompt import PlacementContext
from cachepoint.core.usage import UsageLedger
from cachepoint.langchain import CachepointCallbackHandler
from langchain_support import MANUAL, MODELS, RULES, markers, openai


async def ask(model: Any, handler: CachepointCallbackHandler, call: str, question: str) -> None:
    messages = [SystemMessage(MANUAL), HumanMessage(question)]
    config: Any = {"callbacks": [handler]}
    if call.startswith("chain."):  # the model as the last step of an LCEL chain (LangChain streams it chunk by chunk)
        from langchain_core.prompts import ChatPromptTemplate

        chain = ChatPromptTemplate.from_messages([("system", MANUAL), ("human", "{question}")]) | model
        if call == "chain.stream":
            assert list(chain.stream({"question": question}, config=config))
        elif call == "chain.astream":
            assert [chunk async for chunk in chain.astream({"question": question}, config=config)]
        else:
            events = chain.astream_events({"question": question}, config=config, version="v2")
            assert [event async for event in events]
        return
    if call == "invoke":
        model.invoke(messages, config=config)
    elif call == "batch":
        model.batch([messages], config=config)
    elif call == "stream":
        assert list(model.stream(messages, config=config))
    elif call == "ainvoke":
        await model.ainvoke(messages, config=config)
    elif call == "abatch":
        await model.abatch([messages], config=config)
    else:
        assert [chunk async for chunk in model.astream(messages, config=config)]


@pytest.mark.parametrize("provider", sorted(MODELS))
@pytest.mark.parametrize(
    "call",
    [
        "invoke",
        "batch",
        "stream",
        "ainvoke",
        "abatch",
        "astream",
        "chain.stream",
        "chain.astream",
        "chain.astream_events",
    ],
)
async def test_every_call_kind_lands_in_the_ledger_as_the_provider_reported_it(
    emulator: Emulator, provider: str, call: str
) -> None:
    model = MODELS[provider](emulator)
    handler = CachepointCallbackHandler()
    await ask(model, handler, call, "My router blinks red.")
    await ask(model, handler, call, "It is an AX-1.")
    reported = [r.usage for r in emulator.requests]
    stats = handler.ledger.stats()
    assert stats.calls == 2
    assert stats.cache_write_tokens == sum(u.cache_write_tokens for u in reported) > 0
    assert stats.cache_read_tokens == sum(u.cache_read_tokens for u in reported) > 0
    assert stats.input_tokens == sum(u.input_tokens for u in reported)
    assert handler.ledger.stats(provider=RULES[provider]).calls == 2


def test_anthropic_writes_are_not_lost_to_the_usage_metadata_quirk(emulator: Emulator) -> None:
    # ChatAnthropic's usage_metadata reports cache_creation=0 next to the per-TTL split; the ledger must still
    # count every written token, split by TTL as the provider reported it.
    handler = CachepointCallbackHandler()
    answer = MODELS["anthropic"](emulator).invoke(
        [SystemMessage(MANUAL), HumanMessage("Hi")], config={"callbacks": [handler]}
    )
    details = answer.usage_metadata["input_token_details"]
    assert details["ephemeral_1h_input_tokens"] > 0  # the split is reported (and cache_creation zeroed, from 1.4)
    written = emulator.requests[0].usage
    assert written.cache_write_by_ttl["1h"] > 0
    stats = handler.ledger.stats()
    assert stats.cache_write_tokens == written.cache_write_tokens
    assert dict(stats.cache_write_by_ttl) == dict(written.cache_write_by_ttl)


def test_openai_gets_no_markers_and_its_cached_tokens_are_recorded(emulator: Emulator) -> None:
    model = openai(emulator)
    handler = CachepointCallbackHandler()
    for _ in range(2):
        model.invoke([SystemMessage(MANUAL), HumanMessage("Hi")], config={"callbacks": [handler]})
    bodies = [r.body for r in emulator.requests]
    assert all("prompt_cache_key" not in b and "prompt_cache_breakpoint" not in repr(b) for b in bodies)
    second = emulator.requests[1].usage
    assert second.cache_read_tokens > 0
    assert handler.ledger.stats(provider="openai").cache_read_tokens == second.cache_read_tokens


def test_labels_come_from_the_run_and_the_handler(emulator: Emulator) -> None:
    handler = CachepointCallbackHandler(labels={"app": "helpdesk"})
    MODELS["anthropic"](emulator).invoke(
        "Hi",
        config={
            "callbacks": [handler],
            "metadata": {"tenant": "acme", "langgraph_node": "answer", "lc_agent_name": "support"},
            "tags": ["team=routers", "seq:step:1"],
        },
    )
    (row,) = handler.ledger.to_dict()["series"]
    assert dict(row["labels"]) == {
        "app": "helpdesk",
        "team": "routers",
        "tenant": "acme",
        "node": "answer",
        "agent": "support",
        "model": "claude-sonnet-4-6",
        "provider": "anthropic",
    }


def test_an_unknown_model_gets_nothing_inserted_its_usage_recorded_and_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    usage = {"input_tokens": 20, "output_tokens": 2, "total_tokens": 22, "input_token_details": {"cache_read": 16}}
    model = FakeMessagesListChatModel(responses=[AIMessage("ok", usage_metadata=usage)] * 3)
    handler = CachepointCallbackHandler()
    messages = [SystemMessage(MANUAL), HumanMessage("Hi")]
    with caplog.at_level(logging.DEBUG, logger="cachepoint.langchain"):
        for _ in range(3):
            model.invoke(messages, config={"callbacks": [handler]})
    assert messages[0].content == MANUAL
    assert messages[1].content == "Hi"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "nothing is inserted" in warnings[0].getMessage()
    assert handler.ledger.stats().calls == 3
    assert handler.ledger.stats().cache_read_tokens == 48


def test_a_model_that_reports_no_usage_is_not_counted() -> None:
    handler = CachepointCallbackHandler()
    list(GenericFakeChatModel(messages=iter(["hello there"])).stream("Hi", config={"callbacks": [handler]}))
    assert handler.ledger.stats().calls == 0


def test_a_failing_strategy_never_fails_the_call_and_is_logged_once(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(ctx: PlacementContext) -> list[Any]:
        raise RuntimeError("strategy exploded")

    handler = CachepointCallbackHandler(broken)
    model = MODELS["anthropic"](emulator)
    with caplog.at_level(logging.WARNING, logger="cachepoint.langchain"):
        answers = [model.invoke("Hi", config={"callbacks": [handler]}).text for _ in range(3)]
    assert answers == ["Restart the router."] * 3
    assert [markers(r.body) for r in emulator.requests] == [0, 0, 0]
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 1
    assert "strategy exploded" in logged[0]
    assert handler.ledger.stats().calls == 3  # usage is still recorded


async def test_a_failing_recorder_never_fails_an_async_call(emulator: Emulator, tmp_path: Any) -> None:
    handler = CachepointCallbackHandler(recorder=tmp_path / "trace.jsonl")
    assert handler.recorder is not None
    handler.recorder.close()  # every write now fails
    answer = await MODELS["bedrock"](emulator).ainvoke("Hi", config={"callbacks": [handler]})
    assert answer.text == "Restart the router."


def test_otel_puts_the_cache_usage_on_the_current_span(emulator: Emulator) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    handler = CachepointCallbackHandler(otel=True)
    model = MODELS["anthropic"](emulator)
    for question in ("Hi", "Hello"):
        with tracer.start_as_current_span("ask"):
            model.invoke([SystemMessage(MANUAL), HumanMessage(question)], config={"callbacks": [handler]})
    first, second = (dict(s.attributes or {}) for s in exporter.get_finished_spans())
    assert first["gen_ai.usage.cache_creation.input_tokens"] == emulator.requests[0].usage.cache_write_tokens
    assert second["gen_ai.usage.cache_read.input_tokens"] == emulator.requests[1].usage.cache_read_tokens > 0
    assert second["gen_ai.usage.input_tokens"] == emulator.requests[1].usage.input_tokens


def test_a_shared_ledger_gets_every_handler(emulator: Emulator) -> None:
    ledger = UsageLedger()
    model = MODELS["bedrock"](emulator)
    for name in ("a", "b"):
        model.invoke("Hi", config={"callbacks": [CachepointCallbackHandler(ledger=ledger, labels={"who": name})]})
    assert ledger.stats(who="a").calls == ledger.stats(who="b").calls == 1


@pytest.mark.parametrize("stream", [False, True])
def test_chat_openai_on_the_responses_api_gets_its_cache_key_and_its_cached_tokens_recorded(
    monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """``ChatOpenAI(use_responses_api=True)`` (what langchain-openai picks for some models and features) sends
    ``POST /v1/responses``: `with_cache_points` adds the ``prompt_cache_key`` of the static layers there too, and
    the cached tokens the API reports (``input_tokens_details.cached_tokens``) are counted, streamed or not."""
    from langchain_openai import ChatOpenAI

    import responses_server
    from cachepoint.langchain import with_cache_points

    usage = {
        "input_tokens": 3000,
        "output_tokens": 2,
        "total_tokens": 3002,
        "input_tokens_details": {"cached_tokens": 2560},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    monkeypatch.setitem(responses_server.RESPONSE, "usage", usage)
    messages = [SystemMessage(MANUAL), HumanMessage("Where is Acme's head office?")]
    with responses_server.ResponsesServer() as server:
        model = ChatOpenAI(model="gpt-5", base_url=server.base_url, api_key="test-key", use_responses_api=True)
        handler = CachepointCallbackHandler()
        wrapped = with_cache_points(model, ledger=UsageLedger())
        for runnable, config in ((model, {"callbacks": [handler]}), (wrapped, {})):
            if stream:
                assert "".join(str(chunk.text) for chunk in runnable.stream(messages, config=config)) == "Paris."
            else:
                assert runnable.invoke(messages, config=config).text == "Paris."
        plain, placed = server.bodies
    assert "prompt_cache_key" not in plain  # a callback cannot add a call kwarg
    assert placed["prompt_cache_key"].startswith("cp-")
    for ledger in (handler.ledger, wrapped.ledger):
        stats = ledger.stats()
        assert (stats.calls, stats.input_tokens, stats.cache_read_tokens) == (1, 3000, 2560)
