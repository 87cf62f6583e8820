"""Regenerate the four synthetic sample traces in this folder (deterministic: same seed, same bytes).

    python examples/traces/generate.py            # writes the four *.jsonl.xz traces next to this file
    python examples/traces/generate.py --out DIR  # somewhere else

These traces are made up, not recorded: each is a day (or an afternoon) of invented traffic shaped like a real
agent's, written by this script as `cachepoint.core.traces` envelopes and xz-compressed (traces repeat their
tools, system prompt and history on every line, so they shrink 100x; ``cachepoint analyze`` reads compressed
traces as they are). They carry requests and timestamps only, no ``usage``: no provider ever answered them, so
there is nothing it could have reported. ``hand_counted.jsonl`` (see ``hand_counted.md``) is the sample whose
usage was worked out by hand from the provider's documented rules, for the report's "reported vs predicted".

- ``support_agent.jsonl.xz`` - Anthropic Messages. A customer-support agent with 24 tools, a 1.2k-token policy,
  and multi-turn sessions (each tool round is its own model call). The team put one ``cache_control`` on the
  system prompt. A quarter of the sessions run on a serverless worker that rebuilds the tool list from a set,
  so its order changes per cold start; customers sometimes wait longer than five minutes between messages.
- ``rag_docs.jsonl.xz`` - OpenAI Chat Completions (gpt-4.1, automatic caching). Questions over a fixed set of 30
  documents; the top 4 go into the user message as separate parts, in retrieval-score order, which shuffles
  between questions that retrieve the same documents. No ``prompt_cache_key``.
- ``coding_agent.jsonl.xz`` - Bedrock Converse (Claude Sonnet 4.5). Long agent loops (8 to 30 tool calls per
  task, each a model call) with ``cachePoint`` after the system prompt and after the latest human message, so
  the growing loop is never cached and a follow-up after a long loop is out of the 20-block lookback.
- ``timestamp_prompt.jsonl.xz`` - Anthropic Messages. A banking assistant whose system prompt starts with the
  current date and time, with markers on the system prompt (1h) and the conversation: every request writes a
  cache entry that nothing ever reads.
"""

from __future__ import annotations

import argparse
import lzma
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).parent
DAY = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)

WORDS = (  # noqa: SIM905 - a paragraph of words reads better than a list literal
    "account order customer refund shipment address invoice payment card policy warranty return label carrier "
    "delivery package tracking store credit exchange damaged missing replacement subscription plan billing "
    "discount coupon loyalty points escalation supervisor ticket status update request verify identity email "
    "phone number region country tax receipt item quantity size color stock warehouse backorder estimate date "
    "window business days weekend holiday notice confirm cancel reopen close note summary reason code"
).split()
DOC_WORDS = (  # noqa: SIM905 - a paragraph of words reads better than a list literal
    "router firmware setup wireless band channel interference mesh node backhaul ethernet port gateway modem "
    "bridge mode subnet dhcp lease address reservation dns resolver parental controls schedule guest network "
    "password encryption wpa3 roaming signal strength placement antenna reset factory default admin console "
    "app pairing bluetooth update rollback log diagnostics speed test latency throughput qos priority device "
    "list port forwarding vpn server client certificate upnp ipv6 prefix delegation firewall rule"
).split()
CODE_WORDS = (  # noqa: SIM905 - a paragraph of words reads better than a list literal
    "def return import class self value result config parser token buffer index error raise assert test fixture "
    "client request response payload schema field default optional list dict tuple async await loop task queue "
    "retry timeout cache key store lookup insert delete update path file line column offset range slice"
).split()


def text(rng: random.Random, words: int, vocab: tuple[str, ...] | list[str] = WORDS) -> str:
    """Sentences of ``words`` words, plain and deterministic."""
    out: list[str] = []
    sentence: list[str] = []
    for _ in range(words):
        sentence.append(rng.choice(vocab))
        if len(sentence) >= rng.randint(8, 16):
            out.append(" ".join(sentence).capitalize() + ".")
            sentence = []
    if sentence:
        out.append(" ".join(sentence).capitalize() + ".")
    return " ".join(out)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def write_xz(path: Path, lines: Iterator[dict[str, Any]]) -> tuple[int, int]:
    data = b"".join(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE) for line in lines)
    # xz's window spans many lines, so the prompt every line repeats is stored once; the same lines give the
    # same bytes (no timestamp in the xz header).
    packed = lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)
    path.write_bytes(packed)
    return data.count(b"\n"), len(packed)


