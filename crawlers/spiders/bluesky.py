"""Bluesky, and any AT Protocol service speaking the ``app.bsky`` XRPC API, through ``/xrpc``.

What is read, from the source: ``app.bsky.feed.searchPosts`` for every watched name, which
requires a signed-in account since 2025, and ``app.bsky.feed.getAuthorFeed`` for the watched
accounts of ``options.accounts`` (handles or DIDs). ``options.pages`` bounds the cursor pages
per search and per account (default 3).

Credentials (``credentials: {identifier: ENV_NAME, app_password: ENV_NAME}``) name the
environment variables holding the account's handle and an app password (Settings > Privacy and
security > App passwords on bsky.app; never the account's own password). With them, one session
is created per crawl (``com.atproto.server.createSession``: the service allows few logins a
day, so never one per request) and refreshed (``com.atproto.server.refreshSession``) when the
service says the access token expired; every request is then signed with it. Without them, no
name is searched and the watched accounts are read signed out, which the public AppView
(``base_url: https://public.api.bsky.app``) answers.

Secrets go to the source's own host only: the session's ``didDoc`` names the account's PDS,
which we never follow, and API requests are never redirected. A refused app password or token
ends the run as "credentials refused", never as "no results".
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from scrapy import Request
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from twisted.python.failure import Failure

from config.environment import ConfigurationError, secret
from config.sources import Source
from crawlers.dates import parse_post_time
from crawlers.items import ForumPost, primary_language
from crawlers.spiders.base import SourceSpider

DEFAULT_PAGES = 3
PAGE_SIZE = 50  # both methods allow up to 100; 50 keeps one answer small
# Below this many requests left in the service's window (RateLimit-Remaining), no further page
# is asked for in this run: the next run goes on, the account is not locked out meanwhile.
RATE_LIMIT_FLOOR = 10
# A service answering ExpiredToken again right after a refresh is refusing us, not expiring.
MAX_REFRESHES = 3
WEB = "https://bsky.app"
SESSION_CREATE = "/xrpc/com.atproto.server.createSession"
SESSION_REFRESH = "/xrpc/com.atproto.server.refreshSession"
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
AUTHOR_FEED = "/xrpc/app.bsky.feed.getAuthorFeed"
# XRPC errors come as JSON bodies with these statuses; anything else is a failed request.
_API_STATUS = [400, 401, 403, 429]
_GENERATION = "bodyguard_bluesky_session"
# A handle is a domain name, a DID is did:method:id, a record key is at most 512 safe characters
# (atproto.com/specs): a post view carrying anything else is not put into a URL of ours.
_HANDLE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_DID = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]{1,2048}$")
_RKEY = re.compile(r"^[A-Za-z0-9._:~-]{1,512}$")
_POST_URI = re.compile(r"^at://([^/]+)/app\.bsky\.feed\.post/([^/?#]+)$")
_LINK = "app.bsky.richtext.facet#link"


@dataclass
class _Session:
    access: str
    refresh: str
    generation: int


class BlueskySpider(SourceSpider):
    name = "bluesky"  # type: ignore[misc]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session: _Session | None = None
        # Requests answered ExpiredToken, sent again once the session is refreshed.
        self._waiting: list[Request] = []
        self._refreshing = False
        self._refreshes = 0

    # Where to go.

    async def start(self) -> AsyncIterator[Request]:
        try:
            login = self._login()
        except ConfigurationError as exc:
            raise CloseSpider(f"credentials missing for {self.source.host}: {exc}") from None
        if login is None:
            for request in self._reads():
                yield request
            return
        identifier, password = login
        yield Request(
            self.api_url(SESSION_CREATE),
            method="POST",
            body=json.dumps({"identifier": identifier, "password": password}),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            callback=self.parse_session,
            errback=self._no_session,
            cb_kwargs={"what": "createSession"},
            meta=_API_META,
            dont_filter=True,
        )

    @classmethod
    def searches(cls, source: Source) -> bool:
        # searchPosts answers signed-in clients only: without an app password no name is searched.
        credentials = source.credentials or {}
        return bool(credentials.get("identifier") and credentials.get("app_password"))

    def _login(self) -> tuple[str, str] | None:
        if not self.searches(self.source):
            return None
        credentials = self.source.credentials
        return secret(credentials["identifier"]), secret(credentials["app_password"])

    def _reads(self) -> Iterator[Request]:
        for account in self.option("accounts", []):
            actor = str(account).strip().lstrip("@")
            yield self._api(
                AUTHOR_FEED, {"actor": actor, "limit": PAGE_SIZE}, f"@{actor}", self.parse_feed
            )
        if self._session is not None:
            for term in self.search_terms():
                yield self._api(
                    SEARCH,
                    {"q": f'"{term}"', "sort": "latest", "limit": PAGE_SIZE},
                    # Never the name itself: run messages and logs are read by staff and kept.
                    "a name search",
                    self.parse_search,
                    term=term,
                )

    def _api(
        self, path: str, params: dict[str, Any], what: str, callback: Any, **kwargs: Any
    ) -> Request:
        request = Request(
            self.api_url(path, params),
            headers={"Accept": "application/json"},
            callback=callback,
            errback=self._failed_request,
            cb_kwargs={"what": what, "page": 1, **kwargs},
            meta=dict(_API_META),
        )
        return self._signed(request)

    def _signed(self, request: Request) -> Request:
        """``request`` carrying the current session's access token (none when signed out)."""
        if self._session is None:
            return request
        signed = request.replace(dont_filter=True)
        signed.headers["Authorization"] = f"Bearer {self._session.access}"
        signed.meta[_GENERATION] = self._session.generation
        return signed

    # The session.

    def parse_session(self, response: Response, what: str) -> Iterator[Request]:
        self._refused(response, what)
        tokens = _json(response)
        access, refresh = tokens.get("accessJwt"), tokens.get("refreshJwt")
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            raise CloseSpider(f"{self.source.host} answered {what} without a session")
        generation = self._session.generation + 1 if self._session else 1
        first = self._session is None
        # The answer's didDoc names the account's own PDS: never followed, so the tokens are
        # only ever sent to the host the source declares.
        self._session = _Session(access, refresh, generation)
        if first:
            yield from self._reads()
            return
        self._refreshing = False
        waiting, self._waiting = self._waiting, []
        for request in waiting:
            yield self._signed(request)

    def _refresh(self, request: Request) -> Iterator[Request]:
        """Sends ``request`` again with a fresh access token, refreshing the session once for
        all the requests that found it expired meanwhile."""
        assert self._session is not None
        if request.meta.get(_GENERATION, 0) < self._session.generation:
            yield self._signed(request)  # signed before the last refresh: already renewed
            return
        self._waiting.append(request)
        if self._refreshing:
            return
        self._refreshes += 1
        if self._refreshes > MAX_REFRESHES:
            raise CloseSpider(
                f"credentials refused by {self.source.host}: the access token expired again "
                f"after {MAX_REFRESHES} refreshes"
            )
        self._refreshing = True
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("bodyguard/session_refreshes")
        yield Request(
            self.api_url(SESSION_REFRESH),
            method="POST",
            headers={
                "Accept": "application/json",
                "Authorization": f"Bearer {self._session.refresh}",
            },
            callback=self.parse_session,
            errback=self._no_session,
            cb_kwargs={"what": "refreshSession"},
            meta=_API_META,
            dont_filter=True,
        )

    def _no_session(self, failure: Failure) -> None:
        # Without a session nothing is searched: the run fails, it does not pass for quiet.
        raise CloseSpider(f"no session with {self.source.host}: {failure.value}"[:300])

    def _expired(self, response: Response) -> bool:
        return (
            self._session is not None
            and response.status in (400, 401)
            and _json(response).get("error") == "ExpiredToken"
        )

    def _refused(self, response: Response, what: str) -> None:
        """Ends the run on an answer that refuses us as a client (credentials, rate limit)."""
        if response.status == 429:
            raise CloseSpider(f"rate limited by {self.source.host} (HTTP 429) for {what}")
        session_call = what in ("createSession", "refreshSession")
        if response.status in (401, 403) or (session_call and response.status == 400):
            error = _xrpc_error(response)
            if self._session is None and not session_call:
                raise CloseSpider(
                    f"authentication required by {self.source.host} (HTTP {response.status}"
                    f"{error}) for {what}: set the source's credentials (identifier, "
                    "app_password) or read the public AppView"
                )
            raise CloseSpider(
                f"credentials refused by {self.source.host} (HTTP {response.status}{error}) "
                f"for {what}: the app password named in the source's credentials was revoked "
                "or the account cannot sign in"
            )

    def _failed_request(self, failure: Failure) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("bodyguard/failed_requests")
        request = getattr(failure, "request", None)
        what = request.cb_kwargs.get("what", "") if request is not None else ""
        self.logger.error("%s: %s failed: %s", self.source.host, what, failure.value)

    # What comes back.

    def parse_feed(self, response: Response, what: str, page: int) -> Iterator[ForumPost | Request]:
        if self._expired(response):
            assert response.request is not None
            yield from self._refresh(response.request)
            return
        self._refused(response, what)
        if response.status == 400:
            self._unknown_account(response, what)
            return
        data = _json(response)
        views = [item.get("post") for item in _dicts(data.get("feed"))]
        yield from self._posts(response, data, views, what, page, self.parse_feed)

    def parse_search(
        self, response: Response, what: str, page: int, term: str
    ) -> Iterator[ForumPost | Request]:
        if self._expired(response):
            assert response.request is not None
            yield from self._refresh(response.request)
            return
        self._refused(response, what)
        if response.status == 400:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("bodyguard/failed_requests")
            self.logger.error(
                "%s refused %s (HTTP 400%s)", self.source.host, what, _xrpc_error(response)
            )
            return
        data = _json(response)
        views = data.get("posts")
        yield from self._posts(response, data, _dicts(views), what, page, self.parse_search, term)

    def _unknown_account(self, response: Response, what: str) -> None:
        # "Profile not found" (InvalidRequest), a blocked or a taken-down account: a watched
        # account we cannot read is a wrong source, never a quiet one.
        assert self.crawler.stats is not None
        reason = f"{what}: HTTP {response.status}{_xrpc_error(response)}"
        self.crawler.stats.inc_value("bodyguard/unknown_accounts")
        self.crawler.stats.set_value("bodyguard/unknown_account_reason", reason)
        self.logger.error("%s answered for %s", self.source.host, reason)

    def _posts(
        self,
        response: Response,
        data: dict[str, Any],
        views: Iterable[Any],
        what: str,
        page: int,
        callback: Any,
        term: str = "",
    ) -> Iterator[ForumPost | Request]:
        read = unchanged = 0
        for view in views:
            post = self._post(view) if isinstance(view, dict) else None
            if post is None:
                continue
            read += 1
            key = f"post:{view['uri']}"
            # Search results are remembered per name: a newly watched name reads them all.
            if not self.is_new(key, post.content_sha256, term=term):
                unchanged += 1
                continue
            yield post
            self.mark_read(key, post.content_sha256, term=term)
        cursor = data.get("cursor")
        following = self._next_page(response, cursor, page, all_seen=0 < read == unchanged)
        if following is not None:
            asked = urlsplit(response.url)
            params = [(k, v) for k, v in parse_qsl(asked.query) if k != "cursor"]
            params.append(("cursor", following))
            path = asked.path.removeprefix(urlsplit(self.source.base_url).path.rstrip("/"))
            # A cursor is the service's opaque word: sent back as a parameter, nothing more.
            extra = {"term": term} if term else {}
            yield self._api(path, dict(params), what, callback, page=page + 1, **extra)

    def _next_page(self, response: Response, cursor: Any, page: int, all_seen: bool) -> str | None:
        assert self.crawler.stats is not None
        if not isinstance(cursor, str) or not cursor:  # no cursor: the end
            return None
        if page >= int(self.option("pages", DEFAULT_PAGES)):
            return None
        if all_seen and not self.full:
            self.crawler.stats.inc_value("bodyguard/skipped_unchanged")
            return None
        remaining = response.headers.get(b"RateLimit-Remaining")
        if remaining is not None and remaining.isdigit() and int(remaining) < RATE_LIMIT_FLOOR:
            self.crawler.stats.inc_value("bodyguard/rate_limit_pauses")
            self.logger.warning(
                "%s: %s requests left in this window; the next run goes on",
                self.source.host,
                int(remaining),
            )
            return None
        return cursor

    # One post.

    def _post(self, view: dict[str, Any]) -> ForumPost | None:
        record = view.get("record")
        url = self._parse_permalink(view)
        if not isinstance(record, dict) or url is None:
            return None
        images, videos = self._parse_media(view.get("embed"))
        text = self._parse_text(record, view.get("embed"))
        if not text and not images and not videos:
            return None
        return ForumPost(
            source_id=self.source.id,
            url=url,
            thread_url=self._parse_thread(record) or url,
            thread_title="",
            text=text,
            author=self._parse_author(view),
            author_ref=self._parse_author_ref(view),
            posted_at=self._parse_posted_at(view),
            image_urls=images,
            image_sizes=self._parse_image_sizes(view.get("embed")),
            video_urls=videos,
            is_thread_start=not record.get("reply"),
            language=self._parse_language(record),
        )

    def _parse_text(self, record: dict[str, Any], embed: Any) -> str:
        text = record.get("text")
        parts = [_expand_links(text if isinstance(text, str) else "", record.get("facets"))]
        parts.extend(_alt_texts(embed))
        return "\n\n".join(p.strip() for p in parts if p and p.strip())

    def _parse_author(self, view: dict[str, Any]) -> str:
        author = _dict(view.get("author"))
        handle = str(author.get("handle") or "")
        display = " ".join(str(author.get("displayName") or "").split())
        if display and handle:
            return f"{display} (@{handle})"
        return display or (f"@{handle}" if handle else "")

    def _parse_author_ref(self, view: dict[str, Any]) -> str:
        # The DID, not the handle: a handle can be given up and taken by someone else.
        did = str(_dict(view.get("author")).get("did") or "")
        return f"{WEB}/profile/{did}" if _DID.match(did) else ""

    def _parse_posted_at(self, view: dict[str, Any]) -> datetime | None:
        record = _dict(view.get("record"))
        moment = parse_post_time(str(record.get("createdAt") or "")) or parse_post_time(
            str(view.get("indexedAt") or "")
        )
        return moment.astimezone(UTC) if moment else None

    def _parse_permalink(self, view: dict[str, Any]) -> str | None:
        # The post on bsky.app, whatever service the API answered from: the page people see,
        # and the one a removal request names.
        found = _POST_URI.match(str(view.get("uri") or ""))
        if found is None or not _RKEY.match(found.group(2)):
            return None
        handle = str(_dict(view.get("author")).get("handle") or "")
        owner = found.group(1)
        if _HANDLE.match(handle) and handle != "handle.invalid" and "." in handle:
            owner = handle
        elif not _DID.match(owner):
            return None
        return f"{WEB}/profile/{quote(owner, safe=':.')}/post/{quote(found.group(2), safe='')}"

    def _parse_thread(self, record: dict[str, Any]) -> str | None:
        # A reply belongs to its thread's first post; only its DID is known here, which
        # bsky.app shows as well as a handle.
        root = _dict(_dict(record.get("reply")).get("root")).get("uri")
        found = _POST_URI.match(str(root or ""))
        if found is None or not _DID.match(found.group(1)) or not _RKEY.match(found.group(2)):
            return None
        return f"{WEB}/profile/{quote(found.group(1), safe=':')}/post/{found.group(2)}"

    def _parse_media(self, embed: Any) -> tuple[list[str], list[str]]:
        images: list[str] = []
        videos: list[str] = []
        for part in _media_views(embed):
            kind = part.get("$type")
            if kind == "app.bsky.embed.images#view":
                images += [str(i.get("fullsize") or "") for i in _dicts(part.get("images"))]
            elif kind == "app.bsky.embed.video#view":
                videos.append(str(part.get("playlist") or ""))
                # The frame Bluesky shows before playing: an image like any other.
                images.append(str(part.get("thumbnail") or ""))
            elif kind == "app.bsky.embed.external#view":
                # A link card's picture is shown on the post, from Bluesky's CDN.
                images.append(str(_dict(part.get("external")).get("thumb") or ""))
        return _web_urls(images), _web_urls(videos)

    def _parse_image_sizes(self, embed: Any) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for part in _media_views(embed):
            for image in _dicts(part.get("images")):
                ratio = _dict(image.get("aspectRatio"))
                width, height = ratio.get("width"), ratio.get("height")
                url = image.get("fullsize")
                if isinstance(url, str) and isinstance(width, int) and isinstance(height, int):
                    sizes[url] = width * height
        return sizes

    def _parse_language(self, record: dict[str, Any]) -> str:
        # As the author's client declared it, never guessed from the text.
        langs = record.get("langs")
        return primary_language(langs[0]) if isinstance(langs, list) and langs else ""


