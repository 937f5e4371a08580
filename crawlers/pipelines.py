"""Item pipelines, one concern each, ordered in settings.ITEM_PIPELINES."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.statscollectors import StatsCollector

from clients.services import WatchTarget
from crawlers.items import ForumPost, ImageMatch, VideoMatch
from hits.documents import Hit, MatchedTerm, MatchKind
from hits.errors import BulkWriteFailed, HitStoreError, HitStoreUnavailable
from hits.journal import DeadLetter, HitJournal, dead_letter_of
from hits.store import HitStore, WriteResult
from matching.names import Mention, NameMatcher, WatchEntry

logger = logging.getLogger(__name__)

# Characters of context kept around the first and last mention for reviewers.
EXCERPT_CONTEXT = 240
EXCERPT_MAX = 1500


def watch_entry(target: WatchTarget) -> WatchEntry:
    return WatchEntry(
        client_id=target.client_ref,
        names=target.names,
        aliases=target.aliases,
        required_context=target.required_context,
        excluded_context=target.excluded_context,
    )


class DuplicatePostsPipeline:
    """A post reached twice in one crawl (by search and by walking its topic) counts once.
    The same URL with other content (a search snippet, then the page itself) is not a duplicate."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def process_item(self, item: ForumPost) -> ForumPost:
        key = (item.url, item.content_sha256)
        if key in self.seen:
            raise DropItem(f"already seen in this crawl: {item.url}")
        self.seen.add(key)
        return item


class MatchNamesPipeline:
    """Keeps posts that name a watched client, with the mentions found; drops the rest."""

    def __init__(self, crawler: Crawler) -> None:
        assert crawler.stats is not None
        self.crawler = crawler
        self.stats: StatsCollector = crawler.stats
        self.matcher = NameMatcher([])

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MatchNamesPipeline:
        if not crawler.settings.getbool("BODYGUARD_MATCH_NAMES"):
            raise NotConfigured("BODYGUARD_MATCH_NAMES is off")
        return cls(crawler)

    def open_spider(self) -> None:
        self.matcher = NameMatcher(
            [watch_entry(t) for t in getattr(self.crawler.spider, "watch", [])]
        )

    def process_item(self, item: ForumPost) -> ForumPost:
        item.mentions = self.matcher.scan(item.match_text)
        if not item.mentions and not item.image_matches and not item.video_matches:
            raise DropItem(f"no watched name, photo or video in {item.url}")
        self.stats.inc_value("bodyguard/posts_matched")
        return item


def hits_from_post(post: ForumPost, seen_at: datetime) -> list[Hit]:
    by_client: dict[str, list[Mention]] = defaultdict(list)
    for mention in post.mentions:
        by_client[mention.client_id].append(mention)
    hits = []
    text = post.match_text
    for client_id, mentions in sorted(by_client.items()):
        lo = max(0, mentions[0].start - EXCERPT_CONTEXT)
        hi = min(len(text), max(m.end for m in mentions) + EXCERPT_CONTEXT, lo + EXCERPT_MAX)
        excerpt = text[lo:hi]
        terms = tuple(
            MatchedTerm(
                term=m.term,
                text=m.text,
                rule=m.rule,
                start=m.start - lo,
                end=m.end - lo,
                score=m.score,
            )
            for m in mentions
            if m.end <= hi
        )
        hits.append(
            Hit(
                client_id=client_id,
                source_id=post.source_id,
                url=post.url,
                match_kind=MatchKind.NAME,
                matched_terms=terms,
                first_seen=seen_at,
                last_seen=seen_at,
                title=post.thread_title,
                excerpt=excerpt,
                author=post.author,
                posted_at=post.posted_at,
                score=max(m.score for m in mentions),
                content_sha256=post.content_sha256,
                thread_url=post.thread_url,
                **_evidence(post),
            )
        )
    hits.extend(_image_hits(post, seen_at))
    hits.extend(_video_hits(post, seen_at))
    return hits


def _evidence(post: ForumPost) -> dict[str, Any]:
    if post.evidence is None:
        return {}
    return {
        "evidence_warc": post.evidence.warc,
        "evidence_record_id": post.evidence.record_id,
        "evidence_sha256": post.evidence.payload_sha256,
        "captured_at": datetime.fromisoformat(post.evidence.captured_at.replace("Z", "+00:00")),
    }


