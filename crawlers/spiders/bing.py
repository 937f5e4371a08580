"""Bing Web Search API v7 format (also spoken by compatible providers)."""

from __future__ import annotations

from typing import Any

from crawlers.spiders.search_api import SearchApiSpider, SearchResult


class BingSpider(SearchApiSpider):
    name = "bing"  # type: ignore[misc]
    PATH = "/v7.0/search"
    PAGE_SIZE = 50

    def build_request(self, query: str, page: int) -> tuple[str, dict[str, str]]:
        params = {
            "q": query,
            "count": self.PAGE_SIZE,
            "offset": page * self.PAGE_SIZE,
            "mkt": self.option("market", "fr-FR"),
        }
        return self.api_url(self.PATH, params), {
            "Ocp-Apim-Subscription-Key": self.credential("api_key")
        }

    def results(self, data: Any) -> list[SearchResult]:
        return [
            SearchResult(v["url"], v.get("name") or "", v.get("snippet") or "")
            for v in (data.get("webPages") or {}).get("value", [])
            if v.get("url")
        ]

    def has_more(self, data: Any, page: int, count: int) -> bool:
        total = (data.get("webPages") or {}).get("totalEstimatedMatches", 0)
        return count > 0 and (page + 1) * self.PAGE_SIZE < int(total)
