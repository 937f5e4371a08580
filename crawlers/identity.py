"""Who we say we are on the wire: one identity for crawls, re-checks, the image proxy and
screenshots.

A site that could tell a re-check from a crawl could hide its content from the re-check only
(answer 404 to it) and have the case closed as "removed" while the page stays online. Every
request we make therefore carries the same User-Agent and the same default headers.
"""

from __future__ import annotations

USER_AGENT = "BodyguardMonitor/0.1 (SOS Cyber-harcelement; abuse reports: see site)"
# Scrapy's defaults, made explicit so the guarded fetch can send exactly the same.
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_LANGUAGE = "en"
DEFAULT_HEADERS: dict[str, str] = {"Accept": ACCEPT, "Accept-Language": ACCEPT_LANGUAGE}