_API_META: dict[str, Any] = {
    "handle_httpstatus_list": _API_STATUS,
    # An XRPC service does not redirect: a redirect must not carry our token elsewhere.
    "dont_redirect": True,
    # An API call has no referring page; by default it would name the one that led to it
    # (createSession, or a search for a client's name), in the request and in its evidence.
    "referrer_policy": "no-referrer",
}


def _expand_links(text: str, facets: Any) -> str:
    """``text`` with each link facet's visible part (``drive.google.com/file/d/1rpor...``)
    replaced by its full URI. Facets index UTF-8 bytes, not characters: an emoji before a link
    moves it by four bytes but one character."""
    data = text.encode("utf-8")
    links: list[tuple[int, int, str]] = []
    for facet in _dicts(facets):
        index = _dict(facet.get("index"))
        start, end = index.get("byteStart"), index.get("byteEnd")
        uri = next(
            (f.get("uri") for f in _dicts(facet.get("features")) if f.get("$type") == _LINK),
            None,
        )
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(uri, str)):
            continue
        # A hostile or broken facet (out of range, inside a character) leaves the text as is.
        in_text = 0 <= start < end <= len(data)
        if in_text and _boundary(data, start) and _boundary(data, end) and _web(uri):
            links.append((start, end, uri))
    out, position = [], 0
    for start, end, uri in sorted(links):
        if start < position:  # overlapping facets: the first one wins
            continue
        out += [data[position:start], uri.encode("utf-8")]
        position = end
    out.append(data[position:])
    return b"".join(out).decode("utf-8")


