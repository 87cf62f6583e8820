"""Safe serialization of cache entries: a versioned, typed envelope around JSON or msgpack, optionally signed.

No pickle, ever: a cache entry is data, and reading data must never run code. What a store hands back may be
corrupt, truncated, written by another program, or tampered with; each of those is a distinct, counted
`DecodeOutcome` and never an exception for the caller of `Codec.try_decode`.

**What the codec carries** (the same for both encodings, so switching encodings never changes behaviour):

=====================  ==========================================================================
``None``, ``bool``     as is
``int``                from ``-2**63`` to ``2**64 - 1`` (what both JSON-in-orjson and msgpack hold exactly)
``float``              any double, including ``nan``/``inf``/``-0.0`` (JSON tags the non-finite ones)
``str``                valid Unicode (no lone surrogates)
``bytes``              as is (``bytearray``/``memoryview`` are written as bytes and come back as ``bytes``)
``list``, ``tuple``    come back as ``list``
``dict``               ``str`` keys only, any carried value as values
model objects          provider SDK objects (``anthropic.types.Message``, stream events, OpenAI completions,
                       chunks, Responses objects and events) and pydantic models you registered: stored as
                       their data and a type name, rebuilt as the same type (see `cachepoint.core.sdk_types`)
=====================  ==========================================================================

That is what a cached LLM response is made of: the SDK's response objects, provider payloads as dicts (Bedrock
Converse), LangChain's ``dumpd`` of generations, lists of stream chunks, raw bytes of an image or audio part.
Anything else (an unregistered pydantic model, a ``datetime``, a set) is refused at encode time with an
`EncodeError` naming the path (``value["choices"][0]["created"]: unsupported type 'datetime'``) — convert it
first, or register your model class (`cachepoint.core.sdk_types.register_model`). Subclasses of the plain types
above (a ``str`` enum, an ``OrderedDict``) are written as their base type. Nesting is limited to `MAX_DEPTH`
levels.

A model object is rebuilt only as a type on an allowlist — a provider SDK's exported model classes and the ones
registered — and by name, never by importing what the entry says: an entry naming any other type is an
``unknown_type`` miss.

**Envelope layout** (version 1, big-endian)::

    offset  size  field
    0       3     magic b"CPE"
    3       1     format version (1)
    4       1     encoding id (1 = JSON via orjson, 2 = msgpack)
    5       1     flags (bit 0: signed, bit 1: JSON payload holds tagged values: bytes, non-finite floats, models)
    6       4     payload length
    10      4|32  CRC-32 of bytes 0..10 + payload (unsigned)  |  HMAC-SHA256 (signed)
    14|42   n     payload

The HMAC covers the optional *context* (the response cache passes the entry's store key), the header and the
payload, so an entry copied under another key — another tenant's — fails verification too. Signing keys
rotate: the first key signs, any listed key verifies, compared in constant time. A CRC-32 detects every
single-byte (indeed every burst up to 32 bits) corruption of an unsigned entry; it is not a defence against
someone who can write to the store — signing is.

Decoding is two steps, and `Codec.try_decode` does both: `Codec.verify` checks the envelope (header, length,
CRC-32 or HMAC) and returns a `Verified`, whose `Verified.value` parses a fresh copy of the payload. A reader
that keeps immutable bytes (the response cache, on a `MemoryStore` entry) may keep their `Verified` and parse
them again later without checking them again, if `Verified.vouches_for` its codec and context.

>>> codec = Codec(signing_keys=[b"k" * 32])
>>> data = codec.encode({"text": "hi", "raw": b"\\x00\\x01"})
>>> codec.decode(data)
{'text': 'hi', 'raw': b'\\x00\\x01'}
>>> codec.try_decode(b"\\x80\\x04garbage").outcome
<DecodeOutcome.PICKLE: 'pickle'>
"""

from __future__ import annotations

import base64
import enum
import hmac
import math
import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import msgpack
import orjson

from cachepoint.core.sdk_types import UnknownTypeError, model_type, type_of

__all__ = [
    "MAX_DEPTH",
    "Codec",
    "DecodeError",
    "DecodeOutcome",
    "DecodeTally",
    "Decoded",
    "EncodeError",
    "Encoding",
    "Verified",
]

