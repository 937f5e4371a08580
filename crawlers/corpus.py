"""Every post a crawl reads goes into the corpus, so names registered later are found in it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector

from crawlers.evidence import Redactor, source_credentials
from crawlers.items import ForumPost
from hits.corpus import CorpusJournal, CorpusPost, CorpusStore
from hits.errors import HitStoreError, HitStoreUnavailable

logger = logging.getLogger(__name__)


def corpus_post(
    item: ForumPost, crawled_at: datetime, redactor: Redactor | None = None
) -> CorpusPost:
    """The corpus record of a post; the address it was read from without credentials (a
    search API's ``?key=``), as in evidence."""
    fetched_url = (redactor or Redactor()).url(item.fetched_url, set()) if item.fetched_url else ""
    return CorpusPost(
        source_id=item.source_id,
        url=item.url,
        thread_url=item.thread_url,
        thread_title=item.thread_title,
        text=item.text,
        author=item.author,
        author_ref=item.author_ref,
        posted_at=item.posted_at,
        crawled_at=crawled_at,
        is_thread_start=item.is_thread_start,
        language=item.language,
        image_urls=tuple(item.image_urls),
        image_ids=tuple(item.image_ids),
        content_sha256=item.content_sha256,
        fetched_url=fetched_url,
    )


class CorpusPipeline:
    """Keeps every post read (before the name filter drops those naming nobody), in bulk;
    while Elasticsearch is unreachable, in the local journal, written on the next run."""

    def __init__(
        self, store: CorpusStore, journal: CorpusJournal, stats: StatsCollector, batch: int
    ) -> None:
        self.store = store
        self.journal = journal
        self.stats = stats
        self.batch_size = batch
        self.pending: list[CorpusPost] = []
        self.store_up = True
        self.crawler: Crawler | None = None
        self.redactor = Redactor()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CorpusPipeline:
        settings = crawler.settings
        if not settings.getbool("BODYGUARD_CORPUS"):
            raise NotConfigured("BODYGUARD_CORPUS is off")
        store = CorpusStore(
            settings.get("BODYGUARD_ELASTICSEARCH_URL"),
            settings.get("BODYGUARD_INDEX_PREFIX"),
            timeout_s=settings.getfloat("BODYGUARD_ES_TIMEOUT_S"),
        )
        journal = CorpusJournal(Path(settings.get("BODYGUARD_JOURNAL_DIR")), store.index)
        assert crawler.stats is not None
        pipeline = cls(store, journal, crawler.stats, settings.getint("BODYGUARD_CORPUS_BATCH"))
        pipeline.crawler = crawler
        return pipeline

    def open_spider(self) -> None:
        spider = self.crawler.spider if self.crawler is not None else None
        self.redactor = Redactor(tuple(source_credentials(spider)))
        try:
            self.store.ensure_index()
            outcome = self.journal.replay(self._write)
        except HitStoreUnavailable as exc:
            self._store_down(exc)
            return
        except HitStoreError as exc:
            # Not an outage: the journal stays as it is, this crawl's posts are still written.
            self.stats.inc_value("bodyguard/corpus_refusals")
            logger.error("the corpus journal %s could not be replayed: %s", self.journal.path, exc)
            return
        if outcome.replayed:
            self.stats.set_value("bodyguard/corpus_replayed", outcome.replayed)
        if outcome.dead_lettered:
            self.stats.set_value("bodyguard/corpus_dead_lettered", outcome.dead_lettered)

    def process_item(self, item: ForumPost) -> ForumPost:
        self.pending.append(corpus_post(item, datetime.now(UTC), self.redactor))
        if len(self.pending) >= self.batch_size:
            self._flush(refresh=False)
        return item

    def close_spider(self) -> None:
        # The last batch waits for a refresh: a client registered right after sees it.
        self._flush(refresh=True)
        self.store.close()

    def _flush(self, refresh: bool) -> None:
        batch, self.pending = self.pending, []
        if not batch:
            return
        if self.store_up:
            try:
                self._write(batch, refresh=refresh)
                return
            except HitStoreUnavailable as exc:
                self._store_down(exc)
            except HitStoreError as exc:
                self.stats.inc_value("bodyguard/corpus_refusals")
                logger.error(
                    "Elasticsearch refused corpus posts, kept in %s: %s", self.journal.path, exc
                )
        self.journal.append(batch)
        self.stats.inc_value("bodyguard/corpus_journaled", len(batch))

    def _write(self, posts: list[CorpusPost], refresh: bool = True) -> None:
        self.store.index_posts(posts, refresh=refresh)
        self.stats.inc_value("bodyguard/corpus_posts", len(posts))

    def _store_down(self, exc: HitStoreError) -> None:
        self.store_up = False
        logger.error(
            "Elasticsearch unavailable, corpus posts go to the journal %s: %s",
            self.journal.path,
            exc,
        )
