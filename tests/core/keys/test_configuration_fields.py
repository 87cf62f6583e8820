"""`configuration_fields`: two model objects get the same text exactly when the settings that can change an answer
are the same; who calls (credentials, clients) and objects that only name themselves never count."""

from __future__ import annotations

from typing import Any

import pydantic
from hypothesis import given
from hypothesis import strategies as st

from cachepoint.core.keys import configuration_fields


class Client:
    """An SDK client: its repr names the object (a new one per model built)."""


class ChatModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)

    model: str = "claude-sonnet-4-5"
    stop: list[str] | None = None
    betas: list[str] | None = None
    thinking: dict[str, Any] | None = None
    max_tokens: int = 1024
    api_key: pydantic.SecretStr | None = None
    credentials: Any = None
    client: Any = None
    timeout: float | None = None


settings = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["claude-sonnet-4-5", "claude-haiku-4-5"]),
        "stop": st.none() | st.lists(st.text(max_size=5), max_size=2),
        "betas": st.none() | st.lists(st.sampled_from(["context-1m", "files-api"]), max_size=2, unique=True),
        "thinking": st.none() | st.builds(lambda n: {"type": "enabled", "budget_tokens": n}, st.integers(1024, 4096)),
        "max_tokens": st.integers(1, 8192),
    },
)
settings_names = ["model", "stop", "betas", "thinking", "max_tokens"]
who_calls = st.fixed_dictionaries(
    {},
    optional={
        "api_key": st.text(min_size=1, max_size=8).map(pydantic.SecretStr),
        "credentials": st.builds(Client),
        "client": st.builds(Client),
        "timeout": st.floats(1, 60),
    },
)


@given(settings, settings, who_calls, who_calls)
def test_the_same_settings_and_only_they_give_the_same_fields(
    one: dict[str, Any], other: dict[str, Any], caller: dict[str, Any], another: dict[str, Any]
) -> None:
    first, second = ChatModel(**one, **caller), ChatModel(**other, **another)
    same_settings = first.model_dump(include=set(settings_names)) == second.model_dump(include=set(settings_names))
    assert (configuration_fields(first) == configuration_fields(second)) == same_settings


def test_fields_named_to_ignore_are_left_out() -> None:
    ignored = {"ignore": ["max_tokens"]}
    assert configuration_fields(ChatModel(max_tokens=5), **ignored) == configuration_fields(ChatModel(), **ignored)
    assert configuration_fields(ChatModel(max_tokens=5)) != configuration_fields(ChatModel())
