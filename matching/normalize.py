"""Text normalisation that keeps, for every normalised character, the raw characters it came from.

Two levels:
- :func:`basic` folds case, accents and punctuation/spacing: what a careless writer changes.
- :func:`skeleton` also undoes what a harasser does on purpose: confusable letters from other
  scripts (Cyrillic "а", fullwidth, mathematical letters), leetspeak, masked letters ("D*pont"),
  spaced-out letters ("J e a n n e") and separators inside a name ("jeanne_dupont").
Watch terms and texts go through the same function, so they meet in the middle.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Leetspeak digits and symbols, undone only inside words (next to letters), so prices, dates
# and punctuation keep their meaning. "1", "!" and "|" read as i or l: both become "i", and so
# does every "l" of the skeleton, on both sides of the comparison.
LEET_DIGITS = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"}
LEET_SYMBOLS = {"@": "a", "!": "i", "|": "i", "$": "s"}
# Characters used to mask a letter ("D*pont"); kept as one wildcard, "*".
MASKS = frozenset("*#•●◦·∗×")
MASK = "*"
# "@" before a domain is an email address, not a leetspeak "a".
_EMAIL_AT = re.compile(r"@(?=[^\W_][\w-]*\.[^\W\d_]{2,})")
# Runs of at least this many one-letter tokens are one spaced-out word: "J e a n n e".
SPACED_RUN_MIN = 3


@functools.cache
def _confusables() -> dict[str, str]:
    """Unicode's confusables (via confusable_homoglyphs) that look like a Latin letter or digit."""
    from confusable_homoglyphs import utils

    table: dict[str, str] = {}
    for char, homoglyphs in utils.load("confusables.json").items():
        if len(char) != 1 or char.isascii():
            continue
        for glyph in homoglyphs:
            target = glyph["c"]
            if len(target) == 1 and target.isascii() and target.isalnum():
                table[char] = target
                break
    return table


@dataclass(frozen=True)
class Normalized:
    """``text`` plus, per character, the raw span ``[raw_start[i], raw_end[i])`` it came from."""

    text: str
    raw_start: tuple[int, ...]
    raw_end: tuple[int, ...]
    # Positions where spaced-out letters were joined: word boundaries inside a joined word,
    # because "J e a n n e D u p o n t a" may be "jeanne dupont" followed by "a".
    joins: frozenset[int] = frozenset()

    def is_boundary(self, index: int) -> bool:
        """Whether a word may start or end at ``index``."""
        return (
            index <= 0
            or index >= len(self.text)
            or self.text[index] == " "
            or self.text[index - 1] == " "
            or index in self.joins
        )

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        return self.raw_start[start], self.raw_end[end - 1]


def _fold_uncached(char: str, confusables: bool) -> str:
    out = []
    for c in unicodedata.normalize("NFKC", char):
        if confusables and not c.isascii():
            c = _confusables().get(c, c)
        decomposed = unicodedata.normalize("NFKD", c)
        out.append("".join(d for d in decomposed if not unicodedata.combining(d)).casefold())
    return "".join(out)


# Folding is per character and texts reuse few distinct characters: remember each answer.
_FOLD: dict[bool, dict[str, str]] = {True: {}, False: {}}


def _fold_text(raw: str, confusables: bool) -> tuple[str, list[int] | None]:
    """Folded text and, unless it is one character per raw character, each one's raw index."""
    cache = _FOLD[confusables]
    pieces = []
    for ch in raw:
        folded = cache.get(ch)
        if folded is None:
            folded = cache[ch] = (
                ch.lower() if ch.isascii() and ch.isalpha() else _fold_uncached(ch, confusables)
            )
        pieces.append(folded)
    text = "".join(pieces)
    # Equal lengths can hide a dropped mark next to a ligature expanded in two: check pieces.
    if len(text) == len(raw) and all(len(p) == 1 for p in pieces):
        return text, None
    origin: list[int] = []
    for i, piece in enumerate(pieces):
        origin.extend([i] * len(piece))
    return text, origin


