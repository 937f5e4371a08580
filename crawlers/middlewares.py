"""Downloader middlewares."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.resolver import HostResolution
from scrapy.settings import Settings
from scrapy.utils.response import response_status_message
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHostnameResolver
from zope.interface import implementer

from crawlers.guard import (
    AddressRule,
    Pinned,
    Refused,
    default_port,
)

logger = logging.getLogger(__name__)

# One crawl per process (ADR 0002): the address each (host, port) of this crawl was checked at.
# The guard middleware fills it, the resolver answers from it, so the connection goes to the
# address that was checked and a second DNS answer is never asked for.
_PINS: dict[tuple[str, int], str] = {}


class AddressGuardMiddleware:
    """Refuses requests to private, loopback, link-local and metadata addresses.

    Host names are resolved first, so a public-looking name that points inside is refused too;
    the address checked is the one connected to (see :class:`PinnedResolver`). Redirects and
    robots.txt requests pass through here as well. A source may allow private addresses
    explicitly (`allow_private_addresses: true`, or a list of host:port, for tests and the demo).
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.dns_server = crawler.settings.get("BODYGUARD_DNS_SERVER", "")
        self._verdicts: dict[tuple[str, int], Pinned | Refused] = {}
        # Tests and the demo pin the crawl to this machine: nothing else is even looked up.
        self.only_hosts = set(crawler.settings.getlist("BODYGUARD_ONLY_HOSTS"))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        return cls(crawler)

    def _rule(self) -> AddressRule:
        source = getattr(self.crawler.spider, "source", None)
        if source is None:
            return AddressRule(dns_server=self.dns_server)
        return AddressRule(
            source.allow_private_addresses, source.private_allowlist, self.dns_server
        )

    def process_request(self, request: Request) -> None:
        assert self.stats is not None
        parts = urlsplit(request.url)
        host = (parts.hostname or "").lower()
        if self.only_hosts and host not in self.only_hosts:
            self.stats.inc_value("bodyguard/refused_host")
            raise IgnoreRequest(
                f"refused {request.url}: only {', '.join(sorted(self.only_hosts))} may be fetched here"
            )
        try:
            key = (host, parts.port or default_port(parts.scheme))
        except ValueError:
            key = (host, -1)
        if parts.scheme not in ("http", "https") or key[1] < 0:
            verdict: Pinned | Refused = Refused(host, f"not an http(s) URL: {request.url[:200]}")
        elif key not in self._verdicts:
            verdict = self._verdicts[key] = self._rule().check(*key)
            if isinstance(verdict, Pinned):
                _PINS[key] = verdict.address
        else:
            verdict = self._verdicts[key]
        if isinstance(verdict, Refused):
            self.stats.inc_value(
                "bodyguard/refused_private_address" if verdict.by_rule else "bodyguard/unresolved"
            )
            logger.warning("refused %s: %s", request.url, verdict.reason)
            raise IgnoreRequest(f"refused {request.url}: {verdict.reason}")
        return None


@implementer(IHostnameResolver)
class PinnedResolver:
    """Twisted's name resolver for crawls: answers with the address the guard checked.

    A name the guard has not checked (nothing should reach here unchecked) is resolved and
    judged by the strictest rule: no private address, whatever the source allows.
    """

    def __init__(self, reactor: Any, dns_server: str) -> None:
        self.reactor = reactor
        self.dns_server = dns_server

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> PinnedResolver:
        # Built by the crawler process, before any spider: settings only.
        return cls(reactor, crawler.settings.get("BODYGUARD_DNS_SERVER", ""))

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        resolution = HostResolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        key = (hostName.lower(), portNumber)
        address = _PINS.get(key)
        if address is None:
            verdict = AddressRule(dns_server=self.dns_server).check(*key)
            if isinstance(verdict, Pinned):
                address = _PINS[key] = verdict.address
            else:
                logger.warning("no connection to %s:%s: %s", hostName, portNumber, verdict.reason)
        if address is not None:
            kind = IPv6Address if ":" in address else IPv4Address
            resolutionReceiver.addressResolved(kind("TCP", address, portNumber))
        resolutionReceiver.resolutionComplete()
        return resolution


# Failures kept word for word in a run's record; the count goes on past it.
MAX_RECORDED_FAILURES = 20


class PageFailureMiddleware:
    """Records each page that could not be read and why (download errors such as an oversized
    body, and requests dropped as duplicates, which is how a redirect loop ends), so the run's
    record says what was not read instead of passing it over in silence."""

    def __init__(self, crawler: Crawler) -> None:
        assert crawler.stats is not None
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PageFailureMiddleware:
        middleware = cls(crawler)
        crawler.signals.connect(middleware.request_dropped, signal=signals.request_dropped)
        return middleware

    def record(self, url: str, reason: str) -> None:
        self.stats.inc_value("bodyguard/pages_failed")
        failures = list(self.stats.get_value("bodyguard/page_failures", []))
        if len(failures) < MAX_RECORDED_FAILURES:
            self.stats.set_value("bodyguard/page_failures", [*failures, f"{url}: {reason}"])

    def process_exception(self, request: Request, exception: Exception) -> None:
        if request.meta.get("bodyguard_media"):
            return  # a video the video pipeline fetched: it counts and logs its own failures
        if not isinstance(exception, IgnoreRequest):  # refusals are counted where refused
            first_line = (str(exception).splitlines() or [""])[0][:200]
            self.record(request.url, f"{type(exception).__name__}: {first_line}")

    def request_dropped(self, request: Request, spider: Any) -> None:
        chain = request.meta.get("redirect_urls") or []
        if request.url in chain:
            self.record(chain[0], f"redirect loop back to {request.url}")


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
