"""Real faults for store tests: a closed port, a server that accepts and never answers, a killable redis-server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from redis_servers import free_port


@pytest.fixture
def closed_port_url() -> str:
    """A Redis URL on a port nothing listens on (bound once to find it free, then released)."""
    return f"redis://127.0.0.1:{free_port()}/0"


class BlackHole:
    """A TCP server, on its own thread and loop, that accepts connections and never sends a byte."""

    def __init__(self) -> None:
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="black-hole", daemon=True)
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted += 1
            self._writers.append(writer)
            while await reader.read(65536):  # read and discard whatever the client sends; never answer
                pass

        async def start() -> asyncio.base_events.Server:
            server = await asyncio.start_server(swallow, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            return server

        self._server = self._loop.run_until_complete(start())
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    hole.start()
    yield hole
    hole.stop()
