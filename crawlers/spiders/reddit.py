"""Reddit, through its JSON listings (``.json`` after any listing or thread URL)."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from scrapy import Request
from scrapy.http import Response

from config.sources import Source
from crawlers.items import ForumPost
from crawlers.spiders.base import SourceSpider
from crawlers.spiders.discourse import _json
from matching.html import html_to_text

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")


class RedditSpider(SourceSpider):
    name = "reddit"  # type: ignore[misc]

    async def start(self) -> AsyncIterator[Request]:
        subreddits = self.option("subreddits", [])
        for term in self.search_terms():
            params = {"q": f'"{term}"', "sort": "new", "limit": 100}
            paths = [f"/r/{s}/search.json" for s in subreddits] or ["/search.json"]
            for path in paths:
                query = params | ({"restrict_sr": 1} if subreddits else {})
                yield Request(
                    self.api_url(path, query),
                    callback=self.parse_listing,
                    cb_kwargs={"page": 1, "term": term},
                )
        for sub in subreddits:
            yield Request(
                self.api_url(f"/r/{sub}/new.json", {"limit": 100}),
                callback=self.parse_listing,
                cb_kwargs={"page": 1},
            )
        for path in self.option("threads", []):
            yield Request(self.api_url(path.rstrip("/") + ".json"), callback=self.parse_thread)

    @classmethod
    def searches(cls, source: Source) -> bool:
        return True

    def parse_listing(
        self, response: Response, page: int, term: str = ""
    ) -> Iterator[ForumPost | Request]:
        # Threads a name's search found are remembered for that name (``term``): a new name
        # reads every thread its search returns, even those read before for another name or
        # from a subreddit's listing (no term).
        data = _json(response)
        listing = data.get("data", {}) if isinstance(data, dict) else {}
        for child in listing.get("children", []):
            if child.get("kind") != "t3":
                continue
            post = child["data"]
            yield self._submission(post)
            key, version = f"t3:{post.get('id')}", post.get("num_comments")
            if not self.is_new(key, version, term=term):
                continue
            thread = self.site_url(str(post.get("permalink") or ""))
            if post.get("num_comments") and thread:
                request = Request(thread.rstrip("/") + ".json", callback=self.parse_thread)
                yield self.tracked(request, key, version, term=term)
        after = listing.get("after")
        if after and page < int(self.option("max_pages", 3)):
            separator = "&" if "?" in response.url else "?"
            yield Request(
                f"{response.url.split('&after=')[0]}{separator}after={after}",
                callback=self.parse_listing,
                cb_kwargs={"page": page + 1, "term": term},
            )

    def parse_thread(self, response: Response) -> Iterator[ForumPost]:
        data = _json(response)
        if not isinstance(data, list) or not data:
            return
        submissions = data[0].get("data", {}).get("children", [])
        post = submissions[0]["data"] if submissions else {}
        if post:
            yield self._submission(post)
        if len(data) > 1:
            yield from self._comments(data[1].get("data", {}).get("children", []), post)

    def _comments(
        self, children: list[dict[str, Any]], post: dict[str, Any]
    ) -> Iterator[ForumPost]:
        for child in children:
            if child.get("kind") != "t1":
                continue
            comment = child["data"]
            text = self._parse_text(comment.get("body_html"), comment.get("body"))
            if text:
                yield ForumPost(
                    source_id=self.source.id,
                    url=self._parse_permalink(comment, post),
                    thread_url=self._parse_permalink(post, post),
                    thread_title=post.get("title", ""),
                    text=text,
                    author=self._parse_author(comment),
                    posted_at=self._parse_posted_at(comment),
                    image_urls=[],
                )
            replies = comment.get("replies")
            if isinstance(replies, dict):
                yield from self._comments(replies.get("data", {}).get("children", []), post)

    def _submission(self, post: dict[str, Any]) -> ForumPost:
        return ForumPost(
            source_id=self.source.id,
            url=self._parse_permalink(post, post),
            thread_url=self._parse_permalink(post, post),
            thread_title=post.get("title", ""),
            text=self._parse_text(post.get("selftext_html"), post.get("selftext")),
            author=self._parse_author(post),
            posted_at=self._parse_posted_at(post),
            image_urls=self._parse_image_urls(post),
            is_thread_start=True,
        )

    def _parse_text(self, body_html: str | None, body: str | None) -> str:
        if body_html:
            return html_to_text(html.unescape(body_html))
        return (body or "").strip()

    def _parse_author(self, item: dict[str, Any]) -> str:
        return str(item.get("author") or "")

    def _parse_posted_at(self, item: dict[str, Any]) -> datetime | None:
        created = item.get("created_utc")
        return datetime.fromtimestamp(float(created), tz=UTC) if created else None

    def _parse_permalink(self, item: dict[str, Any], post: dict[str, Any]) -> str:
        # Reddit's short form needs nothing from the listing but the submission's id.
        thread = self.api_url(f"/comments/{quote(str(post.get('id', '')))}/")
        if item is not post:
            thread = self.permalink(str(post.get("permalink") or ""), thread)
        if item.get("permalink"):
            return self.permalink(str(item["permalink"]), thread)
        # Old comment JSON has no permalink: the thread's, then the comment id.
        return f"{thread.rstrip('/')}/{quote(str(item.get('id', '')))}/"

    def _parse_image_urls(self, post: dict[str, Any]) -> list[str]:
        urls = []
        link = post.get("url") or ""
        if link.lower().split("?")[0].endswith(_IMAGE_SUFFIXES):
            urls.append(link)
        for image in (post.get("preview") or {}).get("images", []):
            source = (image.get("source") or {}).get("url")
            if source:
                urls.append(html.unescape(source))
        return list(dict.fromkeys(urls))
