"""Lemmy servers (the fediverse's link aggregator) through their HTTP API v3.

What is read, from the source's options: ``/api/v3/search?type_=All`` for every watched name
(posts and comments, newest first; ``search_names: false`` turns it off), and, for each of the
``communities`` (``name`` or ``name@instance``), its newest posts (``/api/v3/post/list``) and
comments (``/api/v3/comment/list``). A list goes on with ``page_cursor`` when the server gives a
``next_page`` (0.19), with ``page`` otherwise, up to ``pages`` pages, stopping at a page read
before. Bodies are Markdown, read as text; a comment's thread is its post, whose place in it
``comment.path`` gives. An optional access token (``credentials: {access_token: ENV_NAME}``, a
login JWT of an account on that server) is sent as ``Authorization: Bearer``; a 401/403 is
"credentials refused", a community the server does not know an error of the run.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from scrapy import Request
from scrapy.exceptions import CloseSpider
from scrapy.http import Response

from config.sources import Source
from crawlers.dates import parse_post_time
from crawlers.items import ForumPost
from crawlers.spiders.base import SourceSpider
from matching.markup import markdown_to_text

DEFAULT_PAGES = 3
PAGE_SIZE = 50  # the most Lemmy returns per page
# Lemmy answers its errors with 400 (0.18: all of them), 401, 403, 404 and 429, with a JSON
# body naming the error: the spider reads them, nothing is retried or taken for a wall.
_API_STATUS = {400, 401, 403, 404, 410, 429}
_LOGIN_ERRORS = {"not_logged_in", "incorrect_login"}
_COMMUNITY = re.compile(r"^!?([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9.-]{1,253}))?$")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif")
_VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov")


class LemmySpider(SourceSpider):
    name = "lemmy"  # type: ignore[misc]

    async def start(self) -> AsyncIterator[Request]:
        if self.searches(self.source):
            for term in self.search_terms():
                yield self._api(
                    "/api/v3/search",
                    {"q": term, "type_": "All", "sort": "New", "listing_type": "All"},
                    what=f"search {term!r}",
                    term=term,
                )
        for community in self._communities():
            what = f"!{community}"
            yield self._api(
                "/api/v3/post/list",
                {"community_name": community, "sort": "New"},
                what=f"posts of {what}",
            )
            yield self._api(
                "/api/v3/comment/list",
                {"community_name": community, "sort": "New", "type_": "All"},
                what=f"comments of {what}",
            )

    @classmethod
    def searches(cls, source: Source) -> bool:
        return bool(source.options.get("search_names", True))

    def _communities(self) -> list[str]:
        found = []
        for community in self.option("communities", []):
            match = _COMMUNITY.match(str(community).strip())
            if not match:
                raise ValueError(f"options.communities: {community!r} is not name or name@host")
            name, host = match.group(1), match.group(2)
            # name@this-server is a local community: Lemmy knows it by its name alone.
            local = not host or host.lower() == self.source.host.lower()
            found.append(name if local else f"{name}@{host}")
        return found

    def _api(
        self, path: str, params: dict[str, Any], what: str, page: int = 1, term: str = ""
    ) -> Request:
        headers = {"Accept": "application/json"}
        token = self.access_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return Request(
            self.api_url(path, {**params, "limit": PAGE_SIZE}),
            headers=headers,
            callback=self.parse_views,
            cb_kwargs={"what": what, "path": path, "params": params, "page": page, "term": term},
            meta={"handle_httpstatus_list": sorted(_API_STATUS)},
        )

    def _refused(self, response: Response, what: str, community: str) -> bool:
        error = _error(response)
        if response.status in (401, 403) or error in _LOGIN_ERRORS:
            self.token_refused(response.status, what)
        if response.status == 429 or error == "rate_limit_error":
            raise CloseSpider(f"rate limited by {self.source.host} (HTTP 429) for {what}")
        if response.status >= 400:
            # A community that is not there (any more) is a wrong source, not silence.
            reason = (
                f"no community !{community} on {self.source.host}"
                if error == "couldnt_find_community" and community
                else f"{what}: HTTP {response.status} {error} at {response.url}".strip()
            )
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("bodyguard/unknown_accounts")
            self.crawler.stats.set_value("bodyguard/unknown_account_reason", reason)
            self.logger.error("%s", reason)
            return True
        return False

    def parse_views(
        self,
        response: Response,
        what: str,
        path: str,
        params: dict[str, Any],
        page: int,
        term: str,
    ) -> Iterator[ForumPost | Request]:
        """Search answers, post lists and comment lists alike: ``posts`` and ``comments``."""
        if self._refused(response, what, str(params.get("community_name") or "")):
            return
        data = _json_dict(response)
        views = [
            *(("post", v) for v in _dicts(data.get("posts"))),
            *(("comment", v) for v in _dicts(data.get("comments"))),
        ]
        read = unchanged = 0
        for kind, view in views:
            post = self._post(view) if kind == "post" else self._comment(view)
            if post is None:
                continue
            read += 1
            key = f"{kind}:{view[kind]['id']}"
            if not self.is_new(key, post.content_sha256, term=term):
                unchanged += 1
            yield post
            self.mark_read(key, post.content_sha256, term=term)
        # A page whose every post was read before ends the list; the ones left out (deleted,
        # malformed) say nothing about that.
        all_seen = read > 0 and unchanged == read
        following = self._next_params(data, params, page, bool(views), all_seen)
        if following is not None:
            yield self._api(path, following, what=what, page=page + 1, term=term)

    def _next_params(
        self, data: dict[str, Any], params: dict[str, Any], page: int, any_: bool, all_seen: bool
    ) -> dict[str, Any] | None:
        if not any_ or page >= int(self.option("pages", DEFAULT_PAGES)):
            return None
        if all_seen and not self.full:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("bodyguard/skipped_unchanged")
            return None
        following = {k: v for k, v in params.items() if k not in ("page", "page_cursor")}
        # The cursor is only ever a query value of our own URL: it cannot name another host.
        cursor = data.get("next_page")
        if isinstance(cursor, str) and cursor:
            return {**following, "page_cursor": cursor}
        return {**following, "page": page + 1}

    def _post(self, view: dict[str, Any]) -> ForumPost | None:
        post = view.get("post")
        if not isinstance(post, dict) or not _is_id(post.get("id")):
            return None
        if post.get("deleted") or post.get("removed"):
            return None  # no longer published: Lemmy sends an emptied body
        title = self._parse_title(post)
        text, images = self._parse_text(post)
        videos = self._parse_video_urls(post)
        if not title and not text and not images and not videos:
            return None
        url = self._parse_permalink("post", post["id"])
        return ForumPost(
            source_id=self.source.id,
            url=url,
            thread_url=url,
            thread_title=title,
            text=text,
            author=self._parse_author(view),
            author_ref=self._parse_author_ref(view),
            posted_at=self._parse_posted_at(post),
            image_urls=_unique([*images, *self._parse_image_urls(post)]),
            video_urls=videos,
            is_thread_start=True,
        )

    def _comment(self, view: dict[str, Any]) -> ForumPost | None:
        comment, post = view.get("comment"), view.get("post")
        if not isinstance(comment, dict) or not isinstance(post, dict):
            return None
        if not _is_id(comment.get("id")) or comment.get("deleted") or comment.get("removed"):
            return None
        thread_url = self._parse_thread_url(comment, post)
        if thread_url is None:
            return None
        text, images = markdown_to_text(str(comment.get("content") or ""))
        if not text and not images:
            return None
        return ForumPost(
            source_id=self.source.id,
            url=self._parse_permalink("comment", comment["id"]),
            thread_url=thread_url,
            thread_title=self._parse_title(post),
            text=text,
            author=self._parse_author(view),
            author_ref=self._parse_author_ref(view),
            posted_at=self._parse_posted_at(comment),
            image_urls=_unique(images),
            is_thread_start=False,
        )

    def _parse_permalink(self, kind: str, thing_id: int) -> str:
        # The post or comment as this server shows it, whatever ``ap_id`` a federated one claims.
        return f"{self.source.base_url}/{kind}/{int(thing_id)}"

    def _parse_title(self, post: dict[str, Any]) -> str:
        return " ".join(str(post.get("name") or "").split())

    def _parse_thread_url(self, comment: dict[str, Any], post: dict[str, Any]) -> str | None:
        # ``path`` is "0.<top comment>.<reply>...<this comment>", computed by the server itself:
        # one that does not end with the comment, or whose post is not an id, is no thread
        # this server shows, and the comment is left out rather than filed under a wrong post.
        path = str(comment.get("path") or "").split(".")
        if (
            len(path) < 2
            or path[0] != "0"
            or not all(p.isdigit() for p in path)
            or path[-1] != str(comment["id"])
            or not _is_id(post.get("id"))
            or str(comment.get("post_id", post["id"])) != str(post["id"])
        ):
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("bodyguard/lemmy_bad_comment_paths")
            return None
        return self._parse_permalink("post", post["id"])

    def _parse_text(self, post: dict[str, Any]) -> tuple[str, list[str]]:
        body, images = markdown_to_text(str(post.get("body") or ""))
        parts = [body]
        link = str(post.get("url") or "")
        if link and not _is_image(link, post):
            parts.append(link)  # the link shared is part of what the post says
        # The linked page's title and summary, shown with the post (as link previews are).
        parts.extend(str(post.get(k) or "").strip() for k in ("embed_title", "embed_description"))
        return "\n\n".join(p for p in parts if p), images

    def _parse_image_urls(self, post: dict[str, Any]) -> list[str]:
        found = []
        link = str(post.get("url") or "")
        if _is_image(link, post):
            found.append(link)
        thumbnail = str(post.get("thumbnail_url") or "")
        if urlsplit(thumbnail).scheme in ("http", "https"):
            found.append(thumbnail)
        return found

    def _parse_video_urls(self, post: dict[str, Any]) -> list[str]:
        link = str(post.get("url") or "")
        if urlsplit(link).scheme not in ("http", "https"):
            return []
        kind = str(post.get("url_content_type") or "").lower()
        if kind.startswith("video/") or urlsplit(link).path.lower().endswith(_VIDEO_EXTENSIONS):
            return [link]
        return []

    def _parse_author(self, view: dict[str, Any]) -> str:
        creator = view.get("creator") or {}
        name = str(creator.get("name") or "")
        if not name:
            return ""
        # Home server of the account, from its ActivityPub id (a local one is this server).
        host = urlsplit(str(creator.get("actor_id") or "")).hostname or self.source.host
        return f"{name}@{host}"

    def _parse_author_ref(self, view: dict[str, Any]) -> str:
        # The profile as this server shows it (remote accounts too), never a page elsewhere.
        author = self._parse_author(view)
        return f"{self.source.base_url}/u/{quote(author, safe='@.')}" if author else ""

    def _parse_posted_at(self, thing: dict[str, Any]) -> datetime | None:
        # Lemmy 0.18 writes UTC without a zone ("2023-06-18T19:22:51.244313"), 0.19 adds "Z".
        moment = parse_post_time(str(thing.get("published") or ""), zone="UTC")
        return moment.astimezone(UTC) if moment else None


def _is_image(url: str, post: dict[str, Any]) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    kind = str(post.get("url_content_type") or "").lower()
    return kind.startswith("image/") or parts.path.lower().endswith(_IMAGE_EXTENSIONS)


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _unique(urls: list[str]) -> list[str]:
    return list(dict.fromkeys(urls))


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _json_dict(response: Response) -> dict[str, Any]:
    try:
        data = json.loads(response.text) if response.body else None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error(response: Response) -> str:
    error = _json_dict(response).get("error") if response.status >= 400 else None
    return error if isinstance(error, str) else ""
