"""SearXNG, the self-hosted metasearch engine (recommended default): its JSON API."""

from __future__ import annotations

from typing import Any

from scrapy.http import Response

from crawlers.spiders.search_api import SearchApiSpider, SearchResult
from matching.html import html_to_text


class SearxngSpider(SearchApiSpider):
    name = "searxng"  # type: ignore[misc]
    PATH = "/search"

    def build_request(self, query: str, page: int) -> tuple[str, dict[str, str]]:
        params = {
            "q": query,
            "format": "json",
            "pageno": page + 1,
            "language": self.option("language", "fr"),
        }
        return self.api_url(self.PATH, params), {}

    def results(self, data: Any) -> list[SearchResult]:
        # Key/value answers from offline engines carry "url": null: nothing to fetch or cite.
        return [
            SearchResult(r["url"], r.get("title") or "", html_to_text(r.get("content") or ""))
            for r in data.get("results", [])
            if r.get("url")
        ]

    def has_more(self, data: Any, page: int, count: int) -> bool:
        # SearXNG does not say how many results exist (no number_of_results): an empty page ends it.
        return count > 0

    def refused(self, response: Response) -> str:
        return (
            "SearXNG refused format=json (HTTP 403): enable json in SearXNG settings "
            "(settings.yml, search: formats: [html, json]) and restart it"
        )
