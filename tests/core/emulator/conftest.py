"""Fixtures for the emulator tests: the plugin's own fixtures, and real SDK clients pointed at the emulator.

The clients are the real ``anthropic``, ``openai`` and ``boto3`` packages (sdk group), with retries off so an
expected error surfaces at once. ``simulate`` replays the same payloads through a fresh `Simulator`, the
independent side of "the emulator's numbers are the simulator's numbers".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cachepoint.core.emulator import Emulator
from cachepoint.core.emulator import pytest_plugin as _plugin
from cachepoint.core.simulate import SimResult, Simulator

# The plugin's fixtures and marker hook, as a user's `pytest_plugins = [...]` gets them (a conftest below the
# root may not declare pytest_plugins itself).
cachepoint_emulator = _plugin.cachepoint_emulator
cachepoint_emulator_env = _plugin.cachepoint_emulator_env
pytest_configure = _plugin.pytest_configure

MANUAL = "You answer questions about the X100 router from its manual. " * 200  # ~2.2k tokens by the estimator


@pytest.fixture
def manual() -> str:
    return MANUAL


@pytest.fixture
def anthropic_client(cachepoint_emulator: Emulator) -> Any:
    import anthropic

    return anthropic.Anthropic(base_url=cachepoint_emulator.anthropic_base_url, api_key="key-a", max_retries=0)


@pytest.fixture
def async_anthropic_client(cachepoint_emulator: Emulator) -> Any:
    import anthropic

    return anthropic.AsyncAnthropic(base_url=cachepoint_emulator.anthropic_base_url, api_key="key-a", max_retries=0)


@pytest.fixture
def openai_client(cachepoint_emulator: Emulator) -> Any:
    import openai

    return openai.OpenAI(base_url=cachepoint_emulator.openai_base_url, api_key="key-o", max_retries=0)


@pytest.fixture
def async_openai_client(cachepoint_emulator: Emulator) -> Any:
    import openai

    return openai.AsyncOpenAI(base_url=cachepoint_emulator.openai_base_url, api_key="key-o", max_retries=0)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def bedrock_factory(cachepoint_emulator: Emulator, aws_env: None) -> Callable[[str], Any]:
    """A real boto3 ``bedrock-runtime`` client for an access key id (the tenant); boto3 is sync only."""
    import boto3
    from botocore.config import Config

    def make(access_key: str = "AKIDEMULATOR") -> Any:
        return boto3.client(
            "bedrock-runtime",
            endpoint_url=cachepoint_emulator.bedrock_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key="secret",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    return make


@pytest.fixture
def simulate() -> Callable[..., list[SimResult]]:
    """Replay ``[(payload, at), ...]`` through a fresh simulator: the numbers the emulator must report."""

    def run(
        provider: str, calls: list[tuple[dict[str, Any], float]], *, tenant: str, model: str | None = None
    ) -> list[SimResult]:
        sim = Simulator(provider)
        return [sim.request(payload, at=at, tenant=tenant, model=model) for payload, at in calls]

    return run
