"""`make eval` (names): recall per disguise and precision on real forum text, on drawn parameters.

Real French people (Faker's fr_FR given and family names, compound ones included) are written
into real forum posts (shared/realdata/forums), each in a disguise harassers use. Every
disguise draws its parameters (how many letters, which ones, which characters, which order and
separators) at random from a range, so the figures measure what the matcher was not tuned on.
The seed is printed; set it with ``--seed N`` or ``BODYGUARD_EVAL_SEED=N`` to try others.
Negatives (homonyms with excluded context, a first name alone, another given name with the same
family name, a name inside a longer word, the untouched real text...) measure precision. The
matcher as it was before issue 9 is measured beside it when git can show it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import subprocess
import sys
import time
import types
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.corpus import Person, chunks, forum_texts, french_people
from matching.names import CONTEXT_WINDOW, NameMatcher, WatchEntry

DEFAULT_SEED = 2026_12_02
TRIALS = 300
CLIENTS = 1000
# Share of clients with an excluded context word (a famous namesake) or a required one.
EXCLUDED_SHARE = 0.1
REQUIRED_SHARE = 0.05
# The matcher before issue 9 (git commit), measured beside ours when git can show it.
PREVIOUS_COMMIT = "0f178de"
ROOT = Path(__file__).resolve().parents[1]

Disguise = Callable[[Person, random.Random], str]

_LEET = {"e": "3", "a": "4", "o": "0", "i": "1", "s": "5", "t": "7", "l": "1", "g": "9"}
_CYRILLIC = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і"}
_CYRILLIC.update({"A": "А", "E": "Е", "O": "О", "P": "Р", "C": "С", "M": "М", "T": "Т", "H": "Н"})
# Zero-width space, non-joiner, joiner, word joiner, BOM, soft hyphen, bidi marks, embeddings
# and isolates, variation selectors, Mongolian vowel separator, Hangul filler.
_INVISIBLE = (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069\ufe00\ufe0e\ufe0f\u180e\u3164"
)
# Combining marks drawn over letters: overlays (strokes, slashes), tilde and low lines.
_OVERLAYS = "\u0334\u0335\u0336\u0337\u0338\u0332\u0333\u0303\u0330\u20d2"
_MASK_CHARS = "*•#●×"
# Mathematical alphanumeric styles without holes (bold, bold italic, bold script, bold
# fraktur, sans, sans bold, sans italic, sans bold italic, monospace): capital A of each.
_MATH_STYLES = (0x1D400, 0x1D468, 0x1D4D0, 0x1D56C, 0x1D5A0, 0x1D5D4, 0x1D608, 0x1D63C, 0x1D670)
_HASHTAG_PREFIXES = ("", "", "", "JusticePour", "Stop", "Soutien", "Balance")
_SEPARATORS = (".", "_", "-")
_PROFESSIONS = ("footballeur", "chanteuse", "députée", "acteur", "romancière", "ministre")
_CITIES = ("Lyon", "Rennes", "Lille", "Toulouse")


def _strip(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _words(person: Person) -> list[str]:
    """The name's words, hyphenated parts apart: "Jean-Baptiste Le Gall" has four."""
    return person.full.replace("-", " ").split()


def _family_first(person: Person, rng: random.Random) -> str:
    family = person.family.upper() if rng.random() < 0.5 else person.family
    return f"{family}{rng.choice([' ', ', ', ' '])}{person.given}"


def _leet(text: str, rng: random.Random) -> str:
    chars = list(text)
    spots = [i for i, c in enumerate(chars) if c.lower() in _LEET]
    for i in rng.sample(spots, k=min(len(spots), rng.randint(1, 4))):
        chars[i] = _LEET[chars[i].lower()]
    return "".join(chars)


def _mask_letters(word: str, rng: random.Random, count: int) -> str:
    """``count`` letters of ``word`` masked, the first kept (how people write "H*l*ne")."""
    chars = list(word)
    spots = [i for i in range(1, len(chars)) if chars[i].isalpha()]
    mask = rng.choice(_MASK_CHARS + ".")
    for i in rng.sample(spots, k=min(count, len(spots))):
        chars[i] = mask
    return "".join(chars)


