"""``cachepoint engines``: launch commands for vLLM / SGLang prefix caching, their cache metrics, KV sizing.

    cachepoint engines vllm --model Qwen/Qwen3-8B --lmcache mp --port 8000
    cachepoint engines sglang --model Qwen/Qwen3-8B --page-size 16 --hierarchical-cache --hicache-ratio 2
    cachepoint engines metrics http://127.0.0.1:8000 [--interval 30]
    cachepoint engines kv-size --layers 80 --kv-heads 8 --head-dim 128 --seq-len 4096 --memory-gib 40

Exit codes: 0 success, 1 the engine could not be scraped, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from cachepoint.core.cli import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK

if TYPE_CHECKING:
    from rich.console import Console

    from cachepoint.core.engines.metrics import EngineCacheDelta, EngineMetricsSnapshot

__all__ = ["register", "run"]

_PROG = "cachepoint engines"


def register(subparsers: Any) -> None:
    """Add ``engines`` and its subcommands (``vllm``, ``sglang``, ``metrics``, ``kv-size``)."""
    parser = subparsers.add_parser(
        "engines",
        help="configure vLLM / SGLang prefix caching and read their cache metrics",
        description="Print launch commands for self-hosted engines with prefix caching, scrape their cache "
        "metrics, and size their KV cache.",
    )
    parser.set_defaults(func=run, engine_command=None)
    commands = parser.add_subparsers(title="engine commands", metavar="COMMAND")
    _register_vllm(commands)
    _register_sglang(commands)
    _register_metrics(commands)
    _register_kv_size(commands)


def _register_vllm(commands: Any) -> None:
    p = commands.add_parser("vllm", help="print a `vllm serve` command line with prefix caching (and LMCache)")
    p.set_defaults(engine_command="vllm")
    p.add_argument("--model", required=True, help="model name or path")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--served-model-name")
    p.add_argument("--no-prefix-caching", action="store_true", help="turn vLLM's automatic prefix caching off")
    p.add_argument("--hash-algo", help="prefix-cache hash: sha256 (default), sha256_cbor, xxhash, xxhash_cbor")
    p.add_argument("--block-size", type=int, help="tokens per KV block (a power of two)")
    p.add_argument("--kv-cache-dtype", help="e.g. auto, fp8")
    p.add_argument("--gpu-memory-utilization", type=float)
    p.add_argument("--max-model-len", type=int)
    p.add_argument("--tensor-parallel-size", type=int)
    p.add_argument(
        "--no-prompt-tokens-details",
        action="store_true",
        help="do not report cached tokens in each response's usage",
    )
    p.add_argument("--lmcache", choices=("v1", "mp"), help="add LMCache: in-process (v1) or the MP server (mp)")
    p.add_argument("--lmcache-config", metavar="FILE", help="LMCACHE_CONFIG_FILE for --lmcache v1")
    p.add_argument("--lmcache-host", help="LMCache MP server host for --lmcache mp (default localhost)")
    p.add_argument("--lmcache-port", type=int, help="LMCache MP server port for --lmcache mp (default 5555)")
    p.add_argument("--format", choices=("shell", "json"), default="shell", help="shell line (default) or JSON")


def _register_sglang(commands: Any) -> None:
    p = commands.add_parser("sglang", help="print an SGLang launch command with the radix cache settings")
    p.set_defaults(engine_command="sglang")
    p.add_argument("--model", required=True, help="model name or path (--model-path)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--served-model-name")
    p.add_argument("--disable-radix-cache", action="store_true")
    p.add_argument("--page-size", type=int, help="tokens per KV page")
    p.add_argument("--eviction-policy", help="radix cache eviction policy, e.g. lru or lfu")
    p.add_argument("--hierarchical-cache", action="store_true", help="enable HiCache (host-memory tier)")
    p.add_argument("--hicache-ratio", type=float, help="host pool size as a multiple of the GPU pool")
    p.add_argument("--hicache-size", type=int, help="host pool size in GB (instead of --hicache-ratio)")
    p.add_argument("--hicache-write-policy", help="write_back, write_through or write_through_selective")
    p.add_argument("--mem-fraction-static", type=float)
    p.add_argument("--kv-cache-dtype")
    p.add_argument("--tp-size", type=int)
    p.add_argument("--format", choices=("shell", "json"), default="shell", help="shell line (default) or JSON")


def _register_metrics(commands: Any) -> None:
    p = commands.add_parser("metrics", help="show the prefix-cache figures of a running vLLM or SGLang server")
    p.set_defaults(engine_command="metrics")
    p.add_argument("url", help="the engine's base URL or /metrics URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the engine (default 5)")
    p.add_argument("--model", help="model name to use when the metrics carry no model label")
    p.add_argument(
        "--interval",
        type=float,
        metavar="SECONDS",
        help="scrape twice, SECONDS apart, and show what happened in between",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _register_kv_size(commands: Any) -> None:
    p = commands.add_parser("kv-size", help="KV cache bytes for a context, and tokens that fit in memory")
    p.set_defaults(engine_command="kv-size")
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--kv-heads", type=int, required=True, help="num_key_value_heads")
    p.add_argument("--head-dim", type=int, required=True)
    p.add_argument("--seq-len", type=int, default=4096)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dtype", default="fp16")
    p.add_argument("--memory-gib", type=float, help="also say how many tokens fit in this many GiB")
    p.add_argument("--block-size", type=int, help="round the token count down to whole blocks")


def _error(command: str, message: str, code: int) -> int:
    print(f"{_PROG} {command}: error: {message}" if command else f"{_PROG}: error: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen engines subcommand; returns the exit code."""
    command = args.engine_command
    if command is None:
        return _error("", "choose a command: vllm, sglang, metrics or kv-size (see --help)", EXIT_BAD_INPUT)
    try:
        if command == "vllm":
            return _run_vllm(args)
        if command == "sglang":
            return _run_sglang(args)
        if command == "kv-size":
            return _run_kv_size(args)
        return _run_metrics(args)
    except ValueError as exc:
        return _error(command, str(exc), EXIT_BAD_INPUT)


