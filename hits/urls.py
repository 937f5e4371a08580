"""Canonical URLs, so one page reached by several URLs is one hit."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Parameters that track the visitor, never identify the content.
_TRACKING_PREFIXES = ("utm_", "fbclid", "gclid", "mc_", "_ga")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Fragments that name one post on a page of many ("#p453", "#comment4750748") are kept: they are
# the only thing telling two posts of one page apart. Other fragments are navigation.
_POST_FRAGMENT = re.compile(r"^(?:p|post|comment|msg|reply|entry)?[-_]?\d+$", re.IGNORECASE)


def canonicalize(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(_TRACKING_PREFIXES)
    )
    path = parts.path or "/"
    fragment = parts.fragment if _POST_FRAGMENT.match(parts.fragment) else ""
    return urlunsplit((scheme, netloc, path, urlencode(query), fragment))


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


# Query parameters that choose a page, an order or a session within one thread, never which
# thread: two URLs differing only by them are the same conversation (phpBB start/sid/sort,
# vBulletin s/page, XenForo and Discourse page, SMF/Invision offsets, highlighted words).
_NOT_IDENTITY_PARAMS = frozenset(
    {"start", "page", "pg", "offset", "sid", "s", "highlight", "hilit", "sort", "order", "view",
     "sd", "sk", "st", "postdays", "postorder", "sortby", "direction"}
)  # fmt: skip
# Pagination in the path: XenForo /page-2, Invision and WordPress /page/2/, vBulletin /page2.
_PAGE_SUFFIX = re.compile(r"/page(?:[-/]?\d+)/?$", re.IGNORECASE)
# Discourse addresses a post of a topic as /t/slug/123/45: the topic is /t/slug/123.
_DISCOURSE_POST = re.compile(r"^(/t/[^/]+/\d+)/\d+/?$")


def thread_identity(url: str) -> str:
    """The thread, topic or page a URL belongs to, whatever page of it or post in it the URL
    shows: ``viewtopic.php?f=4&t=12&start=25#p99`` and ``viewtopic.php?t=12`` are one thread,
    ``t=123`` another. Scheme, default port, tracking and fragments do not count either."""
    parts = urlsplit(canonicalize(url))
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    names = {k for k, _v in params}
    # phpBB: a topic id is unique on the board; the forum id in front of it is navigation.
    drop = set(_NOT_IDENTITY_PARAMS)
    if parts.path.endswith("viewtopic.php") and "t" in names:
        drop.add("f")
    query = urlencode(sorted((k, v) for k, v in params if k.lower() not in drop))
    path = _DISCOURSE_POST.sub(r"\1", parts.path)
    path = _PAGE_SUFFIX.sub("", path).rstrip("/") or "/"
    return urlunsplit(("", parts.netloc, path, query, ""))[2:]


def covers(allowed: str, url: str) -> bool:
    """Whether an allow-listed page covers ``url``: the same thread (any page of it), or, for
    an entry without a query, what is under its path, on whole path segments only
    (``/user/jdupont`` covers ``/user/jdupont/posts``, not ``/user/jdupont_leaks``)."""
    entry, target = thread_identity(allowed), thread_identity(url)
    if entry == target:
        return True
    if "?" in entry or "/" not in entry:
        return False  # a query names one thing; a site's home page covers only itself
    target_path = target.split("?", 1)[0]
    return target_path.startswith(entry.rstrip("/") + "/")
