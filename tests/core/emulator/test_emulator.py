"""The emulator itself: reply sources, the pytest plugin, environment wiring, control endpoints, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from cachepoint.core.emulator import Emulator, RecordedRequest, Reply, script
from cachepoint.core.simulate import ManualClock

MODEL = "claude-sonnet-4-6"


def _ask(emulator: Emulator, text: str = "ping", key: str = "k") -> Any:
    client = anthropic.Anthropic(base_url=emulator.url, api_key=key, max_retries=0)
    return client.messages.create(model=MODEL, max_tokens=32, messages=[{"role": "user", "content": text}])


def test_a_reply_function_sees_the_parsed_request() -> None:
    seen: list[RecordedRequest] = []

    def answer(call: RecordedRequest) -> str:
        seen.append(call)
        assert call.request is not None
        return f"{call.model} got {len(call.request.messages)} message(s): {call.last_user_text}"

    with Emulator(reply=answer) as emulator:
        text = _ask(emulator, "hello").content[0].text
    assert text == f"{MODEL} got 1 message(s): hello"
    assert seen[0].tenant == "k"


def test_chunk_delay_spaces_a_streamed_answer_and_leaves_plain_answers_alone() -> None:
    # A slow model: the usage of message_start arrives at once, the rest one delay per event later.
    import time

    with Emulator(reply="one two three", chunk_delay=0.05) as emulator:
        client = anthropic.Anthropic(base_url=emulator.url, api_key="k", max_retries=0)
        params: dict[str, Any] = {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
        started = time.perf_counter()
        with client.messages.stream(**params) as stream:
            arrivals = [(event.type, time.perf_counter() - started) for event in stream]
        started = time.perf_counter()
        client.messages.create(**params)
        plain = time.perf_counter() - started
    assert arrivals[0][0] == "message_start"
    assert arrivals[-1][1] - arrivals[0][1] >= 0.05 * 7  # eight SSE events, seven delays between them
    assert plain < 0.3
    with pytest.raises(ValueError, match="chunk_delay"):
        Emulator(chunk_delay=-1)


def test_a_script_answers_in_order_then_fails_like_the_api() -> None:
    with Emulator(reply=script(["one", Reply("two")])) as emulator:
        assert [_ask(emulator).content[0].text for _ in range(2)] == ["one", "two"]
        with pytest.raises(anthropic.InternalServerError, match="reply script is exhausted"):
            _ask(emulator)
        assert emulator.requests[-1].status == 500


def test_a_failing_reply_function_is_a_500_with_the_reason() -> None:
    def broken(call: RecordedRequest) -> str:
        raise RuntimeError("boom")

    with Emulator(reply=broken) as emulator:
        with pytest.raises(anthropic.InternalServerError, match="RuntimeError: boom"):
            _ask(emulator)
        assert emulator.cache_entries() == []


@pytest.mark.cachepoint_emulator(reply="Paris")
def test_the_marker_configures_the_fixture(cachepoint_emulator: Emulator) -> None:
    assert _ask(cachepoint_emulator, "Capital of France?").content[0].text == "Paris"


def test_the_env_fixture_points_unconfigured_clients_at_the_emulator(cachepoint_emulator_env: Emulator) -> None:
    import boto3
    import openai

    # No base_url, endpoint_url or key passed: they come from the environment.
    anthropic.Anthropic(max_retries=0).messages.create(
        model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "a"}]
    )
    openai.OpenAI(max_retries=0).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "b"}])
    boto3.client("bedrock-runtime").converse(
        modelId="anthropic.claude-sonnet-4-5", messages=[{"role": "user", "content": [{"text": "c"}]}]
    )
    assert [r.protocol for r in cachepoint_emulator_env.requests] == ["anthropic", "openai", "bedrock"]
    assert {r.status for r in cachepoint_emulator_env.requests} == {200}


def test_control_endpoints_expose_state_and_move_the_clock() -> None:
    manual = "The manual says many things about routers. " * 200
    system = [{"type": "text", "text": manual, "cache_control": {"type": "ephemeral"}}]
    clock = ManualClock(1000.0)
    with Emulator(clock=clock) as emulator:
        client = anthropic.Anthropic(base_url=emulator.url, api_key="k", max_retries=0)
        client.messages.create(model=MODEL, max_tokens=8, system=system, messages=[{"role": "user", "content": "q"}])
        [entry] = httpx.get(f"{emulator.url}/_cachepoint/cache").json()
        assert (entry["tenant"], entry["ttl"], entry["expires_at"], entry["path"]) == ("k", "5m", 1300.0, "system[0]")
        [summary] = httpx.get(f"{emulator.url}/_cachepoint/requests").json()
        assert summary["usage"]["cache_write_tokens"] == entry["tokens"]
        assert httpx.post(f"{emulator.url}/_cachepoint/advance", json={"seconds": 300}).json() == {"now": 1300.0}
        assert httpx.get(f"{emulator.url}/_cachepoint/cache").json() == []
        assert httpx.post(f"{emulator.url}/_cachepoint/reset").json() == {"ok": True}
        assert emulator.requests == []
        assert httpx.get(f"{emulator.url}/_cachepoint/nope").status_code == 404


def test_unknown_paths_are_404_without_being_recorded() -> None:
    with Emulator() as emulator:
        assert httpx.post(f"{emulator.url}/v2/whatever", json={}).status_code == 404
        assert emulator.requests == []


def test_url_needs_a_running_server() -> None:
    emulator = Emulator()
    with pytest.raises(RuntimeError, match="not running"):
        _ = emulator.url


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def test_the_plugin_works_as_a_user_enables_it(tmp_path: Path) -> None:
    test_file = tmp_path / "test_user_agent.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import anthropic
            import pytest

            pytest_plugins = ["cachepoint.core.emulator.pytest_plugin"]

            SYSTEM = [{"type": "text", "text": "Long instructions. " * 600, "cache_control": {"type": "ephemeral"}}]

            @pytest.mark.cachepoint_emulator(reply="ok")
            def test_my_agent_hits_the_cache(cachepoint_emulator_env):
                client = anthropic.Anthropic()
                for _ in range(2):
                    client.messages.create(model="claude-sonnet-4-6", max_tokens=8, system=SYSTEM,
                                           messages=[{"role": "user", "content": "hi"}])
                first, second = (r.usage for r in cachepoint_emulator_env.requests)
                assert second.cache_read_tokens == first.cache_write_tokens > 0
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=_env(),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_cli_prints_the_url_and_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cachepoint.core.cli", "emulate", "--port", "0", "--reply", "from the CLI"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
        reply = client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        assert reply.content[0].text == "from the CLI"
        assert httpx.get(f"{url}/_cachepoint/requests").json()[0]["status"] == 200
    finally:
        process.terminate()  # SIGTERM: a clean shutdown
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "cachepoint emulator listening on" in err


def test_cli_rejects_a_bad_port() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cachepoint.core.cli", "emulate", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    assert result.returncode == 2
    assert "--port" in result.stderr


def test_an_unknown_model_is_simulated_conservatively_and_noted() -> None:
    import warnings

    from cachepoint.core.providers import UnknownModelWarning

    with Emulator() as emulator, warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        client = anthropic.Anthropic(base_url=emulator.url, api_key="k", max_retries=0)
        system = [{"type": "text", "text": "Rules of the house. " * 400, "cache_control": {"type": "ephemeral"}}]
        usage = client.messages.create(
            model="claude-internal-9", max_tokens=8, system=system, messages=[{"role": "user", "content": "q"}]
        ).usage
        # ~1.6k tokens: enough for claude-sonnet-4-6 (1024), below the 4096 assumed for a model nobody knows.
        assert usage.cache_creation_input_tokens == 0
        assert "not in cachepoint's provider table" in emulator.requests[0].notes[0]
