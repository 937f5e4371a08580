"""Videos of crawled posts: fetched within a byte budget, fingerprinted in memory, matched,
fingerprint indexed (never the video)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector

from clients.keys import features_key
from crawlers.fingerprints import FingerprintWriter
from crawlers.items import ForumPost, VideoMatch
from hits.videos import (
    CrawledVideo,
    VideoJournal,
    VideoStore,
    match_ranges,
    match_why,
    video_score,
)
from matching import videos as mv
from matching.features import FeatureIndex, unseal_many
from matching.hashes import PdqHash

logger = logging.getLogger(__name__)

_SEP = "\x1f"

# Every fetch is charged at least this much of a byte budget (as images' MIN_FETCH_COST): a
# page listing hundreds of tiny clips cannot turn into hundreds of requests.
MIN_FETCH_COST = 256 * 1024
# Videos waiting for a bulk write (each is up to 600 frame documents).
FLUSH_EVERY = 20
# Videos fetched and hashed at once: each is held in memory (up to BODYGUARD_MAX_VIDEO_BYTES)
# while it is decoded, in a worker thread so the crawl goes on meanwhile.
VIDEOS_AT_ONCE = 2
# application/octet-stream is a video when its address says so.
VIDEO_EXTENSIONS = (
    ".mp4",
    ".m4v",
    ".mov",
    ".webm",
    ".mkv",
    ".avi",
    ".3gp",
    ".ogv",
    ".mpg",
    ".mpeg",
    ".ts",
    ".flv",
    ".wmv",
)
_GENERIC_TYPES = ("application/octet-stream", "binary/octet-stream")


def is_video_response(url: str, content_type: str) -> bool:
    """A video by its Content-Type, or a generic binary type at an address with a video
    extension (CDNs often serve files as application/octet-stream)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind.startswith("video/"):
        return True
    return kind in _GENERIC_TYPES and urlsplit(url).path.lower().endswith(VIDEO_EXTENSIONS)


@dataclass
class _Budget:
    left: int

    def charge(self, size: int) -> None:
        self.left -= max(size, MIN_FETCH_COST)


