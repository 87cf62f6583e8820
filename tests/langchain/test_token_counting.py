"""`with_cache_points(model)` counts tokens as ``model`` does (ChatAnthropic asks Anthropic's count_tokens endpoint,
here the emulator's): ``trim_messages(..., token_counter=model)`` and LangChain's other token budgets work the same
with the wrapper in place of the model."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, trim_messages

from cachepoint.core.emulator import Emulator
from cachepoint.langchain import with_cache_points
from langchain_support import MANUAL, anthropic


def test_the_wrapper_counts_tokens_as_the_wrapped_model_and_trims_the_same(emulator: Emulator) -> None:
    history = [SystemMessage(MANUAL)]
    for turn in range(6):
        history += [HumanMessage(f"Question {turn}: " + "my router blinks red " * 40), AIMessage("Hold reset. " * 30)]
    model, wrapped = anthropic(emulator), with_cache_points(anthropic(emulator))

    assert wrapped.get_num_tokens_from_messages(history) == model.get_num_tokens_from_messages(history) > 1000
    total, system = (model.get_num_tokens_from_messages(m) for m in (history, history[:1]))
    budget = system + (total - system) // 2  # the system prompt and about half the conversation
    options = {"max_tokens": budget, "strategy": "last", "include_system": True, "start_on": "human"}
    trimmed = trim_messages(history, token_counter=wrapped, **options)
    assert trimmed == trim_messages(history, token_counter=model, **options)
    assert trimmed[0] == history[0]
    assert 2 < len(trimmed) < len(history)
    counted = [r for r in emulator.requests if r.path.endswith("/count_tokens")]
    assert counted
    assert all(r.status == 200 for r in counted)
