"""Launch settings for vLLM with automatic prefix caching (APC) and, optionally, LMCache.

`VLLMConfig` holds the cache-relevant settings of a vLLM deployment, validates them with errors that
name the field, and renders them two ways: ``to_cli_args()`` / ``shell_command()`` for ``vllm serve``
and ``to_engine_kwargs()`` for ``vllm.LLM(...)``. ``with_lmcache_v1()`` and ``with_lmcache_mp()`` add
the ``kv_transfer_config`` that plugs LMCache in (in-process connector, or the separate LMCache
multiprocess server). ``enable_prompt_tokens_details`` is on by default so every OpenAI-style response
carries ``usage.prompt_tokens_details.cached_tokens`` -- which `cachepoint.core.usage` reads.

Flag names and accepted values were checked against vLLM's source (``vllm/config/cache.py``,
``vllm/engine/arg_utils.py``, ``vllm/entrypoints/openai/cli_args.py``,
``vllm/distributed/kv_transfer/kv_connector/v1/lmcache_mp_connector.py``) on vLLM main as of
2026 (commit 002f10e of ``config/cache.py``): hash algorithms ``sha256`` (default), ``sha256_cbor``,
``xxhash``, ``xxhash_cbor``; APC on by default in V1 (``--no-enable-prefix-caching`` turns it off);
``lmcache.mp.host`` defaults to ``tcp://localhost`` and ``lmcache.mp.port`` to 5555.
vLLM releases before 0.11 accepted ``builtin`` / ``sha256_cbor_64bit`` instead of the xxhash variants;
use ``extra_args`` for flags of a version this module does not know.

>>> from cachepoint.core.engines.vllm import VLLMConfig
>>> cfg = VLLMConfig("Qwen/Qwen3-8B", block_size=16, port=8000).with_lmcache_mp(port=5555)
>>> print(cfg.shell_command())  # doctest: +NORMALIZE_WHITESPACE
vllm serve Qwen/Qwen3-8B --enable-prefix-caching --block-size 16 --port 8000
--enable-prompt-tokens-details --kv-transfer-config
'{"kv_connector":"LMCacheMPConnector","kv_role":"kv_both","kv_connector_extra_config":{"lmcache.mp.host":"tcp://localhost","lmcache.mp.port":5555}}'
>>> cfg.to_engine_kwargs()["kv_transfer_config"]["kv_connector"]
'LMCacheMPConnector'

For multi-tenant deployments give each tenant its own ``cache_salt``: see
`cachepoint.core.engines.salt.TenantCacheSalt`.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from typing_extensions import Self

from cachepoint.core.engines._flags import value_flags

__all__ = [
    "KV_ROLES",
    "LMCACHE_MP_DEFAULT_PORT",
    "PREFIX_CACHING_HASH_ALGOS",
    "VLLMConfig",
]

#: ``--prefix-caching-hash-algo`` values accepted by current vLLM (``PrefixCachingHashAlgo``).
PREFIX_CACHING_HASH_ALGOS: tuple[str, ...] = ("sha256", "sha256_cbor", "xxhash", "xxhash_cbor")

#: ``kv_role`` values of vLLM's ``KVTransferConfig``.
KV_ROLES: tuple[str, ...] = ("kv_both", "kv_producer", "kv_consumer")

#: Port the LMCache multiprocess server listens on unless told otherwise (and vLLM's default for it).
LMCACHE_MP_DEFAULT_PORT = 5555

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DTYPE_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_HOST_WITH_PORT = re.compile(r"^[^:\[\]]+:\d+$")


def _check_positive_int(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def _check_port(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"{name}: expected a TCP port between 1 and 65535, got {value!r}")


def _check_text(name: str, value: object, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: expected a non-empty string, got {value!r}")


def _frozen_json(name: str, value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A private deep copy of a JSON-able mapping, so later edits by the caller cannot leak in."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}: expected a mapping, got {type(value).__name__}")
    try:
        copied = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: must be JSON-serializable ({exc})") from None
    return MappingProxyType(copied)


def _check_kv_transfer_config(config: Mapping[str, Any]) -> None:
    connector = config.get("kv_connector")
    if not isinstance(connector, str) or not connector:
        raise ValueError(f"kv_transfer_config.kv_connector: expected a connector name, got {connector!r}")
    role = config.get("kv_role")
    if role not in KV_ROLES:
        raise ValueError(f"kv_transfer_config.kv_role: expected one of {', '.join(KV_ROLES)}, got {role!r}")
    extra = config.get("kv_connector_extra_config")
    if extra is not None and not isinstance(extra, Mapping):
        raise ValueError(f"kv_transfer_config.kv_connector_extra_config: expected an object, got {extra!r}")


def _checked_env(env: object) -> Mapping[str, str]:
    if not isinstance(env, Mapping):
        raise ValueError(f"env: expected a mapping of variable names to strings, got {env!r}")
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise ValueError(f"env: {name!r} is not a valid environment variable name")
        if not isinstance(value, str):
            raise ValueError(f"env[{name!r}]: expected a string, got {value!r}")
    return MappingProxyType(dict(env))


def _checked_args(args: object) -> tuple[str, ...]:
    if isinstance(args, str) or not isinstance(args, Sequence):
        raise ValueError(f"extra_args: expected a sequence of strings, got {args!r}")
    for i, arg in enumerate(args):
        if not isinstance(arg, str):
            raise ValueError(f"extra_args[{i}]: expected a string, got {arg!r}")
    return tuple(args)


def _normalize_mp_host(host: object) -> str:
    """``tcp://<host>``: vLLM joins host and port as a ZMQ address, and older releases need the scheme."""
    if not isinstance(host, str) or not host.strip():
        raise ValueError(f"host: expected a host name or address such as 'localhost', got {host!r}")
    host = host.strip()
    scheme, sep, rest = host.partition("://")
    if not sep:
        scheme, rest = "tcp", host
    if scheme != "tcp":
        raise ValueError(f"host: LMCache MP speaks ZMQ over tcp://, got scheme {scheme!r} in {host!r}")
    if not rest or "/" in rest or any(ch.isspace() for ch in rest):
        raise ValueError(f"host: expected a bare host name or address such as 'localhost', got {host!r}")
    if _HOST_WITH_PORT.match(rest):
        raise ValueError(f"host: {host!r} contains a port; pass the port separately (port=...)")
    return f"tcp://{rest}"


