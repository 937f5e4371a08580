"""Google Custom Search JSON API.

Google closes this API to existing customers on 1 January 2027: prefer SearXNG or Brave.
"""

from __future__ import annotations

from typing import Any

from crawlers.spiders.search_api import SearchApiSpider, SearchResult


class GoogleCseSpider(SearchApiSpider):
    name = "google_cse"  # type: ignore[misc]
    PATH = "/customsearch/v1"

    def build_request(self, query: str, page: int) -> tuple[str, dict[str, str]]:
        params = {
            "key": self.credential("api_key"),
            "cx": self.option("cx", "") or self.credential("cx"),
            "q": query,
            "start": 1 + page * self.PAGE_SIZE,
            "num": self.PAGE_SIZE,
            "hl": self.option("language", "fr"),
        }
        return self.api_url(self.PATH, params), {}

    def results(self, data: Any) -> list[SearchResult]:
        return [
            SearchResult(item["link"], item.get("title") or "", item.get("snippet") or "")
            for item in data.get("items", [])
            if item.get("link")
        ]

    def has_more(self, data: Any, page: int, count: int) -> bool:
        return bool((data.get("queries") or {}).get("nextPage"))
