"""Visible text of HTML (forum posts and saved pages are HTML). Pure: a string in, a string out."""

from __future__ import annotations

import html
import re

import lxml.etree
import lxml.html

_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "blockquote", "aside", "pre", "h1", "h2", "h3", "h4",
    "h5", "h6", "tr", "table", "section", "article", "header", "footer",
}  # fmt: skip
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


_TAG = re.compile(r"<[^>]*>")
_INVISIBLE_ELEMENTS = re.compile(
    r"<(script|style|noscript)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)


def html_to_text(fragment: str) -> str:
    if not fragment or not fragment.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (AssertionError, ValueError, lxml.etree.LxmlError):
        # Markup lxml gives up on ("</body><body>" in a post makes it assert): a hostile post
        # must not hide its text, so read the text between the tags.
        text = html.unescape(_TAG.sub("\n", _INVISIBLE_ELEMENTS.sub("", fragment)))
        lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(line for line in lines if line)).strip()
    for bad in root.xpath("//script|//style|//noscript"):
        bad.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
    text = root.text_content()
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
