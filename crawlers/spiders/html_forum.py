"""Forums read as HTML pages, driven by CSS selectors.

Each engine (phpBB, vBulletin, XenForo, Invision) is a preset of selectors and a search URL; the
``generic`` kind takes its selectors from the source's YAML. One parse method serves every page:
posts found are emitted, thread links and the next page are followed, within ``max_pages``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote_plus

from parsel import Selector
from scrapy import Request
from scrapy.http import Response, TextResponse
from scrapy.utils.response import get_base_url
from twisted.python.failure import Failure

from config.sources import Source
from crawlers.dates import DEFAULT_ZONE, parse_post_time
from crawlers.items import ForumPost, primary_language
from crawlers.spiders.base import SourceSpider
from matching.html import html_to_text

# Images that belong to the forum, not to the post (smileys, avatars, icons, tracking pixels).
_CHROME_HINTS = ("smilie", "smiley", "emoji", "avatar", "inlineimg", "icon", "rank", "data:image")


@dataclass(frozen=True)
class ForumSelectors:
    post: str
    text: str
    author: str
    time: str
    permalink: str
    images: str = "img"
    next_page: str = "link[rel=next]::attr(href), a[rel=next]::attr(href)"
    thread_links: str = ""
    title: str = "title::text"

    @classmethod
    def from_options(
        cls, options: dict[str, Any], base: ForumSelectors | None = None
    ) -> ForumSelectors:
        given = options.get("selectors") or {}
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(
                f"unknown selector(s) {', '.join(unknown)}; known: {', '.join(f.name for f in fields(cls))}"
            )
        values = {f.name: getattr(base, f.name) for f in fields(cls)} if base else {}
        values.update(given)
        missing = [
            name for name in ("post", "text", "author", "time", "permalink") if not values.get(name)
        ]
        if missing:
            raise ValueError(f"selectors missing: {', '.join(missing)}")
        return cls(**values)


def first_of(selector: Selector | TextResponse, alternatives: str) -> str | None:
    """The first value of the first alternative that matches: ", " in a preset lists
    alternatives in order of preference, not a union in document order."""
    for alternative in alternatives.split(","):
        for value in selector.css(alternative.strip()).getall():
            if value.strip():
                return value
    return None


class HtmlForumSpider(SourceSpider):
    SELECTORS: ClassVar[ForumSelectors | None] = None
    # Path and query of the forum's own search for one term, or "" when it has none.
    SEARCH_PATH: ClassVar[str] = ""

    @property
    def selectors(self) -> ForumSelectors:
        return ForumSelectors.from_options(self.source.options, self.SELECTORS)

    async def start(self) -> AsyncIterator[Request]:
        for request in self._initial_requests():
            yield request

    @classmethod
    def searches(cls, source: Source) -> bool:
        return bool(source.options.get("search_path", cls.SEARCH_PATH))

    def _initial_requests(self) -> Iterator[Request]:
        search = self.option("search_path", self.SEARCH_PATH)
        if search:
            for term in self.search_terms():
                url = self.api_url(search.format(q=quote_plus(f'"{term}"')))
                yield from self._page_request(url, 0, term)
        for path in self.option("start_urls", []):
            url = path if "://" in path else self.api_url(path)
            yield from self._page_request(url, 0)

    def _page_request(self, url: str, depth: int, term: str = "") -> Iterator[Request]:
        """The request for a page, unless it failed lately and waits its backoff; a failure is
        recorded against it (its version is only known once read: its digest)."""
        key = self._key(f"page:{url}", term)
        if self.backing_off(key):
            return
        yield Request(
            url,
            callback=self.parse_page,
            errback=functools.partial(self._page_errback, key=key),
            cb_kwargs={"depth": depth, "term": term},
        )

    def _page_errback(self, failure: Failure, key: str) -> None:
        self.page_failed(failure, key)

    def parse_page(
        self, response: Response, depth: int, term: str = ""
    ) -> Iterator[ForumPost | Request]:
        if not isinstance(response, TextResponse):
            return
        digest = hashlib.sha256(response.body).hexdigest()[:16]
        # Fetched: a failure recorded against the address asked for (before any redirect) is over.
        asked = (response.meta.get("redirect_urls") or [response.url])[0]
        if asked != response.url:
            self.forget_failure(self._key(f"page:{asked}", term))
        # Pages reached from a name's search are remembered for that name: a new name walks
        # the threads its search finds even when they have not changed.
        if not self.is_new(f"page:{response.url}", digest, term=term):
            # Unchanged since the last complete crawl: its posts and links were read then.
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("bodyguard/skipped_unchanged")
            return
        sel = self.selectors
        title = self._parse_title(response, sel)
        found = 0
        for post in response.css(sel.post):
            item = self._post(response, post, sel, title)
            if item is not None:
                found += 1
                yield item
        links = []
        if sel.thread_links:
            links += response.css(sel.thread_links).getall()
        if found or links:
            # Read: a page where the selectors find nothing is not, and is read again.
            self.mark_read(f"page:{response.url}", digest, term=term)
        if depth >= int(self.option("max_pages", 20)):
            return
        links += response.css(sel.next_page).getall()[:1]
        for link in dict.fromkeys(links):
            yield from self._page_request(response.urljoin(link), depth + 1, term)

    def _post(
        self, response: TextResponse, post: Selector, sel: ForumSelectors, title: str
    ) -> ForumPost | None:
        text = self._parse_text(post, sel)
        if not text:
            return None
        permalink = self._parse_permalink(response, post, sel)
        return ForumPost(
            source_id=self.source.id,
            url=permalink,
            thread_url=response.url.split("#", 1)[0],
            thread_title=title,
            text=text,
            author=self._parse_author(post, sel),
            posted_at=self._parse_posted_at(post, sel),
            image_urls=self._parse_image_urls(response, post, sel),
            video_urls=self._parse_video_urls(response, post, sel),
            is_thread_start=False,
            language=self._parse_language(post),
        )

    def _parse_title(self, response: TextResponse, sel: ForumSelectors) -> str:
        return " ".join((first_of(response, sel.title) or "").split())

    def _parse_text(self, post: Selector, sel: ForumSelectors) -> str:
        return "\n\n".join(
            html_to_text(fragment) for fragment in post.css(sel.text).getall()
        ).strip()

    def _parse_language(self, post: Selector) -> str:
        # HTML's rule: the nearest lang attribute around the post, usually <html lang="de-DE">.
        return primary_language(post.xpath("ancestor-or-self::*[@lang][1]/@lang").get())

    def _parse_author(self, post: Selector, sel: ForumSelectors) -> str:
        # The first match: later ones are authors quoted inside the post.
        return " ".join((first_of(post, sel.author) or "").split())

    def _parse_posted_at(self, post: Selector, sel: ForumSelectors) -> datetime | None:
        zone = self.option("timezone", DEFAULT_ZONE)
        for value in post.css(sel.time).getall():
            moment = parse_post_time(html_to_text(value) if value.startswith("<") else value, zone)
            if moment is not None:
                return moment
        return None

    def _parse_permalink(self, response: TextResponse, post: Selector, sel: ForumSelectors) -> str:
        link = first_of(post, sel.permalink)
        if not link:
            return response.url
        return self.permalink(
            link if not link.isdigit() else f"#{link}", response.url, get_base_url(response)
        )

    def _parse_image_urls(
        self, response: TextResponse, post: Selector, sel: ForumSelectors
    ) -> list[str]:
        urls = []
        for img in post.css(sel.text).css(sel.images):
            src = (
                img.attrib.get("data-url")
                or img.attrib.get("data-src")
                or img.attrib.get("src")
                or ""
            )
            marks = " ".join([img.attrib.get("class", ""), src]).lower()
            if not src or any(hint in marks for hint in _CHROME_HINTS):
                continue
            urls.append(response.urljoin(src))
        return list(dict.fromkeys(urls))

    def _parse_video_urls(
        self, response: TextResponse, post: Selector, sel: ForumSelectors
    ) -> list[str]:
        """Videos embedded in the post: ``<video src>`` and its ``<source src>`` children."""
        body = post.css(sel.text)
        found = body.css("video::attr(src), video::attr(data-src), video source::attr(src)")
        urls = [response.urljoin(src.strip()) for src in found.getall() if src.strip()]
        return [u for u in dict.fromkeys(urls) if u.startswith(("http://", "https://"))]
