"""Mastodon and every server speaking its client API (Pleroma, Akkoma, GoToSocial...).

What is read, from the source's options: hashtag timelines (``hashtags``), the public or local
timeline (``timelines``: ``public``, ``local``), the statuses of watched accounts (``accounts``:
``name`` or ``name@domain``), and, when an access token is configured
(``credentials: {access_token: ENV_NAME}``), ``/api/v2/search?type=statuses`` for every watched
name (servers answer full-text search to signed-in clients only). Pages follow the ``Link``
header (``rel="next"`` carries ``max_id``), on the source's own host only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from scrapy import Request
from scrapy.exceptions import CloseSpider
from scrapy.http import Response

from config.sources import Source
from crawlers.dates import parse_post_time
from crawlers.items import ForumPost, primary_language
from crawlers.spiders.base import SourceSpider
from matching.html import html_to_text

DEFAULT_PAGES = 3
PAGE_SIZE = 40  # the most Mastodon returns per timeline page
# Mastodon allows 300 requests per 5 minutes per client by default and says how many are left
# in X-RateLimit-Remaining: below this, no further page is asked for in this run.
RATE_LIMIT_FLOOR = 10
_API_STATUS = {401, 403, 404, 410, 422, 429}


class MastodonSpider(SourceSpider):
    name = "mastodon"  # type: ignore[misc]

    async def start(self) -> AsyncIterator[Request]:
        for tag in self.option("hashtags", []):
            path = f"/api/v1/timelines/tag/{quote(str(tag).lstrip('#'), safe='')}"
            yield self._api(path, {"limit": PAGE_SIZE}, what=f"#{tag}")
        for timeline in self.option("timelines", []):
            if timeline not in ("public", "local"):
                raise ValueError(f"options.timelines: {timeline!r} is not public or local")
            params = (
                {"limit": PAGE_SIZE, "local": "true"}
                if timeline == "local"
                else {"limit": PAGE_SIZE}
            )
            yield self._api("/api/v1/timelines/public", params, what=f"{timeline} timeline")
        for account in self.option("accounts", []):
            acct = str(account).lstrip("@")
            yield self._api(
                "/api/v1/accounts/search",
                {"q": acct, "limit": 5},
                callback=self.parse_accounts,
                what=f"@{acct}",
                cb_kwargs={"acct": acct},
            )
        token = self.access_token()
        if token:
            for term in self.search_terms():
                yield self._api(
                    "/api/v2/search",
                    {"q": f'"{term}"', "type": "statuses", "resolve": "false", "limit": PAGE_SIZE},
                    callback=self.parse_search,
                    what=f"search {term!r}",
                )

    @classmethod
    def searches(cls, source: Source) -> bool:
        # Only signed-in clients may search statuses: without a token no name is searched.
        return bool((source.credentials or {}).get("access_token"))

    def _api(
        self,
        path: str,
        params: dict[str, Any],
        what: str,
        callback: Any = None,
        cb_kwargs: dict[str, Any] | None = None,
    ) -> Request:
        return self._request(self.api_url(path, params), what, callback, cb_kwargs)

    def _request(
        self, url: str, what: str, callback: Any = None, cb_kwargs: dict[str, Any] | None = None
    ) -> Request:
        headers = {"Accept": "application/json"}
        token = self.access_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return Request(
            url,
            headers=headers,
            callback=callback or self.parse_statuses,
            cb_kwargs={"what": what, "page": 1, **(cb_kwargs or {})},
            meta={"handle_httpstatus_list": sorted(_API_STATUS)},
        )

    def _refused(self, response: Response, what: str) -> bool:
        if response.status in (401, 403):
            self.token_refused(response.status, what)
        if response.status == 429:
            raise CloseSpider(f"rate limited by {self.source.host} (HTTP 429) for {what}")
        if response.status >= 400:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("bodyguard/unknown_accounts")
            self.crawler.stats.set_value(
                "bodyguard/unknown_account_reason",
                f"{what}: HTTP {response.status} at {response.url}",
            )
            self.logger.error("%s answered HTTP %s for %s", self.source.host, response.status, what)
            return True
        return False

    def parse_accounts(
        self, response: Response, what: str, page: int, acct: str
    ) -> Iterator[Request]:
        if self._refused(response, what):
            return
        wanted = acct.lower()
        local_host = self.source.host.lower()
        for account in _json_list(response):
            found = str(account.get("acct", "")).lower()
            if found == wanted or f"{found}@{local_host}" == wanted:
                yield self._api(
                    f"/api/v1/accounts/{quote(str(account['id']), safe='')}/statuses",
                    {"limit": PAGE_SIZE},
                    what=what,
                )
                return
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("bodyguard/unknown_accounts")
        self.crawler.stats.set_value("bodyguard/unknown_account_reason", f"no account {what}")
        self.logger.error("no account %s on %s", what, self.source.host)

    def parse_search(self, response: Response, what: str, page: int) -> Iterator[ForumPost]:
        if self._refused(response, what):
            return
        data = json.loads(response.text) if response.body else {}
        for status in data.get("statuses", []) if isinstance(data, dict) else []:
            post = self._post(status)
            if post is not None:
                yield post

    def parse_statuses(
        self, response: Response, what: str, page: int
    ) -> Iterator[ForumPost | Request]:
        if self._refused(response, what):
            return
        statuses = _json_list(response)
        unchanged = 0
        for status in statuses:
            post = self._post(status)
            if post is None:
                continue
            key = f"status:{status.get('id')}"
            if not self.is_new(key, post.content_sha256):
                # Read in full by an earlier run, unchanged since: its hits and corpus record
                # exist already.
                unchanged += 1
                continue
            yield post
            self.mark_read(key, post.content_sha256)
        following = self._next_page(response, page, unchanged == len(statuses))
        if following:
            yield self._request(following, what, cb_kwargs={"page": page + 1})

    def _next_page(self, response: Response, page: int, all_seen: bool) -> str | None:
        assert self.crawler.stats is not None
        if page >= int(self.option("pages", DEFAULT_PAGES)):
            return None
        if all_seen and not self.full:
            self.crawler.stats.inc_value("bodyguard/skipped_unchanged")
            return None
        remaining = response.headers.get(b"X-RateLimit-Remaining")
        if remaining is not None and remaining.isdigit() and int(remaining) < RATE_LIMIT_FLOOR:
            self.crawler.stats.inc_value("bodyguard/rate_limit_pauses")
            self.logger.warning(
                "%s: %s requests left until %s; the next run goes on",
                self.source.host,
                int(remaining),
                (response.headers.get(b"X-RateLimit-Reset") or b"?").decode("latin-1"),
            )
            return None
        url = _link(response, "next")
        # A server chooses its Link header: it never sends us to another host.
        if url is None or urlsplit(url).hostname != urlsplit(self.source.base_url).hostname:
            return None
        return url

    def _post(self, status: dict[str, Any]) -> ForumPost | None:
        shown = status.get("reblog") or status
        if not isinstance(shown, dict) or not shown.get("id"):
            return None
        text = self._parse_text(shown)
        images, videos = self._parse_media(shown)
        if not text and not images and not videos:
            return None
        url = self._parse_permalink(shown)
        return ForumPost(
            source_id=self.source.id,
            url=url,
            thread_url=url,
            thread_title="",
            text=text,
            author=self._parse_author(shown),
            posted_at=self._parse_posted_at(shown),
            image_urls=images,
            video_urls=videos,
            is_thread_start=True,
            language=self._parse_language(shown),
        )

    def _parse_text(self, status: dict[str, Any]) -> str:
        parts = [status.get("spoiler_text") or "", status.get("content") or ""]
        for attachment in status.get("media_attachments") or []:
            parts.append(attachment.get("description") or "")
        poll = status.get("poll") or {}
        parts.extend(option.get("title") or "" for option in poll.get("options") or [])
        return "\n\n".join(t for t in (html_to_text(p) for p in parts if p) if t)

    def _parse_language(self, status: dict[str, Any]) -> str:
        # As the author's client declared it (ISO 639-1, or null), not as the text reads.
        return primary_language(status.get("language"))

    def _parse_author(self, status: dict[str, Any]) -> str:
        account = status.get("account") or {}
        acct = str(account.get("acct") or account.get("username") or "")
        if acct and "@" not in acct:
            acct = f"{acct}@{self.source.host}"  # local accounts are name@this-server
        display = html_to_text(str(account.get("display_name") or ""))
        return (
            f"{display} (@{acct})" if display and acct else display or (f"@{acct}" if acct else "")
        )

    def _parse_posted_at(self, status: dict[str, Any]) -> datetime | None:
        moment = parse_post_time(str(status.get("created_at") or ""))
        return moment.astimezone(UTC) if moment else None

    def _parse_permalink(self, status: dict[str, Any]) -> str:
        # The status as this server shows it (remote ones too): a page on the source's host,
        # whatever URL the status claims for itself.
        account = status.get("account") or {}
        acct = quote(str(account.get("acct") or account.get("username") or "unknown"), safe="@.")
        return urljoin(self.source.base_url + "/", f"@{acct}/{quote(str(status['id']), safe='')}")

    def _parse_media(self, status: dict[str, Any]) -> tuple[list[str], list[str]]:
        images: list[str] = []
        videos: list[str] = []
        for attachment in status.get("media_attachments") or []:
            url = attachment.get("url") or attachment.get("remote_url") or ""
            if urlsplit(url).scheme not in ("http", "https"):
                continue
            kind = attachment.get("type")
            if kind == "image":
                images.append(url)
            elif kind in ("video", "gifv"):
                videos.append(url)
        return images, videos


def _json_list(response: Response) -> list[dict[str, Any]]:
    data = json.loads(response.text) if response.body else []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _link(response: Response, rel: str) -> str | None:
    header = (response.headers.get(b"Link") or b"").decode("latin-1")
    for part in header.split(","):
        if f'rel="{rel}"' in part and "<" in part and ">" in part:
            return part[part.index("<") + 1 : part.index(">")].strip()
    return None