MAGIC = b"CPE"
FORMAT_VERSION = 1
MAX_DEPTH = 200
"""Deepest nesting of lists/dicts the codec accepts (orjson itself stops near 255)."""

_HEADER = struct.Struct(">3sBBBI")
_HEADER_SIZE = _HEADER.size  # 10
_CRC = struct.Struct(">I")
_CRC_SIZE = 4
_MAC_SIZE = 32
_CONTEXT_LEN = struct.Struct(">I")

_FLAG_SIGNED = 0x01
_FLAG_TAGGED = 0x02
_KNOWN_FLAGS = _FLAG_SIGNED | _FLAG_TAGGED

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
_MAX_PAYLOAD = 2**32 - 1
_MIN_KEY_BYTES = 16

# JSON cannot hold bytes or non-finite floats, so they travel as tagged objects under one reserved key; a user
# dict that itself uses the reserved key is escaped, so every tagged form is unambiguous.
_TAG = "$cp"
_TAG_BYTES = "bytes"
_TAG_FLOAT = "float"
_TAG_DICT = "dict"
_TAG_MODEL = "model"
_EXT_MODEL = 1  # msgpack extension type of a model object: msgpack of [type name, data]
_PICKLE_OPCODE_PROTO = 0x80  # first byte of every pickle of protocol 2 and later


class Encoding(enum.IntEnum):
    """Payload encoding inside the envelope.

    >>> Codec(encoding=Encoding.JSON).encoding
    <Encoding.JSON: 1>
    """

    JSON = 1
    MSGPACK = 2


class DecodeOutcome(str, enum.Enum):
    """What `Codec.try_decode` found. Everything except ``OK`` is a miss for the response cache.

    >>> Codec().try_decode(b"not ours").outcome is DecodeOutcome.NOT_ENVELOPE
    True
    """

    OK = "ok"
    NOT_ENVELOPE = "not_envelope"
    """Foreign or garbage bytes: no envelope magic."""
    PICKLE = "pickle"
    """A pickle (protocol 2+ opcode ``\\x80``) — counted apart because it may be an attack; never unpickled."""
    TRUNCATED = "truncated"
    """Shorter than the envelope says it is."""
    UNKNOWN_VERSION = "unknown_version"
    """A format version this code does not read (written by a newer cachepoint, or corrupt)."""
    UNKNOWN_ENCODING = "unknown_encoding"
    """An encoding id this code does not know."""
    UNSIGNED = "unsigned"
    """Not signed, while this codec requires signatures."""
    BAD_SIGNATURE = "bad_signature"
    """Signed, but no configured key verifies it (tampered, moved to another key, or keys rotated away)."""
    CORRUPT = "corrupt"
    """Checksum mismatch, unknown flags, trailing bytes, a payload that does not parse, or a model object whose
    data its type does not accept."""
    UNKNOWN_TYPE = "unknown_type"
    """A model object of a type that is neither a provider SDK type on the allowlist nor registered (tampered, or
    written by a program that registered more types); never imported, never rebuilt."""


