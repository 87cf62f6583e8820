"""The codec: every carried value round-trips, and every bad input is a distinct, counted outcome (never code)."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachepoint.core.codec import MAX_DEPTH, Codec, DecodeError, DecodeOutcome, EncodeError, Encoding, Verified

KEY_A = b"A" * 32
KEY_B = b"B" * 32

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.binary()
)
# Dict keys include the JSON encoding's reserved key, so the escaping is exercised, not just the happy path.
dict_keys = st.text() | st.sampled_from(["$cp", "v", "bytes", "float", "dict"])
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(dict_keys, children, max_size=5)
    ),
    max_leaves=30,
)


def strict(value: Any) -> Any:  # noqa: PLR0911
    """A comparable image of ``value`` as the codec should give it back: tuples as lists, bytes-likes as bytes,
    and types kept apart (1, 1.0 and True differ; -0.0 is not 0.0; NaN equals NaN)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else struct.pack(">d", value))
    if isinstance(value, (list, tuple)):
        return ("list", [strict(v) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: strict(v) for k, v in value.items()})
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("bytes", bytes(value))
    return ("str", str(value))


CODECS = {
    "json": Codec(encoding="json"),
    "msgpack": Codec(encoding="msgpack"),
    "json-signed": Codec(encoding="json", signing_keys=KEY_A),
    "msgpack-signed": Codec(encoding="msgpack", signing_keys=[KEY_A]),
}


@pytest.mark.parametrize("name", sorted(CODECS))
@given(value=values)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_every_carried_value_round_trips(name: str, value: Any) -> None:
    codec = CODECS[name]
    decoded = codec.decode(codec.encode(value, context=b"ctx"), context=b"ctx")
    assert strict(decoded) == strict(value), (value, decoded)


