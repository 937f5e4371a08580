import pytest

from matching.normalize import basic, masked_words, skeleton


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ça  va", "ca va"),
        ("J3anne", "jeanne"),
        ("Prix : 15 € le 3 mai !", "prix 15 ie 3 mai"),  # digits alone stay digits; l reads as i
        ("jeanne.dupont@gmail.com", "jeanne dupont gmaii com"),
        ("J e a n n e", "jeanne"),
        ("a b", "a b"),  # two single letters are not a spaced-out word
        ("Ｊｅａｎｎｅ", "jeanne"),
        ("Jеаnne", "jeanne"),
    ],
)
def test_skeleton(raw, expected):
    assert skeleton(raw).text == expected


def test_every_normalised_character_points_into_the_raw_text():
    raw = "𝐉𝐞𝐚𝐧𝐧𝐞 — D*pont!!"
    norm = skeleton(raw)
    for i, c in enumerate(norm.text):
        if c != " ":
            assert norm.raw_start[i] < norm.raw_end[i] <= len(raw)
    assert raw[slice(*norm.raw_span(0, len(norm.text)))] == "𝐉𝐞𝐚𝐧𝐧𝐞 — D*pont"


def test_basic_keeps_leetspeak_as_is():
    assert basic("J3anne D*pont").text == "j3anne d pont"


@pytest.mark.parametrize(
    "hidden",
    [
        "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202e",
        "\u2066", "\u2069", "\ufe0f", "\U000e0041", "\u180e", "\u3164", "\u0336", "\u20d2",
    ],
)  # fmt: skip
def test_invisible_and_formatting_characters_are_dropped_but_offsets_keep_them(hidden):
    raw = f"Jea{hidden}nne D{hidden}upont"
    norm = skeleton(raw)
    assert norm.text == "jeanne dupont"
    assert basic(raw).text == "jeanne dupont"
    assert raw[slice(*norm.raw_span(0, len(norm.text)))] == raw
    # "n" after the hidden character points at itself, not at what was dropped.
    assert raw[norm.raw_start[3]] == "n"


def test_a_hashtag_is_not_a_mask_but_a_hash_after_a_letter_is():
    assert skeleton("#ZoeFournier").text == "zoefournier"
    assert skeleton("Z#e Fournier").text == "z*e fournier"
    assert skeleton("Allard-#aris").text == "aiiard *aris"


def test_camelcase_and_a_handles_digits_are_places_where_a_word_may_end():
    raw = "ZoeFournier"
    assert skeleton(raw).is_inner_boundary(raw, 3)
    assert not skeleton(raw).is_inner_boundary(raw, 2)
    raw = "zoefournier93"
    assert skeleton(raw).is_inner_boundary(raw, len("zoefournier"))
    raw = "93zoefournier"
    assert skeleton(raw).is_inner_boundary(raw, 2)
    for raw in ("zoefourniersupport", "zoefournier9x", "Zoefournier"):
        assert not skeleton(raw).is_inner_boundary(raw, len("zoefournier"))


def test_one_letter_between_every_middle_dot_is_a_spaced_out_word():
    assert skeleton("A·n·d·r·é·e Dupont").text == "andree dupont"
    assert skeleton("H·l·ne").text == "h*i*ne"  # letters missing between the dots: masks


def test_a_multiplication_sign_between_letters_stays_a_mask():
    assert skeleton("L×f×vre").text == "i*f*vre"


@pytest.mark.parametrize(
    ("raw", "pattern", "exact", "visible"),
    [
        ("H*l*ne", "h*i*ne", "h*i*ne", 4),
        ("L.f.vre", "i*f*vre", "i*f*vre", 5),
        ("H…ne", "h+ne", "h***ne", 3),  # NFKC makes "…" three dots: three letters, or any
        ("Lef***", "ief+", "ief***", 3),
    ],
)
def test_masked_words_keep_what_each_mask_may_stand_for(raw, pattern, exact, visible):
    text = f"vu {raw} hier"
    [words] = masked_words(text)
    [word] = [w for w in words if w.masked]
    assert (word.pattern, word.exact, word.visible) == (pattern, exact, visible)
    assert text[word.raw_start : word.raw_end] == raw


def test_text_without_masks_has_no_masked_words():
    assert masked_words("Bonjour à tous. Voici la suite.") == []
