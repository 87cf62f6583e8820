"""lint: each detector on text spans, the single-request checks, and divergence across a series."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cachepoint.core.prompt import lint
from cachepoint.core.prompt.lint.detectors import scan_text

BASE: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 10,
    "system": "You are the assistant for Acme.",
    "messages": [{"role": "user", "content": "Hi"}],
}


def _with_system(text: str) -> dict[str, Any]:
    return {**BASE, "system": text}


def _codes(findings: list[Any], severity: str | None = None) -> list[str]:
    return [f.code for f in findings if severity is None or f.severity == severity]


@pytest.mark.parametrize(
    ("text", "code", "matched"),
    [
        ("Now: 2026-11-23T10:15:00Z.", "timestamp", "2026-11-23T10:15:00Z"),
        ("At 10:15:07 sharp", "timestamp", "10:15:07"),
        ("epoch 1795432500123", "timestamp", "1795432500123"),
        ("The current time is noon", "timestamp", "current time"),
        ("Today is Monday", "date", "Today is"),
        ("Date: 23 November 2026", "date", "23 November 2026"),
        ("on 11/23/2026", "date", "11/23/2026"),
        ("id=9b2e4c1a-5d3f-4e8b-a7c6-0f1e2d3c4b5a", "uuid", "9b2e4c1a-5d3f-4e8b-a7c6-0f1e2d3c4b5a"),
        ("request req_01HZY3K9Q8W7E6R5T4Y3U2I1O0 done", "request_id", "req_01HZY3K9Q8W7E6R5T4Y3U2I1O0"),
        ("Correlation-ID: abc123def456", "request_id", "Correlation-ID: abc123def456"),
        ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "request_id", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        ("Reply to jane.doe@example.org", "user_data", "jane.doe@example.org"),
        ("You are talking to Priya", "user_data", "You are talking to Priya"),
    ],
)
def test_detectors_find_volatile_values(text: str, code: str, matched: str) -> None:
    found = scan_text(text)
    assert [(m.code, m.text) for m in found] == [(code, matched)]
    assert text[found[0].start : found[0].end] == matched


def test_plain_instructions_are_clean() -> None:
    assert scan_text("You are a careful assistant. Answer in 3 sentences; cite section 4.2 of the manual.") == []


def test_timestamps_in_the_system_prompt_are_warnings_with_a_fix() -> None:
    findings = lint(_with_system("You help Acme customers. Generated at 2026-11-23T10:15:00Z."))
    (finding,) = [f for f in findings if f.code == "timestamp"]
    assert finding.severity == "warning"
    assert finding.path == "system"
    assert "2026-11-23T10:15:00Z" in finding.excerpt
    assert "after the last cache breakpoint" in finding.fix


def test_the_conversation_is_not_scanned_for_volatile_values() -> None:
    payload = copy.deepcopy(BASE)
    payload["messages"][0]["content"] = "It is 2026-11-23T10:15:00Z and my id is 9b2e4c1a-5d3f-4e8b-a7c6-0f1e2d3c4b5a"
    assert not {"timestamp", "uuid"} & set(_codes(lint(payload)))


def test_context_marked_stable_is_scanned() -> None:
    from cachepoint.core.prompt import Request

    payload = copy.deepcopy(BASE)
    payload["messages"][0]["content"] = "Session 9b2e4c1a-5d3f-4e8b-a7c6-0f1e2d3c4b5a. Reference manual follows."
    request = Request.parse(payload).mark_stable(messages=[0])
    assert "uuid" in _codes(lint(request))


def test_user_names_given_by_the_caller_are_found() -> None:
    findings = lint(_with_system("Greet Marguerite warmly."), user_names=["Marguerite"])
    assert [f.code for f in findings if f.severity == "warning"] == ["user_data"]


def test_whitespace_drift_risks_are_reported() -> None:
    findings = lint(_with_system("Rule one.  \r\nRule two.\nRule three."))
    assert {"trailing_whitespace", "crlf", "mixed_line_endings"} <= set(_codes(findings))
    assert next(f for f in findings if f.code == "mixed_line_endings").severity == "warning"


def test_unsorted_tools_are_pointed_out() -> None:
    tools = [{"name": n, "description": "d", "input_schema": {"type": "object"}} for n in ("search", "fetch")]
    findings = lint({**BASE, "tools": tools})
    assert next(f for f in findings if f.code == "unsorted_tools").path == "tools[0]"
    tools.sort(key=lambda t: t["name"])
    assert "unsorted_tools" not in _codes(lint({**BASE, "tools": tools}))


def test_a_stable_prefix_below_the_minimum_warns_when_caching_would_otherwise_pay() -> None:
    payload = copy.deepcopy(BASE)
    payload["messages"][0]["content"] = "word " * 3000
    (finding,) = [f for f in lint(payload) if f.code == "below_minimum"]
    assert finding.severity == "warning"
    assert "1024" in finding.message


def test_too_many_markers_and_bad_ttl_order_are_errors() -> None:
    blocks = [{"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(4)]
    blocks[3]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    payload = {**BASE, "system": blocks, "cache_control": {"type": "ephemeral"}}
    findings = lint(payload)
    assert {"too_many_markers", "ttl_order"} <= set(_codes(findings, "error"))
    assert "marker_below_minimum" in _codes(findings)


def _series(*systems: str) -> list[dict[str, Any]]:
    return [_with_system(s) for s in systems]


@pytest.mark.parametrize(
    ("first", "second", "cause"),
    [
        (
            "Session 3f2a1b4c-0d9e-4f8a-9b7c-1a2b3c4d5e6f. Be brief.",
            "Session 8e7d6c5b-4a39-4281-9f0e-d1c2b3a49586. Be brief.",
            "uuid",
        ),
        ("Be brief.\nRules follow.", "Be brief.\r\nRules follow.", "whitespace"),
        ("Be brief. Generated 2026-11-23T10:15:00Z", "Be brief. Generated 2026-11-23T10:16:00Z", "timestamp"),
        ("Be brief.", "Be thorough.", "content_changed"),
    ],
)
def test_divergence_between_consecutive_requests_is_located_and_explained(first: str, second: str, cause: str) -> None:
    findings = [f for f in lint(_series(first, second)) if f.code == "prefix_divergence"]
    assert len(findings) == 1
    finding = findings[0]
    assert finding.cause == cause
    assert finding.request == 1
    assert finding.path == "system"
    # The byte offset points at the first differing byte of the canonical prefix: {"type":"text","text":"...
    prefix = len('{"type":"text","text":"')
    common = next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)
    if cause != "whitespace":
        assert finding.byte_offset == prefix + common


def test_reordered_tools_are_recognized() -> None:
    tools = [{"name": n, "description": "d", "input_schema": {"type": "object"}} for n in ("a", "b")]
    findings = lint([{**BASE, "tools": tools}, {**BASE, "tools": tools[::-1]}])
    assert [f.cause for f in findings if f.code == "prefix_divergence"] == ["tools_reordered"]


def test_reordered_json_keys_are_recognized() -> None:
    one = {"name": "a", "description": "d", "input_schema": {"type": "object", "properties": {"x": {}, "y": {}}}}
    two = {"name": "a", "description": "d", "input_schema": {"properties": {"x": {}, "y": {}}, "type": "object"}}
    findings = lint([{**BASE, "tools": [one]}, {**BASE, "tools": [two]}])
    assert [f.cause for f in findings if f.code == "prefix_divergence"] == ["keys_reordered"]


def test_a_growing_conversation_does_not_diverge() -> None:
    first = copy.deepcopy(BASE)
    second = copy.deepcopy(BASE)
    second["messages"] += [{"role": "assistant", "content": "Hello"}, {"role": "user", "content": "More"}]
    assert "prefix_divergence" not in _codes(lint([first, second]))


def test_findings_serialize() -> None:
    finding = next(f for f in lint(_with_system("Now 2026-11-23T10:15:00Z")) if f.code == "timestamp")
    data = finding.to_dict()
    assert data["code"] == "timestamp"
    assert data["span"] == [4, 24]
    assert "timestamp" in str(finding)
