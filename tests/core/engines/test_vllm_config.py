"""VLLMConfig: the `vllm serve` command line, `vllm.LLM` kwargs, LMCache wiring and validation."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from cachepoint.core.engines.vllm import VLLMConfig


def _flag_value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_defaults_keep_prefix_caching_and_report_cached_tokens() -> None:
    assert VLLMConfig("Qwen/Qwen3-8B").command() == [
        "vllm",
        "serve",
        "Qwen/Qwen3-8B",
        "--enable-prefix-caching",
        "--enable-prompt-tokens-details",
    ]


def test_every_setting_reaches_the_command_line() -> None:
    config = VLLMConfig(
        "meta-llama/Llama-3.1-70B-Instruct",
        prefix_caching_hash_algo="sha256_cbor",
        block_size=32,
        kv_cache_dtype="fp8",
        gpu_memory_utilization=0.85,
        max_model_len=32768,
        tensor_parallel_size=4,
        served_model_name="llama-70b",
        host="0.0.0.0",
        port=8001,
        extra_args=("--max-num-seqs", "128"),
    )
    argv = shlex.split(config.shell_command())
    assert argv[:3] == ["vllm", "serve", "meta-llama/Llama-3.1-70B-Instruct"]
    assert _flag_value(argv, "--prefix-caching-hash-algo") == "sha256_cbor"
    assert _flag_value(argv, "--block-size") == "32"
    assert _flag_value(argv, "--kv-cache-dtype") == "fp8"
    assert _flag_value(argv, "--gpu-memory-utilization") == "0.85"
    assert _flag_value(argv, "--max-model-len") == "32768"
    assert _flag_value(argv, "--tensor-parallel-size") == "4"
    assert _flag_value(argv, "--served-model-name") == "llama-70b"
    assert _flag_value(argv, "--host") == "0.0.0.0"
    assert _flag_value(argv, "--port") == "8001"
    assert argv[-2:] == ["--max-num-seqs", "128"]


def test_prefix_caching_off_uses_the_negated_flag() -> None:
    argv = VLLMConfig("m", enable_prefix_caching=False).to_cli_args()
    assert "--no-enable-prefix-caching" in argv
    assert "--enable-prefix-caching" not in argv


def test_lmcache_v1_shape_and_config_file() -> None:
    config = VLLMConfig("Qwen/Qwen3-8B").with_lmcache_v1("/etc/lmcache/cpu offload.yaml")
    line = config.shell_command()
    assert line.startswith("LMCACHE_CONFIG_FILE='/etc/lmcache/cpu offload.yaml' vllm serve ")
    argv = shlex.split(line)
    assert argv[0] == "LMCACHE_CONFIG_FILE=/etc/lmcache/cpu offload.yaml"
    assert json.loads(_flag_value(argv, "--kv-transfer-config")) == {
        "kv_connector": "LMCacheConnectorV1",
        "kv_role": "kv_both",
    }


def test_lmcache_mp_shape() -> None:
    argv = VLLMConfig("Qwen/Qwen3-14B").with_lmcache_mp("cache-node-1", 6555).command()
    assert json.loads(_flag_value(argv, "--kv-transfer-config")) == {
        "kv_connector": "LMCacheMPConnector",
        "kv_role": "kv_both",
        "kv_connector_extra_config": {"lmcache.mp.host": "tcp://cache-node-1", "lmcache.mp.port": 6555},
    }


def test_lmcache_mp_defaults_and_extra_keys() -> None:
    config = VLLMConfig("m").with_lmcache_mp(extra_config={"lmcache.mp.mq_timeout": 30})
    assert config.kv_transfer_config is not None
    assert dict(config.kv_transfer_config["kv_connector_extra_config"]) == {
        "lmcache.mp.host": "tcp://localhost",
        "lmcache.mp.port": 5555,
        "lmcache.mp.mq_timeout": 30,
    }


@pytest.mark.parametrize(
    ("host", "expected"),
    [("localhost", "tcp://localhost"), ("tcp://10.0.0.7", "tcp://10.0.0.7"), ("  cache  ", "tcp://cache")],
)
def test_lmcache_mp_host_gets_the_zmq_scheme(host: str, expected: str) -> None:
    config = VLLMConfig("m").with_lmcache_mp(host)
    assert config.kv_transfer_config is not None
    assert config.kv_transfer_config["kv_connector_extra_config"]["lmcache.mp.host"] == expected


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [
        ("localhost:5555", 5555, "host: 'localhost:5555' contains a port; pass the port separately"),
        ("http://cache", 5555, "host: LMCache MP speaks ZMQ over tcp://, got scheme 'http'"),
        ("", 5555, "host: expected a host name or address"),
        ("tcp://", 5555, "host: expected a bare host name"),
        ("localhost", 0, "port: expected a TCP port between 1 and 65535, got 0"),
        ("localhost", 65536, "port: expected a TCP port between 1 and 65535, got 65536"),
        ("localhost", True, "port: expected a TCP port between 1 and 65535, got True"),
    ],
)
def test_lmcache_mp_bad_address(host: Any, port: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VLLMConfig("m").with_lmcache_mp(host, port)


def test_lmcache_mp_extra_config_cannot_override_host_or_port() -> None:
    with pytest.raises(ValueError, match=r"extra_config\['lmcache.mp.port'\]: set it with the port= argument"):
        VLLMConfig("m").with_lmcache_mp(extra_config={"lmcache.mp.port": 1})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"prefix_caching_hash_algo": "md5"},
            "prefix_caching_hash_algo: unknown algorithm 'md5'; expected one of: sha256, sha256_cbor, xxhash, "
            "xxhash_cbor",
        ),
        ({"block_size": 24}, "block_size: expected a power of two such as 16, got 24"),
        ({"block_size": 0}, "block_size: expected a positive integer, got 0"),
        ({"block_size": 16.0}, "block_size: expected a positive integer, got 16.0"),
        ({"port": 0}, "port: expected a TCP port between 1 and 65535, got 0"),
        ({"port": "8000"}, "port: expected a TCP port between 1 and 65535, got '8000'"),
        ({"gpu_memory_utilization": 1.5}, r"gpu_memory_utilization: expected a fraction in \(0, 1\], got 1.5"),
        ({"gpu_memory_utilization": 0}, r"gpu_memory_utilization: expected a fraction in \(0, 1\], got 0"),
        ({"max_model_len": -1}, "max_model_len: expected a positive integer, got -1"),
        ({"tensor_parallel_size": True}, "tensor_parallel_size: expected a positive integer, got True"),
        ({"kv_cache_dtype": "fp8; rm -rf"}, "kv_cache_dtype: expected a dtype name"),
        ({"served_model_name": ""}, "served_model_name: expected a non-empty string"),
        ({"enable_prefix_caching": "yes"}, "enable_prefix_caching: expected True or False, got 'yes'"),
        (
            {"kv_transfer_config": {"kv_connector": "X", "kv_role": "both"}},
            "kv_transfer_config.kv_role: expected one of",
        ),
        ({"kv_transfer_config": {"kv_role": "kv_both"}}, "kv_transfer_config.kv_connector: expected a connector name"),
        (
            {"kv_transfer_config": {"kv_connector": "X", "kv_role": "kv_both", "kv_connector_extra_config": [1]}},
            "kv_transfer_config.kv_connector_extra_config: expected an object",
        ),
        ({"kv_transfer_config": {"kv_connector": object()}}, "kv_transfer_config: must be JSON-serializable"),
        ({"env": {"1BAD": "x"}}, "env: '1BAD' is not a valid environment variable name"),
        ({"env": {"GOOD": 1}}, r"env\['GOOD'\]: expected a string, got 1"),
        ({"extra_args": "--max-num-seqs 4"}, "extra_args: expected a sequence of strings"),
        ({"extra_args": ["--x", 4]}, r"extra_args\[1\]: expected a string, got 4"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VLLMConfig("m", **kwargs)


def test_empty_model_is_refused() -> None:
    with pytest.raises(ValueError, match="model: expected a non-empty string"):
        VLLMConfig("  ")


def test_engine_kwargs_for_offline_llm() -> None:
    config = VLLMConfig(
        "m", block_size=16, prefix_caching_hash_algo="xxhash", port=8000, host="h", max_model_len=4096
    ).with_lmcache_v1("x.yaml")
    kwargs = config.to_engine_kwargs()
    assert kwargs == {
        "model": "m",
        "enable_prefix_caching": True,
        "prefix_caching_hash_algo": "xxhash",
        "block_size": 16,
        "max_model_len": 4096,
        "kv_transfer_config": {"kv_connector": "LMCacheConnectorV1", "kv_role": "kv_both"},
    }
    assert dict(config.env) == {"LMCACHE_CONFIG_FILE": "x.yaml"}


def test_configs_are_immutable_snapshots() -> None:
    kv: dict[str, Any] = {"kv_connector": "LMCacheConnectorV1", "kv_role": "kv_both"}
    config = VLLMConfig("m", kv_transfer_config=kv)
    kv["kv_role"] = "kv_producer"  # the caller's dict changes later...
    kwargs = config.to_engine_kwargs()
    kwargs["kv_transfer_config"]["kv_role"] = "kv_consumer"  # ...and so does the kwargs copy
    assert config.kv_transfer_config is not None
    assert config.kv_transfer_config["kv_role"] == "kv_both"
    with pytest.raises(TypeError):
        config.env["X"] = "y"  # type: ignore[index]


def test_with_methods_return_new_configs() -> None:
    base = VLLMConfig("m", port=8000)
    with_mp = base.with_lmcache_mp()
    assert base.kv_transfer_config is None
    assert with_mp.port == 8000
    assert with_mp != base
    # Switching connector replaces the old one instead of merging into it.
    back_to_v1 = with_mp.with_lmcache_v1()
    assert back_to_v1.kv_transfer_config is not None
    assert "kv_connector_extra_config" not in back_to_v1.kv_transfer_config
