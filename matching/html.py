"""Visible text of HTML (forum posts and saved pages are HTML). Pure: a string in, a string out."""

from __future__ import annotations

import re

import lxml.html

_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "blockquote", "aside", "pre", "h1", "h2", "h3", "h4",
    "h5", "h6", "tr", "table", "section", "article", "header", "footer",
}  # fmt: skip
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def html_to_text(fragment: str) -> str:
    if not fragment or not fragment.strip():
        return ""
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    for bad in root.xpath("//script|//style|//noscript"):
        bad.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
    text = root.text_content()
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