def _several_masked(person: Person, rng: random.Random, given_only: bool = False) -> str:
    """Several letters hidden in one or both words: each one masked (2 to half the letters of a
    word), or a middle run of 2+ letters as an ellipsis ("H…ne"), keeping at least half.
    Hyphens and spaces stay: they are not letters."""
    pieces = re.split(r"([ -])", person.full)
    words = pieces[::2]
    if given_only:
        words = words[: len(person.given.split("-"))]
    long_words = [i for i, w in enumerate(words) if len(w) >= 4]
    if not long_words:
        long_words = list(range(len(words)))
    chosen = rng.sample(long_words, k=rng.randint(1, min(2, len(long_words))))
    ellipsis = rng.random() < 0.35
    for i in chosen:
        word = words[i]
        if ellipsis and len(word) >= 5:
            run = rng.randint(2, len(word) // 2)
            at = rng.randint(1, len(word) - run - 1)
            words[i] = word[:at] + rng.choice(["…", "...", "***"]) + word[at + run :]
        else:
            words[i] = _mask_letters(word, rng, rng.randint(2, max(2, len(word) // 2)))
    pieces[: 2 * len(words) : 2] = words
    return "".join(pieces)


def _one_masked(person: Person, rng: random.Random) -> str:
    text = person.full
    at = rng.choice([i for i, c in enumerate(text) if c.isalpha() and i and text[i - 1] != " "])
    return text[:at] + rng.choice("*#") + text[at + 1 :]


def _typo(person: Person, rng: random.Random) -> str:
    words = person.full.split(" ")
    i = rng.choice([n for n, w in enumerate(words) if len(w) >= 4] or [0])
    word = words[i]
    j = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["drop", "double", "swap"])
    if kind == "drop":
        words[i] = word[:j] + word[j + 1 :]
    elif kind == "double":
        words[i] = word[:j] + word[j] + word[j:]
    else:
        words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words)


def _confusable(text: str, rng: random.Random) -> str:
    chars = list(text)
    spots = [i for i, c in enumerate(chars) if c in _CYRILLIC]
    for i in rng.sample(spots, k=min(len(spots), rng.randint(1, 3))):
        chars[i] = _CYRILLIC[chars[i]]
    return "".join(chars)


def _styled(text: str, base: int) -> str:
    out = []
    for c in _strip(text):
        if "A" <= c <= "Z":
            out.append(chr(base + ord(c) - 65))
        elif "a" <= c <= "z":
            out.append(chr(base + 26 + ord(c) - 97))
        else:
            out.append(c)
    return "".join(out)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _invisible(person: Person, rng: random.Random) -> str:
    """Invisible characters inside the name (1 to 4, anywhere), or marks overlaid on letters."""
    text = person.full
    if rng.random() < 0.3:
        mark = rng.choice(_OVERLAYS)
        words = text.split(" ")
        chosen = rng.sample(range(len(words)), k=rng.randint(1, len(words)))
        for i in chosen:
            words[i] = "".join(c + mark if c.isalpha() else c for c in words[i])
        return " ".join(words)
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(1, len(chars) - 1)
        chars.insert(at, rng.choice(_INVISIBLE))
    return "".join(chars)


def _camel(words: Sequence[str], rng: random.Random) -> str:
    keep_accents = rng.random() < 0.5
    parts = [(w if keep_accents else _strip(w)).lower().capitalize() for w in words]
    return "".join(parts)


def _hashtag(person: Person, rng: random.Random) -> str:
    """#ZoeFournier, ZoeFournier, #FournierZoe, #JusticePourZoeFournier, zoe_FOURNIER."""
    given = person.given.replace("-", " ").split()
    family = person.family.replace("-", " ").split()
    words = family + given if rng.random() < 0.3 else given + family
    style = rng.random()
    if style < 0.25:
        sep = rng.choice(["_", "."])
        return sep.join(w.lower() if n % 2 == 0 else w.upper() for n, w in enumerate(words))
    prefix = rng.choice(_HASHTAG_PREFIXES)
    hashed = "#" if style < 0.85 else ""
    return hashed + prefix + _camel(words, rng) + rng.choice(["", "", str(rng.randint(1, 99))])


def _handle(person: Person, rng: random.Random) -> str:
    """@zoefournier, zfournier, fournierzoe, zoe.fournier93, z_fournier: built from the name."""
    given = [_strip(w).lower() for w in person.given.replace("-", " ").split()]
    family = [_strip(w).lower() for w in person.family.replace("-", " ").split()]
    glue = rng.choice(["", "", ".", "_"])
    form = rng.choice(["given_family", "family_given", "initial_family"])
    if form == "given_family":
        body = "".join(given) + glue + "".join(family)
    elif form == "family_given":
        body = "".join(family) + glue + "".join(given)
    else:
        body = given[0][0] + glue + "".join(family)
    digits = rng.choice(["", "", str(rng.randint(0, 9)), str(rng.randint(10, 99))])
    return rng.choice(["@", "", ""]) + body + digits


def _compound_reordered(person: Person, rng: random.Random) -> str:
    return _family_first(person, rng)


def _compound_joined(person: Person, rng: random.Random) -> str:
    """Separators or nothing between every word: jean-baptiste.moreau, mathéo_rousseaugarnier."""
    given = person.given.replace("-", " ").split()
    family = person.family.replace("-", " ").split()
    words = family + given if rng.random() < 0.3 else given + family
    accents = rng.random() < 0.5
    words = [(w if accents else _strip(w)).lower() for w in words]
    out = words[0]
    for w in words[1:]:
        out += rng.choice([*_SEPARATORS, ""]) + w
    return out


def _initial(person: Person, rng: random.Random) -> str:
    given = person.given.split("-")
    initials = "-".join(f"{g[0]}." for g in given) if rng.random() < 0.5 else f"{given[0][0]}."
    if rng.random() < 0.5:
        return f"{initials} {person.family}"
    return f"{person.family.upper()} {initials}"


def _alias(person: Person) -> str:
    return (_strip(person.given)[0] + _strip(person.family)).lower().replace(" ", "").replace(
        "-", ""
    ) + "75"


DISGUISES: dict[str, tuple[Disguise, bool]] = {
    # name: (write, only for compound names)
    "plain": (lambda p, r: p.full, False),
    "case_and_accents": (
        lambda p, r: r.choice([p.full.upper(), _strip(p.full).lower(), _strip(p.full)]),
        False,
    ),
    "leetspeak": (lambda p, r: _leet(p.full, r), False),
    "dotted_letters": (
        lambda p, r: r.choice(".-·").join(p.given.replace("-", "")) + f" {p.family}",
        False,
    ),
    "spaced_letters": (
        lambda p, r: (" " * r.randint(2, 3)).join(" ".join(w) for w in p.full.split(" ")),
        False,
    ),
    "masked_letter": (_one_masked, False),
    "separator_handle": (lambda p, r: r.choice(_SEPARATORS).join(_words(p)).lower(), False),
    "cyrillic_lookalikes": (lambda p, r: _confusable(p.full, r), False),
    "fullwidth": (lambda p, r: _fullwidth(p.full), False),
    "math_styled": (lambda p, r: _styled(p.full, r.choice(_MATH_STYLES)), False),
    "last_first": (_family_first, False),
    "initial": (_initial, False),
    "typo": (_typo, False),
    "alias": (lambda p, r: "@" + _alias(p), False),
    # Issue 9's families, never seen by the matcher before.
    "invisible_characters": (_invisible, False),
    "camelcase_hashtag": (_hashtag, False),
    "handle_from_name": (_handle, False),
    "several_masked_letters": (_several_masked, False),
    "compound_family_first": (_compound_reordered, True),
    "compound_joined": (_compound_joined, True),
}


@dataclass
class Outcome:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    misses: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


def _insert(text: str, phrase: str, rng: random.Random) -> tuple[str, int, int]:
    words = text.split(" ")
    at = rng.randrange(0, len(words) + 1)
    before = " ".join(words[:at])
    prefix = before + (" " if before else "")
    start = len(prefix)
    new = prefix + phrase + (" " + " ".join(words[at:]) if words[at:] else "")
    return new, start, start + len(phrase)


def _load_previous() -> Any | None:
    """matching.names as of PREVIOUS_COMMIT, loaded from git without touching the work tree."""
    sources = {}
    for module in ("normalize", "names"):
        try:
            sources[module] = subprocess.run(
                ["git", "show", f"{PREVIOUS_COMMIT}:matching/{module}.py"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return None
    normalize = types.ModuleType("previous_normalize")
    sys.modules["previous_normalize"] = normalize
    exec(compile(sources["normalize"], "previous/normalize.py", "exec"), normalize.__dict__)
    code = sources["names"].replace(
        "from matching.normalize import", "from previous_normalize import"
    )
    spec = importlib.util.spec_from_loader("previous_names", loader=None)
    assert spec is not None
    names = importlib.util.module_from_spec(spec)
    sys.modules["previous_names"] = names
    exec(compile(code, "previous/names.py", "exec"), names.__dict__)
    return names


def _unambiguous(people: list[Person]) -> list[Person]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for person in people:
        key = (_strip(person.given)[0].lower(), _strip(person.family).lower())
        if key not in seen:
            seen.add(key)
            kept.append(person)
    return kept


class Evaluation:
    def __init__(self, seed: int, trials: int, clients: int) -> None:
        self.rng = random.Random(seed)
        self.trials = trials
        self.texts = chunks(forum_texts())
        # No two clients share a family name and a given-name initial: "T. Richard" or the handle
        # "trichard" would name both, a true ambiguity that the reviewer settles, not an error.
        self.people = _unambiguous(french_people(2 * clients, self.rng))[:clients]
        self.known = {(p.given, p.family) for p in self.people}
        self.entries: list[WatchEntry] = []
        self.excluded: dict[int, str] = {}
        self.required: dict[int, str] = {}
        for i, person in enumerate(self.people):
            draw = self.rng.random()
            if draw < EXCLUDED_SHARE:
                self.excluded[i] = self.rng.choice(_PROFESSIONS)
            elif draw < EXCLUDED_SHARE + REQUIRED_SHARE:
                self.required[i] = self.rng.choice(_CITIES)
            self.entries.append(
                WatchEntry(
                    f"c{i}",
                    names=(person.full,),
                    aliases=(_alias(person),),
                    excluded_context=(self.excluded[i],) if i in self.excluded else (),
                    required_context=(self.required[i],) if i in self.required else (),
                )
            )
        self.plain = [i for i in range(len(self.people)) if i not in self.required]
        self.compound = [i for i in self.plain if self.people[i].compound]

    def positives(self, scan: Callable[[str], list[Any]]) -> dict[str, Outcome]:
        rng = random.Random(self.rng.random())
        results = {}
        for family, (write, compound_only) in DISGUISES.items():
            outcome = Outcome()
            pool = self.compound if compound_only else self.plain
            for _ in range(self.trials):
                i = rng.choice(pool)
                person = self.people[i]
                phrase = write(person, rng)
                text, start, end = _insert(rng.choice(self.texts), phrase, rng)
                if i in self.excluded:
                    # The real text may hold the excluded word by chance: this trial is about the disguise.
                    text = text.replace(self.excluded[i], "")
                found = [m for m in scan(text) if m.start < end and m.end > start]
                hit = [m for m in found if m.client_id == f"c{i}"]
                outcome.tp += bool(hit)
                outcome.fn += not hit
                outcome.fp += len(found) - len(hit)
                if len(found) > len(hit) and len(outcome.wrong) < 4:
                    other = next(m for m in found if m not in hit)
                    outcome.wrong.append(f"{phrase!r} also read as {other.term!r} ({other.rule})")
                if not hit and len(outcome.misses) < 4:
                    outcome.misses.append(f"{phrase!r} ({person.full})")
            results[family] = outcome
        return results

    def negatives(self, scan: Callable[[str], list[Any]]) -> dict[str, Outcome]:
        rng = random.Random(self.rng.random())
        given_pool = [p.given for p in self.people]
        family_pool = [p.family for p in self.people]

        def other_given(p: Person) -> str:
            while True:
                g = rng.choice(given_pool)
                if g != p.given and (g, p.family) not in self.known:
                    return f"{g} {p.family}"

        def excluded(p: Person, i: int) -> str:
            words = [w for w in rng.choice(self.texts).split() if w.isalpha()]
            filler = " ".join(words[: rng.randint(0, CONTEXT_WINDOW // 2)])
            return f"{p.full}, {filler} {self.excluded[i]}".replace("  ", " ")

        def masked_other(p: Person) -> str:
            return _several_masked(
                Person(other_given(p).rsplit(" " + p.family, 1)[0], p.family), rng
            )

        def inside_word(p: Person) -> str:
            body = _strip(p.full).lower().replace(" ", "").replace("-", "")
            suffix = rng.choice(["fanclub", "officiel", "store", "tv", "land"])
            return rng.choice([body + suffix, rng.choice(["super", "anti", "ex"]) + body])

        kinds: dict[str, Callable[[Person, int], str]] = {
            "homonym_excluded_context": excluded,
            "required_context_absent": lambda p, i: p.full,
            "first_name_alone": lambda p, i: rng.choice(
                [p.given, p.given.upper(), f"#{_strip(p.given)}", f"@{_strip(p.given).lower()}"]
            ),
            "other_given_same_family": lambda p, i: other_given(p),
            "family_name_alone": lambda p, i: rng.choice(
                [p.family, f"M. {p.family}", f"Mme {p.family}"]
            ),
            "name_inside_longer_word": lambda p, i: inside_word(p),
            "masked_other_given_name": lambda p, i: masked_other(p),
            "same_given_other_family": lambda p, i: f"{p.given} {rng.choice(family_pool)}",
        }
        results = {}
        for kind, write in kinds.items():
            outcome = Outcome()
            pool = {
                "homonym_excluded_context": list(self.excluded),
                "required_context_absent": list(self.required),
            }.get(kind, list(range(len(self.people))))
            for _ in range(self.trials):
                i = rng.choice(pool)
                person = self.people[i]
                phrase = write(person, i)
                if kind == "same_given_other_family" and tuple(phrase.split(" ", 1)) in self.known:
                    continue
                text, start, end = _insert(rng.choice(self.texts), phrase, rng)
                if kind == "required_context_absent":
                    text = text.replace(self.required[i], "")
                false = [m for m in scan(text) if m.start < end and m.end > start]
                outcome.fp += len(false)
                if false and len(outcome.misses) < 4:
                    outcome.misses.append(f"{phrase!r} read as {false[0].term!r} ({false[0].rule})")
            results[kind] = outcome
        untouched = Outcome()
        for text in self.texts:
            found = scan(text)
            untouched.fp += len(found)
            for m in found[: 4 - len(untouched.misses)]:
                untouched.misses.append(f"{m.text!r} read as {m.term!r} ({m.rule})")
        results["real_text_no_name"] = untouched
        return results


def _summary(pos: dict[str, Outcome], neg: dict[str, Outcome]) -> tuple[float, float]:
    tp = sum(o.tp for o in pos.values())
    fn = sum(o.fn for o in pos.values())
    fp = sum(o.fp for o in pos.values()) + sum(o.fp for o in neg.values())
    return tp / (tp + fn), tp / (tp + fp) if tp + fp else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_names")
    parser.add_argument(
        "--seed", type=int, default=int(os.environ.get("BODYGUARD_EVAL_SEED", DEFAULT_SEED))
    )
    parser.add_argument("--trials", type=int, default=TRIALS, help="insertions per family")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--no-previous", action="store_true", help="skip the previous matcher")
    parser.add_argument("--misses", type=int, default=3, help="misses printed per family")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    evaluation = Evaluation(args.seed, args.trials, args.clients)
    matchers: dict[str, Callable[[str], list[Any]]] = {"ours": NameMatcher(evaluation.entries).scan}
    previous = None if args.no_previous else _load_previous()
    if previous is not None:
        entries = [
            previous.WatchEntry(
                e.client_id,
                names=e.names,
                aliases=e.aliases,
                required_context=e.required_context,
                excluded_context=e.excluded_context,
            )
            for e in evaluation.entries
        ]
        matchers["previous"] = previous.NameMatcher(entries).scan
    state = evaluation.rng.getstate()
    results = {}
    for label, scan in matchers.items():
        evaluation.rng.setstate(state)  # both matchers see the very same texts
        results[label] = (evaluation.positives(scan), evaluation.negatives(scan))

    compound = len(evaluation.compound)
    print(
        f"seed {args.seed} (--seed N or BODYGUARD_EVAL_SEED=N for others); {len(evaluation.people)} "
        f"clients ({compound} with compound names, {len(evaluation.excluded)} with an excluded "
        f"context, {len(evaluation.required)} a required one); {args.trials} insertions per "
        f"family into {len(evaluation.texts)} real forum chunks"
    )
    labels = list(results)
    header = "".join(f" {label + ' recall':>16}" for label in labels)
    print(f"\n{'disguise':24}{header}")
    ours_pos, ours_neg = results["ours"]
    for family in DISGUISES:
        cells = ""
        for label in labels:
            o = results[label][0][family]
            cells += f" {100 * o.tp / (o.tp + o.fn):>15.1f}%"
        print(f"{family:24}{cells}")
    print(
        f"\n{'negative (must not match)':28}"
        + "".join(f" {label + ' false':>15}" for label in labels)
    )
    for kind in ours_neg:
        total = len(evaluation.texts) if kind == "real_text_no_name" else args.trials
        cells = "".join(f" {results[label][1][kind].fp:>8} / {total:<5}" for label in labels)
        print(f"{kind:28}{cells}")
    print()
    for label in labels:
        recall, precision = _summary(*results[label])
        print(f"{label:9} overall recall {100 * recall:5.1f}%   precision {100 * precision:5.1f}%")
    print("\nmisses (ours), a few per family:")
    for family, outcome in ours_pos.items():
        for phrase in outcome.misses[: args.misses]:
            print(f"  {family:24} {phrase}")
    print("false matches (ours), another client read in a disguised name:")
    for family, outcome in ours_pos.items():
        if outcome.fp:
            print(f"  {family:24} {outcome.fp} false, e.g. " + "; ".join(outcome.wrong[:2]))
    print("false matches (ours) in negatives:")
    for kind, outcome in ours_neg.items():
        for line in outcome.misses[: args.misses]:
            print(f"  {kind:24} {line}")
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
