"""Discourse forums, through their public JSON API.

Search (``/search.json``) finds posts naming a client; ``/latest.json`` and topics listed in the
source's options are walked too, because forum search misses obfuscated names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, urljoin

import lxml.html
from scrapy import Request
from scrapy.http import Response, TextResponse

from config.sources import Source
from crawlers.items import ForumPost
from crawlers.spiders.base import SourceSpider
from matching.html import html_to_text

# Discourse serves at most 20 posts per /t/{id}.json or /t/{id}/posts.json page.
POSTS_PER_REQUEST = 20
# Images that are part of the forum's chrome, not of what the author posted.
_CHROME_IMG_CLASSES = {"avatar", "emoji", "site-icon", "onebox-avatar"}


def _json(response: Response) -> Any:
    if not isinstance(response, TextResponse):
        raise ValueError(f"{response.url} did not return JSON text")
    return response.json()


class DiscourseSpider(SourceSpider):
    name = "discourse"  # type: ignore[misc]

    async def start(self) -> AsyncIterator[Request]:
        for request in self._initial_requests():
            yield request

    @classmethod
    def searches(cls, source: Source) -> bool:
        return True

    def _initial_requests(self) -> Iterator[Request]:
        for term in self.search_terms():
            yield Request(
                self.api_url("/search.json", {"q": f'"{term}"'}),
                callback=self.parse_search,
                cb_kwargs={"term": term, "page": 1},
            )
        if int(self.option("latest_pages", 1)) > 0:
            yield Request(
                self.api_url("/latest.json"), callback=self.parse_latest, cb_kwargs={"page": 1}
            )
        for topic_id in self.option("topics", []):
            yield Request(self.api_url(f"/t/{int(topic_id)}.json"), callback=self.parse_topic)

    def parse_search(self, response: Response, term: str, page: int) -> Iterator[Request]:
        data = _json(response)
        topics = {t.get("id"): t for t in data.get("topics") or []}
        for post in data.get("posts") or []:
            topic = topics.get(post.get("topic_id"), {})
            key = f"post:{int(post['id'])}"
            version = post.get("updated_at") or post.get("created_at")
            if not self.is_new(key, version, term=term):
                self._skipped()
                continue
            request = Request(
                self.api_url(
                    f"/t/{int(post['topic_id'])}/posts.json", {"post_ids[]": [post["id"]]}
                ),
                callback=self.parse_posts,
                cb_kwargs={"title": topic.get("title", ""), "slug": topic.get("slug", "")},
            )
            yield self.tracked(request, key, version, term=term)
        grouped = data.get("grouped_search_result") or {}
        more = grouped.get("more_full_page_results") or grouped.get("more_posts")
        if more and page < int(self.option("search_pages", 2)):
            yield Request(
                self.api_url("/search.json", {"q": f'"{term}"', "page": page + 1}),
                callback=self.parse_search,
                cb_kwargs={"term": term, "page": page + 1},
            )

    def parse_latest(self, response: Response, page: int) -> Iterator[Request]:
        topic_list = _json(response).get("topic_list") or {}
        for topic in topic_list.get("topics") or []:
            version = (
                topic.get("highest_post_number") or topic.get("posts_count"),
                topic.get("last_posted_at"),
            )
            key = f"topic:{int(topic['id'])}"
            if not self.is_new(key, version):
                self._skipped()
                continue
            request = Request(
                self.api_url(f"/t/{int(topic['id'])}.json"), callback=self.parse_topic
            )
            yield self.tracked(request, key, version)
        more = topic_list.get("more_topics_url")
        if more and page < int(self.option("latest_pages", 1)):
            yield Request(
                response.urljoin(more), callback=self.parse_latest, cb_kwargs={"page": page + 1}
            )

    def _skipped(self) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("bodyguard/skipped_unchanged")

    def parse_topic(self, response: Response) -> Iterator[ForumPost | Request]:
        data = _json(response)
        topic_id, title, slug = int(data["id"]), data.get("title", ""), data.get("slug", "")
        stream = data.get("post_stream") or {}
        posts = stream.get("posts") or []
        yield from self._items(posts, title, slug)
        have = {p.get("id") for p in posts}
        limit = int(self.option("max_posts_per_topic", 1000))
        missing = [pid for pid in (stream.get("stream") or [])[:limit] if pid not in have]
        for i in range(0, len(missing), POSTS_PER_REQUEST):
            chunk = missing[i : i + POSTS_PER_REQUEST]
            yield Request(
                self.api_url(f"/t/{topic_id}/posts.json", {"post_ids[]": chunk}),
                callback=self.parse_posts,
                cb_kwargs={"title": title, "slug": slug},
            )

    def parse_posts(self, response: Response, title: str, slug: str) -> Iterator[ForumPost]:
        posts = (_json(response).get("post_stream") or {}).get("posts") or []
        yield from self._items(posts, title, slug)

    def _items(self, posts: list[dict[str, Any]], title: str, slug: str) -> Iterator[ForumPost]:
        for post in posts:
            if post.get("hidden") or post.get("deleted_at") or not post.get("cooked"):
                continue
            topic_id = int(post["topic_id"])
            slug = post.get("topic_slug") or slug or "topic"
            images = self._parse_images(post)
            yield ForumPost(
                source_id=self.source.id,
                url=self._parse_permalink(post, slug),
                thread_url=self.api_url(f"/t/{quote(slug)}/{topic_id}"),
                thread_title=title or post.get("topic_title") or "",
                text=self._parse_text(post),
                author=self._parse_author(post),
                author_ref=self._parse_author_ref(post),
                posted_at=self._parse_posted_at(post),
                image_urls=list(images),
                image_sizes={u: a for u, a in images.items() if a},
                is_thread_start=post.get("post_number") == 1,
            )

    def _parse_text(self, post: dict[str, Any]) -> str:
        return html_to_text(post["cooked"])

    def _parse_author(self, post: dict[str, Any]) -> str:
        return str(post.get("username") or post.get("name") or "")

    def _parse_author_ref(self, post: dict[str, Any]) -> str:
        username = post.get("username")
        return self.api_url(f"/u/{quote(str(username), safe='')}") if username else ""

    def _parse_posted_at(self, post: dict[str, Any]) -> datetime | None:
        raw = post.get("created_at")
        return datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None

    def _parse_permalink(self, post: dict[str, Any], slug: str) -> str:
        built = self.api_url(f"/t/{quote(slug)}/{int(post['topic_id'])}/{int(post['post_number'])}")
        if post.get("post_url"):
            return self.permalink(str(post["post_url"]), built)
        return built

    def _parse_images(self, post: dict[str, Any]) -> dict[str, int]:
        """Image URLs of a post, each with the pixel area its tag declares (0 if none)."""
        root = lxml.html.fragment_fromstring(post["cooked"], create_parent="div")
        found: list[tuple[str, int]] = []
        for link in root.xpath("//a[contains(concat(' ', @class, ' '), ' lightbox ')]/@href"):
            found.append((str(link), 0))
        for img in root.xpath("//img[@src]"):
            classes = set((img.get("class") or "").split())
            if classes & _CHROME_IMG_CLASSES or "/images/emoji/" in img.get("src"):
                continue
            width, height = img.get("width") or "", img.get("height") or ""
            area = int(width) * int(height) if width.isdigit() and height.isdigit() else 0
            found.append((img.get("src"), area))
        # Images may live on a CDN: only resolved here, the image pipeline decides what is fetched.
        base = self.source.base_url + "/"
        images: dict[str, int] = {}
        for u, area in found:
            url = urljoin(base, u.strip())
            if url.startswith(("http://", "https://")):
                images[url] = max(images.get(url, 0), area)
        return images
