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
