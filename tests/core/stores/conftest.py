"""Fixtures for store tests: a hand-driven clock, connection counting, private redis-server processes."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A free port whose cluster-bus twin (port + 10000) is free too; Redis requires port <= 55535."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 45_000)
        if _bindable(port) and _bindable(port + 10_000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    """A private ``redis-server`` process on a free port (never the shared server on 6379)."""

    def __init__(self, workdir: Path, *extra: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with redis.Redis(port=self.port, socket_timeout=1) as client:
                    client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server started for this test and killed after it."""
    if not Path(REDIS_SERVER).is_file():
        pytest.skip(f"{REDIS_SERVER} not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisServer]]:
    """A real three-primary Redis Cluster on free ports, slots split evenly (built with CLUSTER ADDSLOTS/MEET)."""
    if not Path(REDIS_SERVER).is_file():
        pytest.skip(f"{REDIS_SERVER} not installed")
    nodes = []
    try:
        for i in range(3):
            workdir = tmp_path_factory.mktemp(f"cluster{i}")
            node = RedisServer(
                workdir, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", port=free_cluster_port()
            )
            node.start()
            nodes.append(node)
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
            node.stop()