class EncodeError(TypeError):
    """A value outside what the codec carries; ``path`` says where (``value["a"][2]``).

    >>> try:
    ...     Codec().encode({"when": object()})
    ... except EncodeError as exc:
    ...     print(exc.path)
    value['when']
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class DecodeError(ValueError):
    """Raised by `Codec.decode` (not by `Codec.try_decode`) for any outcome other than ``OK``.

    >>> try:
    ...     Codec().decode(b"junk")
    ... except DecodeError as exc:
    ...     print(exc.outcome.value)
    not_envelope
    """

    def __init__(self, outcome: DecodeOutcome, detail: str) -> None:
        super().__init__(f"{outcome.value}: {detail}")
        self.outcome = outcome
        self.detail = detail


class Decoded(NamedTuple):
    """Result of `Codec.try_decode`: the outcome, the value when ``ok``, and a human-readable detail otherwise.

    >>> Codec().try_decode(Codec().encode([1, 2])).value
    [1, 2]
    """

    outcome: DecodeOutcome
    value: Any = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """``True`` when the entry decoded.

        >>> Codec().try_decode(b"junk").ok
        False
        """
        return self.outcome is DecodeOutcome.OK


class DecodeTally:
    """Thread-safe counts of decode outcomes: what `Codec.counts` reports.

    ``lock`` guards ``counts`` (a dict by `DecodeOutcome`). `add` takes the lock itself; a caller that counts
    events of its own together with decode outcomes may hold ``lock`` and update ``counts`` and its own counters
    in one acquisition (the response cache counts a hit and its decode so, see `cachepoint.core.response_cache`).

    >>> tally = DecodeTally()
    >>> tally.add(DecodeOutcome.PICKLE)
    >>> tally.snapshot()["pickle"]
    1
    """

    __slots__ = ("counts", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[DecodeOutcome, int] = dict.fromkeys(DecodeOutcome, 0)

    def add(self, outcome: DecodeOutcome, n: int = 1) -> None:
        """Count ``n`` decodes that ended in ``outcome``.

        >>> tally = DecodeTally()
        >>> tally.add(DecodeOutcome.OK, 2)
        >>> tally.snapshot()["ok"]
        2
        """
        with self.lock:
            self.counts[outcome] += n

    def snapshot(self) -> dict[str, int]:
        """The counts by outcome value (``"ok"``, ``"corrupt"``...), copied under the lock.

        >>> DecodeTally().snapshot()["corrupt"]
        0
        """
        with self.lock:
            return {outcome.value: n for outcome, n in self.counts.items()}


class Verified:
    """Envelope bytes that a `Codec` has checked (`Codec.verify`): `value` parses a fresh copy of their payload,
    as often as asked, without checking them again.

    Bytes are immutable, so what was verified stays verified: a reader that keeps the same bytes (an in-process
    store entry) may keep their `Verified` too. Trust it only where `vouches_for` says so: with the codec that
    checked the bytes, and for a signed envelope only under the context its signature covered (an entry moved
    under another tenant's key is not vouched for there). It holds a view of the bytes, not a copy.

    >>> codec = Codec()
    >>> verified = codec.verify(codec.encode({"a": [1]}))
    >>> verified.value(), verified.value() is verified.value()
    ({'a': [1]}, False)
    >>> verified.vouches_for(codec), verified.vouches_for(Codec())
    (True, False)
    """

    __slots__ = ("_codec", "_context", "_parse", "_payload")

    def __init__(
        self, codec: Codec, context: bytes | None, payload: memoryview, parse: Callable[[memoryview], Any]
    ) -> None:
        self._codec = codec
        self._context = context  # None: unsigned, trusted under any context (the CRC does not cover one)
        self._payload = payload
        self._parse = parse

    def value(self) -> Any:
        """A fresh copy of the value in the envelope (callers may change it freely); `DecodeError` (``corrupt``)
        if the verified payload does not parse, which only an envelope crafted with a valid checksum can do.

        >>> codec = Codec(encoding="msgpack")
        >>> codec.verify(codec.encode([1, b"x"])).value()
        [1, b'x']
        """
        try:
            return self._parse(self._payload)
        except UnknownTypeError as exc:
            raise DecodeError(DecodeOutcome.UNKNOWN_TYPE, str(exc)) from None
        except (ValueError, TypeError, RecursionError, msgpack.ExtraData, msgpack.FormatError) as exc:
            raise DecodeError(DecodeOutcome.CORRUPT, f"payload does not parse: {exc}") from None

    def vouches_for(self, codec: Codec, context: bytes = b"") -> bool:
        """Whether ``codec`` may take these bytes as verified under ``context``: it is the codec that checked them,
        and, for a signed envelope, ``context`` is the one the signature covered.

        >>> signer = Codec(signing_keys=b"k" * 32)
        >>> verified = signer.verify(signer.encode(1, context=b"acme"), context=b"acme")
        >>> verified.vouches_for(signer, b"acme"), verified.vouches_for(signer, b"globex")
        (True, False)
        """
        return codec is self._codec and (self._context is None or self._context == context)


class _Model:
    """A model object, lowered for encoding: its registered type name and its plain data."""

    __slots__ = ("data", "name")

    def __init__(self, name: str, data: Any) -> None:
        self.name = name
        self.data = data


class _ModelFoundError(Exception):
    """Internal: the value holds a model object, so it must be lowered (`_lower`) before it is checked."""


def _lower(value: Any, depth: int = 0) -> Any:
    """Copy of ``value`` with every model object of a known type replaced by its `_Model` (anything else is left
    for `_check` to name)."""
    if depth > MAX_DEPTH:
        raise _InvalidValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, (dict, list, tuple)):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        lowered = {}
        for key, item in items:
            try:
                lowered[key] = _lower(item, depth + 1)
            except _InvalidValueError as exc:
                exc.segments.append(f"[{key!r}]")
                raise
        return lowered if isinstance(value, dict) else list(lowered.values())
    kind = type_of(type(value))
    if kind is None:
        return value
    try:
        data = kind.dump(value)
    except Exception as exc:
        raise _InvalidValueError(f"{kind.name} could not be dumped: {exc}") from None
    return _Model(kind.name, data)


def _rebuild(name: Any, data: Any) -> Any:
    """The model object named ``name`` holding ``data``; `UnknownTypeError` for a type off the allowlist,
    ``ValueError`` if its type does not accept the data."""
    if not isinstance(name, str):
        raise ValueError(f"model type name: expected a str, got {type(name).__name__}")
    kind = model_type(name)
    try:
        return kind.load(data)
    except Exception as exc:
        raise ValueError(f"{name} does not accept the stored data: {exc}") from None


class _InvalidValueError(Exception):
    """Internal: raised deep in the encode walk; each level prepends its path segment while unwinding."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.segments: list[str] = []


def _check(value: Any, depth: int) -> bool:  # noqa: PLR0911, PLR0912 - one flat type switch, kept fast
    """Validate ``value`` against the carried types; ``True`` if the JSON encoding needs tagged forms."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return False
    if kind is float:
        return not math.isfinite(value)
    if kind is not dict and kind is not list and kind is not tuple:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return True
        if isinstance(value, int):
            if not _INT_MIN <= value <= _INT_MAX:
                raise _InvalidValueError(f"integer {value} is outside [-2**63, 2**64 - 1]")
            return False
        if isinstance(value, str):
            return False
        if isinstance(value, float):
            return not math.isfinite(value)
        if kind is _Model:
            if depth >= MAX_DEPTH:
                raise _InvalidValueError(f"nested deeper than {MAX_DEPTH} levels")
            _check(value.data, depth + 1)
            return True
        if not isinstance(value, (dict, list, tuple)):
            if type_of(kind) is not None:
                raise _ModelFoundError
            raise _InvalidValueError(f"unsupported type {type(value).__name__!r}")
    if depth >= MAX_DEPTH:
        raise _InvalidValueError(f"nested deeper than {MAX_DEPTH} levels")
    tagged = False
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _InvalidValueError(f"dict key {key!r} is a {type(key).__name__}, expected str")
            if key == _TAG:
                tagged = True
            try:
                tagged = _check(item, depth + 1) or tagged
            except _InvalidValueError as exc:
                exc.segments.append(f"[{key!r}]")
                raise
        return tagged
    for index, item in enumerate(value):
        try:
            tagged = _check(item, depth + 1) or tagged
        except _InvalidValueError as exc:
            exc.segments.append(f"[{index}]")
            raise
    return tagged


def _to_json_tree(value: Any) -> Any:
    """Copy of an already validated value with bytes, non-finite floats, models and reserved keys tagged."""
    if type(value) is _Model:
        return {_TAG: _TAG_MODEL, "v": [value.name, _to_json_tree(value.data)]}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {_TAG: _TAG_BYTES, "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return {_TAG: _TAG_FLOAT, "v": repr(value)}
    if isinstance(value, dict):
        inner = {key: _to_json_tree(item) for key, item in value.items()}
        return {_TAG: _TAG_DICT, "v": inner} if _TAG in value else inner
    if isinstance(value, (list, tuple)):
        return [_to_json_tree(item) for item in value]
    return value


def _from_json_tree(value: Any) -> Any:
    """Inverse of `_to_json_tree`; raises ``ValueError`` on a malformed tag."""
    if isinstance(value, list):
        return [_from_json_tree(item) for item in value]
    if not isinstance(value, dict):
        return value
    if _TAG in value:
        return _untag(value)
    return {key: _from_json_tree(item) for key, item in value.items()}


def _untag(value: dict[str, Any]) -> Any:
    """The value a tagged object stands for (`_to_json_tree`'s forms); ``ValueError`` if it is malformed."""
    tag = value[_TAG]
    inner = value.get("v")
    if len(value) != 2 or "v" not in value:
        raise ValueError("malformed tagged value")
    if tag == _TAG_BYTES and isinstance(inner, str):
        return base64.b64decode(inner, validate=True)
    if tag == _TAG_FLOAT and inner in ("nan", "inf", "-inf"):
        return float(inner)
    if tag == _TAG_DICT and isinstance(inner, dict):
        return {key: _from_json_tree(item) for key, item in inner.items()}
    if tag == _TAG_MODEL and isinstance(inner, list) and len(inner) == 2:
        return _rebuild(inner[0], _from_json_tree(inner[1]))
    raise ValueError(f"unknown tag {tag!r}")


def _pack_model(value: Any) -> Any:
    if type(value) is _Model:
        return msgpack.ExtType(_EXT_MODEL, msgpack.packb([value.name, value.data], use_bin_type=True))
    raise TypeError(f"unsupported type {type(value).__name__!r}")  # unreachable: `_check` came first


def _model_ext(code: int, data: bytes) -> Any:
    if code != _EXT_MODEL:
        raise ValueError(f"msgpack extension type {code} is not carried")
    inner = msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_model_ext)
    if not isinstance(inner, list) or len(inner) != 2:
        raise ValueError("malformed model extension")
    return _rebuild(inner[0], inner[1])


def _parse_msgpack(payload: memoryview) -> Any:
    return msgpack.unpackb(payload, raw=False, strict_map_key=True, ext_hook=_model_ext)


def _parse_tagged_json(payload: memoryview) -> Any:
    return _from_json_tree(orjson.loads(payload))


def _normalize_keys(keys: bytes | str | Sequence[bytes | str] | None) -> tuple[bytes, ...]:
    if keys is None:
        return ()
    if isinstance(keys, (bytes, str)):
        keys = [keys]
    out: list[bytes] = []
    for index, key in enumerate(keys):
        raw = key.encode("utf-8") if isinstance(key, str) else key
        if not isinstance(raw, bytes):
            raise TypeError(f"signing_keys[{index}]: expected bytes or str, got {type(key).__name__}")
        if len(raw) < _MIN_KEY_BYTES:
            raise ValueError(
                f"signing_keys[{index}]: {len(raw)} bytes is too short for HMAC-SHA256, use at least "
                f"{_MIN_KEY_BYTES} (32 random bytes recommended: secrets.token_bytes(32))"
            )
        out.append(raw)
    return tuple(out)


class Codec:
    """Encodes carried values into envelopes and decodes them back, counting every decode outcome.

    ``encoding`` is ``"json"`` (the default: readable in ``redis-cli``, and orjson decodes text-heavy LLM
    payloads about twice as fast as msgpack) or ``"msgpack"`` (more compact when values hold much binary data).
    ``signing_keys``: one key or a list; the first signs, any verifies (rotate by prepending a new key, drop
    the old one after the longest TTL). ``require_signature`` defaults to ``True`` when keys are given: an
    unsigned entry is then an ``UNSIGNED`` miss. Pass ``False`` while migrating an unsigned cache to signing.

    Thread-safe; one codec can serve many caches.

    >>> codec = Codec(encoding="json")
    >>> codec.decode(codec.encode({"a": [1, 2.5, None]}))
    {'a': [1, 2.5, None]}
    >>> codec.counts["ok"]
    1
    """

    def __init__(
        self,
        *,
        encoding: Encoding | Literal["json", "msgpack"] = Encoding.JSON,
        signing_keys: bytes | str | Sequence[bytes | str] | None = None,
        require_signature: bool | None = None,
    ) -> None:
        if isinstance(encoding, str) and not isinstance(encoding, Encoding):
            names = {"json": Encoding.JSON, "msgpack": Encoding.MSGPACK}
            if encoding not in names:
                raise ValueError(f"encoding: expected 'json' or 'msgpack', got {encoding!r}")
            encoding = names[encoding]
        self.encoding = Encoding(encoding)
        self._keys = _normalize_keys(signing_keys)
        if require_signature is None:
            require_signature = bool(self._keys)
        if require_signature and not self._keys:
            raise ValueError("require_signature=True needs signing_keys")
        self.require_signature = require_signature
        self._tally = DecodeTally()

    @property
    def signed(self) -> bool:
        """Whether this codec signs what it encodes.

        >>> Codec(signing_keys=b"k" * 32).signed, Codec().signed
        (True, False)
        """
        return bool(self._keys)

    @property
    def counts(self) -> dict[str, int]:
        """How many decodes ended in each `DecodeOutcome` (by value), since creation.

        >>> codec = Codec()
        >>> _ = codec.try_decode(b"\\x80\\x04...")
        >>> codec.counts["pickle"]
        1
        """
        return self._tally.snapshot()

    @property
    def tally(self) -> DecodeTally:
        """The `DecodeTally` behind `counts`, for a reader that verifies and parses on its own (`verify`,
        `Verified.value`) and counts the outcomes there, as `try_decode` does.

        >>> Codec().tally.snapshot()["ok"]
        0
        """
        return self._tally

    def encode(self, value: Any, *, context: bytes = b"") -> bytes:
        """The envelope for ``value``; `EncodeError` (naming the path) if it holds something not carried.

        ``context`` is bound into the signature (not stored): decode with the same context.

        >>> Codec().encode("hi")[:3]
        b'CPE'
        """
        try:
            try:
                tagged = _check(value, 0)
            except _ModelFoundError:
                value = _lower(value)
                tagged = _check(value, 0)
        except _InvalidValueError as exc:
            raise EncodeError("value" + "".join(reversed(exc.segments)), exc.problem) from None
        except RecursionError:
            raise EncodeError("value", f"nested deeper than {MAX_DEPTH} levels") from None
        flags = 0
        if self.encoding is Encoding.JSON:
            if tagged:
                value = _to_json_tree(value)
                flags |= _FLAG_TAGGED
            payload = orjson.dumps(value)
        else:
            payload = msgpack.packb(value, use_bin_type=True, default=_pack_model)
        if len(payload) > _MAX_PAYLOAD:
            raise EncodeError("value", f"encodes to {len(payload)} bytes, more than the envelope's 4 GiB")
        if self._keys:
            flags |= _FLAG_SIGNED
            header = _HEADER.pack(MAGIC, FORMAT_VERSION, self.encoding, flags, len(payload))
            mac = hmac.digest(self._keys[0], _signed_bytes(context, header, payload), "sha256")
            return header + mac + payload
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, self.encoding, flags, len(payload))
        crc = zlib.crc32(payload, zlib.crc32(header))
        return header + _CRC.pack(crc) + payload

    def decode(self, data: bytes, *, context: bytes = b"") -> Any:
        """The value in ``data``; `DecodeError` (with its `DecodeOutcome`) if it is not a good envelope.

        >>> codec = Codec(encoding="msgpack")
        >>> codec.decode(codec.encode({"n": 1}))
        {'n': 1}
        """
        result = self.try_decode(data, context=context)
        if result.outcome is not DecodeOutcome.OK:
            raise DecodeError(result.outcome, result.detail)
        return result.value

    def try_decode(self, data: bytes, *, context: bytes = b"") -> Decoded:
        """Decode without raising: a `Decoded` whose ``outcome`` says what happened. Counts the outcome.

        `verify` then `Verified.value`, in one step.

        >>> Codec().try_decode(b"CPE\\x09rest").outcome.value
        'unknown_version'
        """
        checked = self.verify(data, context=context)
        if isinstance(checked, Verified):
            try:
                result = Decoded(_OK, checked.value())
            except DecodeError as exc:
                result = Decoded(exc.outcome, None, exc.detail)
        else:
            result = checked
        self._tally.add(result.outcome)
        return result

    def verify(self, data: object, context: bytes = b"") -> Verified | Decoded:  # noqa: PLR0911, PLR0912 - one return per outcome
        """Check an envelope without parsing its payload: a `Verified` (parse it with `Verified.value`), or the
        `Decoded` failure naming the problem (``outcome`` and ``detail``). Not counted in `counts`: a caller that
        verifies on its own counts what it makes of the outcome (see `tally`).

        Checked, in order: bytes, magic (a pickle is named as such), format version, header, encoding, flags,
        a signature when this codec requires one, length, then the CRC-32 or the HMAC (over ``context``, the
        header and the payload; every signing key is tried, in constant time).

        >>> codec = Codec()
        >>> codec.verify(codec.encode("hi")).value()
        'hi'
        >>> codec.verify(b"\\x80\\x04...").outcome.value
        'pickle'
        """
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                return Decoded(_NOT_ENVELOPE, None, f"expected bytes, got {type(data).__name__}")
            data = bytes(data)
        size = len(data)
        if size < _HEADER_SIZE:
            return _bad_header(data)
        magic, version, encoding, flags, length = _HEADER.unpack_from(data)
        if magic != MAGIC or version != FORMAT_VERSION:
            return _bad_header(data)
        parse: Callable[[memoryview], Any]
        if encoding == _JSON:
            parse = _parse_tagged_json if flags & _FLAG_TAGGED else orjson.loads
        elif encoding == _MSGPACK:
            parse = _parse_msgpack
        else:
            return Decoded(_UNKNOWN_ENCODING, None, f"encoding id {encoding}")
        if flags & ~_KNOWN_FLAGS:
            return Decoded(_CORRUPT, None, f"unknown flags {flags:#04x}")
        signed = flags & _FLAG_SIGNED
        if not signed and self.require_signature:
            return Decoded(_UNSIGNED, None, "unsigned entry, this codec requires signatures")
        start = _HEADER_SIZE + (_MAC_SIZE if signed else _CRC_SIZE)
        expected = start + length
        if size != expected:
            if size < expected:
                return Decoded(_TRUNCATED, None, f"{size} bytes, the envelope says {expected}")
            return Decoded(_CORRUPT, None, f"{size - expected} trailing bytes")
        payload = memoryview(data)[start:]
        if signed:
            if not self._keys:
                return Decoded(_BAD_SIGNATURE, None, "signed entry, but this codec has no key")
            mac = data[_HEADER_SIZE:start]
            message = _signed_bytes(context, data[:_HEADER_SIZE], payload)
            # Every key is tried (no early exit) so timing does not tell which key, if any, matched.
            verified = False
            for key in self._keys:
                verified = hmac.compare_digest(hmac.digest(key, message, "sha256"), mac) or verified
            if not verified:
                return Decoded(_BAD_SIGNATURE, None, "no signing key verifies this entry")
            return Verified(self, bytes(context), payload, parse)
        if zlib.crc32(payload, zlib.crc32(data[:_HEADER_SIZE])) != _CRC.unpack_from(data, _HEADER_SIZE)[0]:
            return Decoded(_CORRUPT, None, "checksum mismatch")
        return Verified(self, None, payload, parse)


