import pytest

from matching.normalize import basic, skeleton


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
