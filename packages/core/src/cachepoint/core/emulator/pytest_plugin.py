"""A pytest plugin with an emulator fixture. Opt in from your ``conftest.py`` (top level) or a test module:

    pytest_plugins = ["cachepoint.core.emulator.pytest_plugin"]

Fixtures:

- ``cachepoint_emulator``: a running `Emulator` for the test, closed afterwards. Configure it per test with the
  ``cachepoint_emulator`` marker, whose keyword arguments go to `Emulator`::

      @pytest.mark.cachepoint_emulator(reply="Paris", first_byte_delay=0.2)
      def test_agent(cachepoint_emulator): ...

- ``cachepoint_emulator_env``: the same emulator, with ``ANTHROPIC_BASE_URL``, ``OPENAI_BASE_URL``,
  ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` and dummy credentials set in the environment for the test, so code that
  builds its own SDK clients talks to the emulator without being changed.

>>> callable(cachepoint_emulator)
True
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cachepoint.core.emulator.server import Emulator

__all__ = ["cachepoint_emulator", "cachepoint_emulator_env", "pytest_configure"]

# Variables that would send boto3 to a real profile or credential file instead of the emulator's dummy keys.
_AWS_OVERRIDES = (
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "ANTHROPIC_AUTH_TOKEN",
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``cachepoint_emulator`` marker (pytest calls this when the plugin loads).

    >>> callable(pytest_configure)
    True
    """
    config.addinivalue_line(
        "markers",
        "cachepoint_emulator(**options): keyword arguments for the cachepoint_emulator fixture's Emulator",
    )


@pytest.fixture
def cachepoint_emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A running `Emulator`, configured by the test's ``cachepoint_emulator`` marker if it has one."""
    marker = request.node.get_closest_marker("cachepoint_emulator")
    options = dict(marker.kwargs) if marker is not None else {}
    with Emulator(**options) as emulator:
        yield emulator


@pytest.fixture
def cachepoint_emulator_env(cachepoint_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """`cachepoint_emulator`, with the SDKs' environment variables pointing at it for this test."""
    for name in _AWS_OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    for name, value in cachepoint_emulator.env().items():
        monkeypatch.setenv(name, value)
    return cachepoint_emulator
