"""The AWS event stream binary format (``application/vnd.amazon.eventstream``), encoding side.

Bedrock's ConverseStream (and InvokeModelWithResponseStream) answer with a sequence of binary messages; boto3
decodes them with botocore's ``EventStreamBuffer``. Each message is: a 12-byte prelude (total length, headers
length, CRC32 of those 8 bytes), the headers, the payload, and a CRC32 of everything before it. A header is a
1-byte name length, the name, a value type (7 = string), a 2-byte value length and the value.

Written by hand because botocore ships only the decoder, and the encoder is twenty lines of ``struct``; the
tests prove it against botocore's decoder through a real boto3 client.

>>> frame = encode_event("messageStart", {"role": "assistant"})
>>> int.from_bytes(frame[:4], "big") == len(frame), frame[-4:] == binascii.crc32(frame[:-4]).to_bytes(4, "big")
(True, True)
"""

from __future__ import annotations

import binascii
import json
import struct
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["encode_event", "encode_events", "encode_message"]

_STRING = 7


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", _STRING, len(raw_value)) + raw_value


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event stream message with string ``headers`` and a raw ``payload``.

    >>> frame = encode_message({":message-type": "event"}, b"{}")
    >>> # prelude: total 12 + headers (1 + 13 + 1 + 2 + 5 = 22) + payload 2 + CRC 4 = 40 bytes, then 22
    >>> int.from_bytes(frame[0:4], "big"), int.from_bytes(frame[4:8], "big")
    (40, 22)
    """
    head = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + head + payload
    return message + struct.pack("!I", binascii.crc32(message) & 0xFFFFFFFF)


def encode_event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An ``event`` message of ``event_type`` with a JSON payload (what ConverseStream sends).

    >>> encode_event("metadata", {"usage": {}})[-6:-4]
    b'}}'
    """
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(payload, separators=(",", ":")).encode())


def encode_events(events: Iterable[tuple[str, Mapping[str, Any]]]) -> bytes:
    """Encode ``[(event_type, payload), ...]`` as one body.

    >>> body = encode_events([("messageStart", {"role": "assistant"}), ("messageStop", {"stopReason": "end_turn"})])
    >>> first = int.from_bytes(body[:4], "big")
    >>> body[:first] == encode_event("messageStart", {"role": "assistant"})
    True
    """
    return b"".join(encode_event(kind, payload) for kind, payload in events)
