"""Regenerate the synthetic sample traces in this folder (deterministic: same seed, same bytes).

    python examples/traces/generate.py            # writes the six *.jsonl.xz traces next to this file
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
- ``rag_sessions.jsonl.xz`` - Anthropic Messages. A documentation assistant: 60 chat sessions of 2 to 5
  questions; each question retrieves 3 to 5 of 80 documents, new ones on every question, sent as separate blocks
  in that turn's user message before the question, and kept in the history. The team marks the system prompt
  (5m). Questions come 20 s to 4 min apart, and one in seven after a pause of 6 to 30 minutes.
- ``coding_session.jsonl.xz`` - Anthropic Messages. One long coding-agent session: 220 model calls, each
  answered by a tool call whose result is 5k to 20k tokens (file reads and test logs, drawn from the repository's
  40 files and 10 logs, so files are read again). Old tool results are cleared the way context editing does it
  (past ~80k tokens, all but the latest three become a short placeholder), which changes the prefix. The app
  sends a top-level ``cache_control`` (automatic caching). Calls are 4 to 40 s apart, with a few reviews of 6
  to 20 minutes.
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


# --- 5. RAG chat whose retrieved documents change with every question (Anthropic) -------------------------------


def rag_sessions(seed: int = 5) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    docs = [
        f"<document id='kb-{n:03d}'>\n# {' '.join(rng.sample(DOC_WORDS, 4)).capitalize()}\n\n"
        + text(rng, rng.randint(250, 450), DOC_WORDS)
        + "\n</document>"
        for n in range(80)
    ]
    system = [
        {
            "type": "text",
            "text": "You are the documentation assistant of Acme routers. Answer from the documents in the latest "
            "user message and the conversation so far; cite document ids. " + text(rng, 1500, DOC_WORDS),
            "cache_control": {"type": "ephemeral"},
        }
    ]
    events: list[tuple[datetime, str, list[dict[str, Any]]]] = []
    start = DAY + timedelta(hours=3)
    for session in range(60):
        start += timedelta(seconds=rng.expovariate(1 / 90))
        moment = start
        messages: list[dict[str, Any]] = []
        for _question in range(rng.randint(2, 5)):
            chosen = rng.sample(range(80), rng.randint(3, 5))  # retrieval: new documents for every question
            parts: list[dict[str, Any]] = [{"type": "text", "text": docs[d]} for d in chosen]
            parts.append({"type": "text", "text": "Question: " + text(rng, rng.randint(10, 30), DOC_WORDS)})
            messages.append({"role": "user", "content": parts})
            events.append((moment, f"chat-{session + 1:03d}", list(messages)))
            messages.append({"role": "assistant", "content": text(rng, rng.randint(60, 160), DOC_WORDS)})
            pause = rng.uniform(360, 1800) if rng.random() < 1 / 7 else rng.uniform(20, 240)
            moment += timedelta(seconds=pause)
    events.sort(key=lambda e: e[0])
    for moment, chat, messages in events:
        yield {
            "v": 1,
            "timestamp": iso(moment),
            "provider": "anthropic",
            "tenant": "docs-assistant",
            "session": chat,
            "request": {"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": system, "messages": messages},
        }


# --- 6. one long coding-agent session with large tool results (Anthropic) ---------------------------------------

SESSION_TOOLS = [
    ("read_file", "Read a whole file of the repository.", {"path": "Path from the repository root."}),
    ("run_tests", "Run the test suite, or one test file, and return its log.", {"target": "Test path or node id."}),
    ("grep", "Search the repository with a regular expression.", {"pattern": "The expression.", "path": "Where."}),
    ("apply_patch", "Apply a unified diff to the working tree.", {"patch": "The diff."}),
    ("list_dir", "List a directory recursively.", {"path": "Directory path."}),
    ("run_command", "Run a shell command in the sandbox.", {"command": "The command line."}),
    ("git_log", "Show recent commits touching a path.", {"path": "Path filter."}),
    ("read_docs", "Read a page of the project documentation.", {"page": "Page name."}),
]


def code_lines(rng: random.Random, tokens: int) -> str:
    """Python-looking lines totalling about ``tokens`` tokens (about 3.5 characters per token)."""
    out: list[str] = []
    size = 0
    while size < tokens * 3.5:
        a, b, c = rng.choice(CODE_WORDS), rng.choice(CODE_WORDS), rng.choice(CODE_WORDS)
        line = rng.choice(
            (
                f"    {a}_{b} = {c}({a}, {b}=None)",
                f"def {a}_{b}(self, {c}: int = 0) -> {b}:",
                f"        if {a} is not None and {b}[{c}]:",
                f"            raise {a.capitalize()}Error(f'{b} {{{c}}}')",
                f"    return {a}.{b}({c})  # {rng.choice(CODE_WORDS)}",
                f"tests/test_{a}.py::test_{b}_{c} PASSED",
            )
        )
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)


def coding_session(seed: int = 6) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    tools = [
        {
            "name": name,
            "description": desc + " " + text(rng, 120, CODE_WORDS),
            "input_schema": {
                "type": "object",
                "properties": {k: {"type": "string", "description": v} for k, v in params.items()},
                "required": list(params)[:1],
            },
        }
        for name, desc, params in SESSION_TOOLS
    ]
    system = "You are a coding agent working in a sandboxed repository. " + text(rng, 1400, CODE_WORDS)
    files = [(f"src/pkg/{rng.choice(CODE_WORDS)}_{n}.py", code_lines(rng, rng.randint(5000, 20000))) for n in range(40)]
    logs = [code_lines(rng, rng.randint(5000, 10000)) for _ in range(10)]
    cleared = "[tool result cleared to save context]"
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Task: " + text(rng, 80, CODE_WORDS)}]
    moment = DAY + timedelta(hours=4)
    chars = 0  # characters of tool results in the context (tokens ~ characters / 3.5)
    for call in range(220):
        yield {
            "v": 1,
            "timestamp": iso(moment),
            "provider": "anthropic",
            "tenant": "dev-team",
            "session": "refactor-1",
            "request": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 8192,
                "cache_control": {"type": "ephemeral"},
                "tools": tools,
                "system": system,
                "messages": [dict(m) for m in messages],
            },
        }
        if call % 40 == 39:  # the developer reviews and gives the next instruction
            messages.append({"role": "assistant", "content": "Done: " + text(rng, 60, CODE_WORDS)})
            messages.append({"role": "user", "content": "Next: " + text(rng, rng.randint(30, 90), CODE_WORDS)})
            moment += timedelta(seconds=rng.uniform(360, 1200))
            continue
        use_id = f"toolu_{rng.getrandbits(48):012x}"
        if rng.random() < 0.7:
            path, body = rng.choice(files)
            name, tool_input = "read_file", {"path": path}
        else:
            body = rng.choice(logs)
            name, tool_input = "run_tests", {"target": "tests/"}
        messages.append(
            {"role": "assistant", "content": [{"type": "tool_use", "id": use_id, "name": name, "input": tool_input}]}
        )
        messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": use_id, "content": body}]})
        chars += len(body)
        if chars / 3.5 > 80_000:  # context editing: clear every tool result but the latest three
            results = [
                m for m in messages if isinstance(m["content"], list) and m["content"][0]["type"] == "tool_result"
            ]
            for old in results[:-3]:
                block = old["content"][0]
                if block["content"] != cleared:
                    old["content"] = [{**block, "content": cleared}]
            chars = sum(len(m["content"][0]["content"]) for m in results[-3:])
        moment += timedelta(seconds=rng.uniform(4, 40))


TRACES: dict[str, Callable[[], Iterator[dict[str, Any]]]] = {
    "support_agent": support_agent,
    "rag_docs": rag_docs,
    "coding_agent": coding_agent,
    "timestamp_prompt": timestamp_prompt,
    "rag_sessions": rag_sessions,
    "coding_session": coding_session,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write the traces to")
    parser.add_argument("names", nargs="*", choices=[[], *TRACES], help="which traces (default: all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, make in TRACES.items():
        if args.names and name not in args.names:
            continue
        path = args.out / f"{name}.jsonl.xz"
        count, size = write_xz(path, make())
        print(f"{path}: {count} requests, {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
