"""The fixtures that start private servers fail under CI when they cannot start, and skip (loudly) elsewhere.

Each case runs a small pytest session in a subprocess with the real fixtures (tests/conftest.py and the stores'
conftest), pointed at server binaries that do not exist.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[2]

INNER = """
import memcached_servers
import redis_servers

redis_servers.REDIS_SERVER = "/nonexistent/redis-server"
memcached_servers.MEMCACHED = "/nonexistent/memcached"


def test_own_redis(redis_server):
    pass


def test_cluster(redis_cluster):
    pass


def test_memcached(memcached_server):
    pass
"""


def run_inner(tmp_path: Path, *, ci: bool) -> str:
    """The inner session's report (``-rA``: one line per test with its outcome)."""
    for helper in ("conftest.py", "ci.py", "redis_servers.py", "memcached_servers.py"):
        shutil.copy(TESTS / helper, tmp_path / helper)
    stores = tmp_path / "stores"
    stores.mkdir()
    shutil.copy(TESTS / "core" / "stores" / "conftest.py", stores / "conftest.py")
    (stores / "test_inner.py").write_text(INNER)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    args = ["-rA", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", os.devnull, "--import-mode=importlib"]
    args += ["-o", f"pythonpath={tmp_path}", "-o", "asyncio_default_fixture_loop_scope=function", str(stores)]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, str]:
    return {ci: run_inner(tmp_path_factory.mktemp(f"ci{ci}"), ci=ci) for ci in (True, False)}


@pytest.mark.parametrize("fixture_test", ["test_own_redis", "test_cluster", "test_memcached"])
def test_under_ci_a_server_that_cannot_start_is_a_failure(reports, fixture_test) -> None:
    lines = [line for line in reports[True].splitlines() if f"test_inner.py::{fixture_test}" in line]
    assert any(line.startswith("ERROR") and "CI=true and" in line for line in lines), reports[True]


@pytest.mark.parametrize("fixture_test", ["test_own_redis", "test_cluster", "test_memcached"])
def test_elsewhere_a_server_that_cannot_start_is_a_loud_skip(reports, fixture_test) -> None:
    out = reports[False]
    assert f"ERROR stores/test_inner.py::{fixture_test}" not in out, out
    assert out.count("SKIPPED") == 3, out