_WORD = r"[^\W_]"
_LETTER = r"[^\W\d_]"
_MASK_CLASS = "[" + re.escape("".join(sorted(MASKS))) + "]"
_SKELETON_TOKEN = re.compile(
    rf"(?:{_WORD}|(?<={_WORD})[@!|$](?={_WORD})|{_MASK_CLASS}(?={_LETTER})|(?<={_LETTER}){_MASK_CLASS})+"
)
_BASIC_TOKEN = re.compile(rf"{_WORD}+")
_HAS_LETTER = re.compile(_LETTER)
_LEET_TABLE = str.maketrans({**LEET_DIGITS, **LEET_SYMBOLS, "l": "i", **{m: MASK for m in MASKS}})
_PLAIN_TABLE = str.maketrans({"l": "i", **{m: MASK for m in MASKS}})


def _build(
    tokens: list[tuple[str, list[int] | range]], origin: list[int] | None, joins: set[int]
) -> Normalized:
    text_parts: list[str] = []
    starts: list[int] = []
    for n, (token, positions) in enumerate(tokens):
        if n:
            text_parts.append(" ")
            first = positions[0] if origin is None else origin[positions[0]]
            starts.append(first)
        text_parts.append(token)
        if origin is None:
            starts.extend(positions)
        else:
            starts.extend(origin[p] for p in positions)
    ends = [i + 1 for i in starts]
    # Separator positions span nothing: give them an empty raw span at the next word.
    pos = 0
    for n, (token, _) in enumerate(tokens):
        if n:
            ends[pos] = starts[pos]
            pos += 1
        pos += len(token)
    return Normalized("".join(text_parts), tuple(starts), tuple(ends), frozenset(joins))


def basic(raw: str) -> Normalized:
    folded, origin = _fold_text(raw, confusables=False)
    tokens: list[tuple[str, list[int] | range]] = [
        (m.group(), range(m.start(), m.end())) for m in _BASIC_TOKEN.finditer(folded)
    ]
    return _build(tokens, origin, set())


def skeleton(raw: str) -> Normalized:
    folded, origin = _fold_text(raw, confusables=True)
    if "@" in folded:
        # An "@" before a domain is an email address, not a leetspeak "a".
        folded = _EMAIL_AT.sub(" ", folded)
    tokens: list[tuple[str, list[int] | range]] = []
    for m in _SKELETON_TOKEN.finditer(folded):
        word = m.group()
        # Leetspeak is undone in words that have a letter ("54r4h", "J3anne"), never in numbers.
        table = _LEET_TABLE if _HAS_LETTER.search(word) else _PLAIN_TABLE
        tokens.append((word.translate(table), range(m.start(), m.end())))
    # Runs of single letters are one spaced-out word ("J e a n n e"); where letters were joined,
    # a word may still start or end ("J e a n n e D u p o n t a" holds "jeanne dupont").
    merged: list[tuple[str, list[int] | range]] = []
    joins: set[int] = set()
    run: list[tuple[str, list[int] | range]] = []
    length = 0
    for token in [*tokens, ("", range(0))]:
        if len(token[0]) == 1 and token[0].isalpha():
            run.append(token)
            continue
        if len(run) >= SPACED_RUN_MIN:
            start = length + (1 if merged else 0)
            joins.update(range(start + 1, start + len(run)))
            merged.append(("".join(t for t, _ in run), [p for _, ps in run for p in ps]))
            length = start + len(run)
        else:
            for t in run:
                length += len(t[0]) + (1 if merged else 0)
                merged.append(t)
        run = []
        if token[0]:
            length += len(token[0]) + (1 if merged else 0)
            merged.append(token)
    return _build(merged, origin, joins)


def skeleton_term(term: str) -> str:
    return skeleton(term).text


def basic_term(term: str) -> str:
    return basic(term).text
