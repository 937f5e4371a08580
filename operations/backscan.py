"""Back-scan: a client's names checked against every post already crawled (the corpus).

Victims come to us once the harm is published. When a client is registered, or a name,
alias, handle or context word changes, Elasticsearch proposes the corpus posts that may name
them (hits.corpus.candidate_query, a superset), the crawl-time matcher decides (the same
``watch_entry`` over the same watch list), and each match becomes a hit like a crawled one:
alerts, cases and emails then follow from alerts.collect_new_hits, once per hit id.

Scans are queued as BackScan rows (signals, on commit) and run by the monitor, never by the
admin save or the import that queued them. Running one twice makes no second hit.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from alerts.services import hit_store
from clients.keys import FeatureKeyMissing
from clients.models import Client, ClientPhoto, WatchTerm
from clients.services import watch_target, watchlist
from config.sources import Source, load_sources
from crawlers.evidence import EvidenceWriter, capture_of
from crawlers.fetch import Fetched, FetchPolicy, fetch
from crawlers.items import EvidenceRef, ForumPost
from crawlers.pipelines import hits_from_post, watch_entry
from crawlers.registry import KNOWN_KINDS, SPIDERS
from hits.corpus import CorpusPost, CorpusRetention, CorpusStore
from hits.documents import Hit
from hits.errors import HitStoreError
from hits.store import HitStore
from matching.features import FeatureKeyError
from matching.names import Mention, NameMatcher
from operations.backscan_images import IMAGE_BUDGET_S, ClientPhotos, ImageCheck, check_images
from operations.models import BackScan

logger = logging.getLogger(__name__)

# Hits are written in batches of this many (one bulk request each).
HIT_BATCH = 500
# Seconds a back-scan spends, in all, on fresh captures of the pages it found (each fetch has
# the guarded fetch's own deadline within it): a back-scan finding hundreds of old posts on
# slow sites must not hold the monitor for hours. Past it, the hits keep the corpus record as
# evidence and the next re-check captures the page.
FRESH_CAPTURE_BUDGET_S = 120.0
# Each fresh capture's own limit: the page as the crawl read it, once more.
FRESH_CAPTURE_DEADLINE_S = 20.0

# A scan still "running" after this long was interrupted (the monitor stopped or crashed
# mid-scan): it is queued again. Scans take seconds (make bench: under 5 s at 1,000,000 posts),
# fresh captures at most FRESH_CAPTURE_BUDGET_S more.
STALE_RUNNING = timedelta(hours=1)

# Set by the running scheduler: asks for an immediate crawl of these sources. Without one
# (monitor --once), the cycle's own crawls, which run after the back-scans, are the first sight.
first_sight_hook: Callable[[list[str]], None] | None = None


def corpus_store() -> CorpusStore:
    return CorpusStore(
        settings.BODYGUARD_ELASTICSEARCH_URL,
        settings.BODYGUARD_INDEX_PREFIX,
        timeout_s=max(30, settings.BODYGUARD_ES_TIMEOUT_S),
    )


# Queueing -------------------------------------------------------------------------------


def queue_backscan(client_id: int, reason: str) -> None:
    """One queued scan per client: a second change before it runs joins the queued one."""

    def queue() -> None:
        if not Client.objects.filter(pk=client_id, active=True).exists():
            return
        queued = BackScan.objects.filter(client_id=client_id, status=BackScan.Status.QUEUED).first()
        if queued is None:
            BackScan.objects.create(client_id=client_id, reason=reason[:200])
        elif reason not in queued.reason:
            queued.reason = f"{queued.reason}; {reason}"[:200]
            queued.save(update_fields=["reason"])

    transaction.on_commit(queue)


def _client_saved(
    sender: Any, instance: Client, created: bool, raw: bool = False, **_: Any
) -> None:
    if raw:
        return
    queue_backscan(instance.pk, "registered" if created else "client changed")


def _term_changed(sender: Any, instance: WatchTerm, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    removed = "created" not in kwargs
    what = instance.get_kind_display() if hasattr(instance, "get_kind_display") else instance.kind
    queue_backscan(instance.client_id, f"{what} {'removed' if removed else 'added'}")


def _photo_saved(sender: Any, instance: ClientPhoto, raw: bool = False, **_: Any) -> None:
    if raw:
        return
    # Retro-match looks the photo up among crawled images' hashes at once; the back-scan also
    # fetches again the images of the posts that name her (operations.backscan_images).
    queue_backscan(instance.client_id, "photo added")


def connect_signals() -> None:
    post_save.connect(_client_saved, sender=Client, dispatch_uid="backscan-client")
    post_save.connect(_photo_saved, sender=ClientPhoto, dispatch_uid="backscan-photo")
    post_save.connect(_term_changed, sender=WatchTerm, dispatch_uid="backscan-term-saved")
    post_delete.connect(_term_changed, sender=WatchTerm, dispatch_uid="backscan-term-deleted")


# Running --------------------------------------------------------------------------------


@dataclass
class BackScanOutcome:
    client: str
    posts_read: int = 0
    posts_matched: int = 0
    hits_created: int = 0
    hits: list[Hit] = field(default_factory=list)
    first_sight: list[str] = field(default_factory=list)
    images: ImageCheck = field(default_factory=ImageCheck)
    error: str = ""


def forum_post(post: CorpusPost) -> ForumPost:
    """The corpus record as the crawl pipelines saw it."""
    return ForumPost(
        source_id=post.source_id,
        url=post.url,
        thread_url=post.thread_url,
        thread_title=post.thread_title,
        text=post.text,
        author=post.author,
        posted_at=post.posted_at,
        image_urls=list(post.image_urls),
        is_thread_start=post.is_thread_start,
        author_ref=post.author_ref,
        image_ids=list(post.image_ids),
        fetched_url=post.fetched_url,
    )


def scan_corpus(
    corpus: CorpusStore, matcher: NameMatcher, client: str, entries: list[Any]
) -> tuple[int, list[tuple[CorpusPost, ForumPost]]]:
    """Posts of the corpus the matcher finds ``client`` in: (posts read, matches).

    Verifying is the matcher's work on each candidate's text (about 1 ms a post): past
    VERIFY_BATCH candidates, batches go to VERIFY_WORKERS processes while the next batch is
    read from Elasticsearch."""
    read = 0
    matched: list[tuple[CorpusPost, ForumPost]] = []
    batches: list[tuple[list[CorpusPost], Future[list[list[Mention]]]]] = []
    pool: ProcessPoolExecutor | None = None
    batch: list[CorpusPost] = []

    def keep(posts: list[CorpusPost], found: list[list[Mention]]) -> None:
        for post, mentions in zip(posts, found, strict=True):
            if mentions:
                item = forum_post(post)
                item.mentions = mentions
                matched.append((post, item))

    try:
        for post in corpus.candidates(entries):
            read += 1
            batch.append(post)
            if len(batch) < VERIFY_BATCH:
                continue
            if pool is None and VERIFY_WORKERS > 1:
                pool = ProcessPoolExecutor(
                    VERIFY_WORKERS,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_verifier,
                    initargs=(matcher, client),
                )
            if pool is None:
                keep(batch, _verify_with(matcher, client, [p.match_text for p in batch]))
            else:
                batches.append((batch, pool.submit(_verify, [p.match_text for p in batch])))
            batch = []
        keep(batch, _verify_with(matcher, client, [p.match_text for p in batch]))
        for posts, future in batches:
            keep(posts, future.result())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return read, matched


# Candidates verified in one batch, and processes verifying batches: most back-scans read a
# few hundred candidates and verify them inline; a common family name on a large corpus gives
# tens of thousands (make bench: 11,116 at 1,000,000 posts), where the machine's cores help.
VERIFY_BATCH = 2000
VERIFY_WORKERS = min(4, os.cpu_count() or 1)

_WORKER: tuple[NameMatcher, str] | None = None


def _verifier(matcher: NameMatcher, client: str) -> None:
    global _WORKER
    _WORKER = (matcher, client)


def _verify(texts: list[str]) -> list[list[Mention]]:
    assert _WORKER is not None
    return _verify_with(*_WORKER, texts)


def _verify_with(matcher: NameMatcher, client: str, texts: list[str]) -> list[list[Mention]]:
    return [[m for m in matcher.scan(text) if m.client_id == client] for text in texts]


def searching_sources(sources: dict[str, Source]) -> list[Source]:
    """Enabled sources whose engine searches by name: they get a first-sight crawl."""
    return [
        s
        for s in sources.values()
        if s.enabled and s.kind in SPIDERS and SPIDERS[s.kind].searches(s)
    ]


def backscan_client(
    client: Client,
    *,
    corpus: CorpusStore,
    hits: HitStore,
    sources: dict[str, Source],
    evidence_dir: Path | None,
    fresh_capture: bool = True,
    images_until: float | None = None,
) -> BackScanOutcome:
    """``images_until``: a ``time.monotonic()`` instant after which her posts' images are left
    for a later back-scan (IMAGE_BUDGET_S from her names' scan if None)."""
    outcome = BackScanOutcome(client=client.reference)
    if not client.active:
        return outcome
    targets = watchlist()
    # The crawl's matcher, over every client: a name shadowed at crawl time by another
    # client's longer name is shadowed here too.
    matcher = NameMatcher([watch_entry(t) for t in targets])
    target = watch_target(client)
    entry = watch_entry(target)
    outcome.posts_read, matched = scan_corpus(corpus, matcher, client.reference, [entry])
    outcome.posts_matched = len(matched)
    if fresh_capture:
        # Her photos in the posts that name her, found as a crawl would have found them.
        try:
            photos = ClientPhotos(target)
        except (FeatureKeyError, FeatureKeyMissing) as exc:
            # Her names are still scanned; the photos wait for the right key (the crawls stop
            # with the same message).
            logger.error("back-scan of %s: images not checked: %s", client.reference, exc)
            outcome.images = ImageCheck(error=str(exc))
        else:
            items = (item for _, item in matched)
            outcome.images = check_images(items, photos, sources, images_until)
    now = datetime.now(UTC)
    writer = EvidenceWriter(evidence_dir, f"backscan-{client.reference}") if evidence_dir else None
    found: list[Hit] = []
    budget_ends = time.monotonic() + FRESH_CAPTURE_BUDGET_S
    try:
        for post, item in matched:
            if writer is not None:
                left = budget_ends - time.monotonic() if fresh_capture else 0.0
                item.evidence = _evidence(writer, post, sources, left)
            found.extend(h for h in hits_from_post(item, now) if h.client_id == client.reference)
    finally:
        if writer is not None:
            writer.close()
    for i in range(0, len(found), HIT_BATCH):
        results = hits.upsert(found[i : i + HIT_BATCH])
        outcome.hits_created += sum(r.created for r in results)
    outcome.hits = found
    outcome.first_sight = [s.id for s in searching_sources(sources)]
    return outcome


def _evidence(
    writer: EvidenceWriter, post: CorpusPost, sources: dict[str, Source], budget_s: float
) -> EvidenceRef:
    """The corpus record, marked as what the crawl read and when; and, if the page is still
    online, a fresh capture of it through the guarded fetch (the hit then points to it),
    within ``budget_s`` seconds. The page is the post's public address, never the address the
    crawl read it from (an API's, which may need a credential)."""
    crawled = post.crawled_at.isoformat(timespec="seconds").replace("+00:00", "Z")
    record = {
        "origin": "corpus",
        "captured_at_crawl": crawled,
        "source_id": post.source_id,
        "url": post.url,
        "thread_url": post.thread_url,
        "thread_title": post.thread_title,
        "author": post.author,
        "author_ref": post.author_ref,
        "posted_at": post.posted_at.isoformat() if post.posted_at else None,
        "text": post.text,
        "content_sha256": post.content_sha256,
    }
    ref = writer.write_resource(
        post.url,
        json.dumps(record, ensure_ascii=False, indent=1).encode(),
        "application/json",
        crawled,
        {"origin": "corpus", "captured_at_crawl": crawled},
    )
    if budget_s < 1:
        return ref
    source = sources.get(post.source_id)
    policy = FetchPolicy.for_source(
        source,
        deadline_s=min(FRESH_CAPTURE_DEADLINE_S, budget_s),
        timeout_s=min(FRESH_CAPTURE_DEADLINE_S, budget_s),
    )
    result = fetch(post.url.split("#", 1)[0], policy)
    if isinstance(result, Fetched) and result.status == 200:
        return writer.write(
            capture_of(result),
            {"origin": "backscan", "corpus_record": ref.record_id, "captured_at_crawl": crawled},
        )
    return ref


def run_pending_backscans() -> list[BackScanOutcome]:
    """Run every queued back-scan (the monitor's job); failures are queued again."""
    outcomes: list[BackScanOutcome] = []
    stale = datetime.now(UTC) - STALE_RUNNING
    for scan in BackScan.objects.filter(status=BackScan.Status.RUNNING, started_at__lt=stale):
        scan.status, scan.message = BackScan.Status.FAILED, "interrupted; queued again"
        scan.save(update_fields=["status", "message"])
        queue_backscan(scan.client_id, "retry after an interrupted scan")
    queued = list(BackScan.objects.filter(status=BackScan.Status.QUEUED).select_related("client"))
    if not queued:
        return outcomes
    sources = load_sources(Path(settings.BODYGUARD_SOURCES_DIR), KNOWN_KINDS)
    corpus, hits = corpus_store(), hit_store()
    # One budget for the images of every scan of this run: back-scans run before the alerts
    # are collected and sent (operations.scheduler), which must not wait on many of them.
    images_until = time.monotonic() + IMAGE_BUDGET_S
    first_sight: set[str] = set()
    try:
        try:
            corpus.ensure_index()
            hits.ensure_index()
        except HitStoreError as exc:
            # Elasticsearch down: the scans stay queued for the next cycle, and the cycle's
            # crawls go on (their hits wait in the journal).
            logger.error("back-scans wait for Elasticsearch: %s", exc)
            return [BackScanOutcome(client=s.client.reference, error=str(exc)) for s in queued]
        for scan in queued:
            scan.status, scan.started_at = BackScan.Status.RUNNING, datetime.now(UTC)
            scan.save(update_fields=["status", "started_at"])
            try:
                outcome = backscan_client(
                    scan.client,
                    corpus=corpus,
                    hits=hits,
                    sources=sources,
                    evidence_dir=Path(settings.BODYGUARD_EVIDENCE_DIR),
                    images_until=images_until,
                )
            except HitStoreError as exc:
                logger.error("back-scan of %s failed: %s", scan.client.reference, exc)
                scan.status, scan.message = BackScan.Status.FAILED, str(exc)[:2000]
                scan.finished_at = datetime.now(UTC)
                scan.save()
                queue_backscan(scan.client_id, "retry after failure")
                outcomes.append(BackScanOutcome(client=scan.client.reference, error=str(exc)))
                continue
            scan.status, scan.finished_at = BackScan.Status.DONE, datetime.now(UTC)
            scan.posts_read = outcome.posts_read
            scan.posts_matched = outcome.posts_matched
            scan.hits_created = outcome.hits_created
            scan.first_sight_sources = outcome.first_sight
            images = outcome.images
            if images.error:
                scan.message = f"images not checked: {images.error}"[:2000]
            elif images.fetched or images.over_budget:
                scan.message = (
                    f"images of the posts found: {images.fetched} fetched again, "
                    f"{images.matched} of them her registered photos"
                    + (
                        f", {images.over_budget} not fetched (the time or count budget was spent)"
                        if images.over_budget
                        else ""
                    )
                )
            if images.over_budget and not images.fetched:
                # Earlier scans of this run spent the time: hers get their own turn. (A scan
                # that spent it all itself is not queued again: it would fetch the same first
                # images each time.)
                queue_backscan(scan.client_id, "images left")
            scan.save()
            first_sight.update(outcome.first_sight)
            outcomes.append(outcome)
    finally:
        corpus.close()
        hits.close()
    if first_sight and first_sight_hook is not None:
        first_sight_hook(sorted(first_sight))
    return outcomes


# Retention and erasure ------------------------------------------------------------------


def purge_corpus(days: int | None = None) -> int:
    """Nightly: posts that produced no hit go after BODYGUARD_CORPUS_DAYS."""
    keep = settings.BODYGUARD_CORPUS_DAYS if days is None else days
    corpus = corpus_store()
    try:
        corpus.ensure_index()
        retention = CorpusRetention(corpus, f"{settings.BODYGUARD_INDEX_PREFIX}-hits")
        return retention.purge(datetime.now(UTC) - timedelta(days=keep))
    finally:
        corpus.close()


def erase_client_corpus(reference: str, client_hits: list[Hit]) -> int:
    """Erasure: the corpus posts behind the client's hits go, unless another client's hit
    relies on them; nothing else in the corpus is about the client. Call before the hits
    themselves are deleted; returns how many posts were deleted."""
    urls = {h.canonical_url for h in client_hits}
    corpus = corpus_store()
    try:
        # Posts that name the client without having become a hit (refused by Elasticsearch,
        # dismissed and purged, allow-listed) are about her too.
        client = Client.objects.filter(reference=reference).first()
        if client is not None:
            corpus.ensure_index()  # a deployment that never crawled has none yet
            matcher = NameMatcher([watch_entry(t) for t in watchlist()])
            entry = watch_entry(watch_target(client))
            _, matched = scan_corpus(corpus, matcher, reference, [entry])
            urls |= {post.canonical_url for post, _ in matched if post.canonical_url}
        if not urls:
            return 0
        retention = CorpusRetention(corpus, f"{settings.BODYGUARD_INDEX_PREFIX}-hits")
        shared = retention.urls_with_hits(urls, except_client=reference)
        return corpus.delete_urls(urls - shared)
    finally:
        corpus.close()
