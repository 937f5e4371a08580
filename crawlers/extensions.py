"""Scrapy extensions."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.logformatter import LogFormatter

from crawlers.evidence import Redactor, source_credentials


class _RunStats:
    """The crawl's final stats (with its finish reason), handed to ``keep`` when it closes."""

    SETTING: str

    def __init__(self, crawler: Crawler, target: str) -> None:
        self.crawler = crawler
        self.target = target

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> _RunStats:
        target = crawler.settings.get(cls.SETTING)
        if not target or target == "0":
            raise NotConfigured(f"{cls.SETTING} is not set")
        ext = cls(crawler, str(target))
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, spider: Spider, reason: str) -> None:
        assert self.crawler.stats is not None
        stats = {k: _jsonable(v) for k, v in self.crawler.stats.get_stats().items()}
        stats["finish_reason"] = reason
        self.keep(stats)

    def keep(self, stats: dict[str, Any]) -> None:
        raise NotImplementedError


class RunStatsFile(_RunStats):
    """Writes the stats as JSON for the local scheduler to record."""

    SETTING = "BODYGUARD_STATS_FILE"

    def keep(self, stats: dict[str, Any]) -> None:
        Path(self.target).write_text(json.dumps(stats, indent=1, sort_keys=True), encoding="utf-8")


class RunStatsRecord(_RunStats):
    """Writes the stats into the crawl's ``CrawlRun`` row: a crawl on a Scrapyd node shares the
    database with the monitor, not a file system."""

    SETTING = "BODYGUARD_CRAWL_RUN_ID"

    def keep(self, stats: dict[str, Any]) -> None:
        from django.db import close_old_connections

        from crawlers.models import CrawlRun

        # The connection may have idled through a long crawl: a fresh one if it is gone.
        close_old_connections()
        CrawlRun.objects.filter(pk=int(self.target)).update(stats=stats)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return str(value)


class _RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redactor.text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactLogs:
    """Crawl logs quote request URLs (``Crawled <GET ...?key=...>``, retries, errors): our
    credentials are taken out of every line before any handler writes it."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.filter = _RedactingFilter(Redactor())
        for handler in logging.getLogger().handlers:
            handler.addFilter(self.filter)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedactLogs:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.filter.redactor = Redactor(tuple(source_credentials(spider)))


class QuietDropLogFormatter(LogFormatter):
    """Most posts mention no client; dropping them is routine, not a warning."""

    def dropped(self, item, exception, response, spider):
        entry = super().dropped(item, exception, response, spider)
        entry["level"] = logging.DEBUG
        return entry
