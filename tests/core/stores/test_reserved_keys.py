"""No entry key can ever be a reserved key (locks), whatever the prefix, key or name: a property, no server."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cachepoint.core.stores import RedisStore

# Everything a str key can hold once encoded (lone surrogates cannot be encoded, so no store can write them).
texts = st.text(st.characters(codec="utf-8"), max_size=40)


@given(prefix=texts.filter(bool), key=texts, name=texts.filter(bool))
def test_an_entry_key_never_equals_a_reserved_key(prefix: str, key: str, name: str) -> None:
    store = RedisStore("redis://127.0.0.1:1/0", prefix=prefix)  # never connects: only key layout is checked
    entry = (prefix + key).encode("utf-8")  # what the store writes for key
    reserved = store.reserved_key(name)
    assert entry != reserved
    assert reserved.startswith(prefix.encode("utf-8"))  # still under the prefix: cleaned up with it
    assert not entry.startswith(prefix.encode("utf-8") + b"\xff")  # so size()/clear() can tell them apart
