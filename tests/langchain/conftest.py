"""Fixtures for the cachepoint-langchain tests (helpers are in tests/langchain_support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cachepoint.core.emulator import Emulator
from cachepoint.core.once import forget


@pytest.fixture
def make_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Emulator]]:
    """Start emulators (keyword arguments go to `Emulator`) with the SDKs' environment pointing at the last one
    (dummy credentials, no real profile); all are closed after the test."""
    started: list[Emulator] = []

    def make(**options: Any) -> Emulator:
        running = Emulator(**options).start()
        started.append(running)
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        return running

    yield make
    for running in started:
        running.close()


@pytest.fixture
def emulator(make_emulator: Callable[..., Emulator]) -> Emulator:
    """A running emulator answering every request with one sentence."""
    return make_emulator(reply="Restart the router.")


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    forget()  # each test sees its own "logged once" warnings
