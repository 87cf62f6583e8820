"""Fixtures for store tests: a hand-driven clock, connection counting, private redis-server processes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

import redis_servers
from ci import unavailable
from redis_servers import RedisServer, free_cluster_port


class FakeClock:
    """A monotonic clock that only moves when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client_name() -> str:
    """A connection name no other test uses, to find this test's connections in CLIENT LIST."""
    return f"cptest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def count_connections(redis_url: str) -> Iterator[Callable[[str], int]]:
    """``count(name)``: how many connections the server currently has with ``CLIENT SETNAME name``."""
    admin = redis.Redis.from_url(redis_url)

    def count(name: str) -> int:
        return sum(1 for c in admin.client_list() if c.get("name") == name)

    yield count
    admin.close()


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisServer]]:
    """A real three-primary Redis Cluster on free ports, slots split evenly (built with CLUSTER ADDSLOTS/MEET)."""
    if not Path(redis_servers.REDIS_SERVER).is_file():
        unavailable(f"{redis_servers.REDIS_SERVER} is not installed (apt-get install redis-server)")
    nodes: list[RedisServer] = []
    try:
        for i in range(3):
            workdir = tmp_path_factory.mktemp(f"cluster{i}")
            node = RedisServer(
                workdir, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", port=free_cluster_port()
            )
            nodes.append(node)
            try:
                node.start()
            except (OSError, RuntimeError) as exc:
                unavailable(f"a cluster node could not start: {exc}")
        ranges = [(0, 5460), (5461, 10922), (10923, 16383)]
        for node, (low, high) in zip(nodes, ranges, strict=False):
            with redis.Redis(port=node.port) as client:
                client.execute_command("CLUSTER", "ADDSLOTS", *range(low, high + 1))  # ADDSLOTSRANGE needs 7.0
                for other in nodes:
                    client.execute_command("CLUSTER", "MEET", "127.0.0.1", other.port)
        deadline = time.monotonic() + 30
        for node in nodes:
            with redis.Redis(port=node.port) as client:
                while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the test cluster did not converge")
                    time.sleep(0.1)
        yield nodes
    finally:
        for node in nodes:
            node.kill()