# --- 1. support agent ------------------------------------------------------------------------------------------

SUPPORT_TOOLS = [
    ("lookup_customer", {"email": "The customer's e-mail address.", "phone": "Phone number in E.164 format."}),
    ("get_order", {"order_id": "The order number, e.g. A-10023."}),
    ("list_orders", {"customer_id": "Customer id from lookup_customer.", "limit": "How many orders, newest first."}),
    ("get_shipping_status", {"order_id": "The order number.", "carrier": "Carrier code if known."}),
    ("refund_order", {"order_id": "The order number.", "amount": "Amount in cents.", "reason": "Reason code."}),
    ("cancel_order", {"order_id": "The order number.", "reason": "Reason code."}),
    ("update_address", {"order_id": "The order number.", "address": "The full new shipping address."}),
    ("check_inventory", {"sku": "Stock keeping unit.", "region": "Warehouse region."}),
    ("create_return_label", {"order_id": "The order number.", "items": "Line item ids to return."}),
    ("apply_coupon", {"order_id": "The order number.", "code": "Coupon code."}),
    ("get_invoice", {"order_id": "The order number.", "format": "pdf or html."}),
    ("update_payment_method", {"customer_id": "Customer id.", "token": "Payment token from the vault."}),
    ("create_ticket", {"customer_id": "Customer id.", "summary": "One-line summary.", "priority": "low to urgent."}),
    ("escalate_ticket", {"ticket_id": "Ticket id.", "team": "billing, logistics or technical."}),
    ("add_ticket_note", {"ticket_id": "Ticket id.", "note": "Text of the note."}),
    ("get_ticket", {"ticket_id": "Ticket id."}),
    ("search_help_center", {"query": "Search words.", "locale": "Language code."}),
    ("get_loyalty_balance", {"customer_id": "Customer id."}),
    ("redeem_loyalty_points", {"customer_id": "Customer id.", "points": "Points to redeem."}),
    ("schedule_callback", {"customer_id": "Customer id.", "window": "ISO time window for the call."}),
    ("verify_identity", {"customer_id": "Customer id.", "method": "sms, email or security question."}),
    ("get_subscription", {"customer_id": "Customer id."}),
    ("change_subscription_plan", {"customer_id": "Customer id.", "plan": "Plan code."}),
    ("send_email", {"customer_id": "Customer id.", "template": "Template name.", "variables": "Template values."}),
]


def support_tools(rng: random.Random) -> list[dict[str, Any]]:
    tools = []
    for name, params in SUPPORT_TOOLS:
        properties = {key: {"type": "string", "description": desc} for key, desc in params.items()}
        tools.append(
            {
                "name": name,
                "description": f"{name.replace('_', ' ').capitalize()}. " + text(rng, 70),
                "input_schema": {"type": "object", "properties": properties, "required": list(params)[:1]},
            }
        )
    return tools


