"""Text normalisation that keeps, for every normalised character, the raw characters it came from.

Two levels:
- :func:`basic` folds case, accents and punctuation/spacing: what a careless writer changes.
  Both levels drop invisible and formatting characters (zero-width space/joiner/non-joiner,
  word joiner, BOM, soft hyphen, bidi controls, variation selectors, Hangul fillers) and
  combining marks overlaid on letters, so "Zo\u200bé" is "zoe"; offsets still point at the
  raw characters, so a highlighted span keeps what was hidden inside it.
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
LEET_DIGITS = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "9": "g"}
LEET_SYMBOLS = {"@": "a", "!": "i", "|": "i", "$": "s"}
# Characters used to mask a letter ("D*pont"); kept as one wildcard, "*".
MASKS = frozenset("*#•●◦·∗×")
MASK = "*"
# A "#" before a word is a hashtag ("#ZoeFournier"); only after a letter ("J#anne") is it a mask.
LEADING_MASKS = MASKS - {"#"}
# Letters that render as nothing; every other invisible character is a format character (Cf)
# or a mark (Mn, Me), dropped by category.
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_DROPPED_CATEGORIES = frozenset({"Cf", "Mn", "Me"})
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

    def is_inner_boundary(self, raw: str, index: int) -> bool:
        """Whether a word may start or end at ``index`` inside a run of letters, read on the raw
        text: CamelCase ("ZoeFournier", "HTMLParser") and a handle's digits at the end or the
        start of a word ("zoefournier93", "93zoefournier")."""
        if not 0 < index < len(self.text):
            return False
        before, at = self.raw_start[index - 1], self.raw_start[index]
        a, b = raw[before], raw[at]
        if a.isalpha() and b.isalpha():
            if a.islower() and b.isupper():
                return True
            after = raw[at + 1 : at + 2]
            return a.isupper() and b.isupper() and after.isalpha() and after.islower()
        if a.isalpha() and b.isdigit():
            end = at
            while end < len(raw) and raw[end].isdigit():
                end += 1
            return end == len(raw) or not raw[end].isalnum()
        if a.isdigit() and b.isalpha():
            first = before
            while first > 0 and raw[first - 1].isdigit():
                first -= 1
            return first == 0 or not raw[first - 1].isalnum()
        return False

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        return self.raw_start[start], self.raw_end[end - 1]


def is_hidden(char: str) -> bool:
    """Whether ``char`` is dropped as invisible or formatting (after NFC, so a decomposed
    accent "e\u0301" is a letter, not a hidden mark)."""
    return char in INVISIBLE_LETTERS or unicodedata.category(char) in _DROPPED_CATEGORIES


def has_hidden(written: str) -> bool:
    return any(is_hidden(c) for c in unicodedata.normalize("NFC", written))


def _fold_uncached(char: str, confusables: bool) -> str:
    if is_hidden(char):
        return ""
    if char in MASKS:
        return char  # "×" looks like an "x", but between letters it hides one
    out = []
    for c in unicodedata.normalize("NFKC", char):
        if confusables and not c.isascii():
            c = _confusables().get(c, c)
        decomposed = unicodedata.normalize("NFKD", c)
        out.append("".join(d for d in decomposed if not is_hidden(d)).casefold())
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
_LEADING_MASK_CLASS = "[" + re.escape("".join(sorted(LEADING_MASKS))) + "]"
_SKELETON_TOKEN = re.compile(
    rf"(?:{_WORD}|(?<={_WORD})[@!|$](?={_WORD})|{_LEADING_MASK_CLASS}(?={_LETTER})|(?<={_LETTER}-)#(?={_LETTER})|(?<={_LETTER}){_MASK_CLASS})+"
)
_ALTERNATING = re.compile(rf"{_LETTER}(?:{_MASK_CLASS}{_LETTER}){{{SPACED_RUN_MIN - 1},}}")
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


def skeleton(raw: str, folded_text: Folded | None = None) -> Normalized:
    folded, origin = folded_text if folded_text is not None else fold(raw)
    if "@" in folded:
        # An "@" before a domain is an email address, not a leetspeak "a".
        folded = _EMAIL_AT.sub(" ", folded)
    tokens: list[tuple[str, list[int] | range]] = []
    for m in _SKELETON_TOKEN.finditer(folded):
        word = m.group()
        # Leetspeak is undone in words that have a letter ("54r4h", "J3anne"), never in numbers.
        table = _LEET_TABLE if _HAS_LETTER.search(word) else _PLAIN_TABLE
        if _ALTERNATING.fullmatch(word):
            # "A·n·d·r·é·e": one letter between every mask is a spaced-out word, not masks.
            tokens.extend(
                (word[k].translate(table), range(m.start() + k, m.start() + k + 1))
                for k in range(0, len(word), 2)
            )
            continue
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


# Mask-aware words for several masked letters ("H*l*ne", "L.f.vre", "H…ne"): letters and digits
# joined by runs of masks or dots; a run of masks may also end the word ("Lef***"), a run of
# dots not: "voilà..." ends a sentence. NFKC makes "…" three dots.
_MASK_CHARS = re.escape("".join(sorted(MASKS)))
_LEAD_CHARS = re.escape("".join(sorted(LEADING_MASKS)))
_MASK_WORD = re.compile(
    rf"(?:[{_LEAD_CHARS}]+)?[^\W_]+(?:(?:[{_MASK_CHARS}]+|\.+)[^\W_]+)*(?:[{_MASK_CHARS}]+)?"
)
_MASK_RUN = re.compile(rf"[{_MASK_CHARS}.]+")
_HAS_MASK_RUN = re.compile(
    rf"[^\W\d_](?:[{_MASK_CHARS}]|\.+(?=[^\W\d_]))|(?<!\S)[{_LEAD_CHARS}][^\W\d_]"
)
# Addresses are dotted words, not masked names: "forum.example.com", "https://..."
_URLISH = re.compile(r"/|:|@|^www\.|\.(?:com|org|net|fr|html?|php)\b")


@dataclass(frozen=True)
class MaskedWord:
    """One word of a text read with masks: ``pattern`` has letters, and ``*`` for a masked letter
    whose count is known, or ``+`` for a run that may stand for any number of letters."""

    pattern: str
    exact: str  # the pattern with every run read as that many letters
    raw_start: int
    raw_end: int
    masked: bool
    visible: int
    # Ends with one dot after a masked word ("Alexa.dr."): a mask or a full stop.
    trailing_dot: bool = False


Folded = tuple[str, "list[int] | None"]


def fold(raw: str) -> Folded:
    """The skeleton's folding of ``raw`` (look-alikes, case, accents, hidden characters dropped)
    and each folded character's raw index (None when one to one): shared by :func:`skeleton`
    and :func:`masked_words` so a text is folded once."""
    return _fold_text(raw, confusables=True)


# Words around a masked one that a name may span: a name of several words fits in this.
MASKED_CONTEXT_CHARS = 120


def masked_words(raw: str, folded: Folded | None = None) -> list[list[MaskedWord]]:
    """Groups of consecutive words read with masks, each around at least one masked word;
    nothing when no word has a mask (most texts: the cost is one regex search)."""
    text, origin = folded if folded is not None else fold(raw)
    hits = []
    for m in _HAS_MASK_RUN.finditer(text):
        lo = text.rfind(" ", 0, m.start()) + 1
        hi = text.find(" ", m.end())
        if not _URLISH.search(text[lo : hi if hi >= 0 else len(text)].strip()):
            hits.append(m.start())
    if not hits:
        return []
    spans: list[list[int]] = []
    for at in hits:
        lo, hi = max(0, at - MASKED_CONTEXT_CHARS), min(len(text), at + MASKED_CONTEXT_CHARS)
        while lo > 0 and text[lo - 1].isalnum():
            lo -= 1
        while hi < len(text) and text[hi].isalnum():
            hi += 1
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hi)
        else:
            spans.append([lo, hi])
    groups = []
    for lo, hi in spans:
        words = [_masked_word(text, origin, m) for m in _MASK_WORD.finditer(text, lo, hi)]
        if any(w.masked for w in words):
            groups.append(words)
    return groups


def _masked_word(folded: str, origin: list[int] | None, m: re.Match[str]) -> MaskedWord:
    word = m.group()
    table = _LEET_TABLE if _HAS_LETTER.search(word) else _PLAIN_TABLE
    start = m.start() if origin is None else origin[m.start()]
    end = m.end() if origin is None else origin[m.end() - 1] + 1
    runs = list(_MASK_RUN.finditer(word))
    if not runs:
        text = word.translate(table)
        return MaskedWord(text, text, start, end, False, len(text))
    trailing_dot = folded[m.end() : m.end() + 1] == "." and folded[m.end() + 1 : m.end() + 2] != "."
    pattern, exact, at = [], [], 0
    for run in runs:
        letters = word[at : run.start()].translate(table)
        pattern.append(letters)
        exact.append(letters)
        size = run.end() - run.start()
        exact.append(MASK * size)
        # One mask is one letter; a longer run ("***", "..", "…") may hide any number.
        pattern.append(MASK if size == 1 else "+")
        at = run.end()
    pattern.append(word[at:].translate(table))
    exact.append(word[at:].translate(table))
    visible = sum(len(p) for p in pattern if p not in (MASK, "+"))
    return MaskedWord("".join(pattern), "".join(exact), start, end, True, visible, trailing_dot)


def skeleton_term(term: str) -> str:
    return skeleton(term).text


def basic_term(term: str) -> str:
    return basic(term).text
