"""What every Bodyguard spider shares: its source, and the names it watches for."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, NoReturn
from urllib.parse import urlencode, urljoin

import scrapy
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from clients.services import WatchTarget, watchlist
from config.environment import secret
from config.sources import Source, load_sources
from crawlers.guard import on_hosts
from crawlers.models import SourceState

# Characters browsers read as "/" or drop inside a URL: a link carrying them does not mean what
# Python's parser says it means (``http:\\evil.example`` is another host to Chromium).
_AMBIGUOUS_URL_CHARS = re.compile(r"[\\\x00-\x1f\x7f]")

# A request that failed (timeout, 5xx, anti-bot wall) is tried again on the next run, then
# after 30 min, 1 h, 2 h... never more than a day apart: a forum down for minutes is read
# again at once, one that blocks us for days is not hammered at every 15-minute run.
RETRY_BACKOFF_FIRST = timedelta(minutes=30)
RETRY_BACKOFF_MAX = timedelta(days=1)
STATE_META = "bodyguard_state"
# Answers that say a page is gone for good, not that the site failed us.
GONE_STATUSES = (404, 410)


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failure a request waits before it is tried again."""
    if attempts <= 1:
        return timedelta(0)
    return min(RETRY_BACKOFF_MAX, RETRY_BACKOFF_FIRST * 2 ** (attempts - 2))


def term_scope(term: str) -> str:
    return hashlib.sha256(term.encode()).hexdigest()[:12]


