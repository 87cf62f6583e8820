"""The baseline of `bench_prefix.py`: prompt-cache-engine's radix trie, re-implemented step for step.

prompt-cache-engine (github.com/jrajath94/prompt-cache-engine, MIT) is the seed cachepoint's prefix index was
measured against. It is not on PyPI, and the machines this project runs on reach no git host, so it cannot be
installed into the bench environment. This module re-implements the two operations of its public `RadixTrie`
that the benchmark calls, ``insert(tokens, cache_key)`` and ``find_longest_prefix(tokens)``, from
``src/prompt_cache_engine/trie.py`` at commit 7c646b7a1daa720f4e1474b0c36c23e72446126e, keeping everything that
costs time or memory as that file has it:

- nodes are plain (non-slotted) dataclasses with ``tokens``, ``children`` (a dict keyed by first token),
  ``cache_key`` and ``depth``; an edge label is a slice of the inserted tuple, so it keeps that tuple's int
  objects;
- an edge is compared with the query one token at a time in a Python ``while`` loop with the same three
  conditions, for inserts and lookups alike;
- an insert splits an edge on a partial match (new middle node, the old child re-labelled), and formats its
  ``logger.debug`` message eagerly (an f-string) as the original does;
- ``find_longest_prefix`` returns the longest *stored sequence* that is a prefix of the query, and its key.

Left out, because the benchmark never calls them: ``remove``, ``get_all_entries``, the ``size`` property.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

logger = logging.getLogger("seed_trie")


@dataclass
class SeedNode:
    tokens: tuple[int, ...] = ()
    children: dict[int, SeedNode] = field(default_factory=dict)
    cache_key: str | None = None
    depth: int = 0


class SeedTrie:
    """``RadixTrie`` of prompt-cache-engine (see the module notes)."""

    def __init__(self) -> None:
        self.root = SeedNode()
        self._size = 0

    def insert(self, tokens: tuple[int, ...], cache_key: str) -> None:
        if not tokens:
            return
        node = self.root
        pos = 0
        while pos < len(tokens):
            first_token = tokens[pos]
            if first_token not in node.children:
                node.children[first_token] = SeedNode(tokens=tokens[pos:], cache_key=cache_key, depth=len(tokens))
                self._size += 1
                logger.debug(f"Inserted new leaf: depth={len(tokens)}, key={cache_key}")
                return
            child = node.children[first_token]
            child_tokens = child.tokens
            common_len = 0
            while (
                common_len < len(child_tokens)
                and pos + common_len < len(tokens)
                and child_tokens[common_len] == tokens[pos + common_len]
            ):
                common_len += 1
            if common_len == len(child_tokens):
                pos += common_len
                node = child
                continue
            split_node = SeedNode(
                tokens=child_tokens[:common_len],
                depth=node.depth + common_len if hasattr(node, "depth") else common_len,
            )
            child.tokens = child_tokens[common_len:]
            split_node.children[child.tokens[0]] = child
            remaining = tokens[pos + common_len :]
            if remaining:
                split_node.children[remaining[0]] = SeedNode(tokens=remaining, cache_key=cache_key, depth=len(tokens))
            else:
                split_node.cache_key = cache_key
            node.children[first_token] = split_node
            self._size += 1
            logger.debug(f"Split edge at common_len={common_len}, key={cache_key}")
            return
        if node.cache_key is None:
            self._size += 1
        node.cache_key = cache_key

    def find_longest_prefix(self, tokens: tuple[int, ...]) -> tuple[int, str | None]:
        if not tokens:
            return 0, None
        node = self.root
        pos = 0
        best_length = 0
        best_key: str | None = None
        if node.cache_key is not None:
            best_length = 0
            best_key = node.cache_key
        while pos < len(tokens):
            first_token = tokens[pos]
            if first_token not in node.children:
                break
            child = node.children[first_token]
            child_tokens = child.tokens
            match_len = 0
            while (
                match_len < len(child_tokens)
                and pos + match_len < len(tokens)
                and child_tokens[match_len] == tokens[pos + match_len]
            ):
                match_len += 1
            if match_len < len(child_tokens):
                break
            pos += match_len
            node = child
            if node.cache_key is not None:
                best_length = pos
                best_key = node.cache_key
        return best_length, best_key
