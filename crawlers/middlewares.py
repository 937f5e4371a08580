"""Downloader middlewares."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.settings import Settings
from scrapy.utils.response import response_status_message

logger = logging.getLogger(__name__)

# Cloud metadata endpoints are link-local or private already; named so the intent is explicit.
_METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}


def is_forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip in _METADATA_ADDRESSES
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


class AddressGuardMiddleware:
    """Refuses requests to private, loopback, link-local and metadata addresses.

    Host names are resolved first, so a public-looking name that points inside is refused too.
    Redirects and robots.txt requests pass through here as well. A source may allow private
    addresses explicitly (`allow_private_addresses: true`, for tests and the demo).
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self._verdicts: dict[str, str | None] = {}
        # Tests and the demo pin the crawl to this machine: nothing else is even looked up.
        self.only_hosts = set(crawler.settings.getlist("BODYGUARD_ONLY_HOSTS"))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        assert self.stats is not None
        source = getattr(self.crawler.spider, "source", None)
        allowed = source is not None and (
            source.allow_private_addresses or parts.netloc in source.private_allowlist
        )
        if not allowed:
            if host not in self._verdicts:
                self._verdicts[host] = self._check(host)
            reason = self._verdicts[host]
            if reason:
                self.stats.inc_value("bodyguard/refused_private_address")
                logger.warning("refused %s: %s", request.url, reason)
                raise IgnoreRequest(f"refused {request.url}: {reason}")
        if self.only_hosts and host not in self.only_hosts:
            self.stats.inc_value("bodyguard/refused_host")
            raise IgnoreRequest(
                f"refused {request.url}: only {', '.join(sorted(self.only_hosts))} may be fetched here"
            )
        return None

    @staticmethod
    def _check(host: str) -> str | None:
        if not host:
            return "no host name"
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            return f"{host} does not resolve ({exc})"
        for info in infos:
            address = str(info[4][0])
            if is_forbidden_address(address):
                return f"{host} resolves to {address}, a private or internal address"
        return None


class PoliteRetryMiddleware(RetryMiddleware):
    """Retries with exponential backoff; 429 and 503 wait what ``Retry-After`` asks.

    Waiting happens in a coroutine, so other requests go on meanwhile; the slot's delay is
    raised too, so the source is not hit again at once by the next request.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("BODYGUARD_RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("BODYGUARD_RETRY_BACKOFF_MAX", 60.0)
        self.retry_after_max = settings.getfloat("BODYGUARD_RETRY_AFTER_MAX", 300.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PoliteRetryMiddleware:
        middleware = cls(crawler.settings)
        middleware.crawler = crawler
        return middleware

    def _backoff(self, request: Request) -> float:
        return min(self.backoff_max, self.backoff_base * 2 ** request.meta.get("retry_times", 0))

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        if response.status in request.meta.get("handle_httpstatus_list", ()):
            return response
        wait = self._backoff(request)
        if response.status in (429, 503):
            asked = retry_after_seconds(response.headers.get(b"Retry-After"))
            if asked is not None:
                if asked > self.retry_after_max:
                    assert self.crawler.stats is not None
                    self.crawler.stats.inc_value("bodyguard/retry_after_too_long")
                    return response
                wait = max(wait, asked)
        self._slow_down(request, wait)
        await asyncio.sleep(wait)
        return self._retry(request, response_status_message(response.status)) or response

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        if isinstance(exception, self.exceptions_to_retry) and not request.meta.get("dont_retry"):
            await asyncio.sleep(self._backoff(request))
            return self._retry(request, exception)
        return None

    def _slow_down(self, request: Request, wait: float) -> None:
        engine = getattr(self.crawler, "engine", None)
        downloader = getattr(engine, "downloader", None)
        if downloader is None:
            return
        key = request.meta.get("download_slot") or urlsplit(request.url).hostname or ""
        slot = downloader.slots.get(key)
        if slot is not None:
            slot.delay = max(slot.delay, min(wait, self.backoff_max))


def retry_after_seconds(value: bytes | None) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


# Signs of an anti-bot challenge or a login wall: the page is not the content, and an empty
# result must never be read as "nothing about the client here".
_WALLS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "Cloudflare challenge",
        re.compile(
            r"cf-browser-verification|cf_chl_|Just a moment\.\.\.|Attention Required! \| Cloudflare",
            re.I,
        ),
    ),
    ("DDoS-Guard challenge", re.compile(r"ddos-guard", re.I)),
    ("captcha", re.compile(r"g-recaptcha|h-captcha|hcaptcha\.com|captcha-delivery", re.I)),
    (
        "login required",
        re.compile(
            r"(you must be logged in|vous devez (?:être|etre) connecté|please log in to (?:view|continue)|login required|sie müssen angemeldet sein)",
            re.I,
        ),
    ),
)


class BlockedPageMiddleware:
    """Records anti-bot walls and login walls as ``blocked`` and keeps them from the spider."""

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BlockedPageMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        if response.status in request.meta.get("handle_httpstatus_list", ()):
            return response
        reason = self.wall(response)
        if reason is None:
            return response
        assert self.stats is not None
        self.stats.inc_value("bodyguard/blocked")
        self.stats.set_value(
            "bodyguard/blocked_reason", f"{reason} at {response.url} (HTTP {response.status})"
        )
        logger.warning("blocked: %s at %s (HTTP %s)", reason, response.url, response.status)
        raise IgnoreRequest(f"blocked by {reason}: {response.url}")

    @staticmethod
    def wall(response: Response) -> str | None:
        return wall_reason(response.status, response.body)


def wall_reason(status: int, body: bytes) -> str | None:
    """Why this answer is a wall in front of the content, or None if it is not one."""
    head = body[:30000].decode("utf-8", errors="replace")
    for reason, pattern in _WALLS:
        if pattern.search(head) and (status in (401, 403, 429, 503) or len(body) < 30000):
            return reason
    if status in (401, 403):
        return f"HTTP {status}"
    if status == 429:
        return "rate limited (HTTP 429)"
    return None
