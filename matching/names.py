"""Finding watched names in hostile text.

Candidates come from one Aho–Corasick automaton over every client's name forms, so the cost of
a scan follows the text, not the number of clients. Each candidate is then checked (word
boundaries, context words) and near misses found around a name's own words are verified with
rapidfuzz. Every mention says which rule fired and maps back to the exact raw characters.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ahocorasick
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Indel

from matching.normalize import (
    MASK,
    MaskedWord,
    Normalized,
    basic,
    basic_term,
    fold,
    has_hidden,
    masked_words,
    skeleton,
    skeleton_term,
)

# Rules, strongest first. Scores are the confidence a reviewer sees; they order the queue.
RULE_EXACT = "exact"  # same words, up to case, accents, punctuation and spacing
RULE_OBFUSCATED = "obfuscated"  # same words once leetspeak, look-alikes and separators are undone
RULE_ALIAS = "alias"  # an alias or handle of the client
RULE_REORDERED = "reordered"  # family name first: "DUPONT Jeanne"
RULE_MASKED = "masked"  # one letter hidden: "D*pont"
RULE_INITIAL = "initial"  # "J. Dupont", "DUPONT J."
RULE_FUZZY = "fuzzy"  # a misspelling, verified with rapidfuzz
RULE_HANDLE = (
    "handle"  # the name's words glued: "zoefournier", "@FournierZoe", "mathéo_rousseaugarnier"
)
RULE_HASHTAG = "hashtag"  # after a "#": "#ZoeFournier", "#zoé_fournier"
RULE_INVISIBLE = (
    "invisible"  # invisible or overlaid characters inside the name: "Zo\u200bé Fournier"
)
# Several letters masked ("H*l*ne L*f*vre", "L.f.vre", "H…ne L…vre"), verified against the
# name's letters; scored MASKED_LETTERS_SCORE or MASKED_LETTERS_LOOSE_SCORE.
RULE_MASKED_LETTERS = "masked_letters"
# Scored like the rules they refine: the client's full name, disguised on purpose, is HIGH
# (hits.documents: >= 0.95), as obfuscated and reordered names are.
RULE_SCORES = {
    RULE_EXACT: 1.0,
    RULE_ALIAS: 1.0,
    RULE_OBFUSCATED: 0.95,
    RULE_REORDERED: 0.95,
    RULE_HANDLE: 0.95,
    RULE_HASHTAG: 0.95,
    RULE_INVISIBLE: 0.95,
    RULE_MASKED: 0.9,
    RULE_INITIAL: 0.8,
}
# Several masked letters, each mask one letter, so the name's length is verified, and most of
# its letters visible: as sure as one masked letter (MEDIUM).
MASKED_LETTERS_SCORE = 0.9
# Length not verified ("H…ne", a run that may hide any number of letters) or fewer letters
# visible: below MEDIUM, with initials and misspellings.
MASKED_LETTERS_LOOSE_SCORE = 0.85
# Share of a name's letters that must be visible for MASKED_LETTERS_SCORE.
MASKED_VISIBLE_SURE = 0.6
# A masked word must show at least this share of its letters, and MASKED_MIN_VISIBLE letters:
# "M*r**n" fits Martin, Marion and Morin; with the other word also checked, 40% kept no wrong
# client in make eval's masked negatives.
MASKED_WORD_VISIBLE_MIN = 0.4
MASKED_MIN_VISIBLE = 2
# Particles that belong to the family name: "Maël Le Gall" is Le Gall, Maël, never Gall, Maël Le.
PARTICLES = frozenset(
    {"le", "la", "les", "de", "du", "des", "d", "van", "von", "der", "den", "di", "da", "do"}
    | {"dos", "das", "del", "della", "ben", "bin", "ibn", "el", "al", "mac", "saint", "sainte"}
)
# Names of more words than this get only spaced and fully glued forms, not every mix.
GAP_VARIANTS_MAX_TOKENS = 5
# rapidfuzz ratio (0-100) of the whole window against the name, below which a near miss is not
# considered ("Jeane Dupont" scores 96, "Jeanne Dupontt" 96, "Jeanne Durand" 69).
FUZZY_MIN = 88
# Words of a name shorter than this are not used as anchors for fuzzy matching (too common);
# three letters keeps "Zoé Ganier" (Garnier), whose only other word is misspelt.
ANCHOR_MIN_LEN = 3
# "M. Dupont" is Monsieur Dupont far more often than Mathilde Dupont: a civility, not an initial.
CIVILITY_INITIALS = frozenset({"m"})
# A word shorter than this that lost or gained a letter (other than a doubled one) is not a
# typo of the name: "Théophile line" is not Théophile Laine (make eval: first_name_alone read
# as the client before this rule).
TYPO_MIN_LEN = 5
# Given names this long may lose or gain any letter but the last ("Chriselle" is Christelle);
# shorter ones only a doubled letter (see _typo).
GIVEN_TYPO_MIN_LEN = 6
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
    # How a careless writer would write this form (basic normalisation): written otherwise, an
    # exact form was obfuscated.
    careless: str = ""
    # For initials: the given name's initials this form stands for ("jb" for "J.-B. Moreau").
    initials: str = ""


@dataclass(frozen=True)
class _Anchor:
    client: int
    term: str
    name_tokens: tuple[str, ...]
    position: int
    given: frozenset[int] = frozenset()


@dataclass
class _Client:
    entry: WatchEntry
    required: tuple[str, ...] = field(default=())
    excluded: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _Order:
    """A name's words in one order a writer may use, as skeleton and as careless text."""

    tokens: tuple[str, ...]
    careless: tuple[str, ...]
    reordered: bool
    # Positions of the first given name's words: misspelt, they are held to a stricter test.
    given: frozenset[int] = frozenset()


