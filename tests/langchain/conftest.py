"""Fixtures for the cachepoint-langchain tests (helpers are in tests/langchain_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cachepoint.core.emulator import Emulator
from cachepoint.core.once import forget


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A running emulator, with the SDKs' environment pointing at it (dummy credentials, no real profile)."""
    with Emulator(reply="Restart the router.") as running:
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        yield running


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    forget()  # each test sees its own "logged once" warnings

