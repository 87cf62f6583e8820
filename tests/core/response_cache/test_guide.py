"""Every code block of ``docs/guides/response-cache.md`` runs as written, in order, against the emulator with the
real SDKs and real Redis.

The guide's blocks share one namespace and may ``await`` at top level (as in a notebook). The SDKs find the
emulator through the environment (`Emulator.env`), as the guide says they read it. Two literals are replaced, so
that the run uses this test's Redis and a key prefix of its own (removed afterwards): the Redis URL and the
``"myapp:"`` prefix.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from cachepoint.core.emulator import Emulator

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "guides" / "response-cache.md"
FENCE = re.compile(r"^```python\n(.*?)^```\n", re.DOTALL | re.MULTILINE)


def _blocks() -> list[tuple[int, str]]:
    text = GUIDE.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start()) + 1, match.group(1)) for match in FENCE.finditer(text)]


def test_the_guide_has_its_blocks() -> None:
    blocks = _blocks()
    assert len(blocks) >= 15
    assert any("claude.messages.stream" in code for _, code in blocks)


async def test_every_code_block_of_the_guide_runs_as_written(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator() as emulator:
        for name, value in emulator.env().items():
            monkeypatch.setenv(name, value)
        namespace: dict[str, Any] = {"__name__": "guide"}
        for line, code in _blocks():
            source = code.replace("redis://localhost:6379/0", redis_url).replace('"myapp:"', repr(redis_prefix))
            compiled = compile(source, f"{GUIDE.name}:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            try:
                result = eval(compiled, namespace)  # the guide's own code, run as a reader runs it
                if inspect.iscoroutine(result):
                    await result
            except Exception as exc:
                raise AssertionError(f"the block at {GUIDE.name}:{line} fails: {exc!r}\n{code}") from exc
        requests = emulator.requests
    # The blocks reached the SDKs' endpoints, and the replays among them did not.
    assert {r.protocol for r in requests} == {"anthropic", "openai"}
    assert all(r.status == 200 for r in requests)
    assert namespace["again"].hit
    assert namespace["final"].content
