"""The estimator's ASCII fast path gives exactly the counts of the reference rule (one regex piece at a time).

`EstimateCounter` counts ASCII text with bytes operations (`_estimate_ascii`) and everything else with the
piece-by-piece reference (`_estimate`); both implement the rule documented in `cachepoint.core.tokens`, so they
must agree on every ASCII string, not just on typical prose.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cachepoint.core.tokens import EstimateCounter, _estimate, _estimate_ascii

# Characters that sit on the rule's boundaries: letter case changes, digits, underscore (a word character that is
# no letter), punctuation, runs of spaces and tabs, CR/LF, the whitespace controls that are neither, and the other
# controls (punctuation to the pattern).
_EDGES = "aAbBzZyY09_ \t\r\n.,;:{}[]\"'-\x0b\x0c\x1c\x1f\x00\x07\x7f"


@settings(max_examples=600)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
@example("HTTPServerError")
@example("aBCdEEEEEEEEEEf")
@example("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm")
@example("x" * 9 + " " + "Y" * 14 + "z" * 3)
def test_fast_path_equals_the_reference_on_any_ascii_text(text: str) -> None:
    assert _estimate_ascii(text) == _estimate(text)


@settings(max_examples=600)
@given(st.text(alphabet=_EDGES, max_size=120))
def test_fast_path_equals_the_reference_on_boundary_heavy_text(text: str) -> None:
    assert _estimate_ascii(text) == _estimate(text)


@given(st.text(max_size=200))
def test_counter_counts_any_text_like_the_reference(text: str) -> None:
    # ASCII takes the fast path, anything else the reference: the public counter agrees with the rule either way.
    assert EstimateCounter(cache_size=0).count(text) == _estimate(text)


def test_long_words_cost_one_token_per_five_letters_past_eight() -> None:
    # Worked by hand: "internationalization" is 20 letters -> 1 + ceil(12 / 5) = 4; "HTTPServerErrors" splits
    # into HTTP (1) + Server (1) + Errors (1) = 3; "ABCDEFGHIJKLMN" is one 14-capital piece -> 1 + ceil(6 / 5) = 3.
    assert _estimate_ascii("internationalization") == 4
    assert _estimate_ascii("HTTPServerErrors") == 3
    assert _estimate_ascii("ABCDEFGHIJKLMN") == 3


PROSE_WORDS = st.builds(
    lambda letters, capital: letters.capitalize() if capital else letters,
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=400),
    st.booleans(),
)


@settings(max_examples=300)
@given(st.lists(st.tuples(PROSE_WORDS, st.sampled_from([" ", ", ", ". ", "\n", "  ", "-", "0"])), max_size=30))
@example([("a" * 1000, " ")])
def test_fast_path_on_prose_with_words_of_any_length(words: list[tuple[str, str]]) -> None:
    # Prose (no case change inside a word) takes the path that counts long words by their lengths in C.
    text = "".join(word + gap for word, gap in words)
    assert _estimate_ascii(text) == _estimate(text)