def support_agent(seed: int = 1) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    tools = support_tools(rng)
    system = [
        {
            "type": "text",
            "text": "You are the support agent of Acme Home. Follow the policy below. " + text(rng, 1000),
            "cache_control": {"type": "ephemeral"},
        }
    ]
    noise = random.Random(seed + 100)
    events: list[tuple[datetime, str, dict[str, Any]]] = []
    start = DAY
    for session in range(110):
        start += timedelta(seconds=rng.expovariate(1 / 250))
        ticket = f"ticket-{4100 + session}"
        serverless = rng.random() < 0.25
        order = tools[:]
        if serverless:  # the tool list comes from a set: another order on every cold start
            rng.shuffle(order)
        messages: list[dict[str, Any]] = []
        moment = start
        for _turn in range(rng.randint(2, 5)):
            messages.append({"role": "user", "content": text(rng, rng.randint(15, 60))})
            for _round in range(rng.choice((0, 1, 1, 2))):
                events.append((moment, ticket, {"tools": order, "system": system, "messages": list(messages)}))
                moment += timedelta(seconds=rng.uniform(2, 7))
                tool = rng.choice(order)
                call_id = f"toolu_{rng.getrandbits(48):012x}"
                key = next(iter(tool["input_schema"]["properties"]))
                messages.append(
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": call_id, "name": tool["name"], "input": {key: "A-10023"}}
                        ],
                    }
                )
                messages.append(
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": call_id, "content": text(rng, 120)}],
                    }
                )
            events.append((moment, ticket, {"tools": order, "system": system, "messages": list(messages)}))
            messages.append({"role": "assistant", "content": text(rng, rng.randint(30, 90))})
            wait = rng.uniform(20, 200) if rng.random() > 0.18 else rng.uniform(360, 1500)
            moment += timedelta(seconds=wait)
    events.sort(key=lambda e: e[0])
    for moment, ticket, parts in events:
        yield {
            "v": 1,
            "timestamp": iso(moment),
            "provider": "anthropic",
            "tenant": "acme-prod",
            "session": ticket,
            "ttft_s": round(noise.uniform(0.4, 1.6), 3),
            "request": {"model": "claude-sonnet-4-5", "max_tokens": 1024, **parts},
        }


# --- 2. RAG over a fixed document set (OpenAI Chat) ------------------------------------------------------------


def rag_docs(seed: int = 2) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    docs = [
        f"# Router guide {n}: {' '.join(rng.sample(DOC_WORDS, 3))}\n\n" + text(rng, 260, DOC_WORDS) for n in range(30)
    ]
    topics = [rng.sample(range(30), 4) for _ in range(12)]  # what the popular questions retrieve
    weights = [1 / (k + 1) for k in range(len(topics))]
    system = (
        "You answer questions about Acme routers using only the context documents the user message provides. "
        "Cite the guide number. If the documents do not answer, say so. " + text(rng, 60, DOC_WORDS)
    )
    moment = DAY + timedelta(hours=5)
    for _ in range(420):
        moment += timedelta(seconds=rng.expovariate(1 / 14))
        chosen = list(rng.choices(topics, weights)[0])
        if rng.random() < 0.45:  # retrieval scores are close: the order changes between equal queries
            i = rng.randrange(3)
            chosen[i], chosen[i + 1] = chosen[i + 1], chosen[i]
        parts = [{"type": "text", "text": docs[d]} for d in chosen]
        parts.append({"type": "text", "text": "Question: " + text(rng, rng.randint(8, 25), DOC_WORDS)})
        body = {
            "model": "gpt-4.1",
            "temperature": 0,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": parts}],
        }
        yield {
            "v": 1,
            "timestamp": round(moment.timestamp(), 3),
            "session": f"user-{rng.randint(1, 160)}",
            "tenant": "docs-bot",
            "request": body,
        }


# --- 3. coding agent with long loops (Bedrock Converse) ------------------------------------------------------

CODE_TOOLS = [
    ("read_file", "Read a file of the repository.", {"path": "Path from the repository root."}),
    ("write_file", "Write a whole file.", {"path": "Path from the repository root.", "content": "New content."}),
    ("apply_patch", "Apply a unified diff.", {"patch": "The diff."}),
    ("grep", "Search the repository.", {"pattern": "A regular expression.", "path": "Where to search."}),
    ("list_dir", "List a directory.", {"path": "Directory path."}),
    ("run_tests", "Run the test suite or one test file.", {"target": "Test path or node id."}),
    ("run_command", "Run a shell command in the sandbox.", {"command": "The command line."}),
    ("git_diff", "Show the working-tree diff.", {"path": "Optional path filter."}),
]


