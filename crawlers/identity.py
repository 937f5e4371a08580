"""Who we say we are on the wire: one identity for crawls, re-checks, the image proxy and
screenshots.

A site that could tell a re-check from a crawl could hide its content from the re-check only
(answer 404 to it) and have the case closed as "removed" while the page stays online. Every
request we make therefore carries the same User-Agent and the same default headers, with the
same values and in the same order as Scrapy sends them.
"""

from __future__ import annotations

from scrapy.downloadermiddlewares.httpcompression import ACCEPTED_ENCODINGS

USER_AGENT = "BodyguardMonitor/0.1 (SOS Cyber-harcelement; abuse reports: see site)"
# Scrapy's defaults, made explicit so the guarded fetch can send exactly the same.
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_LANGUAGE = "en"
DEFAULT_HEADERS: dict[str, str] = {"Accept": ACCEPT, "Accept-Language": ACCEPT_LANGUAGE}
# What Scrapy's HttpCompressionMiddleware (on by default, COMPRESSION_ENABLED) adds to every
# crawl request: the encodings this Scrapy decodes ("gzip, deflate, br, zstd" with Scrapy 2.19,
# whose brotli and zstd support are dependencies; older ones list "br" and "zstd" only when
# their module is installed). Taken from Scrapy itself so that the two cannot drift apart.
ACCEPT_ENCODING = b", ".join(ACCEPTED_ENCODINGS).decode("ascii")


def request_headers(accept: str = ACCEPT) -> tuple[tuple[str, str], ...]:
    """A crawl's request headers, in the order Scrapy writes them: DefaultHeadersMiddleware
    (priority 400), UserAgentMiddleware (500), HttpCompressionMiddleware (590). Twisted adds
    ``Host`` after them, and no ``Connection`` header on a persistent connection."""
    return (
        ("Accept", accept),
        ("Accept-Language", ACCEPT_LANGUAGE),
        ("User-Agent", USER_AGENT),
        ("Accept-Encoding", ACCEPT_ENCODING),
    )
