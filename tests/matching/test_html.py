"""Visible text of hostile HTML: markup the parser gives up on must not hide a post's text."""

from __future__ import annotations

from matching.html import html_to_text


def test_text_of_a_post_is_read_between_its_tags():
    assert html_to_text("<p>Jeanne <b>Dupont</b></p><script>x = 'Zoé'</script>") == "Jeanne Dupont"


def test_markup_the_parser_rejects_still_gives_its_text():
    # lxml asserts on a second <body> ("too many bodies"): a harasser can write that in a post.
    text = html_to_text("<p>Jeanne &amp; co</p></body><body><script>x=1</script>Dupont")
    assert "Jeanne & co" in text and "Dupont" in text and "x=1" not in text
