"""Write ``hand_counted.jsonl``: twelve Anthropic requests whose ``usage`` was worked out by hand from Anthropic's
documented prompt-caching rules, not by cachepoint's simulator (this script imports nothing from cachepoint).
``hand_counted.md`` next to it shows the working, request by request, so that anyone can check it.

    python examples/traces/hand_counted.py            # rewrites hand_counted.jsonl next to this file
    python examples/traces/hand_counted.py --out DIR  # somewhere else

Token counts follow one stated convention (no network, so no provider tokenizer): a block counts its words
(``len(text.split())``), and a message adds 3 tokens for its role markers at its first block. The texts are
built to have exact word counts; the usage numbers below are typed in from the working in ``hand_counted.md``.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
MODEL = "claude-sonnet-4-5"

_VOCABULARY = (  # noqa: SIM905 - a sentence of words reads better than a list literal
    "the router keeps its settings after a reset while the app lists every device on the home network and "
    "shows which band each one uses so that slow rooms can be found and fixed without a call to support"
).split()


def words(n: int, label: str) -> str:
    """A text of exactly ``n`` words: ``label`` and then ``n - 1`` words of the vocabulary."""
    offset = sum(map(ord, label)) % len(_VOCABULARY)
    return " ".join([label, *(_VOCABULARY[(offset + i) % len(_VOCABULARY)] for i in range(n - 1))])


# Blocks by name: (words, text). The system prompts carry no message overhead; message blocks do (see above).
SYSTEM = words(1200, "Policy:")  # S: 1,200 tokens, marked 1h
TRIAGE = words(300, "Triage:")  # T: 300 tokens, marked 5m (below the 1,024-token minimum of the model)
TEXT = {
    "U1": words(37, "U1:"),
    "A1": words(57, "A1:"),
    "U2": words(27, "U2:"),
    "A2": words(47, "A2:"),
    "U3": words(17, "U3:"),
    "V1": words(32, "V1:"),
    "B1": words(62, "B1:"),
    "V2": words(22, "V2:"),
    "V2-edited": words(27, "V2-edited:"),
    "W1": words(17, "W1:"),
    "C1": words(37, "C1:"),
    "W2": words(22, "W2:"),
    "X1": words(47, "X1:"),
    "D1": words(37, "D1:"),
    "Y1": words(27, "Y1:"),
    "Z1": words(22, "Z1:"),
}
#: X2: one user message of 22 retrieved passages, each its own text block of 9 words.
PASSAGES = [words(9, f"P{n:02d}:") for n in range(1, 23)]

FIVE_MINUTES = {"type": "ephemeral"}
ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}


def system(name: str) -> list[dict[str, Any]]:
    if name == "S":
        return [{"type": "text", "text": SYSTEM, "cache_control": ONE_HOUR}]
    return [{"type": "text", "text": TRIAGE, "cache_control": FIVE_MINUTES}]


def conversation(*names: str) -> list[dict[str, Any]]:
    """Alternating user/assistant messages; the last one (a user turn) carries a 5-minute marker."""
    messages: list[dict[str, Any]] = []
    for n, name in enumerate(names):
        role = "user" if n % 2 == 0 else "assistant"
        if name == "X2":
            blocks = [{"type": "text", "text": text} for text in PASSAGES]
        else:
            blocks = [{"type": "text", "text": TEXT[name]}]
        messages.append({"role": role, "content": blocks})
    messages[-1]["content"][-1]["cache_control"] = FIVE_MINUTES
    return messages


def usage(input_tokens: int, read: int, write_5m: int, write_1h: int, output: int) -> dict[str, Any]:
    """Anthropic's usage object: ``input_tokens`` excludes what was read from or written to the cache."""
    return {
        "input_tokens": input_tokens,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
        "output_tokens": output,
    }


# (seconds after 09:00 UTC, session, system, conversation, usage worked out by hand in hand_counted.md)
REQUESTS: list[tuple[int, str, str, tuple[str, ...], dict[str, Any]]] = [
    (0, "chat-a", "S", ("U1",), usage(0, 0, 40, 1200, 57)),
    (60, "chat-a", "S", ("U1", "A1", "U2"), usage(0, 1240, 90, 0, 47)),
    (420, "chat-a", "S", ("U1", "A1", "U2", "A2", "U3"), usage(0, 1200, 200, 0, 64)),
    (450, "chat-b", "S", ("V1",), usage(0, 1200, 35, 0, 62)),
    (700, "chat-b", "S", ("V1", "B1", "V2"), usage(0, 1235, 90, 0, 40)),
    (950, "chat-b", "S", ("V1", "B1", "V2-edited"), usage(0, 1235, 95, 0, 45)),
    (1000, "triage-c", "T", ("W1",), usage(320, 0, 0, 0, 37)),
    (1030, "triage-c", "T", ("W1", "C1", "W2"), usage(385, 0, 0, 0, 30)),
    (1100, "chat-d", "S", ("X1",), usage(0, 1200, 50, 0, 37)),
    (1130, "chat-d", "S", ("X1", "D1", "X2"), usage(0, 1200, 291, 0, 52)),
    (4000, "chat-e", "S", ("Y1",), usage(0, 1200, 30, 0, 40)),
    (7800, "chat-f", "S", ("Z1",), usage(0, 0, 25, 1200, 35)),
]


def lines() -> list[dict[str, Any]]:
    out = []
    for seconds, session, system_name, names, reported in REQUESTS:
        moment = START + timedelta(seconds=seconds)
        body = {
            "model": MODEL,
            "max_tokens": 512,
            "system": system(system_name),
            "messages": conversation(*names),
        }
        out.append(
            {
                "v": 1,
                "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "provider": "anthropic",
                # The triage bot is another app with its own API key: its own cache partition.
                "tenant": "triage-app" if system_name == "T" else "support-app",
                "session": session,
                "request": body,
                "usage": reported,
                "metadata": {"usage_source": "worked out by hand from Anthropic's documented rules: hand_counted.md"},
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write hand_counted.jsonl to")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "hand_counted.jsonl"
    path.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines()), encoding="utf-8")
    print(f"{path}: {len(REQUESTS)} requests")


if __name__ == "__main__":
    main()
