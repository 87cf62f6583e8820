"""Fixtures shared by every package's tests.

Redis: tests that need a server take the ``redis_url`` fixture. When no server answers at ``REDIS_URL``
(default ``redis://127.0.0.1:6379/0``) they skip with a loud reason locally, and fail when ``CI=true``: CI
must never go green by skipping what it was meant to prove (see `ci.unavailable`). The same holds for the
private servers (``redis_server``, ``memcached_server``, the stores' ``redis_cluster``). Each test gets its own
key prefix (``redis_prefix``) and removes only its own keys afterwards; nothing here flushes a database.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

import memcached_servers
import redis_servers
from ci import running, unavailable
from memcached_servers import MemcachedServer
from redis_servers import RedisServer

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TEST_KEY_ROOT = "cptest:"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a reachable Redis server; skips (locally) or fails (CI=true) when there is none."""
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError) as exc:
        unavailable(f"Redis is not reachable at {url} ({exc!r}); start one or set REDIS_URL")
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix owned by this test alone; its keys are deleted (SCAN + UNLINK) afterwards."""
    prefix = f"{TEST_KEY_ROOT}{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        batch = list(client.scan_iter(match=f"{prefix}*", count=500))
        if batch:
            client.unlink(*batch)
    finally:
        client.close()


@pytest.fixture(scope="session")
def check_distribution() -> Callable[[str, str], None]:
    """Assert that a workspace distribution installs as a typed PEP 420 namespace package.

    Returns a function ``check(distribution, module)`` used by each package's packaging test.
    """

    def check(distribution: str, module: str) -> None:
        dist = importlib.metadata.distribution(distribution)
        imported = importlib.import_module(module)
        assert imported.__version__ == dist.version
        # `cachepoint` is a namespace shared by four distributions: none of them may own an __init__.py.
        namespace = importlib.import_module("cachepoint")
        assert getattr(namespace, "__file__", None) is None, "cachepoint/__init__.py must not exist"
        files = {str(f) for f in dist.files or []}
        assert f"{module.replace('.', '/')}/py.typed" in files, f"{distribution} does not ship py.typed"
        assert "cachepoint/__init__.py" not in files
        if distribution != "cachepoint-core":
            requires = [r.split(";")[0].replace(" ", "") for r in dist.requires or []]
            assert any(r.startswith("cachepoint-core") for r in requires), requires
        package_dir = Path(imported.__file__ or "").parent
        assert (package_dir / "py.typed").is_file()

    return check


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """This test's own redis-server (see `redis_servers`), killed afterwards; skips or fails (CI) without one."""
    with running(RedisServer(tmp_path), redis_servers.REDIS_SERVER, "redis-server") as server:
        yield server


@pytest.fixture(scope="session")
def memcached_server() -> Iterator[MemcachedServer]:
    """A private memcached for this test session (tests keep apart by namespace); skips or fails (CI) without one.

    `.ci/run` installs memcached where it is missing.
    """
    with running(MemcachedServer(), memcached_servers.MEMCACHED, "memcached") as server:
        yield server
