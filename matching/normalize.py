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


def _fold_char(char: str, confusables: bool) -> str:
    out = []
    for c in unicodedata.normalize("NFKC", char):
        if confusables and not c.isascii():
            c = _confusables().get(c, c)
        decomposed = unicodedata.normalize("NFKD", c)
        out.append("".join(d for d in decomposed if not unicodedata.combining(d)).casefold())
    return "".join(out)


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


def _assemble(chars: list[tuple[str, int]], spaced_runs: bool) -> Normalized:
    """Collapse separators (" ") and join spaced-out letters; keep raw offsets."""
    Char = tuple[str, int, bool]  # character, raw index, joined to the previous one
    tokens: list[list[Char]] = []
    current: list[Char] = []
    for c, i in chars:
        if c == " ":
            if current:
                tokens.append(current)
                current = []
        else:
            current.append((c, i, False))
    if current:
        tokens.append(current)
    if spaced_runs:
        merged: list[list[Char]] = []
        run: list[list[Char]] = []
        for token in [*tokens, []]:
            if len(token) == 1 and token[0][0].isalpha():
                run.append(token)
                continue
            if len(run) >= SPACED_RUN_MIN:
                merged.append([(c, i, k > 0) for k, (c, i, _) in enumerate(t[0] for t in run)])
            else:
                merged.extend(run)
            run = []
            if token:
                merged.append(token)
        tokens = merged
    text: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    joins: set[int] = set()
    for n, token in enumerate(tokens):
        if n:
            text.append(" ")
            starts.append(token[0][1])
            ends.append(token[0][1])
        for c, i, joined in token:
            if joined:
                joins.add(len(text))
            text.append(c)
            starts.append(i)
            ends.append(i + 1)
    return Normalized("".join(text), tuple(starts), tuple(ends), frozenset(joins))


def basic(raw: str) -> Normalized:
    chars: list[tuple[str, int]] = []
    for i, ch in enumerate(raw):
        for c in _fold_char(ch, confusables=False):
            chars.append((c if c.isalnum() else " ", i))
    return _assemble(chars, spaced_runs=False)


def skeleton(raw: str) -> Normalized:
    email_ats = {m.start() for m in _EMAIL_AT.finditer(raw)}
    folded: list[tuple[str, int]] = []
    for i, ch in enumerate(raw):
        if i in email_ats:
            folded.append((" ", i))
            continue
        for c in _fold_char(ch, confusables=True):
            folded.append((c, i))
    chars: list[tuple[str, int]] = []
    n = len(folded)
    for k, (c, i) in enumerate(folded):
        prev = folded[k - 1][0] if k else ""
        nxt = folded[k + 1][0] if k + 1 < n else ""
        if c.isalpha() and c.isascii():
            chars.append(("i" if c == "l" else c, i))
        elif c in LEET_DIGITS and (prev.isalpha() or nxt.isalpha()):
            chars.append((LEET_DIGITS[c], i))
        elif c.isdigit() and c.isascii():
            chars.append((c, i))
        elif c in LEET_SYMBOLS and prev.isalnum() and nxt.isalnum():
            chars.append((LEET_SYMBOLS[c], i))
        elif c in MASKS and (prev.isalpha() or nxt.isalpha()):
            chars.append((MASK, i))
        elif c.isalpha():
            # A letter of a script with no Latin look-alike: keep it, it is part of a word.
            chars.append((c, i))
        else:
            chars.append((" ", i))
    return _assemble(chars, spaced_runs=True)


def skeleton_term(term: str) -> str:
    return skeleton(term).text


def basic_term(term: str) -> str:
    return basic(term).text
