"""Golden payloads: hand-written expected output of `apply_cache_points` (auto) for each provider.

Each case in ``data/golden_*.json`` holds an input body and the body we expect after placement, written by hand
from the rules (see docs/guides/cache-points.md). ``{"$repeat": [text, n]}`` stands for ``text * n`` (long
prompts, far above the models' minimums); ``"$cache_key"`` stands for the derived ``prompt_cache_key``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cachepoint.core.prompt import apply_cache_points

DATA = Path(__file__).parent / "data"


def _expand(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$repeat"}:
            text, count = value["$repeat"]
            return text * count
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


def _cases() -> list[Any]:
    found = []
    for path in sorted(DATA.glob("golden_*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for case in data["cases"]:
            found.append(pytest.param(data["format"], case, id=f"{path.stem}:{case['name'][:40]}"))
    return found


@pytest.mark.parametrize(("fmt", "case"), _cases())
def test_golden(fmt: str, case: dict[str, Any], sdk: Any) -> None:
    payload = _expand(case["input"])
    expected = _expand(case["expected"])
    out, report = apply_cache_points(payload, provider=case["provider"])
    if expected.get("prompt_cache_key") == "$cache_key":
        assert re.fullmatch(r"cp-[0-9a-f]{24}", out.get("prompt_cache_key", "")), report.explain()
        expected["prompt_cache_key"] = out["prompt_cache_key"]
    assert out == expected, report.explain()
    assert list(out) == list(expected)
    sdk.validate(fmt, expected)
    again, _ = apply_cache_points(out, provider=case["provider"])
    assert again == out
