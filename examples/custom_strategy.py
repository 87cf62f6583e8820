"""Write your own breakpoint strategy, and see every decision `apply_cache_points` made about it.

A strategy is any callable ``strategy(ctx) -> list[Breakpoint]``, most valuable first. This one caches the
system prompt for an hour and then every user turn that ends a "chapter" of the conversation (a user message
that starts with "New topic:"), so switching back to an earlier chapter still reads the cache.

Runs offline, from a clone of the repository (a plain ``python examples/custom_strategy.py`` fails with
``ModuleNotFoundError`` until cachepoint-core is installed):

    python3 -m nox -s examples                                            # every example, in its own environment
    uv run --package cachepoint-core python examples/custom_strategy.py  # this one
"""

from __future__ import annotations

from cachepoint.core.prompt import Breakpoint, PlacementContext, apply_cache_points, auto


def chapters(ctx: PlacementContext) -> list[Breakpoint]:
    """The system prompt (1h), then the last block before each "New topic:" message, newest first (5m)."""
    view = ctx.view
    found: list[Breakpoint] = []
    for message_index, message in enumerate(ctx.request.messages):
        first = message.blocks[0] if message.blocks else None
        if message.role == "user" and first is not None and first.text.startswith("New topic:") and message_index:
            # Close the previous chapter: the last block of the message before this one that can carry a marker.
            end = view.message_positions(message_index - 1)[-1].index
            position = view.eligible_at_or_before(end)
            if position is not None:
                found.append(Breakpoint(position, ctx.short_ttl, f"chapter-{message_index}", "end of a chapter"))
    found.reverse()  # the newest chapter covers the most tokens: keep it first when over budget
    system_end = view.layer_end("system")
    if system_end is not None:
        found.insert(0, Breakpoint(system_end, ctx.long_ttl, "system", "the static system prompt"))
    return found


def main() -> None:
    manual = "Chapter 4 of the router manual covers resets, firmware and Wi-Fi channels. " * 150
    payload = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 400,
        "system": "You are the support agent for Acme routers. Use this manual:\n" + manual,
        "messages": [
            {"role": "user", "content": "New topic: my Wi-Fi keeps dropping."},
            {"role": "assistant", "content": "Which channel is your router on?"},
            {"role": "user", "content": "Channel 6, and there are 20 networks around."},
            {"role": "assistant", "content": "Try channel 1 or 11 and tell me if it helps."},
            {"role": "user", "content": "New topic: how do I update the firmware?"},
        ],
    }

    compiled, report = apply_cache_points(payload, strategy=chapters, provider="anthropic")
    print("custom strategy")
    print(report.explain())
    marked = [
        f"messages[{i}]"
        for i, message in enumerate(compiled["messages"])
        if isinstance(message["content"], list) and any("cache_control" in block for block in message["content"])
    ]
    print("message markers on:", marked)

    _, default_report = apply_cache_points(payload, strategy=auto(), provider="anthropic")
    print("\nthe default strategy, for comparison")
    print(default_report.explain())

    # The same strategy works for every provider: Bedrock Converse gets cachePoint blocks instead.
    bedrock = {
        "modelId": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "system": [{"text": payload["system"]}],
        "messages": [{"role": m["role"], "content": [{"text": m["content"]}]} for m in payload["messages"]],
    }
    compiled_bedrock, _ = apply_cache_points(bedrock, strategy=chapters, provider="bedrock")
    print("\nbedrock system:", [next(iter(block)) for block in compiled_bedrock["system"]])


if __name__ == "__main__":
    main()
