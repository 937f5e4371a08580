"""Markup of fediverse texts to the text readers see: Misskey's MFM and Lemmy's Markdown.

Small conversions by patterns, never a renderer: the marks go, every word stays (a name is
matched in what readers read), and URLs keep their underscores and tildes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

_URL = re.compile(r"https?://[^\s<>]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")

# MFM (Misskey's markup) to the text readers see. Small on purpose: the marks go, every word stays.
_MFM_LINK = re.compile(r"\??\[([^\[\]\n]*)\]\(\s*<?(https?://[^\s()<>]+)>?\s*\)")
_MFM_AUTOLINK = re.compile(r"<(https?://[^\s<>]+)>")
# $[x2 text], $[spin.speed=2s text], $[fg.color=f00 text]: innermost first, so nested ones unwrap.
_MFM_FUNCTION = re.compile(r"\$\[[A-Za-z0-9_]+(?:\.[^\s\[\]]*)?\s([^\[\]]*)\]")
_MFM_FUNCTION_DEPTH = 32
_MFM_TAGS = re.compile(r"</?(?:center|small|i|b|s|plain|sup|sub)>", re.IGNORECASE)
# Paired emphasis only: a lone "_" or "*" is part of a name (snake_case, jdupont_), never dropped.
_MFM_EMPHASIS = (
    re.compile(r"(?<![\w*])(\*{1,3})(?=\S)(.+?)(?<=\S)\1(?![\w*])"),
    re.compile(r"(?<![\w_])(_{1,2})(?=\S)(.+?)(?<=\S)\1(?![\w_])"),
    re.compile(r"(~~)(?=\S)(.+?)(?<=\S)~~"),
    re.compile(r"(`)([^`\n]+)`"),
)
_MFM_CODE_FENCE = re.compile(r"^\s*```.*$", re.MULTILINE)
_MFM_QUOTE = re.compile(r"^(?:>\s?)+", re.MULTILINE)


def mfm_to_text(mfm: str) -> str:
    """The words of an MFM text: link labels with their URL, function markup, emphasis, quote
    and code marks removed; ``:emoji:`` shortcodes, mentions and hashtags kept as written."""
    if not mfm:
        return ""
    text = _MFM_LINK.sub(lambda m: _label_and_url(m.group(1), m.group(2)), mfm)
    text = _MFM_AUTOLINK.sub(r"\1", text)
    for _ in range(_MFM_FUNCTION_DEPTH):
        text, found = _MFM_FUNCTION.subn(r"\1", text)
        if not found:
            break
    text = _MFM_TAGS.sub("", text)
    text = _MFM_CODE_FENCE.sub("", text)
    text = _MFM_QUOTE.sub("", text)
    return _tidy(_outside_urls(text, lambda t: _unemphasize(t, _MFM_EMPHASIS)))


# Markdown to the text readers see: a small conversion by patterns, never an HTML renderer.
_TITLE = r"""(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?"""
_MD_IMAGE = re.compile(r"!\[([^\[\]\n]*)\]\(\s*<?(https?://[^\s()<>]+)>?" + _TITLE + r"\s*\)")
# A link target may hold one level of parentheses (Wikipedia's "Dan_Rather_(journalist)").
_MD_LINK = re.compile(
    r"\[([^\[\]\n]*)\]\(\s*<?([^\s()<>]+(?:\([^\s()<>]*\)[^\s()<>]*)*)>?" + _TITLE + r"\s*\)"
)
_MD_AUTOLINK = re.compile(r"<(https?://[^\s<>]+)>")
_LINE_MARKS = (
    (re.compile(r"^[ \t]*```.*$", re.MULTILINE), ""),  # code fences
    (re.compile(r"^[ \t]{0,3}(?:>[ \t]?)+", re.MULTILINE), ""),  # block quotes
    (re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE), ""),  # headings
    (re.compile(r"^[ \t]*:::[ \t]*spoiler[ \t]*(.*)$", re.MULTILINE), r"\1"),  # Lemmy spoilers
    (re.compile(r"^[ \t]*:::[ \t]*$", re.MULTILINE), ""),
    (re.compile(r"^[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE), ""),  # rules
)
# Paired emphasis only: a lone "_" or "*" is part of a name (snake_case, jdupont_), never dropped.
# Lemmy adds ~subscript~ and ^superscript^ to CommonMark.
_MD_EMPHASIS = (
    re.compile(r"(?<![\w*])(\*{1,3})(?=\S)(.+?)(?<=\S)\1(?![\w*])"),
    re.compile(r"(?<![\w_])(_{1,3})(?=\S)(.+?)(?<=\S)\1(?![\w_])"),
    re.compile(r"(?<!~)(~~?)(?=\S)(.+?)(?<=\S)\1(?!~)"),
    re.compile(r"(\^)(?=\S)([^\^\n]+?)(?<=\S)\^"),
    re.compile(r"(`+)([^`\n]+)\1"),
)


def markdown_to_text(markdown: str) -> tuple[str, list[str]]:
    """The words of a Markdown text, and the URLs of the images it shows. Links become their
    text and URL, images their alt text; emphasis, heading, quote, spoiler and code marks go."""
    if not markdown:
        return "", []
    images: list[str] = []

    def image(match: re.Match[str]) -> str:
        images.append(match.group(2))
        return match.group(1)

    text = _MD_IMAGE.sub(image, markdown)
    text = _MD_LINK.sub(lambda m: _label_and_url(m.group(1), m.group(2)), text)
    text = _MD_AUTOLINK.sub(r"\1", text)
    for pattern, replacement in _LINE_MARKS:
        text = pattern.sub(replacement, text)
    text = _outside_urls(text, lambda t: _unemphasize(t, _MD_EMPHASIS))
    # Lemmy 0.18 stored some texts HTML-escaped ("&amp;"): a name is matched as it reads.
    return _tidy(html.unescape(text)), images


def _label_and_url(label: str, url: str) -> str:
    label = label.strip()
    return url if not label or label == url else f"{label} {url}"


def _outside_urls(text: str, change: Callable[[str], str]) -> str:
    # URLs keep their underscores and tildes: only the words around them are unmarked.
    out: list[str] = []
    last = 0
    for url in _URL.finditer(text):
        out.append(change(text[last : url.start()]))
        out.append(url.group(0))
        last = url.end()
    out.append(change(text[last:]))
    return "".join(out)


def _unemphasize(text: str, patterns: tuple[re.Pattern[str], ...]) -> str:
    for pattern in patterns:
        text = pattern.sub(r"\2", text)
    return text.replace("**", "").replace("~~", "")


def _tidy(text: str) -> str:
    lines = (line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