def _run_vllm(args: argparse.Namespace) -> int:
    from cachepoint.core.engines.vllm import LMCACHE_MP_DEFAULT_PORT, VLLMConfig

    if args.lmcache != "mp" and (args.lmcache_host is not None or args.lmcache_port is not None):
        raise ValueError("--lmcache-host/--lmcache-port: need --lmcache mp")
    if args.lmcache != "v1" and args.lmcache_config is not None:
        raise ValueError("--lmcache-config: needs --lmcache v1")
    config = VLLMConfig(
        args.model,
        enable_prefix_caching=not args.no_prefix_caching,
        prefix_caching_hash_algo=args.hash_algo,
        block_size=args.block_size,
        kv_cache_dtype=args.kv_cache_dtype,
        gpu_memory_utilization=args.gpu_memory_utilization,
        max_model_len=args.max_model_len,
        tensor_parallel_size=args.tensor_parallel_size,
        served_model_name=args.served_model_name,
        host=args.host,
        port=args.port,
        enable_prompt_tokens_details=not args.no_prompt_tokens_details,
    )
    if args.lmcache == "v1":
        config = config.with_lmcache_v1(args.lmcache_config)
    elif args.lmcache == "mp":
        port = LMCACHE_MP_DEFAULT_PORT if args.lmcache_port is None else args.lmcache_port
        config = config.with_lmcache_mp(args.lmcache_host or "localhost", port)
    if args.format == "json":
        payload = {"argv": config.command(), "env": dict(config.env), "engine_kwargs": config.to_engine_kwargs()}
        print(json.dumps(payload, indent=2))
    else:
        print(config.shell_command())
    return EXIT_OK


def _run_sglang(args: argparse.Namespace) -> int:
    from cachepoint.core.engines.sglang import SGLangConfig

    config = SGLangConfig(
        args.model,
        host=args.host,
        port=args.port,
        served_model_name=args.served_model_name,
        disable_radix_cache=args.disable_radix_cache,
        page_size=args.page_size,
        radix_eviction_policy=args.eviction_policy,
        enable_hierarchical_cache=args.hierarchical_cache,
        hicache_ratio=args.hicache_ratio,
        hicache_size=args.hicache_size,
        hicache_write_policy=args.hicache_write_policy,
        mem_fraction_static=args.mem_fraction_static,
        kv_cache_dtype=args.kv_cache_dtype,
        tp_size=args.tp_size,
    )
    if args.format == "json":
        print(json.dumps({"argv": config.command()}, indent=2))
    else:
        print(config.shell_command())
    return EXIT_OK


def _run_kv_size(args: argparse.Namespace) -> int:
    from cachepoint.core.engines.sizing import GIB, kv_cache_bytes, tokens_that_fit

    shape = {"layers": args.layers, "kv_heads": args.kv_heads, "head_dim": args.head_dim, "dtype": args.dtype}
    size = kv_cache_bytes(seq_len=args.seq_len, batch=args.batch, **shape)
    print(f"KV cache for {args.batch} x {args.seq_len} tokens: {size:,} bytes ({size / GIB:.3f} GiB)")
    if args.memory_gib is not None:
        fit = tokens_that_fit(args.memory_gib, block_size=args.block_size, **shape)
        print(f"Tokens of KV cache that fit in {args.memory_gib:g} GiB: {fit:,}")
    return EXIT_OK


