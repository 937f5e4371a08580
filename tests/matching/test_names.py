"""Every obfuscation rule, homonyms and context, and invariants every mention must satisfy."""

import itertools

import pytest

from matching.names import (
    RULE_ALIAS,
    RULE_EXACT,
    RULE_FUZZY,
    RULE_INITIAL,
    RULE_MASKED,
    RULE_OBFUSCATED,
    RULE_REORDERED,
    NameMatcher,
    WatchEntry,
)

JEANNE = WatchEntry("jeanne", names=("Jeanne Dupont",), aliases=("jdupont75",))
MATCHER = NameMatcher([JEANNE])


def _one(text: str, matcher: NameMatcher = MATCHER):
    mentions = matcher.scan(f"Vous avez vu ce que {text} a encore posté ?")
    assert len(mentions) == 1, mentions
    return mentions[0]


@pytest.mark.parametrize(
    ("written", "rule"),
    [
        ("Jeanne Dupont", RULE_EXACT),
        ("JEANNE DUPONT", RULE_EXACT),
        ("jéanne dupönt", RULE_EXACT),
        ("jeanne-dupont", RULE_EXACT),
        ("jeanne_dupont", RULE_EXACT),
        ("jeanne.dupont", RULE_EXACT),
        ("J3anne Dup0nt", RULE_OBFUSCATED),
        ("J34nn3 DUP0N7", RULE_OBFUSCATED),
        ("Je@nne Dupont", RULE_OBFUSCATED),
        ("J.e.a.n.n.e Dupont", RULE_OBFUSCATED),
        ("J e a n n e D u p o n t", RULE_OBFUSCATED),
        ("Jеаnne Dupont", RULE_OBFUSCATED),  # Cyrillic е and а
        ("Ｊｅａｎｎｅ Ｄｕｐｏｎｔ", RULE_EXACT),  # fullwidth: NFKC folds it
        ("𝐉𝐞𝐚𝐧𝐧𝐞 𝐃𝐮𝐩𝐨𝐧𝐭", RULE_EXACT),  # mathematical bold
        ("D*pont Jeanne", RULE_MASKED),
        ("Jeanne D*pont", RULE_MASKED),
        ("J#anne Dupont", RULE_MASKED),
        ("DUPONT Jeanne", RULE_REORDERED),
        ("Dupont, Jeanne", RULE_REORDERED),
        ("DUPONT J.", RULE_INITIAL),
        ("J. Dupont", RULE_INITIAL),
        ("Jeane Dupont", RULE_FUZZY),
        ("Jeanne Duppont", RULE_FUZZY),
        ("Jeanne Dupnot", RULE_FUZZY),
        ("@jdupont75", RULE_ALIAS),
        ("JDUP0NT75", RULE_ALIAS),
    ],
)
def test_each_disguise_is_found_with_the_rule_that_fired(written, rule):
    mention = _one(written)
    assert mention.rule == rule
    assert mention.text == written.lstrip("@").rstrip(".")
    assert mention.client_id == "jeanne"


@pytest.mark.parametrize(
    "text",
    [
        "Jeanne Dupontel a gagné",
        "Jeanne Dumont a gagné",  # another family name, one letter away
        "Jeanne Dupond a gagné",
        "Jeanne Durand a gagné",
        "jeannedupontfan2000",
        "Dupont a gagné",  # the family name alone is too common
        "Pierre Dupont et Jeanne Martin",
        "le prix est de 15 euros !",
    ],
)
def test_other_people_and_other_words_are_not_the_client(text):
    assert MATCHER.scan(text) == []


def test_required_context_keeps_only_mentions_near_a_context_word():
    matcher = NameMatcher(
        [WatchEntry("pm", names=("Pierre Martin",), required_context=("Lyon", "lycée Ampère"))]
    )
    assert matcher.scan("Pierre Martin, de Lyon, a menti") != []
    assert matcher.scan("Pierre Martin du lycee Ampere a menti") != []
    assert matcher.scan("Pierre Martin, le footballeur, a marqué") == []


def test_excluded_context_drops_a_homonym():
    matcher = NameMatcher(
        [WatchEntry("pm", names=("Pierre Martin",), excluded_context=("footballeur",))]
    )
    assert matcher.scan("Pierre Martin, le footballeur, a marqué") == []
    assert len(matcher.scan("Pierre Martin a menti")) == 1


def test_context_words_far_away_do_not_count():
    matcher = NameMatcher([WatchEntry("pm", names=("Pierre Martin",), required_context=("lyon",))])
    filler = " ".join(["mot"] * 30)
    assert matcher.scan(f"Pierre Martin {filler} Lyon") == []


def test_offsets_map_to_the_exact_raw_characters_after_multibyte_text():
    text = "🙂🙂 Écrivez à 𝐉𝐞𝐚𝐧𝐧𝐞 D*pont, ou à JDupont75 !"
    mentions = MATCHER.scan(text)
    assert [text[m.start : m.end] for m in mentions] == ["𝐉𝐞𝐚𝐧𝐧𝐞 D*pont", "JDupont75"]


def test_one_place_gives_one_mention_with_the_strongest_rule():
    [mention] = MATCHER.scan("Jeanne Dupont")
    assert mention.rule == RULE_EXACT and mention.score == 1.0


def test_a_client_is_found_the_same_among_thousands_of_others():
    others = [
        WatchEntry(f"c{i}", names=(f"Prenom{i} Nom{i}",), aliases=(f"pseudo{i}",))
        for i in range(3000)
    ]
    crowded = NameMatcher([*others, JEANNE])
    text = "Vous avez vu J3anne D*pont et DUPONT J. ? Et pseudo42 aussi."
    assert [(m.client_id, m.rule) for m in crowded.scan(text) if m.client_id == "jeanne"] == [
        (m.client_id, m.rule) for m in MATCHER.scan(text)
    ]
    assert [m.client_id for m in crowded.scan(text) if m.client_id != "jeanne"] == ["c42"]


def test_every_mention_satisfies_the_invariants():
    text = "J3anne D*pont, DUPONT J., Jeane Dupont, jdupont75 et Ｊｅａｎｎｅ Ｄｕｐｏｎｔ. " * 3
    mentions = MATCHER.scan(text)
    assert len(mentions) == 15
    for m in mentions:
        assert 0 <= m.start < m.end <= len(text)
        assert text[m.start : m.end] == m.text
        assert 0 < m.score <= 1
        assert m.term in ("Jeanne Dupont", "jdupont75")
    spans = sorted((m.start, m.end) for m in mentions)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_no_watch_list_no_mentions():
    assert NameMatcher([]).scan("Jeanne Dupont") == []
    assert MATCHER.scan("") == []