class VideoPipeline:
    """Fetches the videos of every post (within a byte budget per post and per crawl, videos
    only, from the hosts images may come from), fingerprints them in memory, notes those that
    are a client's registered video, and indexes every fingerprint (MD5 and frame hashes, never
    the video) so videos registered later can be matched.

    A video whose MD5 the site declares (4chan's JSON) and that is a registered video's is a
    match without being fetched at all. A video URL is fetched once per crawl: its fingerprint
    is kept in memory for the crawl; every later post showing it gets its own match and copy.

    No fingerprint is lost to Elasticsearch: while it is unreachable (or asks to retry) they go
    to the local journal, written at the start of the next crawl; those it refuses go to the
    dead letters for staff, with the reason."""

    def __init__(
        self, crawler: Crawler, store: VideoStore | None, journal: VideoJournal | None = None
    ) -> None:
        settings = crawler.settings
        self.crawler = crawler
        assert crawler.stats is not None
        self.stats: StatsCollector = crawler.stats
        self.per_crawl = settings.getint("BODYGUARD_MAX_VIDEOS_PER_CRAWL")
        self.post_bytes = settings.getint("BODYGUARD_VIDEO_BYTES_PER_POST")
        self.crawl_budget = _Budget(settings.getint("BODYGUARD_VIDEO_BYTES_PER_CRAWL"))
        self.max_bytes = min(settings.getint("BODYGUARD_MAX_VIDEO_BYTES"), mv.MAX_VIDEO_BYTES)
        self.timeout_s = settings.getfloat("BODYGUARD_VIDEO_TIMEOUT_S")
        self.writer: FingerprintWriter[CrawledVideo] = FingerprintWriter(
            self.stats, store, journal, "video", FLUSH_EVERY
        )
        self.index = mv.VideoIndex()
        # Registered MD5 -> every registered video with it (two clients may register one file).
        self.by_md5: dict[str, list[str]] = defaultdict(list)
        # Registered videos' keyframes (local features), for crawled videos PDQ misses (crops).
        self.features = FeatureIndex()
        # URL -> its local-features match (NO_VIDEO_MATCH when none), found while it was in
        # memory: the stills are decoded only for a video no MD5 nor PDQ frame matched.
        self.by_features: dict[str, mv.VideoMatch] = {}
        self._features_lock = threading.Lock()
        self.fetched = 0
        # URL -> its fingerprint (None: not a video, refused or failed), for the whole crawl.
        self.prints: dict[str, mv.VideoFingerprint | None] = {}
        self._in_flight: dict[str, asyncio.Future[mv.VideoFingerprint | None]] = {}
        self._slots: asyncio.Semaphore | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> VideoPipeline:
        settings = crawler.settings
        if not settings.getbool("BODYGUARD_FETCH_VIDEOS"):
            raise NotConfigured("BODYGUARD_FETCH_VIDEOS is off")
        store = journal = None
        if settings.getbool("BODYGUARD_INDEX_HITS"):
            store = VideoStore.connect(
                settings.get("BODYGUARD_ELASTICSEARCH_URL"),
                settings.get("BODYGUARD_INDEX_PREFIX"),
                settings.getfloat("BODYGUARD_ES_TIMEOUT_S"),
            )
            journal = VideoJournal(Path(settings.get("BODYGUARD_JOURNAL_DIR")), store.index)
        return cls(crawler, store, journal)

    def open_spider(self) -> None:
        for target in getattr(self.crawler.spider, "watch", []):
            for video in getattr(target, "videos", ()):
                key = f"{target.client_ref}{_SEP}{video.label}"
                hashes = [
                    mv.FrameHash(float(at), PdqHash.from_hex(pdq), int(quality))
                    for at, pdq, quality in video.hashes
                ]
                self.index.add(key, video.md5, hashes)
                if video.md5:
                    self.by_md5[video.md5.lower()].append(key)
                # A wrong key raises FeatureKeyError here: the crawl stops with that message
                # rather than silently matching nothing.
                sealed = getattr(video, "sealed_features", None)
                if sealed:
                    mv.add_keyframes(self.features, key, unseal_many(sealed, features_key()))
        self.writer.open()

    def _allowed_hosts(self, item: ForumPost) -> set[str]:
        """The hosts images may come from (crawlers.images: the forum itself, the page's own
        host, ``options.image_hosts``, ``extra_domains``, ``image_host``), and those the source
        lists in ``options.video_hosts``."""
        source = getattr(self.crawler.spider, "source", None)
        hosts = {urlsplit(item.url).hostname or ""}
        if source is not None:
            hosts |= {
                source.host,
                *source.options.get("image_hosts", []),
                *source.options.get("video_hosts", []),
                *source.options.get("extra_domains", []),
            }
            for option in ("image_host", "video_host"):
                if source.options.get(option):
                    hosts.add(urlsplit(source.options[option]).hostname or "")
        return hosts

    async def process_item(self, item: ForumPost) -> ForumPost:
        if not item.video_urls:
            return item
        allowed = self._allowed_hosts(item)
        post_budget = _Budget(self.post_bytes)
        declared = {url.strip(): md5.lower() for url, md5 in item.video_md5s.items() if md5}
        for url in dict.fromkeys(item.video_urls):
            if (urlsplit(url).hostname or "") not in allowed:
                self.stats.inc_value("bodyguard/videos_offsite_skipped")
                logger.info("video %s not fetched: not a host of this source", url)
                continue
            md5 = declared.get(url, "")
            if md5 and md5 in self.by_md5:
                # The identical file, by the MD5 the site publishes: nothing to fetch.
                self.stats.inc_value("bodyguard/videos_known_md5")
                self._record(item, url, CrawledVideo(url, item.url, item.source_id, md5, _now()))
                continue
            fp = await self._print_of(url, post_budget)
            if fp is None:
                if md5:
                    # Not fetched, or not readable: its declared MD5 is still worth keeping.
                    self._record(
                        item, url, CrawledVideo(url, item.url, item.source_id, md5, _now())
                    )
                continue
            self._record(
                item,
                url,
                CrawledVideo.of(fp, url, item.url, item.source_id, _now()),
                self.by_features.get(url),
            )
        return item

    def _record(
        self,
        item: ForumPost,
        url: str,
        video: CrawledVideo,
        by_features: mv.VideoMatch | None = None,
    ) -> None:
        """Note the video's matches on the post, and queue its fingerprint for the index."""
        matches = self._matches(video.fingerprint())
        if not matches and by_features is not None and by_features.video is not None:
            matches = [by_features]
        for match in matches:
            client_id, label = str(match.video).split(_SEP, 1)
            ranges = match_ranges(match, video)
            item.video_matches.append(
                VideoMatch(
                    client_id,
                    label,
                    url,
                    str(match.method),
                    str(match.tier),
                    match.frames_matched,
                    match.frames_compared,
                    ranges,
                    match.registered_ranges if ranges else (),
                    match_why(match, video.md5_only),
                    video_score(match),
                )
            )
            self.stats.inc_value("bodyguard/video_matches")
        self.writer.add(video)

    def _matches(self, fp: mv.VideoFingerprint) -> list[mv.VideoMatch]:
        """The registered videos ``fp`` is: every one with its MD5, else the best by frames."""
        same_file = self.by_md5.get(fp.md5.lower(), []) if fp.md5 else []
        if same_file:
            found = self.index.match(fp)
            if found.method is not mv.VideoMethod.MD5:
                found = mv.VideoMatch(
                    same_file[0],
                    mv.VideoMethod.MD5,
                    mv.VideoTier.STRONG,
                    len(fp.frames),
                    len(fp.frames),
                    ((0.0, round(fp.duration, 2)),),
                    ((0.0, round(fp.duration, 2)),),
                    0.0,
                )
            return [replace(found, video=key) for key in same_file]
        if not fp.frames:
            return []
        found = self.index.match_frames(fp)
        if found.video is None or found.tier is None:
            return []
        return [found]

    async def _print_of(self, url: str, post_budget: _Budget) -> mv.VideoFingerprint | None:
        """The fingerprint of ``url``: from this crawl's cache, or fetched once (concurrent posts
        showing the same URL wait for the same fetch)."""
        if url in self.prints:
            self.stats.inc_value("bodyguard/videos_reused")
            return self.prints[url]
        if url in self._in_flight:
            self.stats.inc_value("bodyguard/videos_reused")
            return await asyncio.shield(self._in_flight[url])
        future: asyncio.Future[mv.VideoFingerprint | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._in_flight[url] = future
        fp: mv.VideoFingerprint | None = None
        if self._slots is None:
            self._slots = asyncio.Semaphore(VIDEOS_AT_ONCE)
        try:
            async with self._slots:
                fp = await self._fetch_and_hash(url, post_budget)
        finally:
            self.prints[url] = fp
            del self._in_flight[url]
            future.set_result(fp)
        return fp

    async def _fetch_and_hash(self, url: str, post_budget: _Budget) -> mv.VideoFingerprint | None:
        budget = min(post_budget.left, self.crawl_budget.left, self.max_bytes)
        if budget <= 0 or self.fetched >= self.per_crawl:
            self.stats.inc_value("bodyguard/videos_over_budget")
            logger.info(
                "video %s not fetched: the post's or the crawl's video budget is spent", url
            )
            return None
        self.fetched += 1
        # The crawl's budget holds what this fetch may cost while it runs (the other fetch
        # under way cannot spend it too), then what it did cost.
        self.crawl_budget.left -= budget
        data: bytes | None = None
        try:
            data = await self._fetch(url, budget)
        finally:
            size = len(data) if data is not None else 0
            self.crawl_budget.left += budget
            self.crawl_budget.charge(size)
            post_budget.charge(size)
        if data is None:
            return None
        try:
            # Decoding takes about a second per half-minute of HD video: in a thread, so pages
            # keep being read meanwhile. The bytes never leave memory.
            fp = await asyncio.to_thread(mv.fingerprint_video, data)
            if len(self.features) and not self._matches(fp):
                # Only now, while the bytes are in memory: a second decode, for the stills.
                self.by_features[url] = await asyncio.to_thread(self._match_stills, fp, data)
        except mv.VideoError as exc:
            self.stats.inc_value("bodyguard/videos_refused")
            logger.info("video %s refused: %s", url, exc)
            return None
        finally:
            del data
        self.stats.inc_value("bodyguard/videos")
        return fp

    def _match_stills(self, fp: mv.VideoFingerprint, data: bytes) -> mv.VideoMatch:
        """The local-features match of a video no MD5 nor PDQ frame matched."""
        self.stats.inc_value("bodyguard/videos_features_checked")
        try:
            stills = mv.video_stills(data)
        except mv.VideoError as exc:
            logger.info("stills of a crawled video not decoded: %s", exc)
            return mv.NO_VIDEO_MATCH
        # Two videos are hashed at once, in threads: the index is built by the first search.
        with self._features_lock:
            return mv.match_stills(self.features, stills)

    async def _fetch(self, url: str, max_bytes: int) -> bytes | None:
        request = Request(
            url,
            meta={
                "download_maxsize": max_bytes,
                "download_warnsize": max_bytes,
                "download_timeout": self.timeout_s,
                "allow_offsite": True,
                "bodyguard_media": "video",
            },
            dont_filter=True,
        )
        try:
            engine = self.crawler.engine
            assert engine is not None
            response = await engine.download_async(request)
        except Exception as exc:  # network errors, refused addresses, size limit: crawl goes on
            if "max size" in str(exc):
                # Scrapy stops reading past download_maxsize (at once when the size is declared).
                self.stats.inc_value("bodyguard/videos_over_budget")
                logger.info("video %s not fetched: larger than its %d-byte budget", url, max_bytes)
            else:
                self.stats.inc_value("bodyguard/videos_failed")
                logger.info("video %s not fetched: %s", url, exc)
            return None
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        if response.status != 200 or not is_video_response(url, content_type):
            self.stats.inc_value("bodyguard/videos_failed")
            logger.info(
                "video %s skipped: HTTP %s, %s", url, response.status, content_type or "no type"
            )
            return None
        return response.body

    def close_spider(self) -> None:
        self.writer.close()


def _now() -> datetime:
    return datetime.now(UTC)
