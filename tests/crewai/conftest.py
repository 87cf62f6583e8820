"""Fixtures for the CrewAI adapter's tests: real CrewAI, real SDK clients, the local emulator, no network.

CrewAI sends anonymous telemetry and may trace to its cloud; both are switched off here, before CrewAI is
imported (the flags CrewAI reads: ``crewai_core.telemetry._is_telemetry_disabled`` and the tracing gate), and its
app-data directory goes to a temporary folder instead of the user's.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.update(
    OTEL_SDK_DISABLED="true",
    CREWAI_DISABLE_TELEMETRY="true",
    CREWAI_DISABLE_TRACKING="true",
    CREWAI_TRACING_ENABLED="false",
    CREWAI_STORAGE_DIR="cachepoint-tests",
    XDG_DATA_HOME=tempfile.mkdtemp(prefix="cachepoint-crewai-"),
)

from cachepoint.core.emulator import Emulator

# Environment that would send boto3 to a real profile or credentials instead of the emulator's dummy keys.
_AWS_OVERRIDES = ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_SESSION_TOKEN")


@pytest.fixture
def emulator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A running emulator (``reply=`` from the test's ``emulator_reply`` marker), with the SDKs' environment
    (Anthropic and OpenAI base URLs, Bedrock's ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, dummy keys) pointing at it."""
    marker = request.node.get_closest_marker("emulator_reply")
    reply = marker.args[0] if marker is not None else "Done."
    with Emulator(reply=reply) as emu:
        for name in _AWS_OVERRIDES:
            monkeypatch.delenv(name, raising=False)
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        yield emu


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emulator_reply(reply): what the emulator fixture answers")


# CrewAI's native Bedrock provider enters its aiobotocore client into an AsyncExitStack it never closes
# (crewai/llms/providers/bedrock/completion.py `_ensure_async_client`, 1.14.5 to 1.15.30; CrewAI has no close
# method), with or without cachepoint: every LLM that served an `acall` under its own `asyncio.run` leaves an
# aiohttp connector, collected whenever the garbage collector next runs, in whatever test runs then. Its
# `BaseConnector.__del__` may then fail on the closed loop ("Event loop is closed"), which the root config turns
# into an error of that unrelated test. Only that exception is let through here; any other stays an error.
_AIOBOTOCORE_LEAK = (
    "ignore:Exception ignored in. <function BaseConnector.__del__:pytest.PytestUnraisableExceptionWarning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.filterwarnings(_AIOBOTOCORE_LEAK))


# --- what the emulator received -------------------------------------------------------------------------------

#: Top-level keys of the request bodies the SDKs send for the calls CrewAI makes (nothing of ours may appear).
ANTHROPIC_KEYS = {
    "model",
    "messages",
    "max_tokens",
    "stream",
    "system",
    "tools",
    "tool_choice",
    "stop_sequences",
    "temperature",
    "top_p",
    "thinking",
    "metadata",
}
BEDROCK_KEYS = {
    "messages",
    "system",
    "toolConfig",
    "inferenceConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "guardrailConfig",
}
OPENAI_KEYS = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "prompt_cache_key",
    "seed",
    "n",
    "response_format",
}


class Wire:
    """What reached the emulator, read the way a provider reads it."""

    @staticmethod
    def breakpoints(call: Any) -> list[tuple[str, str | None]]:
        """(path, ttl) of every cache breakpoint in a recorded request, in prefix order."""
        view = call.request.positions()
        return [(view[b.position].path, b.ttl) for b in view.breakpoints]

    @staticmethod
    def completions(emu: Emulator) -> list[Any]:
        """The model calls the emulator answered (not count_tokens), each checked: accepted by the emulator (which
        rejects what the provider rejects), no keys but the provider's, at most 4 breakpoints."""
        operations = ("messages", "converse", "converse_stream", "chat.completions")
        calls = [r for r in emu.requests if r.operation in operations]
        for call in calls:
            assert call.status == 200, call.error
            allowed = {"anthropic": ANTHROPIC_KEYS, "bedrock": BEDROCK_KEYS, "openai": OPENAI_KEYS}[call.protocol]
            assert set(call.body) <= allowed, set(call.body) - allowed
            assert "cache_points" not in json.dumps(call.body)
            assert len(Wire.breakpoints(call)) <= 4
        return calls


@pytest.fixture
def wire() -> type[Wire]:
    """`Wire`: helpers to read the requests the emulator received."""
    return Wire
