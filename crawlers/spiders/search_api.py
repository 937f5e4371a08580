"""Search engines through their APIs: one quoted query per watched name, a few pages each,
within a per-run query budget. Snippets are matched; result pages are fetched (depth 1) for
full matching and their images."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from scrapy import Request
from scrapy.exceptions import CloseSpider
from scrapy.http import Response, TextResponse

from config.environment import secret
from config.sources import Source
from crawlers.guard import on_web
from crawlers.items import ForumPost
from crawlers.spiders.base import SourceSpider
from matching.html import html_to_text

logger = logging.getLogger(__name__)

# Queries one run may send, unless the source says otherwise: APIs bill per query.
DEFAULT_QUERY_BUDGET = 40
DEFAULT_PAGES = 2


@dataclass(frozen=True)
class SearchResult:
    url: str
    title: str
    snippet: str


def decode_json(response: Response) -> Any:
    """JSON bodies, with or without a UTF-8 byte-order mark (Bing and Google send one)."""
    return json.loads(response.body.decode("utf-8-sig"))


class SearchApiSpider(SourceSpider):
    STAY_ON_SOURCE_HOST = False
    PATH: ClassVar[str]
    PAGE_SIZE: ClassVar[int] = 10

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queries_sent = 0

    async def start(self) -> AsyncIterator[Request]:
        for term in self.search_terms():
            request = self._query(f'"{term}"', page=0)
            if request is not None:
                yield request

    @classmethod
    def searches(cls, source: Source) -> bool:
        return True

    def _query(self, query: str, page: int) -> Request | None:
        budget = int(self.option("query_budget", DEFAULT_QUERY_BUDGET))
        if self.queries_sent >= budget:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("bodyguard/queries_over_budget")
            return None
        self.queries_sent += 1
        url, headers = self.build_request(query, page)
        return Request(
            url,
            headers=headers,
            callback=self.parse_results,
            cb_kwargs={"query": query, "page": page},
            meta={"handle_httpstatus_list": [401, 403, 429]},
            dont_filter=True,
        )

    def credential(self, purpose: str) -> str:
        name = (self.source.credentials or {}).get(purpose, "")
        return secret(name) if name else ""

    def build_request(self, query: str, page: int) -> tuple[str, dict[str, str]]:
        raise NotImplementedError

    def results(self, data: Any) -> list[SearchResult]:
        raise NotImplementedError

    def has_more(self, data: Any, page: int, count: int) -> bool:
        return count >= self.PAGE_SIZE

    def refused(self, response: Response) -> str:
        return f"{self.name} refused the query with HTTP {response.status}: check the API key named in the source's credentials"

    def parse_results(
        self, response: Response, query: str, page: int
    ) -> Iterator[ForumPost | Request]:
        if response.status in (401, 403):
            raise CloseSpider(self.refused(response))
        if response.status == 429:
            raise CloseSpider(
                f"{self.name}: rate limited (HTTP 429); the query budget or interval is too high"
            )
        data = decode_json(response)
        results = self.results(data)
        for result in results:
            if not on_web(result.url):
                # javascript:, data:, file: or worse: no page to cite or fetch.
                assert self.crawler.stats is not None
                self.crawler.stats.inc_value("bodyguard/results_refused")
                continue
            if result.snippet or result.title:
                yield ForumPost(
                    source_id=self.source.id,
                    url=result.url,
                    thread_url=result.url,
                    thread_title=result.title,
                    text=result.snippet,
                    author="",
                    posted_at=None,
                    is_thread_start=True,
                )
            snippet_digest = hashlib.sha256(result.snippet.encode()).hexdigest()[:16]
            key = f"result:{result.url}"
            if self.option("fetch_pages", True) and self.is_new(key, snippet_digest, term=query):
                page_request = Request(
                    result.url,
                    callback=self.parse_page,
                    cb_kwargs={"title": result.title},
                    errback=self._page_failed,
                )
                yield self.tracked(page_request, key, snippet_digest, term=query)
        if page + 1 < int(self.option("pages", DEFAULT_PAGES)) and self.has_more(
            data, page, len(results)
        ):
            request = self._query(query, page + 1)
            if request is not None:
                yield request

    def parse_page(self, response: Response, title: str) -> Iterator[ForumPost]:
        if not isinstance(response, TextResponse):
            return
        body = response.css("body").get() or response.text
        images = [
            response.urljoin(src)
            for src in response.css("img::attr(src)").getall()
            if not src.startswith("data:")
        ]
        yield ForumPost(
            source_id=self.source.id,
            url=response.url,
            thread_url=response.url,
            thread_title=" ".join((response.css("title::text").get() or title).split()),
            text=html_to_text(body),
            author="",
            posted_at=None,
            image_urls=list(dict.fromkeys(images))[: int(self.option("max_images_per_page", 20))],
            is_thread_start=True,
        )

    def _page_failed(self, failure: Any) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("bodyguard/result_pages_failed")
        logger.info("result page not fetched: %s", failure.value)
