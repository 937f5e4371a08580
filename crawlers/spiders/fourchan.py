"""4chan-style imageboards through the read-only JSON API (catalog, board pages, threads).

The API has no search: boards are walked, newest threads first. A post's file is an image, or
a video (``.webm``, ``.mp4``) whose MD5 the API gives (``md5``, base64 of the 16 bytes): a
registered video's MD5 matches before anything is fetched.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

from scrapy import Request
from scrapy.http import Response

from crawlers.items import ForumPost
from crawlers.spiders.base import SourceSpider
from crawlers.spiders.discourse import _json
from matching.html import html_to_text

# Files 4chan boards (/wsg/, /gif/) post as videos.
VIDEO_EXTS = (".webm", ".mp4")


class FourchanSpider(SourceSpider):
    name = "fourchan"  # type: ignore[misc]

    async def start(self) -> AsyncIterator[Request]:
        for board in self.option("boards", []):
            yield Request(
                self.api_url(f"/{board}/catalog.json"),
                callback=self.parse_catalog,
                cb_kwargs={"board": board},
            )

    def parse_catalog(self, response: Response, board: str) -> Iterator[ForumPost | Request]:
        data = _json(response)
        pages = data if isinstance(data, list) else [data]
        limit = int(self.option("max_threads", 50))
        threads: list[dict[str, Any]] = []
        for page in pages:
            threads.extend(page.get("threads", []))
        for thread in threads[:limit]:
            if "posts" in thread:  # a board page (/{board}/{n}.json) carries its posts
                yield from self._posts(thread["posts"], board)
            no = int(thread.get("no") or thread["posts"][0]["no"])
            version = thread.get("last_modified") or (thread.get("replies"), thread.get("images"))
            if thread.get("last_modified") and not self.is_new(f"{board}:{no}", version):
                continue
            request = Request(
                self.api_url(f"/{board}/thread/{no}.json"),
                callback=self.parse_thread,
                cb_kwargs={"board": board},
            )
            yield self.tracked(request, f"{board}:{no}", version)

    def parse_thread(self, response: Response, board: str) -> Iterator[ForumPost]:
        yield from self._posts(_json(response).get("posts", []), board)

    def _posts(self, posts: list[dict[str, Any]], board: str) -> Iterator[ForumPost]:
        if not posts:
            return
        op = posts[0]
        thread_no = int(op.get("resto") or op["no"])
        title = html_to_text(op.get("sub", "")) or html_to_text(op.get("com", ""))[:80]
        for post in posts:
            text = self._parse_text(post)
            files = self._parse_file_urls(post, board)
            images = [u for u in files if not u.lower().endswith(VIDEO_EXTS)]
            videos = [u for u in files if u.lower().endswith(VIDEO_EXTS)]
            md5 = self._parse_md5(post)
            if not text and not files:
                continue
            yield ForumPost(
                source_id=self.source.id,
                url=self._parse_permalink(post, board, thread_no),
                thread_url=self._site(f"/{board}/thread/{thread_no}"),
                thread_title=title,
                text=text,
                author=self._parse_author(post),
                posted_at=self._parse_posted_at(post),
                image_urls=images,
                image_sizes={u: int(post.get("w", 0)) * int(post.get("h", 0)) for u in images},
                video_urls=videos,
                video_md5s={u: md5 for u in videos if md5},
                is_thread_start=int(post["no"]) == thread_no,
            )

    def _site(self, path: str) -> str:
        return str(self.option("site_url", "https://boards.4chan.org")).rstrip("/") + path

    def _parse_text(self, post: dict[str, Any]) -> str:
        parts = [post.get("sub", ""), post.get("com", "")]
        return "\n\n".join(html_to_text(p) for p in parts if p).strip()

    def _parse_author(self, post: dict[str, Any]) -> str:
        return " ".join(p for p in (post.get("name", ""), post.get("trip", "")) if p)

    def _parse_posted_at(self, post: dict[str, Any]) -> datetime | None:
        return datetime.fromtimestamp(int(post["time"]), tz=UTC) if post.get("time") else None

    def _parse_permalink(self, post: dict[str, Any], board: str, thread_no: int) -> str:
        return self._site(f"/{board}/thread/{thread_no}#p{int(post['no'])}")

    def _parse_md5(self, post: dict[str, Any]) -> str:
        """The file's MD5 in hex ("" when absent or not 16 bytes of base64)."""
        try:
            digest = base64.b64decode(str(post.get("md5") or ""), validate=True)
        except (binascii.Error, ValueError):
            return ""
        return digest.hex() if len(digest) == 16 else ""

    def _parse_file_urls(self, post: dict[str, Any], board: str) -> list[str]:
        if not post.get("tim") or not post.get("ext") or post.get("filedeleted"):
            return []
        host = str(self.option("image_host", "https://i.4cdn.org")).rstrip("/")
        return [f"{host}/{board}/{post['tim']}{post['ext']}"]