def _boundary(data: bytes, offset: int) -> bool:
    """Whether ``offset`` falls between two characters (not on a UTF-8 continuation byte)."""
    return offset == len(data) or data[offset] & 0xC0 != 0x80


def _media_views(embed: Any) -> list[dict[str, Any]]:
    """The post's own media: the embed itself, or the media beside a quoted post."""
    if not isinstance(embed, dict):
        return []
    if embed.get("$type") == "app.bsky.embed.recordWithMedia#view":
        media = embed.get("media")
        return [media] if isinstance(media, dict) else []
    return [embed]


def _alt_texts(embed: Any) -> list[str]:
    alts: list[str] = []
    for part in _media_views(embed):
        alts += [str(i.get("alt") or "") for i in _dicts(part.get("images"))]
        if part.get("$type") == "app.bsky.embed.video#view":
            alts.append(str(part.get("alt") or ""))
    return alts


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is an object: a hostile or broken answer puts anything anywhere."""
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _web(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


def _web_urls(urls: list[str]) -> list[str]:
    return list(dict.fromkeys(u for u in urls if _web(u)))


def _json(response: Response) -> dict[str, Any]:
    try:
        data = json.loads(response.text) if response.body else {}
    except (ValueError, AttributeError):
        return {}
    return data if isinstance(data, dict) else {}


def _xrpc_error(response: Response) -> str:
    """``: Error (message)`` of an XRPC error body, for run messages (never a request)."""
    data = _json(response)
    error, message = str(data.get("error") or ""), str(data.get("message") or "")
    if not error and not message:
        return ""
    return f": {error}" + (f" ({message[:200]})" if message else "")
