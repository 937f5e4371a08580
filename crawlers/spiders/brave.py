"""Brave Search API (web search)."""

from __future__ import annotations

from typing import Any

from crawlers.spiders.search_api import SearchApiSpider, SearchResult
from matching.html import html_to_text


class BraveSpider(SearchApiSpider):
    name = "brave"  # type: ignore[misc]
    PATH = "/res/v1/web/search"
    PAGE_SIZE = 20

    def build_request(self, query: str, page: int) -> tuple[str, dict[str, str]]:
        params = {
            "q": query,
            "count": self.PAGE_SIZE,
            "offset": page,
            "country": self.option("country", "fr"),
        }
        headers = {"Accept": "application/json", "X-Subscription-Token": self.credential("api_key")}
        return self.api_url(self.PATH, params), headers

    def results(self, data: Any) -> list[SearchResult]:
        return [
            SearchResult(
                r["url"],
                html_to_text(r.get("title") or ""),
                html_to_text(r.get("description") or ""),
            )
            for r in (data.get("web") or {}).get("results", [])
            if r.get("url")
        ]

    def has_more(self, data: Any, page: int, count: int) -> bool:
        return bool((data.get("query") or {}).get("more_results_available")) and count > 0
