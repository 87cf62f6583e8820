"""`cachepoint engines ...`: printed commands, the metrics table against a local server, exit codes."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable

import pytest

from cachepoint.core.cli import main


def test_vllm_with_lmcache_mp_prints_a_runnable_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["engines", "vllm", "--model", "Qwen/Qwen3-8B", "--lmcache", "mp", "--lmcache-port", "6555"])
    out = capsys.readouterr().out
    assert code == 0
    argv = shlex.split(out)
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen3-8B"]
    kv = json.loads(argv[argv.index("--kv-transfer-config") + 1])
    assert kv == {
        "kv_connector": "LMCacheMPConnector",
        "kv_role": "kv_both",
        "kv_connector_extra_config": {"lmcache.mp.host": "tcp://localhost", "lmcache.mp.port": 6555},
    }
    assert "--enable-prompt-tokens-details" in argv


def test_vllm_v1_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["engines", "vllm", "--model", "m", "--lmcache", "v1", "--lmcache-config", "lm.yaml", "--format", "json"]
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["env"] == {"LMCACHE_CONFIG_FILE": "lm.yaml"}
    assert payload["argv"][:3] == ["vllm", "serve", "m"]
    assert payload["engine_kwargs"]["kv_transfer_config"] == {
        "kv_connector": "LMCacheConnectorV1",
        "kv_role": "kv_both",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--block-size", "24"], "block_size: expected a power of two such as 16, got 24"),
        (["--hash-algo", "md5"], "prefix_caching_hash_algo: unknown algorithm 'md5'; expected one of: sha256"),
        (["--lmcache", "mp", "--lmcache-port", "70000"], "port: expected a TCP port between 1 and 65535, got 70000"),
        (["--lmcache-port", "6555"], "--lmcache-host/--lmcache-port: need --lmcache mp"),
        (["--lmcache", "mp", "--lmcache-config", "x.yaml"], "--lmcache-config: needs --lmcache v1"),
        (["--port", "0"], "port: expected a TCP port between 1 and 65535, got 0"),
    ],
)
def test_vllm_bad_input_exits_2_naming_the_field(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["engines", "vllm", "--model", "m", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert captured.err.startswith("cachepoint engines vllm: error: ")


def test_argparse_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as missing_model:
        main(["engines", "vllm"])
    assert missing_model.value.code == 2
    with pytest.raises(SystemExit) as not_an_int:
        main(["engines", "vllm", "--model", "m", "--block-size", "sixteen"])
    assert not_an_int.value.code == 2


def test_engines_without_a_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engines"]) == 2
    assert "choose a command" in capsys.readouterr().err


def test_sglang_command(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["engines", "sglang", "--model", "Qwen/Qwen3-8B", "--page-size", "16", "--hierarchical-cache"]
    assert main([*args, "--hicache-ratio", "2", "--hicache-write-policy", "write_through"]) == 0
    argv = shlex.split(capsys.readouterr().out)
    assert argv[:5] == ["python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen3-8B"]
    assert argv[argv.index("--hicache-ratio") + 1] == "2"
    assert argv[argv.index("--hicache-write-policy") + 1] == "write_through"
    assert "--enable-cache-report" in argv


def test_sglang_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engines", "sglang", "--model", "m", "--hicache-ratio", "2"]) == 2
    assert "hicache_ratio: needs enable_hierarchical_cache=True" in capsys.readouterr().err


def test_kv_size(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["engines", "kv-size", "--layers", "80", "--kv-heads", "8", "--head-dim", "128", "--seq-len", "4096"]
    assert main([*args, "--memory-gib", "40"]) == 0
    out = capsys.readouterr().out
    assert "1,342,177,280 bytes (1.250 GiB)" in out
    assert "fit in 40 GiB: 131,072" in out
    assert main([*args, "--dtype", "fp12"]) == 2
    assert "dtype: unknown dtype 'fp12'" in capsys.readouterr().err


def test_metrics_table(http_server, vllm_metrics: Callable[..., str], capsys: pytest.CaptureFixture[str]) -> None:
    values = {
        "prompt_tokens": 4000,
        "prompt_tokens_cached": 1000,
        "prefix_cache_queries": 4000,
        "prefix_cache_hits": 800,
    }
    config = {"block_size": "16", "enable_prefix_caching": "True", "prefix_caching_hash_algo": "sha256"}
    http_server.text("/metrics", vllm_metrics("Qwen/Qwen3-8B", {0: values}, cache_config=config))
    assert main(["engines", "metrics", http_server.url]) == 0
    out = capsys.readouterr().out
    assert "Qwen/Qwen3-8B" in out
    assert "4,000" in out
    assert "1,000" in out
    assert "25.0%" in out  # cached token ratio 1000 / 4000
    assert "20.0%" in out  # prefix hit rate 800 / 4000
    assert "block_size=16" in out


def test_metrics_json_and_interval(
    http_server, sglang_metrics: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.text(
        "/metrics",
        sglang_metrics("qwen", prompt_tokens=1000, cached_by_source={"device": 100}, created=5.0),
        sglang_metrics("qwen", prompt_tokens=3000, cached_by_source={"device": 1700}, created=5.0),
    )
    assert main(["engines", "metrics", http_server.url, "--interval", "0.01", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    window = payload["models"]["qwen"]
    assert (window["prompt_tokens"], window["cached_prompt_tokens"]) == (2000, 1600)
    assert window["hit_rate"] == pytest.approx(0.8)
    assert payload["reset"] is False


def test_metrics_unreachable_exits_1(closed_port_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engines", "metrics", closed_port_url]) == 1
    assert "cannot connect" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["localhost:8000"], "url: expected an http(s) URL"),
        (["http://127.0.0.1:8000", "--timeout", "0"], "timeout: expected a positive number of seconds"),
        (["http://127.0.0.1:8000", "--interval", "-5"], "--interval: expected a positive number of seconds"),
    ],
)
def test_metrics_bad_input_exits_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engines", "metrics", *args]) == 2
    assert message in capsys.readouterr().err
