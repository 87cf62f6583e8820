"""Detectors of cache breakers in a span of text: timestamps, dates, UUIDs, request ids, user data, whitespace.

Each detector takes a string and returns `TextMatch`es (code, character span, the matched text). They know
nothing about requests, so the analyzer can run them on the bytes around a prefix divergence to say *why* two
prompts differ.

>>> [(m.code, m.text) for m in scan_text("Now: 2026-11-23T10:15:00Z, request req_8f3a9c2b71d0")]
[('timestamp', '2026-11-23T10:15:00Z'), ('request_id', 'req_8f3a9c2b71d0')]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "DETECTORS",
    "TextMatch",
    "find_dates",
    "find_line_endings",
    "find_request_ids",
    "find_timestamps",
    "find_trailing_whitespace",
    "find_user_data",
    "find_uuids",
    "scan_text",
]


@dataclass(frozen=True)
class TextMatch:
    """A suspicious span: ``code`` (``timestamp``, ``date``, ``uuid``, ``request_id``, ``user_data``,
    ``trailing_whitespace``, ``crlf``, ``mixed_line_endings``), ``start``/``end`` character offsets, the text."""

    code: str
    start: int
    end: int
    text: str


_TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\b(?:[01]?\d|2[0-3]):[0-5]\d:[0-5]\d\b"  # a clock time with seconds
    r"|\b1[6-9]\d{8}(?:\d{3})?\b"  # Unix epoch seconds / milliseconds (2020s-2030s)
    r"|\b(?:current (?:date and )?time|the time is|time now)\b",
    re.IGNORECASE,
)
_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b"
    r"|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
    rf"|\b{_MONTHS}\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)? {_MONTHS},? \d{{4}}\b"
    r"|\btoday is\b",
    re.IGNORECASE,
)
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
_REQUEST_ID = re.compile(
    r"\b(?:req|request|trace|span|session|sess|msg|run|chatcmpl|resp|call|toolu|conv|evt)[_-][A-Za-z0-9]{8,}\b"
    r"|\b(?:request|trace|session|correlation|conversation)[ _-]?id\s*[:=]\s*[\"']?[\w-]{6,}"
    r"|\b[0-9A-HJKMNP-TV-Z]{26}\b"  # ULID
    r"|\b[0-9a-f]{32,64}\b",  # a hex digest or token
    re.IGNORECASE,
)
_USER_DATA = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail address
    r"|\b(?i:user(?:name)?|customer|client|account)(?i: name)?\s*[:=]\s*[\"']?[A-Z][\w'-]+"
    r"|\b(?i:my|the user's|the customer's) name is [A-Z][\w'-]+"
    r"|\b(?i:you are (?:talking|speaking|chatting) (?:to|with)) [A-Z][\w'-]+",
)
_TRAILING = re.compile(r"[ \t]+(?=\r?\n|$)")


def _find(pattern: re.Pattern[str], code: str, text: str) -> list[TextMatch]:
    return [TextMatch(code, m.start(), m.end(), m.group()) for m in pattern.finditer(text)]


def find_timestamps(text: str) -> list[TextMatch]:
    """ISO timestamps, clock times with seconds, Unix epochs, "current time" phrases.

    >>> [m.text for m in find_timestamps("Generated at 2026-11-23 10:15:00+01:00 (epoch 1795432500)")]
    ['2026-11-23 10:15:00+01:00', '1795432500']
    """
    return _find(_TIMESTAMP, "timestamp", text)


def find_dates(text: str) -> list[TextMatch]:
    """Calendar dates (``2026-11-23``, ``11/23/2026``, ``November 23, 2026``) and "today is".

    >>> [m.text for m in find_dates("Today is November 23, 2026.")]
    ['Today is', 'November 23, 2026']
    """
    return _find(_DATE, "date", text)


def find_uuids(text: str) -> list[TextMatch]:
    """UUIDs of any version.

    >>> [m.code for m in find_uuids("id 123e4567-e89b-12d3-a456-426614174000")]
    ['uuid']
    """
    return _find(_UUID, "uuid", text)


def find_request_ids(text: str) -> list[TextMatch]:
    """Request, trace and session ids (``req_...``, ``trace_id=...``), ULIDs, long hex tokens.

    >>> [m.text for m in find_request_ids("trace_id: 4bf92f3577b34da6")]
    ['trace_id: 4bf92f3577b34da6']
    """
    return _find(_REQUEST_ID, "request_id", text)


def find_user_data(text: str, names: Iterable[str] = ()) -> list[TextMatch]:
    """Per-user data: e-mail addresses, "user: Alice", "my name is Alice", and any of ``names`` given.

    >>> [m.text for m in find_user_data("Customer: Alice <alice@example.com>")]
    ['Customer: Alice', 'alice@example.com']
    """
    found = _find(_USER_DATA, "user_data", text)
    for name in names:
        if name:
            found += [
                TextMatch("user_data", m.start(), m.end(), m.group())
                for m in re.finditer(rf"\b{re.escape(name)}\b", text)
            ]
    return sorted(found, key=lambda m: m.start)


def find_trailing_whitespace(text: str) -> list[TextMatch]:
    """Spaces or tabs at the end of a line (they drift when templates are edited or re-rendered).

    >>> [(m.start, m.end) for m in find_trailing_whitespace("a  \\nb")]
    [(1, 3)]
    """
    return [m for m in _find(_TRAILING, "trailing_whitespace", text) if m.end > m.start]


def find_line_endings(text: str) -> list[TextMatch]:
    """Windows line endings (``crlf``), and ``mixed_line_endings`` when CRLF and LF both occur.

    >>> [m.code for m in find_line_endings("a\\r\\nb\\nc")]
    ['crlf', 'mixed_line_endings']
    """
    crlf = [TextMatch("crlf", m.start(), m.end(), m.group()) for m in re.finditer(r"\r\n", text)]
    if not crlf:
        return []
    found = [crlf[0]]
    lone = re.search(r"(?<!\r)\n", text)
    if lone:
        found.append(TextMatch("mixed_line_endings", lone.start(), lone.end(), lone.group()))
    return found


#: Every detector by the code it reports.
DETECTORS: dict[str, Callable[[str], list[TextMatch]]] = {
    "timestamp": find_timestamps,
    "date": find_dates,
    "uuid": find_uuids,
    "request_id": find_request_ids,
    "user_data": find_user_data,
    "trailing_whitespace": find_trailing_whitespace,
    "line_endings": find_line_endings,
}


def scan_text(text: str, *, codes: Sequence[str] | None = None, names: Iterable[str] = ()) -> list[TextMatch]:
    """Run the detectors (all, or those in ``codes``) over ``text``; overlapping matches keep the first
    detector's (timestamps before dates, UUIDs before request ids).

    >>> [m.code for m in scan_text("user: Bob, session 3f2a1b4c-0d9e-4f8a-9b7c-1a2b3c4d5e6f")]
    ['user_data', 'uuid']
    """
    found: list[TextMatch] = []
    taken: list[tuple[int, int]] = []
    for code, detector in DETECTORS.items():
        if codes is not None and code not in codes:
            continue
        matches = find_user_data(text, names) if code == "user_data" else detector(text)
        for match in matches:
            if any(match.start < end and start < match.end for start, end in taken):
                continue
            found.append(match)
            taken.append((match.start, match.end))
    return sorted(found, key=lambda m: m.start)
