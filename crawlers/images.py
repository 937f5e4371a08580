"""Images of crawled posts: fetched, fingerprinted in memory, matched, fingerprint indexed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector

from clients.keys import features_key
from crawlers.items import ForumPost, ImageMatch
from hits.errors import HitStoreError
from hits.images import CrawledImage, ImageStore
from matching.features import FeatureIndex, query_features, unseal
from matching.hashes import PdqHash
from matching.images import decode, fingerprint_image
from matching.photos import PhotoIndex, match_photo

logger = logging.getLogger(__name__)

_SEP = "\x1f"


class ImagePipeline:
    """Fetches the images of every post (bounded count and bytes, images only), fingerprints
    them in memory, notes those that are a client's registered photo, and indexes every
    fingerprint (never the image) so photos registered later can be matched against them."""

    def __init__(self, crawler: Crawler, store: ImageStore | None) -> None:
        settings = crawler.settings
        self.crawler = crawler
        assert crawler.stats is not None
        self.stats: StatsCollector = crawler.stats
        self.per_page = settings.getint("BODYGUARD_MAX_IMAGES_PER_PAGE")
        self.per_crawl = settings.getint("BODYGUARD_MAX_IMAGES_PER_CRAWL")
        self.max_bytes = settings.getint("BODYGUARD_MAX_IMAGE_BYTES")
        self.store = store
        self.index = PhotoIndex()
        self.features = FeatureIndex()
        self.fetched = 0
        self.pending: list[CrawledImage] = []
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImagePipeline:
        settings = crawler.settings
        if not settings.getbool("BODYGUARD_FETCH_IMAGES"):
            raise NotConfigured("BODYGUARD_FETCH_IMAGES is off")
        store = None
        if settings.getbool("BODYGUARD_INDEX_HITS"):
            store = ImageStore.connect(
                settings.get("BODYGUARD_ELASTICSEARCH_URL"),
                settings.get("BODYGUARD_INDEX_PREFIX"),
                settings.getfloat("BODYGUARD_ES_TIMEOUT_S"),
            )
        return cls(crawler, store)

    def open_spider(self) -> None:
        for target in getattr(self.crawler.spider, "watch", []):
            for label, hashes in target.photos:
                self.index.add(
                    f"{target.client_ref}{_SEP}{label}", [PdqHash.from_hex(h) for h in hashes]
                )
            # A wrong key raises FeatureKeyError here: the crawl stops with that message rather
            # than silently matching nothing.
            for label, sealed in getattr(target, "photo_features", ()):
                key = features_key()
                self.features.add(f"{target.client_ref}{_SEP}{label}", unseal(sealed, key))
        if self.store is not None:
            try:
                self.store.ensure_index()
            except HitStoreError as exc:
                logger.error("image fingerprints will not be indexed in this run: %s", exc)
                self.store = None

    def _allowed_hosts(self, item: ForumPost) -> set[str]:
        """Images are fetched from the forum itself and the image hosts its source lists
        (``options.image_hosts``); for a search engine's result, from that page's own host."""
        source = getattr(self.crawler.spider, "source", None)
        hosts = {urlsplit(item.url).hostname or ""}
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

    async def process_item(self, item: ForumPost) -> ForumPost:
        allowed = self._allowed_hosts(item)
        for url in item.image_urls[: self.per_page]:
            if url in self.seen or self.fetched >= self.per_crawl:
                continue
            if (urlsplit(url).hostname or "") not in allowed:
                self.stats.inc_value("bodyguard/images_offsite_skipped")
                continue
            self.seen.add(url)
            self.fetched += 1
            data = await self._fetch(url)
            if data is None:
                continue
            try:
                image = decode(data)
                fp = fingerprint_image(image)
                local = query_features(image) if len(self.features) else None
                del image
            except ValueError as exc:
                self.stats.inc_value("bodyguard/images_refused")
                logger.info("image %s refused: %s", url, exc)
                continue
            finally:
                del data
            self.stats.inc_value("bodyguard/images")
            match = match_photo(self.index, self.features, fp, local)
            if match.photo is not None and match.tier is not None:
                client_id, label = match.photo.split(_SEP, 1)
                item.image_matches.append(
                    ImageMatch(
                        client_id,
                        label,
                        url,
                        match.distance,
                        str(match.tier),
                        str(match.stage),
                        match.inliers,
                        match.why,
                    )
                )
                self.stats.inc_value("bodyguard/image_matches")
            self.pending.append(
                CrawledImage(url, item.url, item.source_id, fp.pdq, fp.quality, datetime.now(UTC))
            )
            if len(self.pending) >= 200:
                self._flush()
        return item

    async def _fetch(self, url: str) -> bytes | None:
        request = Request(
            url, meta={"download_maxsize": self.max_bytes, "allow_offsite": True}, dont_filter=True
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
        # The last batch waits for a refresh: a photo registered right after the crawl sees it.
        self._flush(refresh=True)
        if self.store is not None:
            self.store.close()

    def _flush(self, refresh: bool = False) -> None:
        batch, self.pending = self.pending, []
        if not batch or self.store is None:
            return
        try:
            self.store.add(batch, refresh=refresh)
        except HitStoreError as exc:
            # Fingerprints are a convenience for later registrations; hits are what must not be lost.
            self.stats.inc_value("bodyguard/image_fingerprints_lost", len(batch))
            logger.error("image fingerprints not indexed: %s", exc)
