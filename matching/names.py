"""Finding watched names in hostile text.

Candidates come from one Aho–Corasick automaton over every client's name forms, so the cost of
a scan follows the text, not the number of clients. Each candidate is then checked (word
boundaries, context words) and near misses found around a name's own words are verified with
rapidfuzz. Every mention says which rule fired and maps back to the exact raw characters.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ahocorasick
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Indel

from matching.normalize import MASK, Normalized, basic, basic_term, skeleton, skeleton_term

# Rules, strongest first. Scores are the confidence a reviewer sees; they order the queue.
RULE_EXACT = "exact"  # same words, up to case, accents, punctuation and spacing
RULE_OBFUSCATED = "obfuscated"  # same words once leetspeak, look-alikes and separators are undone
RULE_ALIAS = "alias"  # an alias or handle of the client
RULE_REORDERED = "reordered"  # family name first: "DUPONT Jeanne"
RULE_MASKED = "masked"  # one letter hidden: "D*pont"
RULE_INITIAL = "initial"  # "J. Dupont", "DUPONT J."
RULE_FUZZY = "fuzzy"  # a misspelling, verified with rapidfuzz
RULE_SCORES = {
    RULE_EXACT: 1.0,
    RULE_ALIAS: 1.0,
    RULE_OBFUSCATED: 0.95,
    RULE_REORDERED: 0.95,
    RULE_MASKED: 0.9,
    RULE_INITIAL: 0.8,
}
# rapidfuzz ratio (0-100) of the whole window against the name, below which a near miss is not
# considered ("Jeane Dupont" scores 96, "Jeanne Dupontt" 96, "Jeanne Durand" 69).
FUZZY_MIN = 88
# Words of a name shorter than this are not used as anchors for fuzzy matching (too common).
ANCHOR_MIN_LEN = 4
# "M. Dupont" is Monsieur Dupont far more often than Mathilde Dupont: a civility, not an initial.
CIVILITY_INITIALS = frozenset({"m"})
# Context words must appear within this many words of the mention.
CONTEXT_WINDOW = 20


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
class WatchEntry:
    """What to look for on behalf of one client."""

    client_id: str
    names: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    required_context: tuple[str, ...] = ()
    excluded_context: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Form:
    client: int
    term: str
    rule: str
    tokens: int


@dataclass(frozen=True)
class _Anchor:
    client: int
    term: str
    name_tokens: tuple[str, ...]
    position: int


@dataclass
class _Client:
    entry: WatchEntry
    required: tuple[str, ...] = field(default=())
    excluded: tuple[str, ...] = field(default=())


def _masked_variants(form: str) -> Iterable[str]:
    for i, c in enumerate(form):
        if c != " ":
            yield form[:i] + MASK + form[i + 1 :]


class NameMatcher:
    """Built once from every client's watch entry; :meth:`scan` is then cheap per text."""

    def __init__(self, entries: Sequence[WatchEntry]) -> None:
        self._clients = [
            _Client(
                entry,
                required=tuple(t for t in map(skeleton_term, entry.required_context) if t),
                excluded=tuple(t for t in map(skeleton_term, entry.excluded_context) if t),
            )
            for entry in entries
        ]
        self._forms = ahocorasick.Automaton()
        self._anchors = ahocorasick.Automaton()
        forms: dict[str, list[_Form]] = {}
        anchors: dict[str, list[_Anchor]] = {}

        def add(pattern: str, form: _Form) -> None:
            if pattern:
                forms.setdefault(pattern, []).append(form)

        for index, client in enumerate(self._clients):
            for name in client.entry.names:
                tokens = skeleton_term(name).split()
                if len(tokens) < 2:
                    add(" ".join(tokens), _Form(index, name, RULE_ALIAS, len(tokens)))
                    continue
                first, *middle, last = tokens
                straight = " ".join(tokens)
                reordered = " ".join([last, first, *middle])
                for pattern, rule, count in (
                    (straight, RULE_EXACT, len(tokens)),
                    ("".join(tokens), RULE_EXACT, 1),
                    (reordered, RULE_REORDERED, len(tokens)),
                    ("".join([last, first, *middle]), RULE_REORDERED, 1),
                    (f"{first[0]} {last}", RULE_INITIAL, 2),
                    (f"{last} {first[0]}", RULE_INITIAL, 2),
                    (f"{first[0]}{last}", RULE_INITIAL, 1),
                ):
                    add(pattern, _Form(index, name, rule, count))
                for pattern in (straight, reordered):
                    for masked in _masked_variants(pattern):
                        add(masked, _Form(index, name, RULE_MASKED, len(tokens)))
                for position, token in enumerate(tokens):
                    if len(token) >= ANCHOR_MIN_LEN:
                        anchors.setdefault(token, []).append(
                            _Anchor(index, name, tuple(tokens), position)
                        )
            for alias in client.entry.aliases:
                tokens = skeleton_term(alias).split()
                add(" ".join(tokens), _Form(index, alias, RULE_ALIAS, len(tokens)))
                if len(tokens) > 1:
                    add("".join(tokens), _Form(index, alias, RULE_ALIAS, 1))
        for pattern, payload in forms.items():
            self._forms.add_word(pattern, (pattern, tuple(payload)))
        for pattern, anchor_payload in anchors.items():
            self._anchors.add_word(pattern, (pattern, tuple(anchor_payload)))
        if forms:
            self._forms.make_automaton()
        if anchors:
            self._anchors.make_automaton()
        self._has_forms, self._has_anchors = bool(forms), bool(anchors)

    def scan(self, raw: str) -> list[Mention]:
        norm = skeleton(raw)
        text = norm.text
        if not text:
            return []
        token_starts = [0] + [i + 1 for i, c in enumerate(text) if c == " "]
        found: list[Mention] = []
        if self._has_forms:
            for end, (pattern, payload) in self._forms.iter(text):
                start = end - len(pattern) + 1
                if not (norm.is_boundary(start) and norm.is_boundary(end + 1)):
                    continue
                for form in payload:
                    mention = self._mention(
                        raw, norm, start, end + 1, form.client, form.term, form.rule, None
                    )
                    if mention and form.rule == RULE_INITIAL and not _initial_ok(raw, mention):
                        continue
                    if mention and self._context_ok(
                        form.client, text, token_starts, start, end + 1
                    ):
                        found.append(mention)
        if self._has_anchors:
            found.extend(self._fuzzy(raw, norm, token_starts))
        return _best_per_span(found)

    def _mention(
        self,
        raw: str,
        norm: Normalized,
        start: int,
        end: int,
        client: int,
        term: str,
        rule: str,
        score: float | None,
    ) -> Mention | None:
        raw_start, raw_end = norm.raw_span(start, end)
        written = raw[raw_start:raw_end]
        if rule in (RULE_EXACT, RULE_REORDERED) and basic(written).text != _careless(term, rule):
            rule = RULE_OBFUSCATED if rule == RULE_EXACT else rule
        if (
            rule == RULE_ALIAS
            and score is None
            and basic(written).text.replace(" ", "") != basic_term(term).replace(" ", "")
        ):
            # Found only once look-alikes are undone: a different literal handle is slightly
            # less sure, and loses to a client whose handle is written exactly there.
            score = 0.95
        return Mention(
            client_id=self._clients[client].entry.client_id,
            start=raw_start,
            end=raw_end,
            text=written,
            term=term,
            rule=rule,
            score=RULE_SCORES[rule] if score is None else score,
        )

    def _fuzzy(self, raw: str, norm: Normalized, token_starts: list[int]) -> list[Mention]:
        text = norm.text
        tokens = text.split(" ")
        found = []
        seen: set[tuple[int, int, int]] = set()
        for end, (pattern, payload) in self._anchors.iter(text):
            start = end - len(pattern) + 1
            if not (_at_boundaries(text, start, end + 1)):
                continue
            at = bisect.bisect_right(token_starts, start) - 1
            for anchor in payload:
                size = len(anchor.name_tokens)
                for window_start, expected in (
                    (at - anchor.position, anchor.name_tokens),
                    (
                        at - (anchor.position + 1) % size,
                        anchor.name_tokens[-1:] + anchor.name_tokens[:-1],
                    ),
                ):
                    if window_start < 0 or window_start + size > len(tokens):
                        continue
                    key = (anchor.client, window_start, size)
                    if key in seen:
                        continue
                    seen.add(key)
                    window = tokens[window_start : window_start + size]
                    score = fuzz.ratio(" ".join(window), " ".join(expected))
                    if score < FUZZY_MIN or score == 100:
                        continue
                    if not all(_typo(a, b) for a, b in zip(window, expected, strict=True)):
                        continue
                    s = token_starts[window_start]
                    e = token_starts[window_start + size - 1] + len(window[-1])
                    if not self._context_ok(anchor.client, text, token_starts, s, e):
                        continue
                    mention = self._mention(
                        raw,
                        norm,
                        s,
                        e,
                        anchor.client,
                        anchor.term,
                        RULE_FUZZY,
                        round(0.9 * score / 100, 3),
                    )
                    if mention:
                        found.append(mention)
        return found

    def _context_ok(
        self, client: int, text: str, token_starts: list[int], start: int, end: int
    ) -> bool:
        c = self._clients[client]
        if not c.required and not c.excluded:
            return True
        first = bisect.bisect_right(token_starts, start) - 1
        last = bisect.bisect_right(token_starts, end - 1) - 1
        lo = token_starts[max(0, first - CONTEXT_WINDOW)]
        hi_token = last + CONTEXT_WINDOW + 1
        hi = token_starts[hi_token] - 1 if hi_token < len(token_starts) else len(text)
        around = " " + text[lo:start] + " " + text[end:hi] + " "
        if any(f" {word} " in around for word in c.excluded):
            return False
        return not c.required or any(f" {word} " in around for word in c.required)


