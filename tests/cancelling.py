"""Cancel a call the way a server does (a client gone, a deadline): once its request reached the emulator, while it
awaits the answer. Shared by the adapters' tests of what a cancelled call leaves behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from cachepoint.core.emulator import Emulator


async def cancel_once_sent(call: Awaitable[Any], emulator: Emulator, sent: int) -> None:
    """Run ``call`` until the emulator holds more than ``sent`` requests (its own is out), then cancel it; fails
    unless it ends cancelled."""
    task = asyncio.ensure_future(call)
    for _ in range(500):
        if len(emulator.requests) > sent:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
