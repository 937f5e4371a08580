"""Every obfuscation rule, homonyms and context, and invariants every mention must satisfy."""

import itertools

import pytest

from matching.names import (
    MASKED_LETTERS_LOOSE_SCORE,
    MASKED_LETTERS_SCORE,
    RULE_ALIAS,
    RULE_EXACT,
    RULE_FUZZY,
    RULE_HANDLE,
    RULE_HASHTAG,
    RULE_INITIAL,
    RULE_INVISIBLE,
    RULE_MASKED,
    RULE_MASKED_LETTERS,
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


@pytest.mark.parametrize(
    "written",
    [
        "Jea\u200bnne Dupont",  # zero-width space
        "Je\u200canne Du\u200dpont",  # zero-width non-joiner and joiner
        "Jeanne\u2060 Dupont",  # word joiner
        "Jean\ufeffne Dupont",  # BOM
        "Jean\u00adne Dupont",  # soft hyphen
        "\u202eJeanne\u202c Dupont",  # bidi override and pop
        "Jeanne\u2067 Dup\u2069ont",  # bidi isolates
        "Je\ufe0fanne Dupo\ufe0ent",  # variation selectors
        "J\u0336e\u0336a\u0336n\u0336n\u0336e\u0336 Dupont",  # long stroke overlay
        "Jeanne D\u0338u\u0338pont",  # slash overlay
        "Jeanne\u200bDupont",  # the only thing between the words is invisible
    ],
)
def test_invisible_and_overlaid_characters_inside_the_name_are_seen_through(written):
    mention = _one(written)
    assert mention.rule == RULE_INVISIBLE
    assert mention.score == 0.95
    # The highlighted span is the name as written, hidden characters included.
    assert mention.text == written.removeprefix("\u202e").removesuffix("\u0336")


def test_an_accent_typed_as_a_combining_mark_is_not_a_hidden_character():
    assert _one("Jeanne Dupo\u0308nt").rule == RULE_EXACT  # "ö" typed as o + diaeresis


@pytest.mark.parametrize(
    ("written", "rule", "highlighted"),
    [
        ("#JeanneDupont", RULE_HASHTAG, "JeanneDupont"),
        ("#DupontJeanne", RULE_HASHTAG, "DupontJeanne"),
        ("#jeanne_dupont", RULE_HASHTAG, "jeanne_dupont"),
        ("#JusticePourJeanneDupont", RULE_HANDLE, "JeanneDupont"),
        ("JeanneDupont", RULE_HANDLE, "JeanneDupont"),
        ("JeanneDUPONT", RULE_HANDLE, "JeanneDUPONT"),
        ("jeanne_DUPONT", RULE_EXACT, "jeanne_DUPONT"),
        ("@jeannedupont", RULE_HANDLE, "jeannedupont"),
        ("dupontjeanne", RULE_HANDLE, "dupontjeanne"),
        ("jeannedupont93", RULE_HANDLE, "jeannedupont"),
        ("@JeanneDupont2000", RULE_HANDLE, "JeanneDupont"),
        ("jdupont", RULE_INITIAL, "jdupont"),
        ("j.dupont", RULE_INITIAL, "j.dupont"),
        ("j_dupont", RULE_INITIAL, "j_dupont"),
    ],
)
def test_hashtags_camelcase_and_handles_built_from_the_name(written, rule, highlighted):
    mention = _one(written)
    assert (mention.rule, mention.text) == (rule, highlighted)


@pytest.mark.parametrize(
    ("written", "score"),
    [
        ("J*a*n* Dupont", MASKED_LETTERS_SCORE),
        ("J**nne D*p*nt", MASKED_LETTERS_SCORE),
        ("J•a•ne D•pont", MASKED_LETTERS_SCORE),
        ("J.a.ne D.p.nt", MASKED_LETTERS_SCORE),  # dots where letters were dropped
        ("Jeanne Du.o.t", MASKED_LETTERS_SCORE),
        ("D*p*nt Jeanne", MASKED_LETTERS_SCORE),
        ("Jea…e Dupont", MASKED_LETTERS_LOOSE_SCORE),  # how many letters "…" hides is unknown
        ("Je...e Du...t", MASKED_LETTERS_LOOSE_SCORE),
        ("J**nn* D**o*t", MASKED_LETTERS_LOOSE_SCORE),  # length right but half the letters hidden
    ],
)
def test_several_masked_letters_are_verified_against_the_name(written, score):
    mention = _one(written)
    assert mention.rule == RULE_MASKED_LETTERS
    assert mention.score == score
    assert mention.text == written


@pytest.mark.parametrize(
    "written",
    [
        "J*x*n* Dupont",  # a visible letter the name does not have there
        "J*a*n*e* Dupont",  # one letter too many
        "J*a*n Dupont",  # one letter too few
        "J**** Dupont",  # too little left to tell
        "J***n* Dupont",  # two letters of six: too little left to tell
        "M*r*e Dupont",  # another given name, same family name
        "J*a*n* Durand",  # the given name fits, the family name does not
    ],
)
def test_masks_that_do_not_fit_the_name_are_not_the_client(written):
    assert MATCHER.scan(f"Vous avez vu ce que {written} a encore posté ?") == []


COMPOUND = NameMatcher(
    [
        WatchEntry("mael", names=("Maël Le Gall",)),
        WatchEntry("matheo", names=("Mathéo Rousseau-Garnier",)),
        WatchEntry("jb", names=("Jean-Baptiste Moreau",)),
    ]
)


@pytest.mark.parametrize(
    ("written", "client", "rule"),
    [
        ("Le Gall Maël", "mael", RULE_REORDERED),
        ("LE GALL Maël", "mael", RULE_REORDERED),
        ("Le Gall, Maël", "mael", RULE_REORDERED),
        ("legall.mael", "mael", RULE_HANDLE),
        ("mael.le.gall", "mael", RULE_EXACT),
        ("Rousseau-Garnier Mathéo", "matheo", RULE_REORDERED),
        ("ROUSSEAU-GARNIER Mathéo", "matheo", RULE_REORDERED),
        ("mathéo_rousseaugarnier", "matheo", RULE_HANDLE),
        ("matheo.rousseau-garnier", "matheo", RULE_EXACT),
        ("#MatheoRousseauGarnier", "matheo", RULE_HASHTAG),
        ("jean-baptiste.moreau", "jb", RULE_EXACT),
        ("jeanbaptiste_moreau", "jb", RULE_HANDLE),
        ("MOREAU Jean-Baptiste", "jb", RULE_REORDERED),
        ("moreau_jean-baptiste", "jb", RULE_REORDERED),
        ("J.-B. Moreau", "jb", RULE_INITIAL),
        ("MOREAU J.-B.", "jb", RULE_INITIAL),
        ("J. Moreau", "jb", RULE_INITIAL),
        ("M*th*o Rousseau-Garnier", "matheo", RULE_MASKED_LETTERS),
    ],
)
def test_compound_names_in_either_order_and_joined(written, client, rule):
    mention = _one(written, COMPOUND)
    assert (mention.client_id, mention.rule) == (client, rule)
    assert mention.text == written.lstrip("#").rstrip(".")


@pytest.mark.parametrize(
    "text",
    [
        "Gall Maël a gagné",  # "Le" is part of the family name
        "GALL Maël le 3 mai",
        "Maël Le a gagné",
        "Mathéo Rousseau a gagné",  # half of a compound family name
        "Jean Moreau a gagné",  # half of a compound given name
        "Baptiste Moreau a gagné",
    ],
)
def test_part_of_a_compound_name_is_not_the_client(text):
    assert COMPOUND.scan(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Jeanne a encore posté",  # the first name alone
        "#Jeanne a encore posté",
        "@jeanne a encore posté",
        "Marie-Jeanne Dupont a gagné",  # a longer, hyphenated given name
        "Jeanne Dupont-Moretti a gagné",  # a longer, hyphenated family name
        "M.Dupont a gagné",  # Monsieur Dupont, typed without a space
        "jeannedupontfanclub",  # the name inside a longer word
        "superjeannedupont",
    ],
)
def test_the_first_name_alone_and_longer_names_are_not_the_client(text):
    assert MATCHER.scan(text) == []


