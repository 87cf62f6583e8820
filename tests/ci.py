"""What a test does when something it needs is missing: skip loudly on a developer's machine, fail under CI.

CI (``CI=true``) must never go green by skipping what it was meant to prove, so every fixture that starts or
reaches a server reports a missing one through `unavailable`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, Protocol, TypeVar

import pytest


def in_ci() -> bool:
    """Whether this run is CI's (``CI`` set to 1/true/yes)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(message: str) -> NoReturn:
    """Fail the test under CI, skip it (with ``message``) elsewhere."""
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(f"SKIPPING: {message}")


class Server(Protocol):
    def start(self) -> None: ...

    def kill(self) -> None: ...


S = TypeVar("S", bound=Server)


@contextmanager
def running(server: S, binary: str, package: str) -> Iterator[S]:
    """``server`` started (or the test skipped / failed under CI, naming the Debian ``package``), killed after."""
    if not Path(binary).is_file():
        unavailable(f"{binary} is not installed (apt-get install {package})")
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        unavailable(f"a private {package} could not start: {exc}")
    try:
        yield server
    finally:
        server.kill()