def _typo(written: str, expected: str) -> bool:
    """One missing, extra or swapped letter. A substituted letter is not a typo here: it turns
    a family name into another real one too often (Dupont, Dumont, Dupond); deliberate
    substitutions are leetspeak and masks, which have their own rules."""
    if written == expected:
        return True
    if Indel.distance(written, expected) == 1:
        return True
    return OSA.distance(written, expected) == 1 and sorted(written) == sorted(expected)


def _careless(term: str, rule: str) -> str:
    """The term as a careless (not hostile) writer would write it, in the matched order."""
    tokens = basic_term(term).split()
    if rule == RULE_REORDERED and len(tokens) > 1:
        tokens = [tokens[-1], *tokens[:-1]]
    return " ".join(tokens)


_SPLIT_INITIAL = re.compile(r"^(?P<a>\w)\.\s*\S|\S\s+(?P<b>\w)$")


def _initial_ok(raw: str, mention: Mention) -> bool:
    """An initial is a capital with a full stop ("J. Dupont", "DUPONT J."), of the right letter,
    and not a civility ("M. Dupont" is Monsieur). Without the stop, "Dupont a" is French and
    "Dupont I" English far more often than initials."""
    written = mention.text
    if " " not in written.strip() and "." not in written:
        return True  # "JDupont": one word, the initial glued to the name
    m = _SPLIT_INITIAL.search(written)
    if m is None:
        return False
    letter = m.group("a") or m.group("b")
    if m.group("b") and raw[mention.end : mention.end + 1] != ".":
        return False
    if not letter.isupper():
        return False
    first = basic_term(mention.term)[:1]
    if basic_term(letter) != first:
        return False
    return not (m.group("a") and basic_term(letter) in CIVILITY_INITIALS)


