"""Real forum text from shared/realdata/forums, and generated French client names."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matching.html import html_to_text


def _find_realdata() -> Path:
    """``shared/realdata`` beside the checkout (or beside a worktree's parent folder)."""
    for parent in Path(__file__).resolve().parents[1:]:
        candidate = parent / "shared" / "realdata"
        if candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parents[2] / "shared" / "realdata"


REALDATA = _find_realdata()

FIRST_NAMES = [
    "Jeanne", "Camille", "Léa", "Manon", "Chloé", "Inès", "Sarah", "Emma", "Louise", "Juliette",
    "Margaux", "Océane", "Pauline", "Mathilde", "Clémence", "Anaïs", "Élodie", "Aurélie", "Nadia",
    "Yasmine", "Lucas", "Hugo", "Théo", "Nathan", "Mathis", "Julien", "Antoine", "Maxime",
    "Nicolas", "Sébastien", "Mehdi", "Karim", "Thomas", "Romain", "Quentin", "Bastien", "Cédric",
    "Florian", "Jérôme", "Benoît",
]  # fmt: skip
LAST_NAMES = [
    "Dupont", "Moreau", "Lefèvre", "Garnier", "Rousseau", "Chevalier", "Fontaine", "Mercier",
    "Boucher", "Lemaire", "Gauthier", "Perrin", "Morin", "Clément", "Faure", "Bertrand", "Girard",
    "Bonnet", "Lambert", "Marchand", "Duval", "Deschamps", "Lacroix", "Barbier", "Brunet",
    "Roussel", "Dumas", "Guerin", "Bourgeois", "Renaud", "Carpentier", "Vasseur", "Hoarau",
    "Benali", "Haddad", "Nguyen", "Lebrun", "Masson", "Joly", "Colin",
]  # fmt: skip


def generated_names(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """``count`` distinct (first, last) pairs; beyond the lists, numbered surnames keep them distinct."""
    rng = random.Random(seed)
    pairs = [(f, last) for f in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(pairs)
    out = pairs[:count]
    n = 0
    while len(out) < count:
        f, last = pairs[n % len(pairs)]
        out.append((f, f"{last}-{chr(97 + (n // len(pairs)) % 26)}{n}"))
        n += 1
    return out


def _json_texts(data: Any) -> list[str]:
    texts: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key in {"cooked", "body_html", "com", "selftext_html"} and isinstance(value, str):
                texts.append(html_to_text(value))
            elif key in {"body", "selftext", "title", "excerpt"} and isinstance(value, str):
                texts.append(value)
            else:
                texts.extend(_json_texts(value))
    elif isinstance(data, list):
        for value in data:
            texts.extend(_json_texts(value))
    return texts


def forum_texts(realdata: Path = REALDATA) -> list[str]:
    """Visible text of the real forum pages and posts, one string per page or post."""
    forums = realdata / "forums"
    texts = [
        html_to_text(p.read_text(encoding="utf-8", errors="replace"))
        for p in sorted((forums / "html").glob("*.html"))
    ]
    for path in sorted((forums / "json").rglob("*.json")):
        try:
            texts.extend(_json_texts(json.loads(path.read_text(encoding="utf-8-sig"))))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise SystemExit(f"no forum text under {forums}: the real material is missing")
    return texts


def chunks(texts: list[str], size: int = 400) -> list[str]:
    out = []
    for text in texts:
        words = text.split()
        step = max(1, size // 7)
        for i in range(0, len(words), step):
            piece = " ".join(words[i : i + step])
            if len(piece) > 80:
                out.append(piece)
    return out


@dataclass(frozen=True)
class Person:
    """A generated client: given name(s) and family name as a French civil register spells them."""

    given: str  # "Zoé", "Jean-Baptiste"
    family: str  # "Fournier", "Le Gall", "Rousseau-Garnier"

    @property
    def full(self) -> str:
        return f"{self.given} {self.family}"

    @property
    def compound(self) -> bool:
        return "-" in self.given or "-" in self.family or " " in self.family


# Share of generated people with a hyphenated given name, a hyphenated family name and a family
# name with a particle ("Le Gall", "Da Silva"): roughly what French registers show, boosted so
# each family of disguises meets enough of them.
COMPOUND_GIVEN_SHARE = 0.2
COMPOUND_FAMILY_SHARE = 0.15
PARTICLE_FAMILY_SHARE = 0.1
_COMPOUND_FIRST = {"female": ("Marie", "Anne"), "male": ("Jean", "Pierre", "Louis")}


def french_people(count: int, rng: random.Random) -> list[Person]:
    """``count`` distinct people with real French given and family names (Faker's fr_FR lists)."""
    from faker.providers.person.fr_FR import Provider

    given_names = {
        "female": list(Provider.first_names_female),
        "male": list(Provider.first_names_male),
    }
    families = [n for n in Provider.last_names if " " not in n]
    particles = [n for n in Provider.last_names if " " in n]
    people: dict[tuple[str, str], Person] = {}
    while len(people) < count:
        gender = rng.choice(("female", "male"))
        given = rng.choice(given_names[gender])
        if rng.random() < COMPOUND_GIVEN_SHARE:
            first = rng.choice(_COMPOUND_FIRST[gender])
            if first != given:
                given = f"{first}-{given}"
        draw = rng.random()
        if draw < PARTICLE_FAMILY_SHARE:
            family = rng.choice(particles)
        elif draw < PARTICLE_FAMILY_SHARE + COMPOUND_FAMILY_SHARE:
            family = "-".join(rng.sample(families, 2))
        else:
            family = rng.choice(families)
        people.setdefault((given, family), Person(given, family))
    return list(people.values())