class SourceSpider(scrapy.Spider):
    """A spider bound to one declared source: ``scrapy crawl <kind> -a source=<id>``."""

    name: ClassVar[str]  # type: ignore[misc]
    # Search engines send us to other sites on purpose; forums should not.
    STAY_ON_SOURCE_HOST: ClassVar[bool] = True
    source: Source
    watch: list[WatchTarget]
    allowed_domains: list[str]

    def __init__(self, source: str | None = None, full: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not source:
            raise ValueError(f"name the source to crawl: scrapy crawl {self.name} -a source=<id>")
        self.source_id = source
        # -a full=1 re-crawls everything; otherwise what the last complete run saw is skipped.
        self.full = full.lower() in {"1", "true", "yes"}
        self.seen: dict[str, str] = {}
        self.seen_now: dict[str, str] = {}
        # Requests that failed before: key -> {"url", "attempts", "failed_at"}.
        self.failures: dict[str, dict[str, Any]] = {}
        self.failures_now: dict[str, dict[str, Any]] = {}
        # Units of work still waiting for requests they spawned: key -> (version, outstanding).
        self._open: dict[str, list[Any]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        from crawlers.registry import KNOWN_KINDS

        directory = Path(crawler.settings.get("BODYGUARD_SOURCES_DIR"))
        sources = load_sources(directory, KNOWN_KINDS)
        if spider.source_id not in sources:
            known = ", ".join(sorted(sources)) or "none"
            raise ValueError(f"no source {spider.source_id!r} in {directory} (known: {known})")
        source = sources[spider.source_id]
        if source.kind != cls.name:
            raise ValueError(
                f"source {source.id!r} is of kind {source.kind!r}; run: scrapy crawl {source.kind} -a source={source.id}"
            )
        spider.source = source
        spider.watch = watchlist()
        state = SourceState.objects.filter(source_id=source.id).first()
        spider.seen = dict(state.seen) if state and not spider.full else {}
        spider.failures = dict(state.failures) if state else {}
        crawler.signals.connect(spider._save_state, signal=signals.spider_closed)
        if cls.STAY_ON_SOURCE_HOST:
            # Forums link everywhere; a forum crawl stays on its forum (and never wanders into
            # someone else's server through an absolute link).
            spider.allowed_domains = [source.host, *source.options.get("extra_domains", [])]
        cls._apply_source_settings(crawler, source)
        return spider

    @staticmethod
    def _apply_source_settings(crawler: Crawler, source: Source) -> None:
        """The source's politeness, at spider priority: a command-line -s still wins (tests)."""
        settings = crawler.settings
        settings.set("DOWNLOAD_DELAY", source.rate_limit, priority="spider")
        settings.set("AUTOTHROTTLE_START_DELAY", max(source.rate_limit, 0.1), priority="spider")
        settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", source.concurrency, priority="spider")
        settings.set("ROBOTSTXT_OBEY", source.obey_robots, priority="spider")

    # Incremental state. A key (a topic, a post, a page) is remembered with its version only
    # once what it stands for was fetched and parsed, with every request that spawned: what
    # failed is read again on the next run (with backoff), never skipped until it changes.
    # Search results are remembered per search term, so a newly watched name reads every
    # post its search returns, even those another name's search read before.

    def _key(self, key: str, term: str) -> str:
        return f"{key}@{term_scope(term)}" if term else key

    def is_new(self, key: str, version: object, term: str = "") -> bool:
        """Whether ``key`` changed since it was last read in full (and is not backing off)."""
        key = self._key(key, term)
        stats = self.crawler.stats
        assert stats is not None
        if key in self.failures:
            return not self.backing_off(key)
        if self.seen.get(key) == str(version):
            stats.inc_value("bodyguard/state_unchanged")
            return False
        return True

    def backing_off(self, key: str) -> bool:
        """Whether ``key`` (already scoped to its term) failed lately and must wait; a failure
        whose wait is over counts as retried."""
        failed = self.failures.get(key)
        if not failed:
            return False
        stats = self.crawler.stats
        assert stats is not None
        due = datetime.fromisoformat(failed["failed_at"]) + retry_delay(failed["attempts"])
        if datetime.now(UTC) < due:
            stats.inc_value("bodyguard/retry_backoff")
            self.failures_now[key] = failed
            return True
        stats.inc_value("bodyguard/retried")
        return False

    def page_failed(self, failure: Failure, key: str) -> None:
        """Errback of a page fetched without a known version (HTML forums): a failure is retried
        on the next runs with backoff, a page gone is neither retried nor remembered."""
        error = failure.value
        url = failure.request.url if hasattr(failure, "request") else ""
        if isinstance(error, HttpError) and error.response.status in GONE_STATUSES:
            self._gone(key)
        elif isinstance(error, IgnoreRequest) and not isinstance(error, HttpError):
            # Refused by us (address guard, another host): nothing to retry. A wall (counted
            # as blocked where it was seen) is tried again, with backoff, on later runs.
            if str(error).startswith("blocked by"):
                self._remember_failure(key, url, failure)
        else:
            self._failed(key, url, failure)

    def forget_failure(self, key: str) -> None:
        self.failures_now.pop(key, None)
        self.failures.pop(key, None)

    def mark_read(self, key: str, version: object, term: str = "") -> None:
        """Remember ``key`` as read at ``version`` (call once its content was parsed)."""
        key = self._key(key, term)
        self.seen_now[key] = str(version)
        self.failures_now.pop(key, None)
        self.failures.pop(key, None)

    def tracked(self, request: Request, key: str, version: object, term: str = "") -> Request:
        """``request`` set to remember ``key`` only once it and what it spawns are read."""
        return self._bind(request, self._key(key, term), str(version), parent=None)

    def _bind(self, request: Request, key: str, version: str, parent: str | None) -> Request:
        callback = request.callback or self.parse
        errback = request.errback
        unit = parent or key
        if parent is None:
            self._open[key] = [version, 1]
        elif parent in self._open:  # else the unit already failed or went: it stays unread
            self._open[parent][1] += 1

        def on_response(response: Response, **kwargs: Any) -> Iterator[Any]:
            result = callback(response, **kwargs)
            for output in result or ():
                if isinstance(output, Request) and STATE_META not in output.meta:
                    output = self._bind(output, key, version, parent=unit)
                yield output
            self._done(unit)

        def on_failure(failure: Failure) -> Any:
            error = failure.value
            if isinstance(error, HttpError) and error.response.status in GONE_STATUSES:
                # Gone (a pruned thread, a deleted topic): not a failure to retry with backoff,
                # but not remembered as read either, so a page that comes back is read and a
                # source answering 404 everywhere still shows as degraded (no post found).
                self._gone(unit)
            else:
                self._failed(unit, request.url, failure)
            return errback(failure) if errback else None

        meta = {**request.meta, STATE_META: unit}
        return request.replace(callback=on_response, errback=on_failure, meta=meta)

    def _done(self, unit: str) -> None:
        opened = self._open.get(unit)
        if opened is None:
            return  # the unit already failed
        opened[1] -= 1
        if opened[1] == 0:
            del self._open[unit]
            self.seen_now[unit] = opened[0]
            self.failures.pop(unit, None)

    def _gone(self, unit: str) -> None:
        self._open.pop(unit, None)
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("bodyguard/pages_gone")

    def _failed(self, unit: str, url: str, failure: Failure) -> None:
        self._remember_failure(unit, url, failure)
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("bodyguard/failed_requests")

    def _remember_failure(self, unit: str, url: str, failure: Failure) -> None:
        self._open.pop(unit, None)
        before = self.failures.get(unit) or self.failures_now.get(unit) or {}
        self.failures_now[unit] = {
            "url": url,
            "attempts": int(before.get("attempts", 0)) + 1,
            "failed_at": datetime.now(UTC).isoformat(),
            "error": str(failure.value)[:300],
        }

    def _save_state(self, spider: SourceSpider, reason: str) -> None:
        # What was read in full is remembered whatever the finish reason (an interrupted run
        # read it too); what failed or never finished is not, so the next run reads it again.
        failures = {**self.failures_now}
        for key, failed in self.failures.items():
            # Backing-off failures not looked at in this run stay, so their backoff goes on.
            if key not in self.seen_now and key not in failures:
                failures[key] = failed
        merged = {**self.seen, **self.seen_now}
        for key in failures:
            merged.pop(key, None)
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("bodyguard/retry_pending", len(failures))
        if not self.seen_now and not failures and not self.failures:
            return
        SourceState.objects.update_or_create(
            source_id=self.source.id, defaults={"seen": merged, "failures": failures}
        )
        self.crawler.stats.set_value("bodyguard/state_keys", len(merged))

    @classmethod
    def searches(cls, source: Source) -> bool:
        """Whether crawls of ``source`` search it for each watched name (a new name then
        gets a first-sight crawl)."""
        return False

    def option(self, key: str, default: Any) -> Any:
        return self.source.options.get(key, default)

    def access_token(self) -> str:
        """The access token the source's credentials name (``access_token: ENV_NAME``), or ""."""
        name = (self.source.credentials or {}).get("access_token", "")
        return secret(name) if name else ""

    def token_refused(self, status: int, what: str) -> NoReturn:
        """Stop the run as "credentials refused" (never as "no results"), saying what to fix."""
        reason = (
            "the access token named in the source's credentials expired or was revoked"
            if self.access_token()
            else "this server answers signed-in clients only: name an access token in "
            "the source's credentials"
        )
        raise CloseSpider(
            f"credentials refused by {self.source.host} (HTTP {status}) for {what}: {reason}"
        )

    def api_url(self, path: str, params: dict[str, Any] | None = None) -> str:
        url = self.source.base_url + path
        return f"{url}?{urlencode(params, doseq=True)}" if params else url

    def site_url(self, link: str, base: str | None = None) -> str | None:
        """``link`` (as a page or an API wrote it) resolved against ``base`` (the source's base
        URL by default), if it is http(s) on the source's hosts or its ``extra_domains``;
        None otherwise. Hostile posts choose their links: they must not choose another site."""
        link = link.strip()
        if not link or _AMBIGUOUS_URL_CHARS.search(link):
            return None
        url = urljoin((base or self.source.base_url) + ("" if base else "/"), link)
        hosts = [self.source.host, *self.source.options.get("extra_domains", [])]
        return url if on_hosts(url, hosts) else None

    def permalink(self, link: str, fallback: str, base: str | None = None) -> str:
        """:meth:`site_url`, or ``fallback`` (the page the post was read on) when refused."""
        url = self.site_url(link, base)
        if url is None:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("bodyguard/permalinks_refused")
            return fallback
        return url

    def search_terms(self) -> list[str]:
        """Every watched name and alias, once."""
        return list(dict.fromkeys(term for target in self.watch for term in target.terms))
