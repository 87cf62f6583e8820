"""TenantCacheSalt: a secret, stable, 256-bit cache_salt per tenant, sent to vLLM by the real OpenAI SDK."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import openai
import pytest

from cachepoint.core.engines.salt import TenantCacheSalt
from cachepoint.core.usage import normalize_usage

SECRET = b"s3cret-s3cret-s3cret-s3cret-1234"


def test_salt_is_43_urlsafe_chars_and_an_hmac_of_the_tenant() -> None:
    salt = TenantCacheSalt(SECRET).salt_for("acme")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", salt)
    # 43 base64 characters carry 258 bits; the salt decodes back to a 32-byte (256-bit) digest.
    digest = base64.urlsafe_b64decode(salt + "=")
    assert len(digest) == 32
    expected = hmac.new(SECRET, b"cachepoint/vllm-cache-salt/v1\x00acme", hashlib.sha256).digest()
    assert digest == expected


def test_salt_is_stable_per_tenant_and_differs_across_tenants_and_secrets() -> None:
    salts = TenantCacheSalt(SECRET)
    assert salts.salt_for("acme") == TenantCacheSalt(SECRET.decode()).salt_for("acme")
    tenants = [f"tenant-{i}" for i in range(200)]
    assert len({salts.salt_for(t) for t in tenants}) == 200
    assert TenantCacheSalt(SECRET + b"!").salt_for("acme") != salts.salt_for("acme")


def test_secret_too_short_and_bad_tenant_are_refused() -> None:
    with pytest.raises(ValueError, match="secret: expected at least 16 bytes so salts cannot be guessed, got 6"):
        TenantCacheSalt("hunter")
    with pytest.raises(ValueError, match="tenant: expected a non-empty string"):
        TenantCacheSalt(SECRET).salt_for("")


def test_repr_does_not_leak_the_secret() -> None:
    assert SECRET.decode() not in repr(TenantCacheSalt(SECRET))


def test_openai_sdk_sends_the_salt_in_the_request_body(http_server) -> None:
    # A vLLM-style Chat Completions answer, with prefix-cache details on (--enable-prompt-tokens-details).
    http_server.json(
        "POST",
        "/v1/chat/completions",
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "Qwen/Qwen3-8B",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi"},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": 1200,
                "completion_tokens": 2,
                "total_tokens": 1202,
                "prompt_tokens_details": {"cached_tokens": 1024},
            },
        },
    )
    salts = TenantCacheSalt(SECRET)
    client = openai.OpenAI(base_url=f"{http_server.url}/v1", api_key="unused", max_retries=0)
    response = client.chat.completions.create(
        model="Qwen/Qwen3-8B",
        messages=[{"role": "user", "content": "hello"}],
        extra_body=salts.extra_body("acme"),
    )
    client.close()
    [request] = http_server.received
    assert request.json()["cache_salt"] == salts.salt_for("acme")
    usage = normalize_usage(response, provider="vllm")
    assert (usage.input_tokens, usage.cache_read_tokens) == (1200, 1024)
