"""What every Bodyguard spider shares: its source, and the names it watches for."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode, urljoin

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler

from clients.services import WatchTarget, watchlist
from config.sources import Source, load_sources
from crawlers.guard import on_hosts
from crawlers.models import SourceState

# Characters browsers read as "/" or drop inside a URL: a link carrying them does not mean what
# Python's parser says it means (``http:\\evil.example`` is another host to Chromium).
_AMBIGUOUS_URL_CHARS = re.compile(r"[\\\x00-\x1f\x7f]")


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

    def is_new(self, key: str, version: object) -> bool:
        """Whether ``key`` changed since the last complete crawl; remembers it for the next."""
        version = str(version)
        self.seen_now[key] = version
        return self.seen.get(key) != version

    def _save_state(self, spider: SourceSpider, reason: str) -> None:
        # Only a complete crawl may say what was seen: an interrupted one would make the next
        # skip what it never read.
        if reason != "finished" or not self.seen_now:
            return
        merged = {**self.seen, **self.seen_now}
        SourceState.objects.update_or_create(source_id=self.source.id, defaults={"seen": merged})
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("bodyguard/state_keys", len(merged))

    def option(self, key: str, default: Any) -> Any:
        return self.source.options.get(key, default)

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