@dataclass(frozen=True)
class VLLMConfig:
    """Cache-relevant launch settings of one vLLM deployment; immutable, validated on creation.

    ``None`` leaves a setting to vLLM's default. ``env`` holds environment variables the command
    needs (e.g. ``LMCACHE_CONFIG_FILE``); ``extra_args`` are appended to the command line verbatim.

    >>> VLLMConfig("meta-llama/Llama-3.1-8B-Instruct", prefix_caching_hash_algo="sha256_cbor").to_cli_args()
    ['meta-llama/Llama-3.1-8B-Instruct', '--enable-prefix-caching', '--prefix-caching-hash-algo', \
'sha256_cbor', '--enable-prompt-tokens-details']
    >>> VLLMConfig("m", prefix_caching_hash_algo="md5")
    Traceback (most recent call last):
    ...
    ValueError: prefix_caching_hash_algo: unknown algorithm 'md5'; expected one of: sha256, sha256_cbor, \
xxhash, xxhash_cbor
    """

    model: str
    enable_prefix_caching: bool = True
    prefix_caching_hash_algo: str | None = None
    block_size: int | None = None
    kv_cache_dtype: str | None = None
    gpu_memory_utilization: float | None = None
    max_model_len: int | None = None
    tensor_parallel_size: int | None = None
    served_model_name: str | None = None
    host: str | None = None
    port: int | None = None
    enable_prompt_tokens_details: bool = True
    kv_transfer_config: Mapping[str, Any] | None = field(default=None, hash=False)
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._check_server()
        self._check_cache()
        if self.kv_transfer_config is not None:
            frozen = _frozen_json("kv_transfer_config", self.kv_transfer_config)
            _check_kv_transfer_config(frozen)
            object.__setattr__(self, "kv_transfer_config", frozen)
        object.__setattr__(self, "env", _checked_env(self.env))
        object.__setattr__(self, "extra_args", _checked_args(self.extra_args))

    def _check_server(self) -> None:
        _check_text("model", self.model, optional=False)
        for flag in ("enable_prefix_caching", "enable_prompt_tokens_details"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag}: expected True or False, got {getattr(self, flag)!r}")
        _check_positive_int("max_model_len", self.max_model_len)
        _check_positive_int("tensor_parallel_size", self.tensor_parallel_size)
        _check_text("served_model_name", self.served_model_name)
        _check_text("host", self.host)
        _check_port("port", self.port)
        util = self.gpu_memory_utilization
        if util is not None and (
            isinstance(util, bool) or not isinstance(util, (int, float)) or not math.isfinite(util) or not 0 < util <= 1
        ):
            raise ValueError(f"gpu_memory_utilization: expected a fraction in (0, 1], got {util!r}")

    def _check_cache(self) -> None:
        algo = self.prefix_caching_hash_algo
        if algo is not None and algo not in PREFIX_CACHING_HASH_ALGOS:
            raise ValueError(
                f"prefix_caching_hash_algo: unknown algorithm {algo!r}; "
                f"expected one of: {', '.join(PREFIX_CACHING_HASH_ALGOS)}"
            )
        _check_positive_int("block_size", self.block_size)
        if self.block_size is not None and self.block_size & (self.block_size - 1):
            # vLLM's attention backends page the KV cache in power-of-two blocks (the CLI long offered
            # exactly 1, 8, 16, ..., 256); hybrid models pick their own block size, so leave it unset.
            raise ValueError(f"block_size: expected a power of two such as 16, got {self.block_size}")
        dtype = self.kv_cache_dtype
        if dtype is not None and (not isinstance(dtype, str) or not _DTYPE_NAME.match(dtype)):
            raise ValueError(f"kv_cache_dtype: expected a dtype name such as 'auto' or 'fp8', got {dtype!r}")

    # -- LMCache -------------------------------------------------------------------------------------

    def with_lmcache_v1(
        self,
        config_file: str | None = None,
        *,
        kv_role: str = "kv_both",
        extra_config: Mapping[str, Any] | None = None,
    ) -> Self:
        """A copy that runs LMCache in-process through vLLM's ``LMCacheConnectorV1``.

        ``config_file`` becomes ``LMCACHE_CONFIG_FILE`` (LMCache's YAML: chunk size, CPU/disk/remote
        backends, controller); LMCache also reads ``LMCACHE_*`` variables, which you can put in ``env``.

        >>> cfg = VLLMConfig("Qwen/Qwen3-8B").with_lmcache_v1("lmcache.yaml")
        >>> dict(cfg.kv_transfer_config), dict(cfg.env)
        ({'kv_connector': 'LMCacheConnectorV1', 'kv_role': 'kv_both'}, {'LMCACHE_CONFIG_FILE': 'lmcache.yaml'})
        """
        kv: dict[str, Any] = {"kv_connector": "LMCacheConnectorV1", "kv_role": kv_role}
        if extra_config:
            kv["kv_connector_extra_config"] = dict(extra_config)
        env = dict(self.env)
        if config_file is not None:
            _check_text("config_file", config_file, optional=False)
            env["LMCACHE_CONFIG_FILE"] = config_file
        return replace(self, kv_transfer_config=kv, env=env)

    def with_lmcache_mp(
        self,
        host: str = "localhost",
        port: int = LMCACHE_MP_DEFAULT_PORT,
        *,
        kv_role: str = "kv_both",
        extra_config: Mapping[str, Any] | None = None,
    ) -> Self:
        """A copy that talks to a separate LMCache multiprocess server through ``LMCacheMPConnector``.

        Start the LMCache MP server first (it listens on 5555 by default). ``host`` gets the ``tcp://``
        scheme vLLM needs; ``extra_config`` adds other ``lmcache.mp.*`` keys (e.g. ``lmcache.mp.mq_timeout``).

        >>> extra = VLLMConfig("m").with_lmcache_mp("10.0.0.7", 6555).kv_transfer_config["kv_connector_extra_config"]
        >>> dict(extra)
        {'lmcache.mp.host': 'tcp://10.0.0.7', 'lmcache.mp.port': 6555}
        >>> VLLMConfig("m").with_lmcache_mp(port=70000)
        Traceback (most recent call last):
        ...
        ValueError: port: expected a TCP port between 1 and 65535, got 70000
        """
        _check_port("port", port)
        extra: dict[str, Any] = {"lmcache.mp.host": _normalize_mp_host(host), "lmcache.mp.port": port}
        for key, value in (extra_config or {}).items():
            if key in extra:
                raise ValueError(f"extra_config[{key!r}]: set it with the {key.rsplit('.', 1)[-1]}= argument")
            extra[key] = value
        kv = {"kv_connector": "LMCacheMPConnector", "kv_role": kv_role, "kv_connector_extra_config": extra}
        return replace(self, kv_transfer_config=kv)

    # -- rendering -----------------------------------------------------------------------------------

    def to_cli_args(self) -> list[str]:
        """Arguments for ``vllm serve``: the model first, then the flags.

        >>> VLLMConfig("m", enable_prefix_caching=False, enable_prompt_tokens_details=False).to_cli_args()
        ['m', '--no-enable-prefix-caching']
        """
        args = [self.model, "--enable-prefix-caching" if self.enable_prefix_caching else "--no-enable-prefix-caching"]
        options: list[tuple[str, object]] = [
            ("--prefix-caching-hash-algo", self.prefix_caching_hash_algo),
            ("--block-size", self.block_size),
            ("--kv-cache-dtype", self.kv_cache_dtype),
            ("--gpu-memory-utilization", self.gpu_memory_utilization),
            ("--max-model-len", self.max_model_len),
            ("--tensor-parallel-size", self.tensor_parallel_size),
            ("--served-model-name", self.served_model_name),
            ("--host", self.host),
            ("--port", self.port),
        ]
        args += value_flags(options)
        if self.enable_prompt_tokens_details:
            args.append("--enable-prompt-tokens-details")
        if self.kv_transfer_config is not None:
            args += ["--kv-transfer-config", json.dumps(dict(self.kv_transfer_config), separators=(",", ":"))]
        args += self.extra_args
        return args

    def command(self) -> list[str]:
        """The full argv: ``["vllm", "serve", <model>, <flags>...]`` (environment not included).

        >>> VLLMConfig("m", port=8001).command()[:4]
        ['vllm', 'serve', 'm', '--enable-prefix-caching']
        """
        return ["vllm", "serve", *self.to_cli_args()]

    def shell_command(self) -> str:
        """The command as one shell-quoted line, prefixed by its environment variables.

        >>> cfg = VLLMConfig("m", enable_prompt_tokens_details=False).with_lmcache_v1("/etc/lm cache.yaml")
        >>> print(cfg.shell_command())  # doctest: +NORMALIZE_WHITESPACE
        LMCACHE_CONFIG_FILE='/etc/lm cache.yaml' vllm serve m --enable-prefix-caching
        --kv-transfer-config '{"kv_connector":"LMCacheConnectorV1","kv_role":"kv_both"}'
        """
        env = " ".join(f"{name}={shlex.quote(value)}" for name, value in self.env.items())
        line = shlex.join(self.command())
        return f"{env} {line}" if env else line

    def to_engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``vllm.LLM(**kwargs)`` (offline inference).

        Server-only settings (host, port, prompt-token details, ``extra_args``) are left out; set
        ``env`` in ``os.environ`` before creating the engine.

        >>> VLLMConfig("m", block_size=32, port=8000).to_engine_kwargs()
        {'model': 'm', 'enable_prefix_caching': True, 'block_size': 32}
        """
        kwargs: dict[str, Any] = {"model": self.model, "enable_prefix_caching": self.enable_prefix_caching}
        for name in (
            "prefix_caching_hash_algo",
            "block_size",
            "kv_cache_dtype",
            "gpu_memory_utilization",
            "max_model_len",
            "tensor_parallel_size",
            "served_model_name",
        ):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        if self.kv_transfer_config is not None:
            # vllm.LLM turns a plain dict into its KVTransferConfig; a deep copy keeps ours frozen.
            kwargs["kv_transfer_config"] = json.loads(json.dumps(dict(self.kv_transfer_config)))
        return kwargs
