import pytest

from matching.names import WatchTerms, find_mentions, normalize

WATCH = [WatchTerms("jeanne", ("Jeanne Dupont", "jdupont75"))]


@pytest.mark.parametrize(
    "written",
    [
        "Jeanne Dupont",
        "JEANNE DUPONT",
        "jeanne   dupont",
        "Jéanne Dupönt",
        "jeanne-dupont",
        "jeanne.dupont",
    ],
)
def test_case_accents_punctuation_and_spacing_are_ignored(written):
    text = f"Regardez ce que {written} a fait."
    [mention] = find_mentions(text, WATCH)
    assert text[mention.start : mention.end] == written
    assert mention.text == written
    assert mention.term == "Jeanne Dupont"
    assert mention.rule == "exact_normalized"


@pytest.mark.parametrize(
    "text", ["Jeanne Dupontel", "Marie-Jeanne Duponte", "jeannedupont", "Jeanne"]
)
def test_a_name_inside_another_word_is_not_a_mention(text):
    assert find_mentions(text, WATCH) == []


def test_aliases_are_found_and_offsets_map_back_after_multibyte_characters():
    text = "🙂🙂 Écrivez à JDupont75 !"
    [mention] = find_mentions(text, WATCH)
    assert text[mention.start : mention.end] == "JDupont75"


def test_normalized_offsets_point_to_raw_characters():
    norm = normalize("Ça  va")
    assert norm.text == "ca va"
    assert norm.raw_start[0] == 0 and norm.raw_start[3] == 4