def _media_hit(
    post: ForumPost, seen_at: datetime, kind: MatchKind, score: float, **found: Any
) -> Hit:
    """A hit for a photo or video found on ``post``: the post's fields, and what matched."""
    return Hit(
        client_id=found.pop("client_id"),
        source_id=post.source_id,
        url=post.url,
        match_kind=kind,
        matched_terms=(),
        first_seen=seen_at,
        last_seen=seen_at,
        title=post.thread_title,
        excerpt=post.text[:EXCERPT_MAX],
        author=post.author,
        posted_at=post.posted_at,
        score=score,
        content_sha256=post.content_sha256,
        thread_url=post.thread_url,
        **found,
        **_evidence(post),
    )


def _image_hits(post: ForumPost, seen_at: datetime) -> list[Hit]:
    best: dict[str, ImageMatch] = {}
    for match in post.image_matches:
        if match.client_id not in best or match.score > best[match.client_id].score:
            best[match.client_id] = match
    return [
        _media_hit(
            post,
            seen_at,
            MatchKind.IMAGE,
            match.score,
            client_id=match.client_id,
            image_url=match.image_url,
            photo_label=match.photo_label,
            photo_distance=match.distance,
            photo_tier=match.tier,
            photo_method=match.method,
            photo_why=match.why,
        )
        for match in best.values()
    ]


def _video_hits(post: ForumPost, seen_at: datetime) -> list[Hit]:
    """One hit per client and page: the best of the page's videos (the identical file, then
    the most frames matched)."""
    best: dict[str, VideoMatch] = {}
    for match in post.video_matches:
        known = best.get(match.client_id)
        if known is None or (match.method == "md5", match.frames_matched) > (
            known.method == "md5",
            known.frames_matched,
        ):
            best[match.client_id] = match
    return [
        _media_hit(
            post,
            seen_at,
            MatchKind.VIDEO,
            match.score,
            client_id=match.client_id,
            video_url=match.video_url,
            video_label=match.video_label,
            video_tier=match.tier,
            video_method=match.method,
            video_frames_matched=match.frames_matched,
            video_frames_compared=match.frames_compared,
            video_ranges=match.ranges,
            video_registered_ranges=match.registered_ranges,
            video_why=match.why,
        )
        for match in best.values()
    ]


