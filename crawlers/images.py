"""Images of crawled posts: fetched, fingerprinted in memory, matched, fingerprint indexed."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector

from clients.keys import features_key
from config.sources import Source
from crawlers.fingerprints import FingerprintWriter
from crawlers.items import ForumPost, ImageMatch
from hits.images import CrawledImage, ImageJournal, ImageStore
from matching.features import FeatureIndex, query_features, unseal
from matching.hashes import PdqHash
from matching.images import CrawledPrint, crawled_variants, decode, fingerprint_image
from matching.photos import PhotoIndex, PhotoMatch, match_photo

logger = logging.getLogger(__name__)

_SEP = "\x1f"

# Every fetch is charged at least this much of a byte budget, so a page listing thousands of
# one-pixel images cannot turn into thousands of requests (40 MB per post: 640 fetches at most).
MIN_FETCH_COST = 64 * 1024
# Fingerprints waiting for a bulk write to Elasticsearch.
FLUSH_EVERY = 200

# Fetch order within a post, when its byte budget cannot hold every image: photos first.
_PHOTO_TYPES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".avif")
_GRAPHIC_TYPES = (".gif", ".svg", ".ico", ".bmp")
_CHROME_HINTS = ("emoji", "smilie", "smiley", "avatar", "icon", "badge", "sprite", "logo", "rank")
_THUMB_HINTS = ("thumb", "/tn/", "_tn.", "s72-c", "small")
_SIZE_IN_URL = re.compile(r"(?:\b|_|-)(\d{2,5})x(\d{2,5})(?:\b|_|-|\.)")
_WIDTH_IN_URL = re.compile(r"[?&/_-](?:w|width|size|s)[=_-]?(\d{2,5})(?:\b|&|$)", re.I)


def fetch_priority(url: str, declared_area: int | None = None) -> tuple[int, int]:
    """Sort key (lower first): photo formats before graphics, chrome (emoji, avatars, icons)
    last, then the largest declared or URL-encoded size first."""
    lowered = url.lower()
    path = urlsplit(lowered).path
    if any(hint in lowered for hint in _CHROME_HINTS):
        kind = 3
    elif path.endswith(_GRAPHIC_TYPES):
        kind = 2
    elif path.endswith(_PHOTO_TYPES):
        kind = 0
    else:
        kind = 1
    if kind < 2 and any(hint in lowered for hint in _THUMB_HINTS):
        kind += 1
    area = declared_area or 0
    if not area:
        if found := _SIZE_IN_URL.search(lowered):
            area = int(found.group(1)) * int(found.group(2))
        elif found := _WIDTH_IN_URL.search(lowered):
            area = int(found.group(1)) ** 2
    return kind, -area


def image_hosts(source: Source | None, page_url: str) -> set[str]:
    """Where a post's images may be fetched from: the forum itself and the image hosts its
    source lists (``options.image_hosts``); for a search engine's result, that page's own host."""
    hosts = {urlsplit(page_url).hostname or ""}
    if source is not None:
        hosts |= {
            source.host,
            *source.options.get("image_hosts", []),
            *source.options.get("extra_domains", []),
        }
        image_host = source.options.get("image_host")
        if image_host:
            hosts.add(urlsplit(image_host).hostname or "")
    return hosts


def index_photos(
    target: Any, hashes: PhotoIndex, features: FeatureIndex, label_prefix: str = ""
) -> None:
    """A watched client's registered photos into ``hashes`` and ``features``, each labelled
    ``label_prefix`` + its label. Unsealing raises FeatureKeyError (wrong key) or
    FeatureKeyMissing (no usable key)."""
    for label, pdqs in target.photos:
        hashes.add(f"{label_prefix}{label}", [PdqHash.from_hex(h) for h in pdqs])
    sealed_features = getattr(target, "photo_features", ())
    if sealed_features:
        key = features_key()
        for label, sealed in sealed_features:
            features.add(f"{label_prefix}{label}", unseal(sealed, key))


def image_match(client_id: str, label: str, url: str, match: PhotoMatch) -> ImageMatch:
    """The record a post keeps of one of its images that is a registered photo."""
    assert match.tier is not None
    return ImageMatch(
        client_id,
        label,
        url,
        match.distance,
        str(match.tier),
        str(match.stage),
        match.inliers,
        match.why,
    )


@dataclass
class _Budget:
    left: int

    def charge(self, size: int) -> None:
        self.left -= max(size, MIN_FETCH_COST)


class ImagePipeline:
    """Fetches the images of every post (within a byte budget per post and per crawl, images
    only), fingerprints them in memory, notes those that are a client's registered photo, and
    indexes every fingerprint (never the image) so photos registered later can be matched.

    An image URL is fetched once per crawl: its fingerprint is kept (in memory, for the crawl)
    and every later post showing the same URL gets its own match and its own indexed copy.

    No fingerprint is lost to Elasticsearch: while it is unreachable (or asks to retry) they
    go to the local journal, written at the start of the next crawl; those it refuses go to
    the dead letters for staff, with the reason."""

    def __init__(
        self, crawler: Crawler, store: ImageStore | None, journal: ImageJournal | None = None
    ) -> None:
        settings = crawler.settings
        self.crawler = crawler
        assert crawler.stats is not None
        self.stats: StatsCollector = crawler.stats
        self.per_crawl = settings.getint("BODYGUARD_MAX_IMAGES_PER_CRAWL")
        self.post_bytes = settings.getint("BODYGUARD_IMAGE_BYTES_PER_POST")
        self.crawl_budget = _Budget(settings.getint("BODYGUARD_IMAGE_BYTES_PER_CRAWL"))
        self.max_bytes = settings.getint("BODYGUARD_MAX_IMAGE_BYTES")
        self.writer: FingerprintWriter[CrawledImage] = FingerprintWriter(
            self.stats, store, journal, "image", FLUSH_EVERY
        )
        self.index = PhotoIndex()
        self.features = FeatureIndex()
        self.fetched = 0
        # URL -> its fingerprint (None: not an image, refused or failed), for the whole crawl.
        self.prints: dict[str, CrawledPrint | None] = {}
        self.local: dict[str, Any] = {}
        self._in_flight: dict[str, asyncio.Future[CrawledPrint | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImagePipeline:
        settings = crawler.settings
        if not settings.getbool("BODYGUARD_FETCH_IMAGES"):
            raise NotConfigured("BODYGUARD_FETCH_IMAGES is off")
        store = journal = None
        if settings.getbool("BODYGUARD_INDEX_HITS"):
            store = ImageStore.connect(
                settings.get("BODYGUARD_ELASTICSEARCH_URL"),
                settings.get("BODYGUARD_INDEX_PREFIX"),
                settings.getfloat("BODYGUARD_ES_TIMEOUT_S"),
            )
            journal = ImageJournal(Path(settings.get("BODYGUARD_JOURNAL_DIR")), store.index)
        return cls(crawler, store, journal)

    def open_spider(self) -> None:
        for target in getattr(self.crawler.spider, "watch", []):
            # A wrong key raises FeatureKeyError here: the crawl stops with that message rather
            # than silently matching nothing.
            index_photos(target, self.index, self.features, f"{target.client_ref}{_SEP}")
        self.writer.open()

    async def process_item(self, item: ForumPost) -> ForumPost:
        allowed = image_hosts(getattr(self.crawler.spider, "source", None), item.url)
        post_budget = _Budget(self.post_bytes)
        urls = sorted(
            dict.fromkeys(item.image_urls),
            key=lambda u: fetch_priority(u, item.image_sizes.get(u)),
        )
        for url in urls:
            if (urlsplit(url).hostname or "") not in allowed:
                self.stats.inc_value("bodyguard/images_offsite_skipped")
                continue
            crawled = await self._print_of(url, post_budget)
            if crawled is None:
                continue
            fp = crawled.fingerprint
            match = match_photo(self.index, self.features, fp, self.local.get(url))
            if match.photo is not None and match.tier is not None:
                client_id, label = match.photo.split(_SEP, 1)
                item.image_matches.append(image_match(client_id, label, url, match))
                self.stats.inc_value("bodyguard/image_matches")
            image = CrawledImage(
                url,
                item.url,
                item.source_id,
                fp.pdq,
                fp.quality,
                datetime.now(UTC),
                variants=crawled.variants,
            )
            item.image_ids.append(image.doc_id)
            self.writer.add(image)
        return item

    async def _print_of(self, url: str, post_budget: _Budget) -> CrawledPrint | None:
        """The fingerprint of ``url``: from this crawl's cache, or fetched once (concurrent posts
        showing the same URL wait for the same fetch)."""
        if url in self.prints:
            self.stats.inc_value("bodyguard/images_reused")
            return self.prints[url]
        if url in self._in_flight:
            self.stats.inc_value("bodyguard/images_reused")
            return await asyncio.shield(self._in_flight[url])
        budget = min(post_budget.left, self.crawl_budget.left, self.max_bytes)
        if budget <= 0 or self.fetched >= self.per_crawl:
            self.stats.inc_value("bodyguard/images_over_budget")
            logger.info(
                "image %s not fetched: the post's or the crawl's image budget is spent", url
            )
            return None
        future: asyncio.Future[CrawledPrint | None] = asyncio.get_running_loop().create_future()
        self._in_flight[url] = future
        crawled: CrawledPrint | None = None
        try:
            self.fetched += 1
            data = await self._fetch(url, budget)
            size = len(data) if data is not None else 0
            post_budget.charge(size)
            self.crawl_budget.charge(size)
            if data is not None:
                try:
                    image = decode(data)
                    fp = fingerprint_image(image)
                    crawled = CrawledPrint(fp, crawled_variants(image, fp))
                    # Local features only while some registered photo has them to compare.
                    self.local[url] = query_features(image) if len(self.features) else None
                    del image
                    self.stats.inc_value("bodyguard/images")
                except ValueError as exc:
                    self.stats.inc_value("bodyguard/images_refused")
                    logger.info("image %s refused: %s", url, exc)
                finally:
                    del data
        finally:
            self.prints[url] = crawled
            del self._in_flight[url]
            future.set_result(crawled)
        return crawled

    async def _fetch(self, url: str, max_bytes: int) -> bytes | None:
        request = Request(
            url, meta={"download_maxsize": max_bytes, "allow_offsite": True}, dont_filter=True
        )
        try:
            engine = self.crawler.engine
            assert engine is not None
            response = await engine.download_async(request)
        except (
            Exception
        ) as exc:  # network errors, refused addresses, size limit: recorded, crawl goes on
            self.stats.inc_value("bodyguard/images_failed")
            logger.info("image %s not fetched: %s", url, exc)
            return None
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
        if response.status != 200 or not content_type.startswith("image/"):
            self.stats.inc_value("bodyguard/images_failed")
            logger.info(
                "image %s skipped: HTTP %s, %s", url, response.status, content_type or "no type"
            )
            return None
        return response.body

    def close_spider(self) -> None:
        self.writer.close()
