"""Finding watched names in text.

This is the walking skeleton's matcher: a normalised exact match (case, accents, punctuation
and spacing ignored) on word boundaries. Offsets always refer to the original text, so a
reviewer sees exactly which characters matched.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

RULE_EXACT_NORMALIZED = "exact_normalized"


@dataclass(frozen=True)
class WatchTerms:
    client_id: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Mention:
    client_id: str
    start: int
    end: int
    text: str
    term: str
    rule: str
    score: float


@dataclass(frozen=True)
class NormalizedText:
    """Normalised text plus, for each of its characters, the raw offset it came from."""

    text: str
    raw_start: tuple[int, ...]
    raw_end: tuple[int, ...]


def _fold(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return kept.casefold()


def normalize(raw: str) -> NormalizedText:
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pending_space = False
    for index, char in enumerate(raw):
        folded = _fold(char)
        if not folded or not all(c.isalnum() for c in folded):
            pending_space = bool(out)
            continue
        if pending_space:
            out.append(" ")
            starts.append(index)
            ends.append(index)
            pending_space = False
        for c in folded:
            out.append(c)
            starts.append(index)
            ends.append(index + 1)
    return NormalizedText("".join(out), tuple(starts), tuple(ends))


def normalize_term(term: str) -> str:
    return normalize(term).text


def find_mentions(raw: str, watch: Sequence[WatchTerms]) -> list[Mention]:
    norm = normalize(raw)
    hay = norm.text
    mentions: list[Mention] = []
    for entry in watch:
        for term in entry.terms:
            needle = normalize_term(term)
            if not needle:
                continue
            pos = hay.find(needle)
            while pos != -1:
                end = pos + len(needle)
                before_ok = pos == 0 or hay[pos - 1] == " "
                after_ok = end == len(hay) or hay[end] == " "
                if before_ok and after_ok:
                    raw_start, raw_end = norm.raw_start[pos], norm.raw_end[end - 1]
                    mentions.append(
                        Mention(
                            client_id=entry.client_id,
                            start=raw_start,
                            end=raw_end,
                            text=raw[raw_start:raw_end],
                            term=term,
                            rule=RULE_EXACT_NORMALIZED,
                            score=1.0,
                        )
                    )
                pos = hay.find(needle, pos + 1)
    return _dedupe(mentions)


def _dedupe(mentions: Iterable[Mention]) -> list[Mention]:
    seen: set[tuple[str, int, int]] = set()
    unique = []
    for m in sorted(mentions, key=lambda m: (m.client_id, m.start, -m.end)):
        key = (m.client_id, m.start, m.end)
        if key not in seen:
            seen.add(key)
            unique.append(m)
    return unique