class IndexHitsPipeline:
    """Writes hits to Elasticsearch as each post comes (a crawl killed at its time limit loses
    nothing already matched); while it is unreachable, to the local journal; what it refuses,
    to the dead letters; never hits of a client erased meanwhile."""

    def __init__(
        self, store: HitStore, journal: HitJournal, stats: StatsCollector, batch: int
    ) -> None:
        self.store = store
        self.journal = journal
        self.stats = stats
        self.batch_size = max(1, batch)
        self.pending: list[Hit] = []
        self.store_up = True
        self.matcher: NameMatcher | None = None
        self.crawler: Crawler | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IndexHitsPipeline:
        settings = crawler.settings
        if not settings.getbool("BODYGUARD_INDEX_HITS"):
            raise NotConfigured("BODYGUARD_INDEX_HITS is off")
        store = HitStore(
            settings.get("BODYGUARD_ELASTICSEARCH_URL"),
            settings.get("BODYGUARD_INDEX_PREFIX"),
            timeout_s=settings.getfloat("BODYGUARD_ES_TIMEOUT_S"),
        )
        journal = HitJournal(Path(settings.get("BODYGUARD_JOURNAL_DIR")), store.index)
        assert crawler.stats is not None
        pipeline = cls(store, journal, crawler.stats, settings.getint("BODYGUARD_HIT_BATCH"))
        pipeline.crawler = crawler
        crawler.signals.connect(pipeline.item_error, signal=signals.item_error)
        return pipeline

    def open_spider(self) -> None:
        try:
            self.store.ensure_index()
            outcome = self.journal.replay(self._write)
        except HitStoreUnavailable as exc:
            self._store_down(exc)
            return
        except HitStoreError as exc:
            # Not an outage: the journal stays as it is, this crawl's hits are still written.
            self.stats.inc_value("bodyguard/store_refusals")
            logger.error("the journal %s could not be replayed: %s", self.journal.path, exc)
            return
        if outcome.replayed:
            logger.info(
                "replayed %d hit(s) from the journal %s", outcome.replayed, self.journal.path
            )
            self.stats.set_value("bodyguard/hits_replayed", outcome.replayed)
        if outcome.remaining:
            self.stats.inc_value("bodyguard/hits_journaled", outcome.remaining)
        if outcome.dead_lettered:
            self._dead_lettered(outcome.dead_lettered, "replaying the journal")
        if outcome.dropped_erased:
            self.stats.inc_value("bodyguard/hits_of_erased_clients", outcome.dropped_erased)

    def process_item(self, item: ForumPost) -> ForumPost:
        self.pending.extend(hits_from_post(item, datetime.now(UTC)))
        if len(self.pending) >= self.batch_size:
            self._flush()
        return item

    def item_error(self, item: Any, response: Any, spider: Any, failure: Any) -> None:
        """A stage before this one failed on a post (an image the image store refused, a
        picture that crashed a decoder): the names it mentions are still hits."""
        if not isinstance(item, ForumPost) or self.crawler is None:
            return
        if not item.mentions:
            if self.matcher is None:
                watch = getattr(self.crawler.spider, "watch", [])
                self.matcher = NameMatcher([watch_entry(t) for t in watch])
            item.mentions = self.matcher.scan(item.match_text)
        if not item.mentions:
            return
        self.stats.inc_value("bodyguard/hits_after_item_error")
        logger.error(
            "a pipeline failed on %s (%s); its name hits are indexed anyway",
            item.url,
            failure.value.__class__.__name__ if failure is not None else "error",
        )
        item.image_matches = []
        item.video_matches = []
        self.pending.extend(hits_from_post(item, datetime.now(UTC)))
        self._flush()

    def close_spider(self) -> None:
        self._flush(refresh=True)
        if self.store_up and self.stats.get_value("bodyguard/hits"):
            # Hits written one by one (item errors, small batches) did not wait to be
            # searchable: the alerts step that follows the crawl must see every one.
            try:
                self.store.refresh()
            except HitStoreError as exc:
                logger.error("hits written but not refreshed: %s", exc)
        self.store.close()

    def _flush(self, refresh: bool = False) -> None:
        batch, self.pending = self.pending, []
        erased = [h for h in batch if h.client_id in self.journal.erased]
        if erased:
            # Erased while this crawl ran: their hits must not come back.
            self.stats.inc_value("bodyguard/hits_of_erased_clients", len(erased))
            batch = [h for h in batch if h.client_id not in self.journal.erased]
        if not batch:
            return
        if self.store_up:
            try:
                self._write(batch, refresh=refresh)
                return
            except BulkWriteFailed as exc:
                self._count(exc.written)
                self._partly_written(batch, exc)
                return
            except HitStoreUnavailable as exc:
                self._store_down(exc)
            except HitStoreError as exc:
                # The whole request refused (a script, an index setting): keep the hits, loudly.
                self.stats.inc_value("bodyguard/store_refusals")
                logger.error("Elasticsearch refused hits, kept in %s: %s", self.journal.path, exc)
        self.journal.append(batch)
        self.stats.inc_value("bodyguard/hits_journaled", len(batch))

    def _partly_written(self, batch: list[Hit], exc: BulkWriteFailed) -> None:
        by_id = {h.hit_id: h for h in batch}
        retry = [by_id[f.doc_id] for f in exc.retryable if f.doc_id in by_id]
        refused = [
            dead_letter_of(by_id[f.doc_id], f, self.store.index)
            for f in exc.refused
            if f.doc_id in by_id
        ]
        if retry:
            self.journal.append(retry)
            self.stats.inc_value("bodyguard/hits_journaled", len(retry))
        if refused:
            self.journal.dead_letters.add(refused)
            self._dead_lettered(len(refused), "indexing", refused)

    def _dead_lettered(self, count: int, during: str, letters: Sequence[DeadLetter] = ()) -> None:
        self.stats.inc_value("bodyguard/hits_dead_lettered", count)
        self.stats.set_value("bodyguard/dead_letter_dir", str(self.journal.dead_letters.directory))
        reasons = sorted({f"{x.error_type}: {x.reason}" for x in letters})
        if reasons:
            self.stats.set_value("bodyguard/dead_letter_reason", reasons[0])
        logger.error(
            "Elasticsearch refused %d hit(s) while %s; kept for staff in %s (%s)",
            count,
            during,
            self.journal.dead_letters.directory,
            "; ".join(reasons) or "see the files",
        )

    def _write(self, hits: list[Hit], refresh: bool = True) -> None:
        self._count(self.store.upsert(hits, refresh=refresh))

    def _count(self, results: list[WriteResult]) -> None:
        self.stats.inc_value("bodyguard/hits", len(results))
        self.stats.inc_value("bodyguard/hits_new", sum(r.created for r in results))

    def _store_down(self, exc: HitStoreError) -> None:
        self.store_up = False
        self.stats.set_value("bodyguard/store_error", str(exc))
        logger.error(
            "Elasticsearch unavailable, hits go to the journal %s and will be written on the next run: %s",
            self.journal.path,
            exc,
        )