def _at_boundaries(text: str, start: int, end: int) -> bool:
    return (start == 0 or text[start - 1] == " ") and (end == len(text) or text[end] == " ")


def _best_per_span(mentions: list[Mention]) -> list[Mention]:
    """Per client, overlapping mentions collapse to the strongest (then longest) one. Across
    clients, a mention inside a longer, at least as strong one of another client is dropped
    ("n Mercier" inside "J.u.l.i.e.n Mercier"), and on the very same span the strongest wins
    (two clients sharing a handle once look-alikes are undone)."""
    ordered = sorted(mentions, key=lambda m: (m.client_id, -m.score, -(m.end - m.start), m.start))
    kept: dict[str, list[Mention]] = {}
    for m in ordered:
        taken = kept.setdefault(m.client_id, [])
        if all(m.end <= k.start or m.start >= k.end for k in taken):
            taken.append(m)
    flat = [m for ms in kept.values() for m in ms]

    def shadowed(m: Mention) -> bool:
        for k in flat:
            if k.client_id == m.client_id or not (k.start <= m.start and m.end <= k.end):
                continue
            if (k.end - k.start) > (m.end - m.start) and k.score >= m.score:
                return True
            if (k.start, k.end) == (m.start, m.end) and k.score > m.score:
                return True
        return False

    return sorted((m for m in flat if not shadowed(m)), key=lambda m: (m.start, m.client_id))


def find_mentions(raw: str, entries: Sequence[WatchEntry]) -> list[Mention]:
    """One-off convenience; build a :class:`NameMatcher` once to scan many texts."""
    return NameMatcher(entries).scan(raw)
