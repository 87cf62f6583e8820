"""Block fingerprints tell accidental differences from real edits; the lint detectors name the value that changed."""

from __future__ import annotations

import pytest

from cachepoint.core.analyze.fingerprints import block_print, difference, volatile_cause


def _text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (_text("Policy:\n- refunds within 30 days"), _text("Policy:\r\n- refunds within 30 days"), "whitespace"),
        (_text("Policy: refunds  within 30 days "), _text("Policy: refunds within 30 days"), "whitespace"),
        (
            {"name": "f", "input_schema": {"type": "object", "required": ["a"]}},
            {"input_schema": {"required": ["a"], "type": "object"}, "name": "f"},
            "key_order",
        ),
        (_text("Refunds within 30 days."), _text("Returns within 30 days."), None),
        (_text("Refunds within 30 days."), _text("Refunds within 30 days."), "settings"),
    ],
)
def test_difference(before: dict[str, object], after: dict[str, object], expected: str | None) -> None:
    assert difference(block_print(before), block_print(after)) == expected


@pytest.mark.parametrize(
    ("before", "after", "cause"),
    [
        ("Now: 2026-11-23T10:15:00Z. Be brief.", "Now: 2026-11-23T10:20:31Z. Be brief.", "timestamp"),
        ("Today is November 23, 2026. Be brief.", "Today is November 24, 2026. Be brief.", "date"),
        ("Trace req_8f3a9c2b71d0ee. Be brief.", "Trace req_0a1b2c3d4e5f66. Be brief.", "id"),
        (
            "Session 6f1c2a9e-1b7d-4c3e-9a8f-0d2b4e6a8c1f ok",
            "Session 9a8b7c6d-1b7d-4c3e-9a8f-0d2b4e6a8c1f ok",
            "id",
        ),
        ("You have 3 unread messages.", "You have 4 unread messages.", "value"),
    ],
)
def test_volatile_values_are_named_by_the_lint_detectors(before: str, after: str, cause: str) -> None:
    a, b = block_print(_text(before)), block_print(_text(after))
    assert difference(a, b) == "volatile"
    found, old, new = volatile_cause(a, b)
    assert found == cause
    assert old != new


def test_fingerprints_are_stable_across_processes() -> None:
    # Workers fingerprint blocks in other processes (another PYTHONHASHSEED): the values must not depend on it.
    import subprocess
    import sys

    code = (
        "from cachepoint.core.analyze.fingerprints import block_print;"
        "print(block_print({'type': 'text', 'text': 'Now 10:15:00 and req_8f3a9c2b71d0'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PYTHONHASHSEED": "123"},
    )
    here = block_print(_text("Now 10:15:00 and req_8f3a9c2b71d0"))
    assert done.stdout.strip() == repr(here)
