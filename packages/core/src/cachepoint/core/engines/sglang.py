"""Launch settings for SGLang's RadixAttention prefix cache (and its hierarchical cache, HiCache).

SGLang keeps every computed prefix in a radix tree on the GPU (on by default; ``--disable-radix-cache``
turns it off), in pages of ``--page-size`` tokens. HiCache (``--enable-hierarchical-cache``) adds a host
memory tier sized by ``--hicache-ratio`` (times the GPU pool) or ``--hicache-size`` (GB).
``--enable-cache-report`` makes OpenAI-style responses carry ``usage.prompt_tokens_details.cached_tokens``
and ``--enable-metrics`` exposes ``/metrics`` (``sglang:cache_hit_rate``, ``sglang:cached_tokens_total``...),
both of which cachepoint reads; they are on by default here.

Flag names were checked against ``python/sglang/srt/server_args.py`` and SGLang's HiCache tests
(2026 main): write policies ``write_back``, ``write_through``, ``write_through_selective``.

>>> from cachepoint.core.engines.sglang import SGLangConfig
>>> SGLangConfig("Qwen/Qwen3-8B", page_size=16, port=30000).command()
['python3', '-m', 'sglang.launch_server', '--model-path', 'Qwen/Qwen3-8B', '--port', '30000', \
'--page-size', '16', '--enable-cache-report', '--enable-metrics']
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from cachepoint.core.engines._flags import value_flags

__all__ = ["HICACHE_WRITE_POLICIES", "SGLangConfig"]

#: ``--hicache-write-policy`` values.
HICACHE_WRITE_POLICIES: tuple[str, ...] = ("write_back", "write_through", "write_through_selective")

_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def _positive_int(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def _checked_args(args: object) -> tuple[str, ...]:
    if isinstance(args, str) or not isinstance(args, Sequence):
        raise ValueError(f"extra_args: expected a sequence of strings, got {args!r}")
    for i, arg in enumerate(args):
        if not isinstance(arg, str):
            raise ValueError(f"extra_args[{i}]: expected a string, got {arg!r}")
    return tuple(args)


def _positive_number(name: str, value: object) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0
    ):
        raise ValueError(f"{name}: expected a positive number, got {value!r}")


@dataclass(frozen=True)
class SGLangConfig:
    """Cache-relevant launch settings of one SGLang server; immutable, validated on creation.

    ``None`` leaves a setting to SGLang's default. HiCache settings require
    ``enable_hierarchical_cache=True``; ``hicache_size`` (GB) overrides ``hicache_ratio`` in SGLang,
    so give one or the other.

    >>> cfg = SGLangConfig("m", enable_hierarchical_cache=True, hicache_ratio=2, hicache_write_policy="write_through")
    >>> cfg.to_cli_args()[2:]
    ['--enable-hierarchical-cache', '--hicache-ratio', '2', '--hicache-write-policy', 'write_through', \
'--enable-cache-report', '--enable-metrics']
    >>> SGLangConfig("m", hicache_ratio=2)
    Traceback (most recent call last):
    ...
    ValueError: hicache_ratio: needs enable_hierarchical_cache=True
    """

    model_path: str
    host: str | None = None
    port: int | None = None
    served_model_name: str | None = None
    disable_radix_cache: bool = False
    page_size: int | None = None
    radix_eviction_policy: str | None = None
    enable_hierarchical_cache: bool = False
    hicache_ratio: float | None = None
    hicache_size: int | None = None
    hicache_write_policy: str | None = None
    mem_fraction_static: float | None = None
    kv_cache_dtype: str | None = None
    tp_size: int | None = None
    enable_cache_report: bool = True
    enable_metrics: bool = True
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._check_server()
        self._check_cache()
        self._check_hicache()
        object.__setattr__(self, "extra_args", _checked_args(self.extra_args))

    def _check_server(self) -> None:
        if not isinstance(self.model_path, str) or not self.model_path.strip():
            raise ValueError(f"model_path: expected a model name or path, got {self.model_path!r}")
        for name in ("host", "served_model_name"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name}: expected a non-empty string, got {value!r}")
        port = self.port
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
            raise ValueError(f"port: expected a TCP port between 1 and 65535, got {port!r}")
        for flag in ("disable_radix_cache", "enable_hierarchical_cache", "enable_cache_report", "enable_metrics"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag}: expected True or False, got {getattr(self, flag)!r}")
        _positive_int("tp_size", self.tp_size)

    def _check_cache(self) -> None:
        _positive_int("page_size", self.page_size)
        for name in ("radix_eviction_policy", "kv_cache_dtype"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not _NAME.match(value)):
                raise ValueError(f"{name}: expected a name such as 'lru' or 'fp8_e5m2', got {value!r}")
        fraction = self.mem_fraction_static
        if fraction is not None and (
            isinstance(fraction, bool)
            or not isinstance(fraction, (int, float))
            or not math.isfinite(fraction)
            or not 0 < fraction < 1
        ):
            raise ValueError(f"mem_fraction_static: expected a fraction in (0, 1), got {fraction!r}")

    def _check_hicache(self) -> None:
        _positive_int("hicache_size", self.hicache_size)
        _positive_number("hicache_ratio", self.hicache_ratio)
        policy = self.hicache_write_policy
        if policy is not None and policy not in HICACHE_WRITE_POLICIES:
            raise ValueError(
                f"hicache_write_policy: unknown policy {policy!r}; expected one of: {', '.join(HICACHE_WRITE_POLICIES)}"
            )
        if not self.enable_hierarchical_cache:
            for name in ("hicache_ratio", "hicache_size", "hicache_write_policy"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: needs enable_hierarchical_cache=True")
        elif self.disable_radix_cache:
            raise ValueError("enable_hierarchical_cache: HiCache extends the radix cache; drop disable_radix_cache")
        if self.hicache_ratio is not None and self.hicache_size is not None:
            raise ValueError("hicache_size: SGLang ignores hicache_ratio when hicache_size is set; give only one")

    def to_cli_args(self) -> list[str]:
        """Arguments for ``python3 -m sglang.launch_server`` (``--model-path`` first).

        >>> SGLangConfig("m", disable_radix_cache=True, enable_metrics=False).to_cli_args()
        ['--model-path', 'm', '--disable-radix-cache', '--enable-cache-report']
        """
        args = ["--model-path", self.model_path]
        options: list[tuple[str, object]] = [
            ("--served-model-name", self.served_model_name),
            ("--host", self.host),
            ("--port", self.port),
            ("--tp-size", self.tp_size),
            ("--mem-fraction-static", self.mem_fraction_static),
            ("--kv-cache-dtype", self.kv_cache_dtype),
            ("--page-size", self.page_size),
            ("--radix-eviction-policy", self.radix_eviction_policy),
        ]
        args += value_flags(options)
        if self.disable_radix_cache:
            args.append("--disable-radix-cache")
        if self.enable_hierarchical_cache:
            args.append("--enable-hierarchical-cache")
            hicache: list[tuple[str, object]] = [
                ("--hicache-ratio", self.hicache_ratio),
                ("--hicache-size", self.hicache_size),
                ("--hicache-write-policy", self.hicache_write_policy),
            ]
            args += value_flags(hicache)
        if self.enable_cache_report:
            args.append("--enable-cache-report")
        if self.enable_metrics:
            args.append("--enable-metrics")
        args += self.extra_args
        return args

    def command(self) -> list[str]:
        """The full argv, starting with ``python3 -m sglang.launch_server``.

        >>> SGLangConfig("m").command()[:3]
        ['python3', '-m', 'sglang.launch_server']
        """
        return ["python3", "-m", "sglang.launch_server", *self.to_cli_args()]

    def shell_command(self) -> str:
        """The command as one shell-quoted line.

        >>> SGLangConfig("my model", enable_metrics=False).shell_command()
        "python3 -m sglang.launch_server --model-path 'my model' --enable-cache-report"
        """
        return shlex.join(self.command())
