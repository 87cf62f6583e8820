"""Per-tenant ``cache_salt`` for vLLM's prefix cache.

vLLM shares its prefix cache between all requests by default, so one tenant's request can hit
blocks another tenant computed -- and the time-to-first-token difference tells an attacker that a
guessed prompt was seen before. vLLM's Chat and Completions APIs accept a per-request ``cache_salt``
that is mixed into the first block's hash: requests only share cache blocks when their salts match.
vLLM asks for a salt that is random, kept from third parties and long enough to be unpredictable
("e.g. 43 characters base64-encoded, corresponding to 256 bit").

`TenantCacheSalt` derives exactly that from one server-side secret: ``HMAC-SHA256(secret, tenant)``,
base64url without padding (43 characters). It is deterministic, so every replica and every restart
gives a tenant the same salt and the tenant keeps hitting its own cache; without the secret nobody
can compute another tenant's salt. Rotating the secret starts every tenant with a cold cache.

>>> from cachepoint.core.engines.salt import TenantCacheSalt
>>> salts = TenantCacheSalt(b"0123456789abcdef0123456789abcdef")
>>> salt = salts.salt_for("acme")
>>> len(salt), salt == salts.salt_for("acme"), salt == salts.salt_for("globex")
(43, True, False)
>>> salts.extra_body("acme") == {"cache_salt": salt}
True

With the OpenAI SDK pointed at vLLM, pass it per request::

    client.chat.completions.create(model=..., messages=..., extra_body=salts.extra_body(tenant_id))
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["MIN_SECRET_BYTES", "TenantCacheSalt"]

#: A shorter secret would let an attacker brute-force salts offline; 16 bytes = 128 bits.
MIN_SECRET_BYTES = 16

# Domain separation: the same secret used elsewhere (e.g. for HMAC-signing cache entries) must not
# produce values equal to these salts.
_CONTEXT = b"cachepoint/vllm-cache-salt/v1\x00"


class TenantCacheSalt:
    """Derive a stable, secret, 256-bit ``cache_salt`` per tenant from one secret.

    ``secret`` is bytes or a str (UTF-8 encoded) of at least 16 bytes; keep it out of source control
    (an environment variable or a secret manager).

    >>> salts = TenantCacheSalt("a-long-random-secret-from-the-environment")
    >>> salts.salt_for("tenant-42") != salts.salt_for("tenant-43")
    True
    """

    __slots__ = ("_key",)

    def __init__(self, secret: bytes | str) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not isinstance(secret, bytes):
            raise ValueError(f"secret: expected bytes or str, got {type(secret).__name__}")
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"secret: expected at least {MIN_SECRET_BYTES} bytes so salts cannot be guessed, got {len(secret)}"
            )
        self._key = secret

    def __repr__(self) -> str:
        return "TenantCacheSalt(<secret>)"  # never print the secret

    def salt_for(self, tenant: str) -> str:
        """The ``cache_salt`` for ``tenant``: 43 URL-safe base64 characters (256 bits).

        >>> TenantCacheSalt(b"x" * 32).salt_for("acme").isascii()
        True
        """
        if not isinstance(tenant, str) or not tenant:
            raise ValueError(f"tenant: expected a non-empty string, got {tenant!r}")
        digest = hmac.new(self._key, _CONTEXT + tenant.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def extra_body(self, tenant: str) -> dict[str, str]:
        """The request fields to send to vLLM for ``tenant``: ``{"cache_salt": ...}``.

        Merge it into the JSON body (OpenAI SDK: ``extra_body=``; LangChain ``ChatOpenAI``:
        ``extra_body=`` or ``model_kwargs``).

        >>> list(TenantCacheSalt(b"x" * 32).extra_body("acme"))
        ['cache_salt']
        """
        return {"cache_salt": self.salt_for(tenant)}
