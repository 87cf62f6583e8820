"""SGLangConfig: the launch command for the radix cache and HiCache, and validation."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from cachepoint.core.engines.sglang import SGLangConfig


def test_defaults_report_cached_tokens_and_export_metrics() -> None:
    assert SGLangConfig("Qwen/Qwen3-8B").command() == [
        "python3",
        "-m",
        "sglang.launch_server",
        "--model-path",
        "Qwen/Qwen3-8B",
        "--enable-cache-report",
        "--enable-metrics",
    ]


def test_hierarchical_cache_settings() -> None:
    config = SGLangConfig(
        "deepseek-ai/DeepSeek-V3",
        port=30000,
        page_size=64,
        radix_eviction_policy="lfu",
        enable_hierarchical_cache=True,
        hicache_size=100,
        hicache_write_policy="write_back",
        mem_fraction_static=0.8,
        tp_size=8,
    )
    argv = shlex.split(config.shell_command())
    pairs = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    assert pairs["--page-size"] == "64"
    assert pairs["--radix-eviction-policy"] == "lfu"
    assert pairs["--hicache-size"] == "100"
    assert pairs["--hicache-write-policy"] == "write_back"
    assert pairs["--mem-fraction-static"] == "0.8"
    assert pairs["--tp-size"] == "8"
    assert "--enable-hierarchical-cache" in argv
    assert "--hicache-ratio" not in argv


def test_radix_cache_off() -> None:
    argv = SGLangConfig("m", disable_radix_cache=True, enable_cache_report=False).to_cli_args()
    assert argv == ["--model-path", "m", "--disable-radix-cache", "--enable-metrics"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hicache_ratio": 2.0}, "hicache_ratio: needs enable_hierarchical_cache=True"),
        ({"hicache_write_policy": "write_back"}, "hicache_write_policy: needs enable_hierarchical_cache=True"),
        (
            {"enable_hierarchical_cache": True, "disable_radix_cache": True},
            "enable_hierarchical_cache: HiCache extends the radix cache",
        ),
        (
            {"enable_hierarchical_cache": True, "hicache_ratio": 2.0, "hicache_size": 10},
            "hicache_size: SGLang ignores hicache_ratio when hicache_size is set",
        ),
        (
            {"enable_hierarchical_cache": True, "hicache_write_policy": "write_around"},
            "hicache_write_policy: unknown policy 'write_around'; expected one of: write_back, write_through, "
            "write_through_selective",
        ),
        ({"enable_hierarchical_cache": True, "hicache_ratio": 0}, "hicache_ratio: expected a positive number"),
        ({"page_size": 0}, "page_size: expected a positive integer, got 0"),
        ({"port": 70000}, "port: expected a TCP port between 1 and 65535, got 70000"),
        ({"mem_fraction_static": 1.0}, r"mem_fraction_static: expected a fraction in \(0, 1\), got 1.0"),
        ({"radix_eviction_policy": "least recently"}, "radix_eviction_policy: expected a name"),
        ({"disable_radix_cache": 1}, "disable_radix_cache: expected True or False, got 1"),
        ({"extra_args": "--x"}, "extra_args: expected a sequence of strings"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SGLangConfig("m", **kwargs)


def test_model_path_required() -> None:
    with pytest.raises(ValueError, match="model_path: expected a model name or path"):
        SGLangConfig("")