@dataclass(frozen=True)
class _Split:
    """Where the given names end and the family name starts."""

    given: tuple[str, ...]
    family: tuple[str, ...]


def _masked_variants(form: str) -> Iterable[str]:
    for i, c in enumerate(form):
        if c != " ":
            yield form[:i] + MASK + form[i + 1 :]


def _name_structure(name: str) -> tuple[list[_Order], list[_Split]]:
    """Orders and given/family splits of a name of two words or more.

    A word is what the name separates by spaces; a hyphenated word ("Jean-Baptiste",
    "Rousseau-Garnier") moves as one. Which words are the family name is not recorded, so every
    split is tried except one leaving a particle with the given names."""
    units = [u for u in re.split(r"[\s,]+", name) if skeleton_term(u)]
    skel = [tuple(skeleton_term(u).split()) for u in units]
    care = [tuple(basic_term(u).split()) for u in units]
    if any(len(s) != len(c) for s, c in zip(skel, care, strict=True)):
        care = skel  # digits or symbols in the name itself: compare skeletons only

    def flat(parts: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
        return tuple(t for p in parts for t in p)

    first = len(skel[0])
    orders = [_Order(flat(skel), flat(care), False, frozenset(range(first)))]
    splits = []
    for k in range(1, len(units)):
        if care[k - 1] and care[k - 1][-1] in PARTICLES:
            continue
        splits.append(_Split(flat(skel[:k]), flat(skel[k:])))
        at = len(flat(skel[k:]))
        reordered = _Order(
            flat(skel[k:] + skel[:k]),
            flat(care[k:] + care[:k]),
            True,
            frozenset(range(at, at + first)),
        )
        if reordered not in orders and reordered.tokens != orders[0].tokens:
            orders.append(reordered)
    if not splits and len(units) > 1:
        splits.append(_Split(flat(skel[:1]), flat(skel[1:])))
    return orders, splits


def _gap_variants(tokens: Sequence[str]) -> Iterable[tuple[tuple[str, ...], bool]]:
    """Each way of spacing or gluing a name's words: (gaps, glued?)."""
    count = len(tokens) - 1
    if len(tokens) > GAP_VARIANTS_MAX_TOKENS:
        gap_sets: Iterable[tuple[str, ...]] = [(" ",) * count, ("",) * count]
    else:
        gap_sets = itertools.product((" ", ""), repeat=count)
    for gaps in gap_sets:
        yield gaps, "" in gaps


def _join(tokens: Sequence[str], gaps: Sequence[str]) -> str:
    return "".join(t + (gaps[i] if i < len(gaps) else "") for i, t in enumerate(tokens))


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
        # Masked words are looked up by (length, position, letter) of a visible letter, or by
        # first letter when a run hides an unknown number of letters.
        self._mask_index: dict[tuple[int, int, str], list[_Anchor]] = {}
        self._mask_loose: dict[str, list[_Anchor]] = {}

        def add(pattern: str, form: _Form) -> None:
            if pattern:
                forms.setdefault(pattern, []).append(form)

        for index, client in enumerate(self._clients):
            for name in client.entry.names:
                tokens = skeleton_term(name).split()
                if len(tokens) < 2:
                    add(" ".join(tokens), _Form(index, name, RULE_ALIAS, len(tokens)))
                    continue
                orders, splits = _name_structure(name)
                for order in orders:
                    spaced = RULE_REORDERED if order.reordered else RULE_EXACT
                    for gaps, glued in _gap_variants(order.tokens):
                        add(
                            _join(order.tokens, gaps),
                            _Form(
                                index,
                                name,
                                RULE_HANDLE if glued else spaced,
                                1 if glued else len(order.tokens),
                                careless=_join(order.careless, gaps),
                            ),
                        )
                    straight = " ".join(order.tokens)
                    for masked in _masked_variants(straight):
                        add(masked, _Form(index, name, RULE_MASKED, len(order.tokens)))
                    for position, token in enumerate(order.tokens):
                        anchor = _Anchor(index, name, order.tokens, position, order.given)
                        if len(token) >= ANCHOR_MIN_LEN:
                            anchors.setdefault(token, []).append(anchor)
                        for p in range(min(len(token), 3)):
                            self._mask_index.setdefault((len(token), p, token[p]), []).append(
                                anchor
                            )
                        for key in dict.fromkeys((token[0] + token[-1], token[:2])):
                            self._mask_loose.setdefault(key, []).append(anchor)
                for split in splits:
                    families = {_join(split.family, g) for g, _ in _gap_variants(split.family)}
                    first_only = split.given[0][0]
                    every = "".join(t[0] for t in split.given)
                    for initials in dict.fromkeys((first_only, every)):
                        spaced_initials = " ".join(initials)
                        for family in families:
                            for pattern in (
                                f"{spaced_initials} {family}",
                                f"{family} {spaced_initials}",
                                initials + family.replace(" ", ""),
                                # "MOREAU J.-B. a": spaced-out letters "j b a" are joined
                                f"{family} {initials}",
                                f"{initials} {family}",
                            ):
                                add(pattern, _Form(index, name, RULE_INITIAL, 2, initials=initials))
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
        folded = fold(raw)
        norm = skeleton(raw, folded)
        text = norm.text
        if not text:
            return []
        token_starts = [0] + [i + 1 for i, c in enumerate(text) if c == " "]
        found: list[Mention] = []
        if self._has_forms:
            for end, (pattern, payload) in self._forms.iter(text):
                start = end - len(pattern) + 1
                if not (
                    (norm.is_boundary(start) or norm.is_inner_boundary(raw, start))
                    and (norm.is_boundary(end + 1) or norm.is_inner_boundary(raw, end + 1))
                ):
                    continue
                for form in payload:
                    mention = self._mention(raw, norm, start, end + 1, form, None)
                    if (
                        mention
                        and form.rule == RULE_INITIAL
                        and not _initial_ok(raw, mention, form.initials)
                    ):
                        continue
                    if mention and self._context_ok(
                        form.client, text, token_starts, start, end + 1
                    ):
                        found.append(mention)
        if self._has_anchors:
            found.extend(self._fuzzy(raw, norm, token_starts))
        if self._mask_index:
            for group in masked_words(raw, folded):
                found.extend(self._masked_letters(raw, norm, token_starts, group))
        return _best_per_span(found)

    def _mention(
        self,
        raw: str,
        norm: Normalized,
        start: int,
        end: int,
        form: _Form,
        score: float | None,
    ) -> Mention | None:
        raw_start, raw_end = norm.raw_span(start, end)
        written = raw[raw_start:raw_end]
        if _hyphenated_to_more(raw, raw_start, raw_end) or _hyphen_joins_names(written, form.term):
            return None
        rule, term = form.rule, form.term
        if (
            rule == RULE_REORDERED
            and any(c.isspace() for c in written)
            and not _starts_capitalised(written)
        ):
            # "le petit Louis" is not Louis Petit: family name first is written as registers and
            # lists write it, "Petit Louis" or "PETIT Louis".
            return None
        if rule in (RULE_EXACT, RULE_REORDERED) and basic(written).text != form.careless:
            rule = RULE_OBFUSCATED if rule == RULE_EXACT else rule
        elif rule == RULE_HANDLE and any(c.isspace() for c in written):
            rule = RULE_OBFUSCATED  # spaced-out letters joined ("J e a n n e D u p o n t")
        if rule in (RULE_EXACT, RULE_OBFUSCATED, RULE_HANDLE) and has_hidden(written):
            rule = RULE_INVISIBLE
        if (
            rule in (RULE_EXACT, RULE_OBFUSCATED, RULE_HANDLE, RULE_INVISIBLE)
            and raw[raw_start - 1 : raw_start] == "#"
        ):
            rule = RULE_HASHTAG
        if (
            rule == RULE_ALIAS
            and score is None
            and basic(written).text.replace(" ", "") != basic_term(term).replace(" ", "")
        ):
            # Found only once look-alikes are undone: a different literal handle is slightly
            # less sure, and loses to a client whose handle is written exactly there.
            score = 0.95
        return Mention(
            client_id=self._clients[form.client].entry.client_id,
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
        seen: set[tuple[int, int, tuple[str, ...]]] = set()
        for end, (pattern, payload) in self._anchors.iter(text):
            start = end - len(pattern) + 1
            if not (_at_boundaries(text, start, end + 1)):
                continue
            at = bisect.bisect_right(token_starts, start) - 1
            for anchor in payload:
                size = len(anchor.name_tokens)
                window_start = at - anchor.position
                expected = anchor.name_tokens
                if window_start < 0 or window_start + size > len(tokens):
                    continue
                key = (anchor.client, window_start, expected)
                if key in seen:
                    continue
                seen.add(key)
                window = tokens[window_start : window_start + size]
                score = fuzz.ratio(" ".join(window), " ".join(expected))
                if score < FUZZY_MIN or score == 100:
                    continue
                if not all(
                    _typo(a, b, given=k in anchor.given)
                    for k, (a, b) in enumerate(zip(window, expected, strict=True))
                ):
                    continue
                s = token_starts[window_start]
                e = token_starts[window_start + size - 1] + len(window[-1])
                if not self._context_ok(anchor.client, text, token_starts, s, e):
                    continue
                form = _Form(anchor.client, anchor.term, RULE_FUZZY, size)
                mention = self._mention(raw, norm, s, e, form, round(0.9 * score / 100, 3))
                if mention:
                    found.append(mention)
        return found

    def _masked_letters(
        self, raw: str, norm: Normalized, token_starts: list[int], words: list[MaskedWord]
    ) -> list[Mention]:
        found: list[Mention] = []
        seen: set[tuple[int, int, tuple[str, ...]]] = set()
        for i, word in enumerate(words):
            if not word.masked or word.visible < MASKED_MIN_VISIBLE:
                continue
            for anchor in self._mask_candidates(word):
                size = len(anchor.name_tokens)
                first = i - anchor.position
                key = (anchor.client, first, anchor.name_tokens)
                if first < 0 or first + size > len(words) or key in seen:
                    continue
                seen.add(key)
                window = words[first : first + size]
                verdicts = []
                for w, t in zip(window, anchor.name_tokens, strict=True):
                    verdict = _masked_fit(w, t)
                    if not verdict:
                        break
                    verdicts.append(verdict)
                if len(verdicts) < size:
                    continue
                visible = sum(w.visible for w in window)
                letters = sum(len(t) for t in anchor.name_tokens)
                sure = all(v == _FIT_EXACT for v in verdicts) and (
                    visible >= MASKED_VISIBLE_SURE * letters
                )
                raw_start, raw_end = window[0].raw_start, window[-1].raw_end
                written = raw[raw_start:raw_end]
                if _hyphenated_to_more(raw, raw_start, raw_end) or _hyphen_joins_names(
                    written, anchor.term
                ):
                    continue
                s = bisect.bisect_left(norm.raw_start, raw_start)
                e = bisect.bisect_left(norm.raw_start, raw_end)
                if not self._context_ok(anchor.client, norm.text, token_starts, s, max(e, s + 1)):
                    continue
                found.append(
                    Mention(
                        client_id=self._clients[anchor.client].entry.client_id,
                        start=raw_start,
                        end=raw_end,
                        text=written,
                        term=anchor.term,
                        rule=RULE_MASKED_LETTERS,
                        score=MASKED_LETTERS_SCORE if sure else MASKED_LETTERS_LOOSE_SCORE,
                    )
                )
        return found

    def _mask_candidates(self, word: MaskedWord) -> list[_Anchor]:
        candidates: list[_Anchor] = []
        visible_at = next((p for p, c in enumerate(word.exact) if c != MASK), None)
        if visible_at is not None and visible_at < 3:
            for length in (len(word.exact), len(word.exact) + word.trailing_dot):
                key = (length, visible_at, word.exact[visible_at])
                candidates.extend(self._mask_index.get(key, ()))
                if not word.trailing_dot:
                    break
        if "+" in word.pattern:
            loose = _loose_key(word.pattern)
            if loose:
                candidates.extend(self._mask_loose.get(loose, ()))
        return candidates

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


def _loose_key(pattern: str) -> str:
    """Where to look up a word with a run of unknown length: its first and last letters
    ("h+ne": "he"), or its first two when it ends with the run ("ief+": "ie")."""
    if pattern[0] in (MASK, "+"):
        return ""
    if pattern[-1] not in (MASK, "+"):
        return pattern[0] + pattern[-1]
    return pattern[:2] if pattern[1] not in (MASK, "+") else ""


_FIT_EXACT = 2  # every mask one letter: the length is verified
_FIT_LOOSE = 1  # a run stood for another number of letters


@functools.lru_cache(maxsize=4096)
def _mask_regexes(
    pattern: str, exact: str, trailing_dot: bool
) -> tuple[re.Pattern[str], re.Pattern[str]]:
    def compile_(p: str) -> re.Pattern[str]:
        body = "".join("." if c == MASK else ".+" if c == "+" else re.escape(c) for c in p)
        return re.compile(body + ("(?:.)?" if trailing_dot else ""))

    return compile_(exact), compile_(pattern)


def _masked_fit(word: MaskedWord, expected: str) -> int:
    """How ``word`` fits the name's word ``expected``: 0 (not), _FIT_LOOSE or _FIT_EXACT."""
    if not word.masked:
        return _FIT_EXACT if word.pattern == expected else 0
    if word.visible < max(MASKED_MIN_VISIBLE, MASKED_WORD_VISIBLE_MIN * len(expected)):
        return 0
    exact, loose = _mask_regexes(word.pattern, word.exact, word.trailing_dot)
    if exact.fullmatch(expected):
        return _FIT_EXACT
    return _FIT_LOOSE if "+" in word.pattern and loose.fullmatch(expected) else 0


def _typo(written: str, expected: str, given: bool = False) -> bool:
    """One missing, extra or swapped letter. A substituted letter is not a typo here: it turns
    a family name into another real one too often (Dupont, Dumont, Dupond); deliberate
    substitutions are leetspeak and masks, which have their own rules. In a given name, a
    missing or extra letter must be a doubled one ("Jeane", "Jeannne") or, in a long name, not
    the last: otherwise it makes another given name too often (Lucie/Luce, Denis/Denise,
    Julien/Julie, Louis/Louise, Christophe/Christopher)."""
    if written == expected:
        return True
    if Indel.distance(written, expected) == 1:
        longer, shorter = (
            (written, expected) if len(written) > len(expected) else (expected, written)
        )
        for i in range(len(longer)):
            if longer[:i] + longer[i + 1 :] != shorter:
                continue
            if longer[i - 1 : i] == longer[i] or longer[i + 1 : i + 2] == longer[i]:
                return True  # a doubled letter, added or lost
            if len(shorter) < TYPO_MIN_LEN:
                continue
            if not given or (len(longer) >= GIVEN_TYPO_MIN_LEN and i < len(longer) - 1):
                return True
        return False
    return OSA.distance(written, expected) == 1 and sorted(written) == sorted(expected)


_LEADING_INITIALS = re.compile(r"^((?:\w\.\s*-?\s*)+)\S")
_TRAILING_INITIALS = re.compile(r"\s((?:\w\.\s*-?\s*)*\w)$")


def _initial_ok(raw: str, mention: Mention, initials: str) -> bool:
    """An initial is a capital with a full stop ("J. Dupont", "DUPONT J.", "J.-B. Moreau"), of
    the right letter, and not a civility ("M. Dupont" is Monsieur). Without the stop, "Dupont a"
    is French and "Dupont I" English far more often than initials. Glued to the family name in
    one word it is a handle ("jdupont", "j.dupont", "j_dupont"), unless it is "M.Dupont"."""
    written = mention.text
    if not any(c.isspace() for c in written):
        # "M.Dupont" is Monsieur typed without a space; "m.dupont" is a handle.
        return not (
            written[1:2] == "."
            and written[:1].isupper()
            and basic_term(written[:1]) in CIVILITY_INITIALS
        )
    leading = _LEADING_INITIALS.match(written)
    if leading:
        letters = re.findall(r"\w", leading.group(1))
    else:
        trailing = _TRAILING_INITIALS.search(written)
        if trailing is None or raw[mention.end : mention.end + 1] != ".":
            return False
        letters = re.findall(r"\w", trailing.group(1))
    if not all(letter.isupper() for letter in letters):
        return False
    if skeleton_term("".join(letters)) != initials:
        return False
    return not (leading and len(letters) == 1 and basic_term(letters[0]) in CIVILITY_INITIALS)


_DASHES = "-\u2010\u2011\u2012\u2013\uff0d"
_HYPHEN_BEFORE = re.compile(rf"[^\W\d_][{_DASHES}]$")
_HYPHEN_AFTER = re.compile(rf"^[{_DASHES}][^\W\d_]")


def _hyphenated_to_more(raw: str, start: int, end: int) -> bool:
    """Whether a name written as a name is part of a longer hyphenated one: "Marie-Océane
    Dumont" is not Océane Dumont, "Jeanne Dupont-Moretti" not Jeanne Dupont. A handle written
    in one word ("zoe-fournier-officiel") is still the client's."""
    if not any(c.isspace() for c in raw[start:end]):
        return False
    return bool(
        _HYPHEN_BEFORE.search(raw[max(0, start - 2) : start])
        or _HYPHEN_AFTER.match(raw[end : end + 2])
    )


def _starts_capitalised(written: str) -> bool:
    first = next((c for c in written if c.isalnum()), "")
    return not first.isalpha() or not first.islower()


_CAPITAL_HYPHEN = re.compile(rf"[^\W\d_][{_DASHES}][A-ZÀ-ÖØ-ÞＡ-Ｚ]")


def _hyphen_joins_names(written: str, term: str) -> bool:
    """Whether capitalised words are hyphenated where the client's name has none: "Lo***s-Olivier"
    is a compound given name, not Louis, Olivier; "Martinez-Mahe" a family name, not Martine."""
    return len(_CAPITAL_HYPHEN.findall(written)) > term.count("-")


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
