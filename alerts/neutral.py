"""What an alert email may say about where something was found: never words from the page.

Thread slugs, query strings and fragments are written by whoever posted ("/t/jeanne-is-a-…/12"),
and so is the host of a search result. An email shows the site as we configured it and a
link stripped of every word; an address chosen by the page is not shown at all.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Path words forum engines use themselves (Discourse /t/, XenForo /threads/, phpBB
# viewtopic.php, 4chan /thread/, vBulletin showthread.php, Invision /topic/, Reddit
# /comments/): structure, not something a poster wrote.
ENGINE_WORDS = frozenset(
    {
        "t", "p", "d", "r", "c", "u", "res", "thread", "threads", "topic", "topics", "forum",
        "forums", "post", "posts", "comments", "index.php", "viewtopic.php", "showthread.php",
        "showpost.php", "viewthread.php", "member.php", "profile.php",
    }
)  # fmt: skip
# Three letters in a row can spell a word (an insult, a name); two cannot say much, and ids,
# page numbers and board codes ("po", "b") are what remains.
_WORD = re.compile(r"[^\W\d_]{3,}")
_ID_AT_END = re.compile(r"(?:^|[^0-9])([0-9]{2,})$")
_ID_AT_START = re.compile(r"^([0-9]{2,})(?:[^0-9]|$)")


def _neutral_segment(segment: str) -> str | None:
    if segment.lower() in ENGINE_WORDS or not _WORD.search(segment):
        return segment
    # "some-title.12345" (XenForo), "123-some-title" (vBulletin): the id alone still finds it.
    found = _ID_AT_END.search(segment) or _ID_AT_START.search(segment)
    return found.group(1) if found else None


def neutral_url(url: str, host: str) -> str | None:
    """``url`` on ``host`` (the configured one) without any word a poster could have chosen,
    or None when ``url`` is elsewhere."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or (parts.hostname or "") != host:
        return None
    segments = [s for s in (_neutral_segment(s) for s in parts.path.split("/") if s) if s]
    query = [(k, v) for k, v in parse_qsl(parts.query) if not _WORD.search(f"{k} {v}")]
    fragment = parts.fragment if not _WORD.search(parts.fragment) else ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    path = "/" + "/".join(segments)
    return urlunsplit((parts.scheme, netloc, path, urlencode(query), fragment))