def _run_metrics(args: argparse.Namespace) -> int:
    from cachepoint.core.engines.errors import EngineError
    from cachepoint.core.engines.metrics import scrape_engine_metrics

    if args.interval is not None and not args.interval > 0:
        raise ValueError(f"--interval: expected a positive number of seconds, got {args.interval:g}")
    try:
        first = scrape_engine_metrics(args.url, timeout=args.timeout, model=args.model)
        if args.interval is None:
            return _show_snapshot(first, as_json=args.json)
        time.sleep(args.interval)
        second = scrape_engine_metrics(args.url, timeout=args.timeout, model=args.model)
    except EngineError as exc:
        return _error("metrics", str(exc), EXIT_CHECK_FAILED)
    return _show_delta(second.since(first), as_json=args.json)


# -- output -------------------------------------------------------------------------------------------------


def _console() -> Console:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 120, highlight=False)


def _fields(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record) if not f.name.startswith("_")}


def _count(value: float | None) -> str:
    return "not exported" if value is None else f"{round(value):,}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _show_snapshot(snapshot: EngineMetricsSnapshot, *, as_json: bool) -> int:
    if as_json:
        models = {name: {**_fields(f), "hit_rate": f.hit_rate} for name, f in snapshot.models.items()}
        payload = {"engine": snapshot.engine, "url": snapshot.url, "cache_config": dict(snapshot.cache_config)}
        print(json.dumps({**payload, "models": models}, indent=2, default=dict))
        return EXIT_OK
    from rich.table import Table

    table = Table(title=f"{snapshot.engine} prefix cache at {snapshot.url} (since the engine started)")
    table.add_column("figure")
    for name in snapshot.models:
        table.add_column(name, justify="right")
    figures = list(snapshot.models.values())
    rows: list[tuple[str, list[str]]] = [
        ("prompt tokens", [_count(f.prompt_tokens) for f in figures]),
        ("cached prompt tokens", [_count(f.cached_prompt_tokens) for f in figures]),
        ("cached token ratio", [_percent(f.cached_token_ratio) for f in figures]),
        ("prefix cache queries (tokens)", [_count(f.prefix_cache_queries) for f in figures]),
        ("prefix cache hits (tokens)", [_count(f.prefix_cache_hits) for f in figures]),
        ("prefix hit rate", [_percent(f.prefix_hit_rate) for f in figures]),
        ("external (connector) hit rate", [_percent(f.external_hit_rate) for f in figures]),
        ("KV cache usage", [_percent(f.kv_cache_usage) for f in figures]),
        ("generated tokens", [_count(f.generation_tokens) for f in figures]),
        ("requests", [_count(f.requests) for f in figures]),
        ("cached tokens from", [f.cached_tokens_metric or "n/a" for f in figures]),
    ]
    for label, cells in rows:
        table.add_row(label, *cells)
    console = _console()
    console.print(table)
    if snapshot.cache_config:
        keys = ("enable_prefix_caching", "prefix_caching_hash_algo", "block_size", "cache_dtype")
        shown = ", ".join(f"{k}={snapshot.cache_config[k]}" for k in keys if k in snapshot.cache_config)
        console.print(f"cache config: {shown}")
    return EXIT_OK


def _show_delta(delta: EngineCacheDelta, *, as_json: bool) -> int:
    if as_json:
        models = {name: {**_fields(d), "hit_rate": d.hit_rate} for name, d in delta.models.items()}
        payload = {"engine": delta.engine, "url": delta.url, "seconds": delta.seconds, "reset": delta.reset}
        print(json.dumps({**payload, "models": models}, indent=2, default=dict))
        return EXIT_OK
    from rich.table import Table

    table = Table(title=f"{delta.engine} prefix cache at {delta.url} over {delta.seconds:.1f} s")
    table.add_column("figure")
    for name in delta.models:
        table.add_column(name, justify="right")
    windows = list(delta.models.values())
    rows: list[tuple[str, list[str]]] = [
        ("prompt tokens", [_count(d.prompt_tokens) for d in windows]),
        ("cached prompt tokens", [_count(d.cached_prompt_tokens) for d in windows]),
        ("cached token ratio", [_percent(d.cached_token_ratio) for d in windows]),
        ("prefix hit rate", [_percent(d.prefix_hit_rate) for d in windows]),
        ("external (connector) hit rate", [_percent(d.external_hit_rate) for d in windows]),
        ("generated tokens", [_count(d.generation_tokens) for d in windows]),
        ("requests", [_count(d.requests) for d in windows]),
    ]
    for label, cells in rows:
        table.add_row(label, *cells)
    console = _console()
    console.print(table)
    if delta.reset:
        console.print("note: the engine restarted during the window; counters were read from zero after it")
    return EXIT_OK
