"""Anthropic's top-level automatic ``cache_control`` as the view resolves it.

The provider puts the automatic marker on the last cacheable block. On a block that already carries an explicit
marker with the same TTL it is a no-op (one entry is written there either way): the view flags it ``redundant``.
With a different TTL it is a conflict the provider rejects: not redundant, so the emulator answers 400.
"""

from __future__ import annotations

from typing import Any

import pytest

from cachepoint.core.prompt import ExistingBreakpoint, Request, ViewBuilder
from cachepoint.core.providers import model_info
from cachepoint.core.simulate import SimPrompt, Simulator

INFO = model_info("anthropic", "claude-sonnet-4-5")


def _payload(last_marker: dict[str, Any] | None, automatic: dict[str, Any]) -> dict[str, Any]:
    last: dict[str, Any] = {"type": "text", "text": "And for opened items?"}
    if last_marker is not None:
        last["cache_control"] = last_marker
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8,
        "cache_control": automatic,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Refund window?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Thirty days."}]},
            {"role": "user", "content": [last]},
        ],
    }


@pytest.mark.parametrize(
    ("last_marker", "automatic", "redundant"),
    [
        ({"type": "ephemeral"}, {"type": "ephemeral"}, True),  # both default to 5m
        ({"type": "ephemeral", "ttl": "5m"}, {"type": "ephemeral"}, True),  # 5m spelled out on one side only
        ({"type": "ephemeral", "ttl": "1h"}, {"type": "ephemeral", "ttl": "1h"}, True),
        ({"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}, False),  # 5m marker, 1h automatic: conflict
        (None, {"type": "ephemeral"}, False),  # nothing there: the automatic marker is a breakpoint of its own
    ],
)
def test_automatic_marker_on_a_marked_block(
    last_marker: dict[str, Any] | None, automatic: dict[str, Any], redundant: bool
) -> None:
    payload = _payload(last_marker, automatic)
    view = Request.parse(payload).positions(info=INFO)
    found = [b for b in view.breakpoints if b.source == "automatic"]
    assert found == [ExistingBreakpoint(2, automatic.get("ttl"), "automatic", redundant)]
    assert ViewBuilder().view(payload, info=INFO).breakpoints == view.breakpoints


def test_without_model_rules_the_anthropic_default_ttl_decides() -> None:
    view = Request.parse(_payload({"type": "ephemeral", "ttl": "5m"}, {"type": "ephemeral"})).positions()
    assert [b.redundant for b in view.breakpoints] == [False, True]


def test_a_redundant_automatic_marker_writes_no_second_entry() -> None:
    payload = _payload({"type": "ephemeral"}, {"type": "ephemeral"})
    payload["messages"][0]["content"][0]["text"] = "Refund window? " * 600  # over the 1024-token minimum
    view = Request.parse(payload).positions(info=INFO)
    result = Simulator("anthropic").request(SimPrompt.from_view(view), at=0.0)
    assert [(o.position, o.wrote) for o in result.breakpoints] == [(2, True)]
    assert result.write_tokens == view.total_tokens
