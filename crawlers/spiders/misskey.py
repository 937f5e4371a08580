"""Misskey and the servers speaking its API (Firefish, Sharkey, Iceshrimp, CherryPick...).

Every call is a ``POST /api/<endpoint>`` with a JSON body, as Misskey's API wants. What is read,
from the source's options: ``notes/search`` for every watched name (``search_names: false``
turns it off on a server whose policy refuses search), the notes of hashtags (``hashtags``,
``notes/search-by-tag``) and of watched accounts (``accounts``: ``name`` or ``name@host``,
found with ``users/show``, read with ``users/notes``). Each listing goes back with ``untilId``
(the oldest note of the page) up to ``pages`` pages, stopping at a page read before. An access
token (``credentials: {access_token: ENV_NAME}``) is sent as ``i`` in the body, Misskey's way;
a 401/403 is "credentials refused", an account the server does not know an error of the run.
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
from crawlers.items import ForumPost, primary_language
from crawlers.spiders.base import SourceSpider
from matching.markup import mfm_to_text

DEFAULT_PAGES = 3
PAGE_SIZE = 100  # the most Misskey returns per call of these endpoints
# Misskey answers API errors with 400 (NO_SUCH_USER, UNAVAILABLE...), 401, 403 and 429; they
# are read by the spider, not retried or taken for an anti-bot wall.
_API_STATUS = {400, 401, 403, 404, 410, 429}
# Note and user ids: aid, aidx, meid, ulid, objectid are all short runs of letters and digits.
_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
_ACCOUNT = re.compile(r"^@?([A-Za-z0-9_]{1,128})(?:@([A-Za-z0-9.-]{1,253}))?$")


class MisskeySpider(SourceSpider):
    name = "misskey"  # type: ignore[misc]

    async def start(self) -> AsyncIterator[Request]:
        if self.searches(self.source):
            for term in self.search_terms():
                yield self._call(
                    "notes/search",
                    {"query": term},
                    what=f"search {term!r}",
                    cb_kwargs={"term": term},
                )
        for tag in self.option("hashtags", []):
            tag = str(tag).lstrip("#")
            yield self._call("notes/search-by-tag", {"tag": tag}, what=f"#{tag}")
        for account in self.option("accounts", []):
            username, host = self._account(str(account))
            handle = f"@{username}" + (f"@{host}" if host else "")
            yield self._call(
                "users/show",
                {"username": username, "host": host},
                what=handle,
                callback=self.parse_user,
            )

    @classmethod
    def searches(cls, source: Source) -> bool:
        return bool(source.options.get("search_names", True))

    def _account(self, account: str) -> tuple[str, str | None]:
        match = _ACCOUNT.match(account.strip())
        if not match:
            raise ValueError(f"options.accounts: {account!r} is not name or name@host")
        username, host = match.group(1), match.group(2)
        # name@this-server is a local account: Misskey finds it with host null, not its name.
        if host and host.lower() == self.source.host.lower():
            host = None
        return username, host

    def _call(
        self,
        endpoint: str,
        params: dict[str, Any],
        what: str,
        callback: Any = None,
        cb_kwargs: dict[str, Any] | None = None,
        page: int = 1,
    ) -> Request:
        body = dict(params)
        if endpoint != "users/show":
            body["limit"] = PAGE_SIZE
        # The server reads the body only; the same parameters in the URL (never the token) make
        # each call's URL its own, which is how evidence finds and names the response a note
        # came from (two searches at one URL would share one capture).
        url = self.api_url(f"/api/{endpoint}", {k: v for k, v in body.items() if v is not None})
        token = self.access_token()
        if token:
            body["i"] = token
        return Request(
            url,
            method="POST",
            body=json.dumps(body),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            callback=callback or self.parse_notes,
            cb_kwargs={
                "what": what,
                "endpoint": endpoint,
                "params": params,
                "page": page,
                **(cb_kwargs or {}),
            },
            meta={"handle_httpstatus_list": sorted(_API_STATUS)},
        )

    def _refused(self, response: Response, what: str) -> bool:
        if response.status in (401, 403):
            self.token_refused(response.status, what)
        if response.status == 429:
            raise CloseSpider(f"rate limited by {self.source.host} (HTTP 429) for {what}")
        if response.status >= 400:
            code = _error_code(response)
            if code == "NO_SUCH_USER":
                self._unknown(f"no account {what} on {self.source.host}")
            else:
                self._unknown(f"{what}: HTTP {response.status} {code} at {response.url}".strip())
            return True
        return False

    def _unknown(self, reason: str) -> None:
        # A wrong account (or an endpoint this server refuses) is a wrong source, not silence.
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("bodyguard/unknown_accounts")
        self.crawler.stats.set_value("bodyguard/unknown_account_reason", reason)
        self.logger.error("%s", reason)

    def parse_user(
        self, response: Response, what: str, endpoint: str, params: dict[str, Any], page: int
    ) -> Iterator[Request]:
        if self._refused(response, what):
            return
        user = _json_dict(response)
        user_id = str(user.get("id") or "")
        found = str(user.get("username") or "").lower()
        if not _ID.match(user_id) or found != str(params["username"]).lower():
            self._unknown(f"no account {what} on {self.source.host}")
            return
        yield self._call("users/notes", {"userId": user_id}, what=what)

    def parse_notes(
        self,
        response: Response,
        what: str,
        endpoint: str,
        params: dict[str, Any],
        page: int,
        term: str = "",
    ) -> Iterator[ForumPost | Request]:
        if self._refused(response, what):
            return
        notes = _json_list(response)
        read = unchanged = 0
        for note in notes:
            post = self._post(note)
            if post is None:
                continue
            read += 1
            key = f"note:{self._parse_shown(note)['id']}"
            if not self.is_new(key, post.content_sha256, term=term):
                unchanged += 1
            yield post
            self.mark_read(key, post.content_sha256, term=term)
        until = self._next_until(notes, page, all_seen=read > 0 and unchanged == read)
        if until:
            yield self._call(
                endpoint,
                {**params, "untilId": until},
                what=what,
                cb_kwargs={"term": term} if term else None,
                page=page + 1,
            )

    def _next_until(self, notes: list[dict[str, Any]], page: int, all_seen: bool) -> str | None:
        # Misskey answers newest first: the last note of a page is where the next one starts.
        # An empty page is the end (a short one is not: the server filters muted notes after
        # its query, so a page can be short with older notes left).
        if not notes or page >= int(self.option("pages", DEFAULT_PAGES)):
            return None
        if all_seen and not self.full:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("bodyguard/skipped_unchanged")
            return None
        oldest = str(notes[-1].get("id") or "")
        return oldest if _ID.match(oldest) else None

    def _post(self, note: dict[str, Any]) -> ForumPost | None:
        shown = self._parse_shown(note)
        if not _ID.match(str(shown.get("id") or "")):
            return None
        text = self._parse_text(shown)
        images, videos, sizes = self._parse_files(shown)
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
            author_ref=self._parse_author_ref(shown),
            posted_at=self._parse_posted_at(shown),
            image_urls=images,
            video_urls=videos,
            image_sizes=sizes,
            is_thread_start=True,
            language=self._parse_language(shown),
        )

    def _parse_shown(self, note: dict[str, Any]) -> dict[str, Any]:
        # A pure renote (no text, no file of its own) shows the note it renotes; a quote is a
        # note of its own.
        renote = note.get("renote")
        if isinstance(renote, dict) and not note.get("text") and not note.get("files"):
            return renote
        return note

    def _parse_text(self, note: dict[str, Any]) -> str:
        parts = [str(note.get("cw") or ""), str(note.get("text") or "")]
        for file in note.get("files") or []:
            if isinstance(file, dict):
                parts.append(str(file.get("comment") or ""))  # alt text
        poll = note.get("poll") or {}
        if isinstance(poll, dict):
            parts.extend(
                str(choice.get("text") or "")
                for choice in poll.get("choices") or []
                if isinstance(choice, dict)
            )
        return "\n\n".join(t for t in (mfm_to_text(p) for p in parts if p) if t)

    def _parse_author(self, note: dict[str, Any]) -> str:
        user = note.get("user") or {}
        handle = self._handle(user)
        name = " ".join(str(user.get("name") or "").split())
        return f"{name} ({handle})" if name and handle else name or handle

    def _handle(self, user: dict[str, Any]) -> str:
        username = str(user.get("username") or "")
        if not username:
            return ""
        # Misskey writes host null for its own users: they are name@this-server.
        return f"@{username}@{user.get('host') or self.source.host}"

    def _parse_author_ref(self, note: dict[str, Any]) -> str:
        # The profile as this server shows it (remote users too), never a page elsewhere.
        user = note.get("user") or {}
        username = str(user.get("username") or "")
        if not username:
            return ""
        host = user.get("host")
        handle = f"@{username}@{host}" if host else f"@{username}"
        return f"{self.source.base_url}/{quote(handle, safe='@.')}"

    def _parse_posted_at(self, note: dict[str, Any]) -> datetime | None:
        moment = parse_post_time(str(note.get("createdAt") or ""), zone="UTC")
        return moment.astimezone(UTC) if moment else None

    def _parse_permalink(self, note: dict[str, Any]) -> str:
        # The note as this server shows it, whatever ``url``/``uri`` a remote note claims.
        return f"{self.source.base_url}/notes/{quote(str(note['id']), safe='')}"

    def _parse_language(self, note: dict[str, Any]) -> str:
        # Misskey has no language field; forks that add one (Sharkey, Firefish) call it "lang".
        return primary_language(note.get("lang"))

    def _parse_files(self, note: dict[str, Any]) -> tuple[list[str], list[str], dict[str, int]]:
        images: list[str] = []
        videos: list[str] = []
        sizes: dict[str, int] = {}
        for file in note.get("files") or []:
            if not isinstance(file, dict):
                continue
            # File URLs have no extension (webpublic-<uuid>): the type says what they are.
            url = str(file.get("url") or "")
            if urlsplit(url).scheme not in ("http", "https"):
                continue
            kind = str(file.get("type") or "").lower()
            if kind.startswith("image/"):
                images.append(url)
                area = _area(file.get("properties"))
                if area:
                    sizes[url] = area
            elif kind.startswith("video/"):
                videos.append(url)
        return images, videos, sizes


def _area(properties: object) -> int:
    if not isinstance(properties, dict):
        return 0
    width, height = properties.get("width"), properties.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width * height
    return 0


def _json(response: Response) -> Any:
    try:
        return json.loads(response.text) if response.body else None
    except ValueError:
        return None


def _json_list(response: Response) -> list[dict[str, Any]]:
    data = _json(response)
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _json_dict(response: Response) -> dict[str, Any]:
    data = _json(response)
    return data if isinstance(data, dict) else {}


def _error_code(response: Response) -> str:
    error = _json_dict(response).get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if isinstance(code, str) else ""