def test_family_name_first_needs_the_capital_a_family_name_is_written_with():
    matcher = NameMatcher([WatchEntry("lp", names=("Louis Petit",))])
    assert matcher.scan("on a vu le petit Louis au parc") == []
    assert [m.rule for m in matcher.scan("on a vu PETIT Louis au parc")] == [RULE_REORDERED]
    assert [m.rule for m in matcher.scan("son compte petit_louis")] == [RULE_REORDERED]


def test_a_given_name_with_a_letter_more_at_the_end_is_another_given_name():
    matcher = NameMatcher([WatchEntry("denis", names=("Denis Besson",))])
    assert matcher.scan("Denise Besson a gagné") == []
    assert [m.rule for m in matcher.scan("Deniis Besson a gagné")] == [RULE_FUZZY]


def test_capitalised_words_hyphenated_where_the_name_has_none_are_a_compound_name():
    matcher = NameMatcher(
        [
            WatchEntry("ol", names=("Olivier Louis",)),
            WatchEntry("mm", names=("Martine Mahe",)),
        ]
    )
    assert matcher.scan("Louis-Olivier Pichon a gagné") == []  # not LOUIS Olivier
    assert matcher.scan("André Martinez-Mahe a gagné") == []  # not Martine Mahe misspelt
    assert [m.rule for m in matcher.scan("Louis Olivier a gagné")] == [RULE_REORDERED]
    assert [m.rule for m in matcher.scan("son compte louis-olivier")] == [RULE_REORDERED]


def test_a_misspelt_given_name_that_is_another_given_name_is_not_the_client():
    matcher = NameMatcher(
        [WatchEntry("luce", names=("Luce Besson",)), WatchEntry("th", names=("Théophile Laine",))]
    )
    assert matcher.scan("Lucie Besson a gagné") == []  # Lucie is not a typo of Luce
    assert matcher.scan("Denis Besson, Théophile line") == []  # "line" is a word, not Laine
    assert [m.rule for m in matcher.scan("Lucce Besson a gagné")] == [RULE_FUZZY]
    assert [m.rule for m in matcher.scan("Théophile Lanie a gagné")] == [RULE_FUZZY]


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


def test_offsets_of_the_new_disguises_map_to_the_name_as_written():
    text = (
        "🙂 Jea\u200bnne Du\u00adpont, puis #JeanneDupont, Jea…e D*p*nt et 𝐉*a*n* Dupont ; "
        "Ｌｅ Ｇａｌｌ Ｍａëｌ !"
    )
    matcher = NameMatcher([JEANNE, WatchEntry("mael", names=("Maël Le Gall",))])
    mentions = matcher.scan(text)
    assert [text[m.start : m.end] for m in mentions] == [
        "Jea\u200bnne Du\u00adpont",
        "JeanneDupont",
        "Jea…e D*p*nt",
        "𝐉*a*n* Dupont",
        "Ｌｅ Ｇａｌｌ Ｍａëｌ",
    ]
    assert all(text[m.start : m.end] == m.text for m in mentions)


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