def _bad_header(data: bytes) -> Decoded:
    """What is wrong with the first bytes of ``data``, which `Codec.verify` found not to start a whole header of
    this format version."""
    size = len(data)
    if not data.startswith(MAGIC):
        if size and data[0] == _PICKLE_OPCODE_PROTO:
            return Decoded(_PICKLE, None, "pickle data (refused, never unpickled)")
        if MAGIC.startswith(data):
            return Decoded(_TRUNCATED, None, f"{size} bytes, shorter than the header")
        return Decoded(_NOT_ENVELOPE, None, "no envelope magic")
    if size > _MAGIC_SIZE and data[_MAGIC_SIZE] != FORMAT_VERSION:
        return Decoded(_UNKNOWN_VERSION, None, f"format version {data[_MAGIC_SIZE]}, this reads 1")
    return Decoded(_TRUNCATED, None, f"{size} bytes, shorter than the header")


_OK = DecodeOutcome.OK
_NOT_ENVELOPE = DecodeOutcome.NOT_ENVELOPE
_PICKLE = DecodeOutcome.PICKLE
_TRUNCATED = DecodeOutcome.TRUNCATED
_UNKNOWN_VERSION = DecodeOutcome.UNKNOWN_VERSION
_UNKNOWN_ENCODING = DecodeOutcome.UNKNOWN_ENCODING
_UNSIGNED = DecodeOutcome.UNSIGNED
_BAD_SIGNATURE = DecodeOutcome.BAD_SIGNATURE
_CORRUPT = DecodeOutcome.CORRUPT
_JSON = int(Encoding.JSON)
_MSGPACK = int(Encoding.MSGPACK)
_MAGIC_SIZE = len(MAGIC)


def _signed_bytes(context: bytes, header: bytes | memoryview, payload: bytes | memoryview) -> bytes:
    # Length-prefixed context: ("ab", header...) and ("a", "b" + header...) can never sign the same bytes.
    return _CONTEXT_LEN.pack(len(context)) + context + header + payload