@pytest.mark.parametrize("name", sorted(CODECS))
@given(value=values, data=st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_single_byte_corruption_is_detected(name: str, value: Any, data: st.DataObject) -> None:
    codec = CODECS[name]
    envelope = bytearray(codec.encode(value))
    position = data.draw(st.integers(0, len(envelope) - 1), label="position")
    envelope[position] ^= data.draw(st.integers(1, 255), label="xor")
    result = codec.try_decode(bytes(envelope))
    assert result.outcome is not DecodeOutcome.OK, (position, result)


@given(value=values, data=st.data())
@settings(max_examples=100)
def test_every_proper_prefix_is_truncated(value: Any, data: st.DataObject) -> None:
    envelope = CODECS["msgpack-signed"].encode(value)
    cut = data.draw(st.integers(0, len(envelope) - 1))
    assert CODECS["msgpack-signed"].try_decode(envelope[:cut]).outcome is DecodeOutcome.TRUNCATED


def test_layout_of_an_unsigned_json_envelope_matches_the_documented_format() -> None:
    # Worked out from the layout table in the module docstring, not from the encoder.
    payload = b'{"a":1}'
    header = b"CPE" + bytes([1, 1, 0]) + len(payload).to_bytes(4, "big")
    expected = header + zlib.crc32(header + payload).to_bytes(4, "big") + payload
    assert Codec(encoding="json").encode({"a": 1}) == expected


def test_signed_envelope_carries_a_32_byte_mac_and_the_signed_flag() -> None:
    data = Codec(encoding="msgpack", signing_keys=KEY_A).encode("x")
    assert data[:6] == b"CPE" + bytes([1, 2, 1])
    assert int.from_bytes(data[6:10], "big") == len(msgpack.packb("x"))
    assert data[42:] == msgpack.packb("x")


def test_pickle_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    # A hand-written protocol-2 pickle that would run posix.system("touch <marker>") if anyone unpickled it.
    evil = b"\x80\x02cposix\nsystem\n(X" + len(f"touch {marker}").to_bytes(4, "little") + f"touch {marker}".encode()
    evil += b"tR."
    codec = Codec()
    result = codec.try_decode(evil)
    assert result.outcome is DecodeOutcome.PICKLE
    assert not marker.exists()
    # pickle.dumps({"a": 1}, protocol=4), written out by hand
    assert (
        codec.try_decode(b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.").outcome == "pickle"
    )


def test_each_bad_input_is_its_own_outcome_and_is_counted() -> None:
    signed = Codec(signing_keys=KEY_A)
    good = signed.encode({"answer": 42})
    unsigned = Codec(require_signature=False).encode({"answer": 42})
    wrong_version = good[:3] + b"\x02" + good[4:]
    wrong_encoding = good[:4] + b"\x09" + good[5:]
    cases = {
        b"hello world": DecodeOutcome.NOT_ENVELOPE,
        b"": DecodeOutcome.TRUNCATED,
        good[:-1]: DecodeOutcome.TRUNCATED,
        good + b"x": DecodeOutcome.CORRUPT,
        b"\x80\x05junk": DecodeOutcome.PICKLE,
        wrong_version: DecodeOutcome.UNKNOWN_VERSION,
        wrong_encoding: DecodeOutcome.UNKNOWN_ENCODING,
        unsigned: DecodeOutcome.UNSIGNED,
        Codec(signing_keys=KEY_B).encode({"answer": 42}): DecodeOutcome.BAD_SIGNATURE,
        good: DecodeOutcome.OK,
    }
    for data, outcome in cases.items():
        assert signed.try_decode(data).outcome is outcome, data
    expected = dict.fromkeys((o.value for o in DecodeOutcome), 0)
    for outcome in cases.values():
        expected[outcome.value] += 1
    assert signed.counts == expected


def test_decode_raises_with_the_outcome_and_try_decode_never_raises() -> None:
    codec = Codec()
    with pytest.raises(DecodeError) as info:
        codec.decode(b"CPE\x07rest")
    assert info.value.outcome is DecodeOutcome.UNKNOWN_VERSION
    for junk in (b"\x00" * 100, b"CPE", b"CPE\x01\x02\x00\xff\xff\xff\xff", "not bytes", None):
        assert codec.try_decode(junk).outcome is not DecodeOutcome.OK  # type: ignore[arg-type]


def test_a_signed_entry_is_bound_to_its_context() -> None:
    codec = Codec(signing_keys=KEY_A)
    data = codec.encode("tenant a's answer", context=b"chat:t.a:v1:00")
    assert codec.decode(data, context=b"chat:t.a:v1:00") == "tenant a's answer"
    assert codec.try_decode(data, context=b"chat:t.b:v1:00").outcome is DecodeOutcome.BAD_SIGNATURE


def test_key_rotation_signs_with_the_first_key_and_verifies_with_any() -> None:
    old = Codec(signing_keys=[KEY_A])
    rotated = Codec(signing_keys=[KEY_B, KEY_A])
    written_before = old.encode("before")
    written_after = rotated.encode("after")
    assert rotated.decode(written_before) == "before"
    assert rotated.decode(written_after) == "after"
    assert old.try_decode(written_after).outcome is DecodeOutcome.BAD_SIGNATURE
    assert Codec(signing_keys=[KEY_B]).decode(written_after) == "after"


def test_signature_requirement_and_migration_mode() -> None:
    unsigned = Codec().encode([1])
    signed = Codec(signing_keys=KEY_A).encode([1])
    assert Codec(signing_keys=KEY_A, require_signature=False).decode(unsigned) == [1]
    assert Codec(signing_keys=KEY_A, require_signature=False).decode(signed) == [1]
    # A codec without keys cannot vouch for a signed entry.
    assert Codec().try_decode(signed).outcome is DecodeOutcome.BAD_SIGNATURE
    with pytest.raises(ValueError, match="require_signature=True needs signing_keys"):
        Codec(require_signature=True)
    with pytest.raises(ValueError, match=r"signing_keys\[1\]: 5 bytes is too short"):
        Codec(signing_keys=[KEY_A, b"short"])


def test_json_tags_never_confuse_user_data_with_tagged_values() -> None:
    codec = Codec(encoding=Encoding.JSON)
    lookalikes = [
        {"$cp": "bytes", "v": "AA=="},
        {"$cp": "float", "v": "nan"},
        {"$cp": "dict", "v": {"$cp": "bytes", "v": "AA=="}},
        {"$cp": 1},
    ]
    for value in lookalikes:
        assert codec.decode(codec.encode(value)) == value
    assert codec.decode(codec.encode({"raw": b"\x00\xff"})) == {"raw": b"\x00\xff"}


def test_json_payload_without_special_values_is_plain_json() -> None:
    data = Codec(encoding="json").encode({"text": "hi", "n": [1, 2.5]})
    assert data[14:] == b'{"text":"hi","n":[1,2.5]}'
    assert data[5] == 0  # no flags: readers need no tag walk


def test_msgpack_extension_types_are_corrupt_not_objects() -> None:
    payload = msgpack.packb(msgpack.ExtType(5, b"data"))
    header = b"CPE" + bytes([1, 2, 0]) + len(payload).to_bytes(4, "big")
    crafted = header + zlib.crc32(header + payload).to_bytes(4, "big") + payload
    assert Codec().try_decode(crafted).outcome is DecodeOutcome.CORRUPT


@pytest.mark.parametrize(
    ("value", "path", "problem"),
    [
        ({"choices": [{"created": object()}]}, "value['choices'][0]['created']", "unsupported type 'object'"),
        ({"ids": {1, 2}}, "value['ids']", "unsupported type 'set'"),
        ([{"a": {3: "x"}}], "value[0]['a']", "dict key 3 is a int, expected str"),
        ({"n": 2**64}, "value['n']", "outside [-2**63, 2**64 - 1]"),
        ({"n": -(2**63) - 1}, "value['n']", "outside"),
    ],
)
def test_encode_errors_name_the_path(value: Any, path: str, problem: str) -> None:
    for encoding in ("json", "msgpack"):
        with pytest.raises(EncodeError) as info:
            Codec(encoding=encoding).encode(value)
        assert info.value.path == path
        assert problem in str(info.value)


def test_nesting_beyond_the_limit_is_an_encode_error() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(EncodeError, match="nested deeper than"):
        Codec().encode(deep)
    shallow: Any = "leaf"
    for _ in range(MAX_DEPTH - 1):
        shallow = [shallow]
    assert Codec(encoding="json").decode(Codec(encoding="json").encode(shallow)) == shallow


def test_subclasses_are_written_as_their_base_types() -> None:
    import enum
    from collections import OrderedDict

    class Color(str, enum.Enum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    for encoding in ("json", "msgpack"):
        codec = Codec(encoding=encoding)
        out = codec.decode(codec.encode(OrderedDict(c=Color.RED, n=Level.HIGH, b=bytearray(b"x"))))
        assert out == {"c": "red", "n": 3, "b": b"x"}
        assert type(out["c"]) is str
        assert type(out["n"]) is int


# -- verify, then parse as often as asked: what the response cache keeps for in-process entries --------------------


@pytest.mark.parametrize("name", sorted(CODECS))
@given(value=values)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_verified_bytes_parse_to_what_a_full_decode_gives_every_time(name: str, value: Any) -> None:
    codec = CODECS[name]
    data = codec.encode(value, context=b"ctx")
    verified = codec.verify(data, context=b"ctx")
    assert isinstance(verified, Verified)
    assert verified.vouches_for(codec, b"ctx")
    first, second = verified.value(), verified.value()
    assert strict(first) == strict(second) == strict(codec.decode(data, context=b"ctx")) == strict(value)
    if isinstance(value, (dict, list)):
        assert second is not first  # every parse is a fresh copy the caller may change


@pytest.mark.parametrize("name", sorted(CODECS))
@given(value=values, data=st.data())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_a_corrupt_envelope_never_verifies(name: str, value: Any, data: st.DataObject) -> None:
    codec = CODECS[name]
    envelope = bytearray(codec.encode(value))
    position = data.draw(st.integers(0, len(envelope) - 1), label="position")
    envelope[position] ^= data.draw(st.integers(1, 255), label="xor")
    checked = codec.verify(bytes(envelope))
    assert not isinstance(checked, Verified)
    assert checked.outcome is not DecodeOutcome.OK
    assert checked.outcome is codec.try_decode(bytes(envelope)).outcome  # one path, one verdict


def test_verification_is_vouched_for_only_to_its_codec_and_for_a_signature_its_context() -> None:
    signer, stranger = Codec(signing_keys=KEY_A), Codec(signing_keys=KEY_B)
    data = signer.encode({"secret": "acme"}, context=b"chat:t.acme:v1:00")
    verified = signer.verify(data, context=b"chat:t.acme:v1:00")
    assert isinstance(verified, Verified)
    assert verified.vouches_for(signer, b"chat:t.acme:v1:00")
    # Under another key (another tenant's), the signature was never checked: not vouched for.
    assert not verified.vouches_for(signer, b"chat:t.globex:v1:00")
    assert signer.verify(data, context=b"chat:t.globex:v1:00").outcome is DecodeOutcome.BAD_SIGNATURE
    # Another codec never takes this codec's word for it.
    assert not verified.vouches_for(stranger, b"chat:t.acme:v1:00")
    assert not verified.vouches_for(Codec(), b"chat:t.acme:v1:00")
    # An unsigned envelope's CRC covers no context: its verification holds under any.
    plain = Codec()
    unsigned = plain.verify(plain.encode(1))
    assert isinstance(unsigned, Verified)
    assert unsigned.vouches_for(plain, b"any key")


def test_verify_is_uncounted_and_a_tally_can_be_shared() -> None:
    codec = Codec()
    assert isinstance(codec.verify(codec.encode([1])), Verified)
    assert codec.verify(b"\x80\x04junk").outcome is DecodeOutcome.PICKLE
    assert sum(codec.counts.values()) == 0  # the caller of verify counts what it makes of it
    with codec.tally.lock:
        codec.tally.counts[DecodeOutcome.OK] += 2
    codec.try_decode(b"junk")
    assert (codec.counts["ok"], codec.counts["not_envelope"]) == (2, 1)


def test_a_payload_that_does_not_parse_verifies_but_does_not_decode() -> None:
    # Only someone who can compute the checksum crafts this: the bytes check out, the payload is not JSON.
    payload = b"{not json"
    header = b"CPE" + bytes([1, 1, 0]) + len(payload).to_bytes(4, "big")
    crafted = header + zlib.crc32(header + payload).to_bytes(4, "big") + payload
    verified = Codec().verify(crafted)
    assert isinstance(verified, Verified)
    with pytest.raises(DecodeError) as info:
        verified.value()
    assert info.value.outcome is DecodeOutcome.CORRUPT
    assert Codec().try_decode(crafted).outcome is DecodeOutcome.CORRUPT