def coding_agent(seed: int = 3) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    tools: list[dict[str, Any]] = [
        {
            "toolSpec": {
                "name": name,
                "description": desc + " " + text(rng, 90, CODE_WORDS),
                "inputSchema": {
                    "json": {
                        "type": "object",
                        "properties": {k: {"type": "string", "description": v} for k, v in params.items()},
                        "required": list(params)[:1],
                    }
                },
            }
        }
        for name, desc, params in CODE_TOOLS
    ]
    system = [
        {"text": "You are a coding agent working in a sandboxed repository. " + text(rng, 900, CODE_WORDS)},
        {"cachePoint": {"type": "default"}},
    ]
    moment = DAY + timedelta(hours=1)
    for task in range(12):
        moment += timedelta(seconds=rng.uniform(200, 900))
        session = f"task-{task + 1:03d}"
        history: list[dict[str, Any]] = []
        for _human in range(rng.randint(1, 3)):
            history.append(
                {"role": "user", "content": [{"text": "Task: " + text(rng, rng.randint(30, 80), CODE_WORDS)}]}
            )
            human_index = len(history) - 1
            for _call in range(rng.randint(8, 30)):
                messages = [dict(m) for m in history]
                # The framework marks the latest human message (not the growing tool loop after it).
                messages[human_index] = {
                    "role": "user",
                    "content": [*history[human_index]["content"], {"cachePoint": {"type": "default"}}],
                }
                yield {
                    "v": 1,
                    "timestamp": round(moment.timestamp(), 3),
                    "session": session,
                    "tenant": "dev-account",
                    "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    "request": {
                        "modelId": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                        "system": system,
                        "toolConfig": {"tools": tools},
                        "messages": messages,
                        "inferenceConfig": {"maxTokens": 4096},
                    },
                }
                moment += timedelta(seconds=rng.uniform(3, 12))
                spec = rng.choice(tools)["toolSpec"]
                call_id = f"tooluse_{rng.getrandbits(40):010x}"
                history.append(
                    {
                        "role": "assistant",
                        "content": [
                            {"toolUse": {"toolUseId": call_id, "name": spec["name"], "input": {"path": "src/app.py"}}}
                        ],
                    }
                )
                history.append(
                    {
                        "role": "user",
                        "content": [
                            {
                                "toolResult": {
                                    "toolUseId": call_id,
                                    "content": [{"text": text(rng, rng.randint(60, 300), CODE_WORDS)}],
                                }
                            }
                        ],
                    }
                )
            history.append({"role": "assistant", "content": [{"text": "Done: " + text(rng, 40, CODE_WORDS)}]})
            moment += timedelta(seconds=rng.uniform(30, 150))


# --- 4. a timestamp in the system prompt ---------------------------------------------------------------------


def timestamp_prompt(seed: int = 4) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    policy = text(rng, 1400)
    moment = DAY + timedelta(hours=2)
    events: list[tuple[datetime, str, list[dict[str, Any]]]] = []
    for chat in range(70):
        moment += timedelta(seconds=rng.expovariate(1 / 150))
        at = moment
        messages: list[dict[str, Any]] = []
        for _turn in range(rng.randint(2, 6)):
            messages.append({"role": "user", "content": text(rng, rng.randint(10, 40))})
            events.append((at, f"chat-{chat + 1:03d}", list(messages)))
            messages.append({"role": "assistant", "content": text(rng, rng.randint(30, 80))})
            at += timedelta(seconds=rng.uniform(15, 120))
    events.sort(key=lambda e: e[0])
    for at, chat, messages in events:
        rendered = [dict(m) for m in messages]
        last = rendered[-1]
        rendered[-1] = {
            "role": "user",
            "content": [{"type": "text", "text": last["content"], "cache_control": {"type": "ephemeral"}}],
        }
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 800,
            "system": [
                {
                    "type": "text",
                    "text": f"You are Aria, the assistant of Northwind Bank.\nCurrent date and time: {iso(at)}\n\n"
                    + policy,
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                }
            ],
            "messages": rendered,
        }
        yield {"v": 1, "timestamp": iso(at), "session": chat, "tenant": "northwind", "request": body}


TRACES: dict[str, Callable[[], Iterator[dict[str, Any]]]] = {
    "support_agent": support_agent,
    "rag_docs": rag_docs,
    "coding_agent": coding_agent,
    "timestamp_prompt": timestamp_prompt,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write the traces to")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, make in TRACES.items():
        path = args.out / f"{name}.jsonl.xz"
        count, size = write_xz(path, make())
        print(f"{path}: {count} requests, {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
